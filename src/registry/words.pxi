# Rec groups as flat arrays of uint32 words: the hash-consing key that the Python path
# (RecGroup values) and the C path (.wasm bytes) share, and the stored form from which a
# group's records and, lazily, its Python values are built. Included in registry.pyx.
#
# One group:
#   n                                      its number of types, then per type:
#   head = kind | final << 2 | has_super << 3
#   [supertype]                            a heap word, if has_super
#   struct: nfields, then nfields items;   array: one item;
#   func: nparams, nresults, then the params' and the results' items
# An item is `storage code | mutable << 4 | nullable << 5`, followed by a heap word when the
# code is STORAGE_REF. A heap word is an abstract HEAP_* code (>= HEAP_ABSTRACT_BASE), an
# engine index (< MAX_TYPES), or WORD_REL | i for member i of the group itself. Equal words
# are equal groups in hash-consing form, so the words are the key of the registry's map.
#
# The decoder produces the same layout in module form (heap words are module-level type
# indices, groups one after another behind a group count); `_canonical_words` rewrites one
# group of it into this form.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport malloc, realloc
from libc.string cimport memcpy

cdef enum:
    WORD_REL = 0x80000000
    HEAD_KIND = 3
    HEAD_FINAL = 4
    HEAD_SUPER = 8
    ITEM_CODE = 0xF
    ITEM_MUTABLE = 0x10
    ITEM_NULLABLE = 0x20
    # Scratch arrays for groups (and modules) up to this many types live on the C stack.
    SMALL_GROUP = 32


# A growable word array; `w` is malloc'd (NULL until the first push) and owned by its user.
cdef struct WordBuf:
    uint32_t* w
    Py_ssize_t n
    Py_ssize_t cap


cdef int _wb_reserve(WordBuf* b, Py_ssize_t cap) noexcept nogil:
    """Make room for `cap` words in all; -1 when out of memory (the buffer is unchanged)."""
    cdef uint32_t* grown
    if cap <= b.cap:
        return 0
    grown = <uint32_t*>realloc(b.w, cap * sizeof(uint32_t))
    if grown == NULL:
        return -1
    b.w = grown
    b.cap = cap
    return 0


cdef inline int _wb_push(WordBuf* b, uint32_t x) noexcept nogil:
    """Append one word; -1 when out of memory (the buffer is left as it was)."""
    if b.n == b.cap and _wb_reserve(b, 64 if b.cap == 0 else 2 * b.cap) != 0:
        return -1
    b.w[b.n] = x
    b.n += 1
    return 0


cdef inline bint _is_rel(uint32_t h) noexcept nogil:
    return h >= WORD_REL and h < HEAP_ABSTRACT_BASE


cdef Py_ssize_t _scan_group(const uint32_t* w, Py_ssize_t end, Py_ssize_t* offs,
                            WordBuf* refs) noexcept nogil:
    """Walk the group at w[0]: offs[j] is type j's head (offs[n] one past the group) and,
    when `refs` is not NULL, the positions of every item's heap word are appended to it
    (supertypes are not items). Returns one past the group, or -1 if the words run past
    `end`, hold an unknown code, or `refs` cannot grow."""
    cdef Py_ssize_t p = 1, j, k, items
    cdef uint32_t n, head, code
    if end < 1:
        return -1
    n = w[0]
    for j in range(n):
        if p >= end:
            return -1
        offs[j] = p
        head = w[p]
        p += 1
        if head & HEAD_SUPER:
            p += 1
        code = head & HEAD_KIND
        if code == COMPOSITE_STRUCT:
            if p >= end:
                return -1
            items = w[p]
            p += 1
        elif code == COMPOSITE_ARRAY:
            items = 1
        elif code == COMPOSITE_FUNC:
            if p + 1 >= end:
                return -1
            items = <Py_ssize_t>w[p] + <Py_ssize_t>w[p + 1]
            p += 2
        else:
            return -1
        for k in range(items):
            if p >= end:
                return -1
            code = w[p] & ITEM_CODE
            if code == STORAGE_REF:
                if p + 1 >= end:
                    return -1
                if refs != NULL and _wb_push(refs, <uint32_t>(p + 1)) != 0:
                    return -1
                p += 2
            elif STORAGE_I8 <= code <= STORAGE_V128:
                p += 1
            else:
                return -1
    if p > end:
        return -1
    offs[n] = p
    return p


# ---- the key ---------------------------------------------------------------------------------

@cython.final
@cython.auto_pickle(False)
@cython.no_gc
cdef class _GroupKey:
    """A group's words as the registry's hash-consing key. It has a hash of its own: bytes
    hash with siphash, which over a group's few hundred bytes cost more than the rest of a
    hash-consing hit."""
    cdef bytes words
    cdef Py_hash_t _hash

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        if type(other) is not _GroupKey:
            return NotImplemented
        return (self._hash == (<_GroupKey>other)._hash
                and self.words == (<_GroupKey>other).words)


cdef _GroupKey _group_key(bytes words):
    cdef _GroupKey k = _GroupKey.__new__(_GroupKey)
    cdef const uint32_t* w = <const uint32_t*>PyBytes_AS_STRING(words)
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(words) // 4
    # 64-bit multiply-xorshift mixing of each word (constants of splitmix64 / murmur3)
    cdef uint64_t mul = (<uint64_t>0xFF51AFD7 << 32) | 0xED558CCD
    cdef uint64_t h = ((<uint64_t>0x9E3779B9 << 32) | 0x7F4A7C15) ^ <uint64_t>n
    for i in range(n):
        h = (h ^ w[i]) * mul
        h ^= h >> 32
    k.words = words
    k._hash = <Py_hash_t>h
    if k._hash == -1:
        k._hash = -2
    return k


# ---- RecGroup (hash-consing form) -> words ---------------------------------------------------

cdef int _push_heap(WordBuf* b, object h) except -1:
    cdef Py_ssize_t i
    if type(h) is AbstractHeapType:
        return _push_word(b, (<AbstractHeapType>h).code)
    i = h
    if i < 0:
        if -1 - i >= MAX_TYPES:
            raise RegistryError(f"group-relative index {i} is out of range")
        return _push_word(b, WORD_REL | <uint32_t>(-1 - i))
    if i >= MAX_TYPES:
        raise RegistryError(f"engine index {i} is out of range")
    return _push_word(b, <uint32_t>i)


cdef int _push_word(WordBuf* b, uint32_t x) except -1:
    if _wb_push(b, x) != 0:
        raise MemoryError()
    return 0


cdef int _push_item(WordBuf* b, object s, bint mutable) except -1:
    cdef uint32_t flags = ITEM_MUTABLE if mutable else 0
    if type(s) is RefType:
        if (<RefType>s).nullable:
            flags |= ITEM_NULLABLE
        _push_word(b, STORAGE_REF | flags)
        return _push_heap(b, (<RefType>s).heap)
    return _push_word(b, <uint32_t>(<StorageType>s).code | flags)


cdef bytes _words_of_group(RecGroup g):
    """The words of a group in hash-consing form (group-relative references are -1 - i)."""
    cdef WordBuf b
    cdef SubType st
    cdef FieldType f
    cdef uint32_t head
    b.w = NULL
    b.n = b.cap = 0
    try:
        _push_word(&b, <uint32_t>len(g.types))
        for st in g.types:
            c = st.composite
            head = <uint32_t>_kind_code(c)
            if st.final:
                head |= HEAD_FINAL
            if st.supertype is not None:
                head |= HEAD_SUPER
            _push_word(&b, head)
            if st.supertype is not None:
                _push_heap(&b, st.supertype)
            if type(c) is StructType:
                _push_word(&b, <uint32_t>len((<StructType>c).fields))
                for f in (<StructType>c).fields:
                    _push_item(&b, f.storage, f.mutable)
            elif type(c) is ArrayType:
                f = (<ArrayType>c).element
                _push_item(&b, f.storage, f.mutable)
            else:
                _push_word(&b, <uint32_t>len((<FuncType>c).params))
                _push_word(&b, <uint32_t>len((<FuncType>c).results))
                for v in (<FuncType>c).params:
                    _push_item(&b, v, False)
                for v in (<FuncType>c).results:
                    _push_item(&b, v, False)
        return PyBytes_FromStringAndSize(<char*>b.w, b.n * sizeof(uint32_t))
    finally:
        free(b.w)


# ---- words -> RecGroup ---------------------------------------------------------------------

cdef tuple _STORAGE_BY_CODE = (None, I8, I16, I32, I64, F32, F64, V128)


cdef object _heap_value(uint32_t h, tuple indices):
    if h >= HEAP_ABSTRACT_BASE:
        return _ABSTRACT[h]
    if h >= WORD_REL:
        return -1 - <Py_ssize_t>(h - WORD_REL) if indices is None else indices[h - WORD_REL]
    return h


cdef object _item_value(const uint32_t* w, Py_ssize_t* p, tuple indices):
    cdef uint32_t word = w[p[0]]
    p[0] += 1
    if word & ITEM_CODE != STORAGE_REF:
        return _STORAGE_BY_CODE[word & ITEM_CODE]
    h = _heap_value(w[p[0]], indices)
    p[0] += 1
    return _mk_ref(h, (word & ITEM_NULLABLE) != 0)


cdef RecGroup _group_of_words(bytes words, tuple indices):
    """The group the words describe: in hash-consing form if `indices` is None, else in
    runtime form (member i's references become indices[i])."""
    cdef const uint32_t* w = <const uint32_t*>PyBytes_AS_STRING(words)
    cdef Py_ssize_t p = 1, j, k, count, nres
    cdef uint32_t n = w[0], head, word
    cdef list types = []
    cdef list items
    for j in range(n):
        head = w[p]
        p += 1
        sup = None
        if head & HEAD_SUPER:
            sup = _heap_value(w[p], indices)
            p += 1
        kind = head & HEAD_KIND
        if kind == COMPOSITE_STRUCT:
            count = w[p]
            p += 1
            items = []
            for k in range(count):
                word = w[p]
                s = _item_value(w, &p, indices)
                items.append(_mk_field(s, (word & ITEM_MUTABLE) != 0))
            c = _mk_struct(tuple(items))
        elif kind == COMPOSITE_ARRAY:
            word = w[p]
            s = _item_value(w, &p, indices)
            c = _mk_array(_mk_field(s, (word & ITEM_MUTABLE) != 0))
        else:
            count = w[p]
            nres = w[p + 1]
            p += 2
            params = tuple([_item_value(w, &p, indices) for k in range(count)])
            results = tuple([_item_value(w, &p, indices) for k in range(nres)])
            c = _mk_func(params, results)
        types.append(_mk_sub(c, (head & HEAD_FINAL) != 0, sup))
    return _mk_group(tuple(types))
