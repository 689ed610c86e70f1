"""The cycle pass: trial deletion over the heap frees garbage cycles and everything only they
keep alive, and never anything held from outside the heap (host handles, counts owned from C,
OASR entries the precise roots keep) or reachable from it."""

from __future__ import annotations

import gc
import logging
import struct

import pytest

import registry as R
from drc import I31, DrcError, Heap, HeapCorruptionError, NoGcScopeError


class Payload:
    """Host data that records its release and how many objects were live at that moment."""

    released: list[int] = []
    live_at_release: list[int] = []

    def __init__(self, tag: int, heap: Heap) -> None:
        self.tag = tag
        self.heap = heap

    def __del__(self) -> None:
        Payload.released.append(self.tag)
        Payload.live_at_release.append(self.heap.stats()["live_objects"])


@pytest.fixture(autouse=True)
def _fresh_payload_log():
    Payload.released = []
    Payload.live_at_release = []


@pytest.fixture
def any2(types) -> int:
    """struct { mut anyref, mut anyref }: edges to objects of any type."""
    return types.struct(R.RefType(R.ANY, True), R.RefType(R.ANY, True))


def live(heap: Heap) -> int:
    return heap.stats()["live_objects"]


def pair_cycle(heap: Heap, node: int) -> None:
    """a <-> b, then the host lets both go: only the cycle holds them."""
    a = heap.struct_new(node, [None, None])
    b = heap.struct_new(node, [a, None])
    heap.struct_set(a, 0, b)


# ==== What the pass frees =====================================================================

def test_a_thousand_dropped_two_object_cycles_are_freed(heap, node):
    for _ in range(1000):
        pair_cycle(heap, node)
    assert live(heap) == 2000
    # Counting and the sweep alone leak every one of them.
    report = heap.collect(stack_roots=[], cycles=False)
    assert report.cycles_freed == 0 and live(heap) == 2000
    report = heap.collect(stack_roots=[])
    assert report.cycles_freed == 2000 and report.objects_freed == 2000
    assert live(heap) == 0
    s = heap.stats()
    assert s["cycle_passes"] == 1 and s["objects_freed_by_cycles"] == 2000
    assert s["bytes_freed_by_cycles"] == 2000 * 32


def test_self_reference(heap, node):
    a = heap.struct_new(node, [None, None])
    heap.struct_set(a, 1, a)
    assert heap.ref_count(a) == 2
    a.close()
    assert live(heap) == 1
    assert heap.collect(stack_roots=[]).cycles_freed == 1
    assert live(heap) == 0


def test_cycle_through_an_array_of_refs(heap, types, any2):
    arr_t = types.array(R.RefType(R.ANY, True))
    arr = heap.array_new(arr_t, 5)
    n = heap.struct_new(any2, [None, None])
    heap.array_set(arr, 3, n)
    heap.array_set(arr, 4, I31(7))
    other = heap.struct_new(types.struct(R.I32), [9])
    heap.array_set(arr, 0, other)            # acyclic, kept alive only by the cycle
    other.close()
    holder = heap.struct_new(types.struct(R.RefType(R.ANY, True)), [arr])
    heap.struct_set(n, 0, holder)            # arr -> n -> holder -> arr
    del arr, n, holder
    assert live(heap) == 4
    assert heap.collect(stack_roots=[]).cycles_freed == 4


def test_cycle_through_a_long_ref_array(heap, types, any2):
    # More than the cascade's 1024-element chunk: the pass walks any length in one go.
    arr_t = types.array(R.RefType(R.ANY, True))
    arr = heap.array_new(arr_t, 5000)
    members = []
    for i in range(0, 5000, 7):
        m = heap.struct_new(any2, [None, None])
        heap.array_set(arr, i, m)
        members.append(m)
    holder = heap.struct_new(types.struct(R.RefType(R.ANY, True)), [arr])
    heap.struct_set(members[-1], 1, holder)
    expected = 2 + len(members)
    del arr, members, m, holder
    assert live(heap) == expected
    assert heap.collect(stack_roots=[]).cycles_freed == expected


def test_cycle_through_structs_of_mixed_fields(heap, reg):
    # $m = struct { i8, ref null $m, f64, i32, externref, i16, ref null $m }
    coll = reg.register_module([R.RecGroup([R.SubType(R.StructType([
        R.FieldType(R.I8, True), R.FieldType(R.RefType(0, True), True),
        R.FieldType(R.F64, True), R.FieldType(R.I32, True),
        R.FieldType(R.RefType(R.EXTERN, True), True), R.FieldType(R.I16, True),
        R.FieldType(R.RefType(0, True), True)]))])])
    m = coll.shared_type(0)
    ext = heap.externref_new(Payload(1, heap))
    a = heap.struct_new(m, [-1, None, 2.5, 0x7FFF_FFFF, ext, 3, None])
    b = heap.struct_new(m, [1, a, -0.0, -1, None, -1, None])
    heap.struct_set(a, 6, b)
    # The scalar fields hold values that look like refs: they are not edges.
    c = heap.struct_new(m, [0, None, 0.0, b.raw, None, 0, None])
    del a, b, ext
    assert live(heap) == 4
    report = heap.collect(stack_roots=[])
    assert report.cycles_freed == 3
    assert Payload.released == [1]           # released once, after the pass
    assert heap.struct_get(c, 3) != 0 and live(heap) == 1
    c.close()
    coll.close()


def test_funcref_and_i31_slots_are_not_edges(heap, reg):
    # $f = struct { funcref, i31ref, ref null $f, funcref array }: funcref ids are table
    # indices, not heap offsets; a pass that followed them would misread them as objects.
    coll = reg.register_module([R.RecGroup([
        R.SubType(R.FuncType()),
        R.SubType(R.StructType([R.FieldType(R.RefType(R.FUNC, True), True),
                                R.FieldType(R.RefType(R.I31, True), True),
                                R.FieldType(R.RefType(1, True), True)])),
        R.SubType(R.ArrayType(R.FieldType(R.RefType(R.FUNC, True), True)))])])
    func, f, farr = coll.shared_types
    fns = [heap.funcref_new(func, object()) for _ in range(3)]
    a = heap.struct_new(f, [fns[0], I31(12345), None])
    b = heap.struct_new(f, [fns[1], I31(-1), a])
    heap.struct_set(a, 2, b)
    table = heap.array_new_fixed(farr, fns)       # a live object that holds only funcrefs
    del a, b
    report = heap.collect(stack_roots=[])
    assert report.cycles_freed == 2 and live(heap) == 1
    assert [heap.array_get(table, i) for i in range(3)] == fns
    table.close()
    coll.close()


def test_cycle_through_subtypes(heap, reg):
    # $base = sub struct { ref null $base };  $derived = sub $base struct { ref null $base, i64 }
    coll = reg.register_module([R.RecGroup([
        R.SubType(R.StructType([R.FieldType(R.RefType(0, True), True)]), final=False),
        R.SubType(R.StructType([R.FieldType(R.RefType(0, True), True),
                                R.FieldType(R.I64, True)]), supertype=0)])])
    base, derived = coll.shared_type(0), coll.shared_type(1)
    d = heap.struct_new(derived, [None, 1 << 40])
    b = heap.struct_new(base, [d])
    heap.struct_set(d, 0, b)
    del d, b
    assert heap.collect(stack_roots=[]).cycles_freed == 2
    coll.close()


def test_everything_only_a_cycle_keeps_alive_is_freed_and_payloads_released_once(heap, types,
                                                                                  any2):
    box = types.struct(R.RefType(R.EXTERN, True), R.RefType(R.ANY, True))
    a = heap.struct_new(any2, [None, None])
    b = heap.struct_new(any2, [a, None])
    heap.struct_set(a, 0, b)
    # A chain hanging off the cycle, with payloads, and a payload in the cycle's own reach.
    tail = None
    for i in range(10):
        tail = heap.struct_new(box, [heap.externref_new(Payload(i, heap)), tail])
    heap.struct_set(b, 1, tail)
    del a, b, tail
    assert live(heap) == 22
    report = heap.collect(stack_roots=[])
    assert report.cycles_freed == 22 and live(heap) == 0
    assert sorted(Payload.released) == list(range(10))
    # Released after the walk: every garbage block was already free.
    assert Payload.live_at_release == [0] * 10
    assert heap.stats()["host_data_live"] == 0


def test_a_ring_of_a_hundred_thousand_objects_frees_without_recursion(heap, node):
    first = heap.struct_new(node, [None, None])
    prev = first
    for _ in range(100_000 - 1):
        prev = heap.struct_new(node, [prev, None])
    heap.struct_set(first, 0, prev)
    del first, prev
    assert heap.collect(stack_roots=[]).cycles_freed == 100_000


# ==== What the pass keeps =====================================================================

def test_a_cycle_held_by_a_host_handle_survives(heap, node):
    a = heap.struct_new(node, [None, None])
    b = heap.struct_new(node, [a, None])
    heap.struct_set(a, 0, b)
    b.close()
    assert heap.collect(stack_roots=[]).cycles_freed == 0
    assert live(heap) == 2
    assert heap.ref_count(a) == 2            # the handle + b.left: nothing was subtracted
    with heap.struct_get(a, 0) as b2:
        assert heap.ref_count(b2) == 2
    a.close()
    assert heap.collect(stack_roots=[]).cycles_freed == 2


def test_a_cycle_reachable_from_a_held_object_survives(heap, node):
    root = heap.struct_new(node, [None, None])
    a = heap.struct_new(node, [None, None])
    b = heap.struct_new(node, [a, None])
    heap.struct_set(a, 0, b)
    heap.struct_set(root, 1, a)
    del a, b
    assert heap.collect(stack_roots=[]).cycles_freed == 0
    assert live(heap) == 3
    heap.struct_set(root, 1, None)
    assert heap.collect(stack_roots=[]).cycles_freed == 2
    root.close()


def test_survivors_keep_exact_counts_when_garbage_pointed_at_them(heap, node):
    keep = heap.struct_new(node, [None, None])
    for _ in range(3):
        a = heap.struct_new(node, [keep, None])
        b = heap.struct_new(node, [a, keep])
        heap.struct_set(a, 1, b)
        del a, b
    assert heap.ref_count(keep) == 7         # the handle + two slots in each of 3 cycles
    assert heap.collect(stack_roots=[]).cycles_freed == 6
    assert heap.ref_count(keep) == 1
    keep.close()


def test_exposed_cycles_survive_while_the_precise_roots_keep_them(heap, node):
    a = heap.struct_new(node, [None, None])
    b = heap.struct_new(node, [a, None])
    heap.struct_set(a, 0, b)
    raw = heap.expose(b)                     # the guest holds b
    del a, b
    report = heap.collect(stack_roots=[raw])
    assert report.cycles_freed == 0 and live(heap) == 2
    # Exposed but no longer a precise root: the sweep drops the list's count and the same
    # collection's cycle pass frees the cycle.
    report = heap.collect(stack_roots=[])
    assert report.objects_freed == 2 and report.cycles_freed == 2


def test_a_payload_cycle_through_python_is_out_of_reach(heap, types):
    # s.left -> externref whose payload holds a GcRef of s: the GcRef is a count from
    # outside the heap, and the heap's payload table keeps the payload alive for Python's gc.
    # Neither collector can see the loop; breaking it by hand (or closing the heap) frees it.
    class Holder:
        ref = None

    box = types.struct(R.RefType(R.EXTERN, True))
    s = heap.struct_new(box, [None])
    holder = Holder()
    ext = heap.externref_new(holder)
    heap.struct_set(s, 0, ext)
    holder.ref = s
    ext_raw = ext.raw
    del s, ext, holder
    assert heap.collect(stack_roots=[]).cycles_freed == 0
    gc.collect()
    assert live(heap) == 2
    with heap.from_raw(ext_raw) as ext:
        heap.externref_data(ext).ref.close()     # what an embedder does: drop its handle
    assert live(heap) == 0                       # and counting frees both


# ==== Interplay with collection ===============================================================

def test_incremental_cycle_increment_sees_what_happened_after_the_sweep(heap, node):
    c = heap.gc(stack_roots=[])
    assert c.collect_increment() == "continue"
    assert c.collect_increment() == "continue"
    assert c.phase == "cycles"
    # Guest code runs before the last increment: a new cycle is made and dropped, and an
    # object is exposed (the guest holds it; nothing marks it, nothing needs to).
    pair_cycle(heap, node)
    held = heap.struct_new(node, [None, None])
    heap.struct_set(held, 0, held)
    raw = heap.expose(held)
    held.close()
    with pytest.raises(DrcError, match="in progress"):
        heap.collect(stack_roots=[])
    assert c.collect_increment() == "complete"
    assert c.report.cycles_freed == 2
    assert live(heap) == 1 and heap.from_raw(raw) is not None
    heap.collect(stack_roots=[])
    assert live(heap) == 0


def test_cancelling_after_the_sweep_skips_only_the_cycle_pass(heap, node):
    pair_cycle(heap, node)
    c = heap.gc(stack_roots=[])
    c.collect_increment()
    c.collect_increment()
    c.cancel()
    assert c.phase == "done" and live(heap) == 2
    assert heap.stats()["collections"] == 1 and heap.stats()["cycle_passes"] == 0
    heap.collect(stack_roots=[])
    assert live(heap) == 0


def test_the_cycle_pass_is_refused_inside_no_gc(heap, node):
    pair_cycle(heap, node)
    with heap.no_gc(), pytest.raises(NoGcScopeError):
        heap.collect(stack_roots=[])
    assert live(heap) == 2 and heap.stats()["cycle_passes"] == 0
    heap.collect(stack_roots=[])


def test_the_canary_path_skips_the_cycle_pass_too(heap, node):
    pair_cycle(heap, node)
    with heap.guest():
        report = heap.collect()
    assert report.skipped and report.cycles_freed == 0
    assert live(heap) == 2 and heap.stats()["cycle_passes"] == 0
    heap.collect()
    assert live(heap) == 0


@pytest.mark.parametrize("value", [None, 1, 0, "yes", 1.0])
def test_cycles_must_be_a_bool(heap, node, value):
    pair_cycle(heap, node)
    with pytest.raises(TypeError, match="cycles must be True or False"):
        heap.collect(stack_roots=[], cycles=value)
    with pytest.raises(TypeError, match="cycles must be True or False"):
        heap.gc(stack_roots=[], cycles=value)
    assert heap.stats()["collections"] == 0 and live(heap) == 2
    heap.collect(stack_roots=[])


def test_a_finalizer_cannot_start_a_collection_during_the_pass(heap, types, node):
    errors = []

    class Reentrant:
        def __del__(self):
            try:
                heap.collect(stack_roots=[])
            except DrcError as e:
                errors.append(str(e))

    box = types.struct(R.RefType(R.EXTERN, True), R.RefType(R.ANY, True))
    a = heap.struct_new(box, [heap.externref_new(Reentrant()), None])
    heap.struct_set(a, 1, a)
    del a
    assert heap.collect(stack_roots=[]).cycles_freed == 2
    assert errors and "in progress" in errors[0]


# ==== Automatic: bounded memory without ever calling collect ====================================

@pytest.mark.parametrize("policy", ["adaptive", "wasmtime"])
def test_cyclic_garbage_in_a_loop_runs_in_bounded_memory(reg, types, policy):
    min_gc_heap = 64 << 10
    heap = Heap(reg, growth_policy=policy, min_gc_heap=min_gc_heap)
    node = types.node()
    heap.set_root_provider(lambda: [])
    iterations = 200_000
    for _ in range(iterations):
        pair_cycle(heap, node)               # 64 bytes of garbage an iteration
    capacity = heap.stats()["capacity"]
    # 12.8 MB of garbage went through the heap; it never grew past the policy's bound for
    # an empty live set: Wasmtime's rule keeps one page, the adaptive rule may grow to
    # 8 x min_gc_heap when collections take more than their time budget.
    assert capacity <= (64 << 10 if policy == "wasmtime" else 8 * min_gc_heap)
    assert iterations * 64 > 20 * capacity
    assert heap.stats()["cycle_passes"] > 0
    assert heap.stats()["objects_freed_by_cycles"] >= 2 * iterations - capacity // 32
    heap.set_root_provider(None)
    heap.collect(stack_roots=[])
    assert live(heap) == 0
    heap.close()


def test_a_heap_that_cannot_grow_frees_cycles_as_a_last_resort(reg, types):
    # Below min_gc_heap the adaptive rule never collects for room; at max_size it must.
    heap = Heap(reg, max_size=64 << 10)
    node = types.node()
    heap.set_root_provider(lambda: [])
    for _ in range(10_000):
        pair_cycle(heap, node)
    assert heap.stats()["capacity"] == 64 << 10
    assert heap.stats()["cycle_passes"] >= 10_000 * 64 // (64 << 10)
    heap.set_root_provider(None)
    heap.collect(stack_roots=[])
    heap.close()


def test_without_a_root_provider_the_heap_never_looks_for_cycles_by_itself(heap, node):
    for _ in range(20_000):
        pair_cycle(heap, node)
    assert heap.stats()["cycle_passes"] == 0 and live(heap) == 40_000
    heap.collect(stack_roots=[])


def test_a_growing_live_set_pays_a_geometric_number_of_passes(reg, types):
    heap = Heap(reg, growth_policy="wasmtime")
    node = types.node()
    heap.set_root_provider(lambda: [])
    keep = []
    for _ in range(40_000):
        keep.append(heap.struct_new(node, [None, None]))
    # 1.28 MB live, no garbage: each pass waits for the use to double since the last one.
    assert heap.stats()["cycle_passes"] <= 6
    heap.set_root_provider(None)
    keep.clear()
    heap.close()


# ==== Zeal: a broken pass is caught ===========================================================

@pytest.mark.zeal
def test_zeal_catches_a_pass_that_skips_the_subtraction_for_one_object(heap, node):
    a = heap.struct_new(node, [None, None])
    b = heap.struct_new(node, [a, None])
    heap.struct_set(a, 0, b)
    heap._zeal_skip_cycle_subtraction(b)
    del a, b
    with pytest.raises(HeapCorruptionError, match="cycle pass: ref_count 1 minus 0 heap slots"):
        heap.collect(stack_roots=[])
    # Caught before anything was freed or changed.
    assert live(heap) == 2
    heap._zeal_skip_cycle_subtraction(None)
    heap.verify()
    assert heap.collect(stack_roots=[]).cycles_freed == 2


@pytest.mark.zeal
def test_zeal_catches_a_count_nobody_holds(heap, node):
    # A stray +1 on a cycle member would make it look held from outside (a silent leak in
    # release builds); zeal's tally of outside counts says nobody holds it.
    a = heap.struct_new(node, [None, None])
    b = heap.struct_new(node, [a, None])
    heap.struct_set(a, 0, b)
    raw = a.raw
    del a, b
    with memoryview(heap) as mem:
        count = struct.unpack_from("<Q", mem, raw + 8)[0]
        struct.pack_into("<Q", mem, raw + 8, count + 1)
        with pytest.raises(HeapCorruptionError, match=f"offset {raw}: cycle pass"):
            heap.collect(stack_roots=[])
        struct.pack_into("<Q", mem, raw + 8, count)
    assert heap.collect(stack_roots=[]).cycles_freed == 2


@pytest.mark.zeal
def test_zeal_catches_a_mark_step_that_keeps_garbage(heap, node):
    # A broken mark step takes a cycle member for reached: the other member's slot holds its
    # only count, which the pass would give back and leave a "survivor" with none.
    a = heap.struct_new(node, [None, None])
    b = heap.struct_new(node, [a, None])
    heap.struct_set(a, 0, b)
    raw = a.raw
    heap._zeal_flip_cycle_mark(a)
    del a, b
    with pytest.raises(HeapCorruptionError,
                       match=f"offset {raw}: cycle pass: a reachable object would lose its "
                             "last count to garbage"):
        heap.collect(stack_roots=[])
    assert live(heap) == 2                           # caught before anything was written
    heap._zeal_flip_cycle_mark(None)
    heap.verify()
    assert heap.collect(stack_roots=[]).cycles_freed == 2


@pytest.mark.zeal
def test_zeal_catches_a_mark_step_that_drops_an_oasr_entry(heap, node):
    a = heap.struct_new(node, [None, None])
    heap.struct_set(a, 1, heap.struct_new(node, [None, None]))    # held by a only
    raw = heap.expose(a)
    heap._zeal_flip_cycle_mark(a)
    del a
    with pytest.raises(HeapCorruptionError, match=f"offset {raw}: cycle pass: an OASR entry "
                                                  "is garbage"):
        heap.collect(stack_roots=[raw])
    assert live(heap) == 2
    heap._zeal_flip_cycle_mark(None)
    heap.verify()
    assert heap.collect(stack_roots=[raw]).cycles_freed == 0
    assert heap.collect(stack_roots=[]).objects_freed == 2


@pytest.mark.zeal
def test_zeal_catches_a_mark_step_that_drops_a_handle(heap, node):
    a = heap.struct_new(node, [None, None])
    heap.struct_set(a, 1, heap.struct_new(node, [None, None]))
    heap._zeal_flip_cycle_mark(a)
    with pytest.raises(HeapCorruptionError, match=f"offset {a.raw}: cycle pass: garbage is "
                                                  r"held from outside the heap \(ref_count 1, "
                                                  "0 heap slots"):
        heap.collect(stack_roots=[])
    assert live(heap) == 2 and heap.ref_count(a) == 1
    heap._zeal_flip_cycle_mark(None)
    heap.verify()
    assert heap.collect(stack_roots=[]).cycles_freed == 0


@pytest.mark.release
def test_the_broken_pass_hook_needs_the_zeal_build(heap, node):
    with pytest.raises(RuntimeError, match="gc_zeal"):
        heap._zeal_skip_cycle_subtraction(None)
    with pytest.raises(RuntimeError, match="gc_zeal"):
        heap._zeal_flip_cycle_mark(None)
    with pytest.raises(RuntimeError, match="gc_zeal"):
        heap._zeal_fail_buffer_growth(0)


# ==== Out of memory in the free step: the heap stays as it was ================================
# The pass gives back the garbage's counts on survivors, then frees the garbage in one batch and
# queues the payloads of garbage externrefs. Every buffer those steps fill must be reserved
# before the first count is given back: a growth failing halfway would leave survivors short
# of counts their garbage parents still hold (a later free of a live object).

@pytest.mark.zeal
def test_a_payload_queue_that_cannot_grow_leaves_the_heap_as_it_was(heap, any2):
    s = heap.struct_new(any2, [None, None])          # the survivor, held by a handle
    a = heap.struct_new(any2, [None, s])             # garbage in address order: a, e, b
    b = heap.struct_new(any2, [a, heap.externref_new(Payload(1, heap))])
    heap.struct_set(a, 0, b)
    del a, b
    heap._zeal_fail_buffer_growth(0)                 # the payload queue's first growth fails
    with pytest.raises(MemoryError, match="cycle pass"):
        heap.collect(stack_roots=[])
    heap._zeal_fail_buffer_growth(None)
    heap.verify()
    assert live(heap) == 4 and heap.ref_count(s) == 2 and Payload.released == []
    assert heap.collect(stack_roots=[]).cycles_freed == 3
    assert Payload.released == [1] and heap.ref_count(s) == 1


@pytest.mark.zeal
def test_a_free_batch_that_cannot_grow_leaves_the_heap_as_it_was(heap, node):
    s = heap.struct_new(node, [None, None])
    # A garbage ring of more blocks than the free batch holds before it grows (2048); its
    # first member holds a count on the survivor.
    first = prev = heap.struct_new(node, [None, s])
    for _ in range(2999):
        prev = heap.struct_new(node, [prev, None])
    heap.struct_set(first, 0, prev)
    del first, prev
    heap._zeal_fail_buffer_growth(0)
    with pytest.raises(MemoryError, match="cycle pass"):
        heap.collect(stack_roots=[])
    heap._zeal_fail_buffer_growth(None)
    heap.verify()
    assert live(heap) == 3001 and heap.ref_count(s) == 2
    assert heap.collect(stack_roots=[]).cycles_freed == 3000
    assert heap.ref_count(s) == 1


@pytest.mark.zeal
def test_an_automatic_pass_without_memory_is_skipped_and_a_later_one_runs(reg, types, caplog):
    heap = Heap(reg, min_gc_heap=256 << 10)
    node = types.node()
    heap.set_root_provider(lambda: [])
    heap._zeal_fail_buffer_growth(0)                 # the first pass frees > 2048 objects
    with caplog.at_level(logging.WARNING, logger="drc"):
        for _ in range(20_000):
            pair_cycle(heap, node)
    assert "skipping the cycle pass: no memory to free its garbage" in caplog.text
    heap.verify()
    assert heap.stats()["cycle_passes"] > 0
    heap.set_root_provider(None)
    heap.collect(stack_roots=[])
    assert live(heap) == 0
    heap.close()


@pytest.mark.zeal
def test_the_failing_growth_hook_counts_growths_and_fails_once(heap, node):
    def garbage_ring(n):
        ring = [heap.struct_new(node, [None, None]) for _ in range(n)]
        for x, y in zip(ring, ring[1:] + ring[:1], strict=True):
            heap.struct_set(x, 0, y)

    heap._zeal_fail_buffer_growth(1)
    garbage_ring(3000)                               # the free batch grows once: allowed
    assert heap.collect(stack_roots=[]).cycles_freed == 3000
    garbage_ring(5000)                               # and once more: this one fails
    with pytest.raises(MemoryError, match="cycle pass"):
        heap.collect(stack_roots=[])
    assert live(heap) == 5000
    assert heap.collect(stack_roots=[]).cycles_freed == 5000   # it failed once only
    for bad in (-1, 2**32, 1.0, True, "0"):
        with pytest.raises(ValueError):
            heap._zeal_fail_buffer_growth(bad)


@pytest.mark.zeal
def test_zeal_forced_collections_run_the_pass_too(reg, types):
    heap = Heap(reg)
    node = types.node()
    heap.set_root_provider(lambda: [])
    heap.set_zeal_collect_every(10)
    for _ in range(50):
        pair_cycle(heap, node)
    # Every forced collection is a full one: each cycle was freed by the next pass.
    assert heap.stats()["cycle_passes"] == heap.stats()["collections"] >= 9
    assert live(heap) <= 2 * 5 + 2
    heap.set_root_provider(None)
    heap.set_zeal_collect_every(0)
    heap.collect(stack_roots=[])
    heap.close()
