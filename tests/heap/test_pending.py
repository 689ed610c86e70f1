"""Pending frees: what a C-level drop (dec, store_ref, move_ref) kills waits on a per-size list
with its fields unread, and the next allocation of that size reuses the block (heap.pxd,
"Pending frees"). ``Heap._drop_deferred`` releases a handle the way C-level ``dec`` does."""

from __future__ import annotations

import pytest

import registry as R
from drc import HeapCorruptionError, InvalidRefError


def _chain(heap, node, n):
    """A list of n nodes linked through field 0; returns the head handle."""
    head = heap.struct_new(node, (None, None))
    for _ in range(n - 1):
        head = heap.struct_new(node, (head, None))
    return head


def test_dropped_tree_waits_until_finished(heap, node):
    leaf = heap.struct_new(node, (None, None))
    root = heap.struct_new(node, (leaf, leaf))
    del leaf
    used = heap.stats()["used_bytes"]
    heap._drop_deferred(root)
    s = heap.stats()
    # Only the root waits; its leaf is still held by the root's fields.
    assert s["pending_frees"] == 1
    assert s["used_bytes"] == used and s["live_objects"] == 2
    heap.verify()
    heap.finish_pending()
    s = heap.stats()
    assert s["pending_frees"] == 0 and s["live_objects"] == 0 and s["used_bytes"] == 0
    heap.verify()


def test_allocation_reuses_a_pending_block_and_releases_its_children(heap, node):
    head = _chain(heap, node, 3)
    raw = head.raw
    heap._drop_deferred(head)
    fresh = heap.struct_new(node, (None, None))
    # The most recent pending block of the size is reused, and its child now waits in turn.
    assert fresh.raw == raw
    assert heap.struct_get(fresh, 0) is None
    s = heap.stats()
    assert s["pending_frees"] == 1 and s["live_objects"] == 3
    heap.verify()
    del fresh
    heap.finish_pending()
    s = heap.stats()
    assert s["live_objects"] == 0 and s["objects_allocated"] == s["objects_freed"] == 4


def test_a_pending_object_is_not_a_valid_ref(heap, node):
    a = heap.struct_new(node, (None, None))
    raw = a.raw
    heap._drop_deferred(a)
    with pytest.raises(InvalidRefError):
        heap.from_raw(raw)
    with pytest.raises(InvalidRefError):
        heap.collect(stack_roots=[raw])
    assert heap.stats()["pending_frees"] == 1
    heap.finish_pending()


def test_shared_child_survives_a_pending_parent(heap, node):
    child = heap.struct_new(node, (None, None))
    parent = heap.struct_new(node, (child, None))
    heap._drop_deferred(parent)
    heap.finish_pending()
    assert heap.ref_count(child) == 1
    assert heap.stats()["live_objects"] == 1
    heap.verify()


def test_externref_reached_from_a_pending_object_is_released_when_it_finishes(heap, types):
    holder = types.struct(R.RefType(R.EXTERN, True))
    released = []

    class Payload:
        def __del__(self):
            released.append(True)

    ext = heap.externref_new(Payload())
    s = heap.struct_new(holder, (ext,))
    del ext
    heap._drop_deferred(s)
    assert released == []                       # the struct waits, so the payload is held
    heap.finish_pending()
    assert released == [True]
    assert heap.stats()["host_data_live"] == 0


def test_externrefs_and_big_objects_are_freed_at_once(heap, types):
    big = types.array(R.I64)
    arr = heap.array_new(big, 200)                # 24 + 8 + 1600 bytes: above the classes
    ext = heap.externref_new("payload")
    heap._drop_deferred(arr)
    heap._drop_deferred(ext)
    s = heap.stats()
    assert s["pending_frees"] == 0 and s["live_objects"] == 0 and s["host_data_live"] == 0


def test_a_collection_finishes_pending_frees(heap, node):
    heap._drop_deferred(_chain(heap, node, 10))
    assert heap.stats()["live_objects"] == 10
    heap.collect(stack_roots=[])
    s = heap.stats()
    assert s["pending_frees"] == 0 and s["live_objects"] == 0


def test_slow_path_finishes_pending_frees_before_giving_up(reg, node, types):
    from drc import Heap

    wide = types.struct(R.I64, R.I64, R.I64)      # 48 bytes: another size class than node's
    heap = Heap(reg, max_size=65536)
    # Fill the whole heap with a chain and drop it the C-level way: one node waits, the rest
    # hang off it, and no free block is left.
    n = (65536 - 16) // 32
    heap._drop_deferred(_chain(heap, node, n))
    assert heap.stats()["free_bytes"] < 48
    # Only finishing the pending frees can make room for a block of another size.
    w = heap.struct_new(wide, (1, 2, 3))
    s = heap.stats()
    assert s["pending_frees"] == 0 and s["live_objects"] == 1 and s["capacity"] == 65536
    heap.verify()
    del w
    heap.close()


def test_verify_finds_a_damaged_pending_header(heap, node):
    a = heap.struct_new(node, (None, None))
    raw = a.raw
    heap._drop_deferred(a)
    mem = memoryview(heap)
    mem[raw + 8] = 5                              # a "count" on a dead object
    del mem
    with pytest.raises(HeapCorruptionError, match=str(raw)):
        heap.verify()
    mem = memoryview(heap)
    mem[raw + 8] = 0
    del mem
    heap.verify()
    heap.finish_pending()


@pytest.mark.zeal
def test_zeal_reports_a_damaged_pending_header_at_reuse(heap, node):
    a = heap.struct_new(node, (None, None))
    raw = a.raw
    heap._drop_deferred(a)
    mem = memoryview(heap)
    mem[raw + 20] = 0x7F                          # object_size of the dead object
    del mem
    with pytest.raises(HeapCorruptionError, match="pending"):
        heap.struct_new(node, (None, None))
    mem = memoryview(heap)
    mem[raw + 20] = 32
    del mem
    heap.finish_pending()


def test_a_payload_released_by_a_block_reuse_finds_the_heap_consistent(heap, types):
    """Reusing a pending block gives up its fields' counts; a payload freed that way is
    released only once the block is a live object again, so its finalizer may verify and
    collect (regression: it ran while the block was neither pending nor an object)."""
    holder = types.struct(R.RefType(R.EXTERN, True))
    errors: list[BaseException] = []
    ran = []

    class Payload:
        def __del__(self):
            try:
                heap.verify()
                heap.collect(stack_roots=[])
                heap.verify()
                ran.append(True)
            except BaseException as exc:  # __del__ swallows exceptions: keep them
                errors.append(exc)

    ext = heap.externref_new(Payload())
    s = heap.struct_new(holder, (ext,))
    raw = s.raw
    del ext
    heap._drop_deferred(s)
    fresh = heap.struct_new(holder, (None,))     # reuses s's block; the externref dies
    assert fresh.raw == raw
    assert errors == [] and ran == [True]
    assert heap.struct_get(fresh, 0) is None
    assert heap.stats()["host_data_live"] == 0
    heap.verify()
