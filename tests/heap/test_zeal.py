"""Deliberate corruption through the test-only hook (a writable memoryview of the heap) must
surface as HeapCorruptionError naming the offset and the rule."""

from __future__ import annotations

import struct

import pytest

from drc import Heap, HeapCorruptionError

POISON = 0x0F


def poke(heap, offset, fmt, value):
    with memoryview(heap) as m:
        struct.pack_into(fmt, m, offset, value)


def peek(heap, offset, n):
    with memoryview(heap) as m:
        return bytes(m[offset:offset + n])


def test_corrupt_kind_word_is_reported(heap, node):
    a = heap.struct_new(node, (None, None))
    poke(heap, a.raw, "<I", 0x0F0F0F0F)
    with pytest.raises(HeapCorruptionError, match=f"offset {a.raw}: invalid kind"):
        heap.verify()
    poke(heap, a.raw, "<I", 0xB0000000)
    heap.verify()


def test_field_pointing_into_free_space_is_reported(heap, node):
    a = heap.struct_new(node, (None, None))
    poke(heap, a.raw + 24, "<I", 4096)
    with pytest.raises(HeapCorruptionError, match=f"offset {a.raw + 24}"):
        heap.verify()
    poke(heap, a.raw + 24, "<I", 0)


def test_oasr_cycle_is_reported(reg, node):
    heap = Heap(reg)                                     # its OASR counts stay: no collector here
    a = heap.struct_new(node, (None, None))
    b = heap.struct_new(node, (None, None))
    heap.expose(a)
    heap.expose(b)
    poke(heap, a.raw + 16, "<I", b.raw)                  # a -> b -> a
    with pytest.raises(HeapCorruptionError, match="OASR list has a cycle"):
        heap.verify()
    poke(heap, a.raw + 16, "<I", 0)
    heap.verify()
    heap.close()


@pytest.mark.zeal
def test_fresh_capacity_and_freed_blocks_are_poisoned(heap, node):
    a = heap.struct_new(node, (None, None))
    b = heap.struct_new(node, (None, None))
    assert peek(heap, b.raw + 32, 64) == bytes([POISON]) * 64
    raw = a.raw
    del a
    assert peek(heap, raw, 32) == bytes([POISON]) * 32


@pytest.mark.zeal
def test_write_to_freed_memory_is_caught_by_verify(heap, node):
    keep = heap.struct_new(node, (None, None))
    gone = heap.struct_new(node, (None, None))
    raw = gone.raw
    after = heap.struct_new(node, (None, None))          # so the freed block stays a block
    del gone
    poke(heap, raw + 4, "<B", 0)
    with pytest.raises(HeapCorruptionError, match=f"offset {raw + 4}: free memory is not poisoned"):
        heap.verify()
    poke(heap, raw + 4, "<B", POISON)
    del keep, after


@pytest.mark.zeal
def test_write_to_freed_memory_is_caught_by_the_next_allocation(heap, node):
    a = heap.struct_new(node, (None, None))
    b = heap.struct_new(node, (None, None))
    raw = b.raw
    del b                                                # joins the bump region
    poke(heap, raw + 20, "<B", 0x42)
    with pytest.raises(HeapCorruptionError, match=f"offset {raw + 20}: fresh block at {raw}"):
        heap.struct_new(node, (None, None))
    heap.verify()                                        # the failed allocation was undone
    assert heap.struct_new(node, (None, None)).raw == raw
    del a


@pytest.mark.zeal
def test_count_drift_is_caught(heap, node):
    a = heap.struct_new(node, (None, None))
    p = heap.struct_new(node, (a, a))
    poke(heap, a.raw + 8, "<Q", 4)
    with pytest.raises(HeapCorruptionError, match=f"offset {a.raw}: ref_count 4 but 2 heap"):
        heap.verify()
    poke(heap, a.raw + 8, "<Q", 3)
    heap.verify()
    del p, a
