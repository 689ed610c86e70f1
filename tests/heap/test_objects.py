"""The object API: structs, arrays, externrefs, i31, value conversion and ref type checks."""

from __future__ import annotations

import math
import struct

import pytest

import registry as R
from drc import I31, GcRef, InvalidRefError


def test_struct_roundtrip_every_storage(heap, types):
    t = types.struct(R.I8, R.I16, R.I32, R.I64, R.F32, R.F64, R.V128, R.RefType(R.ANY))
    v = bytes(range(16))
    s = heap.struct_new(t, (-1, 0x12345, -5, -(1 << 63), 1.1, 2.5, v, I31(7)))
    assert heap.struct_get(s, 0) == 0xFF
    assert heap.struct_get(s, 0, signed=True) == -1
    assert heap.struct_get(s, 1) == 0x2345               # packed i16 wraps on store
    assert heap.struct_get(s, 2) == -5
    assert heap.struct_get(s, 3) == -(1 << 63)
    assert heap.struct_get(s, 4) == struct.unpack("<f", struct.pack("<f", 1.1))[0]
    assert heap.struct_get(s, 5) == 2.5
    assert heap.struct_get(s, 6) == v
    assert heap.struct_get(s, 7) == I31(7)
    assert heap.type_of(s) == t
    assert s.type_index == t


def test_integer_ranges_and_wrapping(heap, types):
    t = types.struct(R.I8, R.I32, R.I64)
    s = heap.struct_new(t, (0, 0, 0))
    heap.struct_set(s, 0, 0xFFFFFFFF)                    # any i32 bit pattern
    assert heap.struct_get(s, 0) == 0xFF
    heap.struct_set(s, 1, 0xFFFFFFFF)
    assert heap.struct_get(s, 1) == -1
    heap.struct_set(s, 2, (1 << 64) - 1)
    assert heap.struct_get(s, 2) == -1
    with pytest.raises(OverflowError, match="4294967296"):
        heap.struct_set(s, 1, 1 << 32)
    with pytest.raises(OverflowError, match="-2147483649"):
        heap.struct_set(s, 0, -(1 << 31) - 1)
    with pytest.raises(OverflowError, match=str(1 << 64)):
        heap.struct_set(s, 2, 1 << 64)
    with pytest.raises(TypeError, match="1.5"):
        heap.struct_set(s, 1, 1.5)


def test_integers_either_side_of_one_digit_convert_alike(heap, types):
    # Exact ints below 2**30 in magnitude take a short path (heap.pyx, drc_compact_int); the
    # values around that edge, int subclasses and bools must read back as the general path
    # gives them.
    class Sub(int):
        pass

    t = types.struct(R.I32, R.I64)
    arr_t = types.array(R.I64)
    s = heap.struct_new(t, (0, 0))
    for v in (0, 1, -1, (1 << 30) - 1, 1 << 30, -(1 << 30) + 1, -(1 << 30), (1 << 31) - 1,
              -(1 << 31), Sub(5), Sub(-(1 << 40)), True, False):
        heap.struct_set(s, 1, v)
        assert heap.struct_get(s, 1) == int(v)
        if -(1 << 31) <= v < 1 << 31:
            heap.struct_set(s, 0, v)
            assert heap.struct_get(s, 0) == int(v)
    assert heap.struct_get(s, 0) == 0
    with pytest.raises(OverflowError, match="-2147483649"):
        heap.struct_set(s, 0, Sub(-(1 << 31) - 1))
    a = heap.array_new(arr_t, (1 << 10) + 3, 0)
    for i in (0, 1, Sub(2), True, (1 << 10) + 2):
        heap.array_set(a, i, int(i) * 7)
        assert heap.array_get(a, i) == int(i) * 7
    for i in (-1, (1 << 10) + 3, 1 << 30, -(1 << 30), 1 << 70, Sub(-1)):
        with pytest.raises(IndexError):
            heap.array_get(a, i)
    with pytest.raises(TypeError, match="index must be an int"):
        heap.array_get(a, 1.0)


def test_f32_rounding_and_specials(heap, types):
    t = types.struct(R.F32, R.F64)
    s = heap.struct_new(t, (1e300, float("nan")))
    assert heap.struct_get(s, 0) == math.inf
    assert math.isnan(heap.struct_get(s, 1))
    heap.struct_set(s, 0, 3)                             # ints are accepted for floats
    assert heap.struct_get(s, 0) == 3.0
    with pytest.raises(TypeError, match="'x'"):
        heap.struct_set(s, 0, "x")


def test_v128_needs_16_bytes(heap, types):
    t = types.struct(R.V128)
    with pytest.raises(ValueError, match="got 15"):
        heap.struct_new(t, (b"\0" * 15,))
    with pytest.raises(TypeError):
        heap.struct_new(t, ("x" * 16,))
    s = heap.struct_new(t, (bytearray(16),))
    assert heap.struct_get(s, 0) == bytes(16)


def test_ref_fields_checked_against_declared_type(heap, types):
    point = types.struct(R.I32)
    other = types.struct(R.I64)
    arr_t = types.array(R.I8)
    holder = types.struct(R.RefType(point, False), R.RefType(point), R.RefType(R.EQ),
                          R.RefType(R.EXTERN), R.RefType(R.STRUCT), R.RefType(R.I31))
    p = heap.struct_new(point, (1,))
    o = heap.struct_new(other, (1,))
    a = heap.array_new(arr_t, 1)
    e = heap.externref_new(object())
    h = heap.struct_new(holder, (p, None, I31(3), e, p, I31(4)))
    with pytest.raises(TypeError, match="None"):
        heap.struct_set(h, 0, None)                      # non-nullable
    with pytest.raises(TypeError):
        heap.struct_set(h, 1, o)                         # wrong concrete type
    with pytest.raises(TypeError):
        heap.struct_set(h, 2, e)                         # externref is not eq
    heap.struct_set(h, 3, p)                             # extern.convert_any is implied
    assert heap.struct_get(h, 3) == p
    with pytest.raises(TypeError):
        heap.struct_set(h, 4, a)                         # array is not struct
    with pytest.raises(TypeError):
        heap.struct_set(h, 5, p)
    heap.struct_set(h, 2, a)
    assert heap.struct_get(h, 2) == a


def test_subtype_values_fit_supertype_fields(heap, reg, types):
    base = types.struct(R.I32, final=False)
    sub = types.struct(R.I32, R.I64, supertype=base)
    holder = types.struct(R.RefType(base))
    s = heap.struct_new(sub, (1, 2))
    h = heap.struct_new(holder, (s,))
    assert heap.struct_get(h, 0) == s
    assert heap.ref_test(s, R.RefType(base, False))
    assert not heap.ref_test(heap.struct_new(base, (0,)), R.RefType(sub))


def test_immutable_fields_and_arrays(heap, types):
    t = types.struct(R.FieldType(R.I32, False))
    s = heap.struct_new(t, (5,))
    with pytest.raises(TypeError, match="immutable"):
        heap.struct_set(s, 0, 6)
    at = types.array(R.I32, mutable=False)
    a = heap.array_new_fixed(at, (1, 2, 3))
    for call in (lambda: heap.array_set(a, 0, 1), lambda: heap.array_fill(a, 0, 1, 1),
                 lambda: heap.array_copy(a, 0, a, 1, 1)):
        with pytest.raises(TypeError, match="immutable"):
            call()
    assert [heap.array_get(a, i) for i in range(3)] == [1, 2, 3]


def test_array_new_default_and_value(heap, types):
    t = types.array(R.I16)
    a = heap.array_new(t, 4)
    assert [heap.array_get(a, i) for i in range(4)] == [0] * 4
    b = heap.array_new(t, 4, -2)
    assert [heap.array_get(b, i, signed=True) for i in range(4)] == [-2] * 4
    assert heap.array_get(b, 0) == 0xFFFE
    assert heap.array_len(b) == 4
    assert heap.array_len(heap.array_new(t, 0)) == 0


def test_array_of_non_nullable_refs_needs_a_value(heap, types):
    node = types.struct(R.I32)
    t = types.array(R.RefType(node, False))
    with pytest.raises(TypeError, match="non-nullable"):
        heap.array_new(t, 2)
    assert heap.array_len(heap.array_new(t, 0)) == 0
    n = heap.struct_new(node, (1,))
    a = heap.array_new(t, 3, n)
    assert heap.ref_count(n) == 4
    assert heap.array_get(a, 2) == n


def test_array_fill_and_copy_with_overlap(heap, types):
    t = types.array(R.I32)
    a = heap.array_new_fixed(t, range(10))
    heap.array_copy(a, 2, a, 0, 5)
    assert [heap.array_get(a, i) for i in range(10)] == [0, 1, 0, 1, 2, 3, 4, 7, 8, 9]
    heap.array_copy(a, 0, a, 3, 7)
    assert [heap.array_get(a, i) for i in range(10)] == [1, 2, 3, 4, 7, 8, 9, 7, 8, 9]
    heap.array_fill(a, 8, 42, 2)
    assert heap.array_get(a, 9) == 42


def test_ref_array_copy_with_overlap_keeps_counts(heap, types):
    node = types.struct(R.I32)
    t = types.array(R.RefType(node))
    objs = [heap.struct_new(node, (i,)) for i in range(6)]
    a = heap.array_new_fixed(t, objs)
    heap.array_copy(a, 1, a, 0, 5)                       # forward overlap: walk backwards
    got = [heap.array_get(a, i) for i in range(6)]
    assert got == [objs[0], objs[0], objs[1], objs[2], objs[3], objs[4]]
    del got
    assert [heap.ref_count(o) for o in objs] == [3, 2, 2, 2, 2, 1]
    heap.array_copy(a, 0, a, 1, 5)
    heap.verify()


def test_array_copy_checks_element_types(heap, types):
    ta = types.array(R.I32)
    tb = types.array(R.I64)
    tr_any = types.array(R.RefType(R.ANY))
    tr_eq = types.array(R.RefType(R.EQ))
    a, b = heap.array_new(ta, 2), heap.array_new(tb, 2)
    with pytest.raises(TypeError):
        heap.array_copy(a, 0, b, 0, 1)
    x, y = heap.array_new(tr_any, 2), heap.array_new(tr_eq, 2)
    heap.array_copy(x, 0, y, 0, 2)                       # eq <: any
    with pytest.raises(TypeError):
        heap.array_copy(y, 0, x, 0, 2)


def test_externref_payload(heap):
    payload = {"k": [1, 2]}
    e = heap.externref_new(payload)
    assert heap.externref_data(e) is payload
    n = heap.externref_new(None)
    assert heap.externref_data(n) is None
    assert heap.type_of(e) is None and e.type_index is None
    assert heap.ref_test(e, R.RefType(R.EXTERN))
    assert heap.ref_test(e, R.RefType(R.ANY))            # any.convert_extern is the identity
    assert not heap.ref_test(e, R.RefType(R.EQ))


def test_i31_value_type():
    assert I31(5) == I31(5) and I31(5) != I31(6)
    assert hash(I31(5)) == hash(I31(5))
    assert repr(I31(-3)) == "I31(-3)"
    assert eval(repr(I31(-3))) == I31(-3)
    with pytest.raises(OverflowError, match="1073741824"):
        I31(1 << 30)
    with pytest.raises(TypeError):
        I31(1.0)
    with pytest.raises(AttributeError):
        I31(1).value = 2


def test_ref_test_abstract_types(heap, types):
    st = types.struct(R.I32)
    at = types.array(R.I8)
    s, a = heap.struct_new(st, (0,)), heap.array_new(at, 1)
    assert heap.ref_test(s, R.RefType(R.STRUCT)) and not heap.ref_test(s, R.RefType(R.ARRAY))
    assert heap.ref_test(a, R.RefType(R.EQ)) and heap.ref_test(a, R.RefType(R.ANY))
    assert heap.ref_test(I31(1), R.RefType(R.I31)) and heap.ref_test(I31(1), R.RefType(R.EQ))
    assert heap.ref_test(None, R.RefType(R.NONE))
    assert not heap.ref_test(None, R.RefType(R.ANY, False))
    assert not heap.ref_test(s, R.RefType(R.NONE))
    assert heap.ref_test(s, R.RefType(st, False)) and not heap.ref_test(s, R.RefType(at))


def test_handles_identity_and_repr(heap, node):
    a = heap.struct_new(node, (None, None))
    b = heap.struct_new(node, (a, a))
    x, y = heap.struct_get(b, 0), heap.struct_get(b, 1)
    assert x == y == a and x is not a and hash(x) == hash(a)
    assert a != b
    assert "struct" in repr(a) and hex(a.raw) in repr(a)
    assert isinstance(a, GcRef) and a.heap is heap
    with pytest.raises(TypeError):
        GcRef()


def test_expose_and_from_raw(reg, node):
    from drc import Heap
    heap = Heap(reg)                                     # the OASR keeps its counts: no collector
    a = heap.struct_new(node, (None, None))
    raw = heap.expose(a)
    assert raw == a.raw and heap.ref_count(a) == 2 and heap.stats()["oasr_len"] == 1
    assert heap.expose(a) == raw                         # issue 13037: no second count
    assert heap.ref_count(a) == 2 and heap.stats()["oasr_len"] == 1
    b = heap.from_raw(raw)
    assert b == a and heap.ref_count(a) == 3
    assert heap.from_raw(0) is None
    assert heap.from_raw(I31(9).raw) == I31(9)
    assert heap.expose(I31(9)) == I31(9).raw and heap.expose(None) == 0
    with pytest.raises(InvalidRefError, match="0x20"):
        heap.from_raw(raw + 16)                          # inside an object, not its start
    with pytest.raises(InvalidRefError):
        heap.from_raw(1 << 20)                           # beyond the usable length
    heap.verify()
    heap.close()


def test_use_type_then_allocate(heap, node):
    heap.use_type(node)
    assert heap.stats()["types_held"] == 1
    assert heap.struct_new(node, (None, None)).type_index == node


def test_heap_keeps_its_types_registered(reg, types):
    from drc import Heap
    rt = reg.register_type(R.SubType(R.StructType([R.FieldType(R.I32, True)])))
    t = rt.index
    h = Heap(reg)
    s = h.struct_new(t, (5,))
    rt.close()                                           # the heap still holds it
    assert t in reg
    assert h.struct_get(s, 0) == 5
    del s
    h.close()
    assert t not in reg


def test_messages_and_repr_name_types_in_the_text_format(heap, types):
    point = types.struct(R.I32)
    holder = types.struct(R.RefType(R.EQ), R.RefType(point, False), R.RefType(point),
                          R.RefType(R.EXTERN, False), R.I8)
    p = heap.struct_new(point, (1,))
    e = heap.externref_new(object())
    h = heap.struct_new(holder, (None, p, None, e, 0))
    cases = [(0, e, "(ref null eq)"), (1, None, f"(ref ${point})"), (2, h, f"(ref null ${point})"),
             (3, None, "(ref extern)")]
    for field, value, text in cases:
        with pytest.raises(TypeError) as info:
            heap.struct_set(h, field, value)
        assert str(info.value).endswith(f"does not match the field's type {text}"), info.value
    with pytest.raises(TypeError, match="for an i8 field"):
        heap.struct_set(h, 4, "x")
    fn = types.reg.register_type(R.SubType(R.FuncType()))
    types.keep.append(fn)
    funcs = types.struct(R.RefType(R.NOFUNC))
    f = heap.funcref_new(fn.index, print)
    with pytest.raises(TypeError, match=r"does not match the field's type \(ref null nofunc\)$"):
        heap.struct_new(funcs, (f,))
    assert repr(p) == f"<GcRef struct ${point} @ {p.raw:#x}>"
    assert repr(f).startswith(f"<FuncRef {f.raw:#x} func ${fn.index} target")
    assert repr(e) == f"<GcRef externref @ {e.raw:#x}>"
