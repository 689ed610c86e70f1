# The C-level face of the engine-wide type registry (registry.pyx has the algorithms).
#
# An embedder cimports TypeRegistry and, while it holds a registration on a type (a
# TypeCollection, a RegisteredType, or anything else that keeps the type's rec group
# registered), may call type_info() and c_is_subtype() without the GIL and without the lock.
# c_register_wasm() registers a module's type section straight from its .wasm bytes.

cimport cython
from cpython.pythread cimport PyThread_type_lock
from libc.stdint cimport uint32_t

from registry.typeinfo cimport TypeInfo, info_is_subtype

# Records are found through a fixed two-level table: a directory of CHUNK_COUNT chunk
# pointers (allocated with the registry, never reallocated), each chunk CHUNK_SIZE record
# pointers (allocated on first use, never moved). Together they bound the engine index space.
cdef enum:
    CHUNK_BITS = 12
    CHUNK_SIZE = 4096                 # 1 << CHUNK_BITS
    CHUNK_COUNT = 4096
    MAX_TYPES = 16777216              # CHUNK_SIZE * CHUNK_COUNT


cdef class TypeCollection


@cython.final
cdef class TypeRegistry:
    cdef TypeInfo*** _chunks          # CHUNK_COUNT pointers to chunks of record pointers
    cdef PyThread_type_lock _lock     # guards every Python-level field below
    cdef long _owner                  # thread ident of the lock holder (valid while _depth > 0)
    cdef Py_ssize_t _depth            # re-entry depth of the holder (finalizers may re-enter)
    # Hash consing: a group's words (words.pxi) -> its entry, for every group; and the
    # RecGroup key -> entry of the groups seen as Python values (the Python path's first look).
    cdef dict _wmap
    cdef dict _map
    cdef list _entries                # engine index -> its group's entry, or None when free
    # engine index -> SubType (runtime form), or None: built from the words on first use
    cdef list _types
    cdef list _free                   # free engine indices below len(_entries), reused LIFO
    cdef list _drop_stack             # entries whose count reached 0, drained at depth 1 only
    cdef Py_ssize_t _count            # registered types (len(reg))
    cdef Py_ssize_t _fallbacks        # c_register_wasm calls handed to the Python path

    # The record of a registered type, or NULL if `index` is not registered. Lock-free, O(1);
    # the pointer stays valid for as long as the caller keeps the type registered.
    cdef const TypeInfo* type_info(self, uint32_t index) noexcept nogil
    # Declared subtyping between registered concrete types (reflexive, transitive), in O(1)
    # through the displays. False if either index is not registered. Lock-free.
    cdef bint c_is_subtype(self, uint32_t sub, uint32_t sup) noexcept nogil
    # Register the type section of the WebAssembly binary data[0:size], as register_wasm()
    # does, without building Python type values: decoding, hash consing, validation and the
    # records are C (a group the C checks cannot accept goes to the Python path, which raises
    # the precise MalformedWasmError / InvalidTypeError). Takes the lock and the GIL; the
    # bytes must not change during the call. Release the collection with c_close().
    cdef TypeCollection c_register_wasm(self, const unsigned char* data, Py_ssize_t size)

    cdef int _enter(self) except -1
    cdef int _exit(self) except -1
    cdef int _decref(self, object entry) except -1
    cdef int _drain(self) except -1
    cdef int _remove(self, object entry) except -1
    cdef object _register_key(self, object key, Py_ssize_t start, object orig)
    cdef object _type_of(self, object index)
    cdef TypeCollection _register_words(self, const uint32_t* w, Py_ssize_t nw,
                                        Py_ssize_t ntypes, const unsigned char* data,
                                        Py_ssize_t size)
    cdef int _set_record(self, uint32_t index, TypeInfo* rec) except -1
    cdef int _set_record_chunk(self, uint32_t index) except -1
    cdef tuple _display(self, object index)
    cdef int _kind(self, object index) except -1
    cdef object _check_index(self, object index)


# A module's registered types: one registration per rec group of the module (see
# TypeRegistry.register_module / register_wasm / c_register_wasm).
@cython.final
cdef class TypeCollection:
    cdef TypeRegistry _registry
    cdef list _entries                # the held groups' entries; None once closed
    cdef tuple _indices               # engine index of each module type

    # Copy up to `cap` engine indices (module order) to `out`; returns the module's type count.
    cdef Py_ssize_t c_shared_types(self, uint32_t* out, Py_ssize_t cap) noexcept
    # close(): release the registrations (idempotent).
    cdef int c_close(self) except -1


# The same two lookups as inline functions, for embedders on a hot path: they compile into the
# caller (no call through the class's vtable), with the same contract as the methods.

cdef inline const TypeInfo* registry_type_info(TypeRegistry reg, uint32_t index) noexcept nogil:
    cdef TypeInfo** chunk
    if index >= MAX_TYPES:
        return NULL
    chunk = reg._chunks[index >> CHUNK_BITS]
    if chunk == NULL:
        return NULL
    return chunk[index & (CHUNK_SIZE - 1)]


cdef inline bint registry_is_subtype(TypeRegistry reg, uint32_t sub, uint32_t sup) noexcept nogil:
    cdef const TypeInfo* a = registry_type_info(reg, sub)
    cdef const TypeInfo* b = registry_type_info(reg, sup)
    return a != NULL and b != NULL and info_is_subtype(a, b)
