"""Reference counts: handles, slots, the write barrier, and the freeing cascade."""

from __future__ import annotations

import gc
import sys
import weakref

import pytest

import registry as R
from drc import Heap, InvalidRefError


def test_handle_owns_one_count(heap, node):
    a = heap.struct_new(node, (None, None))
    assert heap.ref_count(a) == 1
    b = a.clone()
    assert heap.ref_count(a) == 2
    b.close()
    b.close()                                            # idempotent
    assert heap.ref_count(a) == 1
    with pytest.raises(InvalidRefError, match="released"):
        heap.ref_count(b)
    with a.clone() as c:
        assert heap.ref_count(c) == 2
    assert heap.ref_count(a) == 1


def test_reading_a_ref_gives_an_owned_count(heap, node):
    leaf = heap.struct_new(node, (None, None))
    parent = heap.struct_new(node, (leaf, None))
    assert heap.ref_count(leaf) == 2
    got = heap.struct_get(parent, 0)
    assert heap.ref_count(leaf) == 3
    del got
    assert heap.ref_count(leaf) == 2


def test_write_barrier_increments_before_decrementing(heap, node):
    a = heap.struct_new(node, (None, None))
    p = heap.struct_new(node, (a, None))
    a_raw = a.raw
    del a                                                # only p's field holds it now
    x = heap.struct_get(p, 0)
    del x
    heap.struct_set(p, 0, heap.from_raw(a_raw))          # same value: must not die in between
    assert heap.ref_count(heap.struct_get(p, 0)) == 2
    heap.struct_set(p, 0, None)
    assert heap.stats()["live_objects"] == 1


def test_dropping_the_last_handle_frees_a_tree(heap, node):
    def tree(d):
        if d == 0:
            return heap.struct_new(node, (None, None))
        return heap.struct_new(node, (tree(d - 1), tree(d - 1)))

    t = tree(10)
    assert heap.stats()["live_objects"] == 2047
    del t
    s = heap.stats()
    assert s["live_objects"] == 0 and s["free_bytes"] == s["usable_bytes"]
    assert heap._free_regions() == [(16, s["usable_bytes"])]


def test_shared_subtree_survives_its_first_parent(heap, node):
    shared = heap.struct_new(node, (None, None))
    p1 = heap.struct_new(node, (shared, None))
    p2 = heap.struct_new(node, (shared, shared))
    shared_raw = shared.raw
    del shared, p1
    assert heap.stats()["live_objects"] == 2
    assert heap.struct_get(p2, 0).raw == shared_raw


@pytest.mark.slow
def test_million_object_chain_frees_without_recursion(heap, node):
    head = heap.struct_new(node, (None, None))
    for _ in range(999_999):
        head = heap.struct_new(node, (head, None))        # the old handle drops its count
    assert heap.stats()["live_objects"] == 1_000_000
    del head
    s = heap.stats()
    assert s["live_objects"] == 0 and s["free_bytes"] == s["usable_bytes"]


def test_large_ref_array_is_walked_in_chunks(heap, node, types):
    t = types.array(R.RefType(node))
    inner_t = types.array(R.RefType(R.ANY))
    leaves = [heap.struct_new(node, (None, None)) for _ in range(3000)]
    arr = heap.array_new_fixed(t, leaves)
    nested = heap.array_new(inner_t, 2500, arr)          # 2500 slots, one object
    del leaves, arr
    assert heap.stats()["live_objects"] == 3002
    del nested
    assert heap.stats()["live_objects"] == 0


def test_externref_payload_released_exactly_once(heap, node, types):
    released = []

    class Payload:
        def __del__(self):
            released.append(1)

    holder_t = types.struct(R.RefType(R.EXTERN), R.RefType(R.EXTERN))
    e = heap.externref_new(Payload())
    h = heap.struct_new(holder_t, (e, e))
    del e
    assert released == []
    del h
    gc.collect()
    assert released == [1]
    assert heap.stats()["host_data_released"] == 1
    again = heap.externref_new("x")                      # the id is reused
    assert heap.stats()["host_data_live"] == 1
    del again


def test_payload_holding_handles_reenters_safely(heap, node, types):
    # Releasing a payload drops GcRefs of the same heap, which runs another cascade.
    inner = heap.struct_new(node, (None, None))
    e = heap.externref_new([inner, heap.struct_new(node, (inner, None))])
    del inner
    assert heap.stats()["live_objects"] == 3
    del e
    assert heap.stats()["live_objects"] == 0


def test_handles_outliving_a_closed_heap_are_inert(reg, node):
    h = Heap(reg)
    a = h.struct_new(node, (None, None))
    h.close()
    with pytest.raises(ValueError, match="closed"):
        h.struct_get(a, 0)
    with pytest.raises(ValueError, match="closed"):
        a.clone()
    del a                                                # must not touch unmapped memory


def test_close_refuses_while_a_memoryview_exists(reg, node):
    h = Heap(reg)
    h.struct_new(node, (None, None))
    m = memoryview(h)
    with pytest.raises(BufferError, match="1 memoryview"):
        h.close()
    m.release()
    h.close()
    assert h.closed
    with pytest.raises(ValueError):
        memoryview(h)


def test_cycle_through_a_payload_is_collected_by_python(reg, node):
    h = Heap(reg)
    box = []
    e = h.externref_new(box)
    box.append(e)                                        # payload -> handle -> heap
    del e
    ref = weakref.ref(h)
    del h, box
    gc.collect()
    assert ref() is None


def test_heap_growth_keeps_the_base(reg, node):
    h = Heap(reg, max_size=1 << 22)
    a = h.struct_new(node, (None, None))
    m = memoryview(h)
    first = m[a.raw]
    refs = [h.struct_new(node, (None, None)) for _ in range(10_000)]
    assert h.stats()["capacity"] >= 320_000
    assert m[a.raw] == first                             # old view still readable
    m.release()
    del refs, a
    h.verify()


def test_issue_9701_freeing_is_transitive(heap, node, types):
    """Wasmtime #9701 (fixed by PR #10401): dropping an object must free what only it kept
    alive, at once, not leave the children for a collection that never comes."""
    arr_t = types.array(R.RefType(node))
    leaves = [heap.struct_new(node, (None, None)) for _ in range(50)]
    arr = heap.array_new_fixed(arr_t, leaves)
    holder = heap.struct_new(node, (heap.struct_new(node, (None, None)), None))
    del leaves
    assert heap.stats()["live_objects"] == 53
    del arr
    assert heap.stats()["live_objects"] == 2
    del holder
    assert heap.stats()["live_objects"] == 0


def test_issue_13037_exposing_twice_keeps_one_oasr_count(reg, node):
    """Wasmtime #13037: passing an object already in the OASR list to the guest again
    leaked a count. Only the list's single count may remain."""
    h = Heap(reg)
    a = h.struct_new(node, (None, None))
    for _ in range(5):
        h.expose(a)
    assert h.ref_count(a) == 2 and h.stats()["oasr_len"] == 1
    h.verify()
    h.close()


# ---- handle recycling (heap.pyx, "GcRef lifecycle") -----------------------------------------

def test_recycled_handles_carry_their_new_object_and_count(heap, node):
    leaf = heap.struct_new(node, (None, None))
    other = heap.struct_new(node, (None, None))
    parent = heap.struct_new(node, (leaf, other))
    for _ in range(1000):
        a = heap.struct_get(parent, 0)
        b = heap.struct_get(parent, 1)
        assert a == leaf and b == other and a != b
        assert a.heap is heap and gc.is_tracked(a)
        assert heap.ref_count(leaf) == 3 and heap.ref_count(other) == 3
        del a, b
    assert heap.ref_count(leaf) == 2 and heap.ref_count(other) == 2


def test_dropping_more_handles_than_the_free_list_keeps(heap, node):
    leaf = heap.struct_new(node, (None, None))
    parent = heap.struct_new(node, (leaf, None))
    handles = [heap.struct_get(parent, 0) for _ in range(2000)]
    assert heap.ref_count(leaf) == 2002
    del handles
    assert heap.ref_count(leaf) == 2
    handles = [heap.struct_get(parent, 0) for _ in range(2000)]
    assert all(h == leaf for h in handles) and len({id(h) for h in handles}) == 2000
    del handles
    assert heap.ref_count(leaf) == 2


def test_dropping_handles_keeps_the_exception_being_handled(heap, node):
    leaf = heap.struct_new(node, (None, None))
    parent = heap.struct_new(node, (leaf, None))
    try:
        raise KeyError("in flight")
    except KeyError:
        got = heap.struct_get(parent, 0)
        del got                                          # not the object's last count
        lone = heap.struct_new(node, (None, None))
        del lone                                         # the last count: the cascade
        assert sys.exc_info()[0] is KeyError
    assert heap.ref_count(leaf) == 2


def test_the_last_handle_on_a_heap_releases_it(reg, node):
    h = Heap(reg)
    leaf = h.struct_new(node, (None, None))
    h.expose(leaf)                                       # the OASR list holds a count too
    ref = weakref.ref(h)
    del h
    assert ref() is not None                             # the handle keeps its heap
    assert leaf.heap.ref_count(leaf) == 2
    del leaf                                             # not the last count, the last handle
    assert ref() is None
