"""One test per Wasm GC type rule; a failure names the type and the rule and changes nothing."""

from __future__ import annotations

import pytest

from registry import (
    ANY,
    ARRAY,
    EQ,
    EXTERN,
    FUNC,
    I8,
    I16,
    I31,
    I32,
    I64,
    NOFUNC,
    NONE,
    STRUCT,
    ArrayType,
    FieldType,
    FuncType,
    InvalidTypeError,
    MalformedWasmError,
    RecGroup,
    RefType,
    StructType,
    SubType,
    TypeRegistry,
    UnknownTypeError,
    encode_module,
)


def S(*fields, final=True, sup=None):
    return SubType(StructType([f if isinstance(f, FieldType) else FieldType(f)
                               for f in fields]), final=final, supertype=sup)


def A(storage, mutable=False, final=True, sup=None):
    return SubType(ArrayType(FieldType(storage, mutable)), final=final, supertype=sup)


def F(params=(), results=(), final=True, sup=None):
    return SubType(FuncType(params, results), final=final, supertype=sup)


def mut(s):
    return FieldType(s, mutable=True)


@pytest.fixture
def reg():
    r = TypeRegistry()
    yield r
    assert len(r) == 0, "a test leaked registrations"


def rejects(reg, groups, *words):
    before = len(reg)
    with pytest.raises(InvalidTypeError) as info:
        reg.register_module(groups)
    msg = str(info.value)
    for w in words:
        assert w in msg, msg
    assert len(reg) == before
    reg.verify()
    assert isinstance(info.value, ValueError)
    # The same groups as .wasm bytes: the C path refuses them with the same message (packed
    # types in a signature cannot even be decoded).
    with pytest.raises((InvalidTypeError, MalformedWasmError)) as binfo:
        reg.register_wasm(encode_module(groups))
    if isinstance(binfo.value, InvalidTypeError):
        assert str(binfo.value) == msg
    else:
        assert "packed" in str(binfo.value)
    assert len(reg) == before
    reg.verify()
    return msg


def accepts(reg, groups):
    fallbacks = reg._wasm_fallbacks()
    with reg.register_module(groups) as c, reg.register_wasm(encode_module(groups)) as b:
        assert b.shared_types == c.shared_types
    # The C path took them without the Python path's help.
    assert reg._wasm_fallbacks() == fallbacks


# ---- index bounds --------------------------------------------------------------------------

def test_reference_into_a_later_group_is_rejected(reg):
    rejects(reg, [F([RefType(1)]), F()], "type 0", "reference to type 1", "rule")


def test_reference_past_the_end_is_rejected(reg):
    rejects(reg, [RecGroup([S(), S(RefType(5))])], "type 1", "type 5")


def test_reference_into_own_group_and_earlier_groups_is_fine(reg):
    accepts(reg, [S(I32), RecGroup([S(RefType(2)), S(RefType(1), RefType(0))])])


def test_supertype_must_be_earlier(reg):
    rejects(reg, [RecGroup([S(final=False, sup=1), S(final=False)])], "type 0", "supertype 1",
            "earlier")
    rejects(reg, [S(final=False, sup=0)], "type 0", "supertype 0")


def test_supertype_must_not_be_final(reg):
    rejects(reg, [S(), S(sup=0)], "type 1", "final")


def test_supertype_must_be_same_kind(reg):
    rejects(reg, [S(final=False), A(I32, sup=0)], "type 1", "same kind")
    rejects(reg, [F(final=False), S(sup=0)], "type 1", "same kind")


# ---- struct rules --------------------------------------------------------------------------

def test_struct_width(reg):
    accepts(reg, [S(I32, final=False), S(I32, I64, sup=0)])
    rejects(reg, [S(I32, I64, final=False), S(I32, sup=0)], "type 1", "width")


def test_immutable_fields_are_covariant(reg):
    accepts(reg, [S(RefType(ANY), final=False), S(RefType(EQ, nullable=False), sup=0)])
    accepts(reg, [S(RefType(EQ), final=False), S(RefType(NONE), sup=0)])
    rejects(reg, [S(RefType(EQ), final=False), S(RefType(ANY), sup=0)], "type 1", "field 0",
            "covariant")
    rejects(reg, [S(RefType(ANY, nullable=False), final=False), S(RefType(ANY), sup=0)],
            "field 0")
    rejects(reg, [S(I32, final=False), S(I64, sup=0)], "field 0")


def test_mutable_fields_are_invariant(reg):
    accepts(reg, [S(mut(RefType(EQ)), final=False), S(mut(RefType(EQ)), sup=0)])
    rejects(reg, [S(mut(RefType(ANY)), final=False), S(mut(RefType(EQ)), sup=0)], "type 1",
            "invariant")


def test_mutability_must_match(reg):
    rejects(reg, [S(mut(I32), final=False), S(I32, sup=0)], "mutability")
    rejects(reg, [S(I32, final=False), S(mut(I32), sup=0)], "mutability")


def test_packed_fields_only_match_themselves(reg):
    accepts(reg, [S(I8, I16, final=False), S(I8, I16, sup=0)])
    rejects(reg, [S(I8, final=False), S(I16, sup=0)], "packed")
    rejects(reg, [S(I32, final=False), S(I8, sup=0)], "field 0")


def test_concrete_field_subtyping_follows_declarations(reg):
    # 0 <: nothing, 1 <: 0; a struct over (ref 1) may refine one over (ref 0), not backwards.
    base = [S(final=False), S(I32, final=False, sup=0)]
    accepts(reg, base + [S(RefType(0), final=False), S(RefType(1), sup=2)])
    rejects(reg, base + [S(RefType(1), final=False), S(RefType(0), sup=2)], "type 3")
    accepts(reg, base + [S(RefType(STRUCT), final=False), S(RefType(1), sup=2)])
    rejects(reg, base + [S(RefType(ARRAY), final=False), S(RefType(1), sup=2)], "type 3")
    accepts(reg, base + [S(RefType(0), final=False), S(RefType(NONE), sup=2)])
    rejects(reg, base + [S(RefType(0), final=False), S(RefType(NOFUNC), sup=2)], "type 3")


# ---- array and func rules ------------------------------------------------------------------

def test_array_element_rule(reg):
    accepts(reg, [A(RefType(ANY), final=False), A(RefType(I31), sup=0)])
    rejects(reg, [A(RefType(ANY), mutable=True, final=False),
                  A(RefType(I31), mutable=True, sup=0)], "type 1", "element", "invariant")
    rejects(reg, [A(I8, final=False), A(I16, sup=0)], "element")


def test_func_params_contravariant_results_covariant(reg):
    accepts(reg, [F([RefType(EQ)], [RefType(ANY)], final=False),
                  F([RefType(ANY)], [RefType(EQ)], sup=0)])
    rejects(reg, [F([RefType(ANY)], final=False), F([RefType(EQ)], sup=0)], "type 1", "param 0",
            "contravariant")
    rejects(reg, [F([], [RefType(EQ)], final=False), F([], [RefType(ANY)], sup=0)], "result 0",
            "covariant")
    rejects(reg, [F([I32], final=False), F([I32, I32], sup=0)], "arity")
    accepts(reg, [F([], [RefType(FUNC)], final=False), F([], [RefType(0)], sup=0)])


def test_packed_types_only_as_field_storage(reg):
    rejects(reg, [F([I8])], "type 0", "packed")
    rejects(reg, [S(), F([], [I16])], "type 1", "packed")


def test_hierarchies_do_not_mix(reg):
    rejects(reg, [S(RefType(ANY), final=False), S(RefType(EXTERN), sup=0)], "field 0")
    rejects(reg, [S(RefType(FUNC), final=False), S(RefType(NONE), sup=0)], "field 0")


def test_subtyping_depth_limit(reg):
    chain = [S(final=False)] + [S(final=False, sup=i) for i in range(63)]
    accepts(reg, chain)
    rejects(reg, chain + [S(sup=63)], "type 64", "depth")


def test_recursive_supertype_within_a_group(reg):
    # A type and its subtype in one group, each referring to the other.
    accepts(reg, [RecGroup([S(RefType(1), final=False), S(RefType(1), I32, sup=0)])])


# ---- failures leave the registry as it was ---------------------------------------------------

def test_failure_in_a_later_group_unregisters_earlier_groups(reg):
    keep = reg.register_module([S(I64)])
    before = len(reg)
    rejects(reg, [S(I64), S(I32), A(I8), F([I8])], "type 3")
    assert len(reg) == before
    assert reg.registration_count(keep.shared_type(0)) == 1
    keep.close()


def test_register_type_checks_engine_references(reg):
    with pytest.raises(UnknownTypeError):
        reg.register_type(S(RefType(7)))
    with pytest.raises(UnknownTypeError):
        reg.register_type(S(sup=3))
    with reg.register_type(S(final=True)) as base:
        with pytest.raises(InvalidTypeError, match="final"):
            reg.register_type(S(sup=base.index))
        with pytest.raises(InvalidTypeError, match="packed"):
            reg.register_type(F([I8]))
    assert len(reg) == 0


def test_argument_types(reg):
    with pytest.raises(TypeError):
        reg.register_module(S())
    with pytest.raises(TypeError):
        reg.register_module([StructType()])
    with pytest.raises(TypeError):
        reg.register_module(5)
    with pytest.raises(TypeError):
        reg.register_type(RecGroup())


@pytest.mark.parametrize("group, message", [
    ([SubType(FuncType([I8]))], "type 0: i8 in a function signature"),
    ([F([RefType(ANY)], final=False), F([RefType(EQ)], sup=0)],
     "type 1: supertype 0: param 0 (ref null eq) does not accept the supertype's "
     "(ref null any)"),
    ([F([], [RefType(ANY)], final=False), F([], [RefType(EQ, nullable=False)], final=False),
      F([], [RefType(ANY)], sup=1)],
     "type 2: supertype 1: result 0 (ref null any) is not a subtype of (ref eq)"),
    # Indices inside the group are shown as the module indices the caller wrote.
    ([RecGroup([F([], [RefType(ANY)], final=False), F([], [RefType(0)], final=False),
                F([], [RefType(EXTERN)], sup=1)])],
     "type 2: supertype 1: result 0 (ref null extern) is not a subtype of (ref null $0)"),
])
def test_messages_name_types_in_the_text_format(group, message):
    reg = TypeRegistry()
    with pytest.raises(InvalidTypeError) as info:
        reg.register_module(group)
    assert message in str(info.value)
    assert "RefType(" not in str(info.value)
    assert len(reg) == 0
