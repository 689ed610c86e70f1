"""Type values: immutability, structural equality and hashing, paste-able repr, argument checks."""

from __future__ import annotations

import inspect
import pickle
import types

import pytest

import registry
from registry import (
    ANY,
    ARRAY,
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
    NOEXN,
    NOEXTERN,
    NOFUNC,
    NONE,
    STRUCT,
    V128,
    ArrayType,
    FieldType,
    FuncType,
    RecGroup,
    RefType,
    StructType,
    SubType,
)

# The codes of registry/typeinfo.pxd, restated: the heap engineer converts with them.
HEAP_CODES = {ANY: 0xFFFFFF01, EQ: 0xFFFFFF02, I31: 0xFFFFFF03, STRUCT: 0xFFFFFF04,
              ARRAY: 0xFFFFFF05, NONE: 0xFFFFFF06, FUNC: 0xFFFFFF07, NOFUNC: 0xFFFFFF08,
              EXTERN: 0xFFFFFF09, NOEXTERN: 0xFFFFFF0A, EXN: 0xFFFFFF0B, NOEXN: 0xFFFFFF0C}
STORAGE_CODES = {I8: 1, I16: 2, I32: 3, I64: 4, F32: 5, F64: 6, V128: 7}
SIZES = {I8: 1, I16: 2, I32: 4, I64: 8, F32: 4, F64: 8, V128: 16}


def test_codes_match_typeinfo_pxd():
    for h, code in HEAP_CODES.items():
        assert h.code == code
    for s, code in STORAGE_CODES.items():
        assert s.code == code
        assert s.size == SIZES[s]
    assert I8.packed and I16.packed and not I32.packed


def test_abstract_hierarchies():
    assert {h.top for h in (ANY, EQ, I31, STRUCT, ARRAY, NONE)} == {ANY}
    assert FUNC.top is FUNC and NOFUNC.top is FUNC
    assert EXTERN.top is EXTERN and NOEXTERN.top is EXTERN
    assert EXN.top is EXN and NOEXN.top is EXN
    assert [h for h in HEAP_CODES if h.is_bottom] == [NONE, NOFUNC, NOEXTERN, NOEXN]


SAMPLES = [
    RefType(ANY), RefType(3, nullable=False), FieldType(I8, mutable=True),
    FieldType(RefType(NOEXTERN)), StructType(()), StructType([FieldType(I32), FieldType(V128)]),
    ArrayType(FieldType(RefType(0), mutable=True)), FuncType([I32, RefType(FUNC)], [F64]),
    FuncType(), SubType(StructType(), final=False), SubType(ArrayType(FieldType(I16)),
                                                           supertype=4),
    RecGroup([SubType(FuncType()), SubType(StructType([FieldType(RefType(1))]))]), RecGroup(),
]


@pytest.mark.parametrize("value", SAMPLES, ids=repr)
def test_repr_pastes_back_and_equality_is_structural(value):
    ns = {name: getattr(registry, name) for name in registry.__all__}
    copy = eval(repr(value), ns)
    assert copy == value and hash(copy) == hash(value) and copy is not value
    assert pickle.loads(pickle.dumps(value)) == value


def test_distinct_values_differ():
    for i, a in enumerate(SAMPLES):
        for j, b in enumerate(SAMPLES):
            assert (a == b) is (i == j)
    assert RefType(ANY) != RefType(ANY, nullable=False)
    assert RefType(0) != RefType(1)
    assert FieldType(I8) != FieldType(I8, mutable=True)
    assert SubType(StructType()) != SubType(StructType(), final=False)
    assert SubType(StructType(), supertype=0) != SubType(StructType(), supertype=1)
    assert RefType(ANY) != (ANY, True)


def test_constants_are_singletons():
    assert pickle.loads(pickle.dumps(ANY)) is ANY
    assert pickle.loads(pickle.dumps(I8)) is I8
    with pytest.raises(TypeError):
        type(ANY)()
    with pytest.raises(TypeError):
        type(I8)()


# Valid constructor arguments for each value class, other than any sample's: re-running
# __init__ with them must be refused, not merely fail validation.
REINIT = {
    RefType: ((EQ,), {"nullable": False}),
    FieldType: ((I64,), {"mutable": True}),
    StructType: (([FieldType(I64)],), {}),
    ArrayType: ((FieldType(I64),), {}),
    FuncType: (([I64], [I32]), {}),
    SubType: ((ArrayType(FieldType(I64)),), {"final": False}),
    RecGroup: (([SubType(FuncType([I64]))],), {}),
}
CONSTANTS = list(HEAP_CODES) + list(STORAGE_CODES)


def public_attributes(cls) -> list[str]:
    return [name for name in dir(cls) if not name.startswith("_")
            and isinstance(inspect.getattr_static(cls, name),
                           (property, types.GetSetDescriptorType, types.MemberDescriptorType))]


def test_every_value_class_is_covered():
    classes = {type(v) for v in SAMPLES + CONSTANTS}
    exported = {getattr(registry, name) for name in registry.__all__}
    value_classes = {c for c in exported if isinstance(c, type)
                     and (c.__name__.endswith("Type") or c is RecGroup)}
    assert value_classes - {registry.TypeRegistry, registry.RegisteredType} == classes
    assert set(REINIT) == classes - {type(ANY), type(I8)}


@pytest.mark.parametrize("value", SAMPLES + CONSTANTS, ids=repr)
def test_immutable(value):
    before = repr(value)
    names = public_attributes(type(value))
    assert names, f"{type(value).__name__} has no attributes to check"
    for name in names:
        old = getattr(value, name)
        with pytest.raises(AttributeError):
            setattr(value, name, old)
        with pytest.raises(AttributeError):
            delattr(value, name)
    with pytest.raises(AttributeError):
        value.extra = 1
    if type(value) in REINIT:
        args, kwargs = REINIT[type(value)]
        type(value)(*args, **kwargs)            # the arguments are valid...
        with pytest.raises(TypeError, match="immutable"):
            value.__init__(*args, **kwargs)     # ... but the value is already made
    else:
        with pytest.raises(TypeError, match="module constants"):
            value.__init__()
    assert repr(value) == before


@pytest.mark.parametrize("bad, exc", [
    (lambda: RefType("any"), TypeError),
    (lambda: RefType(-1), ValueError),
    (lambda: RefType(2**32), ValueError),
    (lambda: RefType(True), TypeError),
    (lambda: RefType(ANY, nullable=1), TypeError),
    (lambda: FieldType(RefType), TypeError),
    (lambda: FieldType(ANY), TypeError),
    (lambda: FieldType(I8, mutable="yes"), TypeError),
    (lambda: StructType([I32]), TypeError),
    (lambda: StructType("abc"), TypeError),
    (lambda: StructType(5), TypeError),
    (lambda: ArrayType(I8), TypeError),
    (lambda: FuncType([FieldType(I32)]), TypeError),
    (lambda: FuncType(results=[EQ]), TypeError),
    (lambda: SubType(FieldType(I32)), TypeError),
    (lambda: SubType(StructType(), supertype=-3), ValueError),
    (lambda: SubType(StructType(), supertype=1.0), TypeError),
    (lambda: SubType(StructType(), final=None), TypeError),
    (lambda: RecGroup([StructType()]), TypeError),
])
def test_constructor_arguments_are_checked(bad, exc):
    with pytest.raises(exc):
        bad()


def test_sequences_become_tuples_and_groups_are_sequences():
    s = StructType([FieldType(I32)])
    assert s.fields == (FieldType(I32),)
    g = RecGroup([SubType(s)])
    assert len(g) == 1 and list(g) == [SubType(s)] and g[0] == SubType(s)


@pytest.mark.parametrize("value, text", [
    (I8, "i8"), (V128, "v128"), (EQ, "eq"), (NOEXTERN, "noextern"),
    (RefType(EQ), "(ref null eq)"), (RefType(ANY, nullable=False), "(ref any)"),
    (RefType(3), "(ref null $3)"), (RefType(3, nullable=False), "(ref $3)"),
    (FieldType(I8, mutable=True), "(mut i8)"), (FieldType(I32), "i32"),
    (FieldType(RefType(NOEXTERN)), "(ref null noextern)"),
    (FieldType(RefType(0, nullable=False), mutable=True), "(mut (ref $0))"),
    (StructType(()), "(struct)"),
    (StructType([FieldType(I32), FieldType(V128, mutable=True)]),
     "(struct (field i32) (field (mut v128)))"),
    (ArrayType(FieldType(RefType(0), mutable=True)), "(array (mut (ref null $0)))"),
    (FuncType([I32, RefType(FUNC)], [F64]), "(func (param i32 (ref null func)) (result f64))"),
    (FuncType(), "(func)"),
    (SubType(StructType()), "(struct)"),
    (SubType(StructType(), final=False), "(sub (struct))"),
    (SubType(ArrayType(FieldType(I16)), supertype=4), "(sub final $4 (array i16))"),
    (RecGroup([SubType(FuncType()), SubType(StructType([FieldType(RefType(1))]))]),
     "(rec (type (func)) (type (struct (field (ref null $1)))))"),
    (RecGroup(), "(rec)"),
])
def test_str_is_the_text_format(value, text):
    # Error messages show types this way; repr stays the Python constructor.
    assert str(value) == text
    assert repr(value) != text


def test_registered_type_repr_shows_the_type_in_the_text_format():
    reg = registry.TypeRegistry()
    rt = reg.register_type(SubType(StructType([FieldType(I32), FieldType(RefType(EQ), True)])))
    assert repr(rt) == (f"<RegisteredType ${rt.index}: "
                        "(struct (field i32) (field (mut (ref null eq))))>")
    rt.close()
    assert repr(rt).endswith(", closed>")
