# A new registry entry from a validated group's words (words.pxi): engine indices, the C
# records (layouts, displays), trampoline groups and cross-group edges. Both registration
# paths end here, so a group gets the same records whichever way it arrives. Included in
# registry.pyx; runs under the registry lock.

cdef inline uint8_t _code_size(uint32_t code) noexcept nogil:
    """Bytes a storage code takes in the heap (refs are 32-bit)."""
    if code == STORAGE_I8:
        return 1
    if code == STORAGE_I16:
        return 2
    if code == STORAGE_I64 or code == STORAGE_F64:
        return 8
    if code == STORAGE_V128:
        return 16
    return 4


cdef inline const TypeInfo* _member_or_record(TypeRegistry reg, TypeInfo** recs, uint32_t h):
    return recs[h - WORD_REL] if _is_rel(h) else reg.type_info(h)


cdef int _fill_item(TypeRegistry reg, FieldInfo* fi, const uint32_t* w, Py_ssize_t p,
                    const uint32_t* kinds, tuple indices) except -1:
    cdef uint32_t word = w[p], h, top
    cdef const TypeInfo* rec
    fi.storage = word & ITEM_CODE
    fi.size = _code_size(fi.storage)
    fi.mutable = (word & ITEM_MUTABLE) != 0
    fi.is_gc_ref = 0
    if fi.storage != STORAGE_REF:
        return 0
    h = w[p + 1]
    fi.ref_nullable = (word & ITEM_NULLABLE) != 0
    if h >= HEAP_ABSTRACT_BASE:
        fi.ref_heap = h
        top = _top_code(h)
        fi.is_gc_ref = top != HEAP_FUNC and h != HEAP_I31
    elif _is_rel(h):
        fi.ref_heap = indices[h - WORD_REL]
        fi.is_gc_ref = kinds[h - WORD_REL] != COMPOSITE_FUNC
    else:
        rec = reg.type_info(h)
        if rec == NULL:
            raise UnknownTypeError(f"type index {h} is not registered")
        fi.ref_heap = h
        fi.is_gc_ref = rec.kind != COMPOSITE_FUNC
    return 0


cdef TypeInfo* _words_record(TypeRegistry reg, const uint32_t* w, Py_ssize_t at,
                             uint32_t index, TypeInfo** recs, const uint32_t* kinds,
                             tuple indices) except NULL:
    """One malloc block: TypeInfo, then FieldInfo[nfields], display[], gc_ref_offsets[]."""
    cdef uint32_t head = w[at], sup, k, nf = 0, ngc = 0, depth = 0
    cdef Py_ssize_t p = at + 1
    cdef const TypeInfo* parent = NULL
    cdef uint64_t size, offset, align, fsize
    cdef TypeInfo* rec
    cdef FieldInfo* fields
    cdef uint32_t* disp
    cdef uint32_t* gcoffs
    if head & HEAD_SUPER:
        sup = w[p]
        p += 1
        if _is_rel(sup) and recs[sup - WORD_REL] == NULL:
            raise RegistryError(f"type {index}: its supertype is not an earlier type")
        parent = _member_or_record(reg, recs, sup)
        if parent == NULL:
            raise UnknownTypeError(f"type index {sup} is not registered")
        depth = parent.depth + 1
    if (head & HEAD_KIND) == COMPOSITE_STRUCT:
        nf = w[p]
        p += 1
        ngc = nf      # upper bound; the block may carry a few unused words
    elif (head & HEAD_KIND) == COMPOSITE_ARRAY:
        nf = 1
    rec = <TypeInfo*>calloc(1, sizeof(TypeInfo) + nf * sizeof(FieldInfo)
                            + (depth + 1 + ngc) * sizeof(uint32_t))
    if rec == NULL:
        raise MemoryError()
    fields = <FieldInfo*>(rec + 1)
    disp = <uint32_t*>(fields + nf)
    gcoffs = disp + depth + 1
    rec.index = index
    rec.kind = head & HEAD_KIND
    rec.is_final = (head & HEAD_FINAL) != 0
    rec.depth = depth
    if parent != NULL:
        memcpy(disp, parent.display, depth * sizeof(uint32_t))
    disp[depth] = index
    rec.display = disp
    rec.trampoline = TYPE_INDEX_NONE
    try:
        if rec.kind == COMPOSITE_STRUCT:
            size = DRC_HEADER_SIZE
            align = DRC_HEADER_ALIGN
            ngc = 0
            for k in range(nf):
                if w[p] & ITEM_CODE == STORAGE_REF:
                    _fill_item(reg, &fields[k], w, p, kinds, indices)
                    p += 2
                else:                   # numeric storage: no heap type to look at
                    fields[k].storage = w[p] & ITEM_CODE
                    fields[k].size = _code_size(fields[k].storage)
                    fields[k].mutable = (w[p] & ITEM_MUTABLE) != 0
                    p += 1
                fsize = fields[k].size
                offset = (size + fsize - 1) & ~(fsize - 1)
                if fsize > align:
                    align = fsize
                size = offset + fsize
                if size > 0xFFFFFFFF:
                    raise InvalidTypeError(f"type {index}: the struct does not fit in a "
                                           "32-bit heap (rule: object size limit)")
                fields[k].offset = <uint32_t>offset
                if fields[k].is_gc_ref:
                    gcoffs[ngc] = <uint32_t>offset
                    ngc += 1
            # Rounded to the struct's alignment (not to the allocator's 16).
            size = (size + align - 1) & ~(align - 1)
            if size > 0xFFFFFFFF:
                raise InvalidTypeError(f"type {index}: the struct does not fit in a "
                                       "32-bit heap (rule: object size limit)")
            rec.size = <uint32_t>size
            rec.align = <uint32_t>align
            rec.nfields = nf
            rec.fields = fields
            rec.n_gc_refs = ngc
            rec.gc_ref_offsets = gcoffs if ngc else NULL
        elif rec.kind == COMPOSITE_ARRAY:
            _fill_item(reg, &fields[0], w, p, kinds, indices)
            fields[0].offset = 0
            fsize = fields[0].size
            rec.elem_size = <uint32_t>fsize
            rec.size = _align_up(DRC_ARRAY_LENGTH_OFFSET + 4, <uint32_t>fsize)
            rec.align = <uint32_t>(fsize if fsize > DRC_HEADER_ALIGN else DRC_HEADER_ALIGN)
            rec.nfields = 1
            rec.fields = fields
            rec.elems_are_gc_refs = fields[0].is_gc_ref
            rec.n_gc_refs = fields[0].is_gc_ref
            rec.gc_ref_offsets = NULL
    except BaseException:
        free(rec)
        raise
    return rec


cdef bytes _trampoline_words(TypeRegistry reg, const uint32_t* w, Py_ssize_t at,
                             const uint32_t* kinds):
    """The singleton group of func type w[at]'s trampoline type: every reference param and
    result becomes (ref null <top>), the rest stays (Wasmtime's trampoline types); None if
    the type is already in that form, final and without a supertype (its own trampoline)."""
    cdef uint32_t head = w[at], h, top, word
    cdef Py_ssize_t p = at + (2 if head & HEAD_SUPER else 1), k, items
    cdef bint same = (head & HEAD_FINAL) != 0 and not head & HEAD_SUPER
    cdef WordBuf b
    cdef const TypeInfo* rec
    b.w = NULL
    b.n = b.cap = 0
    try:
        items = <Py_ssize_t>w[p] + w[p + 1]
        _push_word(&b, 1)
        _push_word(&b, COMPOSITE_FUNC | HEAD_FINAL)
        _push_word(&b, w[p])
        _push_word(&b, w[p + 1])
        p += 2
        for k in range(items):
            word = w[p]
            if word & ITEM_CODE != STORAGE_REF:
                _push_word(&b, word)
                p += 1
                continue
            h = w[p + 1]
            if h >= HEAP_ABSTRACT_BASE:
                top = _top_code(h)
            elif _is_rel(h):
                top = HEAP_FUNC if kinds[h - WORD_REL] == COMPOSITE_FUNC else HEAP_ANY
            else:
                rec = reg.type_info(h)
                if rec == NULL:
                    raise UnknownTypeError(f"type index {h} is not registered")
                top = HEAP_FUNC if rec.kind == COMPOSITE_FUNC else HEAP_ANY
            if not (word & ITEM_NULLABLE) or h != top:
                same = False
            _push_word(&b, STORAGE_REF | ITEM_NULLABLE)
            _push_word(&b, top)
            p += 2
        if same:
            return None
        return PyBytes_FromStringAndSize(<char*>b.w, b.n * sizeof(uint32_t))
    finally:
        free(b.w)


cdef _Entry _entry_from_words(TypeRegistry reg, _GroupKey key, const Py_ssize_t* offs_in,
                              const WordBuf* refs_in):
    """Register the validated group `key` (a hash-consing miss): a new entry holding one
    registration. `offs_in` and `refs_in` are the group's _scan_group results, or NULL to
    have them computed here. On failure nothing stays allocated or counted."""
    cdef const uint32_t* w = <const uint32_t*>PyBytes_AS_STRING(key.words)
    cdef Py_ssize_t nw = PyBytes_GET_SIZE(key.words) // 4, j, k
    cdef uint32_t n = w[0] if nw else 0
    cdef Py_ssize_t offs_small[SMALL_GROUP + 1]
    cdef uint32_t kinds_small[SMALL_GROUP + 1]
    cdef TypeInfo* recs_small[SMALL_GROUP + 1]
    cdef Py_ssize_t* offs = offs_small
    cdef Py_ssize_t* offs_own = NULL
    cdef uint32_t* kinds = kinds_small
    cdef TypeInfo** recs = recs_small
    cdef bint small = n <= SMALL_GROUP
    cdef WordBuf refs
    cdef const WordBuf* rp = refs_in
    cdef list indices = []
    cdef list tramps = None
    cdef tuple itup
    cdef _Entry e, t
    cdef uint32_t h
    refs.w = NULL
    refs.n = refs.cap = 0
    if not small:
        kinds = <uint32_t*>malloc((n + 1) * sizeof(uint32_t))
        recs = <TypeInfo**>malloc((n + 1) * sizeof(TypeInfo*))
        if offs_in == NULL:
            offs = offs_own = <Py_ssize_t*>malloc((n + 1) * sizeof(Py_ssize_t))
    try:
        if offs == NULL or kinds == NULL or recs == NULL:
            raise MemoryError()
        for j in range(n):
            recs[j] = NULL
        if offs_in != NULL:
            offs = <Py_ssize_t*>offs_in
        else:
            rp = &refs
            if _scan_group(w, nw, offs, &refs) != nw:
                raise RegistryError("a rec group's words are inconsistent")
        try:
            for j in range(n):
                if reg._free:
                    idx = reg._free.pop()
                else:
                    idx = len(reg._entries)
                    if idx >= MAX_TYPES:
                        raise RegistryError(f"the registry is full ({MAX_TYPES} types)")
                    reg._entries.append(None)
                    reg._types.append(None)
                indices.append(idx)
                kinds[j] = w[offs[j]] & HEAD_KIND
            itup = tuple(indices)
            for j in range(n):
                recs[j] = _words_record(reg, w, offs[j], indices[j], recs, kinds, itup)
                reg._set_record_chunk(indices[j])
                if kinds[j] == COMPOSITE_FUNC:
                    tkey = _trampoline_words(reg, w, offs[j], kinds)
                    if tkey is None:
                        recs[j].trampoline = indices[j]
                    else:
                        tkey = _group_key(tkey)
                        t = reg._wmap.get(tkey)
                        if t is None:
                            t = _entry_from_words(reg, tkey, NULL, NULL)
                        else:
                            t.registrations += 1
                        if tramps is None:
                            tramps = []
                        tramps.append(t)
                        recs[j].trampoline = t.indices[0]
        except BaseException:
            for j in range(n):
                free(recs[j])
            for t in tramps or ():
                reg._decref(t)
            reg._free.extend(reversed(indices))
            raise
        # Commit: nothing below allocates anything that can fail in practice.
        e = _Entry.__new__(_Entry)
        e.key = None
        e.gkey = key
        e.indices = itup
        e.registrations = 1
        e.trampolines = () if tramps is None else tuple(tramps)
        out = None
        for j in range(n):
            if w[offs[j]] & HEAD_SUPER and w[offs[j] + 1] < MAX_TYPES:
                if out is None:
                    out = []
                out.append(reg._entries[w[offs[j] + 1]])
        for k in range(rp.n):
            h = w[rp.w[k]]
            if h < MAX_TYPES:
                if out is None:
                    out = []
                out.append(reg._entries[h])
        e.out = () if out is None else tuple(out)
        for t in e.out:
            t.registrations += 1
        for j in range(n):
            reg._entries[indices[j]] = e
            reg._set_record(indices[j], recs[j])
        reg._wmap[key] = e
        reg._count += n
        return e
    finally:
        if not small:
            free(offs_own)
            free(kinds)
            free(recs)
        free(refs.w)
