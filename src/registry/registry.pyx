# cython: language_level=3
"""The engine-wide registry of WebAssembly GC types.

Whole recursion groups are hash-consed on a canonical key (iso-recursive equivalence), kept
alive by registration counts, given supertype displays for O(1) subtyping, trampoline types
for function types and DRC layouts for struct and array types. See docs/registry.md.
"""

cimport cython
from cpython.pythread cimport (
    NOWAIT_LOCK,
    WAIT_LOCK,
    PyThread_acquire_lock,
    PyThread_allocate_lock,
    PyThread_free_lock,
    PyThread_get_thread_ident,
    PyThread_release_lock,
)
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free

from registry.typeinfo cimport (
    COMPOSITE_ARRAY,
    COMPOSITE_FUNC,
    COMPOSITE_STRUCT,
    DRC_ARRAY_LENGTH_OFFSET,
    DRC_HEADER_ALIGN,
    DRC_HEADER_SIZE,
    HEAP_ABSTRACT_BASE,
    HEAP_ANY,
    HEAP_ARRAY,
    HEAP_EQ,
    HEAP_EXN,
    HEAP_EXTERN,
    HEAP_FUNC,
    HEAP_I31,
    HEAP_NOEXN,
    HEAP_NOEXTERN,
    HEAP_NOFUNC,
    HEAP_NONE,
    HEAP_STRUCT,
    STORAGE_F32,
    STORAGE_F64,
    STORAGE_I8,
    STORAGE_I16,
    STORAGE_I32,
    STORAGE_I64,
    STORAGE_REF,
    STORAGE_V128,
    TYPE_INDEX_NONE,
    FieldInfo,
    TypeInfo,
    info_is_subtype,
)

from registry.errors import InvalidTypeError, RegistryError, UnknownTypeError
from registry.layout import ArrayLayout, FieldLayout, StructLayout

# registry.decode, imported on first use (it imports this module).
cdef object _decode_type_section = None

include "values.pxi"
include "validate.pxi"
include "words.pxi"
include "wasm.pxi"
include "cvalidate.pxi"
include "records.pxi"


# ==== Registry internals =====================================================================

@cython.final
@cython.auto_pickle(False)
@cython.no_gc
cdef class _Entry:
    """One registered rec group. Counts change only under the registry lock."""
    cdef _GroupKey gkey              # the group's words (words.pxi): its key in _wmap
    # RecGroup in hash-consing form (its key in _map); None until seen from Python values
    cdef object key
    cdef tuple indices               # engine index of each type of the group
    cdef Py_ssize_t registrations    # handles, collections and groups holding this one
    cdef bint unregistered           # set once, when the group leaves the registry
    cdef tuple out                   # one entry per cross-group reference occurrence
    cdef tuple trampolines           # trampoline groups this group holds a count on


cdef inline uint32_t _align_up(uint32_t x, uint32_t a) noexcept nogil:
    return (x + a - 1) & ~(a - 1)


cdef inline uint8_t _storage_code(object s):
    if type(s) is RefType:
        return STORAGE_REF
    return <uint8_t>(<StorageType>s).code


cdef inline uint8_t _storage_size(object s):
    if type(s) is RefType:
        return 4
    return <uint8_t>(<StorageType>s).size


@cython.final
@cython.auto_pickle(False)
cdef class TypeRegistry:
    """An engine-wide, thread-safe registry of WebAssembly GC types.

    Identical rec groups (iso-recursive equivalence), from any module or host call, share one
    set of engine indices. A group stays registered while something holds a registration on
    it: a ``TypeCollection`` (per module), a ``RegisteredType`` (per handle), or another group
    that refers to it. ``len(reg)`` is the number of registered types.
    """

    def __cinit__(self, *args, **kwargs):
        # A bare __cinit__(self) would let TypeRegistry(5) pass silently.
        if args or kwargs:
            raise TypeError("TypeRegistry() takes no arguments")
        self._chunks = <TypeInfo***>calloc(CHUNK_COUNT, sizeof(TypeInfo**))
        if self._chunks == NULL:
            raise MemoryError()
        self._lock = PyThread_allocate_lock()
        if self._lock == NULL:
            free(self._chunks)
            self._chunks = NULL
            raise MemoryError()
        self._map = {}
        self._wmap = {}
        self._entries = []
        self._types = []
        self._free = []
        self._drop_stack = []
        self._count = 0
        self._fallbacks = 0
        self._depth = 0

    def __dealloc__(self):
        # Handles keep their registry alive, so nothing can still be registered here unless
        # a handle leaked; the records go with the registry either way.
        cdef Py_ssize_t c, i
        if self._chunks != NULL:
            for c in range(CHUNK_COUNT):
                if self._chunks[c] != NULL:
                    for i in range(CHUNK_SIZE):
                        free(self._chunks[c][i])
                    free(self._chunks[c])
            free(self._chunks)
        if self._lock != NULL:
            PyThread_free_lock(self._lock)

    # ---- C level ------------------------------------------------------------------------

    cdef const TypeInfo* type_info(self, uint32_t index) noexcept nogil:
        return registry_type_info(self, index)

    cdef bint c_is_subtype(self, uint32_t sub, uint32_t sup) noexcept nogil:
        return registry_is_subtype(self, sub, sup)

    cdef int _set_record(self, uint32_t index, TypeInfo* rec) except -1:
        cdef TypeInfo** chunk = self._chunks[index >> CHUNK_BITS]
        if chunk == NULL:
            chunk = <TypeInfo**>calloc(CHUNK_SIZE, sizeof(TypeInfo*))
            if chunk == NULL:
                raise MemoryError()
            self._chunks[index >> CHUNK_BITS] = chunk
        chunk[index & (CHUNK_SIZE - 1)] = rec
        return 0

    # ---- the lock -----------------------------------------------------------------------
    # Re-entrant for the holding thread, because a handle's finalizer may run (and release
    # its registration) in the middle of any allocation the registry itself makes. Only
    # the outermost exit drains the drop stack, so unregistration never nests.

    cdef int _enter(self) except -1:
        cdef long me = PyThread_get_thread_ident()
        if self._depth > 0 and self._owner == me:
            self._depth += 1
            return 0
        if not PyThread_acquire_lock(self._lock, NOWAIT_LOCK):
            with nogil:
                PyThread_acquire_lock(self._lock, WAIT_LOCK)
        self._owner = me
        self._depth = 1
        return 0

    cdef int _exit(self) except -1:
        if self._depth > 1:
            self._depth -= 1
            return 0
        try:
            self._drain()
        finally:
            self._depth = 0
            self._owner = 0
            PyThread_release_lock(self._lock)
        return 0

    # ---- counting and unregistration ----------------------------------------------------

    cdef int _decref(self, object entry) except -1:
        cdef _Entry e = <_Entry>entry
        if e.registrations <= 0:
            raise RegistryError("registration count underflow (a handle was released twice)")
        e.registrations -= 1
        if e.registrations == 0:
            self._drop_stack.append(e)
        return 0

    cdef int _drain(self) except -1:
        cdef _Entry e
        while self._drop_stack:
            e = <_Entry>self._drop_stack.pop()
            # Resurrected by a hash-consing hit or a root() after its count reached zero,
            # or already removed after an earlier trip through the stack: leave it.
            if e.registrations != 0 or e.unregistered:
                continue
            self._remove(e)
        return 0

    cdef int _remove(self, object entry) except -1:
        cdef _Entry e = <_Entry>entry
        cdef _Entry other
        cdef TypeInfo** chunk
        cdef TypeInfo* rec
        cdef uint32_t idx
        e.unregistered = True
        del self._wmap[e.gkey]
        if e.key is not None:
            del self._map[e.key]
        for i in e.indices:
            idx = i
            chunk = self._chunks[idx >> CHUNK_BITS]
            # Clearing the slot and freeing the record happen with no GIL release in
            # between, so a lock-free reader holding the GIL never sees a freed record.
            rec = chunk[idx & (CHUNK_SIZE - 1)]
            chunk[idx & (CHUNK_SIZE - 1)] = NULL
            free(rec)
            self._entries[idx] = None
            self._types[idx] = None
        self._free.extend(reversed(e.indices))
        self._count -= len(e.indices)
        for other in e.trampolines:
            self._decref(other)
        for other in e.out:
            self._decref(other)
        e.out = None
        e.trampolines = None
        return 0

    # ---- registration -------------------------------------------------------------------

    cdef object _register_key(self, object key, Py_ssize_t start, object orig):
        """Return the entry for `key` holding one new registration (hit or fresh group).

        `orig` is the group as written (for error messages), `start` its first module index
        (-1 for host types).
        """
        cdef _Entry e = self._map.get(key)
        if e is not None:
            e.registrations += 1
            return e
        gkey = _group_key(_words_of_group(key))
        e = self._wmap.get(gkey)
        if e is None:
            _validate_group(self, (<RecGroup>key).types, start, (<RecGroup>orig).types)
            e = _entry_from_words(self, gkey, NULL, NULL)
        else:
            e.registrations += 1          # registered from .wasm bytes (or as a trampoline)
        e.key = key
        self._map[key] = e
        return e

    cdef object _type_of(self, object index):
        """The runtime-form SubType of a registered index, built from its group's words on
        first use."""
        cdef _Entry e
        st = self._types[index]
        if st is None:
            e = <_Entry>self._entries[index]
            g = _group_of_words(e.gkey.words, e.indices)
            for i, st in zip(e.indices, g.types):
                self._types[i] = st
            st = self._types[index]
        return st

    cdef int _set_record_chunk(self, uint32_t index) except -1:
        # Allocate the chunk ahead of the commit, so that committing cannot fail.
        if self._chunks[index >> CHUNK_BITS] == NULL:
            self._set_record(index, NULL)
        return 0

    cdef tuple _display(self, object index):
        cdef const TypeInfo* rec = self.type_info(index)
        if rec == NULL:
            raise UnknownTypeError(f"type index {index} is not registered")
        return tuple([rec.display[i] for i in range(rec.depth + 1)])

    cdef int _kind(self, object index) except -1:
        cdef const TypeInfo* rec = self.type_info(index)
        if rec == NULL:
            raise UnknownTypeError(f"type index {index} is not registered")
        return rec.kind

    cdef object _check_index(self, object index):
        """The entry of a registered engine index, or UnknownTypeError."""
        if type(index) is not int:
            if isinstance(index, bool) or not isinstance(index, int):
                raise TypeError(f"a type index must be an int, not {type(index).__name__}")
            index = int(index)
        if index < 0 or index >= len(self._entries) or self._entries[index] is None:
            raise UnknownTypeError(f"type index {index} is not registered")
        return self._entries[index]

    # ---- Python API ---------------------------------------------------------------------

    def register_module(self, groups):
        """Register a module's types; return a ``TypeCollection`` holding them.

        ``groups`` is a sequence of ``RecGroup`` (a bare ``SubType`` is a singleton group).
        Integer type references are module-level indices, counted flat across the groups in
        order. Raises ``InvalidTypeError`` naming the offending type and rule; on any error
        nothing stays registered.
        """
        cdef list glist = _as_groups(groups)
        cdef list held = []
        cdef list mod2eng = []
        cdef Py_ssize_t start = 0, n
        cdef _Entry e
        cdef _Canon canon
        cdef TypeCollection coll
        self._enter()
        try:
            try:
                canon = _Canon.__new__(_Canon)
                canon.mode = MODE_MODULE
                canon.table = mod2eng
                for g in glist:
                    n = len((<RecGroup>g).types)
                    canon.start = start
                    canon.end = start + n
                    key = canon.group(g)
                    e = self._register_key(key, start, g)
                    held.append(e)
                    mod2eng.extend(e.indices)
                    start += n
            except BaseException:
                for e in held:
                    self._decref(e)
                raise
            coll = TypeCollection.__new__(TypeCollection, _INTERNAL)
            coll._registry = self
            coll._entries = held
            coll._indices = tuple(mod2eng)
            return coll
        finally:
            self._exit()

    def register_type(self, subtype):
        """Register one host type as a singleton rec group; return a ``RegisteredType``.

        Integer references (and the supertype) are engine indices of registered types
        (``UnknownTypeError`` otherwise). Structurally identical singleton groups share an
        index. Raises ``InvalidTypeError`` if a rule is broken.
        """
        if type(subtype) is not SubType:
            raise TypeError(f"register_type takes a SubType, not {type(subtype).__name__}")
        cdef _Entry e
        cdef _Canon canon
        self._enter()
        try:
            canon = _Canon.__new__(_Canon)
            canon.mode = MODE_ENGINE
            canon.registry = self
            orig = _mk_group((subtype,))
            key = canon.group(orig)
            e = self._register_key(key, -1, orig)
            return _handle(self, e, e.indices[0])
        finally:
            self._exit()

    def register_wasm(self, wasm_bytes):
        """Register the type section of a WebAssembly binary as a module.

        The same as ``register_module(decode_type_section(wasm_bytes))``, with the same
        errors (``MalformedWasmError``, ``InvalidTypeError``), but decoded and registered in C
        without building type values.
        """
        if not isinstance(wasm_bytes, (bytes, bytearray, memoryview)):
            raise TypeError(f"expected bytes, not {type(wasm_bytes).__name__}")
        cdef bytes data = bytes(wasm_bytes)      # a private copy: nothing can change it
        return self.c_register_wasm(<const unsigned char*>PyBytes_AS_STRING(data),
                                    PyBytes_GET_SIZE(data))

    cdef TypeCollection c_register_wasm(self, const unsigned char* data, Py_ssize_t size):
        cdef WordBuf mw
        cdef Py_ssize_t ntypes = 0
        if size < 0 or (data == NULL and size > 0):
            raise ValueError(f"c_register_wasm: no data ({size} bytes at NULL)")
        mw.w = NULL
        mw.n = mw.cap = 0
        try:
            self._enter()
            try:
                if _decode_module(data, size, &mw, &ntypes) != 0:
                    self._fallbacks += 1
                    return _register_wasm_values(self, data, size)
                return self._register_words(mw.w, mw.n, ntypes, data, size)
            finally:
                self._exit()
        finally:
            free(mw.w)

    cdef TypeCollection _register_words(self, const uint32_t* w, Py_ssize_t nw,
                                        Py_ssize_t ntypes, const unsigned char* data,
                                        Py_ssize_t size):
        """Register the decoded module `w` (module form); holds the lock."""
        cdef uint32_t ngroups = w[0], n
        cdef Py_ssize_t p = 1, start = 0, length, j
        cdef uint32_t mod2eng_small[SMALL_GROUP]
        cdef Py_ssize_t offs_small[SMALL_GROUP + 1]
        cdef uint32_t* mod2eng = mod2eng_small
        cdef uint32_t* mod2eng_own = NULL
        cdef Py_ssize_t* offs = NULL
        cdef Py_ssize_t* offs_own = NULL
        cdef WordBuf cw, refs
        cdef list held = []
        cdef _Entry e = None
        cdef bint fall_back = False
        cdef TypeCollection coll
        cw.w = refs.w = NULL
        cw.n = cw.cap = refs.n = refs.cap = 0
        try:
            if ntypes > SMALL_GROUP:
                mod2eng = mod2eng_own = <uint32_t*>malloc(ntypes * sizeof(uint32_t))
                if mod2eng == NULL:
                    raise MemoryError()
            try:
                for _ in range(ngroups):
                    n = w[p]
                    if n <= SMALL_GROUP:
                        offs = offs_small
                    else:
                        free(offs_own)
                        offs = offs_own = <Py_ssize_t*>malloc((n + 1) * sizeof(Py_ssize_t))
                        if offs == NULL:
                            raise MemoryError()
                    refs.n = 0
                    length = _canonical_words(w + p, nw - p, start, mod2eng, &cw, offs, &refs)
                    if length < 0:
                        fall_back = True
                        break
                    key = _group_key(PyBytes_FromStringAndSize(<char*>cw.w,
                                                               length * sizeof(uint32_t)))
                    e = self._wmap.get(key)
                    if e is not None:
                        e.registrations += 1
                    elif not _c_group_valid(self, cw.w, offs):
                        fall_back = True
                        break
                    else:
                        e = _entry_from_words(self, key, offs, &refs)
                    held.append(e)
                    for j in range(n):
                        mod2eng[start + j] = e.indices[j]
                    start += n
                    p += length
            except BaseException:
                for e in held:
                    self._decref(e)
                raise
            if fall_back:
                for e in held:
                    self._decref(e)
                self._fallbacks += 1
                return _register_wasm_values(self, data, size)
            coll = TypeCollection.__new__(TypeCollection, _INTERNAL)
            coll._registry = self
            coll._entries = held
            if len(held) == 1:
                coll._indices = e.indices
            else:
                coll._indices = tuple([mod2eng[j] for j in range(start)])
            return coll
        finally:
            free(mod2eng_own)
            free(offs_own)
            free(cw.w)
            free(refs.w)

    def root(self, index):
        """A ``RegisteredType`` holding one new registration on ``index``'s rec group."""
        cdef _Entry e
        self._enter()
        try:
            e = self._check_index(index)
            e.registrations += 1
            return _handle(self, e, int(index))
        finally:
            self._exit()

    def get(self, index):
        """The ``SubType`` registered at ``index``, with every reference an engine index."""
        self._enter()
        try:
            self._check_index(index)
            return self._type_of(index)
        finally:
            self._exit()

    def rec_group(self, index):
        """The engine indices of the rec group ``index`` belongs to, in group order."""
        self._enter()
        try:
            return (<_Entry>self._check_index(index)).indices
        finally:
            self._exit()

    def registration_count(self, index):
        """How many registrations keep ``index``'s rec group alive (for tests, diagnostics)."""
        self._enter()
        try:
            return (<_Entry>self._check_index(index)).registrations
        finally:
            self._exit()

    def is_subtype(self, sub, sup):
        """Declared subtyping between registered engine types, reflexive and transitive.

        O(1) through the supertype displays. Raises ``UnknownTypeError`` if either index is
        not registered.
        """
        # Lock-free: records are unpublished and freed with no GIL release in between, and
        # nothing here releases the GIL.
        cdef const TypeInfo* a = NULL
        cdef const TypeInfo* b = NULL
        for x in (sub, sup):
            # Typed as C integers these would take 0.5 as 0.
            if isinstance(x, bool) or not isinstance(x, int):
                raise TypeError(f"a type index must be an int, not {type(x).__name__}")
        if 0 <= sub < MAX_TYPES:
            a = self.type_info(<uint32_t>sub)
        if 0 <= sup < MAX_TYPES:
            b = self.type_info(<uint32_t>sup)
        if a == NULL or b == NULL:
            raise UnknownTypeError(
                f"type index {sub if a == NULL else sup} is not registered")
        return info_is_subtype(a, b)

    def ref_matches(self, a, b):
        """Whether a value of ref type ``a`` fits ref type ``b`` (engine-level heap types).

        Follows the five hierarchies (any, extern, func, exn; concrete struct/array under any,
        concrete func under func), bottom types, and nullability.
        """
        if type(a) is not RefType or type(b) is not RefType:
            raise TypeError("ref_matches takes two RefType values")
        cdef _Ctx ctx
        self._enter()
        try:
            for r in (a, b):
                h = (<RefType>r).heap
                if type(h) is not AbstractHeapType:
                    self._check_index(h)
            ctx = _Ctx.__new__(_Ctx)
            ctx.registry = self
            ctx.ktypes = ()
            ctx.chains = []
            return ctx.ref_sub(a, b)
        finally:
            self._exit()

    def trampoline_type(self, index):
        """The engine index of a function type's trampoline type (possibly ``index`` itself)."""
        cdef const TypeInfo* rec
        self._enter()
        try:
            self._check_index(index)
            rec = self.type_info(index)
            if rec.kind != COMPOSITE_FUNC:
                raise ValueError(f"type {index} is not a function type")
            return rec.trampoline
        finally:
            self._exit()

    def layout(self, index):
        """``StructLayout`` / ``ArrayLayout`` of a registered type, ``None`` for func types."""
        cdef const TypeInfo* rec
        cdef uint32_t i
        self._enter()
        try:
            self._check_index(index)
            rec = self.type_info(index)
            if rec.kind == COMPOSITE_STRUCT:
                return StructLayout(rec.size, rec.align, tuple([
                    FieldLayout(rec.fields[i].offset, rec.fields[i].size,
                                bool(rec.fields[i].is_gc_ref))
                    for i in range(rec.nfields)]))
            if rec.kind == COMPOSITE_ARRAY:
                return ArrayLayout(rec.size, rec.align, rec.elem_size,
                                   bool(rec.elems_are_gc_refs), DRC_ARRAY_LENGTH_OFFSET)
            return None
        finally:
            self._exit()

    def verify(self):
        """Check every internal invariant; raise ``RegistryError`` naming the first broken one.

        O(registered types). Checks the map against the slab, each record against its type
        (index, kind, finality, display = parent's display + itself), that every group's count
        covers the references other groups hold on it, and the free list. For tests and fuzzing.
        """
        cdef _Entry e, t
        cdef const TypeInfo* rec
        cdef dict incoming = {}
        cdef Py_ssize_t n = 0
        self._enter()
        try:
            for key, e in self._map.items():
                if e.key is not key or self._wmap.get(e.gkey) is not e:
                    raise RegistryError(f"group {e.indices}: stale RecGroup key")
                if _words_of_group(key) != e.gkey.words:
                    raise RegistryError(f"group {e.indices}: its RecGroup key and words differ")
            for gkey, e in self._wmap.items():
                words = (<_GroupKey>gkey).words
                if e.gkey is not gkey or e.unregistered:
                    raise RegistryError(f"group {e.indices}: stale hash-consing entry")
                if hash(_group_key(words)) != hash(gkey):
                    raise RegistryError(f"group {e.indices}: its key's hash is stale")
                if e.key is not None and self._map.get(e.key) is not e:
                    raise RegistryError(f"group {e.indices}: its RecGroup key is not mapped")
                if _words_of_group(_group_of_words(words, None)) != words:
                    raise RegistryError(f"group {e.indices}: its words do not round-trip")
                for idx in e.indices:
                    n += 1
                    rec = self.type_info(idx)
                    if self._entries[idx] is not e or rec == NULL:
                        raise RegistryError(f"type {idx}: slab and records disagree")
                    st = self._type_of(idx)
                    if (rec.index != idx or rec.kind != _kind_code((<SubType>st).composite)
                            or rec.is_final != (<SubType>st).final):
                        raise RegistryError(f"type {idx}: record does not match its type")
                    sup = (<SubType>st).supertype
                    expect = (idx,) if sup is None else self._display(sup) + (idx,)
                    if self._display(idx) != expect:
                        raise RegistryError(f"type {idx}: display {self._display(idx)} is not "
                                            f"{expect}")
                for t in e.out + e.trampolines:
                    if t.unregistered:
                        raise RegistryError(f"group {e.indices} refers to a removed group")
                    incoming[t] = incoming.get(t, 0) + 1
            for t, k in incoming.items():
                if t.registrations < k:
                    raise RegistryError(
                        f"group {t.indices}: {t.registrations} registrations, but other groups "
                        f"hold {k}")
            if n != self._count or len(self._entries) - len(self._free) != n:
                raise RegistryError(f"{n} types in groups, count {self._count}, "
                                    f"{len(self._entries) - len(self._free)} slots in use")
            if len(set(self._free)) != len(self._free):
                raise RegistryError("an index is free twice")
            for idx in self._free:
                if self._entries[idx] is not None or self.type_info(idx) != NULL:
                    raise RegistryError(f"free index {idx} is still in use")
        finally:
            self._exit()

    def __len__(self):
        return self._count

    def __contains__(self, index):
        if type(index) is not int:
            return False
        return 0 <= index < MAX_TYPES and self.type_info(index) != NULL

    def __repr__(self):
        return f"<TypeRegistry: {self._count} types in {len(self._wmap)} rec groups>"

    def _bench_c_is_subtype(self, uint32_t sub, uint32_t sup, Py_ssize_t n):
        """Benchmark aid: call ``c_is_subtype(sub, sup)`` ``n`` times in a C loop.

        Returns how many calls answered true, so the compiler cannot drop the loop.
        """
        cdef Py_ssize_t i, hits = 0
        with nogil:
            for i in range(n):
                hits += self.c_is_subtype(sub, sup + <uint32_t>(i & 0))
        return hits

    def _wasm_fallbacks(self):
        """Test aid: how many register_wasm / c_register_wasm calls the C path handed to the
        Python path (bytes or groups it does not accept)."""
        return self._fallbacks

    def _locked(self, fn):
        """Test aid: call ``fn()`` holding the registry lock, where a handle's finalizer may
        run in the middle of a registry call. Releases inside only queue their groups; the
        return from this call drains them, as the outermost registry call does."""
        if not callable(fn):
            raise TypeError(f"_locked takes a callable, not {type(fn).__name__}")
        self._enter()
        try:
            return fn()
        finally:
            self._exit()


cdef object _handle(TypeRegistry reg, _Entry e, object index):
    h = RegisteredType.__new__(RegisteredType, _INTERNAL)
    (<RegisteredType>h)._registry = reg
    (<RegisteredType>h)._entry = e
    (<RegisteredType>h)._index = index
    (<RegisteredType>h)._type = reg._type_of(index)
    return h


cdef TypeCollection _register_wasm_values(TypeRegistry reg, const unsigned char* data,
                                          Py_ssize_t size):
    """The Python path for bytes the C path does not accept: decode.py and register_module
    raise the precise error (or register the module, if the C checks were too strict)."""
    global _decode_type_section
    if _decode_type_section is None:
        from registry.decode import decode_type_section
        _decode_type_section = decode_type_section
    groups = _decode_type_section(PyBytes_FromStringAndSize(<const char*>data, size))
    return reg.register_module(groups)


cdef int _release(TypeRegistry reg, list entries) except -1:
    reg._enter()
    try:
        for e in entries:
            reg._decref(e)
    finally:
        reg._exit()
    return 0


@cython.final
@cython.auto_pickle(False)
@cython.no_gc
cdef class TypeCollection:
    """A module's registered types: one registration per rec group of the module.

    ``close()``, leaving a ``with`` block, or dropping the collection releases them.
    """

    def __cinit__(self, *args):
        _check_internal(args, "TypeCollection is created by TypeRegistry.register_module")

    def __init__(self, *args, **kwargs):
        raise TypeError("TypeCollection is created by TypeRegistry.register_module")

    def shared_type(self, index):
        """The engine index of module-level type ``index``."""
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"a type index must be an int, not {type(index).__name__}")
        if not 0 <= index < len(self._indices):
            raise IndexError(f"module type index {index} out of range "
                             f"(the module has {len(self._indices)} types)")
        return self._indices[index]

    @property
    def shared_types(self):
        """Engine indices of all module types, in module order."""
        return self._indices

    @property
    def closed(self):
        return self._entries is None

    def close(self):
        """Release the module's registrations (idempotent)."""
        self.c_close()

    cdef int c_close(self) except -1:
        entries = self._entries
        if entries is not None:
            self._entries = None
            _release(self._registry, entries)
        return 0

    cdef Py_ssize_t c_shared_types(self, uint32_t* out, Py_ssize_t cap) noexcept:
        cdef Py_ssize_t n = len(self._indices), k
        for k in range(min(n, cap)):
            out[k] = self._indices[k]
        return n

    def __len__(self):
        return len(self._indices)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        state = "closed" if self._entries is None else "open"
        return f"<TypeCollection: {len(self._indices)} types, {state}>"

    def __dealloc__(self):
        if self._entries is not None and self._registry is not None:
            entries = self._entries
            self._entries = None
            _release(self._registry, entries)


@cython.final
@cython.auto_pickle(False)
@cython.no_gc
cdef class RegisteredType:
    """A handle holding one registration on a type's rec group.

    ``close()``, leaving a ``with`` block, or dropping the handle releases it.
    """
    cdef TypeRegistry _registry
    cdef _Entry _entry
    cdef object _index
    cdef object _type

    def __cinit__(self, *args):
        _check_internal(args, "RegisteredType is created by TypeRegistry.register_type or "
                              ".root")

    def __init__(self, *args, **kwargs):
        raise TypeError("RegisteredType is created by TypeRegistry.register_type or .root")

    @property
    def index(self):
        """The engine index."""
        return self._index

    @property
    def type(self):
        """The registered ``SubType`` (references are engine indices)."""
        return self._type

    @property
    def closed(self):
        return self._entry is None

    def close(self):
        """Release the registration (idempotent)."""
        e = self._entry
        if e is not None:
            self._entry = None
            _release(self._registry, [e])

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        state = ", closed" if self._entry is None else ""
        return f"<RegisteredType ${self._index}: {self._type}{state}>"

    def __dealloc__(self):
        if self._entry is not None and self._registry is not None:
            e = self._entry
            self._entry = None
            _release(self._registry, [e])
