"""The DRC heap: one mmap-backed linear memory of structs, arrays and externrefs, reclaimed by
reference counting (the C-level contract is in heap.pxd)."""

cimport cython
from cpython.buffer cimport PyBuffer_FillInfo
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.object cimport PyTypeObject, destructor
from cpython.ref cimport PyObject, Py_INCREF, Py_DECREF
from libc.stdint cimport (int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t,
                          uint64_t, uintptr_t)
from libc.string cimport memset, memcpy, memmove
from libc.stdlib cimport malloc, calloc, free as c_free
from posix.mman cimport mprotect, PROT_NONE

from drc.includes.zeal cimport GC_ZEAL, DRC_POISON
from drc.header cimport (ObjectHeader, ArrayHeader, ExternRefObject, gcref_t, REF_NULL, I31_TAG,
                         I31_MIN, I31_MAX, KIND_MASK, KIND_EXTERN, KIND_ANY, KIND_EQ,
                         KIND_ARRAY, KIND_STRUCT, RESERVED_MASK, MARK_BIT, IN_OASR_BIT,
                         ref_is_object, i31_new, i31_get_s, kind_matches, kind_is_valid)
from drc.freelist cimport (FreeList, CandidateStack, bit_get, bit_set, bit_clear, fl_bump,
                           GRANULE, GRANULE_SHIFT, EXACT_CLASSES, NCLASSES)
from registry.typeinfo cimport (TypeInfo, FieldInfo, STORAGE_I8, STORAGE_I16, STORAGE_I32,
                                STORAGE_I64, STORAGE_F32, STORAGE_F64, STORAGE_V128,
                                STORAGE_REF, HEAP_ABSTRACT_BASE, HEAP_ANY, HEAP_EQ, HEAP_I31,
                                HEAP_STRUCT, HEAP_ARRAY, HEAP_NONE, HEAP_FUNC, HEAP_NOFUNC,
                                HEAP_EXTERN, HEAP_NOEXTERN, HEAP_EXN, HEAP_NOEXN,
                                TYPE_INDEX_NONE, COMPOSITE_STRUCT, COMPOSITE_ARRAY,
                                COMPOSITE_FUNC)
from registry.registry cimport TypeRegistry
from drc.policy cimport (PolicyState, POLICY_ADAPTIVE, POLICY_WASMTIME, DEFAULT_MIN_GC_HEAP,
                         OASR_GC_THRESHOLD, should_collect_first, grown_capacity,
                         oasr_trigger, learn_from_collection, cycle_pass_due)

from drc.errors import (DrcError, HeapCorruptionError, InvalidRefError, NoGcScopeError,
                        OutOfHeapError)
from drc.stackmap import StackMapRegistry
from registry.errors import UnknownTypeError

include "freelist.pxi"
include "collector.pxi"
include "cycles.pxi"
include "funcref.pxi"

cdef enum:
    PAGE_SIZE = 65536               # growth unit of the usable length
    OS_PAGE = 4096                  # mprotect granularity we round to
    CASCADE_CHUNK = 1024            # ref-array elements handled per step of a cascade
    MAX_STAGED_FIELDS = 32          # struct_new stages up to this many fields on the C stack

#: The largest heap: refs are u32 offsets and 16 bytes stay unaddressable at the top.
MAX_HEAP_SIZE = (1 << 32) - 16
cdef size_t C_MAX_HEAP_SIZE = (<size_t>1 << 32) - 16
# Type indices are below this (the abstract heap codes start here); typed so that Python-level
# comparisons see the unsigned value.
cdef uint32_t MAX_TYPE_INDEX = HEAP_ABSTRACT_BASE

# A free slot in the host-data table (payloads may legitimately be None).
cdef object _FREE_ID = object()

# The types Python must not make (collections, reports, scopes, funcrefs) refuse construction
# in __cinit__ unless drc set this flag just before (make_private); __cinit__ clears it. Python
# code cannot reach it, so `Collection.__new__(Collection)` raises instead of building an object
# with no heap behind it. A flag rather than an argument: a 1-tuple per object cost a
# collection about half its time. Their methods still check for a missing heap, in case a
# finalizer run by the allocation itself took the flag.
cdef bint _making_private = False


cdef inline int claim_private(tuple args, str message) except -1:
    global _making_private
    if not _making_private or args:
        _making_private = False
        raise TypeError(message)
    _making_private = False
    return 0

_FL_RULES = {
    FL_BAD_BUMP: "bump region misordered or out of bounds",
    FL_BUMP_MARKED_FREE: "bump-region granule also marked free",
    FL_RUN_TOUCHES_BUMP: "free run adjacent to the bump region (missed merge)",
    FL_FREE_OUT_OF_RANGE: "free bit outside the usable range",
    FL_COUNT_MISMATCH: "free byte count disagrees with the free blocks",
    FL_START_IN_FREE: "live block starts inside free space",
}

_STORAGE_NAMES = {STORAGE_I8: "i8", STORAGE_I16: "i16", STORAGE_I32: "i32",
                  STORAGE_I64: "i64", STORAGE_F32: "f32", STORAGE_F64: "f64",
                  STORAGE_V128: "v128", STORAGE_REF: "ref"}


# ==== Small helpers ========================================================================

cdef inline size_t granules_of(size_t nbytes) noexcept nogil:
    return (nbytes + GRANULE - 1) >> GRANULE_SHIFT


cdef inline ObjectHeader* hdr_of(Heap h, gcref_t r) noexcept nogil:
    return <ObjectHeader*>(h.base + r)


cdef inline size_t heap_next_object(Heap h, size_t g) noexcept nogil:
    """The first granule at or after `g` that starts a live object, or h.fl.end: walk every
    object with ``g = heap_next_object(h, 1)`` then ``heap_next_object(h, g + granules)``.
    Only valid while no allocation or cascade is in flight. Pending objects (heap.pxd,
    "Pending frees") are included, with ref_count 0; call h.free_pending() first to see none."""
    if g >= h.fl.end:
        return h.fl.end
    return next_set(h.fl.start_bits, g, h.fl.end)


cdef inline void slot_inc(Heap h, gcref_t r) noexcept nogil:
    """A count for a heap slot or the OASR list (not tracked as held outside the heap)."""
    if ref_is_object(r):
        (<ObjectHeader*>(h.base + r)).ref_count += 1


cdef inline int slot_dec(Heap h, gcref_t r) except -1 nogil:
    cdef ObjectHeader* hdr
    if ref_is_object(r):
        hdr = <ObjectHeader*>(h.base + r)
        if hdr.ref_count > 1:
            hdr.ref_count -= 1
            return 0
        return h.cascade(r)
    return 0


cdef inline bint host_is_little_endian() noexcept nogil:
    # Constant-folded by the C compiler.
    cdef uint16_t probe = 1
    return (<uint8_t*>&probe)[0] == 1


cdef const uint8_t[::1] bytes_arg(object data, str what):
    """A bytes-like argument as a flat byte view (TypeError for anything else, None too)."""
    if data is None:
        raise TypeError(f"{what}: expected a bytes-like object for data, got None")
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"{what}: expected a bytes-like object for data, got "
                        f"{type(data).__name__}") from None
    if not view.c_contiguous:
        raise TypeError(f"{what}: data must be a contiguous buffer")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


cdef extern from "Python.h":
    # Never fails for an int or an int subclass: a value beyond long long sets *overflow to
    # -1 or 1 and returns -1, with no exception to save and clear (a try block around a
    # conversion costs every call an exception-state save).
    long long PyLong_AsLongLongAndOverflow(object v, int* overflow) noexcept


cdef extern from *:
    """
    #if PY_VERSION_HEX < 0x030B0000
    #include "longintrepr.h"
    #endif
    /* An exact int of one digit (|v| < 2**30), the indices and small values every accessor
       takes, read as the int type stores it: 1 and the value, or 0 for anything else (bigger
       ints, int subclasses, non-ints), which takes the general conversion. */
    static inline int drc_compact_int(PyObject* v, long long* out) {
        if (!PyLong_CheckExact(v)) return 0;
    #if PY_VERSION_HEX >= 0x030C0000
        if (!PyUnstable_Long_IsCompact((PyLongObject*)v)) return 0;
        *out = (long long)PyUnstable_Long_CompactValue((PyLongObject*)v);
        return 1;
    #else
        switch (Py_SIZE(v)) {
        case 0: *out = 0; return 1;
        case 1: *out = (long long)((PyLongObject*)v)->ob_digit[0]; return 1;
        case -1: *out = -(long long)((PyLongObject*)v)->ob_digit[0]; return 1;
        default: return 0;
        }
    #endif
    }
    """
    bint drc_compact_int(object v, long long* out) noexcept


cdef int not_an_int(object v, str what, str name) except -1:
    raise TypeError(f"{what}: {name} must be an int, got {type(v).__name__} {v!r}")


# The raising halves of hot argument checks live apart, so that the checks stay small enough
# for the C compiler to inline into the accessors.
cdef int field_out_of_range(object field, const TypeInfo* ti, str what) except -1:
    raise IndexError(f"{what}: field {field!r} is out of range for struct type "
                     f"{ti.index} with {ti.nfields} fields")


cdef int index_out_of_range(object index, uint32_t length, str what) except -1:
    raise IndexError(f"{what}: index {index!r} is out of bounds for an array of "
                     f"length {length}")


cdef inline int64_t c_int(object v, str what, str name) except? -2:
    """An int argument as a C integer, for range checks in C. Values beyond int64 come back
    as -1 (negative) or INT64_MAX, which every caller rejects as out of range."""
    cdef int overflow = 0
    cdef long long x
    if drc_compact_int(v, &x):
        return x
    if not isinstance(v, int):
        not_an_int(v, what, name)
    x = PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow:
        return -1 if overflow < 0 else 0x7FFFFFFFFFFFFFFF
    return x


cdef bint flag_arg(object v, str what, str name) except -1:
    """A flag argument: True or False, nothing else (None included)."""
    if v is True or v is False:
        return v
    raise TypeError(f"{what}: {name} must be True or False, got {type(v).__name__} {v!r}")


cdef str kind_name(uint32_t kind):
    if kind == KIND_STRUCT:
        return "struct"
    if kind == KIND_ARRAY:
        return "array"
    if kind == KIND_EXTERN:
        return "externref"
    if kind == KIND_EQ:
        return "eq"
    if kind == KIND_ANY:
        return "any"
    return f"kind {kind:#010x}"


cdef bint try_grow_buffer(Heap h, uint32_t** buf, size_t* cap, size_t need) noexcept nogil:
    """Make room for `need` u32 entries in one of h's work buffers (the cascade's, the free
    batch, the payload queue). False, with nothing changed, if there is no memory for it."""
    cdef size_t n
    cdef uint32_t* p
    if need <= cap[0]:
        return True
    if GC_ZEAL and h.zeal_growths_left:
        # The test hook (_zeal_fail_buffer_growth): this growth is the one that fails.
        h.zeal_growths_left -= 1
        if h.zeal_growths_left == 0:
            return False
    n = cap[0] * 2 if cap[0] else 4096
    while n < need:
        n *= 2
    p = <uint32_t*>realloc(buf[0], n * sizeof(uint32_t))
    if p == NULL:
        return False
    buf[0] = p
    cap[0] = n
    return True


cdef int buffer_growth_failed(size_t need) except -1 nogil:
    with gil:
        raise MemoryError(f"cannot grow a cascade buffer to {need} entries")


cdef int grow_buffer(Heap h, uint32_t** buf, size_t* cap, size_t need) except -1 nogil:
    """try_grow_buffer, raising MemoryError when it fails."""
    if not try_grow_buffer(h, buf, cap, need):
        buffer_growth_failed(need)
    return 0


# ==== Values: conversions between Python and field storage ================================

cdef int int_out_of_range(object v, int storage, str what, bint beyond_64) except -1:
    if beyond_64:
        raise OverflowError(f"{what}: {v!r} does not fit in 64 bits")
    raise OverflowError(f"{what}: {v!r} is out of the i32 range "
                        f"[-2**31, 2**32) of an {_STORAGE_NAMES[storage]} field")


cdef inline uint64_t int_bits(object v, int storage,
                              str what) except? 0xFFFFFFFFFFFFFFFF:
    """Check an integer for an integer field and return its two's-complement bits. i8, i16
    and i32 fields take any i32 value, signed or unsigned (packed fields wrap on store, as in
    Wasm); i64 fields any value in [-2**63, 2**64)."""
    cdef int overflow = 0
    cdef long long s
    cdef uint64_t u
    if drc_compact_int(v, &s):
        return <uint64_t>s              # |s| < 2**30: in range for every integer field
    if not isinstance(v, int):
        raise TypeError(f"{what}: expected an int for an {_STORAGE_NAMES[storage]} field, "
                        f"got {type(v).__name__} {v!r}")
    s = PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow == 0:
        if storage != STORAGE_I64 and (s < -2147483648 or s > 0xFFFFFFFF):
            int_out_of_range(v, storage, what, False)
        return <uint64_t>s
    if overflow < 0:
        int_out_of_range(v, storage, what, True)
    # Above int64: an i64 field still takes [2**63, 2**64) as its unsigned bits.
    try:
        u = v
    except OverflowError:
        int_out_of_range(v, storage, what, True)
    if storage != STORAGE_I64:
        int_out_of_range(v, storage, what, False)
    return u


cdef int convert_value(Heap h, const FieldInfo* f, object v, uint8_t* out,
                       str what) except -1:
    """Check `v` for a field and write its heap bytes (f.size of them) to `out`. A ref is
    written as its raw value and checked against the field's ref type; no count is taken."""
    cdef double d
    cdef float x
    cdef gcref_t r
    cdef const unsigned char* src
    cdef int st = f.storage
    if st == STORAGE_REF:
        if field_is_funcref(f):
            r = funcref_arg(h, v, what)
            if not h.funcref_matches(r, f.ref_heap, f.ref_nullable):
                raise TypeError(f"{what}: {v!r} does not match the field's type "
                                f"{heap_type_repr(f.ref_heap, f.ref_nullable)}")
            (<uint32_t*>out)[0] = r
            return 0
        if type(v) is FuncRef:
            raise TypeError(f"{what}: {v!r} is a funcref; it does not fit the field's type "
                            f"{heap_type_repr(f.ref_heap, f.ref_nullable)}")
        r = h.ref_value(v, what)
        if not h.ref_matches(r, f.ref_heap, f.ref_nullable):
            raise TypeError(f"{what}: {v!r} does not match the field's type "
                            f"{heap_type_repr(f.ref_heap, f.ref_nullable)}")
        (<uint32_t*>out)[0] = r
    elif st == STORAGE_I8:
        out[0] = <uint8_t>int_bits(v, st, what)
    elif st == STORAGE_I16:
        (<uint16_t*>out)[0] = <uint16_t>int_bits(v, st, what)
    elif st == STORAGE_I32:
        (<uint32_t*>out)[0] = <uint32_t>int_bits(v, st, what)
    elif st == STORAGE_I64:
        (<uint64_t*>out)[0] = int_bits(v, st, what)
    elif st == STORAGE_F32 or st == STORAGE_F64:
        if not isinstance(v, (float, int)) or isinstance(v, bool):
            raise TypeError(f"{what}: expected a float for an {_STORAGE_NAMES[st]} field, "
                            f"got {type(v).__name__} {v!r}")
        try:
            d = v
        except OverflowError:
            raise OverflowError(f"{what}: {v!r} is too large for a float") from None
        if st == STORAGE_F32:
            x = <float>d
            memcpy(out, &x, 4)
        else:
            memcpy(out, &d, 8)
    elif st == STORAGE_V128:
        if not isinstance(v, (bytes, bytearray)):
            raise TypeError(f"{what}: expected 16 bytes for a v128 field, "
                            f"got {type(v).__name__} {v!r}")
        if len(v) != 16:
            raise ValueError(f"{what}: a v128 value is 16 bytes, got {len(v)}")
        src = v
        memcpy(out, src, 16)
    else:
        raise HeapCorruptionError(f"{what}: unknown storage code {st}")
    return 0


cdef object load_value(Heap h, const uint8_t* p, const FieldInfo* f, bint signed):
    cdef int st = f.storage
    cdef float x
    cdef double d
    if st == STORAGE_REF:
        if field_is_funcref(f):
            return funcref_out(h, (<const uint32_t*>p)[0])
        return h.ref_out((<const uint32_t*>p)[0])
    if st == STORAGE_I8:
        if signed:
            return <int8_t>p[0]
        return p[0]
    if st == STORAGE_I16:
        if signed:
            return (<const int16_t*>p)[0]
        return (<const uint16_t*>p)[0]
    if st == STORAGE_I32:
        return (<const int32_t*>p)[0]
    if st == STORAGE_I64:
        return (<const int64_t*>p)[0]
    if st == STORAGE_F32:
        memcpy(&x, p, 4)
        return x
    if st == STORAGE_F64:
        memcpy(&d, p, 8)
        return d
    if st == STORAGE_V128:
        return PyBytes_FromStringAndSize(<const char*>p, 16)
    raise HeapCorruptionError(f"unknown storage code {st}")


cdef inline gcref_t swap_slot(Heap h, uint32_t* slot, gcref_t new) noexcept nogil:
    """The write barrier's first half: count `new` for the slot and store it. Returns the
    old value, whose count the caller gives up: eagerly (slot_dec) on the Python API's
    paths, through the pending lists (release_child) on the C-level ones."""
    cdef gcref_t old = slot[0]
    slot_inc(h, new)
    slot[0] = new
    return old


cdef inline void copy_value(uint8_t* dst, const uint8_t* src, uint32_t size) noexcept nogil:
    """Copy one converted value (1, 2, 4, 8 or 16 bytes). Each branch is a fixed-size copy,
    a plain load and store: a memcpy of a run-time size compiles to `rep movs` here, whose
    start-up cost was close to half of a small struct_new (perf annotate)."""
    if size == 8:
        memcpy(dst, src, 8)
    elif size == 4:
        memcpy(dst, src, 4)
    elif size == 16:
        memcpy(dst, src, 16)
    elif size == 2:
        memcpy(dst, src, 2)
    else:
        dst[0] = src[0]


cdef inline int store_staged(Heap h, uint8_t* dst, const FieldInfo* f,
                             const uint8_t* src) except -1 nogil:
    """Write a converted value into a slot: the write barrier for GC refs, a copy otherwise."""
    if f.is_gc_ref:
        return slot_dec(h, swap_slot(h, <uint32_t*>dst, (<const uint32_t*>src)[0]))
    copy_value(dst, src, f.size)
    return 0


# The HEAP_* enum constants are above INT_MAX: cast them, or Python sees negative keys.
cdef dict _ABSTRACT_TEXT = {
    <uint32_t>HEAP_ANY: "any", <uint32_t>HEAP_EQ: "eq", <uint32_t>HEAP_I31: "i31",
    <uint32_t>HEAP_STRUCT: "struct", <uint32_t>HEAP_ARRAY: "array", <uint32_t>HEAP_NONE: "none",
    <uint32_t>HEAP_FUNC: "func", <uint32_t>HEAP_NOFUNC: "nofunc",
    <uint32_t>HEAP_EXTERN: "extern", <uint32_t>HEAP_NOEXTERN: "noextern",
    <uint32_t>HEAP_EXN: "exn", <uint32_t>HEAP_NOEXN: "noexn"}


cdef str heap_type_repr(uint32_t heap, bint nullable):
    """A ref type as the Wasm text format writes it: `(ref null eq)`, `(ref $3)`."""
    if heap >= HEAP_ABSTRACT_BASE:
        name = _ABSTRACT_TEXT.get(heap, f"<heap type {heap:#x}>")
    else:
        name = f"${heap}"
    return f"(ref {'null ' if nullable else ''}{name})"


cdef uint32_t heap_code_arg(object heap) except? 0:
    """A RefType's heap as a C code: an int type index or an abstract constant's .code."""
    cdef uint32_t code
    if isinstance(heap, int):
        if heap < 0 or heap >= MAX_TYPE_INDEX:
            raise OverflowError(f"type index {heap!r} is out of range")
        return heap
    code = getattr(heap, "code")
    return code


# ==== The cascade's inner steps (module-level so that they inline) ========================

cdef inline int cascade_push(Heap h, gcref_t c) except -1 nogil:
    """Give up a dying object's count on c; if c dies too, queue it (capacity reserved), or
    in a lazy cascade let it wait on a pending list."""
    cdef ObjectHeader* ch
    cdef size_t g
    if not ref_is_object(c):
        return 0
    if GC_ZEAL:
        if not h.is_object(c) or (<ObjectHeader*>(h.base + c)).ref_count == 0:
            with gil:
                raise HeapCorruptionError(
                    f"offset {c}: a dying object holds a ref to a dead or invalid object")
    ch = <ObjectHeader*>(h.base + c)
    if ch.ref_count > 1:
        ch.ref_count -= 1
        return 0
    ch.ref_count = 0
    if h.lazy_children:
        g = granules_of(ch.object_size)
        if g < PENDING_CLASSES and (ch.kind_bits & KIND_MASK) != KIND_EXTERN:
            pend(h, c, ch, g)
            return 0
    h.stack[h.stack_n] = c
    h.stack_n += 1
    return 0


cdef inline int queue_free(Heap h, gcref_t x, ObjectHeader* hdr) except -1 nogil:
    """A dead object whose fields have been read: its block becomes free space now, and is
    recorded for the batch's bookkeeping (flush_frees)."""
    cdef size_t s = x >> GRANULE_SHIFT
    cdef size_t g = granules_of(hdr.object_size)
    if h.free_n + 2 > h.free_cap and not try_grow_buffer(h, &h.to_free, &h.free_cap,
                                                         h.free_n + 2):
        # No memory for a longer batch: finish this one now and start the next.
        h.flush_frees()
    if GC_ZEAL:
        if not bit_get(h.fl.start_bits, s) or next_set(h.fl.free_bits, s, s + g) < s + g:
            with gil:
                raise HeapCorruptionError(f"offset {x}: freeing a block that is not a live "
                                          "object (double free)")
        h.ext_counts[s] = 0
        memset(h.base + x, DRC_POISON, g << GRANULE_SHIFT)
    fl_mark_free(&h.fl, s, g)
    if s < h.batch_lo:
        h.batch_lo = s
    if s + g > h.batch_hi:
        h.batch_hi = s + g
    h.to_free[h.free_n] = <uint32_t>s
    h.to_free[h.free_n + 1] = <uint32_t>g
    h.free_n += 2
    return 0


cdef void park_dying(Heap h, gcref_t x) noexcept nogil:
    """A cascade out of work memory leaves the dead object x (count 0, every ref field still
    owning its count) where a later free finds it: on its pending list if it could wait on
    one, else in the OASR list, holding the list's count, for the next sweep to give up."""
    cdef ObjectHeader* hdr = hdr_of(h, x)
    cdef size_t g = granules_of(hdr.object_size)
    if g < PENDING_CLASSES and (hdr.kind_bits & KIND_MASK) != KIND_EXTERN:
        pend(h, x, hdr, g)
        return
    hdr.ref_count = 1
    hdr.kind_bits |= IN_OASR_BIT
    hdr.next_oasr = h.oasr_head
    h.oasr_head = x
    h.oasr_len += 1
    if h.oasr_len >= h.oasr_trigger:
        h.gc_due = True


cdef void park_unfinished(Heap h) noexcept nogil:
    """Park what a failed cascade left on its stack and its big-array list. A big array's
    elements before its next chunk have given up their counts already: they become null."""
    cdef gcref_t x
    cdef uint32_t done
    while h.stack_n:
        h.stack_n -= 1
        park_dying(h, h.stack[h.stack_n])
    while h.large_n:
        x = h.large[h.large_n - 2]
        done = h.large[h.large_n - 1]
        h.large_n -= 2
        memset(h.base + x + h.types[hdr_of(h, x).type_index].size, 0, <size_t>done * 4)
        park_dying(h, x)


cdef inline bint is_leaf(Heap h, ObjectHeader* hdr) noexcept nogil:
    """True if freeing this object cannot release anything else: no payload to release and
    no ref slot holding an object."""
    cdef uint32_t kind = hdr.kind_bits & KIND_MASK
    cdef const TypeInfo* ti
    cdef uint32_t i
    if kind == KIND_STRUCT:
        ti = h.types[hdr.type_index]
        for i in range(ti.n_gc_refs):
            if ref_is_object((<uint32_t*>(<char*>hdr + ti.gc_ref_offsets[i]))[0]):
                return False
        return True
    if kind == KIND_ARRAY:
        return not h.types[hdr.type_index].elems_are_gc_refs
    return False


cdef inline bint has_pending(Heap h) noexcept nogil:
    cdef size_t g
    for g in range(1, PENDING_CLASSES):
        if h.pending[g]:
            return True
    return False


cdef inline gcref_t init_object(Heap h, gcref_t r, size_t size, uint32_t kind_bits,
                                uint32_t type_index) noexcept nogil:
    """Write the header of a block, zero its fields and note the handle's count."""
    cdef ObjectHeader* hdr = <ObjectHeader*>(h.base + r)
    hdr.kind_bits = kind_bits
    hdr.type_index = type_index
    hdr.ref_count = 1
    hdr.next_oasr = 0
    hdr.object_size = <uint32_t>size
    memset(<char*>hdr + sizeof(ObjectHeader), 0, size - sizeof(ObjectHeader))
    h.ext_add(r, 1)
    return r


cdef inline int release_queued_payloads(Heap h) except -1 nogil:
    """Release the externref payloads a cascade queued, unless a sweep or a block reuse is
    in progress (they run arbitrary code, which must find the heap consistent)."""
    if h.n_release and not h.sweeping and h.reusing == 0 and not h.in_cascade:
        with gil:
            h.release_host_data()
    return 0


cdef int zeal_check_pending(Heap h, gcref_t r, size_t g) except -1 nogil:
    """Zeal: the pending object at r, on list g, still has the header it died with."""
    cdef ObjectHeader* hdr = <ObjectHeader*>(h.base + r)
    cdef uint32_t kind = hdr.kind_bits & KIND_MASK
    if (r >= h.capacity or (r & (GRANULE - 1)) or not bit_get(h.fl.start_bits, r >> GRANULE_SHIFT)
            or hdr.ref_count != 0 or (hdr.kind_bits & (MARK_BIT | IN_OASR_BIT))
            or (kind != KIND_STRUCT and kind != KIND_ARRAY)
            or granules_of(hdr.object_size) != g or hdr.type_index >= h.ntypes
            or h.types[hdr.type_index] == NULL):
        with gil:
            raise HeapCorruptionError(f"offset {r}: pending object (size class {g}) has a "
                                      "damaged header: something wrote to a dead object")
    return 0


# ==== The heap =============================================================================

@cython.final
@cython.no_gc_clear
@cython.auto_pickle(False)
cdef class Heap:
    """A garbage-collected heap of Wasm GC objects typed by `registry`.

    ``Heap(registry, *, max_size=4 GiB - 16, initial_size=0, growth_policy="adaptive",
    min_gc_heap=1 MiB)`` reserves `max_size` bytes of address space at once; usable memory
    grows inside the reservation in 64 KiB pages (the first allocation makes the first page
    usable), so the base never moves. `growth_policy` and `min_gc_heap` choose between
    collecting and growing when an allocation finds no room (docs/collector.md).
    """

    def __cinit__(self, TypeRegistry registry not None, *, max_size=MAX_HEAP_SIZE,
                  initial_size=0, growth_policy="adaptive", min_gc_heap=DEFAULT_MIN_GC_HEAP):
        cdef size_t max_granules
        self.policy.policy = policy_code(growth_policy)
        if (not isinstance(min_gc_heap, int) or isinstance(min_gc_heap, bool)
                or min_gc_heap < 0):
            raise ValueError(f"min_gc_heap must be a byte count >= 0, got {min_gc_heap!r}")
        self.policy.min_gc_heap = min(min_gc_heap, MAX_HEAP_SIZE)
        self.policy.min_trigger = OASR_GC_THRESHOLD
        self.oasr_trigger = OASR_GC_THRESHOLD
        self.created_at = monotonic_now()
        self.events = <HistoryEvent*>malloc(HISTORY_CAPACITY * sizeof(HistoryEvent))
        if self.events == NULL:
            raise MemoryError()
        if not isinstance(max_size, int) or not isinstance(initial_size, int):
            raise TypeError(f"max_size and initial_size must be ints, got {max_size!r} and "
                            f"{initial_size!r}")
        if max_size < 32 or max_size > MAX_HEAP_SIZE:
            raise ValueError(f"max_size {max_size!r} is out of range [32, {MAX_HEAP_SIZE}]")
        if initial_size < 0 or initial_size > max_size:
            raise ValueError(f"initial_size {initial_size!r} is out of range [0, {max_size}]")
        self.registry = registry
        self.host_data = [_FREE_ID]
        self.host_free_ids = []
        self.fn_map = {}
        self.fn_type_holds = {}
        self.fn_reclaim_at = FUNCREF_RECLAIM_MIN
        self.max_size = max_size & ~<size_t>15
        self.reserved = (self.max_size + PAGE_SIZE - 1) & ~(<size_t>PAGE_SIZE - 1)
        self.base = <char*>mmap(NULL, self.reserved, PROT_NONE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        if <void*>self.base == MAP_FAILED:
            self.base = NULL
            raise OutOfHeapError(f"cannot reserve {self.reserved} bytes of address space")
        max_granules = self.max_size >> GRANULE_SHIFT
        fl_init(&self.fl, max_granules)
        if GC_ZEAL:
            self.ext_counts = <uint32_t*>mmap(NULL, max_granules * 4 + 8,
                                              PROT_READ | PROT_WRITE,
                                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                                              -1, 0)
            if <void*>self.ext_counts == MAP_FAILED:
                self.ext_counts = NULL
                raise MemoryError("cannot map the zeal count table")
        self.batch_lo = <size_t>-1
        grow_buffer(self, &self.stack, &self.stack_cap, 4096)
        grow_buffer(self, &self.to_free, &self.free_cap, 4096)
        if initial_size:
            self.grow_to(((initial_size + PAGE_SIZE - 1) // PAGE_SIZE) * PAGE_SIZE)

    def __init__(self, registry, *, max_size=MAX_HEAP_SIZE, initial_size=0,
                 growth_policy="adaptive", min_gc_heap=DEFAULT_MIN_GC_HEAP):
        # Everything happens in __cinit__; this gives the class its real signature.
        pass

    def __dealloc__(self):
        self.release_memory()
        fn_release_all(self)
        self.drop_roots()
        c_free(self.events)
        c_free(self.types)
        c_free(self.roots)
        c_free(self.stack)
        c_free(self.large)
        c_free(self.to_free)
        c_free(self.release_ids)

    cdef void drop_roots(self) noexcept:
        cdef size_t i
        cdef PyObject* p
        for i in range(self.ntypes):
            p = self.roots[i]
            if p != NULL:
                self.roots[i] = NULL
                self.types[i] = NULL
                Py_DECREF(<object>p)
        self.nroots = 0

    cdef void release_memory(self) noexcept:
        if self.base != NULL:
            munmap(self.base, self.reserved)
            self.base = NULL
        self.capacity = 0
        fl_destroy(&self.fl)
        if self.ext_counts != NULL:
            munmap(self.ext_counts, (self.max_size >> GRANULE_SHIFT) * 4 + 8)
            self.ext_counts = NULL

    def close(self):
        """Unmap the memory and release every payload and type registration (idempotent).
        Handles that are still alive become inert, and every other method and property of
        the heap raises ValueError from now on. Raises BufferError while a memoryview of the
        heap exists (closing then would leave it pointing at unmapped memory)."""
        if self.exports:
            raise BufferError(f"cannot close the heap: {self.exports} memoryview(s) of its "
                              "memory are still alive")
        if self.base == NULL:
            return
        if self.callbacks:
            raise DrcError("cannot close the heap from code it is running on its own behalf "
                           "(a payload finalizer, a root provider or a funcref target's "
                           "finalizer): the operation that called it still uses the memory; "
                           "close the heap after it returns")
        self.release_memory()
        memset(self.pending, 0, sizeof(self.pending))
        data, self.host_data = self.host_data, [_FREE_ID]
        self.host_free_ids = []
        self.oasr_head = self.oasr_len = 0
        self.collecting = self.marking = self.gc_due = False
        self.provider = None
        self.has_root_provider = False
        del data
        fn_release_all(self)
        self.fn_type_holds = {}
        self.drop_roots()

    @property
    def closed(self):
        return self.base == NULL

    @property
    def max_size(self):
        """The hard limit on the usable length, in bytes."""
        self.check_open()
        return self.max_size

    @property
    def registry(self):
        """The TypeRegistry whose types this heap's objects have."""
        self.check_open()
        return self.registry

    def __enter__(self):
        self.check_open()
        return self

    def __exit__(self, *exc):
        self.close()

    def __getbuffer__(self, Py_buffer* buffer, int flags):
        self.check_open()
        PyBuffer_FillInfo(buffer, self, self.base, self.capacity, 0, flags)
        self.exports += 1

    def __releasebuffer__(self, Py_buffer* buffer):
        self.exports -= 1

    cdef int check_open(self) except -1:
        if self.base == NULL:
            raise ValueError("the heap is closed")
        return 0

    # ---- memory ----------------------------------------------------------------------

    cdef int grow_to(self, size_t new_capacity) except -1 nogil:
        """Make [0, new_capacity) usable. Zeal poisons the new bytes."""
        cdef size_t old = self.capacity
        cdef size_t prot_len
        if new_capacity > self.max_size:
            new_capacity = self.max_size
        if new_capacity <= old:
            return 0
        prot_len = (new_capacity + OS_PAGE - 1) & ~(<size_t>OS_PAGE - 1)
        if prot_len > self.reserved:
            prot_len = self.reserved
        if mprotect(self.base, prot_len, PROT_READ | PROT_WRITE) != 0:
            with gil:
                raise OutOfHeapError(f"cannot make {new_capacity} bytes of the heap usable")
        if GC_ZEAL:
            memset(self.base + old, DRC_POISON, new_capacity - old)
        self.capacity = new_capacity
        fl_add_capacity(&self.fl, new_capacity >> GRANULE_SHIFT)
        return 0

    cdef int grow_for(self, size_t need) except -1 nogil:
        """Grow the usable length by the policy's step (double, at least `need` more bytes,
        at most max_size). Returns 0, changing nothing, when the reservation cannot fit
        `need` more bytes."""
        cdef size_t target = grown_capacity(self.capacity, need, self.max_size)
        if target <= self.capacity:
            return 0
        self.grow_to(target)
        record_event(self, EVENT_GROW)
        return 1

    # ---- allocation ------------------------------------------------------------------

    cdef gcref_t alloc_object(self, size_t size, uint32_t kind_bits,
                              uint32_t type_index) except 0 nogil:
        cdef size_t g, p, i
        cdef gcref_t r
        cdef uint8_t bad
        if size > self.max_size - GRANULE:
            with gil:
                raise OutOfHeapError(f"cannot allocate {size} bytes: larger than the heap's "
                                     f"max_size {self.max_size}")
        g = granules_of(size)
        if self.gc_due or (GC_ZEAL and self.zeal_collect_every):
            self.safepoint()
        if g < PENDING_CLASSES and self.pending[g] != 0:
            # A block of this size is waiting (heap.pxd, "Pending frees"): reuse it.
            r = self.pending[g]
            if GC_ZEAL:
                zeal_check_pending(self, r, g)
                self.ext_counts[r >> GRANULE_SHIFT] = 0
            reuse_pending(self, r, g)
            init_object(self, r, size, kind_bits, type_index)
            release_queued_payloads(self)
            return r
        p = fl_bump(&self.fl, g)
        if p == 0:
            p = fl_alloc_slow(&self.fl, g)
            if p == 0 and has_pending(self):
                self.free_pending()
                p = fl_bump(&self.fl, g)
                if p == 0:
                    p = fl_alloc_slow(&self.fl, g)
            if p == 0:
                p = alloc_after_failure(self, g)
        r = <gcref_t>(p << GRANULE_SHIFT)
        if GC_ZEAL:
            for i in range(g << GRANULE_SHIFT):
                if <uint8_t>self.base[r + i] != DRC_POISON:
                    bad = <uint8_t>self.base[r + i]
                    # Report it, but leave the heap consistent: the block goes back, poisoned.
                    self.undo_alloc(p, g)
                    with gil:
                        raise HeapCorruptionError(
                            f"offset {r + i}: fresh block at {r} is not poisoned (byte "
                            f"{bad:#04x}): something wrote to free memory")
            if next_set(self.fl.free_bits, p, p + g) < p + g:
                with gil:
                    raise HeapCorruptionError(f"offset {r}: allocated block overlaps free space")
            if (self.objects_allocated & 4095) == 0:
                self.zeal_check_free_list()
        self.objects_allocated += 1
        self.bytes_allocated += g << GRANULE_SHIFT
        return init_object(self, r, size, kind_bits, type_index)

    cdef void undo_alloc(self, size_t p, size_t g) noexcept nogil:
        cdef uint32_t block[2]
        block[0] = <uint32_t>p
        block[1] = <uint32_t>g
        memset(self.base + (p << GRANULE_SHIFT), DRC_POISON, g << GRANULE_SHIFT)
        fl_free_batch(&self.fl, block, 1)

    cdef const TypeInfo* type_record(self, uint32_t type_index) except NULL:
        """The type's record, registering the heap's hold on it on first use."""
        cdef const TypeInfo* ti
        cdef const TypeInfo** grown
        cdef PyObject** grown_roots
        cdef size_t n
        if type_index < self.ntypes and self.types[type_index] != NULL:
            return self.types[type_index]
        self.check_open()
        if self.registry.type_info(type_index) == NULL:
            raise UnknownTypeError(f"type index {type_index} is not registered")
        root = self.registry.root(type_index)
        ti = self.registry.type_info(type_index)
        if ti == NULL:
            raise UnknownTypeError(f"type index {type_index} is not registered")
        if ti.kind == COMPOSITE_FUNC:
            raise TypeError(f"type {type_index} is a func type; it has no heap objects")
        if type_index >= self.ntypes:
            n = self.ntypes * 2 if self.ntypes else 64
            while n <= type_index:
                n *= 2
            grown = <const TypeInfo**>realloc(self.types, n * sizeof(TypeInfo*))
            if grown == NULL:
                raise MemoryError()
            memset(&grown[self.ntypes], 0, (n - self.ntypes) * sizeof(TypeInfo*))
            self.types = grown
            grown_roots = <PyObject**>realloc(self.roots, n * sizeof(PyObject*))
            if grown_roots == NULL:
                raise MemoryError()
            memset(&grown_roots[self.ntypes], 0, (n - self.ntypes) * sizeof(PyObject*))
            self.roots = grown_roots
            self.ntypes = n
        Py_INCREF(root)
        self.roots[type_index] = <PyObject*>root
        self.nroots += 1
        self.types[type_index] = ti
        return ti

    cdef gcref_t alloc_struct(self, uint32_t type_index) except 0 nogil:
        cdef const TypeInfo* ti = NULL
        if type_index < self.ntypes:
            ti = self.types[type_index]
        if ti == NULL:
            with gil:
                ti = self.type_record(type_index)
        if ti.kind != COMPOSITE_STRUCT:
            with gil:
                raise TypeError(f"type {type_index} is not a struct type")
        return self.alloc_object(ti.size, KIND_STRUCT, type_index)

    cdef gcref_t alloc_array(self, uint32_t type_index, uint32_t length) except 0 nogil:
        cdef const TypeInfo* ti = NULL
        cdef uint64_t size
        cdef gcref_t r
        if type_index < self.ntypes:
            ti = self.types[type_index]
        if ti == NULL:
            with gil:
                ti = self.type_record(type_index)
        if ti.kind != COMPOSITE_ARRAY:
            with gil:
                raise TypeError(f"type {type_index} is not an array type")
        size = ti.size + <uint64_t>length * ti.elem_size
        if size > self.max_size - GRANULE:
            with gil:
                raise OutOfHeapError(f"an array of {length} elements of type {type_index} "
                                     f"needs {size} bytes, more than max_size {self.max_size}")
        r = self.alloc_object(size, KIND_ARRAY, type_index)
        (<ArrayHeader*>(self.base + r)).length = length
        return r

    cdef gcref_t alloc_externref(self, object data) except 0:
        cdef gcref_t r
        cdef uint32_t hid
        self.check_open()
        while self.host_free_ids and self.host_free_ids[len(self.host_free_ids) - 1] >= len(
                self.host_data):
            self.host_free_ids.pop()            # the table was cleared by the cycle collector
        if not self.host_data:
            self.host_data.append(_FREE_ID)
        if self.host_free_ids:
            hid = self.host_free_ids.pop()
            reused = True
        else:
            hid = len(self.host_data)
            self.host_data.append(_FREE_ID)
            reused = False
        try:
            r = self.alloc_object(sizeof(ExternRefObject), KIND_EXTERN, TYPE_INDEX_NONE)
        except BaseException:
            if reused:
                self.host_free_ids.append(hid)
            else:
                self.host_data.pop()
            raise
        self.host_data[hid] = data
        (<ExternRefObject*>(self.base + r)).host_data_id = hid
        return r

    # ---- counting --------------------------------------------------------------------

    cdef void ext_add(self, gcref_t r, int delta) noexcept nogil:
        if GC_ZEAL and ref_is_object(r) and self.ext_counts != NULL:
            self.ext_counts[r >> GRANULE_SHIFT] += delta

    cdef int inc_ref(self, gcref_t r) except -1 nogil:
        if not ref_is_object(r):
            return 0
        if GC_ZEAL:
            self.check_object(r, 0)
            self.ext_add(r, 1)
        hdr_of(self, r).ref_count += 1
        return 0

    cdef int zeal_give_up_outside_count(self, gcref_t r) except -1 nogil:
        """Zeal: r is a live object and somebody outside the heap holds the count being given
        up; the tally of such counts loses it."""
        self.check_object(r, 0)
        if self.ext_counts[r >> GRANULE_SHIFT] == 0:
            with gil:
                raise HeapCorruptionError(
                    f"offset {r}: dec_ref of a count nobody outside the heap holds")
        self.ext_add(r, -1)
        return 0

    cdef int dec_ref(self, gcref_t r) except -1 nogil:
        if not ref_is_object(r):
            return 0
        if GC_ZEAL:
            self.zeal_give_up_outside_count(r)
        return slot_dec(self, r)

    cdef int oasr_drop(self, gcref_t r) except -1 nogil:
        if GC_ZEAL:
            self.check_object(r, 0)
        return slot_dec(self, r)

    cdef gcref_t reuse_struct(self, gcref_t r, size_t g, uint32_t type_index,
                              uint32_t size) except 0 nogil:
        cdef ObjectHeader* hdr = hdr_of(self, r)
        reuse_pending(self, r, g)
        hdr.kind_bits = KIND_STRUCT
        hdr.type_index = type_index
        hdr.ref_count = 1
        hdr.next_oasr = 0
        hdr.object_size = size
        memset(<char*>hdr + sizeof(ObjectHeader), 0, (g << GRANULE_SHIFT) - sizeof(ObjectHeader))
        release_queued_payloads(self)
        return r

    cdef gcref_t finish_reuse(self, gcref_t r, size_t g, uint32_t i) except 0 nogil:
        cdef ObjectHeader* hdr = hdr_of(self, r)
        release_fields(self, r, g, i)
        self.objects_reused += 1
        self.bytes_reused += g << GRANULE_SHIFT
        hdr.kind_bits = KIND_STRUCT
        hdr.ref_count = 1
        hdr.next_oasr = 0
        zero_struct_fields(hdr, g)
        release_queued_payloads(self)
        return r

    cdef int unreuse(self, gcref_t r, size_t g, uint32_t i) except -1 nogil:
        cdef ObjectHeader* hdr = hdr_of(self, r)
        cdef const TypeInfo* ti = self.types[hdr.type_index]
        cdef uint32_t j
        if (hdr.kind_bits & KIND_MASK) == KIND_STRUCT:
            for j in range(min(i + 1, ti.n_gc_refs)):
                (<uint32_t*>(self.base + r + ti.gc_ref_offsets[j]))[0] = 0
        elif ti.elems_are_gc_refs:
            memset(self.base + r + ti.size, 0,
                   <size_t>min(i + 1, (<ArrayHeader*>hdr).length) * 4)
        pend(self, r, hdr, g)
        self.objects_pended -= 1        # it was counted when it first went on the list
        return release_queued_payloads(self)

    cdef int dec_ref_deferred(self, gcref_t r) except -1 nogil:
        if not ref_is_object(r):
            return 0
        if GC_ZEAL:
            self.zeal_give_up_outside_count(r)
        return release_child(self, r)

    cdef int free_pending(self) except -1 nogil:
        """Free every pending object now, with everything only they kept alive (one eager
        cascade); afterwards no object is pending."""
        cdef size_t g
        cdef gcref_t r
        cdef ObjectHeader* hdr
        if not has_pending(self):
            return 0
        if self.in_cascade:
            with gil:
                raise HeapCorruptionError("free_pending inside a cascade")
        for g in range(1, PENDING_CLASSES):
            r = self.pending[g]
            while r:
                if self.stack_n == self.stack_cap and not try_grow_buffer(
                        self, &self.stack, &self.stack_cap, self.stack_n + 1):
                    # No memory for a longer stack: free what it holds, then go on. Until
                    # r is on the stack it stays on its list.
                    self.pending[g] = r
                    if self.stack_n == 0:
                        buffer_growth_failed(1)
                    self.cascade_run()
                    r = self.pending[g]
                    continue
                if GC_ZEAL:
                    zeal_check_pending(self, r, g)
                hdr = hdr_of(self, r)
                self.stack[self.stack_n] = r
                self.stack_n += 1
                self.pending_finished += 1
                r = hdr.next_oasr
                hdr.next_oasr = 0
            self.pending[g] = 0
        return self.cascade_run()

    cdef int cascade(self, gcref_t r) except -1 nogil:
        """Give up the last count on r: free it and, through an explicit stack, everything
        only it kept alive. Memory is returned in one batch after the walk; payloads of
        dead externrefs are released after that, with the heap consistent again."""
        cdef ObjectHeader* hdr = hdr_of(self, r)
        cdef size_t g
        if hdr.ref_count > 1:
            hdr.ref_count -= 1
            return 0
        if not GC_ZEAL and is_leaf(self, hdr):
            # Nothing else can die: free the block at once, usually by widening the bump
            # region over it.
            g = granules_of(hdr.object_size)
            hdr.ref_count = 0
            self.objects_freed += 1
            self.bytes_freed += g << GRANULE_SHIFT
            if not fl_free_next_to_bump(&self.fl, r >> GRANULE_SHIFT, g):
                self.to_free[0] = r >> GRANULE_SHIFT
                self.to_free[1] = <uint32_t>g
                fl_free_batch(&self.fl, self.to_free, 1)
            return 0
        if self.in_cascade:
            with gil:
                raise HeapCorruptionError(f"offset {r}: cascade re-entered")
        hdr.ref_count = 0
        self.stack[0] = r
        self.stack_n = 1
        return self.cascade_run()

    cdef int cascade_lazy(self, gcref_t r) except -1 nogil:
        if self.in_cascade:
            # A cascade already running (a payload release dropping refs from C) decides.
            return self.cascade(r)
        self.lazy_children = True
        try:
            self.cascade(r)
        finally:
            self.lazy_children = False
        return 0

    cdef int cascade_run(self) except -1 nogil:
        """Free the dead objects on the cascade stack (count already 0) and everything only
        they kept alive; memory is returned in one batch, then payloads are released."""
        cdef ObjectHeader* hdr
        cdef const TypeInfo* ti
        cdef uint32_t kind, length, i, end
        cdef uint32_t* elems
        cdef gcref_t x
        cdef bint finished = False
        if self.in_cascade:
            with gil:
                raise HeapCorruptionError("cascade re-entered")
        self.in_cascade = True
        # A work buffer that cannot grow puts the object at hand back on the stack and
        # raises; the finally parks everything unfinished (park_unfinished).
        try:
            while self.stack_n or self.large_n:
                while self.stack_n:
                    self.stack_n -= 1
                    x = self.stack[self.stack_n]
                    hdr = hdr_of(self, x)
                    kind = hdr.kind_bits & KIND_MASK
                    if kind == KIND_STRUCT:
                        ti = self.types[hdr.type_index]
                        if self.stack_n + ti.n_gc_refs > self.stack_cap and not \
                                try_grow_buffer(self, &self.stack, &self.stack_cap,
                                                self.stack_n + ti.n_gc_refs):
                            self.stack_n += 1
                            buffer_growth_failed(self.stack_n - 1 + ti.n_gc_refs)
                        for i in range(ti.n_gc_refs):
                            cascade_push(
                                self, (<uint32_t*>(self.base + x + ti.gc_ref_offsets[i]))[0])
                    elif kind == KIND_ARRAY:
                        ti = self.types[hdr.type_index]
                        if ti.elems_are_gc_refs:
                            length = (<ArrayHeader*>hdr).length
                            if length > CASCADE_CHUNK:
                                if not try_grow_buffer(self, &self.large, &self.large_cap,
                                                       self.large_n + 2):
                                    self.stack_n += 1
                                    buffer_growth_failed(self.large_n + 2)
                                self.large[self.large_n] = x
                                self.large[self.large_n + 1] = 0
                                self.large_n += 2
                                continue
                            if self.stack_n + length > self.stack_cap and not \
                                    try_grow_buffer(self, &self.stack, &self.stack_cap,
                                                    self.stack_n + length):
                                self.stack_n += 1
                                buffer_growth_failed(self.stack_n - 1 + length)
                            elems = <uint32_t*>(self.base + x + ti.size)
                            for i in range(length):
                                cascade_push(self, elems[i])
                    elif kind == KIND_EXTERN:
                        if self.n_release == self.cap_release and not \
                                try_grow_buffer(self, &self.release_ids, &self.cap_release,
                                                self.n_release + 1):
                            self.stack_n += 1
                            buffer_growth_failed(self.n_release + 1)
                        self.release_ids[self.n_release] = (<ExternRefObject*>hdr).host_data_id
                        self.n_release += 1
                    elif GC_ZEAL:
                        with gil:
                            raise HeapCorruptionError(
                                f"offset {x}: dying object has invalid kind word "
                                f"{hdr.kind_bits:#010x}")
                    queue_free(self, x, hdr)
                if self.large_n:
                    # One chunk of a big ref array per round keeps the stack bounded.
                    x = self.large[self.large_n - 2]
                    i = self.large[self.large_n - 1]
                    hdr = hdr_of(self, x)
                    ti = self.types[hdr.type_index]
                    length = (<ArrayHeader*>hdr).length
                    end = i + CASCADE_CHUNK if length - i > CASCADE_CHUNK else length
                    if self.stack_n + (end - i) > self.stack_cap:
                        grow_buffer(self, &self.stack, &self.stack_cap, self.stack_n + (end - i))
                    elems = <uint32_t*>(self.base + x + ti.size)
                    for i in range(i, end):
                        cascade_push(self, elems[i])
                    if end == length:
                        self.large_n -= 2
                        queue_free(self, x, hdr)
                    else:
                        self.large[self.large_n - 1] = end
            finished = True
        finally:
            if not finished:
                park_unfinished(self)
            # Blocks already queued are finished either way.
            self.flush_frees()
            self.in_cascade = False
            # Payload releases below run Python code, whose drops stay eager.
            self.lazy_children = False
            if not finished:
                # The heap is consistent again: the payloads queued so far can go.
                release_queued_payloads(self)
        # Inside a sweep the payloads wait for the end of the walk: releasing one runs
        # arbitrary code, which must find the OASR list consistent.
        # So does a block being reused: it is not an object until its header is written.
        release_queued_payloads(self)
        return 0

    cdef int zeal_check_free_list(self) except -1 nogil:
        """The full free-list walk (zeal runs it every 4096 allocations and cascades)."""
        cdef size_t where = 0
        cdef int rule = fl_check(&self.fl, &where)
        if rule:
            with gil:
                raise HeapCorruptionError(
                    f"offset {where * GRANULE}: free list: {_FL_RULES[rule]}")
        return 0

    cdef int flush_frees(self) except -1 nogil:
        """Finish the batch of blocks queue_free marked free (coalescing, candidates)."""
        cdef size_t i, n = self.free_n // 2
        cdef size_t nbytes = 0
        for i in range(n):
            nbytes += self.to_free[2 * i + 1]
        fl_finish_batch(&self.fl, self.to_free, n, self.batch_lo, self.batch_hi)
        if GC_ZEAL and (n > 64 or (self.objects_freed & 4095) == 0):
            self.zeal_check_free_list()
        self.objects_freed += n
        self.bytes_freed += nbytes << GRANULE_SHIFT
        self.free_n = 0
        self.batch_lo = <size_t>-1
        self.batch_hi = 0
        return 0

    cdef int release_host_data(self) except -1:
        self.callbacks += 1
        try:
            self.release_queued_ids()
        finally:
            self.callbacks -= 1
        return 0

    cdef int release_queued_ids(self) except -1:
        cdef uint32_t hid
        while self.n_release:
            self.n_release -= 1
            hid = self.release_ids[self.n_release]
            # The table may have been emptied by Python's cycle collector (it clears lists
            # in a garbage cycle through a payload before dropping the handles).
            if self.base == NULL or hid >= <size_t>len(self.host_data):
                continue
            payload = self.host_data[hid]
            self.host_data[hid] = _FREE_ID
            self.host_free_ids.append(hid)
            self.host_data_released += 1
            # Dropping the payload may run arbitrary code, including code that drops more
            # handles of this heap; the cascade buffers are idle by now.
            payload = None
        return 0

    # ---- barriered ref fields --------------------------------------------------------

    cdef int check_ref_slot(self, gcref_t obj, uint32_t offset) except -1 nogil:
        """Zeal: `offset` must be a ref slot of `obj`."""
        cdef ObjectHeader* hdr
        cdef const TypeInfo* ti
        cdef uint32_t i
        self.check_object(obj, KIND_EQ)
        hdr = hdr_of(self, obj)
        ti = self.types[hdr.type_index]
        if (hdr.kind_bits & KIND_MASK) == KIND_STRUCT:
            for i in range(ti.nfields):
                if ti.fields[i].offset == offset and ti.fields[i].storage == STORAGE_REF:
                    return 0
        elif (ti.fields[0].storage == STORAGE_REF and offset >= ti.size
              and offset + 4 <= hdr.object_size and (offset - ti.size) % 4 == 0):
            return 0
        with gil:
            raise IndexError(f"offset {offset} is not a ref field of the object at {obj}")

    cdef gcref_t read_ref(self, gcref_t obj, uint32_t offset) except? 0 nogil:
        cdef gcref_t r
        if GC_ZEAL:
            self.check_ref_slot(obj, offset)
        r = (<uint32_t*>(self.base + obj + offset))[0]
        if ref_is_object(r):
            if GC_ZEAL:
                self.check_object(r, 0)
            hdr_of(self, r).ref_count += 1
            self.ext_add(r, 1)
        return r

    cdef int write_ref(self, gcref_t obj, uint32_t offset, gcref_t value) except -1 nogil:
        if GC_ZEAL:
            self.check_ref_slot(obj, offset)
            if ref_is_object(value):
                self.check_object(value, 0)
        # The C-level barrier: the old value may become pending, as with store_ref.
        return release_child(self, swap_slot(self, <uint32_t*>(self.base + obj + offset), value))

    # ---- OASR and validation ---------------------------------------------------------

    cdef gcref_t expose_raw(self, gcref_t r) except? 0 nogil:
        """Hand one owned count on r to the OASR list: link r if it is not
        in the list; otherwise drop the count, since the list holds exactly one."""
        cdef ObjectHeader* hdr
        if not ref_is_object(r):
            return r
        if GC_ZEAL:
            self.check_object(r, 0)
            if self.ext_counts[r >> GRANULE_SHIFT] == 0:
                with gil:
                    raise HeapCorruptionError(
                        f"offset {r}: expose of a count nobody outside the heap holds")
            self.ext_add(r, -1)
        hdr = hdr_of(self, r)
        if hdr.kind_bits & IN_OASR_BIT:
            if GC_ZEAL and hdr.ref_count < 2:
                with gil:
                    raise HeapCorruptionError(f"offset {r}: in the OASR list with count "
                                              f"{hdr.ref_count}")
            hdr.ref_count -= 1
        else:
            hdr.kind_bits |= IN_OASR_BIT
            hdr.next_oasr = self.oasr_head
            self.oasr_head = r
            self.oasr_len += 1
            # As in Wasmtime: a list this long makes a collection due at the next safepoint.
            if self.oasr_len >= self.oasr_trigger:
                self.gc_due = True
        if self.marking:
            # Handed to the guest between a trace and its sweep: the guest holds it now.
            hdr.kind_bits |= MARK_BIT
        return r

    cdef bint is_object(self, gcref_t r) noexcept nogil:
        # A pending object keeps its start bit but has ref_count 0: it is not live.
        return (r != 0 and (r & (GRANULE - 1)) == 0 and r < self.capacity
                and bit_get(self.fl.start_bits, r >> GRANULE_SHIFT)
                and hdr_of(self, r).ref_count != 0)

    cdef int check_object(self, gcref_t r, uint32_t kind) except -1 nogil:
        if self.is_object(r) and (
                kind == 0 or kind_matches(hdr_of(self, r).kind_bits & KIND_MASK, kind)):
            return 0
        with gil:
            return self.check_object_slow(r, kind)

    cdef int check_object_slow(self, gcref_t r, uint32_t kind) except -1:
        if r == 0:
            raise InvalidRefError("null ref where an object is needed")
        if r & I31_TAG:
            raise InvalidRefError(f"ref {r:#x} is an i31, not a heap object")
        if not self.is_object(r):
            raise InvalidRefError(f"ref {r:#x} is not a live object of this heap")
        if kind and not kind_matches(hdr_of(self, r).kind_bits & KIND_MASK, kind):
            raise InvalidRefError(f"ref {r:#x} is a "
                                  f"{kind_name(hdr_of(self, r).kind_bits & KIND_MASK)}"
                                  f", not a {kind_name(kind)}")
        return 0

    # ---- Python values <-> refs ------------------------------------------------------

    cdef gcref_t ref_value(self, object v, str what) except? 0xFFFFFFFF:
        """The raw ref for a Python ref value (GcRef of this heap, I31, or None)."""
        cdef GcRef g
        if v is None:
            return REF_NULL
        if type(v) is GcRef:
            g = <GcRef>v
            if g.heap is not self:
                if g.heap is None:
                    raise InvalidRefError(f"{what}: {v!r} was released")
                raise InvalidRefError(f"{what}: {v!r} belongs to another heap")
            if GC_ZEAL:
                self.check_object(g.raw, 0)
            return g.raw
        if type(v) is I31:
            return i31_new((<I31>v).value)
        raise TypeError(f"{what}: expected GcRef, I31 or None, got {type(v).__name__} {v!r}")

    cdef object ref_out(self, gcref_t r):
        """The Python form of a raw ref; an object gets a new handle with its own count."""
        cdef I31 v
        if r == REF_NULL:
            return None
        if r & I31_TAG:
            v = I31.__new__(I31)
            v.value = i31_get_s(r)
            return v
        hdr_of(self, r).ref_count += 1
        self.ext_add(r, 1)
        return self.wrap(r)

    cdef GcRef wrap(self, gcref_t r):
        """A handle taking over an already-owned count (a recycled one when there is one:
        "GcRef lifecycle" below)."""
        global gcref_nfree
        cdef GcRef g
        cdef PyObject* o
        if gcref_nfree:
            gcref_nfree -= 1
            o = gcref_free[gcref_nfree]
            PyObject_Init(o, o.ob_type)             # reference count 1, which g takes over
            g = <GcRef>o
            Py_DECREF(g)
            g.heap = self
            g.raw = r
            PyObject_GC_Track(o)
            return g
        g = GcRef.__new__(GcRef)
        g.heap = self
        g.raw = r
        return g

    cdef gcref_t object_arg(self, object ref, uint32_t kind, str what) except 0:
        """The raw ref of a GcRef argument that must be a live object of `kind`: the common
        case inline, everything else (and every zeal check) in object_arg_checked."""
        cdef gcref_t r
        if (not GC_ZEAL and type(ref) is GcRef and (<GcRef>ref).heap is self
                and self.base != NULL):
            r = (<GcRef>ref).raw
            if kind == 0 or kind_matches(hdr_of(self, r).kind_bits & KIND_MASK, kind):
                return r
        return self.object_arg_checked(ref, kind, what)

    cdef gcref_t object_arg_checked(self, object ref, uint32_t kind, str what) except 0:
        cdef GcRef g
        cdef uint32_t k
        if type(ref) is not GcRef:
            if ref is None:
                raise InvalidRefError(f"{what}: null ref where a {kind_name(kind)} is needed")
            if type(ref) is I31:
                raise InvalidRefError(f"{what}: {ref!r} is an i31, not a {kind_name(kind)}")
            raise TypeError(f"{what}: expected a GcRef, got {type(ref).__name__} {ref!r}")
        g = <GcRef>ref
        if g.heap is not self:
            self.check_open()
            if g.heap is None:
                raise InvalidRefError(f"{what}: {ref!r} was released")
            raise InvalidRefError(f"{what}: {ref!r} belongs to another heap")
        if self.base == NULL:
            self.check_open()
        if GC_ZEAL:
            self.check_object(g.raw, 0)
        k = hdr_of(self, g.raw).kind_bits & KIND_MASK
        if kind and not kind_matches(k, kind):
            raise InvalidRefError(f"{what}: {ref!r} is a {kind_name(k)}, not a {kind_name(kind)}")
        return g.raw

    cdef bint heap_type_matches(self, gcref_t r, uint32_t heap) noexcept nogil:
        """Does the object at r (not null) belong to heap type `heap`?"""
        cdef uint32_t kind, t
        # extern and any share one representation (as in Wasmtime): extern.convert_any and
        # any.convert_extern are identities, so every ref is an extern and a host ref is an
        # any, but only GC objects and i31s are eq.
        if heap == HEAP_EXTERN:
            return True
        if r & I31_TAG:
            return heap == HEAP_ANY or heap == HEAP_EQ or heap == HEAP_I31
        kind = hdr_of(self, r).kind_bits & KIND_MASK
        if kind == KIND_EXTERN:
            return heap == HEAP_ANY
        if heap == HEAP_ANY or heap == HEAP_EQ:
            return kind == KIND_STRUCT or kind == KIND_ARRAY
        if heap == HEAP_STRUCT:
            return kind == KIND_STRUCT
        if heap == HEAP_ARRAY:
            return kind == KIND_ARRAY
        if heap >= HEAP_ABSTRACT_BASE:
            return False
        t = hdr_of(self, r).type_index
        return t == heap or self.registry.c_is_subtype(t, heap)

    cdef bint ref_matches(self, gcref_t r, uint32_t heap, bint nullable) noexcept nogil:
        if r == REF_NULL:
            return nullable
        return self.heap_type_matches(r, heap)

    cdef const TypeInfo* type_arg(self, object type_index, int kind, str what) except NULL:
        cdef const TypeInfo* ti
        cdef int64_t t = c_int(type_index, what, "type index")
        if t < 0 or t >= MAX_TYPE_INDEX:
            raise OverflowError(f"{what}: type index {type_index!r} is out of range")
        self.check_open()
        # Look only: the heap takes its hold on the type when an object is actually made, so
        # a rejected call leaves no trace.
        if <uint64_t>t < self.ntypes and self.types[<uint32_t>t] != NULL:
            ti = self.types[<uint32_t>t]
            if ti.kind == kind:
                return ti
        else:
            ti = self.registry.type_info(<uint32_t>t)
            if ti == NULL:
                raise UnknownTypeError(f"{what}: type index {type_index} is not registered")
            if ti.kind == COMPOSITE_FUNC:
                raise TypeError(f"{what}: type {type_index} is a func type; it has no heap "
                                "objects")
        if ti.kind != kind:
            raise TypeError(f"{what}: type {type_index} is "
                            f"{'a struct' if ti.kind == COMPOSITE_STRUCT else 'an array'} type, "
                            f"not {'a struct' if kind == COMPOSITE_STRUCT else 'an array'} type")
        return ti

    # ==== Python API: structs =========================================================
    # The per-object accessors below are plain method descriptors (binding=False), not
    # Cython function objects: CPython's specializing interpreter calls a bound builtin
    # method straight through its C entry point, while a bound Cython function goes through
    # the generic method-object call (about a third of the cost of a call that does little).
    # Their signatures stay in the docstrings (embedsignature) and the stubs.

    @cython.binding(False)
    def struct_new(self, type_index, values):
        """Allocate a struct of `type_index` with one value per field (converted and checked
        as by struct_set). Returns a new GcRef owning the object's first count."""
        cdef const TypeInfo* ti = self.type_arg(type_index, COMPOSITE_STRUCT, "struct_new")
        cdef uint8_t stage_small[MAX_STAGED_FIELDS * 16]
        cdef uint8_t* stage = stage_small
        cdef uint32_t i, n = ti.nfields
        cdef gcref_t r
        cdef const FieldInfo* f
        cdef tuple vals = values if type(values) is tuple else tuple(values)
        if <size_t>len(vals) != n:
            raise TypeError(f"struct_new: struct type {type_index} has {n} fields, "
                            f"got {len(vals)} values")
        if n > MAX_STAGED_FIELDS:
            stage = <uint8_t*>malloc(n * 16)
            if stage == NULL:
                raise MemoryError()
        try:
            for i in range(n):
                convert_value(self, &ti.fields[i], vals[i], stage + i * 16, "struct_new")
            if ti.index >= self.ntypes or self.types[ti.index] == NULL:
                self.type_record(ti.index)
            r = self.alloc_object(ti.size, KIND_STRUCT, ti.index)
            for i in range(n):
                f = &ti.fields[i]
                if f.is_gc_ref:
                    slot_inc(self, (<uint32_t*>(stage + i * 16))[0])
                copy_value(<uint8_t*>self.base + r + f.offset, stage + i * 16, f.size)
        finally:
            if stage != stage_small:
                c_free(stage)
        return self.wrap(r)

    cdef const FieldInfo* field_arg(self, gcref_t r, object field, str what) except NULL:
        cdef const TypeInfo* ti = self.types[hdr_of(self, r).type_index]
        cdef int64_t i = c_int(field, what, "field index")
        if i < 0 or i >= ti.nfields:
            field_out_of_range(field, ti, what)
        return &ti.fields[<uint32_t>i]

    @cython.binding(False)
    def struct_get(self, ref, field, *, bint signed=False):
        """Read a field. Packed (i8/i16) fields read unsigned unless `signed`; i32 and i64
        read signed; refs come back as a new GcRef, an I31 or None."""
        cdef gcref_t r = self.object_arg(ref, KIND_STRUCT, "struct_get")
        cdef const FieldInfo* f = self.field_arg(r, field, "struct_get")
        if f.is_gc_ref:                 # the common ref case without load_value's dispatch
            return self.ref_out((<uint32_t*>(self.base + r + f.offset))[0])
        return load_value(self, <uint8_t*>(self.base + r + f.offset), f, signed)

    @cython.binding(False)
    def struct_set(self, ref, field, value):
        """Write a mutable field: ints wrap to packed widths, floats round to f32, refs are
        checked against the field's declared type (TypeError when they do not match)."""
        cdef gcref_t r = self.object_arg(ref, KIND_STRUCT, "struct_set")
        cdef const FieldInfo* f = self.field_arg(r, field, "struct_set")
        cdef uint8_t staged[16]
        if not f.mutable:
            raise TypeError(f"struct_set: field {field} of struct type "
                            f"{hdr_of(self, r).type_index} is immutable")
        convert_value(self, f, value, staged, "struct_set")
        store_staged(self, <uint8_t*>(self.base + r + f.offset), f, staged)

    # ==== Python API: arrays ==========================================================

    cdef uint32_t length_arg(self, object n, str what, str name) except? 0xFFFFFFFF:
        cdef int64_t v = c_int(n, what, name)
        if v < 0 or v > 0xFFFFFFFF:
            raise OverflowError(f"{what}: {name} {n!r} is out of range [0, 2**32)")
        return <uint32_t>v

    cdef int fill_elems(self, gcref_t arr, const FieldInfo* f, uint32_t start, uint32_t count,
                        const uint8_t* value) except -1 nogil:
        """Write `count` copies of a converted value from element `start` on (barriered)."""
        cdef const TypeInfo* ti = self.types[hdr_of(self, arr).type_index]
        cdef uint8_t* p = <uint8_t*>(self.base + arr + ti.size) + <size_t>start * f.size
        cdef uint32_t i
        if f.is_gc_ref:
            for i in range(count):
                store_staged(self, p + <size_t>i * 4, f, value)
            return 0
        if f.size == 1:
            memset(p, value[0], count)
            return 0
        for i in range(count):
            copy_value(p + <size_t>i * f.size, value, f.size)
        return 0

    @cython.binding(False)
    def array_new(self, type_index, length, value=None):
        """Allocate an array of `length` elements, each `value` (default: the element
        type's zero: 0, 0.0, 16 zero bytes, or null)."""
        cdef const TypeInfo* ti = self.type_arg(type_index, COMPOSITE_ARRAY, "array_new")
        cdef uint32_t n = self.length_arg(length, "array_new", "length")
        cdef const FieldInfo* f = &ti.fields[0]
        cdef uint8_t staged[16]
        cdef gcref_t r
        memset(staged, 0, 16)
        if value is None:
            if f.storage == STORAGE_REF and n and not f.ref_nullable:
                raise TypeError(f"array_new: elements of array type {type_index} are "
                                "non-nullable refs; pass a value")
        else:
            convert_value(self, f, value, staged, "array_new")
        r = self.alloc_array(type_index, n)
        if value is not None and n:
            self.fill_elems(r, f, 0, n, staged)
        return self.wrap(r)

    @cython.binding(False)
    def array_new_fixed(self, type_index, values):
        """Allocate an array holding `values`, converted and checked per element."""
        cdef const TypeInfo* ti = self.type_arg(type_index, COMPOSITE_ARRAY, "array_new_fixed")
        cdef const FieldInfo* f = &ti.fields[0]
        cdef tuple vals = values if type(values) is tuple else tuple(values)
        cdef Py_ssize_t n = len(vals)
        cdef Py_ssize_t i
        cdef uint8_t* stage
        cdef gcref_t r
        if n > 0xFFFFFFFF:
            raise OverflowError(f"array_new_fixed: {n} values are too many")
        stage = <uint8_t*>malloc(n * f.size + 16)
        if stage == NULL:
            raise MemoryError()
        try:
            for i in range(n):
                convert_value(self, f, vals[i], stage + i * f.size, "array_new_fixed")
            r = self.alloc_array(type_index, <uint32_t>n)
            memcpy(self.base + r + ti.size, stage, n * f.size)
            if f.is_gc_ref:
                for i in range(n):
                    slot_inc(self, (<uint32_t*>stage)[i])
        finally:
            c_free(stage)
        return self.wrap(r)

    @cython.binding(False)
    def array_len(self, arr):
        cdef gcref_t r = self.object_arg(arr, KIND_ARRAY, "array_len")
        return (<ArrayHeader*>(self.base + r)).length

    cdef uint32_t index_arg(self, gcref_t r, object index, str what) except? 0xFFFFFFFF:
        cdef uint32_t length = (<ArrayHeader*>(self.base + r)).length
        cdef int64_t i = c_int(index, what, "index")
        if i < 0 or i >= length:
            index_out_of_range(index, length, what)
        return <uint32_t>i

    cdef uint32_t range_arg(self, gcref_t r, object start, object count,
                            str what) except? 0xFFFFFFFF:
        cdef uint32_t length = (<ArrayHeader*>(self.base + r)).length
        cdef int64_t s = c_int(start, what, "start")
        cdef int64_t n = c_int(count, what, "count")
        if s < 0 or n < 0 or s > length or n > length - s:
            raise IndexError(f"{what}: range [{start!r}, {start!r} + {count!r}) is out of "
                             f"bounds for an array of length {length}")
        return <uint32_t>s

    cdef const FieldInfo* elem_info(self, gcref_t r) noexcept:
        return &self.types[hdr_of(self, r).type_index].fields[0]

    @cython.binding(False)
    def array_get(self, arr, index, *, bint signed=False):
        """Read element `index` (packed elements unsigned unless `signed`)."""
        cdef gcref_t r = self.object_arg(arr, KIND_ARRAY, "array_get")
        cdef uint32_t i = self.index_arg(r, index, "array_get")
        cdef const FieldInfo* f = self.elem_info(r)
        cdef const TypeInfo* ti = self.types[hdr_of(self, r).type_index]
        cdef uint8_t* p = <uint8_t*>(self.base + r + ti.size) + <size_t>i * f.size
        if f.is_gc_ref:
            return self.ref_out((<uint32_t*>p)[0])
        return load_value(self, p, f, signed)

    cdef int check_mutable_array(self, gcref_t r, str what) except -1:
        if not self.elem_info(r).mutable:
            raise TypeError(f"{what}: array type {hdr_of(self, r).type_index} is immutable")
        return 0

    @cython.binding(False)
    def array_set(self, arr, index, value):
        cdef gcref_t r = self.object_arg(arr, KIND_ARRAY, "array_set")
        cdef uint32_t i = self.index_arg(r, index, "array_set")
        cdef const TypeInfo* ti = self.types[hdr_of(self, r).type_index]
        cdef const FieldInfo* f = &ti.fields[0]
        cdef uint8_t staged[16]
        self.check_mutable_array(r, "array_set")
        convert_value(self, f, value, staged, "array_set")
        store_staged(self, <uint8_t*>(self.base + r + ti.size) + <size_t>i * f.size, f, staged)

    @cython.binding(False)
    def array_fill(self, arr, start, value, count):
        """Set elements [start, start + count) to `value`."""
        cdef gcref_t r = self.object_arg(arr, KIND_ARRAY, "array_fill")
        cdef uint32_t s = self.range_arg(r, start, count, "array_fill")
        cdef const FieldInfo* f = self.elem_info(r)
        cdef uint8_t staged[16]
        self.check_mutable_array(r, "array_fill")
        convert_value(self, f, value, staged, "array_fill")
        self.fill_elems(r, f, s, <uint32_t>count, staged)

    @cython.binding(False)
    def array_copy(self, dst, dst_start, src, src_start, count):
        """Copy src[src_start:src_start + count] to dst[dst_start:...]; overlapping ranges
        of one array copy as if through a temporary. The source element type must be a
        subtype of the destination's (same storage; refs by subtyping)."""
        cdef gcref_t d = self.object_arg(dst, KIND_ARRAY, "array_copy")
        cdef gcref_t s = self.object_arg(src, KIND_ARRAY, "array_copy")
        cdef uint32_t ds = self.range_arg(d, dst_start, count, "array_copy (destination)")
        cdef uint32_t ss = self.range_arg(s, src_start, count, "array_copy (source)")
        cdef uint32_t n = <uint32_t>count
        cdef const FieldInfo* df = self.elem_info(d)
        cdef const FieldInfo* sf = self.elem_info(s)
        cdef uint8_t* dp
        cdef uint8_t* sp
        cdef uint32_t i
        self.check_mutable_array(d, "array_copy")
        if df.storage != sf.storage or (df.storage == STORAGE_REF and not self.ref_type_sub(
                sf.ref_heap, sf.ref_nullable, df.ref_heap, df.ref_nullable)):
            raise TypeError(f"array_copy: elements of array type {hdr_of(self, s).type_index} "
                            f"cannot be stored in array type {hdr_of(self, d).type_index}")
        dp = <uint8_t*>(self.base + d + self.types[hdr_of(self, d).type_index].size)
        sp = <uint8_t*>(self.base + s + self.types[hdr_of(self, s).type_index].size)
        dp += <size_t>ds * df.size
        sp += <size_t>ss * df.size
        if not df.is_gc_ref:
            memmove(dp, sp, <size_t>n * df.size)
            return
        # Element by element through the barrier, in the direction that reads each source
        # slot before it is overwritten.
        if dp <= sp:
            for i in range(n):
                store_staged(self, dp + 4 * i, df, sp + 4 * i)
        else:
            i = n
            while i:
                i -= 1
                store_staged(self, dp + 4 * i, df, sp + 4 * i)

    # ==== Bulk array initialization (array.new_data/init_data/new_elem/init_elem) =====

    cdef int check_array_range(self, gcref_t arr, uint32_t dst, uint32_t n,
                               bint refs) except -1 nogil:
        """Zeal: `arr` is an array of scalar (refs=0) or ref (refs=1) elements and
        [dst, dst + n) is within it."""
        cdef const TypeInfo* ti
        cdef uint32_t length
        self.check_object(arr, KIND_ARRAY)
        ti = self.types[hdr_of(self, arr).type_index]
        if (ti.fields[0].storage == STORAGE_REF) != refs:
            with gil:
                raise TypeError(f"array type {ti.index} has "
                                f"{'ref' if ti.fields[0].storage == STORAGE_REF else 'scalar'} "
                                f"elements; array_init_{'refs' if refs else 'bytes'} needs "
                                f"{'ref' if refs else 'scalar'} elements")
        length = (<ArrayHeader*>(self.base + arr)).length
        if <uint64_t>dst + n > length:
            with gil:
                raise IndexError(f"elements [{dst}, {<uint64_t>dst + n}) are out of bounds for "
                                 f"an array of length {length}")
        return 0

    cdef int array_init_bytes(self, gcref_t arr, uint32_t dst, const uint8_t* src,
                              uint32_t n) except -1 nogil:
        cdef const TypeInfo* ti
        cdef uint8_t* p
        cdef size_t size, i, b
        if GC_ZEAL:
            self.check_array_range(arr, dst, n, False)
        ti = self.types[hdr_of(self, arr).type_index]
        size = ti.elem_size
        p = <uint8_t*>(self.base + arr + ti.size) + <size_t>dst * size
        if host_is_little_endian() or size == 1 or ti.fields[0].storage == STORAGE_V128:
            memcpy(p, src, <size_t>n * size)
        else:
            for i in range(n):
                for b in range(size):
                    p[i * size + b] = src[i * size + size - 1 - b]
        return 0

    cdef int array_init_refs(self, gcref_t arr, uint32_t dst, const uint32_t* src,
                             uint32_t n) except -1 nogil:
        cdef const TypeInfo* ti
        cdef const FieldInfo* f
        cdef uint32_t* slots
        cdef uint32_t i
        if GC_ZEAL:
            self.check_array_range(arr, dst, n, True)
        ti = self.types[hdr_of(self, arr).type_index]
        f = &ti.fields[0]
        if GC_ZEAL:
            for i in range(n):
                if field_is_funcref(f):
                    self.check_funcref(src[i], True)
                    if not self.funcref_matches(src[i], f.ref_heap, f.ref_nullable):
                        with gil:
                            raise TypeError(f"array_init_refs: funcref {src[i]:#x} does not "
                                            f"fit elements of array type {ti.index}")
                else:
                    if ref_is_object(src[i]):
                        self.check_object(src[i], 0)
                    if not self.ref_matches(src[i], f.ref_heap, f.ref_nullable):
                        with gil:
                            raise TypeError(f"array_init_refs: ref {src[i]:#x} does not fit "
                                            f"elements of array type {ti.index}")
        slots = <uint32_t*>(self.base + arr + ti.size) + dst
        if not f.is_gc_ref:
            memcpy(slots, src, <size_t>n * 4)
            return 0
        # The C-level barrier, element by element: old elements may become pending, as with
        # store_ref.
        for i in range(n):
            release_child(self, swap_slot(self, &slots[i], src[i]))
        return 0

    def array_new_data(self, type_index, data, offset, length):
        """``array.new_data``: an array of `length` elements of a numeric or v128 array
        type, read little-endian from `data` (any bytes-like object) starting at byte
        `offset` (packed i8/i16 elements take 1/2 bytes each). IndexError when
        ``offset + length * element size`` exceeds ``len(data)`` (Wasm traps there)."""
        cdef const TypeInfo* ti = self.type_arg(type_index, COMPOSITE_ARRAY, "array_new_data")
        cdef uint32_t off = self.length_arg(offset, "array_new_data", "offset")
        cdef uint32_t n = self.length_arg(length, "array_new_data", "length")
        cdef const uint8_t[::1] buf
        cdef gcref_t r
        if ti.fields[0].storage == STORAGE_REF:
            raise TypeError(f"array_new_data: array type {ti.index} has ref elements; data "
                            "segments hold numbers")
        buf = bytes_arg(data, "array_new_data")
        if <uint64_t>off + <uint64_t>n * ti.elem_size > <uint64_t>buf.shape[0]:
            raise IndexError(f"array_new_data: bytes [{off}, {off + n * ti.elem_size}) are out "
                             f"of bounds for data of {buf.shape[0]} bytes")
        r = self.alloc_array(ti.index, n)
        if n:
            self.array_init_bytes(r, 0, &buf[off], n)
        return self.wrap(r)

    def array_init_data(self, arr, dst, data, offset, length):
        """``array.init_data``: overwrite elements [dst, dst + length) of a mutable numeric
        or v128 array with `length` elements read little-endian from `data` at byte
        `offset`. IndexError (nothing written) when either range is out of bounds."""
        cdef gcref_t r = self.object_arg(arr, KIND_ARRAY, "array_init_data")
        cdef const FieldInfo* f = self.elem_info(r)
        cdef uint32_t d = self.length_arg(dst, "array_init_data", "dst")
        cdef uint32_t off = self.length_arg(offset, "array_init_data", "offset")
        cdef uint32_t n = self.length_arg(length, "array_init_data", "length")
        cdef uint32_t alen = (<ArrayHeader*>(self.base + r)).length
        cdef const uint8_t[::1] buf
        if f.storage == STORAGE_REF:
            raise TypeError(f"array_init_data: array type {hdr_of(self, r).type_index} has ref "
                            "elements; data segments hold numbers")
        self.check_mutable_array(r, "array_init_data")
        buf = bytes_arg(data, "array_init_data")
        if <uint64_t>d + n > alen:
            raise IndexError(f"array_init_data: elements [{d}, {<uint64_t>d + n}) are out of "
                             f"bounds for an array of length {alen}")
        if <uint64_t>off + <uint64_t>n * f.size > <uint64_t>buf.shape[0]:
            raise IndexError(f"array_init_data: bytes [{off}, {off + n * f.size}) are out of "
                             f"bounds for data of {buf.shape[0]} bytes")
        if n:
            self.array_init_bytes(r, d, &buf[off], n)

    cdef bint ref_type_sub(self, uint32_t a, bint an, uint32_t b, bint bn) noexcept:
        """Is (ref an? a) a subtype of (ref bn? b)?"""
        cdef uint32_t top_a, top_b
        if an and not bn:
            return False
        if a == b:
            return True
        if a < HEAP_ABSTRACT_BASE and b < HEAP_ABSTRACT_BASE:
            return self.registry.c_is_subtype(a, b)
        top_a = self.heap_top(a)
        top_b = self.heap_top(b)
        if top_a != top_b:
            return False
        if a == HEAP_NONE or a == HEAP_NOEXTERN or a == HEAP_NOFUNC or a == HEAP_NOEXN:
            return True
        if b == HEAP_ANY or b == HEAP_EXTERN or b == HEAP_FUNC or b == HEAP_EXN:
            return True
        if b == HEAP_EQ:
            return a in (HEAP_I31, HEAP_STRUCT, HEAP_ARRAY) or a < HEAP_ABSTRACT_BASE
        if b == HEAP_STRUCT or b == HEAP_ARRAY:
            return (a < HEAP_ABSTRACT_BASE and self.registry.type_info(a) != NULL
                    and self.registry.type_info(a).kind
                    == (COMPOSITE_STRUCT if b == HEAP_STRUCT else COMPOSITE_ARRAY))
        return False

    cdef uint32_t heap_top(self, uint32_t h) noexcept:
        cdef const TypeInfo* ti
        if h < HEAP_ABSTRACT_BASE:
            ti = self.registry.type_info(h)
            if ti != NULL and ti.kind == COMPOSITE_FUNC:
                return HEAP_FUNC
            return HEAP_ANY
        if h == HEAP_EXTERN or h == HEAP_NOEXTERN:
            return HEAP_EXTERN
        if h == HEAP_FUNC or h == HEAP_NOFUNC:
            return HEAP_FUNC
        if h == HEAP_EXN or h == HEAP_NOEXN:
            return HEAP_EXN
        return HEAP_ANY

    # ==== Function references (funcref.pxi has the table) ============================

    cdef uint32_t funcref_intern(self, uint32_t type_index, uintptr_t target) except 0:
        return fn_intern(self, type_index, (type_index, False, target), target, False)

    cdef uint32_t funcref_intern_object(self, uint32_t type_index, object target) except 0:
        cdef uintptr_t p = <uintptr_t><PyObject*>target
        return fn_intern(self, type_index, (type_index, True, p), p, True)

    cdef int funcref_pin(self, uint32_t id) except -1 nogil:
        cdef FuncEntry* e
        if GC_ZEAL:
            self.check_funcref(id, False)
        e = &self.fn[id & FUNCREF_INDEX_MASK]
        if e.pins == PINS_MAX:
            with gil:
                raise OverflowError(f"funcref {id:#x}: too many pins")
        e.pins += 1
        return 0

    cdef int funcref_unpin(self, uint32_t id) except -1 nogil:
        cdef FuncEntry* e
        if GC_ZEAL:
            self.check_funcref(id, False)
        e = &self.fn[id & FUNCREF_INDEX_MASK]
        if e.pins == 0:
            with gil:
                raise InvalidRefError(f"funcref {id:#x}: unpinned more often than pinned")
        e.pins -= 1
        return 0

    cdef bint funcref_valid(self, uint32_t id) noexcept nogil:
        return fn_valid(self, id)

    cdef int check_funcref(self, uint32_t id, bint null_ok) except -1 nogil:
        if fn_valid(self, id) or (null_ok and id == 0):
            return 0
        with gil:
            raise InvalidRefError(fn_invalid_reason(self, id))

    cdef bint funcref_matches(self, uint32_t id, uint32_t heap, bint nullable) noexcept nogil:
        if id == 0:
            return nullable
        if heap == HEAP_FUNC:
            return True
        if heap >= HEAP_ABSTRACT_BASE:
            return False                # nofunc holds only null; other hierarchies none
        return funcref_type_fits(self, id, heap)

    cdef const FieldInfo* funcref_slot(self, gcref_t obj, uint32_t offset) except NULL nogil:
        """The field record of funcref slot `offset` of `obj` (IndexError if it is not one)."""
        cdef ObjectHeader* hdr
        cdef const TypeInfo* ti
        cdef uint32_t i
        self.check_object(obj, KIND_EQ)
        hdr = hdr_of(self, obj)
        ti = self.types[hdr.type_index]
        if (hdr.kind_bits & KIND_MASK) == KIND_STRUCT:
            for i in range(ti.nfields):
                if ti.fields[i].offset == offset and field_is_funcref(&ti.fields[i]):
                    return &ti.fields[i]
        elif (field_is_funcref(&ti.fields[0]) and offset >= ti.size
              and offset + 4 <= hdr.object_size and (offset - ti.size) % 4 == 0):
            return &ti.fields[0]
        with gil:
            raise IndexError(f"offset {offset} is not a funcref field of the object at {obj}")

    cdef uint32_t read_funcref(self, gcref_t obj, uint32_t offset) except? 0xFFFFFFFF nogil:
        cdef uint32_t id
        self.funcref_slot(obj, offset)
        id = (<uint32_t*>(self.base + obj + offset))[0]
        if id != 0 and not fn_valid(self, id):
            with gil:
                raise HeapCorruptionError(f"offset {obj + offset}: funcref field holds an "
                                          f"invalid id: {fn_invalid_reason(self, id)}")
        return id

    cdef int write_funcref(self, gcref_t obj, uint32_t offset, uint32_t id) except -1 nogil:
        cdef const FieldInfo* f = self.funcref_slot(obj, offset)
        self.check_funcref(id, True)
        if not self.funcref_matches(id, f.ref_heap, f.ref_nullable):
            with gil:
                raise TypeError(f"funcref {id:#x} of type ${funcref_type(self, id)} does not fit "
                                f"the field's type "
                                f"{heap_type_repr(f.ref_heap, f.ref_nullable)}")
        (<uint32_t*>(self.base + obj + offset))[0] = id
        return 0

    cdef Py_ssize_t funcref_reclaim(self) except -1 nogil:
        return fn_reclaim(self)

    def funcref_new(self, type_index, target):
        """A FuncRef for (type_index, target): `type_index` is a registered func type,
        `target` any Python object (the embedder's function; compared by identity). The same
        pair always gives the same entry, so the handles compare equal. Raises TypeError /
        UnknownTypeError for a type that is not a registered func type."""
        cdef int64_t t = c_int(type_index, "funcref_new", "type index")
        cdef FuncRef f
        if t < 0 or t >= MAX_TYPE_INDEX:
            raise OverflowError(f"funcref_new: type index {type_index!r} is out of range")
        self.check_open()
        try:
            fid = self.funcref_intern_object(<uint32_t>t, target)
        except (TypeError, UnknownTypeError) as e:
            raise type(e)(f"funcref_new: {e}") from None
        f = make_funcref()
        f.heap = self
        f.raw = fid
        return f

    def reclaim_funcrefs(self):
        """Free now every function-table entry that no FuncRef handle, C-level pin or live
        object's field holds (collections also do this, once the table has doubled since the
        last time). Returns the number of entries freed. Costs one walk over the live objects
        when the table is not empty."""
        self.check_open()
        return self.funcref_reclaim()

    # ==== Python API: extern/any conversion ==========================================

    cdef object convert_arg(self, object ref, str what):
        cdef GcRef g
        if ref is None or type(ref) is I31:
            self.check_open()
            return ref
        if type(ref) is GcRef:
            self.object_arg(ref, 0, what)
            g = <GcRef>ref
            return g.clone()
        raise TypeError(f"{what}: expected a GcRef, I31 or None, got {type(ref).__name__} "
                        f"{ref!r}")

    def extern_convert_any(self, ref):
        """``extern.convert_any``: the same value seen as an externref. extern and any share
        one representation, so this is the identity: null stays null, a GcRef comes back as
        a new, equal handle, an I31 as itself."""
        return self.convert_arg(ref, "extern_convert_any")

    def any_convert_extern(self, ref):
        """``any.convert_extern``: the same value seen as an anyref (the identity, as for
        extern_convert_any). A host externref converted to any tests as ``any`` but not as
        ``eq``; an externalized struct converts back to itself."""
        return self.convert_arg(ref, "any_convert_extern")

    # ==== Python API: externrefs and introspection ===================================

    def externref_new(self, data):
        """An externref whose payload is any Python object, kept in a side table and
        released (exactly once) when the externref dies."""
        return self.wrap(self.alloc_externref(data))

    def externref_data(self, ref):
        cdef gcref_t r = self.object_arg(ref, KIND_EXTERN, "externref_data")
        cdef uint32_t hid = (<ExternRefObject*>(self.base + r)).host_data_id
        if hid >= <size_t>len(self.host_data) or self.host_data[hid] is _FREE_ID:
            raise HeapCorruptionError(f"offset {r}: externref host-data id {hid} is not in use")
        return self.host_data[hid]

    def ref_count(self, ref):
        """The object's count: host handles, heap slots and OASR membership."""
        cdef gcref_t r = self.object_arg(ref, 0, "ref_count")
        return hdr_of(self, r).ref_count

    def type_of(self, ref):
        """The engine type index of a struct or array; None for externrefs and i31s."""
        cdef gcref_t r
        if type(ref) is I31:
            return None
        r = self.object_arg(ref, 0, "type_of")
        if (hdr_of(self, r).kind_bits & KIND_MASK) == KIND_EXTERN:
            return None
        return hdr_of(self, r).type_index

    def ref_test(self, ref, ref_type):
        """Does the value `ref` (GcRef, I31 or None) belong to `ref_type` (a RefType)?"""
        cdef gcref_t r
        cdef uint32_t code
        self.check_open()
        try:
            heap = ref_type.heap
            nullable = bool(ref_type.nullable)
        except AttributeError:
            raise TypeError(f"ref_test: expected a RefType, got {type(ref_type).__name__} "
                            f"{ref_type!r}") from None
        code = heap_code_arg(heap)
        if code < HEAP_ABSTRACT_BASE and self.registry.type_info(code) == NULL:
            raise UnknownTypeError(f"ref_test: type index {code} is not registered")
        if type(ref) is FuncRef:
            return self.funcref_matches(funcref_arg(self, ref, "ref_test"), code, nullable)
        r = self.ref_value(ref, "ref_test")
        return self.ref_matches(r, code, nullable)

    def expose(self, ref):
        """Hand a ref to guest frames: the object joins the OASR list (which then owns a
        count of its own; `ref` keeps its count). Returns the raw u32 guest code may hold."""
        cdef gcref_t r
        self.check_open()
        if ref is None or type(ref) is I31:
            return self.ref_value(ref, "expose")
        r = self.object_arg(ref, 0, "expose")
        hdr_of(self, r).ref_count += 1
        self.ext_add(r, 1)
        return self.expose_raw(r)

    def from_raw(self, raw):
        """The Python form of a raw u32 ref (validated: a live object of this heap), with
        a new count for a GcRef."""
        cdef gcref_t r
        self.check_open()
        if not isinstance(raw, int):
            raise TypeError(f"from_raw: expected an int, got {type(raw).__name__} {raw!r}")
        if raw < 0 or raw > 0xFFFFFFFF:
            raise OverflowError(f"from_raw: {raw!r} is not a u32")
        r = raw
        if ref_is_object(r) and not self.is_object(r):
            self.check_object_slow(r, 0)
        return self.ref_out(r)

    def use_type(self, type_index):
        """Make the heap hold `type_index` (also done by the first allocation), so that
        C-level fast paths find it in the per-heap cache."""
        if not isinstance(type_index, int):
            raise TypeError(f"use_type: expected an int, got {type_index!r}")
        if type_index < 0 or type_index >= MAX_TYPE_INDEX:
            raise OverflowError(f"use_type: type index {type_index!r} is out of range")
        self.type_record(type_index)

    def stats(self):
        """A dict of sizes (bytes), counters and the collection policy's state (the keys
        are listed in docs/collector.md)."""
        self.check_open()
        usable = (self.fl.end - 1) * GRANULE if self.fl.end else 0
        nfree = self.fl.free_granules * GRANULE
        return {
            "capacity": self.capacity,
            "max_size": self.max_size,
            "usable_bytes": usable,
            "used_bytes": usable - nfree,
            "free_bytes": nfree,
            "largest_free_block": fl_largest_run(&self.fl) * GRANULE,
            "live_objects": self.objects_allocated - self.objects_freed,
            "objects_allocated": self.objects_allocated + self.objects_reused,
            "objects_freed": self.objects_freed + self.objects_reused,
            "bytes_allocated": self.bytes_allocated + self.bytes_reused,
            "bytes_freed": self.bytes_freed + self.bytes_reused,
            "host_data_live": len(self.host_data) - 1 - len(self.host_free_ids),
            "host_data_released": self.host_data_released,
            "oasr_len": self.oasr_len,
            "collections": self.collections,
            "collections_skipped": self.collections_skipped,
            "objects_freed_by_sweeps": self.objects_freed_by_sweeps,
            "bytes_freed_by_sweeps": self.bytes_freed_by_sweeps,
            "cycle_passes": self.cycle_passes,
            "objects_freed_by_cycles": self.objects_freed_by_cycles,
            "bytes_freed_by_cycles": self.bytes_freed_by_cycles,
            "cycle_seconds": self.cycle_seconds,
            "oasr_len_after_last_gc": self.oasr_len_after_last_gc,
            "oasr_trigger": self.oasr_trigger,
            "oasr_trigger_floor": oasr_trigger(&self.policy, 0),
            "last_live_bytes": self.policy.last_live_bytes,
            "gc_seconds": self.gc_seconds,
            "growth_policy": _POLICY_NAMES[self.policy.policy],
            "min_gc_heap": self.policy.min_gc_heap,
            "guest_depth": self.guest_frames,
            "collection_due": bool(self.gc_due),
            "types_held": self.nroots,
            "funcrefs_live": self.fn_live,
            "funcrefs_reclaimed": self.fn_reclaimed,
            "pending_frees": self.objects_pended - self.objects_reused - self.pending_finished,
        }

    def finish_pending(self):
        """Free now every object that C-level drops left pending (heap.pxd, "Pending
        frees"), with everything only they kept alive. Python-level drops never leave any."""
        self.check_open()
        self.free_pending()

    def _drop_deferred(self, ref):
        """Tests: release a GcRef's count the way C-level dec() does (the object may become
        pending instead of being freed)."""
        cdef GcRef g
        cdef gcref_t r = self.object_arg(ref, 0, "_drop_deferred")
        g = <GcRef>ref
        g.heap = None
        g.raw = 0
        self.dec_ref_deferred(r)

    # ==== Collection (collector.pxi) =================================================

    def collect(self, stack_roots=None, *, frames=None, cycles=True):
        """Run a whole collection and return its CollectionReport.

        The precise roots (raw u32 refs the guest's frames hold) come from `stack_roots`,
        from `frames` (``(pc, slots)`` pairs read through ``heap.stack_maps``), or, when
        neither is given, from the root provider. With none of these and no guest frames
        active, there are no roots and every exposed ref is dropped from the list; with guest
        frames active (``enter_guest``) the roots cannot be known, so nothing is swept and
        the report says it was skipped.

        With ``cycles`` (the default) the sweep is followed by the cycle pass, which frees
        every object that nothing outside the heap reaches: garbage cycles and what only they
        kept alive (``report.cycles_freed``).

        Raises InvalidRefError (changing nothing) for a root that is not an exposed object,
        NoGcScopeError inside ``no_gc()``, DrcError while another collection is under way.
        Costs O(OASR length + roots), plus the frees it causes; the cycle pass adds a walk
        of every live object and its ref slots."""
        return collect_now(self, stack_roots, frames, "collect",
                           flag_arg(cycles, "collect", "cycles"))

    def gc(self, stack_roots=None, *, frames=None, cycles=True):
        """Start an incremental collection (roots and ``cycles`` as for ``collect``); drive
        it with its ``collect_increment()`` until that returns ``"complete"``. The cycle pass
        is an increment of its own, after the sweep."""
        return start_collection(self, stack_roots, frames, "gc", flag_arg(cycles, "gc", "cycles"))

    def maybe_collect(self):
        """Collect if the OASR-length trigger made a collection due and a root provider is
        set; returns the report, or None when nothing ran."""
        self.check_open()
        if self.gc_due and can_auto_collect(self):
            return collect_now(self, None, None, "maybe_collect", False)
        return None

    @property
    def collection_due(self):
        """The OASR list reached max(2 x its length after the last collection, 1024)."""
        self.check_open()
        return bool(self.gc_due)

    def set_root_provider(self, provider, *, frames=False):
        """Let the heap collect by itself (when an allocation finds no room, or a collection
        is due): `provider()` returns the current raw stack roots, or with ``frames=True``
        the guest frames as ``(pc, slots)`` pairs read through ``heap.stack_maps``.
        ``None`` removes it. The provider must return such an iterable: anything else
        (``None`` from a forgotten ``return``, say) makes the collection or allocation that
        asked raise TypeError, changing nothing."""
        self.check_open()
        if provider is not None and not callable(provider):
            raise TypeError(f"set_root_provider: expected a callable or None, got "
                            f"{type(provider).__name__}")
        self.provider = provider
        self.has_root_provider = provider is not None
        self.provider_gives_frames = bool(frames) and provider is not None

    @property
    def root_provider(self):
        self.check_open()
        return self.provider

    @property
    def stack_maps(self):
        """The StackMapRegistry used to read guest frames, or None."""
        self.check_open()
        return self.stack_maps_registry

    @stack_maps.setter
    def stack_maps(self, value):
        self.check_open()
        if value is not None and not isinstance(value, StackMapRegistry):
            raise TypeError(f"stack_maps must be a StackMapRegistry or None, got "
                            f"{type(value).__name__}")
        self.stack_maps_registry = value

    def no_gc(self):
        """A context manager during which no collection may run (scopes nest)."""
        self.check_open()
        return make_no_gc_scope(self)

    def enter_guest(self):
        """Guest frames are now active (sets the stack canary; calls nest)."""
        self.check_open()
        self.guest_enter()

    def exit_guest(self):
        """The innermost guest activation returned. RuntimeError if none is active."""
        self.check_open()
        self.guest_exit()

    def guest(self):
        """A context manager around a call into guest code (``enter_guest``/``exit_guest``)."""
        self.check_open()
        return make_guest_scope(self)

    @property
    def guest_depth(self):
        self.check_open()
        return self.guest_frames

    @property
    def growth_policy(self):
        """"adaptive" (the default) or "wasmtime": how an allocation that finds no room
        chooses between collecting and growing (see drc/policy.pxd)."""
        self.check_open()
        return _POLICY_NAMES[self.policy.policy]

    @growth_policy.setter
    def growth_policy(self, value):
        self.check_open()
        self.policy.policy = policy_code(value)
        self.oasr_trigger = oasr_trigger(&self.policy, self.oasr_len_after_last_gc)

    def set_zeal_collect_every(self, n):
        """Zeal builds: force a collection every `n` allocations (0 turns it off), like
        Wasmtime's gc_zeal allocation counter. Needs a root provider to collect."""
        self.check_open()
        if not GC_ZEAL:
            raise RuntimeError("forced collections need the gc_zeal build")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0 or n > 0xFFFFFFFF:
            raise ValueError(f"set_zeal_collect_every: expected an int in [0, 2**32), "
                             f"got {n!r}")
        self.zeal_collect_every = n
        self.zeal_countdown = n

    def _zeal_skip_cycle_subtraction(self, ref):
        """Zeal builds, tests only: break the cycle pass on purpose. It forgets to subtract
        the heap slots that point at `ref` (None: the pass is whole again), so zeal's check
        of what is held from outside the heap must catch it."""
        self.check_open()
        if not GC_ZEAL:
            raise RuntimeError("the broken-pass hook needs the gc_zeal build")
        self.zeal_skip_subtract = 0 if ref is None else self.object_arg(
            ref, 0, "_zeal_skip_cycle_subtraction")

    def _zeal_flip_cycle_mark(self, ref):
        """Zeal builds, tests only: break the cycle pass's mark step on purpose. Its
        verdict on `ref` is reversed (reached taken for garbage, garbage for reached; None:
        the pass is whole again), so zeal's checks of the garbage must catch it before
        anything is written."""
        self.check_open()
        if not GC_ZEAL:
            raise RuntimeError("the broken-pass hook needs the gc_zeal build")
        self.zeal_flip_mark = 0 if ref is None else self.object_arg(
            ref, 0, "_zeal_flip_cycle_mark")

    def _zeal_fail_buffer_growth(self, after):
        """Zeal builds, tests only: make the heap's work buffers (the cascade's, the free
        batch, the payload queue) fail to grow as if out of memory: after `after` more
        growths succeed, the next one fails, once. None turns the hook off."""
        self.check_open()
        if not GC_ZEAL:
            raise RuntimeError("the failing-growth hook needs the gc_zeal build")
        if after is None:
            self.zeal_growths_left = 0
            return
        if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after < 2**32:
            raise ValueError(f"_zeal_fail_buffer_growth: expected None or an int in "
                             f"[0, 2**32), got {after!r}")
        self.zeal_growths_left = after + 1

    def history(self):
        """Growth and collection events, oldest first, as dicts with ``seconds`` (since the
        heap was created), ``event`` ("grow", "collect", "skip" or "cycles"), ``capacity``,
        ``used_bytes`` and ``oasr_len``. The most recent 4096 at least are kept."""
        cdef size_t i
        self.check_open()
        out = []
        for i in range(self.events_n):
            ev = &self.events[i]
            out.append({"seconds": ev.seconds, "event": _EVENT_NAMES[ev.kind],
                        "capacity": ev.capacity, "used_bytes": ev.used_bytes,
                        "oasr_len": ev.oasr_len})
        return out

    cdef int collect_raw(self, const uint32_t* roots, size_t n,
                         bint cycles=True) except -1 nogil:
        return collect_roots(self, roots, n, cycles)

    cdef int safepoint(self) except -1 nogil:
        if GC_ZEAL and self.zeal_collect_every:
            self.zeal_countdown -= 1
            if self.zeal_countdown == 0:
                self.zeal_countdown = self.zeal_collect_every
                if can_auto_collect(self):
                    # A forced collection is a full one: the cycle pass gets fuzzed too.
                    auto_collect(self, True)
                return 0
        return maybe_collect_due(self)

    cdef void no_gc_enter(self) noexcept nogil:
        self.no_gc_depth += 1

    cdef int no_gc_exit(self) except -1 nogil:
        if self.no_gc_depth == 0:
            with gil:
                raise RuntimeError("no_gc_exit without a matching no_gc_enter")
        self.no_gc_depth -= 1
        return 0

    cdef void guest_enter(self) noexcept nogil:
        self.guest_frames += 1

    cdef int guest_exit(self) except -1 nogil:
        if self.guest_frames == 0:
            with gil:
                raise RuntimeError("exit_guest: no guest frames are active")
        self.guest_frames -= 1
        return 0

    def _free_regions(self):
        """Free regions as (offset, length) pairs in address order (the bump region too)."""
        self.check_open()
        return fl_regions(&self.fl)

    # ==== Integrity ==================================================================

    def verify(self):
        """Walk the whole heap and raise HeapCorruptionError (naming the offset and the rule)
        at the first broken invariant: free list, object headers, field refs, accounting,
        OASR list, host data. In zeal builds it also recomputes every object's count from
        the heap's slots, the OASR list and the handles held outside the heap, and checks
        that all free memory is still poisoned."""
        self.verify_integrity(True)

    cdef int verify_integrity(self, bint host_table) except -1:
        """verify(); without `host_table` it skips the host-data table's length check, which
        an externref allocation in progress (its payload id reserved, its object not yet
        made) would fail: the cycle pass checks the heap from inside allocations."""
        cdef size_t where = 0
        cdef int rule
        cdef size_t g, e, gr, live = 0, nobj = 0, i, nin = 0
        cdef gcref_t r, v
        cdef ObjectHeader* hdr
        cdef const TypeInfo* ti
        cdef uint32_t kind, length
        cdef uint32_t* expected = NULL
        self.check_open()
        rule = fl_check(&self.fl, &where)
        if rule:
            raise HeapCorruptionError(f"offset {where * GRANULE}: free list: {_FL_RULES[rule]}")
        if GC_ZEAL and self.fl.end:
            expected = <uint32_t*>calloc(self.fl.end, sizeof(uint32_t))
            if expected == NULL:
                raise MemoryError()
        try:
            seen_ids = set()
            pending = self.verify_pending()
            if len(pending) != self.objects_pended - self.objects_reused - self.pending_finished:
                raise HeapCorruptionError(
                    f"{len(pending)} objects wait on pending lists, but the counters say "
                    f"{self.objects_pended - self.objects_reused - self.pending_finished}")
            g = 1
            while g < self.fl.end:
                g = next_set(self.fl.start_bits, g, self.fl.end)
                if g >= self.fl.end:
                    break
                r = <gcref_t>(g << GRANULE_SHIFT)
                hdr = hdr_of(self, r)
                kind = hdr.kind_bits & KIND_MASK
                if not kind_is_valid(kind) or kind == KIND_ANY or kind == KIND_EQ:
                    raise HeapCorruptionError(f"offset {r}: invalid kind word "
                                              f"{hdr.kind_bits:#010x}")
                if hdr.kind_bits & RESERVED_MASK & ~<uint32_t>(MARK_BIT | IN_OASR_BIT):
                    raise HeapCorruptionError(f"offset {r}: unknown collector bits in "
                                              f"{hdr.kind_bits:#010x}")
                if hdr.ref_count == 0 and r not in pending:
                    raise HeapCorruptionError(f"offset {r}: live object with ref_count 0")
                if (hdr.object_size < sizeof(ObjectHeader)
                        or r + <size_t>hdr.object_size > self.capacity):
                    raise HeapCorruptionError(f"offset {r}: object_size {hdr.object_size} "
                                              "out of range")
                gr = granules_of(hdr.object_size)
                e = next_set(self.fl.start_bits, g + 1, g + gr)
                if e < g + gr or next_set(self.fl.free_bits, g, g + gr) < g + gr or (
                        g + gr > self.fl.bump_ptr and g < self.fl.bump_end):
                    raise HeapCorruptionError(f"offset {r}: object overlaps another block "
                                              "or free space")
                if hdr.kind_bits & IN_OASR_BIT:
                    nin += 1
                if kind == KIND_EXTERN:
                    v = (<ExternRefObject*>hdr).host_data_id
                    if (hdr.type_index != TYPE_INDEX_NONE
                            or hdr.object_size != sizeof(ExternRefObject)
                            or v == 0 or v >= len(self.host_data)
                            or self.host_data[v] is _FREE_ID or v in seen_ids):
                        raise HeapCorruptionError(f"offset {r}: externref with bad host data "
                                                  f"id {v} or header")
                    seen_ids.add(v)
                else:
                    if hdr.type_index >= self.ntypes or self.types[hdr.type_index] == NULL:
                        raise HeapCorruptionError(f"offset {r}: type index {hdr.type_index} "
                                                  "is not held by this heap")
                    ti = self.types[hdr.type_index]
                    if kind == KIND_STRUCT:
                        if ti.kind != COMPOSITE_STRUCT or hdr.object_size != ti.size:
                            raise HeapCorruptionError(f"offset {r}: struct header disagrees "
                                                      f"with type {hdr.type_index}")
                        for i in range(ti.n_gc_refs):
                            self.verify_slot(r, ti.gc_ref_offsets[i], expected)
                        for i in range(ti.nfields):
                            if field_is_funcref(&ti.fields[i]):
                                self.verify_funcref_slot(r, ti.fields[i].offset)
                    else:
                        length = (<ArrayHeader*>hdr).length
                        if (ti.kind != COMPOSITE_ARRAY or hdr.object_size
                                != ti.size + <uint64_t>length * ti.elem_size):
                            raise HeapCorruptionError(f"offset {r}: array header disagrees "
                                                      f"with type {hdr.type_index}")
                        if ti.elems_are_gc_refs:
                            for i in range(length):
                                self.verify_slot(r, ti.size + 4 * i, expected)
                        elif field_is_funcref(&ti.fields[0]):
                            for i in range(length):
                                self.verify_funcref_slot(r, ti.size + 4 * i)
                live += gr
                nobj += 1
                g += gr
            if live + self.fl.free_granules != (self.fl.end - 1 if self.fl.end else 0):
                raise HeapCorruptionError(
                    f"offset 0: accounting: live {live * GRANULE} + free "
                    f"{self.fl.free_granules * GRANULE} != usable {(self.fl.end - 1) * GRANULE}")
            if nobj != self.objects_allocated - self.objects_freed:
                raise HeapCorruptionError(
                    f"offset 0: {nobj} objects in the heap but the counters say "
                    f"{self.objects_allocated - self.objects_freed}")
            if host_table and len(seen_ids) != len(self.host_data) - 1 - len(self.host_free_ids):
                raise HeapCorruptionError("offset 0: host-data table holds payloads of dead "
                                          "externrefs")
            self.verify_oasr(nin, expected)
            self.verify_funcref_table()
            if GC_ZEAL:
                self.verify_counts(expected)
                self.verify_poison()
        finally:
            c_free(expected)
        return 0

    cdef set verify_pending(self):
        """The pending objects, each checked against the invariant in heap.pxd (the walk
        then checks their fields like any object's, and zeal that nothing points at them)."""
        cdef set out = set()
        cdef size_t g
        cdef uint64_t limit = self.objects_allocated - self.objects_freed
        cdef gcref_t r
        cdef ObjectHeader* hdr
        cdef uint32_t kind
        for g in range(PENDING_CLASSES):
            r = self.pending[g]
            while r:
                hdr = hdr_of(self, r)
                kind = hdr.kind_bits & KIND_MASK
                if (g == 0 or r >= self.capacity or (r & (GRANULE - 1))
                        or not bit_get(self.fl.start_bits, r >> GRANULE_SHIFT)
                        or r in out or len(out) >= limit):
                    raise HeapCorruptionError(f"offset {r}: pending list {g} links to a "
                                              "non-object, or loops")
                if (hdr.ref_count != 0 or (hdr.kind_bits & (MARK_BIT | IN_OASR_BIT))
                        or (kind != KIND_STRUCT and kind != KIND_ARRAY)
                        or granules_of(hdr.object_size) != g):
                    raise HeapCorruptionError(f"offset {r}: pending object on list {g} with "
                                              f"header {hdr.kind_bits:#010x}, count "
                                              f"{hdr.ref_count}, size {hdr.object_size}")
                out.add(r)
                r = hdr.next_oasr
        return out

    cdef int verify_slot(self, gcref_t obj, uint32_t offset, uint32_t* expected) except -1:
        cdef gcref_t v = (<uint32_t*>(self.base + obj + offset))[0]
        if ref_is_object(v):
            if not self.is_object(v):
                raise HeapCorruptionError(f"offset {obj + offset}: field of the object at "
                                          f"{obj} holds {v:#x}, not a live object")
            if expected != NULL:
                expected[v >> GRANULE_SHIFT] += 1
        return 0

    cdef int verify_funcref_slot(self, gcref_t obj, uint32_t offset) except -1:
        cdef uint32_t fid = (<uint32_t*>(self.base + obj + offset))[0]
        if fid != 0 and not fn_valid(self, fid):
            raise HeapCorruptionError(f"offset {obj + offset}: funcref field of the object at "
                                      f"{obj}: {fn_invalid_reason(self, fid)}")
        return 0

    cdef int verify_funcref_table(self) except -1:
        cdef uint32_t i, live = 0, nfree = 0
        for i in range(1, self.fn_n):
            if self.fn[i].type_index != TYPE_INDEX_NONE:
                live += 1
        i = self.fn_free_head
        while i:
            nfree += 1
            if i >= self.fn_n or self.fn[i].type_index != TYPE_INDEX_NONE or nfree > self.fn_n:
                raise HeapCorruptionError(f"offset 0: function table free list is broken at "
                                          f"entry {i}")
            i = self.fn[i].next_free
        if live != self.fn_live or live != <size_t>len(self.fn_map) or (
                self.fn_n and live + nfree != self.fn_n - 1):
            raise HeapCorruptionError(f"offset 0: function table: {live} entries in use, "
                                      f"{nfree} free, of {self.fn_n - 1 if self.fn_n else 0}; "
                                      f"counter says {self.fn_live}, map {len(self.fn_map)}")
        return 0

    cdef int verify_oasr(self, size_t nin, uint32_t* expected) except -1:
        cdef gcref_t r = self.oasr_head
        cdef size_t n = 0
        cdef size_t limit = self.objects_allocated - self.objects_freed
        while r:
            if not self.is_object(r):
                raise HeapCorruptionError(f"offset {r}: OASR list links to a non-object")
            if not (hdr_of(self, r).kind_bits & IN_OASR_BIT):
                raise HeapCorruptionError(f"offset {r}: in the OASR list without its in-list bit")
            n += 1
            if n > limit:
                raise HeapCorruptionError(f"offset {r}: the OASR list has a cycle")
            if expected != NULL:
                expected[r >> GRANULE_SHIFT] += 1
            r = hdr_of(self, r).next_oasr
        if n != self.oasr_len or n != nin:
            raise HeapCorruptionError(f"offset {self.oasr_head}: OASR list has {n} entries, "
                                      f"length says {self.oasr_len}, {nin} in-list bits set")
        return 0

    cdef int verify_counts(self, uint32_t* expected) except -1:
        cdef size_t g = 1
        cdef uint64_t want
        cdef ObjectHeader* hdr
        while g < self.fl.end:
            g = next_set(self.fl.start_bits, g, self.fl.end)
            if g >= self.fl.end:
                break
            hdr = <ObjectHeader*>(self.base + (g << GRANULE_SHIFT))
            want = <uint64_t>expected[g] + self.ext_counts[g]
            if hdr.ref_count != want:
                raise HeapCorruptionError(
                    f"offset {g << GRANULE_SHIFT}: ref_count {hdr.ref_count} but "
                    f"{expected[g]} heap slot/OASR owners + {self.ext_counts[g]} handles")
            g += granules_of(hdr.object_size)
        return 0

    cdef int verify_poison(self) except -1:
        cdef size_t i, start, length
        for start, length in fl_regions(&self.fl):
            for i in range(start, start + length):
                if <uint8_t>self.base[i] != DRC_POISON:
                    raise HeapCorruptionError(f"offset {i}: free memory is not poisoned "
                                              f"(byte {<uint8_t>self.base[i]:#04x})")
        return 0

    def _zeal_counters(self):
        """Allocation and free totals for leak checks in tests (all builds)."""
        self.check_open()
        return (self.objects_allocated + self.objects_reused,
                self.objects_freed + self.objects_reused)


# ==== Handles and i31 values ===============================================================

@cython.final
@cython.no_gc_clear
@cython.auto_pickle(False)
cdef class GcRef:
    """A host handle that owns one count on a heap object. Released by ``del``, ``close()``
    or leaving a ``with`` block; a released handle raises InvalidRefError when used.
    Equal handles refer to the same object. Obtained from Heap methods only."""

    def __init__(self, *args, **kwargs):
        raise TypeError("GcRef handles are created by Heap methods, not directly")

    def __dealloc__(self):
        cdef Heap h = self.heap
        if h is not None and self.raw and h.base != NULL:
            if GC_ZEAL:
                h.dec_ref(self.raw)
            else:
                slot_dec(h, self.raw)

    def close(self):
        """Drop this handle's count now (idempotent)."""
        cdef Heap h = self.heap
        cdef gcref_t r = self.raw
        self.heap = None
        self.raw = 0
        if h is not None and r and h.base != NULL:
            h.dec_ref(r)

    def clone(self):
        """A second handle on the same object, with its own count."""
        cdef Heap h = self.live_heap()
        h.inc_ref(self.raw)
        return h.wrap(self.raw)

    cdef Heap live_heap(self):
        if self.heap is None:
            raise InvalidRefError("this GcRef was released")
        self.heap.check_open()
        return self.heap

    @property
    def type_index(self):
        """The engine type index of a struct or array; None for an externref."""
        cdef Heap h = self.live_heap()
        cdef ObjectHeader* hdr = hdr_of(h, self.raw)
        return None if (hdr.kind_bits & KIND_MASK) == KIND_EXTERN else hdr.type_index

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __eq__(self, other):
        if type(other) is not GcRef:
            return NotImplemented
        return (<GcRef>other).heap is self.heap and (<GcRef>other).raw == self.raw

    def __hash__(self):
        return hash((id(self.heap), self.raw))

    def __repr__(self):
        if self.heap is None:
            return "<GcRef released>"
        if self.heap.base == NULL:
            return f"<GcRef {self.raw:#x} of a closed heap>"
        hdr = hdr_of(self.heap, self.raw)
        kind = kind_name(hdr.kind_bits & KIND_MASK)
        if (hdr.kind_bits & KIND_MASK) == KIND_EXTERN:
            return f"<GcRef externref @ {self.raw:#x}>"
        return f"<GcRef {kind} ${hdr.type_index} @ {self.raw:#x}>"

    def __reduce__(self):
        raise TypeError("GcRef handles cannot be pickled")


# ==== GcRef lifecycle ======================================================================
# The accessors make one handle per ref they return and the caller drops it soon after, so a
# handle's two ends are written by hand. Cython's own tp_dealloc saves and restores the
# exception state around __dealloc__ on every drop, which cost about as much as the rest of
# the drop together. gcref_dealloc, installed as GcRef's tp_dealloc below, handles the common
# case itself: a release build, a live handle of an open heap, and a count that is not the
# object's last, which is a plain decrement (nothing can run that could see or raise an
# exception); the handle then goes on a free list that wrap() takes from. Everything else (a
# last count, whose cascade may run payload finalizers; zeal's checked drop; a released handle;
# a closed heap) goes through Cython's tp_dealloc and __dealloc__ unchanged, and it frees the
# handle.

cdef extern from "Python.h":
    PyObject* PyObject_Init(PyObject* op, PyTypeObject* tp) noexcept
    void PyObject_GC_Track(void* op) noexcept
    void PyObject_GC_UnTrack(void* op) noexcept
    unsigned long Py_TPFLAGS_HEAPTYPE

cdef enum:
    GCREF_FREELIST = 256

# Handles ready for reuse: untracked, reference count 0, heap None, raw 0.
cdef PyObject* gcref_free[GCREF_FREELIST]
cdef int gcref_nfree = 0
cdef destructor cython_gcref_dealloc = NULL


cdef void gcref_dealloc(PyObject* o) noexcept:
    # `o` has reference count 0: every access goes through a C-level cast (no new reference).
    global gcref_nfree
    cdef PyObject* hp = <PyObject*>(<GcRef>o).heap
    cdef gcref_t r = (<GcRef>o).raw
    cdef ObjectHeader* hdr
    if (not GC_ZEAL and r != 0 and hp != <PyObject*>None
            and (<Heap>hp).base != NULL):
        hdr = <ObjectHeader*>((<Heap>hp).base + r)
        if hdr.ref_count > 1:
            PyObject_GC_UnTrack(o)
            hdr.ref_count -= 1
            (<GcRef>o).raw = 0
            # Dropping the heap reference may free the heap (and run code): the handle is on
            # no list yet and nothing reads the heap after this.
            (<GcRef>o).heap = None
            if gcref_nfree < GCREF_FREELIST:
                gcref_free[gcref_nfree] = o
                gcref_nfree += 1
            else:
                o.ob_type.tp_free(o)
            return
    cython_gcref_dealloc(o)


cdef int install_gcref_dealloc() except -1:
    global cython_gcref_dealloc
    cdef PyTypeObject* tp = <PyTypeObject*>GcRef
    # A heap type (Cython's type-spec mode) would need its own reference counting on reuse:
    # keep Cython's lifecycle there.
    if tp.tp_flags & Py_TPFLAGS_HEAPTYPE:
        return 0
    cython_gcref_dealloc = tp.tp_dealloc
    tp.tp_dealloc = gcref_dealloc
    return 0


install_gcref_dealloc()


@cython.final
@cython.auto_pickle(False)
cdef class I31:
    """An unboxed 31-bit signed integer ref: ``I31(v)`` for v in [-2**30, 2**30)."""

    def __init__(self, value):
        if not isinstance(value, int):
            raise TypeError(f"I31 value must be an int, got {type(value).__name__} {value!r}")
        if value < I31_MIN or value > I31_MAX:
            raise OverflowError(f"I31 value {value!r} is out of range [-2**30, 2**30)")
        self.value = value

    @property
    def raw(self):
        """The tagged u32 encoding, ``(value << 1) | 1``."""
        return i31_new(self.value)

    def __eq__(self, other):
        if type(other) is not I31:
            return NotImplemented
        return (<I31>other).value == self.value

    def __hash__(self):
        return hash((I31, self.value))

    def __repr__(self):
        return f"I31({self.value})"

    def __reduce__(self):
        return (I31, (self.value,))


# ==== The free list on its own, for property tests ========================================

@cython.auto_pickle(False)
cdef class _FreeListForTests:
    """The heap's free list without memory or objects: blocks are (offset, nbytes)."""
    cdef FreeList fl
    cdef dict live

    def __cinit__(self, size_t max_bytes):
        fl_init(&self.fl, max_bytes >> GRANULE_SHIFT)
        self.live = {}

    def __init__(self, max_bytes):
        pass

    def __dealloc__(self):
        fl_destroy(&self.fl)

    def add_capacity(self, size_t new_bytes):
        if new_bytes >> GRANULE_SHIFT > self.fl.max_granules:
            raise ValueError("beyond the maximum")
        fl_add_capacity(&self.fl, new_bytes >> GRANULE_SHIFT)

    def alloc(self, size_t nbytes):
        """Offset of a new block, or None when nothing fits."""
        cdef size_t g = granules_of(nbytes)
        cdef size_t p
        if g == 0:
            raise ValueError("empty block")
        p = fl_bump(&self.fl, g)
        if p == 0:
            p = fl_alloc_slow(&self.fl, g)
        if p == 0:
            return None
        self.live[p << GRANULE_SHIFT] = g
        return p << GRANULE_SHIFT

    def free(self, *offsets):
        """Free blocks in one batch (as a cascade does)."""
        cdef uint32_t* pairs = <uint32_t*>malloc(8 * len(offsets) + 8)
        cdef size_t i = 0
        try:
            for off in offsets:
                g = self.live.pop(off)
                pairs[2 * i] = off >> GRANULE_SHIFT
                pairs[2 * i + 1] = g
                i += 1
            fl_free_batch(&self.fl, pairs, i)
        finally:
            c_free(pairs)

    @property
    def free_bytes(self):
        return self.fl.free_granules * GRANULE

    @property
    def usable_bytes(self):
        return (self.fl.end - 1) * GRANULE if self.fl.end else 0

    @property
    def candidates(self):
        return self.fl.ncandidates

    def regions(self):
        return fl_regions(&self.fl)

    def largest(self):
        return fl_largest_run(&self.fl) * GRANULE

    def check(self):
        cdef size_t where = 0
        cdef int rule = fl_check(&self.fl, &where)
        if rule:
            raise HeapCorruptionError(f"offset {where * GRANULE}: free list: {_FL_RULES[rule]}")
