"""A model guest stack holding raw refs across random exposes, drops and collections.

The model is plain Python: which objects exist, which the host holds handles on, which the
guest's frames hold (raw refs, no counts), which are in the OASR list, what each object's
payload is, and which cell each cell's next field points at (links may close cycles). After
every step the heap must agree with it: counting frees what no handle, slot or OASR entry
holds; a collection then keeps exactly the objects reachable from host handles and the OASR
entries the guest still holds; payloads are released exactly once; ``verify()`` passes (in
zeal builds it also recomputes every count and checks the poison).
"""

from __future__ import annotations

import gc

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import registry as R
from drc import Heap, InvalidRefError


class Tracked:
    """A payload that records its release."""

    released: list[int] = []

    def __init__(self, tag: int) -> None:
        self.tag = tag

    def __del__(self) -> None:
        Tracked.released.append(self.tag)


class GuestStackMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.reg = R.TypeRegistry()
        # A cell holds a payload (externref) and a next pointer: lists through the heap.
        self.coll = self.reg.register_module([R.RecGroup([R.SubType(R.StructType([
            R.FieldType(R.RefType(R.EXTERN, True), True),
            R.FieldType(R.RefType(0, True), True)]))])])
        self.cell = self.coll.shared_type(0)
        self.heap = Heap(self.reg, growth_policy="wasmtime")
        Tracked.released = []
        self.next_tag = 0
        # Model state.
        self.handles: list = []          # host handles (GcRef), each owning a count
        self.frames: list[list[int]] = [[]]  # guest frames of raw refs
        self.tag_of: dict[int, int] = {}  # raw -> payload tag of that cell's externref
        self.next_of: dict[int, int] = {}  # raw -> raw of the next cell (0: none)
        self.in_list: set[int] = set()   # raws in the OASR list
        self.alive: set[int] = set()     # raws of live cells
        self.ext_of: dict[int, int] = {}  # raw -> raw of that cell's externref
        self.released_tags: set[int] = set()  # payloads the model says are released
        self.collection = None           # an unfinished incremental collection
        self.traced: set[int] = set()    # guest-held refs when it traced
        self.exposed_since_trace: set[int] = set()

    # ---- helpers ---------------------------------------------------------------------------

    def reachable(self) -> set[int]:
        roots = {h.raw for h in self.handles} | self.in_list
        seen: set[int] = set()
        todo = list(roots)
        while todo:
            r = todo.pop()
            if r and r not in seen:
                seen.add(r)
                todo.append(self.next_of[r])
        return seen

    def settle(self, cycles: bool = False) -> None:
        """Counting frees the cells nothing holds; with `cycles` (a collection's cycle
        pass), every cell handles and the OASR list do not reach."""
        if cycles:
            dead = self.alive - self.reachable()
        else:
            count = dict.fromkeys(self.alive, 0)
            for r in [h.raw for h in self.handles] + list(self.in_list):
                count[r] += 1
            for r in self.alive:
                if self.next_of[r]:
                    count[self.next_of[r]] += 1
            dead = set()
            work = [r for r, n in count.items() if n == 0]
            while work:
                r = work.pop()
                dead.add(r)
                nxt = self.next_of[r]
                if nxt:
                    count[nxt] -= 1
                    if count[nxt] == 0:
                        work.append(nxt)
        for r in dead:
            self.alive.discard(r)
            del self.next_of[r]
            del self.ext_of[r]
            self.released_tags.add(self.tag_of.pop(r))

    @property
    def guest_held(self) -> set[int]:
        return {r for frame in self.frames for r in frame}

    # ---- rules -----------------------------------------------------------------------------

    @rule(link=st.booleans())
    def allocate(self, link):
        nxt = self.handles[-1] if link and self.handles else None
        tag = self.next_tag
        self.next_tag += 1
        ref = self.heap.struct_new(self.cell, [self.heap.externref_new(Tracked(tag)), nxt])
        self.handles.append(ref)
        self.alive.add(ref.raw)
        self.tag_of[ref.raw] = tag
        self.next_of[ref.raw] = nxt.raw if nxt is not None else 0
        with self.heap.struct_get(ref, 0) as ext:
            self.ext_of[ref.raw] = ext.raw

    @precondition(lambda self: self.handles)
    @rule(i=st.integers(0, 1000), j=st.integers(0, 1000))
    def link(self, i, j):
        """cell_i.next = cell_j: may close a cycle (j == i: a self-reference)."""
        src = self.handles[i % len(self.handles)]
        dst = self.handles[j % len(self.handles)]
        self.heap.struct_set(src, 1, dst)
        self.next_of[src.raw] = dst.raw
        self.settle()

    @precondition(lambda self: self.handles)
    @rule(i=st.integers(0, 1000))
    def drop_handle(self, i):
        ref = self.handles.pop(i % len(self.handles))
        ref.close()
        self.settle()

    @precondition(lambda self: self.handles)
    @rule(i=st.integers(0, 1000))
    def pass_to_guest(self, i):
        ref = self.handles[i % len(self.handles)]
        raw = self.heap.expose(ref)
        assert raw == ref.raw
        self.frames[-1].append(raw)
        self.in_list.add(raw)
        if self.collection is not None:
            self.exposed_since_trace.add(raw)

    @precondition(lambda self: any(self.frames))
    @rule(i=st.integers(0, 1000))
    def guest_forgets(self, i):
        frame = next(f for f in reversed(self.frames) if f)
        frame.pop(i % len(frame))

    @precondition(lambda self: self.guest_held)
    @rule(i=st.integers(0, 1000))
    def guest_returns_ref_to_host(self, i):
        held = sorted(self.guest_held)
        raw = held[i % len(held)]
        ref = self.heap.from_raw(raw)
        assert ref.raw == raw
        self.handles.append(ref)

    @rule()
    def call_guest(self):
        self.frames.append([])

    @precondition(lambda self: len(self.frames) > 1)
    @rule()
    def guest_returns(self):
        self.frames.pop()

    @precondition(lambda self: self.collection is None)
    @rule()
    def collect(self):
        report = self.heap.collect(stack_roots=sorted(self.guest_held))
        assert not report.skipped
        self.in_list &= self.guest_held
        before = len(self.alive)
        self.settle(cycles=True)
        assert report.objects_freed == 2 * (before - len(self.alive))

    @precondition(lambda self: self.collection is None)
    @rule()
    def start_incremental(self):
        self.collection = self.heap.gc(stack_roots=sorted(self.guest_held))
        assert self.collection.collect_increment() == "continue"
        self.traced = set(self.guest_held)

    @precondition(lambda self: self.collection is not None)
    @rule()
    def finish_incremental(self):
        assert self.collection.collect_increment() == "continue"     # the sweep
        assert self.collection.phase == "cycles"
        assert self.collection.collect_increment() == "complete"     # the cycle pass
        self.collection = None
        # Kept: what was traced, plus whatever was exposed (again) after the trace, since
        # the guest took it meanwhile.
        self.in_list &= self.traced | self.exposed_since_trace
        self.exposed_since_trace = set()
        self.settle(cycles=True)

    @precondition(lambda self: self.collection is None and len(self.frames) > 1)
    @rule()
    def collect_without_roots_while_guest_runs(self):
        with self.heap.guest():
            report = self.heap.collect()
        assert report.skipped

    @rule(raw=st.integers(0, 1 << 20))
    def from_raw_of_anything_is_safe(self, raw):
        alive = raw in self.alive or raw in set(self.ext_of.values())
        try:
            ref = self.heap.from_raw(raw)
        except InvalidRefError:
            assert not alive and raw % 2 == 0 and raw != 0
        else:
            if raw == 0 or raw & 1:
                return
            assert alive
            ref.close()

    # ---- invariants --------------------------------------------------------------------------

    @invariant()
    def heap_agrees_with_the_model(self):
        stats = self.heap.stats()
        # Each live cell also keeps one externref alive.
        assert stats["live_objects"] == 2 * len(self.alive)
        assert stats["oasr_len"] == len(self.in_list)
        assert sorted(Tracked.released) == sorted(self.released_tags)
        assert len(Tracked.released) == len(set(Tracked.released))  # released exactly once
        for ref in self.handles:
            payload = self.heap.externref_data(self.heap.struct_get(ref, 0))
            assert payload.tag == self.tag_of[ref.raw]
        self.heap.verify()

    def teardown(self):
        if self.collection is not None:
            self.collection.cancel()
            self.collection = None
        for ref in self.handles:
            ref.close()
        self.handles.clear()
        self.heap.collect(stack_roots=[])
        gc.collect()
        assert self.heap.stats()["live_objects"] == 0
        self.heap.close()
        self.coll.close()


GuestStackMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30,
                                               deadline=None)
test_guest_stack_model = GuestStackMachine.TestCase
