# The C-level view of a registered type: what drc and downstream embedders read without
# touching a Python object. See registry.pyx for how these records are built and kept.
#
# Lifetime: a TypeInfo record, and every array it points to, stays valid and unchanged for as
# long as its type is registered (the caller holds a TypeCollection, a RegisteredType, or some
# other registration on the type's rec group). Records never move while valid, so a pointer may
# be cached for that long and read without the registry's lock.

from libc.stdint cimport uint8_t, uint16_t, uint32_t

# ==== Storage types (field and array element storage) ======================================

cdef enum StorageCode:
    STORAGE_I8 = 1
    STORAGE_I16 = 2
    STORAGE_I32 = 3
    STORAGE_I64 = 4
    STORAGE_F32 = 5
    STORAGE_F64 = 6
    STORAGE_V128 = 7
    STORAGE_REF = 8

# ==== Heap types of references ==============================================================
# A reference's heap type is either abstract (one of the codes below, all >= HEAP_ABSTRACT_BASE)
# or concrete (an engine-level shared type index, always < HEAP_ABSTRACT_BASE).

cdef enum:
    HEAP_ABSTRACT_BASE = 0xFFFFFF00
    HEAP_ANY = 0xFFFFFF01
    HEAP_EQ = 0xFFFFFF02
    HEAP_I31 = 0xFFFFFF03
    HEAP_STRUCT = 0xFFFFFF04
    HEAP_ARRAY = 0xFFFFFF05
    HEAP_NONE = 0xFFFFFF06
    HEAP_FUNC = 0xFFFFFF07
    HEAP_NOFUNC = 0xFFFFFF08
    HEAP_EXTERN = 0xFFFFFF09
    HEAP_NOEXTERN = 0xFFFFFF0A
    HEAP_EXN = 0xFFFFFF0B
    HEAP_NOEXN = 0xFFFFFF0C
    # The "no type" index: externrefs carry it in their header.
    TYPE_INDEX_NONE = 0xFFFFFFFF

# ==== Composite kinds ======================================================================

cdef enum CompositeKind:
    COMPOSITE_STRUCT = 1
    COMPOSITE_ARRAY = 2
    COMPOSITE_FUNC = 3

# ==== DRC layout parameters; drc checks its header against them ==========================

cdef enum:
    DRC_HEADER_SIZE = 24
    DRC_HEADER_ALIGN = 8
    DRC_ARRAY_LENGTH_OFFSET = 24

# One struct field, or an array's element.
ctypedef struct FieldInfo:
    uint32_t offset         # byte offset from the object start (header included); 0 for arrays
    uint32_t ref_heap       # STORAGE_REF only: abstract HEAP_* code or engine type index
    uint8_t size            # bytes in the heap: 1, 2, 4, 8 or 16 (refs take 4)
    uint8_t storage         # a StorageCode
    uint8_t mutable         # 1 if the field may be written after allocation
    uint8_t ref_nullable    # STORAGE_REF only: 1 if null may be stored
    # is_gc_ref: 1 if the slot owns a count, i.e. a ref whose top is any/extern/exn and that
    # is not statically i31 (funcrefs are not GC refs)
    uint8_t is_gc_ref
    uint8_t _pad[3]

# One registered type. Func types have no layout (size, align, fields are zero/NULL).
ctypedef struct TypeInfo:
    uint32_t index                  # the engine-level shared type index of this record
    uint8_t kind                    # a CompositeKind
    uint8_t is_final                # 1 if no type may declare this one as its supertype
    uint16_t _pad
    uint32_t depth                  # number of proper supertypes (0 for a root type)
    const uint32_t* display         # depth + 1 indices: root first, this type's index last
    uint32_t trampoline             # func types: the trampoline type's index (maybe itself)
    # size: a struct's object size rounded to `align` (the free list rounds blocks to 16); an
    # array's base_size (where its elements start).
    uint32_t size
    uint32_t align                  # struct/array alignment (8, or 16 with v128)
    uint32_t nfields                # struct: field count; array: 1 (the element)
    const FieldInfo* fields         # struct: nfields records; array: the element record
    uint32_t n_gc_refs              # struct: fields with is_gc_ref set; array: 0 or 1
    const uint32_t* gc_ref_offsets  # struct: their offsets, ascending; array: NULL
    uint32_t elem_size              # array: element size in bytes; struct: 0
    uint8_t elems_are_gc_refs       # array: 1 if every element slot owns a count


# O(1) declared subtyping through the supertype displays: `a` is a subtype of
# `b` iff b sits in a's root-first chain at b's depth. Both records must be valid.
cdef inline bint info_is_subtype(const TypeInfo* a, const TypeInfo* b) noexcept nogil:
    return a == b or (a.depth > b.depth and a.display[b.depth] == b.index)
