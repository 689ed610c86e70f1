# The object model: how a GC ref is encoded and the 24-byte header every heap object starts
# with. Bit-exact with Wasmtime's DRC collector (VMDrcHeader in drc.rs, VMGcHeader in gc_ref.rs).
# The accessors are inline so that every module that cimports this file compiles them in.

from libc.stdint cimport uint32_t, uint64_t

# ==== GC refs ===============================================================================
# A ref is a uint32: 0 is null, bit 0 set is an i31 ((v << 1) | 1), anything else is the byte
# offset of an object in the heap (a nonzero multiple of 16).

ctypedef uint32_t gcref_t

cdef enum:
    REF_NULL = 0
    I31_TAG = 1

cdef enum:
    I31_MIN = -(1 << 30)
    I31_MAX = (1 << 30) - 1

# ==== Kinds: the top 6 bits of the header's first word =====================================

cdef enum:
    KIND_MASK = 0xFC000000
    KIND_EXTERN = 0x40000000
    KIND_ANY = 0x80000000
    KIND_EQ = 0xA0000000
    KIND_ARRAY = 0xA8000000
    KIND_STRUCT = 0xB0000000
    KIND_EXN = 0x04000000
    # The low 26 bits belong to the collector.
    RESERVED_MASK = 0x03FFFFFF
    MARK_BIT = 0x1              # a precise stack root found by the current trace
    IN_OASR_BIT = 0x2           # linked into the over-approximated stack-roots list

cdef struct ObjectHeader:
    uint32_t kind_bits          # kind in bits 31..26, collector bits in 25..0
    uint32_t type_index         # engine type index; 0xFFFFFFFF (none) for externrefs
    uint64_t ref_count          # host handles + heap slots + OASR membership
    uint32_t next_oasr          # next object in the OASR list (a gcref_t), 0 at the end
    uint32_t object_size        # the size the allocation asked for, before rounding to 16

cdef struct ArrayHeader:
    ObjectHeader header
    uint32_t length             # element count; elements start at the layout's base_size

cdef struct ExternRefObject:
    ObjectHeader header
    uint32_t host_data_id       # key into the heap's host-data side table


cdef inline bint ref_is_i31(gcref_t r) noexcept nogil:
    return r & I31_TAG


cdef inline bint ref_is_object(gcref_t r) noexcept nogil:
    """True for a heap object (not null, not an i31)."""
    return r != REF_NULL and not (r & I31_TAG)


cdef inline gcref_t i31_new(int v) noexcept nogil:
    """Tag a value in [I31_MIN, I31_MAX]; the top bit of anything wider is dropped."""
    return ((<uint32_t>v) << 1) | I31_TAG


cdef inline int i31_get_s(gcref_t r) noexcept nogil:
    return (<int>r) >> 1


cdef inline uint32_t i31_get_u(gcref_t r) noexcept nogil:
    return r >> 1


cdef inline uint32_t header_kind(const ObjectHeader* h) noexcept nogil:
    return h.kind_bits & KIND_MASK


cdef inline bint kind_matches(uint32_t kind, uint32_t expected) noexcept nogil:
    """The kind lattice: struct and array are eq, eq is any; extern and exn only themselves."""
    return (kind & expected) == expected


cdef inline bint kind_is_valid(uint32_t kind) noexcept nogil:
    return (kind == KIND_EXTERN or kind == KIND_ANY or kind == KIND_EQ
            or kind == KIND_ARRAY or kind == KIND_STRUCT or kind == KIND_EXN)
