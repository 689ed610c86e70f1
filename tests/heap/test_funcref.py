"""Function references in the heap: the function table, funcref fields, their type rules and
the reclamation of unused entries."""

from __future__ import annotations

import gc
import pickle
import struct

import pytest

import registry as R
from drc import I31, GcRef, HeapCorruptionError, InvalidRefError
from drc.heap import FuncRef, Heap


def ref(heap_type):
    """A non-nullable ref type (RefType defaults to nullable)."""
    return R.RefType(heap_type, False)


def target_a():
    return "a"


def target_b():
    return "b"


@pytest.fixture
def ftypes(types):
    """f0 (non-final) <- f1 (final), and an unrelated g."""
    f0 = types.func([R.I32], [], final=False)
    f1 = types.func([R.I32], [], supertype=f0)
    g = types.func([], [R.I64])
    return f0, f1, g


def test_funcref_new_is_interned_and_reads_back(heap, ftypes):
    f0, f1, g = ftypes
    a = heap.funcref_new(f1, target_a)
    assert a.type_index == f1 and a.target is target_a
    assert a == heap.funcref_new(f1, target_a)
    assert hash(a) == hash(heap.funcref_new(f1, target_a))
    assert a != heap.funcref_new(f0, target_a)           # same target, other type
    assert a != heap.funcref_new(f1, target_b)
    assert f"func ${f1} " in repr(a) and "target_a" in repr(a)
    assert heap.stats()["funcrefs_live"] == 3


def test_funcref_targets_compare_by_identity(heap, ftypes):
    f0, _, _ = ftypes
    x, y = [1], [1]                                      # equal, unhashable, not identical
    assert heap.funcref_new(f0, x) != heap.funcref_new(f0, y)
    assert heap.funcref_new(f0, x).target is x


def test_funcref_bad_arguments(heap, ftypes, types):
    f0, _, _ = ftypes
    st = types.struct(R.I32)
    with pytest.raises(TypeError, match="not a func type"):
        heap.funcref_new(st, target_a)
    with pytest.raises(R.UnknownTypeError, match="not registered"):
        heap.funcref_new(12345, target_a)
    with pytest.raises(TypeError, match="type index"):
        heap.funcref_new(None, target_a)
    with pytest.raises(TypeError, match="type index"):
        heap.funcref_new("0", target_a)
    with pytest.raises(OverflowError):
        heap.funcref_new(-1, target_a)
    with pytest.raises(OverflowError):
        heap.funcref_new(1 << 40, target_a)
    assert heap.stats()["funcrefs_live"] == 0            # nothing was made by the rejects
    with pytest.raises(TypeError, match="created by Heap methods"):
        FuncRef()
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(heap.funcref_new(f0, target_a))


def test_funcref_fields_follow_the_declared_type(heap, ftypes, types):
    f0, f1, g = ftypes
    s = types.struct(R.RefType(f0, False), R.RefType(f1), R.RefType(R.FUNC, False),
                     R.RefType(R.NOFUNC, True))
    a0 = heap.funcref_new(f0, target_a)
    a1 = heap.funcref_new(f1, target_b)
    b = heap.funcref_new(g, target_a)
    obj = heap.struct_new(s, (a1, a1, b, None))          # a subtype fits a supertype field
    assert heap.struct_get(obj, 0) == a1
    assert heap.struct_get(obj, 1) == a1
    assert heap.struct_get(obj, 2) == b
    assert heap.struct_get(obj, 3) is None
    heap.struct_set(obj, 0, a0)
    assert heap.struct_get(obj, 0).type_index == f0
    heap.struct_set(obj, 1, None)
    assert heap.struct_get(obj, 1) is None
    with pytest.raises(TypeError, match=r"\(ref null 1\)|does not match"):
        heap.struct_set(obj, 1, a0)                      # a supertype does not fit
    with pytest.raises(TypeError, match="does not match"):
        heap.struct_set(obj, 0, b)                       # unrelated func type
    with pytest.raises(TypeError, match="does not match"):
        heap.struct_set(obj, 0, None)                    # non-nullable
    with pytest.raises(TypeError, match="does not match"):
        heap.struct_set(obj, 3, a0)                      # nofunc holds only null
    with pytest.raises(TypeError, match="FuncRef or None"):
        heap.struct_set(obj, 2, I31(1))
    with pytest.raises(TypeError, match="FuncRef or None"):
        heap.struct_set(obj, 2, obj)
    with pytest.raises(TypeError, match="FuncRef or None"):
        heap.struct_set(obj, 2, 5)
    assert heap.struct_get(obj, 0) == a0                 # the rejects changed nothing


def test_funcrefs_do_not_fit_gc_ref_fields(heap, ftypes, types):
    f0, _, _ = ftypes
    s = types.struct(R.RefType(R.ANY, True), R.RefType(R.EXTERN, True), R.RefType(R.I31, True))
    obj = heap.struct_new(s, (None, None, None))
    a = heap.funcref_new(f0, target_a)
    for field in range(3):
        with pytest.raises(TypeError, match="is a funcref"):
            heap.struct_set(obj, field, a)
    with pytest.raises(TypeError, match="is a funcref"):
        heap.struct_new(s, (a, None, None))


def test_funcref_fields_are_not_counted_or_traced(heap, ftypes, types):
    f0, _, _ = ftypes
    s = types.struct(R.RefType(f0), R.RefType(R.ANY, True))
    a = heap.funcref_new(f0, target_a)
    inner = heap.struct_new(types.struct(R.I32), (1,))
    obj = heap.struct_new(s, (a, inner))
    assert heap.ref_count(inner) == 2
    raw = struct.unpack_from("<I", memoryview(heap), obj.raw + 24)[0]
    assert raw == a.raw                                  # the slot is the plain id
    del obj                                              # the cascade skips the funcref slot
    assert heap.ref_count(inner) == 1
    assert heap.stats()["funcrefs_live"] == 1            # the handle still pins it


def test_subtyped_vtables(heap, types):
    """A class hierarchy as compilers lower it: each class's vtable is a struct of funcrefs,
    the subclass's vtable type extends the superclass's with refined method types."""
    reg = types.reg
    coll = reg.register_module([R.RecGroup([
        R.SubType(R.FuncType([ref(2)], [R.I32]), final=False),                # 0 $m
        R.SubType(R.FuncType([ref(2)], [R.I32]), supertype=0),                 # 1 $m' <: $m
        R.SubType(R.StructType([R.FieldType(ref(3), False)]), final=False),    # 2 $obj
        R.SubType(R.StructType([R.FieldType(ref(0), False)]), final=False),    # 3 $vt
        R.SubType(R.StructType([R.FieldType(ref(1), False),                    # 4 $vt' <: $vt
                                R.FieldType(ref(1), False)]), supertype=3),
        R.SubType(R.StructType([R.FieldType(ref(4), False),                    # 5 $obj' <: $obj
                                R.FieldType(R.I32, True)]), supertype=2),
    ])])
    types.keep.append(coll)
    m, m2, obj_t, vt, vt2, obj2 = (coll.shared_type(i) for i in range(6))
    base_m = heap.funcref_new(m, "Base.get")
    sub_m = heap.funcref_new(m2, "Sub.get")
    sub_n = heap.funcref_new(m2, "Sub.extra")
    base_vt = heap.struct_new(vt, (base_m,))
    sub_vt = heap.struct_new(vt2, (sub_m, sub_n))
    with pytest.raises(TypeError):
        heap.struct_new(vt2, (base_m, sub_n))            # $m does not fit (ref $m')
    base = heap.struct_new(obj_t, (base_vt,))
    sub = heap.struct_new(obj2, (sub_vt, 7))
    with pytest.raises(TypeError):
        heap.struct_new(obj2, (base_vt, 7))              # $vt does not fit (ref $vt')
    # Virtual dispatch: read the vtable through the base type's field, then the method.
    for o, want in ((base, "Base.get"), (sub, "Sub.get")):
        table = heap.struct_get(o, 0)
        method = heap.struct_get(table, 0)
        assert method.target == want
        assert heap.ref_test(method, R.RefType(m))
        assert heap.ref_test(table, R.RefType(vt))
    assert heap.ref_test(heap.struct_get(sub_vt, 1), R.RefType(m2))
    assert not heap.ref_test(base_m, R.RefType(m2))
    del base_m, sub_m, sub_n, base_vt, sub_vt, o, table, method
    assert heap.reclaim_funcrefs() == 0                  # all three live in vtables
    del base, sub
    assert heap.reclaim_funcrefs() == 3


def test_funcref_arrays(heap, ftypes, types):
    f0, f1, g = ftypes
    arr0 = types.array(R.RefType(f0, True))
    arr1 = types.array(ref(f1))
    a0 = heap.funcref_new(f0, target_a)
    a1 = heap.funcref_new(f1, target_b)
    b = heap.funcref_new(g, target_a)
    x = heap.array_new(arr0, 4, a1)
    assert [heap.array_get(x, i) for i in range(4)] == [a1] * 4
    heap.array_set(x, 1, a0)
    heap.array_set(x, 2, None)
    heap.array_fill(x, 3, a0, 1)
    assert [heap.array_get(x, i) for i in range(4)] == [a1, a0, None, a0]
    with pytest.raises(TypeError):
        heap.array_set(x, 0, b)
    with pytest.raises(TypeError, match="non-nullable"):
        heap.array_new(arr1, 2)
    y = heap.array_new_fixed(arr1, (a1, a1, a1))
    heap.array_copy(x, 0, y, 0, 2)                       # (ref $f1) into (ref null $f0)
    assert [heap.array_get(x, i) for i in range(4)] == [a1, a1, None, a0]
    with pytest.raises(TypeError, match="cannot be stored"):
        heap.array_copy(y, 0, x, 0, 1)
    with pytest.raises(TypeError):
        heap.array_new_fixed(arr1, (a1, a0))
    heap.array_copy(x, 1, x, 0, 3)                       # overlapping, plain u32 moves
    assert [heap.array_get(x, i) for i in range(4)] == [a1, a1, a1, None]
    with pytest.raises(TypeError, match="array_new_data"):
        heap.array_new_data(arr0, b"\0" * 8, 0, 2)       # ids never come from data


def test_ref_test_of_funcrefs(heap, ftypes, types):
    f0, f1, g = ftypes
    a1 = heap.funcref_new(f1, target_a)
    st = types.struct(R.I32)
    assert heap.ref_test(a1, R.RefType(R.FUNC))
    assert heap.ref_test(a1, R.RefType(f0)) and heap.ref_test(a1, R.RefType(f1))
    assert not heap.ref_test(a1, R.RefType(g))
    assert not heap.ref_test(a1, R.RefType(R.NOFUNC, True))
    assert not heap.ref_test(a1, R.RefType(R.ANY, True))
    assert not heap.ref_test(a1, R.RefType(R.EXTERN, True))
    assert not heap.ref_test(a1, R.RefType(st, True))
    assert heap.ref_test(None, R.RefType(R.NOFUNC, True))
    assert not heap.ref_test(None, ref(f0))
    s = heap.struct_new(st, (1,))
    assert not heap.ref_test(s, R.RefType(R.FUNC, True))
    assert not heap.ref_test(I31(1), R.RefType(f0, True))


def test_handles_and_fields_keep_entries(heap, ftypes, types):
    f0, _, _ = ftypes
    s = types.struct(R.RefType(f0, True))
    a = heap.funcref_new(f0, target_a)
    obj = heap.struct_new(s, (a,))
    assert heap.reclaim_funcrefs() == 0
    raw = a.raw
    del a
    gc.collect()
    assert heap.reclaim_funcrefs() == 0                  # the field holds it
    assert heap.struct_get(obj, 0).raw == raw
    heap.struct_set(obj, 0, None)
    assert heap.reclaim_funcrefs() == 1
    assert heap.stats()["funcrefs_live"] == 0 and heap.stats()["funcrefs_reclaimed"] == 1
    b = heap.funcref_new(f0, target_b)                   # the index is reused, with a new
    assert b.raw & 0xFFFFFF == raw & 0xFFFFFF            # generation: the old id is stale
    assert b.raw != raw


def test_collections_reclaim_once_the_table_has_grown(heap, ftypes):
    f0, _, _ = ftypes
    targets = [object() for _ in range(1100)]
    refs = [heap.funcref_new(f0, t) for t in targets]
    keep = refs[:10]
    del refs
    assert heap.stats()["funcrefs_live"] == 1100
    heap.collect()
    assert heap.stats()["funcrefs_live"] == 10
    heap.collect()                                       # below the threshold now: no walk
    assert heap.stats()["funcrefs_reclaimed"] == 1090
    assert all(k.target is targets[i] for i, k in enumerate(keep))


def test_reclaim_releases_python_targets(heap, ftypes):
    f0, _, _ = ftypes
    released = []

    class Target:
        def __del__(self):
            released.append(1)

    a = heap.funcref_new(f0, Target())
    assert not released
    del a
    heap.reclaim_funcrefs()
    assert released == [1]


def test_stale_and_forged_ids_in_fields_are_reported(heap, ftypes, types):
    f0, _, _ = ftypes
    s = types.struct(R.RefType(f0, True))
    a = heap.funcref_new(f0, target_a)
    obj = heap.struct_new(s, (None,))
    stale = a.raw
    del a
    heap.reclaim_funcrefs()
    view = memoryview(heap)
    for bad in (stale, 0x00FFFFFF, 7):
        struct.pack_into("<I", view, obj.raw + 24, bad)
        with pytest.raises(HeapCorruptionError, match="funcref"):
            heap.struct_get(obj, 0)
        with pytest.raises(HeapCorruptionError, match="funcref"):
            heap.verify()
    struct.pack_into("<I", view, obj.raw + 24, 0)
    del view
    heap.verify()


def test_funcrefs_of_another_heap_or_a_closed_heap(heap, ftypes, types, reg):
    f0, _, _ = ftypes
    s = types.struct(R.RefType(f0, True))
    other = Heap(reg)
    foreign = other.funcref_new(f0, target_a)
    obj = heap.struct_new(s, (None,))
    with pytest.raises(InvalidRefError, match="another heap"):
        heap.struct_set(obj, 0, foreign)
    with pytest.raises(InvalidRefError, match="another heap"):
        heap.ref_test(foreign, R.RefType(R.FUNC))
    other.close()
    with pytest.raises(ValueError, match="closed"):
        _ = foreign.type_index
    with pytest.raises(ValueError, match="closed"):
        _ = foreign.target
    with pytest.raises(ValueError, match="closed"):
        other.funcref_new(f0, target_a)
    with pytest.raises(ValueError, match="closed"):
        other.reclaim_funcrefs()
    assert "closed heap" in repr(foreign)
    del foreign                                          # no crash after close


# ==== extern / any: one representation =====================================================

def test_extern_fields_accept_any_ref_and_any_fields_accept_host_refs(heap, types):
    st = types.struct(R.I32)
    at = types.array(R.I32)
    s = types.struct(R.RefType(R.EXTERN, True), R.RefType(R.ANY, True),
                     R.RefType(R.EQ, True), R.RefType(R.STRUCT, True), R.RefType(st, True),
                     R.RefType(R.I31, True), R.RefType(R.NOEXTERN, True))
    obj = heap.struct_new(s, (None,) * 7)
    x = heap.struct_new(st, (5,))
    a = heap.array_new(at, 2)
    host = heap.externref_new("payload")
    for v in (x, a, I31(3), host):
        heap.struct_set(obj, 0, v)                       # extern.convert_any is implied
        assert heap.struct_get(obj, 0) == v
    heap.struct_set(obj, 1, host)                        # any.convert_extern is implied
    assert heap.struct_get(obj, 1) == host
    assert heap.ref_count(host) == 3                     # handle + two fields: counted
    for field in (2, 3, 4, 5, 6):
        with pytest.raises(TypeError, match="does not match"):
            heap.struct_set(obj, field, host)
    with pytest.raises(TypeError, match="does not match"):
        heap.struct_set(obj, 6, x)                       # noextern holds only null


def test_conversions_are_identities(heap, types):
    st = types.struct(R.I32)
    x = heap.struct_new(st, (5,))
    host = heap.externref_new("payload")
    for v in (None, I31(-4), x, host):
        e = heap.extern_convert_any(v)
        assert e == v and heap.any_convert_extern(e) == v
    e = heap.extern_convert_any(x)
    assert type(e) is GcRef and e is not x and heap.ref_count(x) == 2
    assert heap.any_convert_extern(e).type_index == st


def test_conversion_bad_input(heap, types, ftypes):
    f0, _, _ = ftypes
    for fn in (heap.extern_convert_any, heap.any_convert_extern):
        with pytest.raises(TypeError, match="GcRef, I31 or None"):
            fn(heap.funcref_new(f0, target_a))
        with pytest.raises(TypeError, match="GcRef, I31 or None"):
            fn(5)
    other = Heap(types.reg)
    foreign = other.externref_new(1)
    with pytest.raises(InvalidRefError, match="another heap"):
        heap.extern_convert_any(foreign)
    del foreign
    other.close()
    closed = Heap(types.reg)
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        closed.any_convert_extern(None)


def test_ref_test_across_the_conversion(heap, types):
    """As ref_test.wast: an internalized host ref is any but not eq; an externalized i31 or
    struct is extern and internalizes back to its own type."""
    st = types.struct(R.I32)
    x = heap.struct_new(st, (5,))
    host = heap.any_convert_extern(heap.externref_new("h"))
    assert heap.ref_test(host, R.RefType(R.ANY)) and heap.ref_test(host, R.RefType(R.ANY, True))
    for t in (R.EQ, R.STRUCT, R.ARRAY, R.I31, st):
        assert not heap.ref_test(host, R.RefType(t, True))
    for v in (I31(0), x):
        ext = heap.extern_convert_any(v)
        assert heap.ref_test(ext, R.RefType(R.EXTERN))
        assert not heap.ref_test(ext, R.RefType(R.NOEXTERN, True))
    assert heap.ref_test(heap.any_convert_extern(heap.extern_convert_any(x)), R.RefType(st))
    assert heap.ref_test(heap.extern_convert_any(None), R.RefType(R.EXTERN, True))
    assert not heap.ref_test(heap.extern_convert_any(None), ref(R.EXTERN))


# ==== array.new_data / array.init_data ======================================================

@pytest.mark.parametrize("storage, fmt", [(R.I8, "B"), (R.I16, "H"), (R.I32, "i"),
                                          (R.I64, "q"), (R.F32, "f"), (R.F64, "d")])
def test_array_new_data_reads_little_endian(heap, types, storage, fmt):
    at = types.array(storage)
    values = [1, 2, 3] if fmt in "BH" else [-1, 7, 1 << 20] if fmt in "iq" else [0.5, -2.0, 3.25]
    data = b"\xAA\xBB" + struct.pack("<" + fmt * 3, *values) + b"\xCC"
    arr = heap.array_new_data(at, data, 2, 3)
    assert [heap.array_get(arr, i) for i in range(3)] == values
    heap.array_init_data(arr, 1, bytearray(data), 2 + struct.calcsize(fmt), 2)
    assert [heap.array_get(arr, i) for i in range(3)] == [values[0], values[1], values[2]]
    heap.array_init_data(arr, 0, memoryview(data), 2 + 2 * struct.calcsize(fmt), 1)
    assert heap.array_get(arr, 0) == values[2]


def test_array_new_data_v128_and_packed_signed(heap, types):
    v = types.array(R.V128)
    data = bytes(range(40))
    arr = heap.array_new_data(v, data, 3, 2)
    assert heap.array_get(arr, 0) == data[3:19] and heap.array_get(arr, 1) == data[19:35]
    i8 = types.array(R.I8)
    arr8 = heap.array_new_data(i8, b"\xff\x80", 0, 2)
    assert heap.array_get(arr8, 0, signed=True) == -1
    assert heap.array_get(arr8, 1, signed=True) == -128


def test_array_data_bounds_trap_as_index_error(heap, types):
    at = types.array(R.I16)
    data = bytes(10)
    assert heap.array_len(heap.array_new_data(at, data, 10, 0)) == 0     # empty at the end
    with pytest.raises(IndexError, match="out of bounds"):
        heap.array_new_data(at, data, 11, 0)
    with pytest.raises(IndexError, match="out of bounds"):
        heap.array_new_data(at, data, 1, 5)              # 1 + 10 bytes > 10
    arr = heap.array_new(at, 4, 9)
    with pytest.raises(IndexError, match="out of bounds for an array"):
        heap.array_init_data(arr, 3, data, 0, 2)
    with pytest.raises(IndexError, match="out of bounds for data"):
        heap.array_init_data(arr, 0, data, 4, 4)
    with pytest.raises(IndexError):
        heap.array_init_data(arr, 5, data, 0, 0)         # dst past the end, even when empty
    assert [heap.array_get(arr, i) for i in range(4)] == [9] * 4          # nothing written
    heap.array_init_data(arr, 4, data, 10, 0)            # both ranges empty at their ends


def test_array_data_bad_input(heap, types):
    at = types.array(R.I32)
    imm = types.array(R.I32, mutable=False)
    refs = types.array(R.RefType(R.ANY, True))
    st = types.struct(R.I32)
    arr = heap.array_new(at, 2)
    with pytest.raises(TypeError, match="bytes-like"):
        heap.array_new_data(at, None, 0, 1)
    with pytest.raises(TypeError, match="bytes-like"):
        heap.array_new_data(at, "abcd", 0, 1)
    with pytest.raises(TypeError, match="bytes-like"):
        heap.array_init_data(arr, 0, [1, 2, 3, 4], 0, 1)
    with pytest.raises(TypeError, match="offset"):
        heap.array_new_data(at, b"", None, 0)
    with pytest.raises(OverflowError):
        heap.array_new_data(at, b"", -1, 0)
    with pytest.raises(OverflowError):
        heap.array_init_data(arr, -1, b"", 0, 0)
    with pytest.raises(TypeError, match="ref elements"):
        heap.array_new_data(refs, bytes(8), 0, 2)
    with pytest.raises(TypeError, match="ref elements"):
        heap.array_init_data(heap.array_new(refs, 1), 0, bytes(4), 0, 1)
    with pytest.raises(TypeError, match="immutable"):
        heap.array_init_data(heap.array_new(imm, 1), 0, bytes(4), 0, 1)
    with pytest.raises(TypeError, match="not an array type|struct"):
        heap.array_new_data(st, bytes(4), 0, 1)
    with pytest.raises(InvalidRefError):
        heap.array_init_data(heap.struct_new(st, (1,)), 0, bytes(4), 0, 1)
    with pytest.raises(InvalidRefError):
        heap.array_init_data(None, 0, bytes(4), 0, 1)


# ==== Golden table: which value fits which field type =======================================

# Columns: null, i31, struct $st, array, host externref, funcref $f0, funcref $f1 (<: $f0).
# Rows: a mutable field of that ref type. "+" stores and reads back, "-" raises TypeError.
GOLDEN = """
(ref null any)      + + + + + - -
(ref any)           - + + + + - -
(ref null eq)       + + + + - - -
(ref null i31)      + + - - - - -
(ref null struct)   + - + - - - -
(ref null array)    + - - + - - -
(ref null $st)      + - + - - - -
(ref null none)     + - - - - - -
(ref null extern)   + + + + + - -
(ref extern)        - + + + + - -
(ref null noextern) + - - - - - -
(ref null func)     + - - - - + +
(ref func)          - - - - - + +
(ref null nofunc)   + - - - - - -
(ref null $f0)      + - - - - + +
(ref $f1)           - - - - - - +
"""


def test_golden_value_fits_field(heap, ftypes, types):
    f0, f1, _ = ftypes
    st = types.struct(R.I32)
    at = types.array(R.I8)
    heaps = {"any": R.ANY, "eq": R.EQ, "i31": R.I31, "struct": R.STRUCT, "array": R.ARRAY,
             "none": R.NONE, "extern": R.EXTERN, "noextern": R.NOEXTERN, "func": R.FUNC,
             "nofunc": R.NOFUNC, "$st": st, "$f0": f0, "$f1": f1}
    values = [None, I31(9), heap.struct_new(st, (1,)), heap.array_new(at, 1),
              heap.externref_new("host"), heap.funcref_new(f0, target_a),
              heap.funcref_new(f1, target_b)]
    checked = 0
    for line in GOLDEN.strip().splitlines():
        text, _, marks = line.partition(")")
        words = text.strip("(").split()
        nullable = words[1] == "null"
        rt = R.RefType(heaps[words[-1]], nullable)
        t = types.struct(R.FieldType(rt, True))
        for v, mark in zip(values, marks.split(), strict=True):
            fits = mark == "+"
            assert heap.ref_test(v, rt) == fits, (line, v)
            # A first value the field accepts: null, or an i31 / an f1 funcref.
            first = None if nullable else values[1] if words[-1] in ("any", "extern") else (
                values[6])
            holder = heap.struct_new(t, (first,))
            if fits:
                heap.struct_set(holder, 0, v)
                assert heap.struct_get(holder, 0) == v, (line, v)
            else:
                with pytest.raises(TypeError):
                    heap.struct_set(holder, 0, v)
            checked += 1
    assert checked == 16 * 7
