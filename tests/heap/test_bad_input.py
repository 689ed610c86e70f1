"""Every entry point rejects bad input with a specific exception naming the bad value, and a
rejected call changes nothing: same stats, same counts, verify() passes."""

from __future__ import annotations

import pytest

import registry as R
from drc import I31, Heap, InvalidRefError, OutOfHeapError


@pytest.fixture
def world(heap, types, node):
    w = {
        "node": node,
        "i32s": types.array(R.I32),
        "refs": types.array(R.RefType(node)),
        "s32": types.struct(R.I32),
        "holder": types.struct(R.RefType(node, False)),
    }
    w["n"] = heap.struct_new(node, (None, None))
    w["a"] = heap.array_new(w["i32s"], 4)
    w["r"] = heap.array_new(w["refs"], 3)
    w["e"] = heap.externref_new("payload")
    yield w
    w.clear()                                            # before the heap's leak check


def snapshot(heap, w):
    counts = {k: heap.ref_count(w[k]) for k in ("n", "a", "r", "e")}
    return heap.stats(), counts


def rejects(heap, w, exc, fn, match=None):
    before = snapshot(heap, w)
    with pytest.raises(exc, match=match):
        fn()
    assert snapshot(heap, w) == before
    heap.verify()


def test_refs_from_another_heap(reg, heap, world):
    other = Heap(reg)
    foreign = other.struct_new(world["node"], (None, None))
    w = world
    rejects(heap, w, InvalidRefError, lambda: heap.struct_get(foreign, 0), "another heap")
    rejects(heap, w, InvalidRefError, lambda: heap.struct_set(w["n"], 0, foreign), "another heap")
    rejects(heap, w, InvalidRefError, lambda: heap.struct_new(w["node"], (foreign, None)))
    rejects(heap, w, InvalidRefError, lambda: heap.array_fill(w["r"], 0, foreign, 1))
    rejects(heap, w, InvalidRefError, lambda: heap.array_new_fixed(w["refs"], [w["n"], foreign]))
    foreign.close()
    other.close()


def test_released_and_wrong_kind_refs(heap, world):
    w = world
    dead = heap.struct_new(w["node"], (None, None))
    dead.close()
    rejects(heap, w, InvalidRefError, lambda: heap.struct_get(dead, 0), "released")
    rejects(heap, w, InvalidRefError, lambda: heap.ref_count(dead), "released")
    rejects(heap, w, InvalidRefError, lambda: heap.struct_get(w["a"], 0), "array, not a struct")
    rejects(heap, w, InvalidRefError, lambda: heap.array_len(w["n"]), "struct, not a array")
    rejects(heap, w, InvalidRefError, lambda: heap.externref_data(w["n"]), "not a externref")
    rejects(heap, w, InvalidRefError, lambda: heap.struct_get(None, 0), "null")
    rejects(heap, w, InvalidRefError, lambda: heap.array_len(I31(3)), "i31")
    rejects(heap, w, TypeError, lambda: heap.struct_get(16, 0), "int 16")
    rejects(heap, w, TypeError, lambda: heap.struct_set(w["n"], 0, 16), "16")


def test_bad_type_indices(heap, world):
    w = world
    rejects(heap, w, LookupError, lambda: heap.struct_new(12345, ()), "12345")
    rejects(heap, w, OverflowError, lambda: heap.struct_new(-1, ()), "-1")
    rejects(heap, w, OverflowError, lambda: heap.struct_new(1 << 40, ()))
    rejects(heap, w, TypeError, lambda: heap.struct_new("0", ()), "'0'")
    rejects(heap, w, TypeError, lambda: heap.struct_new(w["i32s"], ()), "array type")
    rejects(heap, w, TypeError, lambda: heap.array_new(w["node"], 1), "struct type")
    rejects(heap, w, TypeError, lambda: heap.array_new_fixed(w["s32"], ()), "struct type")


def test_bad_field_counts_indices_and_values(heap, world):
    w = world
    rejects(heap, w, TypeError, lambda: heap.struct_new(w["node"], (None,)), "2 fields, got 1")
    rejects(heap, w, IndexError, lambda: heap.struct_get(w["n"], 2), "field 2")
    rejects(heap, w, IndexError, lambda: heap.struct_get(w["n"], -1), "field -1")
    rejects(heap, w, TypeError, lambda: heap.struct_get(w["n"], "0"))
    rejects(heap, w, TypeError, lambda: heap.struct_set(w["n"], 0, w["e"]), "does not match")
    rejects(heap, w, TypeError, lambda: heap.struct_new(w["holder"], (None,)), "None")
    # A failing value after a good ref value must not leave a count on the good one.
    rejects(heap, w, TypeError, lambda: heap.struct_new(w["node"], (w["n"], "x")))
    rejects(heap, w, OverflowError, lambda: heap.struct_new(w["s32"], (1 << 33,)), str(1 << 33))


def test_bad_array_arguments(heap, world):
    w = world
    a = w["a"]
    rejects(heap, w, IndexError, lambda: heap.array_get(a, 4), "index 4")
    rejects(heap, w, IndexError, lambda: heap.array_set(a, -1, 0), "index -1")
    rejects(heap, w, TypeError, lambda: heap.array_get(a, 1.0))
    rejects(heap, w, IndexError, lambda: heap.array_fill(a, 2, 0, 3), r"\[2, 2 \+ 3\)")
    rejects(heap, w, IndexError, lambda: heap.array_fill(a, 0, 0, -1))
    rejects(heap, w, IndexError, lambda: heap.array_copy(a, 0, a, 3, 2))
    rejects(heap, w, IndexError, lambda: heap.array_copy(a, 3, a, 0, 2))
    rejects(heap, w, TypeError, lambda: heap.array_copy(w["r"], 0, a, 0, 1))
    rejects(heap, w, OverflowError, lambda: heap.array_set(a, 0, -(1 << 31) - 1))
    rejects(heap, w, OverflowError, lambda: heap.array_new(w["i32s"], -1), "-1")
    rejects(heap, w, OverflowError, lambda: heap.array_new(w["i32s"], 1 << 32))
    rejects(heap, w, TypeError, lambda: heap.array_new(w["i32s"], 2, "x"), "'x'")
    rejects(heap, w, TypeError, lambda: heap.array_new_fixed(w["i32s"], [1, 2, None]))
    rejects(heap, w, TypeError, lambda: heap.array_fill(w["r"], 0, w["e"], 1))


def test_bad_raw_refs(heap, world):
    w = world
    gone = heap.struct_new(w["node"], (None, None))
    dead_raw = gone.raw
    del gone
    for raw in (8, 8 + w["n"].raw, dead_raw, 1 << 31, 0xFFFFFFF0):
        rejects(heap, w, InvalidRefError, lambda raw=raw: heap.from_raw(raw), hex(raw))
    rejects(heap, w, OverflowError, lambda: heap.from_raw(1 << 32))
    rejects(heap, w, OverflowError, lambda: heap.from_raw(-1))
    rejects(heap, w, TypeError, lambda: heap.from_raw("16"))


def test_ref_test_needs_a_reftype(heap, world):
    rejects(heap, world, TypeError, lambda: heap.ref_test(world["n"], R.I32), "RefType")


def test_allocation_beyond_max_size_keeps_the_heap_usable(reg, node, types):
    h = Heap(reg, max_size=1 << 16)
    big = types.array(R.I64)
    with pytest.raises(OutOfHeapError, match="max_size 65536"):
        h.array_new(big, 1 << 20)
    with pytest.raises(MemoryError):                     # OutOfHeapError is a MemoryError
        h.array_new(big, 1 << 13)
    refs = []
    with pytest.raises(OutOfHeapError):
        while True:
            refs.append(h.struct_new(node, (None, None)))
    s = h.stats()
    assert s["live_objects"] == len(refs) == (65536 - 16) // 32
    assert s["capacity"] == 65536
    h.verify()
    del refs[:10]
    assert h.struct_new(node, (None, None)) is not None
    h.verify()
    del refs
    h.close()


def test_constructor_arguments(reg):
    with pytest.raises(ValueError, match="max_size 16"):
        Heap(reg, max_size=16)
    with pytest.raises(ValueError, match=str(1 << 32)):
        Heap(reg, max_size=1 << 32)
    with pytest.raises(ValueError, match="initial_size"):
        Heap(reg, max_size=1 << 16, initial_size=1 << 17)
    with pytest.raises(TypeError):
        Heap(object())
    h = Heap(reg, max_size=4112, initial_size=100)
    assert h.stats()["capacity"] == 4112 and h.stats()["usable_bytes"] == 4096
    h.close()
