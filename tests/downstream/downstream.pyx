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
