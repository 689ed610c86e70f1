"""A hypothesis state machine drives the heap and a plain-Python model of its objects side by
side: which objects exist, what each field holds, and every object's reference count (handles
+ fields). After each step, counts, liveness and field values must agree."""

from __future__ import annotations

import gc

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import registry as R
from drc import Heap


class Model:
    """Objects by id: fields (ids or None) and payload; handles: list of (handle, id)."""

    def __init__(self) -> None:
        self.fields: dict[int, list[int | None]] = {}
        self.next_id = 0

    def new(self, fields: list[int | None]) -> int:
        oid = self.next_id
        self.next_id += 1
        self.fields[oid] = fields
        return oid

    def counts(self, handles) -> dict[int, int]:
        c = dict.fromkeys(self.fields, 0)
        for _, oid in handles:
            c[oid] += 1
        for fs in self.fields.values():
            for f in fs:
                if f is not None:
                    c[f] += 1
        return c

    def collect(self, handles) -> None:
        """Plain reference counting, like the heap (cycles unreachable from handles leak in
        both, so the model keeps them too)."""
        while True:
            c = self.counts(handles)
            dead = [o for o, n in c.items() if n == 0]
            if not dead:
                return
            for o in dead:
                del self.fields[o]


class HeapMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        self.reg = R.TypeRegistry()
        self.coll = self.reg.register_module([R.RecGroup([
            R.SubType(R.StructType([R.FieldType(R.RefType(R.ANY, True), True),
                                    R.FieldType(R.RefType(R.ANY, True), True)])),
            R.SubType(R.ArrayType(R.FieldType(R.RefType(R.ANY, True), True))),
        ])])
        self.node, self.arr = self.coll.shared_type(0), self.coll.shared_type(1)
        self.heap = Heap(self.reg, max_size=1 << 20)
        self.model = Model()
        self.handles: list[tuple[object, int]] = []   # (GcRef, model id)
        self.arrays: dict[int, int] = {}              # model id -> length (array objects)

    def teardown(self):
        if hasattr(self, "heap"):
            self.handles.clear()
            gc.collect()
            self.heap.verify()
            self.heap.close()

    def pick(self, i):
        return self.handles[i % len(self.handles)] if self.handles else (None, None)

    @rule(a=st.integers(0, 1000), b=st.integers(0, 1000), use_a=st.booleans(),
          use_b=st.booleans())
    def new_struct(self, a, b, use_a, use_b):
        ha, ia = self.pick(a) if use_a else (None, None)
        hb, ib = self.pick(b) if use_b else (None, None)
        ref = self.heap.struct_new(self.node, (ha, hb))
        self.handles.append((ref, self.model.new([ia, ib])))

    @rule(n=st.integers(0, 1500), a=st.integers(0, 1000), use=st.booleans())
    def new_array(self, n, a, use):
        h, i = self.pick(a) if use else (None, None)
        ref = self.heap.array_new(self.arr, n, h)
        oid = self.model.new([i] * n)
        self.arrays[oid] = n
        self.handles.append((ref, oid))

    @precondition(lambda self: self.handles)
    @rule(i=st.integers(0, 1000))
    def drop(self, i):
        del self.handles[i % len(self.handles)]
        self.model.collect(self.handles)

    @precondition(lambda self: self.handles)
    @rule(i=st.integers(0, 1000))
    def clone(self, i):
        h, oid = self.pick(i)
        self.handles.append((h.clone(), oid))

    @precondition(lambda self: self.handles)
    @rule(i=st.integers(0, 1000), j=st.integers(0, 1000), k=st.integers(0, 2000),
          null=st.booleans())
    def write(self, i, j, k, null):
        h, oid = self.pick(i)
        v, vid = (None, None) if null else self.pick(j)
        fields = self.model.fields[oid]
        if not fields:
            return
        slot = k % len(fields)
        if oid in self.arrays:
            self.heap.array_set(h, slot, v)
        else:
            self.heap.struct_set(h, slot, v)
        fields[slot] = vid
        self.model.collect(self.handles)

    @precondition(lambda self: self.handles)
    @rule(i=st.integers(0, 1000), k=st.integers(0, 2000))
    def read(self, i, k):
        h, oid = self.pick(i)
        fields = self.model.fields[oid]
        if not fields:
            return
        slot = k % len(fields)
        got = (self.heap.array_get(h, slot) if oid in self.arrays
               else self.heap.struct_get(h, slot))
        want = fields[slot]
        if want is None:
            assert got is None
        else:
            self.handles.append((got, want))

    @invariant()
    def counts_and_liveness_agree(self):
        if not hasattr(self, "heap"):
            return
        counts = self.model.counts(self.handles)
        seen = {}
        for h, oid in self.handles:
            assert self.heap.ref_count(h) == counts[oid]
            seen.setdefault(oid, h.raw)
            assert seen[oid] == h.raw
        assert self.heap.stats()["live_objects"] == len(self.model.fields)

    @invariant()
    def heap_is_consistent(self):
        if hasattr(self, "heap"):
            self.heap.verify()


TestHeapModel = HeapMachine.TestCase
TestHeapModel.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
