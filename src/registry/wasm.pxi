# The C reader of a WebAssembly binary's type section, for TypeRegistry.c_register_wasm.
# Included in registry.pyx. It accepts exactly what registry/decode.py accepts, into words
# (words.pxi) in module form: a group count, then each group with module-level type indices.
# Every read is bounds-checked; on any failure it answers -1 and the caller hands the bytes
# to decode.py, which raises the precise MalformedWasmError.

from libc.stdint cimport int64_t


cdef struct _Reader:
    const uint8_t* d
    Py_ssize_t pos
    Py_ssize_t end


cdef inline int _rd_byte(_Reader* r, uint32_t* out) noexcept nogil:
    if r.pos >= r.end:
        return -1
    out[0] = r.d[r.pos]
    r.pos += 1
    return 0


cdef inline int _rd_u32(_Reader* r, uint32_t* out) noexcept nogil:
    # Most counts and indices take one byte.
    if r.pos < r.end and r.d[r.pos] < 0x80:
        out[0] = r.d[r.pos]
        r.pos += 1
        return 0
    return _rd_u32_long(r, out)


cdef int _rd_u32_long(_Reader* r, uint32_t* out) noexcept nogil:
    cdef uint32_t result = 0, b
    cdef int i, shift = 0
    for i in range(5):
        if _rd_byte(r, &b) != 0:
            return -1
        if i == 4 and b & 0x70:
            return -1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            out[0] = result
            return 0
        shift += 7
    return -1


cdef int _rd_s33(_Reader* r, int64_t* out) noexcept nogil:
    cdef int64_t result = 0
    cdef uint32_t b, top
    cdef int i, shift = 0
    for i in range(5):
        if _rd_byte(r, &b) != 0:
            return -1
        result |= (<int64_t>(b & 0x7F)) << shift
        shift += 7
        if not b & 0x80:
            if i == 4:
                # The bits past the 33rd must sign-extend bit 32.
                top = b & 0x70
                if (top != 0 and top != 0x70) or ((top == 0x70) != ((b & 0x10) != 0)):
                    return -1
            if b & 0x40:
                result -= (<int64_t>1) << shift
            out[0] = result
            return 0
    return -1


cdef inline int _rd_count(_Reader* r, uint32_t* out) noexcept nogil:
    """A vector length: each item takes at least a byte, so it cannot exceed what is left."""
    if _rd_u32(r, out) != 0 or out[0] > r.end - r.pos:
        return -1
    return 0


cdef uint32_t _abstract_byte(uint32_t b) noexcept nogil:
    """The HEAP_* code of an abstract heap type's one-byte encoding, or 0."""
    if b == 0x70:
        return HEAP_FUNC
    if b == 0x6F:
        return HEAP_EXTERN
    if b == 0x6E:
        return HEAP_ANY
    if b == 0x6D:
        return HEAP_EQ
    if b == 0x6C:
        return HEAP_I31
    if b == 0x6B:
        return HEAP_STRUCT
    if b == 0x6A:
        return HEAP_ARRAY
    if b == 0x69:
        return HEAP_EXN
    if b == 0x71:
        return HEAP_NONE
    if b == 0x72:
        return HEAP_NOEXTERN
    if b == 0x73:
        return HEAP_NOFUNC
    if b == 0x74:
        return HEAP_NOEXN
    return 0


cdef int _rd_heap(_Reader* r, uint32_t* out) noexcept nogil:
    cdef int64_t v
    cdef uint32_t code
    if r.pos < r.end and r.d[r.pos] == 0x65:         # shared heap types
        return -1
    if _rd_s33(r, &v) != 0:
        return -1
    if v >= 0:
        if v >= HEAP_ABSTRACT_BASE:
            return -1
        out[0] = <uint32_t>v
        return 0
    if v < -0x40:
        return -1
    code = _abstract_byte(<uint32_t>(v & 0x7F))
    if code == 0:
        return -1
    out[0] = code
    return 0


cdef inline int _rd_item(_Reader* r, WordBuf* b, bint storage) noexcept nogil:
    """One value type (a field's storage when `storage`: packed types allowed)."""
    cdef uint32_t byte, heap, code = 0
    if _rd_byte(r, &byte) != 0:
        return -1
    if byte == 0x78 or byte == 0x77:
        if not storage:
            return -1
        code = STORAGE_I8 if byte == 0x78 else STORAGE_I16
    elif byte == 0x7F:
        code = STORAGE_I32
    elif byte == 0x7E:
        code = STORAGE_I64
    elif byte == 0x7D:
        code = STORAGE_F32
    elif byte == 0x7C:
        code = STORAGE_F64
    elif byte == 0x7B:
        code = STORAGE_V128
    if code != 0:
        return _wb_push(b, code)
    if byte == 0x64 or byte == 0x63:
        if _rd_heap(r, &heap) != 0:
            return -1
        if _wb_push(b, STORAGE_REF | (ITEM_NULLABLE if byte == 0x63 else 0)) != 0:
            return -1
        return _wb_push(b, heap)
    heap = _abstract_byte(byte)
    if heap == 0:
        return -1
    if _wb_push(b, STORAGE_REF | ITEM_NULLABLE) != 0:
        return -1
    return _wb_push(b, heap)


cdef int _rd_field(_Reader* r, WordBuf* b) noexcept nogil:
    cdef Py_ssize_t at = b.n
    cdef uint32_t m
    if _rd_item(r, b, True) != 0 or _rd_byte(r, &m) != 0 or m > 1:
        return -1
    if m:
        b.w[at] |= ITEM_MUTABLE
    return 0


cdef int _rd_subtype(_Reader* r, WordBuf* b) noexcept nogil:
    cdef uint32_t byte, count, sup = 0, head = 0, k, nres
    cdef Py_ssize_t at, at_nres
    if _rd_byte(r, &byte) != 0:
        return -1
    if byte == 0x50 or byte == 0x4F:
        if byte == 0x4F:
            head |= HEAD_FINAL
        if _rd_count(r, &count) != 0 or count > 1:
            return -1
        if count:
            head |= HEAD_SUPER
            if _rd_u32(r, &sup) != 0 or sup >= HEAP_ABSTRACT_BASE:
                return -1
        if _rd_byte(r, &byte) != 0:
            return -1
    else:
        head |= HEAD_FINAL
    at = b.n
    if _wb_push(b, head) != 0:
        return -1
    if head & HEAD_SUPER and _wb_push(b, sup) != 0:
        return -1
    if byte == 0x5F:
        b.w[at] |= COMPOSITE_STRUCT
        if _rd_count(r, &count) != 0 or _wb_push(b, count) != 0:
            return -1
        for k in range(count):
            if _rd_field(r, b) != 0:
                return -1
        return 0
    if byte == 0x5E:
        b.w[at] |= COMPOSITE_ARRAY
        return _rd_field(r, b)
    if byte == 0x60:
        b.w[at] |= COMPOSITE_FUNC
        if _rd_count(r, &count) != 0 or _wb_push(b, count) != 0:
            return -1
        at_nres = b.n
        if _wb_push(b, 0) != 0:
            return -1
        for k in range(count):
            if _rd_item(r, b, False) != 0:
                return -1
        if _rd_count(r, &nres) != 0:
            return -1
        b.w[at_nres] = nres
        for k in range(nres):
            if _rd_item(r, b, False) != 0:
                return -1
        return 0
    return -1


cdef int _rd_type_section(_Reader* r, WordBuf* b, Py_ssize_t* ntypes) noexcept nogil:
    cdef uint32_t groups, members, g, k
    if _rd_count(r, &groups) != 0 or _wb_push(b, groups) != 0:
        return -1
    for g in range(groups):
        if r.pos < r.end and r.d[r.pos] == 0x4E:
            r.pos += 1
            if _rd_count(r, &members) != 0:
                return -1
        else:
            members = 1
        if _wb_push(b, members) != 0:
            return -1
        for k in range(members):
            if _rd_subtype(r, b) != 0:
                return -1
        ntypes[0] += members
    return 0 if r.pos == r.end else -1


cdef int _decode_module(const uint8_t* data, Py_ssize_t size, WordBuf* out,
                        Py_ssize_t* ntypes) noexcept nogil:
    """The type section of the binary data[0:size] into `out` (module form); 0 or -1."""
    cdef _Reader r
    cdef _Reader body
    cdef uint32_t section, length
    cdef bint found = False
    ntypes[0] = 0
    if size < 8 or data[0] != 0 or data[1] != 0x61 or data[2] != 0x73 or data[3] != 0x6D:
        return -1
    if data[4] != 1 or data[5] != 0 or data[6] != 0 or data[7] != 0:
        return -1
    r.d = data
    r.pos = 8
    r.end = size
    while r.pos < r.end:
        if _rd_byte(&r, &section) != 0 or _rd_u32(&r, &length) != 0:
            return -1
        if length > r.end - r.pos:
            return -1
        if section == 1:
            if found:
                return -1
            found = True
            body.d = data
            body.pos = r.pos
            body.end = r.pos + length
            # A byte of the section makes at most two words: one allocation for them all.
            if _wb_reserve(out, 2 * <Py_ssize_t>length + 2) != 0:
                return -1
            if _rd_type_section(&body, out, ntypes) != 0:
                return -1
        r.pos += length
    if not found:
        return _wb_push(out, 0)
    return 0


cdef int _canonical_words(const uint32_t* w, Py_ssize_t end, Py_ssize_t start,
                          const uint32_t* mod2eng, WordBuf* out, Py_ssize_t* offs,
                          WordBuf* refs) noexcept nogil:
    """Rewrite the module-form group at w[0] (its first type is module index `start`) into
    hash-consing form in `out`: its own types become WORD_REL | i, earlier ones their engine
    index mod2eng[i]. offs and refs as for _scan_group. Returns the group's length in words,
    or -1 on malformed words or a broken index rule (a supertype that is not an earlier type,
    a reference past the group), which the Python path then reports."""
    cdef Py_ssize_t length = _scan_group(w, end, offs, refs), j, k
    cdef uint32_t n, h
    if length < 0 or _wb_reserve(out, length) != 0:
        return -1
    n = w[0]
    memcpy(out.w, w, length * sizeof(uint32_t))
    out.n = length
    for j in range(n):
        if w[offs[j]] & HEAD_SUPER:
            h = w[offs[j] + 1]
            if h >= start + j:
                return -1
            out.w[offs[j] + 1] = mod2eng[h] if h < start else WORD_REL | <uint32_t>(h - start)
    for k in range(refs.n):
        h = w[refs.w[k]]
        if h >= HEAP_ABSTRACT_BASE:
            continue
        if h >= start + n:
            return -1
        out.w[refs.w[k]] = mod2eng[h] if h < start else WORD_REL | <uint32_t>(h - start)
    return length
