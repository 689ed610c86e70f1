"""Out of memory inside the dealloc cascade: a work buffer (the cascade stack, the big-array
list, the free batch, the payload queue) that cannot grow halfway through a cascade raises
MemoryError and leaves the heap consistent. The objects the cascade had not finished wait
where a later free finds them (a pending list, or the OASR list for objects too big to wait
on one), so finish_pending() and a collection still empty the heap.

``Heap._zeal_fail_buffer_growth(after)`` makes the growth after `after` successful ones fail;
each test walks `after` over every growth its drop makes, on a fresh heap each time."""

from __future__ import annotations

import pytest

import registry as R
from drc import Heap

CHAIN = 5000            # links: their leaves pile up on the cascade stack (> its 4096 entries)
FAN_OUT = 3000          # elements of the root array: more than one cascade chunk (1024)


class Payload:
    """Host data counting its releases."""

    released = 0

    def __del__(self) -> None:
        Payload.released += 1


def _types(reg):
    anyref, externref = R.RefType(R.ANY, True), R.RefType(R.EXTERN, True)
    leaf = reg.register_type(R.SubType(R.StructType([R.FieldType(anyref, True)])))
    link = reg.register_type(R.SubType(R.StructType(
        [R.FieldType(anyref, True), R.FieldType(anyref, True), R.FieldType(externref, True)])))
    arr = reg.register_type(R.SubType(R.ArrayType(R.FieldType(anyref, True))))
    return leaf, link, arr


def _tree(heap, types):
    """The root: a ref array of FAN_OUT elements, its first a chain of CHAIN links (leaf,
    next, externref on every 8th), the rest leaves. Returns the root's handle only."""
    leaf, link, arr = types
    nxt = None
    for i in range(CHAIN):
        ext = heap.externref_new(Payload()) if i % 8 == 0 else None
        nxt = heap.struct_new(link.index, [heap.struct_new(leaf.index, [None]), nxt, ext])
    root = heap.array_new(arr.index, FAN_OUT)
    heap.array_set(root, 0, nxt)
    for i in range(1, FAN_OUT):
        heap.array_set(root, i, heap.struct_new(leaf.index, [None]))
    return root


def _live(heap):
    return heap.stats()["live_objects"]


def _drop_with_failing_growth(reg, drop, after):
    """Build a tree on a fresh heap, drop its root with the growth after `after` failing,
    then finish whatever waits. Returns whether MemoryError was raised (and where)."""
    types = _types(reg)
    heap = Heap(reg)
    try:
        root = _tree(heap, types)
        total = _live(heap)
        Payload.released = 0
        heap._zeal_fail_buffer_growth(after)
        raised = []
        try:
            drop(heap, root)
        except MemoryError:
            raised.append("drop")
        del root
        heap.verify()
        try:
            heap.finish_pending()
        except MemoryError:
            raised.append("finish_pending")
        heap._zeal_fail_buffer_growth(None)
        heap.verify()
        assert _live(heap) <= total
        heap.finish_pending()
        heap.verify()
        heap.collect(stack_roots=[])
        heap.verify()
        assert _live(heap) == 0
        assert heap.stats()["pending_frees"] == 0
        assert Payload.released == CHAIN // 8
        return raised
    finally:
        heap.close()


def _close(heap, root):
    root.close()                    # a Python-level drop: one eager cascade


def _drop_deferred(heap, root):
    heap._drop_deferred(root)       # a C-level drop: a lazy cascade (the root is big)


@pytest.mark.zeal
@pytest.mark.parametrize("drop", [_close, _drop_deferred], ids=["eager", "deferred"])
def test_a_cascade_buffer_that_cannot_grow_leaves_the_heap_consistent(reg, drop):
    outcomes = [_drop_with_failing_growth(reg, drop, after) for after in range(10)]
    # The first growth fails in the drop itself; the last `after` values are past every
    # growth the drop and the finish make, so nothing fails.
    assert outcomes[0][:1] == ["drop"]
    assert sum(1 for o in outcomes if o) >= 3
    assert outcomes[-1] == []


@pytest.mark.zeal
@pytest.mark.parametrize("after", range(4))
def test_a_sweep_whose_stack_cannot_grow_leaves_the_heap_consistent(reg, after):
    # More exposed objects die in one sweep than the cascade stack holds (4096 entries).
    leaf, link, _ = _types(reg)
    heap = Heap(reg)
    try:
        for i in range(CHAIN):
            ext = heap.externref_new(Payload()) if i % 8 == 0 else None
            heap.expose(heap.struct_new(link.index, [heap.struct_new(leaf.index, [None]),
                                                     None, ext]))
        Payload.released = 0
        heap._zeal_fail_buffer_growth(after)
        try:
            heap.collect(stack_roots=[])
        except MemoryError:
            pass
        heap._zeal_fail_buffer_growth(None)
        heap.verify()
        heap.finish_pending()
        heap.collect(stack_roots=[])
        heap.verify()
        assert _live(heap) == 0 and Payload.released == CHAIN // 8
    finally:
        heap.close()
