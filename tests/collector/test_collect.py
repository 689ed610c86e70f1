"""Collection: the OASR list settled against precise stack roots.

The scenarios Wasmtime's own tests pin, rebuilt on the embedder's model: guest
frames hold raw refs that own no count; exposing a ref puts it in the OASR list; a collection
keeps exactly the refs the embedder reports.
"""

from __future__ import annotations

import gc
import logging
import struct
import time
import weakref

import pytest

import drc
import registry as R
from drc import Heap, InvalidRefError, NoGcScopeError, StackMapRegistry

MARK_BIT, IN_OASR_BIT = 0x1, 0x2


class Payload:
    """Host data that counts its own releases."""

    released = 0

    def __del__(self):
        Payload.released += 1


def kind_bits(heap: Heap, raw: int) -> int:
    with memoryview(heap) as mem:
        return struct.unpack_from("<I", mem, raw)[0]


def live(heap: Heap) -> int:
    return heap.stats()["live_objects"]


def expose_and_drop(heap: Heap, ref) -> int:
    """Hand `ref` to guest frames and let the host forget it: only the OASR list holds it."""
    raw = heap.expose(ref)
    ref.close()
    return raw


# ==== The OASR list ==========================================================================

def test_exposing_the_same_object_twice_does_not_leak(heap, types):
    # Wasmtime issue #13037: the second expose must not leave an extra count behind.
    t = types.struct(R.I32)
    a = heap.struct_new(t, [1])
    raw1 = heap.expose(a)
    raw2 = heap.expose(a)
    assert raw1 == raw2 == a.raw
    assert heap.ref_count(a) == 2          # the handle + the list, once
    assert heap.stats()["oasr_len"] == 1
    a.close()
    report = heap.collect(stack_roots=[])
    assert report.objects_freed == 1
    assert live(heap) == 0


def test_objects_stay_alive_between_host_calls_until_a_collection(heap, types):
    t = types.struct(R.I32)
    raw = expose_and_drop(heap, heap.struct_new(t, [7]))
    assert live(heap) == 1
    heap.collect(stack_roots=[raw])        # still on the guest stack
    assert live(heap) == 1
    assert heap.struct_get(heap.from_raw(raw), 0) == 7
    heap.collect(stack_roots=[])           # the guest let go
    assert live(heap) == 0


def test_after_a_collection_the_list_is_the_precise_set_and_no_mark_is_left(heap, types):
    t = types.struct(R.I32)
    raws = [expose_and_drop(heap, heap.struct_new(t, [i])) for i in range(10)]
    keep = raws[::3]
    report = heap.collect(stack_roots=keep)
    assert report.oasr_before == 10 and report.oasr_after == len(keep)
    assert report.objects_freed == 10 - len(keep)
    for raw in keep:
        bits = kind_bits(heap, raw)
        assert bits & IN_OASR_BIT and not bits & MARK_BIT
    assert heap.stats()["oasr_len"] == len(keep)
    heap.verify()
    heap.collect(stack_roots=[])


def test_transitive_drop_of_a_cons_list_releases_host_data_once(heap, types):
    cell = heap_cons_type(types)
    Payload.released = 0
    head = None
    for _ in range(100):
        head = heap.struct_new(cell, [heap.externref_new(Payload()), head])
    raw = expose_and_drop(heap, head)
    del head
    assert live(heap) == 200
    heap.collect(stack_roots=[raw])
    assert live(heap) == 200 and Payload.released == 0
    heap.collect(stack_roots=[])
    assert live(heap) == 0
    assert Payload.released == 100
    assert heap.stats()["host_data_released"] == 100


def heap_cons_type(types) -> int:
    coll = types.reg.register_module([R.RecGroup([R.SubType(R.StructType([
        R.FieldType(R.RefType(R.EXTERN, True), True),
        R.FieldType(R.RefType(0, True), True)]))])])
    types.keep.append(coll)
    return coll.shared_type(0)


def test_transitive_drop_of_a_tree_of_arrays(heap, types):
    leaf_array = types.array(R.RefType(R.EXTERN, True))
    inner = types.array(R.RefType(R.ANY, True))
    Payload.released = 0

    def tree(depth):
        if depth == 0:
            return heap.array_new_fixed(leaf_array, [heap.externref_new(Payload())
                                                     for _ in range(2)])
        return heap.array_new_fixed(inner, [tree(depth - 1), tree(depth - 1)])

    expose_and_drop(heap, tree(6))
    assert Payload.released == 0
    heap.collect(stack_roots=[])
    assert live(heap) == 0 and Payload.released == 2 ** 7


def test_a_root_outside_the_list_is_refused_and_nothing_changes(heap, types):
    t = types.struct(R.I32)
    a = heap.struct_new(t, [1])            # never exposed
    b_raw = expose_and_drop(heap, heap.struct_new(t, [2]))
    before = heap.stats()
    with pytest.raises(InvalidRefError, match="not in the over-approximated"):
        heap.collect(stack_roots=[b_raw, a.raw])
    with pytest.raises(InvalidRefError, match="not a live object"):
        heap.collect(stack_roots=[b_raw + 16 * 1000])
    with pytest.raises(TypeError):
        heap.collect(stack_roots=["x"])
    with pytest.raises(OverflowError):
        heap.collect(stack_roots=[-1])
    assert heap.stats() == before
    assert not kind_bits(heap, b_raw) & MARK_BIT
    heap.verify()
    heap.collect(stack_roots=[])           # the failed attempts left no collection behind
    assert live(heap) == 1
    a.close()


def test_i31_and_null_roots_are_ignored(heap, types):
    t = types.struct(R.I32)
    raw = expose_and_drop(heap, heap.struct_new(t, [1]))
    heap.collect(stack_roots=[0, drc.I31(5), None, (3 << 1) | 1, raw])
    assert live(heap) == 1
    heap.collect(stack_roots=[])


# ==== Incremental collection ==================================================================

def test_incremental_collection_traces_then_sweeps(heap, types):
    t = types.struct(R.I32)
    keep = expose_and_drop(heap, heap.struct_new(t, [1]))
    expose_and_drop(heap, heap.struct_new(t, [2]))
    c = heap.gc(stack_roots=[keep])
    assert c.phase == "trace"
    assert c.collect_increment() == "continue"
    assert c.phase == "sweep"
    assert kind_bits(heap, keep) & MARK_BIT
    assert live(heap) == 2                 # nothing swept yet
    assert c.collect_increment() == "continue"
    assert c.phase == "cycles"             # the cycle pass is an increment of its own
    assert live(heap) == 1 and c.report.objects_freed == 1
    assert c.collect_increment() == "complete"
    assert c.collect_increment() == "complete"
    assert c.phase == "done" and c.report.cycles_freed == 0
    assert not kind_bits(heap, keep) & MARK_BIT
    heap.collect(stack_roots=[])


def test_without_cycles_an_incremental_collection_ends_with_its_sweep(heap, types):
    t = types.struct(R.I32)
    expose_and_drop(heap, heap.struct_new(t, [2]))
    c = heap.gc(stack_roots=[], cycles=False)
    assert c.collect_increment() == "continue"
    assert c.collect_increment() == "complete"
    assert c.phase == "done" and live(heap) == 0


def test_refs_handed_to_the_guest_between_trace_and_sweep_survive(heap, types):
    t = types.struct(R.I32)
    old = expose_and_drop(heap, heap.struct_new(t, [1]))
    c = heap.gc(stack_roots=[])
    c.collect_increment()
    # Guest code runs between the increments: it is handed a fresh object, and re-takes the
    # old one (which the trace did not mark).
    fresh = expose_and_drop(heap, heap.struct_new(t, [2]))
    heap.expose(heap.from_raw(old))
    assert c.collect_increment() == "continue"
    assert live(heap) == 2
    c.run()
    assert live(heap) == 2
    assert heap.struct_get(heap.from_raw(fresh), 0) == 2
    heap.collect(stack_roots=[])
    assert live(heap) == 0


def test_one_collection_at_a_time_and_an_abandoned_one_is_undone(heap, types):
    t = types.struct(R.I32)
    raw = expose_and_drop(heap, heap.struct_new(t, [1]))
    c = heap.gc(stack_roots=[raw])
    c.collect_increment()
    with pytest.raises(drc.DrcError, match="already in progress"):
        heap.collect(stack_roots=[])
    c.cancel()
    assert not kind_bits(heap, raw) & MARK_BIT
    assert c.collect_increment() == "complete"
    c2 = heap.gc(stack_roots=[raw])
    c2.collect_increment()
    del c2
    gc.collect()
    assert not kind_bits(heap, raw) & MARK_BIT
    heap.collect(stack_roots=[])
    assert live(heap) == 0


# ==== No-GC scopes and the stack canary ========================================================

def test_no_gc_scopes_nest_and_forbid_collection(heap, types):
    t = types.struct(R.I32)
    expose_and_drop(heap, heap.struct_new(t, [1]))
    with heap.no_gc():
        with heap.no_gc():
            with pytest.raises(NoGcScopeError):
                heap.collect(stack_roots=[])
        with pytest.raises(NoGcScopeError):
            heap.gc(stack_roots=[])
    assert live(heap) == 1
    heap.collect(stack_roots=[])
    assert live(heap) == 0


def test_an_increment_inside_a_no_gc_scope_is_refused(heap, types):
    c = heap.gc(stack_roots=[])
    with heap.no_gc(), pytest.raises(NoGcScopeError):
        c.collect_increment()
    assert c.collect_increment() == "continue"
    assert c.collect_increment() == "continue"
    with heap.no_gc(), pytest.raises(NoGcScopeError):
        c.collect_increment()             # the cycle pass is refused too
    assert c.phase == "cycles"
    assert c.collect_increment() == "complete"


def test_guest_frames_without_a_root_source_skip_the_sweep(heap, types, caplog):
    t = types.struct(R.I32)
    raw = expose_and_drop(heap, heap.struct_new(t, [1]))
    with heap.guest():
        assert heap.guest_depth == 1
        with caplog.at_level(logging.WARNING, logger="drc"):
            report = heap.collect()
        assert report.skipped
        assert "stack canary" in report.reason
        assert "skipping the sweep" in caplog.text
        assert live(heap) == 1
        assert heap.stats()["collections_skipped"] == 1
        # Reported roots make it a real collection again.
        assert not heap.collect(stack_roots=[raw]).skipped
    assert heap.guest_depth == 0
    # No guest frames: the whole list is stale.
    report = heap.collect()
    assert not report.skipped and report.objects_freed == 1


def test_guest_enter_and_exit_must_balance(heap):
    heap.enter_guest()
    heap.enter_guest()
    heap.exit_guest()
    assert heap.guest_depth == 1
    heap.exit_guest()
    with pytest.raises(RuntimeError, match="no guest frames"):
        heap.exit_guest()


# ==== Stack maps ===============================================================================

def test_collect_with_frames_and_stack_maps(heap, types):
    t = types.struct(R.I32)
    maps = StackMapRegistry()
    maps.register([(0x1000, 0x1100, [(0x10, [1]), (0x40, [0, 2])])])
    heap.stack_maps = maps
    a, b, c = (expose_and_drop(heap, heap.struct_new(t, [i])) for i in range(3))
    frames = [
        (0x1012, [0xDEAD_BEE0, a]),     # slot 0 is not a ref at this safepoint
        (0x9999, [b]),                  # host frame
        (0x1048, [c, 0, 0]),
    ]
    report = heap.collect(frames=frames)
    assert report.roots == 2 and report.objects_freed == 1
    assert heap.struct_get(heap.from_raw(a), 0) == 0
    assert heap.struct_get(heap.from_raw(c), 0) == 2
    with pytest.raises(InvalidRefError):
        heap.from_raw(b)
    heap.collect(frames=[])
    assert live(heap) == 0


def test_frames_without_stack_maps_are_an_error(heap):
    with pytest.raises(ValueError, match="StackMapRegistry"):
        heap.collect(frames=[(0, [])])
    with pytest.raises(TypeError):
        heap.stack_maps = object()


# ==== Automatic collection and growth ===========================================================

def guest_loop(heap, t, n, keep_one=True):
    """A guest allocating n small objects, holding only the latest one."""
    current = [0]
    heap.set_root_provider(lambda: current if keep_one else [])
    for i in range(n):
        current[0] = expose_and_drop(heap, heap.struct_new(t, [i]))
    return current[0]


def test_heap_does_not_grow_unboundedly_under_wasmtimes_policy(reg, types):
    # Wasmtime's gc_heap_does_not_grow_unboundedly: 100,000 allocations, one live local.
    heap = Heap(reg, growth_policy="wasmtime")
    t = types.struct(R.I32)
    last = guest_loop(heap, t, 100_000)
    assert heap.stats()["capacity"] <= 64 * 1024
    assert heap.stats()["collections"] > 0
    assert heap.struct_get(heap.from_raw(last), 0) == 99_999
    heap.set_root_provider(None)
    heap.collect(stack_roots=[])
    heap.verify()
    heap.close()


def test_adaptive_policy_is_bounded_too(reg, types):
    heap = Heap(reg)
    assert heap.growth_policy == "adaptive"
    t = types.struct(R.I32)
    guest_loop(heap, t, 100_000)
    # It may grow past the minimum GC heap to amortize collections, but no further than the
    # adaptive cap of the small live set.
    assert heap.stats()["capacity"] <= 8 * heap.stats()["min_gc_heap"]
    # A heap that never collected would fit too (100,000 small structs need about 3 MiB).
    assert heap.stats()["collections"] > 0
    assert live(heap) <= heap.stats()["oasr_trigger"] + 1
    heap.set_root_provider(None)
    heap.collect(stack_roots=[])
    heap.close()


def test_without_a_root_provider_allocation_only_grows(heap, types):
    t = types.struct(R.I32)
    for i in range(5000):
        expose_and_drop(heap, heap.struct_new(t, [i]))
    assert heap.stats()["collections"] == 0
    assert live(heap) == 5000
    heap.collect(stack_roots=[])


def test_oasr_length_trigger_makes_a_collection_due(heap, types):
    t = types.struct(R.I32)
    for i in range(1023):
        expose_and_drop(heap, heap.struct_new(t, [i]))
    assert not heap.collection_due
    expose_and_drop(heap, heap.struct_new(t, [0]))
    assert heap.collection_due               # 1024 >= max(2 * 0, 1024)
    assert heap.maybe_collect() is None      # no root source registered: nothing happens
    heap.set_root_provider(lambda: [])
    report = heap.maybe_collect()
    assert report is not None and report.objects_freed == 1024
    assert not heap.collection_due
    heap.set_root_provider(None)


def test_a_due_collection_runs_at_the_next_allocation(heap, types):
    t = types.struct(R.I32)
    heap.set_root_provider(lambda: [])
    for i in range(1024):
        expose_and_drop(heap, heap.struct_new(t, [i]))
    assert heap.collection_due
    keep = heap.struct_new(t, [5])
    assert heap.stats()["collections"] == 1 and live(heap) == 1
    keep.close()
    heap.set_root_provider(None)


@pytest.mark.parametrize("policy", ["adaptive", "wasmtime"])
def test_oasr_trigger_is_twice_the_length_after_the_last_collection(reg, types, policy):
    # 5,000 roots survive on the list: 10,000 is above any floor (at most 8,192).
    heap = Heap(reg, growth_policy=policy)
    t = types.struct(R.I32)
    roots = [expose_and_drop(heap, heap.struct_new(t, [i])) for i in range(5000)]
    heap.collect(stack_roots=roots)
    s = heap.stats()
    assert s["oasr_len_after_last_gc"] == 5000 and s["oasr_trigger"] == 10_000
    for i in range(4999):
        expose_and_drop(heap, heap.struct_new(t, [i]))
    assert not heap.collection_due
    expose_and_drop(heap, heap.struct_new(t, [0]))
    assert heap.collection_due and heap.stats()["oasr_len"] == 10_000
    heap.collect(stack_roots=[])
    assert heap.stats()["oasr_trigger"] == heap.stats()["oasr_trigger_floor"]
    assert live(heap) == 0
    heap.close()


@pytest.mark.parametrize("policy, floor, len_after, trigger", [
    ("adaptive", 1024, 0, 1024),
    ("adaptive", 1024, 600, 1200),
    ("adaptive", 4096, 1000, 4096),         # the learned floor wins over 2 x 1000
    ("adaptive", 4096, 3000, 6000),
    ("adaptive", 0, 100, 1024),             # never below Wasmtime's 1024
    ("wasmtime", 4096, 1000, 2000),         # Wasmtime's rule ignores a learned floor
    ("wasmtime", 8192, 0, 1024),
])
def test_oasr_trigger_rule(policy, floor, len_after, trigger):
    assert drc.heap._oasr_trigger(policy, floor, len_after) == trigger


@pytest.mark.parametrize("floor, gc_seconds, mutator_seconds, after", [
    (1024, 0.02, 0.1, 2048),    # over the 10 % budget: double
    (4096, 2.0, 1.0, 8192),
    (8192, 2.0, 1.0, 8192),     # capped at 8,192
    (1024, 1.0, 10.0, 1024),    # exactly 10 %: not over
    (4096, 1.0, 10.0, 4096),    # between a quarter of the budget and the budget: keep
    (4096, 1.0, 40.0, 4096),    # exactly a quarter: not under
    (4096, 1.0, 40.5, 2048),    # under a quarter of the budget: halve
    (8192, 0.0, 1.0, 4096),
    (1024, 0.0, 1.0, 1024),     # never below 1024
    (0, 1.0, 10.0, 1024),       # an unset floor starts at 1024
])
def test_adaptive_trigger_floor_doubles_halves_and_is_capped(floor, gc_seconds,
                                                             mutator_seconds, after):
    learn = drc.heap._learn_from_collection
    assert learn("adaptive", floor, gc_seconds, mutator_seconds) == after
    # Wasmtime's rule does not learn.
    assert learn("wasmtime", floor, gc_seconds, mutator_seconds) == floor


def collect_with_slow_roots(heap, seconds):
    """A collection whose root provider takes `seconds`: far over the 10 % time budget when
    the mutator ran only briefly since the last one."""
    def slow():
        time.sleep(seconds)
        return []
    heap.set_root_provider(slow)
    try:
        heap.collect()
    finally:
        heap.set_root_provider(None)


def test_slow_collections_raise_the_floor_to_the_cap_and_fast_ones_lower_it(reg, types):
    heap = Heap(reg)
    assert heap.stats()["oasr_trigger_floor"] == 1024
    floors = []
    for _ in range(10):
        collect_with_slow_roots(heap, 0.02)
        floors.append(heap.stats()["oasr_trigger_floor"])
        if floors[-1] == 8192:
            break
    # Each slow collection doubles the floor (a preempted mutator could skip a step, never
    # lower it), up to the cap.
    assert floors[-1] == 8192 and floors == sorted(floors), floors
    collect_with_slow_roots(heap, 0.02)
    assert heap.stats()["oasr_trigger_floor"] == 8192
    assert heap.stats()["oasr_trigger"] == 8192
    floors = []
    for _ in range(10):
        time.sleep(0.1)                     # mutator time, with cheap collections
        heap.collect(stack_roots=[])
        floors.append(heap.stats()["oasr_trigger_floor"])
        if floors[-1] == 1024:
            break
    assert floors[-1] == 1024 and floors == sorted(floors, reverse=True), floors
    heap.close()


def test_changing_the_growth_policy_recomputes_the_trigger(reg, types):
    heap = Heap(reg)
    for _ in range(10):
        collect_with_slow_roots(heap, 0.02)
        if heap.stats()["oasr_trigger_floor"] == 8192:
            break
    assert heap.stats()["oasr_trigger"] == 8192
    t = types.struct(R.I32)
    for i in range(2000):
        expose_and_drop(heap, heap.struct_new(t, [i]))
    assert not heap.collection_due
    heap.growth_policy = "wasmtime"
    assert heap.stats()["oasr_trigger"] == heap.stats()["oasr_trigger_floor"] == 1024
    expose_and_drop(heap, heap.struct_new(t, [0]))
    assert heap.collection_due                 # 2001 >= 1024 under Wasmtime's rule
    heap.collect(stack_roots=[])
    heap.growth_policy = "adaptive"            # the learned floor is back
    assert heap.stats()["oasr_trigger"] == heap.stats()["oasr_trigger_floor"] == 8192
    heap.close()


def test_array_copy_keeps_both_arrays_alive_across_a_collection_mid_loop(heap, types):
    # Wasmtime's drc_array_copy_keeps_arrays_alive_across_in_loop_gc: a collection forced by
    # the OASR trigger in the middle of a chunked copy; the guest holds src and dst.
    elem = types.struct(R.I32)
    arr = types.array(R.RefType(R.ANY, True))
    n = 4096
    src = heap.array_new_fixed(arr, [heap.struct_new(elem, [i]) for i in range(n)])
    dst = heap.array_new(arr, n)
    src_raw, dst_raw = expose_and_drop(heap, src), expose_and_drop(heap, dst)
    del src, dst
    heap.set_root_provider(lambda: [src_raw, dst_raw])
    collections = heap.stats()["collections"]
    for start in range(0, n, 256):
        heap.array_copy(heap.from_raw(dst_raw), start, heap.from_raw(src_raw), start, 256)
        for _ in range(200):                 # guest temporaries push the list past 1024
            expose_and_drop(heap, heap.struct_new(elem, [0]))
    assert heap.stats()["collections"] > collections
    d = heap.from_raw(dst_raw)
    assert [heap.struct_get(heap.array_get(d, i), 0) for i in range(0, n, 97)] == \
        list(range(0, n, 97))
    del d
    heap.set_root_provider(None)
    heap.collect(stack_roots=[])
    assert live(heap) == 0


def test_root_provider_with_frames(heap, types):
    t = types.struct(R.I32)
    maps = StackMapRegistry()
    maps.register([(0, 0x100, [(0, [0])])])
    heap.stack_maps = maps
    frame = [0]
    heap.set_root_provider(lambda: [(0x10, frame)], frames=True)
    frame[0] = expose_and_drop(heap, heap.struct_new(t, [1]))
    expose_and_drop(heap, heap.struct_new(t, [2]))
    report = heap.collect()
    assert report.roots == 1 and report.objects_freed == 1
    heap.set_root_provider(None)
    heap.collect(stack_roots=[])


def test_root_provider_must_be_callable(heap):
    with pytest.raises(TypeError):
        heap.set_root_provider(42)


def test_a_failing_root_provider_propagates_and_leaves_the_heap_usable(heap, types):
    t = types.struct(R.I32)

    def broken():
        raise KeyError("frames unavailable")

    heap.set_root_provider(broken)
    with pytest.raises(KeyError):
        heap.collect()
    heap.set_root_provider(None)
    expose_and_drop(heap, heap.struct_new(t, [1]))
    heap.collect(stack_roots=[])
    assert live(heap) == 0


def test_growth_policy_is_selectable_and_validated(reg):
    heap = Heap(reg, growth_policy="wasmtime")
    assert heap.growth_policy == "wasmtime"
    heap.growth_policy = "adaptive"
    assert heap.growth_policy == "adaptive"
    with pytest.raises(ValueError):
        heap.growth_policy = "never"
    with pytest.raises(ValueError):
        Heap(reg, growth_policy="sometimes")
    heap.close()


@pytest.mark.parametrize("need, capacity, last_live, expected", [
    (10, 0, 0, False),                 # no heap yet: grow
    (0, 1 << 20, 0, True),             # zeal's forced signal
    (1 << 63, 1 << 20, 0, False),      # absurd request
    (10, 1 << 20, (1 << 64) - 5, True),  # overflow: collect
    (10, 1 << 20, 1000, True),         # small live set: collect
    (1 << 19, 1 << 20, 1000, False),   # would not fit in half: grow
])
def test_wasmtime_should_collect_first(need, capacity, last_live, expected):
    assert drc.heap._should_collect_first("wasmtime", need, capacity, last_live) is expected


def test_adaptive_rule_grows_small_heaps_and_busy_collectors():
    decide = drc.heap._should_collect_first
    # Below the minimum GC heap: grow even where Wasmtime's rule would collect.
    assert decide("adaptive", 16, 64 * 1024, 0) is False
    assert decide("adaptive", 16, 4 << 20, 0) is True
    # The last collection took 50 ms and ended 100 ms ago: over the 10 % budget, grow...
    assert decide("adaptive", 16, 4 << 20, 0, last_gc_seconds=0.05, since_last_gc=0.1) is False
    # ... but not past 8x the live size (at least the minimum heap).
    assert decide("adaptive", 16, 16 << 20, 0, last_gc_seconds=0.05, since_last_gc=0.1) is True
    # A cheap last collection: collect.
    assert decide("adaptive", 16, 4 << 20, 0, last_gc_seconds=0.001, since_last_gc=0.1) is True


# ==== Zeal: phase-boundary checks and forced collections ========================================

@pytest.mark.zeal
def test_zeal_catches_a_write_to_free_memory_at_the_next_phase_boundary(heap, types):
    t = types.struct(R.I32)
    a = heap.struct_new(t, [1])
    raw = a.raw
    a.close()                                # freed and poisoned
    with memoryview(heap) as mem:
        mem[raw + 8] = 1                     # a dangling write (the old count field)
    with pytest.raises(drc.HeapCorruptionError, match=rf"offset {raw + 8}: before trace"):
        heap.collect(stack_roots=[])
    with memoryview(heap) as mem:
        mem[raw + 8] = drc.build.POISON      # repair, so the fixture's checks pass


@pytest.mark.zeal
def test_zeal_catches_a_broken_oasr_list(heap, types):
    t = types.struct(R.I32)
    raw = expose_and_drop(heap, heap.struct_new(t, [1]))
    with memoryview(heap) as mem:
        bits = struct.unpack_from("<I", mem, raw)[0]
        struct.pack_into("<I", mem, raw, bits & ~IN_OASR_BIT)
    with pytest.raises(drc.HeapCorruptionError, match="without its in-list bit"):
        heap.collect(stack_roots=[])
    with memoryview(heap) as mem:
        struct.pack_into("<I", mem, raw, bits)
    heap.collect(stack_roots=[])


@pytest.mark.zeal
def test_zeal_forced_collections_every_n_allocations(heap, types):
    t = types.struct(R.I32)
    heap.set_root_provider(lambda: [])
    heap.set_zeal_collect_every(5)
    for i in range(50):
        expose_and_drop(heap, heap.struct_new(t, [i]))
    assert heap.stats()["collections"] >= 9
    heap.set_zeal_collect_every(0)
    heap.set_root_provider(None)
    heap.collect(stack_roots=[])


@pytest.mark.release
def test_forced_collections_need_the_zeal_build(heap):
    with pytest.raises(RuntimeError, match="gc_zeal"):
        heap.set_zeal_collect_every(5)


# ==== Stats and history ==========================================================================

def test_stats_and_history_record_collections_and_growth(heap, types):
    t = types.struct(R.I32)
    expose_and_drop(heap, heap.struct_new(t, [1]))
    heap.collect(stack_roots=[])
    s = heap.stats()
    assert s["collections"] == 1
    assert s["objects_freed_by_sweeps"] == 1 and s["bytes_freed_by_sweeps"] == 32
    assert s["oasr_len_after_last_gc"] == 0
    assert s["last_live_bytes"] == 0
    assert s["gc_seconds"] >= 0
    assert s["cycle_passes"] == 1 and s["objects_freed_by_cycles"] == 0
    heap.collect(stack_roots=[], cycles=False)
    assert heap.stats()["cycle_passes"] == 1
    events = heap.history()
    assert [e["event"] for e in events] == ["grow", "collect", "cycles", "collect"]
    assert events[0]["capacity"] == 64 * 1024
    assert all(e["seconds"] >= 0 for e in events)


def test_collecting_a_closed_heap_is_an_error(reg):
    heap = Heap(reg)
    heap.close()
    with pytest.raises(ValueError, match="closed"):
        heap.collect(stack_roots=[])


def test_host_data_finalizer_reentering_the_heap_during_a_sweep(heap, types):
    # A payload whose release allocates and exposes on the same heap: the sweep must have
    # finished with the list before any host code runs.
    t = types.struct(R.I32)
    made = []

    class Reentrant:
        def __del__(self):
            made.append(expose_and_drop(heap, heap.struct_new(t, [9])))

    cell = heap_cons_type(types)
    for _ in range(3):
        expose_and_drop(heap, heap.struct_new(cell, [heap.externref_new(Reentrant()), None]))
    heap.collect(stack_roots=[])
    assert len(made) == 3
    assert heap.stats()["oasr_len"] == 3
    heap.verify()
    heap.collect(stack_roots=[])
    assert live(heap) == 0


def test_weakref_to_heap_is_possible():
    heap = Heap(R.TypeRegistry())
    assert weakref.ref(heap)() is heap
    heap.close()


def test_a_root_provider_that_allocates_on_the_heap_does_not_recurse(reg, types):
    heap = Heap(reg, growth_policy="wasmtime")
    t = types.struct(R.I32)
    made = []

    def provider():
        # Allocating here must not start a nested collection (it grows instead).
        made.append(heap.struct_new(t, [len(made)]))
        return []

    heap.set_root_provider(provider)
    for i in range(5000):
        expose_and_drop(heap, heap.struct_new(t, [i]))
    assert heap.stats()["collections"] > 0 and len(made) == heap.stats()["collections"]
    heap.set_root_provider(None)
    made.clear()
    heap.collect(stack_roots=[])
    assert live(heap) == 0
    heap.close()
