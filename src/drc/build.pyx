"""Which build of drc is loaded, and the layout it was compiled with.

The answers come from the compiled code itself (the GC_ZEAL macro and the C header structs),
not from metadata, so a test can trust them to describe the extension that is running.
"""

from drc.includes.zeal cimport GC_ZEAL, DRC_POISON
from drc.header cimport ObjectHeader, ArrayHeader, ExternRefObject
from registry.typeinfo cimport DRC_HEADER_SIZE, DRC_HEADER_ALIGN, DRC_ARRAY_LENGTH_OFFSET

#: True in the gc_zeal build, False in the release build.
ZEAL = bool(GC_ZEAL)

#: The poison byte zeal builds write over fresh and freed memory.
POISON = DRC_POISON

cdef ObjectHeader _probe
cdef ArrayHeader _array_probe
cdef ExternRefObject _extern_probe


cdef size_t _offset(const void* field, const void* base) noexcept:
    return <size_t>field - <size_t>base


#: Byte offsets of the object header's fields, taken from the compiled C struct.
HEADER_LAYOUT = {
    "size": sizeof(ObjectHeader),
    "kind_bits": _offset(&_probe.kind_bits, &_probe),
    "type_index": _offset(&_probe.type_index, &_probe),
    "ref_count": _offset(&_probe.ref_count, &_probe),
    "next_oasr": _offset(&_probe.next_oasr, &_probe),
    "object_size": _offset(&_probe.object_size, &_probe),
    "array_length": _offset(&_array_probe.length, &_array_probe),
    "externref_host_data_id": _offset(&_extern_probe.host_data_id, &_extern_probe),
    "externref_size": sizeof(ExternRefObject),
}


def _check_against_registry():
    # registry computes field layouts from these parameters; a mismatch would make every
    # struct field offset wrong, so refuse to import rather than corrupt objects later.
    if (HEADER_LAYOUT["size"] != DRC_HEADER_SIZE
            or HEADER_LAYOUT["array_length"] != DRC_ARRAY_LENGTH_OFFSET
            or DRC_HEADER_SIZE % DRC_HEADER_ALIGN):
        raise ImportError(
            f"drc object header {HEADER_LAYOUT} disagrees with registry's DRC layout "
            f"parameters (header {DRC_HEADER_SIZE}, array length at {DRC_ARRAY_LENGTH_OFFSET})"
        )


_check_against_registry()


def info():
    """A dict describing this build: variant, poison byte, header layout."""
    return {
        "variant": "gc_zeal" if ZEAL else "release",
        "zeal": ZEAL,
        "poison": POISON,
        "header": dict(HEADER_LAYOUT),
    }
