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
