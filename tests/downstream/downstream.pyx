# cython: language_level=3
"""An embedder's module: it reaches drc and registry only through their installed .pxd files."""

from drc.includes.zeal cimport GC_ZEAL
from drc.header cimport (ObjectHeader, gcref_t, i31_new, i31_get_s, ref_is_i31, kind_matches,
                         KIND_STRUCT, KIND_EQ, KIND_EXTERN)
from registry.typeinfo cimport TypeInfo, info_is_subtype, DRC_HEADER_SIZE

ZEAL = bool(GC_ZEAL)


def header_size():
    return sizeof(ObjectHeader)


def registry_header_size():
    return DRC_HEADER_SIZE


def i31_roundtrip(int v):
    cdef gcref_t r = i31_new(v)
    return bool(ref_is_i31(r)), i31_get_s(r)


def struct_is_eq():
    return bool(kind_matches(KIND_STRUCT, KIND_EQ)), bool(kind_matches(KIND_EXTERN, KIND_EQ))


def display_subtype():
    cdef unsigned int root_display[1]
    cdef unsigned int child_display[2]
    cdef TypeInfo root, child
    root_display[0] = 7
    child_display[0] = 7
    child_display[1] = 9
    root.index, root.depth, root.display = 7, 0, root_display
    child.index, child.depth, child.display = 9, 1, child_display
    return bool(info_is_subtype(&child, &root)), bool(info_is_subtype(&root, &child))


# ==== The heap's C-level API ================================================================

from libc.stdint cimport uint32_t, uint64_t

from drc.heap cimport (Heap, new_struct, inc, dec, load_ref, peek_ref, store_ref, move_ref,
                       field_addr, array_length, array_elem_addr)


def pair(Heap h, uint32_t node):
    """b = node(left=a); returns (a, b) raw, each with one count owned by the caller."""
    cdef uint32_t left = h.type_record(node).fields[0].offset
    cdef gcref_t a = new_struct(h, node)
    cdef gcref_t b = new_struct(h, node)
    store_ref(h, b, left, a)                 # the field takes its own count
    return a, b


def read_left(Heap h, gcref_t obj, uint32_t node):
    """An owned copy of obj.left."""
    return load_ref(h, obj, h.type_record(node).fields[0].offset)


def set_left(Heap h, gcref_t obj, uint32_t node, gcref_t value):
    store_ref(h, obj, h.type_record(node).fields[0].offset, value)


def retain(Heap h, gcref_t r):
    inc(h, r)


def release(Heap h, gcref_t r):
    dec(h, r)


def scalar_roundtrip(Heap h, uint32_t struct_i32_i64):
    """Write a struct's i32 and i64 fields by offset and read them back."""
    cdef gcref_t s = new_struct(h, struct_i32_i64)
    cdef uint32_t o32 = h.type_record(struct_i32_i64).fields[0].offset
    cdef uint32_t o64 = h.type_record(struct_i32_i64).fields[1].offset
    (<int*>field_addr(h, s, o32))[0] = -7
    (<long long*>field_addr(h, s, o64))[0] = 1 << 40
    return s, (<int*>field_addr(h, s, o32))[0], (<long long*>field_addr(h, s, o64))[0]


def array_elems(Heap h, gcref_t arr):
    """Length of an i32 array and its elements, read through the element address."""
    cdef uint32_t n = array_length(h, arr)
    return [(<int*>array_elem_addr(h, arr, i))[0] for i in range(n)]


def alloc_free_loop(Heap h, uint32_t node, long n):
    """`n` times: allocate a small struct and dec it (which frees it), nogil."""
    cdef long _i
    cdef gcref_t r
    with nogil:
        for _i in range(n):
            r = new_struct(h, node)
            dec(h, r)


cdef gcref_t make_tree(Heap h, uint32_t node, uint32_t left, uint32_t right,
                       int depth) except 0 nogil:
    cdef gcref_t n = new_struct(h, node)
    if depth > 0:
        move_ref(h, n, left, make_tree(h, node, left, right, depth - 1))
        move_ref(h, n, right, make_tree(h, node, left, right, depth - 1))
    return n


cdef long check_tree(Heap h, gcref_t n, uint32_t left, uint32_t right) noexcept nogil:
    cdef gcref_t l = peek_ref(h, n, left)
    if l == 0:
        return 1
    return 1 + check_tree(h, l, left, right) + check_tree(h, peek_ref(h, n, right), left, right)


def binary_trees(Heap h, uint32_t node, int max_depth):
    """The benchmarks-game binary-trees through the C-level API: returns (nodes allocated,
    nodes checked). Each tree is dropped with one dec: the cascade frees it."""
    cdef uint32_t left = h.type_record(node).fields[0].offset
    cdef uint32_t right = h.type_record(node).fields[1].offset
    cdef long allocated = 0, checked = 0, iterations, i
    cdef int d
    cdef gcref_t t, long_lived
    with nogil:
        t = make_tree(h, node, left, right, max_depth + 1)
        checked += check_tree(h, t, left, right)
        allocated += (2 << (max_depth + 1)) - 1
        dec(h, t)
        long_lived = make_tree(h, node, left, right, max_depth)
        allocated += (2 << max_depth) - 1
        d = 4
        while d <= max_depth:
            iterations = 1 << (max_depth - d + 4)
            for i in range(iterations):
                t = make_tree(h, node, left, right, d)
                checked += check_tree(h, t, left, right)
                dec(h, t)
            allocated += iterations * ((2 << d) - 1)
            d += 2
        checked += check_tree(h, long_lived, left, right)
        dec(h, long_lived)
    return allocated, checked



def barrier_loop(Heap h, uint32_t node, long n):
    """`n` barriered ref stores into holder.left (alternating b, a, b, ...), each followed by
    an owned load and its dec, nogil. Returns (holder, a, b) raw, each owned by the caller."""
    cdef uint32_t left = h.type_record(node).fields[0].offset
    cdef gcref_t holder = new_struct(h, node)
    cdef gcref_t a = new_struct(h, node)
    cdef gcref_t b = new_struct(h, node)
    cdef gcref_t r
    cdef long i
    with nogil:
        for i in range(n):
            store_ref(h, holder, left, a if i & 1 else b)
            r = load_ref(h, holder, left)
            dec(h, r)
    return holder, a, b


# ==== Guest frames and collection at the C level =============================================

from libc.stdlib cimport malloc, free


def guest_collect(Heap h, uint32_t node, int n, int keep_every):
    """An interpreter's frame of `n` raw refs: allocate, expose (the guest now holds them, no
    counts), then collect with every `keep_every`-th one as a precise root. Returns the raw
    refs kept."""
    cdef uint32_t* frame = <uint32_t*>malloc(n * sizeof(uint32_t))
    cdef uint32_t* roots = <uint32_t*>malloc(n * sizeof(uint32_t))
    cdef int i, nroots = 0
    if keep_every < 1:
        raise ValueError("keep_every must be >= 1")
    if frame == NULL or roots == NULL:
        free(frame)
        free(roots)
        raise MemoryError()
    try:
        with nogil:
            for i in range(n):
                frame[i] = h.expose_raw(new_struct(h, node))   # the OASR list owns the count
            i = 0
            while i < n:
                roots[nroots] = frame[i]
                nroots += 1
                i += keep_every
            h.collect_raw(roots, nroots)
        return [roots[i] for i in range(nroots)]
    finally:
        free(frame)
        free(roots)


def collect_with(Heap h, list raws):
    """collect_raw with an arbitrary root list (bad roots must raise, not corrupt)."""
    cdef uint32_t* roots = <uint32_t*>malloc((len(raws) + 1) * sizeof(uint32_t))
    cdef Py_ssize_t i
    if roots == NULL:
        raise MemoryError()
    try:
        for i in range(len(raws)):
            roots[i] = raws[i]
        h.collect_raw(roots, len(raws))
    finally:
        free(roots)


def no_gc_then_collect(Heap h):
    """collect_raw inside a C-level no-GC scope raises NoGcScopeError."""
    h.no_gc_enter()
    try:
        h.collect_raw(NULL, 0)
    finally:
        h.no_gc_exit()


# ==== Function references and bulk array initialization ====================================

from libc.stdint cimport uint8_t, uintptr_t

from drc.heap cimport (load_funcref, store_funcref, funcref_type, funcref_target,
                       funcref_is_subtype, field_is_funcref)


def funcref_intern(Heap h, uint32_t func_type, uintptr_t target):
    """The interned id of (func_type, target), with one pin for the caller."""
    return h.funcref_intern(func_type, target)


def funcref_pin(Heap h, uint32_t fid):
    h.funcref_pin(fid)


def funcref_unpin(Heap h, uint32_t fid):
    h.funcref_unpin(fid)


def funcref_info(Heap h, uint32_t fid):
    """(valid, type, target) of an id; type and target only when it is valid."""
    if not h.funcref_valid(fid):
        return False, None, None
    return True, funcref_type(h, fid), funcref_target(h, fid)


def funcref_type_of(Heap h, uint32_t fid):
    """funcref_type without validating first (zeal checks the id)."""
    return funcref_type(h, fid)


def funcref_fits(Heap h, uint32_t fid, uint32_t func_type):
    """call_indirect's signature check."""
    return bool(funcref_is_subtype(h, fid, func_type))


def is_funcref_field(Heap h, uint32_t t, uint32_t field):
    return bool(field_is_funcref(&h.type_record(t).fields[field]))


def store_func(Heap h, gcref_t obj, uint32_t t, uint32_t field, uint32_t fid):
    store_funcref(h, obj, h.type_record(t).fields[field].offset, fid)


def load_func(Heap h, gcref_t obj, uint32_t t, uint32_t field):
    return load_funcref(h, obj, h.type_record(t).fields[field].offset)


def init_bytes(Heap h, gcref_t arr, uint32_t dst, const uint8_t[::1] data, uint32_t n):
    """array.init_data from C: the caller has checked the bounds (zeal checks them again)."""
    h.array_init_bytes(arr, dst, &data[0] if data.shape[0] else NULL, n)


def init_refs(Heap h, gcref_t arr, uint32_t dst, list raws):
    """array.init_elem from C: `raws` are raw values of the element type; the caller keeps
    its counts on GC refs."""
    cdef uint32_t* buf = <uint32_t*>malloc((len(raws) + 1) * sizeof(uint32_t))
    cdef Py_ssize_t i
    if buf == NULL:
        raise MemoryError()
    try:
        for i in range(len(raws)):
            buf[i] = raws[i]
        h.array_init_refs(arr, dst, buf, <uint32_t>len(raws))
    finally:
        free(buf)


def new_elem(Heap h, uint32_t t, list raws):
    """array.new_elem: a fresh array filled from raw values; returns it owned."""
    cdef gcref_t arr = h.alloc_array(t, <uint32_t>len(raws))
    try:
        init_refs(h, arr, 0, raws)
    except BaseException:
        dec(h, arr)
        raise
    return arr


def c_count_keeps_a_cycle(Heap h, uint32_t node):
    """A two-object cycle a <-> b that only a count owned from C holds: the cycle pass must
    keep it; once C gives its count up, collect_raw without cycles leaves it and with cycles
    frees it. Returns the live object counts after each of the three collections."""
    # Through the Heap's methods rather than the inline dec/store_ref: more inline call sites
    # in this module make the C compiler stop inlining dec into binary_trees (5 % slower).
    cdef uint32_t left = h.type_record(node).fields[0].offset
    cdef gcref_t a = h.alloc_struct(node)
    cdef gcref_t b = h.alloc_struct(node)
    out = []
    h.write_ref(a, left, b)          # a.left = b
    h.write_ref(b, left, a)          # b.left = a; C still holds a and b
    h.dec_ref(b)                     # C lets b go: b lives through a.left
    with nogil:
        h.collect_raw(NULL, 0)       # cycles by default: a is held from C
    out.append(h.stats()["live_objects"])
    h.dec_ref(a)                     # now only the cycle holds a and b
    with nogil:
        h.collect_raw(NULL, 0, False)
    out.append(h.stats()["live_objects"])
    with nogil:
        h.collect_raw(NULL, 0, True)
    out.append(h.stats()["live_objects"])
    return out


def new_raw(Heap h, uint32_t t):
    """new_struct(h, t) from C: the inline fast path (a same-type pending block is reused)."""
    return new_struct(h, t)
