"""The free list on its own: unit cases, Wasmtime's lost-bump-region bug, random runs."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drc.heap import _FreeListForTests as FreeList


def fresh(capacity: int, max_bytes: int | None = None) -> FreeList:
    fl = FreeList(max_bytes or capacity)
    fl.add_capacity(capacity)
    return fl


def check(fl: FreeList, live: dict[int, int]) -> None:
    fl.check()
    assert fl.free_bytes + sum(live.values()) == fl.usable_bytes
    assert sum(n for _, n in fl.regions()) == fl.free_bytes


def test_index_zero_is_never_handed_out():
    fl = fresh(4096)
    assert fl.usable_bytes == 4080
    first = fl.alloc(16)
    assert first == 16
    assert fl.regions() == [(32, 4064)]


def test_sizes_round_up_to_16():
    fl = fresh(4096)
    a = fl.alloc(1)
    b = fl.alloc(17)
    c = fl.alloc(16)
    assert (a, b, c) == (16, 32, 64)
    assert fl.free_bytes == 4080 - 64


def test_exhaustion_returns_none_and_changes_nothing():
    fl = fresh(256)
    assert fl.alloc(240) == 16
    before = (fl.free_bytes, fl.regions())
    assert fl.alloc(16) is None
    assert (fl.free_bytes, fl.regions()) == before
    fl.check()


@pytest.mark.parametrize("order", [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1),
                                   (2, 1, 0)])
def test_all_pairwise_orderings_coalesce(order):
    fl = fresh(4096)
    blocks = [fl.alloc(32), fl.alloc(48), fl.alloc(64)]
    rest = fl.alloc(fl.free_bytes)
    assert rest is not None and fl.free_bytes == 0
    for i in order:
        fl.free(blocks[i])
        fl.check()
    assert fl.regions() == [(16, 144)]
    assert fl.alloc(144) == 16


def test_merge_with_prev_next_and_both():
    fl = fresh(1024)
    a, b, c, d = (fl.alloc(64) for _ in range(4))
    fl.alloc(fl.free_bytes)
    fl.free(a)
    fl.free(c)
    assert fl.regions() == [(a, 64), (c, 64)]
    fl.free(b)                                  # joins both neighbours
    assert fl.regions() == [(a, 192)]
    fl.free(d)
    assert fl.regions() == [(a, 256)]
    fl.check()


def test_batch_free_coalesces_and_finds_the_merged_run():
    fl = fresh(8192)
    blocks = [fl.alloc(32) for _ in range(100)]
    fl.alloc(fl.free_bytes)
    random.Random(3).shuffle(blocks)
    fl.free(*blocks)
    assert fl.regions() == [(16, 3200)]
    assert fl.alloc(3200) == 16                 # needs the whole merged run


def test_run_grown_on_its_left_side_is_found_at_full_size():
    # Old free run [a, a+64), then the block right after it is freed: the run now starts at
    # a and must be found for a request bigger than either piece.
    fl = fresh(4096)
    a, b = fl.alloc(64), fl.alloc(64)
    fl.alloc(fl.free_bytes)
    fl.free(a)
    fl.free(b)
    assert fl.alloc(128) == a


def test_freed_middle_block_joins_two_old_runs():
    fl = fresh(4096)
    a, b, c = fl.alloc(1024), fl.alloc(16), fl.alloc(1024)
    fl.alloc(fl.free_bytes)
    fl.free(a)
    fl.free(c)
    fl.free(b)
    assert fl.alloc(2064) == a


def test_growth_extends_the_bump_region_or_the_last_run():
    fl = FreeList(1 << 20)
    fl.add_capacity(4096)
    a = fl.alloc(1000)
    fl.add_capacity(8192)
    assert fl.regions() == [(a + 1008, 8192 - a - 1008)]
    fl.check()


def test_issue_lost_bump_region_regression():
    """Wasmtime's free_list.rs marks an empty bump region as 16..16, a real index: giving back
    a bump region that starts at 16 matches its bump-adjacency case, and the slow path then
    overwrites it, so [16, 112) vanishes from the free list. Ours keeps it."""
    fl = fresh(4112)
    live = {}
    for size in (96, 32, 288, 32):
        live[fl.alloc(size)] = size
    assert list(live) == [16, 112, 144, 432]
    rest = fl.free_bytes
    live[fl.alloc(rest)] = rest
    for off in (144, 16):
        fl.free(off)
        del live[off]
    check(fl, live)
    got = fl.alloc(96)
    assert got == 16
    live[got] = 96
    fl.free(got)
    del live[got]
    assert fl.free_bytes == 384
    got = fl.alloc(288)
    assert got == 144
    live[got] = 288
    assert fl.free_bytes == 96                  # Wasmtime's snapshot reports 0 here
    assert fl.regions() == [(16, 96)]
    check(fl, live)
    assert fl.alloc(96) == 16


@settings(max_examples=200)
@given(st.data())
def test_random_interleavings_keep_the_invariants(data):
    capacity = data.draw(st.sampled_from([4096, 16384, 65536, 1 << 19]))
    fl = FreeList(1 << 20)
    fl.add_capacity(capacity)
    live: dict[int, int] = {}
    ops = data.draw(st.lists(st.tuples(st.integers(0, 9), st.integers(16, 512),
                                       st.integers(0, 1 << 30)), max_size=200))
    for kind, size, pick in ops:
        if kind < 6 or not live:
            off = fl.alloc(size)
            if off is not None:
                assert off % 16 == 0 and off >= 16
                live[off] = (size + 15) & ~15
        elif kind < 9:
            keys = sorted(live)
            if pick & 1:                                 # neighbours: a dense batch
                batch = keys[pick % len(keys):][: 1 + pick % 7]
            else:                                        # spread out: a sparse batch
                batch = keys[pick % len(keys)::1 + pick % 5][: 2 + pick % 5]
            fl.free(*batch)
            for off in batch:
                del live[off]
        else:
            capacity = min(capacity * 2, 1 << 20)
            fl.add_capacity(capacity)
        check(fl, live)
        ends = sorted((o, o + n) for o, n in live.items())
        assert all(e1 <= s2 for (_, e1), (s2, _) in zip(ends, ends[1:], strict=False)), "overlap"
    fl.free(*live)
    check(fl, {})
    assert fl.regions() == [(16, capacity - 16)]
    assert fl.alloc(capacity - 16) == 16


def test_sparse_batch_records_each_run():
    # Blocks far apart in one batch take the per-block path (the span is too wide to walk).
    fl = fresh(1 << 20)
    blocks = [fl.alloc(64) for _ in range(4000)]
    fl.alloc(fl.free_bytes)
    picked = blocks[10::1000] + [blocks[11], blocks[1012]]
    fl.free(*picked)
    fl.check()
    regions = fl.regions()
    assert (blocks[10], 128) in regions and (blocks[1010], 64) in regions
    assert fl.alloc(128) in (blocks[10], blocks[1010])
    fl.check()


def test_stale_candidates_are_bounded():
    fl = fresh(1 << 16)
    rng = random.Random(7)
    live = [fl.alloc(16 * rng.randint(1, 32)) for _ in range(200)]
    for _ in range(20000):
        i = rng.randrange(len(live))
        if live[i] is not None:
            fl.free(live[i])
        live[i] = fl.alloc(16 * rng.randint(1, 32))
    assert fl.candidates <= 2 * fl.free_bytes // 16 + 4096
    fl.check()


def test_issue_13067_huge_requests_do_not_overflow():
    """Wasmtime #13067: `bump_ptr + size` overflowed in the free list. Requests near and past
    the 32-bit limit must simply not fit."""
    fl = fresh(1 << 16, 1 << 20)
    assert fl.alloc((1 << 32) - 16) is None
    assert fl.alloc(1 << 40) is None
    assert fl.alloc(1 << 16) is None                 # one granule too many (index 0 reserved)
    assert fl.alloc((1 << 16) - 16) == 16
    fl.check()


def test_pr_10589_capacity_too_small_for_the_first_allocation():
    """Wasmtime PR #10589: adding capacity smaller than a block, then more."""
    fl = FreeList(1 << 12)
    fl.add_capacity(20)                              # granule 0 plus 4 bytes: nothing usable
    assert fl.usable_bytes == 0 and fl.alloc(16) is None
    fl.add_capacity(48)
    assert fl.usable_bytes == 32 and fl.alloc(32) == 16
    fl.check()
