# cython: language_level=3
"""C-level use of the registry: records, displays, layouts and subtyping without Python objects."""

from libc.stdint cimport uint32_t

from registry.registry cimport TypeRegistry, registry_is_subtype, registry_type_info
from registry.typeinfo cimport (TypeInfo, info_is_subtype, HEAP_ABSTRACT_BASE,
                                TYPE_INDEX_NONE)


def record(TypeRegistry reg, uint32_t index):
    """The record of `index` as a dict (None if not registered)."""
    cdef const TypeInfo* t = reg.type_info(index)
    cdef uint32_t i
    if t == NULL:
        return None
    return dict(
        index=t.index, kind=t.kind, is_final=t.is_final, depth=t.depth,
        display=[t.display[i] for i in range(t.depth + 1)],
        trampoline=t.trampoline, size=t.size, align=t.align, nfields=t.nfields,
        fields=[(t.fields[i].offset, t.fields[i].size, t.fields[i].storage,
                 t.fields[i].mutable, t.fields[i].ref_heap, t.fields[i].ref_nullable,
                 t.fields[i].is_gc_ref) for i in range(t.nfields)],
        gc_ref_offsets=[t.gc_ref_offsets[i] for i in range(t.n_gc_refs)]
        if t.gc_ref_offsets != NULL else None,
        n_gc_refs=t.n_gc_refs, elem_size=t.elem_size, elems_are_gc_refs=t.elems_are_gc_refs,
    )


def is_subtype(TypeRegistry reg, uint32_t a, uint32_t b):
    cdef bint via_method
    cdef const TypeInfo* ta
    cdef const TypeInfo* tb
    with nogil:
        via_method = reg.c_is_subtype(a, b)
    ta = reg.type_info(a)
    tb = reg.type_info(b)
    assert ta == registry_type_info(reg, a) and tb == registry_type_info(reg, b)
    if ta != NULL and tb != NULL:
        assert info_is_subtype(ta, tb) == via_method
    assert registry_is_subtype(reg, a, b) == via_method
    return via_method


def count_c_is_subtype(TypeRegistry reg, uint32_t a, uint32_t b, Py_ssize_t n):
    """How many of `n` nogil c_is_subtype(a, b) calls from this (another) extension answer
    true."""
    cdef Py_ssize_t i, hits = 0
    with nogil:
        for i in range(n):
            hits += reg.c_is_subtype(a, b + <uint32_t>(i & 0))
    return hits


def count_inline_is_subtype(TypeRegistry reg, uint32_t a, uint32_t b, Py_ssize_t n):
    """The same through registry_is_subtype, the inline form compiled into this module."""
    cdef Py_ssize_t i, hits = 0
    with nogil:
        for i in range(n):
            hits += registry_is_subtype(reg, a, b + <uint32_t>(i & 0))
    return hits


def none_code():
    return <uint32_t>TYPE_INDEX_NONE, <uint32_t>HEAP_ABSTRACT_BASE


# ---- registration straight from .wasm bytes ---------------------------------------------------

from registry.registry cimport TypeCollection


def register_bytes(TypeRegistry reg, bytes wasm):
    """c_register_wasm on the bytes: (collection, its engine indices, its type count)."""
    cdef TypeCollection c = reg.c_register_wasm(wasm, len(wasm))
    cdef uint32_t out[64]
    cdef Py_ssize_t n = c.c_shared_types(out, 64), i
    return c, [out[i] for i in range(min(n, 64))], n


def register_null(TypeRegistry reg, Py_ssize_t size):
    return reg.c_register_wasm(NULL, size)


def close_twice(TypeCollection c):
    c.c_close()
    c.c_close()
    return c.closed


def churn(TypeRegistry reg, bytes wasm, int rounds):
    """What an embedder's loop does: register a module's bytes twice (a new group, then a
    hash-consing hit) and release both, `rounds` times; returns the types seen."""
    cdef const unsigned char* data = wasm
    cdef Py_ssize_t size = len(wasm), total = 0
    cdef TypeCollection a, b
    for _ in range(rounds):
        a = reg.c_register_wasm(data, size)
        b = reg.c_register_wasm(data, size)
        total += a.c_shared_types(NULL, 0) + b.c_shared_types(NULL, 0)
        a.c_close()
        b.c_close()
    return total
