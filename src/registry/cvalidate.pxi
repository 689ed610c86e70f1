# The Wasm GC type rules on a rec group's words (words.pxi), for groups registered from
# .wasm bytes. Included in registry.pyx. The same rules as validate.pxi, which checks groups
# of Python values and writes the error messages: this one only answers "valid" or "not
# known to be valid", and the caller hands any group of the second kind to the Python path,
# which raises the precise InvalidTypeError (or, if this code was too strict, registers it).


# A type's items as the checks read them: words of some group, and how its WORD_REL heap
# words translate (NULL: they name members of the group being validated, and stay).
cdef struct _Side:
    const uint32_t* w
    const uint32_t* rel


cdef struct _Val:
    uint32_t code
    uint32_t heap
    bint mutable
    bint nullable


cdef struct _Group:
    TypeInfo*** chunks                    # the registry's record table
    const uint32_t* w
    const Py_ssize_t* offs
    uint32_t* depth


cdef inline const TypeInfo* _record(const _Group* g, uint32_t index) noexcept:
    cdef TypeInfo** chunk
    if index >= MAX_TYPES:
        return NULL
    chunk = g.chunks[index >> CHUNK_BITS]
    return NULL if chunk == NULL else chunk[index & (CHUNK_SIZE - 1)]


cdef inline Py_ssize_t _read_val(const _Side* s, Py_ssize_t p, _Val* v) noexcept:
    cdef uint32_t word = s.w[p]
    v.code = word & ITEM_CODE
    v.mutable = (word & ITEM_MUTABLE) != 0
    v.nullable = (word & ITEM_NULLABLE) != 0
    v.heap = 0
    if v.code != STORAGE_REF:
        return p + 1
    v.heap = s.w[p + 1]
    if s.rel != NULL and _is_rel(v.heap):
        v.heap = s.rel[v.heap - WORD_REL]
    return p + 2


cdef int _kind_of(const _Group* g, uint32_t h) noexcept:
    """A concrete heap word's composite kind; 0 if it is not a registered type."""
    cdef const TypeInfo* rec
    if _is_rel(h):
        return g.w[g.offs[h - WORD_REL]] & HEAD_KIND
    rec = _record(g, h)
    return 0 if rec == NULL else rec.kind


cdef bint _heap_sub(const _Group* g, uint32_t a, uint32_t b) noexcept:
    cdef int k
    cdef uint32_t da, db
    cdef const TypeInfo* rec
    if a >= HEAP_ABSTRACT_BASE:
        if b >= HEAP_ABSTRACT_BASE:
            return _abstract_sub(a, b)
        k = _kind_of(g, b)
        return k != 0 and a == (HEAP_NOFUNC if k == COMPOSITE_FUNC else HEAP_NONE)
    k = _kind_of(g, a)
    if k == 0:
        return False
    if b >= HEAP_ABSTRACT_BASE:
        if k == COMPOSITE_FUNC:
            return b == HEAP_FUNC
        return (b == HEAP_ANY or b == HEAP_EQ
                or b == (HEAP_STRUCT if k == COMPOSITE_STRUCT else HEAP_ARRAY))
    if a == b:
        return True
    # Declared subtyping: b must be a's ancestor at b's depth.
    if _is_rel(b):
        db = g.depth[b - WORD_REL]
    else:
        rec = _record(g, b)
        if rec == NULL:
            return False
        db = rec.depth
    while _is_rel(a):
        da = g.depth[a - WORD_REL]
        if da <= db:
            return a == b
        a = g.w[g.offs[a - WORD_REL] + 1]
    rec = _record(g, a)
    return rec != NULL and rec.depth >= db and rec.display[db] == b


cdef bint _val_sub(const _Group* g, const _Val* a, const _Val* b) noexcept:
    if a.code == STORAGE_REF and b.code == STORAGE_REF:
        if a.nullable and not b.nullable:
            return False
        return _heap_sub(g, a.heap, b.heap)
    return a.code == b.code


cdef bint _field_fits(const _Group* g, const _Val* a, const _Val* b) noexcept:
    """Whether field `a` of a subtype may stand for field `b` of its supertype."""
    if a.mutable != b.mutable:
        return False
    if a.mutable:
        return (a.code == b.code and a.nullable == b.nullable and a.heap == b.heap)
    if a.code == STORAGE_I8 or a.code == STORAGE_I16:
        return a.code == b.code
    return _val_sub(g, a, b)


cdef bint _func_items_ok(const uint32_t* w, Py_ssize_t p, Py_ssize_t count) noexcept:
    cdef Py_ssize_t k
    cdef uint32_t code
    for k in range(count):
        code = w[p] & ITEM_CODE
        if code == STORAGE_I8 or code == STORAGE_I16:
            return False
        p += 2 if code == STORAGE_REF else 1
    return True


cdef bint _extends(const _Group* g, Py_ssize_t j, const _Side* sup, Py_ssize_t sp) noexcept:
    """Whether type j of the group matches its supertype, whose head is sup.w[sp]."""
    cdef _Side me
    cdef _Val a, b
    cdef Py_ssize_t p = g.offs[j] + 2, k, n_sub, n_sup, nres
    cdef uint32_t head = g.w[g.offs[j]], shead = sup.w[sp]
    me.w = g.w
    me.rel = NULL
    if shead & HEAD_FINAL or (shead & HEAD_KIND) != (head & HEAD_KIND):
        return False
    sp += 2 if shead & HEAD_SUPER else 1
    if (head & HEAD_KIND) == COMPOSITE_STRUCT:
        n_sub = g.w[p]
        n_sup = sup.w[sp]
        if n_sub < n_sup:
            return False
        p += 1
        sp += 1
        for k in range(n_sup):
            p = _read_val(&me, p, &a)
            sp = _read_val(sup, sp, &b)
            if not _field_fits(g, &a, &b):
                return False
        return True
    if (head & HEAD_KIND) == COMPOSITE_ARRAY:
        _read_val(&me, p, &a)
        _read_val(sup, sp, &b)
        return _field_fits(g, &a, &b)
    n_sub = g.w[p]
    nres = g.w[p + 1]
    if n_sub != sup.w[sp] or nres != sup.w[sp + 1]:
        return False
    p += 2
    sp += 2
    for k in range(n_sub):                      # params are contravariant
        p = _read_val(&me, p, &a)
        sp = _read_val(sup, sp, &b)
        if not _val_sub(g, &b, &a):
            return False
    for k in range(nres):                       # results are covariant
        p = _read_val(&me, p, &a)
        sp = _read_val(sup, sp, &b)
        if not _val_sub(g, &a, &b):
            return False
    return True


cdef bint _c_group_valid(TypeRegistry reg, const uint32_t* w, const Py_ssize_t* offs) except -1:
    """Whether the group (hash-consing form, a hash-consing miss) is valid."""
    cdef uint32_t n = w[0], head, s
    cdef Py_ssize_t j, k, m, sp
    cdef _Group g
    cdef _Side side
    cdef uint32_t* rel = NULL
    cdef Py_ssize_t* soffs = NULL
    cdef const TypeInfo* rec
    cdef _Entry e
    cdef bint ok = True
    cdef uint32_t depth_small[SMALL_GROUP + 1]
    cdef uint32_t* depth_own = NULL
    g.chunks = reg._chunks
    g.w = w
    g.offs = offs
    g.depth = depth_small
    if n > SMALL_GROUP:
        g.depth = depth_own = <uint32_t*>malloc((n + 1) * sizeof(uint32_t))
        if g.depth == NULL:
            raise MemoryError()
    try:
        for j in range(n):
            head = w[offs[j]]
            g.depth[j] = 0
            if not head & HEAD_SUPER:
                continue
            s = w[offs[j] + 1]
            if _is_rel(s):
                if s - WORD_REL >= <uint32_t>j:
                    return False
                g.depth[j] = g.depth[s - WORD_REL] + 1
            else:
                rec = _record(&g, s)
                if rec == NULL:
                    return False
                g.depth[j] = rec.depth + 1
            if g.depth[j] > MAX_SUBTYPING_DEPTH:
                return False
        for j in range(n):
            head = w[offs[j]]
            if (head & HEAD_KIND) == COMPOSITE_FUNC:
                k = offs[j] + (4 if head & HEAD_SUPER else 3)
                if not _func_items_ok(w, k, <Py_ssize_t>w[k - 2] + w[k - 1]):
                    return False
            if not head & HEAD_SUPER:
                continue
            s = w[offs[j] + 1]
            if _is_rel(s):
                side.w = w
                side.rel = NULL
                if not _extends(&g, j, &side, offs[s - WORD_REL]):
                    return False
                continue
            # A registered supertype: read its group's words, with its members' engine
            # indices for the references among them.
            e = <_Entry>reg._entries[s]
            m = len(e.indices)
            rel = <uint32_t*>malloc((m + 1) * sizeof(uint32_t))
            soffs = <Py_ssize_t*>malloc((m + 1) * sizeof(Py_ssize_t))
            if rel == NULL or soffs == NULL:
                raise MemoryError()
            sp = -1
            for k in range(m):
                rel[k] = e.indices[k]
                if rel[k] == s:
                    sp = k
            side.w = <const uint32_t*>PyBytes_AS_STRING(e.gkey.words)
            side.rel = rel
            if sp < 0 or _scan_group(side.w, PyBytes_GET_SIZE(e.gkey.words) // 4, soffs,
                                     NULL) < 0:
                raise RegistryError(f"type {s}: its group's words are inconsistent")
            ok = _extends(&g, j, &side, soffs[sp])
            free(rel)
            free(soffs)
            rel = NULL
            soffs = NULL
            if not ok:
                return False
        return True
    finally:
        free(depth_own)
        free(rel)
        free(soffs)
