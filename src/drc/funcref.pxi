# Function references: the heap's function table (ids, interning, pins, reclamation) and the
# FuncRef handle. Included by heap.pyx; heap.pxd documents the id encoding and the lifetime
# rules. Nothing here runs on the allocation, barrier or cascade paths: a funcref field is a
# plain u32 that the cascade never reads.

cdef uint32_t PINS_MAX = 0xFFFFFFFF


cdef inline uint32_t funcref_id_of(uint32_t index, uint8_t generation) noexcept nogil:
    return (<uint32_t>generation << FUNCREF_INDEX_BITS) | index


cdef int fn_grow(Heap h) except -1:
    """Room for one more entry index."""
    cdef uint32_t n
    cdef FuncEntry* p
    if h.fn_n < h.fn_cap:
        return 0
    if h.fn_cap >= FUNCREF_MAX_ENTRIES:
        raise OutOfHeapError(f"the function table is full ({FUNCREF_MAX_ENTRIES - 1} entries "
                             "in use)")
    n = h.fn_cap * 2 if h.fn_cap else 64
    if n > FUNCREF_MAX_ENTRIES:
        n = FUNCREF_MAX_ENTRIES
    p = <FuncEntry*>realloc(h.fn, n * sizeof(FuncEntry))
    if p == NULL:
        raise MemoryError("cannot grow the function table")
    memset(&p[h.fn_cap], 0, (n - h.fn_cap) * sizeof(FuncEntry))
    h.fn = p
    h.fn_cap = n
    return 0


cdef int fn_hold_type(Heap h, uint32_t type_index) except -1:
    """Check that type_index is a registered func type and keep it registered until close."""
    cdef const TypeInfo* ti
    if type_index in h.fn_type_holds:
        return 0
    ti = h.registry.type_info(type_index)
    if ti == NULL:
        raise UnknownTypeError(f"type index {type_index} is not registered")
    if ti.kind != COMPOSITE_FUNC:
        raise TypeError(f"type {type_index} is "
                        f"{'a struct' if ti.kind == COMPOSITE_STRUCT else 'an array'} type, "
                        "not a func type")
    h.fn_type_holds[type_index] = h.registry.root(type_index)
    return 0


cdef uint32_t fn_intern(Heap h, uint32_t type_index, object key, uintptr_t target,
                        bint is_python) except 0:
    """The id of (type_index, target), created if needed, with one pin for the caller."""
    cdef uint32_t idx, fid
    cdef FuncEntry* e
    h.check_open()
    found = h.fn_map.get(key)
    if found is not None:
        fid = found
        e = &h.fn[fid & FUNCREF_INDEX_MASK]
        if e.pins == PINS_MAX:
            raise OverflowError(f"funcref {fid:#x}: too many pins")
        e.pins += 1
        return fid
    fn_hold_type(h, type_index)
    if h.fn_free_head:
        idx = h.fn_free_head
        h.fn_free_head = h.fn[idx].next_free
    else:
        if h.fn_n == 0:
            h.fn_n = 1                  # index 0 is the null id
        fn_grow(h)
        idx = h.fn_n
        h.fn_n += 1
    e = &h.fn[idx]
    e.type_index = type_index
    e.target = target
    e.is_python = is_python
    e.pins = 1
    e.next_free = 0
    e.marked = 0
    if is_python:
        Py_INCREF(<object><PyObject*>target)
    h.fn_live += 1
    fid = funcref_id_of(idx, e.generation)
    h.fn_map[key] = fid
    return fid


cdef inline bint fn_valid(Heap h, uint32_t fid) noexcept nogil:
    cdef uint32_t idx = fid & FUNCREF_INDEX_MASK
    return (idx != 0 and idx < h.fn_n and h.fn[idx].type_index != TYPE_INDEX_NONE
            and h.fn[idx].generation == (fid >> FUNCREF_INDEX_BITS))


cdef str fn_invalid_reason(Heap h, uint32_t fid):
    cdef uint32_t idx = fid & FUNCREF_INDEX_MASK
    if fid == 0:
        return "null funcref where a function is needed"
    if h.base == NULL:
        return f"funcref {fid:#x}: the heap is closed"
    if idx == 0 or idx >= h.fn_n:
        return f"funcref {fid:#x} is not an id of this heap's function table"
    if h.fn[idx].type_index == TYPE_INDEX_NONE:
        return f"funcref {fid:#x} is stale: its entry was reclaimed"
    return f"funcref {fid:#x} is stale: its entry was reclaimed and reused"


cdef int fn_mark(Heap h, uint32_t fid, gcref_t where) except -1 nogil:
    cdef uint32_t idx
    if fid == 0:
        return 0
    if fn_valid(h, fid):
        h.fn[fid & FUNCREF_INDEX_MASK].marked = 1
        return 0
    if GC_ZEAL:
        with gil:
            raise HeapCorruptionError(f"offset {where}: funcref slot holds an invalid id "
                                      f"{fid:#x}")
    # Release: an id that no entry answers to (a corrupt slot) keeps nothing alive, but keep
    # an entry whose index it names: reusing that index is never wrong.
    idx = fid & FUNCREF_INDEX_MASK
    if idx < h.fn_n:
        h.fn[idx].marked = 1
    return 0


cdef uint8_t fn_slots_of(Heap h, uint32_t type_index) noexcept nogil:
    """1 if objects of this (held) type have funcref slots, else 0."""
    cdef const TypeInfo* ti = h.types[type_index]
    cdef uint32_t i
    for i in range(ti.nfields):
        if field_is_funcref(&ti.fields[i]):
            return 1
    return 0


cdef Py_ssize_t fn_reclaim(Heap h) except -1 nogil:
    """Free every entry that is unpinned and held by no live object's field."""
    cdef uint32_t i, length
    cdef size_t g
    cdef gcref_t r
    cdef ObjectHeader* hdr
    cdef const TypeInfo* ti
    cdef uint32_t kind
    cdef uint8_t* has_slots = NULL     # per held type: 0 unknown, 1 none, 2 some
    cdef Py_ssize_t freed = 0
    if h.fn_live == 0 or h.base == NULL:
        return 0
    if h.in_cascade or h.sweeping:
        with gil:
            raise DrcError("cannot reclaim function-table entries while objects are freed")
    for i in range(1, h.fn_n):
        h.fn[i].marked = h.fn[i].pins != 0
    has_slots = <uint8_t*>calloc(h.ntypes + 1, 1)
    if has_slots == NULL:
        with gil:
            raise MemoryError()
    try:
        g = heap_next_object(h, 1)
        while g < h.fl.end:
            r = <gcref_t>(g << GRANULE_SHIFT)
            hdr = hdr_of(h, r)
            kind = hdr.kind_bits & KIND_MASK
            if (kind == KIND_STRUCT or kind == KIND_ARRAY) and hdr.type_index < h.ntypes:
                if has_slots[hdr.type_index] == 0:
                    has_slots[hdr.type_index] = 1 + fn_slots_of(h, hdr.type_index)
                if has_slots[hdr.type_index] == 2:
                    ti = h.types[hdr.type_index]
                    if kind == KIND_STRUCT:
                        for i in range(ti.nfields):
                            if field_is_funcref(&ti.fields[i]):
                                fn_mark(h, (<uint32_t*>(h.base + r + ti.fields[i].offset))[0],
                                        r)
                    else:
                        length = (<ArrayHeader*>hdr).length
                        for i in range(length):
                            fn_mark(h, (<uint32_t*>(h.base + r + ti.size))[i], r)
            g = heap_next_object(h, g + granules_of(hdr.object_size))
    finally:
        c_free(has_slots)
    with gil:
        freed = fn_free_unmarked(h)
    return freed


cdef Py_ssize_t fn_free_unmarked(Heap h) except -1:
    cdef uint32_t i
    cdef FuncEntry* e
    cdef Py_ssize_t freed = 0
    dead = []                           # Python targets, released once the table is consistent
    for i in range(1, h.fn_n):
        e = &h.fn[i]
        if e.type_index == TYPE_INDEX_NONE or e.marked:
            continue
        del h.fn_map[(e.type_index, bool(e.is_python), e.target)]
        if e.is_python:
            dead.append(<object><PyObject*>e.target)
            Py_DECREF(<object><PyObject*>e.target)
        e.type_index = TYPE_INDEX_NONE
        e.target = 0
        e.is_python = 0
        e.generation = <uint8_t>(e.generation + 1)
        e.next_free = h.fn_free_head
        h.fn_free_head = i
        h.fn_live -= 1
        freed += 1
    h.fn_reclaimed += freed
    h.fn_reclaim_at = max(<uint32_t>FUNCREF_RECLAIM_MIN, 2 * h.fn_live)
    h.callbacks += 1
    try:
        del dead                        # may run finalizers, which may use this heap again
    finally:
        h.callbacks -= 1
    return freed


cdef int fn_release_all(Heap h) except -1:
    """Drop every entry (close / dealloc): targets are released, the table is freed."""
    cdef uint32_t i
    cdef FuncEntry* table = h.fn
    cdef uint32_t n = h.fn_n
    dead = []
    h.fn = NULL
    h.fn_n = h.fn_cap = h.fn_free_head = h.fn_live = 0
    for i in range(1, n):
        if table[i].type_index != TYPE_INDEX_NONE and table[i].is_python:
            dead.append(<object><PyObject*>table[i].target)
            Py_DECREF(<object><PyObject*>table[i].target)
    c_free(table)
    if h.fn_map is not None:
        h.fn_map.clear()
    del dead
    return 0


cdef object funcref_out(Heap h, uint32_t fid):
    """The Python form of a funcref read from a field: None or a new pinned FuncRef. The id
    is checked in every build (a corrupt slot raises instead of yielding a bad handle)."""
    cdef FuncRef f
    if fid == 0:
        return None
    if not fn_valid(h, fid):
        raise HeapCorruptionError(f"a funcref field holds an invalid id: "
                                  f"{fn_invalid_reason(h, fid)}")
    h.fn[fid & FUNCREF_INDEX_MASK].pins += 1
    f = make_funcref()
    f.heap = h
    f.raw = fid
    return f


cdef uint32_t funcref_arg(Heap h, object v, str what) except? 0xFFFFFFFF:
    """The id of a funcref value (a FuncRef of this heap, or None for null)."""
    cdef FuncRef f
    if v is None:
        return 0
    if type(v) is not FuncRef:
        raise TypeError(f"{what}: expected a FuncRef or None for a funcref, got "
                        f"{type(v).__name__} {v!r}")
    f = <FuncRef>v
    h.check_open()
    if f.heap is not h:
        raise InvalidRefError(f"{what}: {v!r} belongs to another heap")
    if GC_ZEAL:
        h.check_funcref(f.raw, False)
    return f.raw


@cython.final
@cython.no_gc_clear
@cython.auto_pickle(False)
cdef class FuncRef:
    """A function reference: an entry of a heap's function table (an engine func type index
    and the embedder's target). Made by ``Heap.funcref_new`` or read from a funcref field;
    the handle keeps its entry alive. Equal handles name the same entry."""

    def __cinit__(self, *args):
        # Made by __new__ alone, a FuncRef would have no heap for its methods to read.
        claim_private(args, "FuncRef handles are created by Heap methods, not directly")

    def __init__(self, *args, **kwargs):
        raise TypeError("FuncRef handles are created by Heap methods, not directly")

    def __dealloc__(self):
        cdef Heap h = self.heap
        if h is not None and h.base != NULL and fn_valid(h, self.raw):
            h.fn[self.raw & FUNCREF_INDEX_MASK].pins -= 1

    cdef FuncEntry* live_entry(self) except NULL:
        if self.heap is None:
            raise TypeError("this FuncRef was not made by a heap")
        self.heap.check_open()
        if not fn_valid(self.heap, self.raw):
            raise HeapCorruptionError(fn_invalid_reason(self.heap, self.raw))
        return &self.heap.fn[self.raw & FUNCREF_INDEX_MASK]

    @property
    def type_index(self):
        """The engine index of the function's type."""
        return self.live_entry().type_index

    @property
    def target(self):
        """The embedder's target: the Python object given to ``funcref_new``, or the int a
        C caller interned."""
        cdef FuncEntry* e = self.live_entry()
        if e.is_python:
            return <object><PyObject*>e.target
        return e.target

    def __eq__(self, other):
        if type(other) is not FuncRef:
            return NotImplemented
        return (<FuncRef>other).heap is self.heap and (<FuncRef>other).raw == self.raw

    def __hash__(self):
        return hash((id(self.heap), self.raw))

    def __repr__(self):
        cdef FuncEntry* e
        if self.heap is None:
            return "<FuncRef not made by a heap>"
        if self.heap.base == NULL:
            return f"<FuncRef {self.raw:#x} of a closed heap>"
        if not fn_valid(self.heap, self.raw):
            return f"<FuncRef {self.raw:#x} invalid>"
        e = &self.heap.fn[self.raw & FUNCREF_INDEX_MASK]
        target = <object><PyObject*>e.target if e.is_python else e.target
        return f"<FuncRef {self.raw:#x} func ${e.type_index} target {target!r}>"

    def __reduce__(self):
        raise TypeError("FuncRef handles cannot be pickled")


cdef inline FuncRef make_funcref():
    global _making_private
    _making_private = True
    return FuncRef.__new__(FuncRef)
