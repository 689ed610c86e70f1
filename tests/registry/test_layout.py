"""Golden DRC layouts (Wasmtime's DRC layouts) and ArrayLayout.size_for_len."""

from __future__ import annotations

import pytest

from registry import (
    ANY,
    EQ,
    EXN,
    EXTERN,
    F32,
    F64,
    FUNC,
    I8,
    I16,
    I31,
    I32,
    I64,
    NOFUNC,
    NONE,
    V128,
    ArrayLayout,
    ArrayType,
    FieldLayout,
    FieldType,
    FuncType,
    RefType,
    StructLayout,
    StructType,
    SubType,
    TypeRegistry,
)

REF = RefType(ANY)

# fields -> (size, align, offsets); "alloc" in Wasmtime's table is the allocator's business.
STRUCT_GOLDEN = [
    ((), 24, 8, ()),
    ((I8,), 32, 8, (24,)),
    ((I8, I32, I64, REF), 48, 8, (24, 28, 32, 40)),
    ((I16, I8, I16), 32, 8, (24, 26, 28)),
    ((REF, REF), 32, 8, (24, 28)),
    ((I8, V128), 48, 16, (24, 32)),
    ((F32, F64), 40, 8, (24, 32)),
    ((I64,), 32, 8, (24,)),
]


@pytest.mark.parametrize("fields, size, align, offsets", STRUCT_GOLDEN, ids=repr)
def test_struct_golden(fields, size, align, offsets):
    reg = TypeRegistry()
    with reg.register_type(SubType(StructType([FieldType(f) for f in fields]))) as t:
        lay = reg.layout(t.index)
        assert isinstance(lay, StructLayout)
        assert (lay.size, lay.align) == (size, align)
        assert tuple(f.offset for f in lay.fields) == offsets
        assert tuple(f.size for f in lay.fields) == tuple(
            4 if isinstance(s, RefType) else s.size for s in fields)


ARRAY_GOLDEN = [
    (I8, 28, 8, 1), (I16, 28, 8, 2), (I32, 28, 8, 4), (F32, 28, 8, 4), (REF, 28, 8, 4),
    (I64, 32, 8, 8), (F64, 32, 8, 8), (V128, 32, 16, 16),
]


@pytest.mark.parametrize("elem, base, align, esize", ARRAY_GOLDEN, ids=repr)
def test_array_golden(elem, base, align, esize):
    reg = TypeRegistry()
    with reg.register_type(SubType(ArrayType(FieldType(elem, mutable=True)))) as t:
        lay = reg.layout(t.index)
        assert lay == ArrayLayout(base, align, esize, isinstance(elem, RefType), 24)
        assert lay.size_for_len(0) == base
        assert lay.size_for_len(10) == base + 10 * esize


@pytest.mark.parametrize("heap, is_gc", [
    (ANY, True), (EQ, True), (NONE, True), (EXTERN, True), (EXN, True),
    (I31, False), (FUNC, False), (NOFUNC, False),
])
def test_which_refs_are_gc_refs(heap, is_gc):
    reg = TypeRegistry()
    with reg.register_type(SubType(StructType([FieldType(I8), FieldType(RefType(heap))]))) as t:
        assert reg.layout(t.index).fields == (FieldLayout(24, 1, False),
                                              FieldLayout(28, 4, is_gc))
    with reg.register_type(SubType(ArrayType(FieldType(RefType(heap))))) as t:
        assert reg.layout(t.index).elems_are_gc_refs is is_gc


def test_concrete_refs_gc_unless_func():
    reg = TypeRegistry()
    c = reg.register_module([SubType(FuncType()), SubType(StructType()),
                             SubType(StructType([FieldType(RefType(0)),
                                                 FieldType(RefType(1, nullable=False)),
                                                 FieldType(RefType(2))]))])
    assert [f.is_gc_ref for f in reg.layout(c.shared_type(2)).fields] == [False, True, True]
    assert reg.layout(c.shared_type(0)) is None
    c.close()


def test_size_for_len_bounds():
    lay = ArrayLayout(32, 8, 8, False, 24)
    assert lay.size_for_len((2**32 - 1 - 32) // 8) <= 2**32 - 1
    with pytest.raises(OverflowError):
        lay.size_for_len((2**32 - 32) // 8 + 1)
    with pytest.raises(ValueError):
        lay.size_for_len(-1)
    with pytest.raises(TypeError):
        lay.size_for_len(1.5)
