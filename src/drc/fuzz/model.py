"""Run fuzz operations against a real heap + registry and a plain-Python model side by side.

The model is deliberately naive: a dict of objects with their field values, the list of host
handles, the guest stack of raw refs, the set of objects in the over-approximated stack-roots
(OASR) list, and reference counting recomputed from scratch (handles + heap slots + OASR
membership). After every operation the two must agree on which objects are alive, every count,
the OASR length, which externref payloads were released (each exactly once), and -- at the
configured interval -- every field value and ``verify()`` of the heap and the registry.
Counting never frees a cycle; the model's cycle pass frees exactly what host handles and the
OASR entries the collection kept do not reach, as the heap's cycle pass must.

The registry side is modelled the same way: which pool groups are alive (held by collections,
``root`` handles, dependent groups or the heap), which engine indices they have, ``len`` of the
registry, and the subtype / ref-matching answers among the pool's types.
"""

from __future__ import annotations

import gc as _gc
import struct as _struct
from dataclasses import dataclass, field
from typing import Any

import registry as R
from drc import I31, DrcError, FuncRef, Heap, InvalidRefError, NoGcScopeError, OutOfHeapError
from drc.build import ZEAL
from drc.fuzz.ops import NAMES, Op, describe


class FuzzFailure(AssertionError):
    """The heap or the registry disagreed with the model (or crashed a check)."""

    def __init__(self, step: int, op: Op | None, message: str) -> None:
        where = f"op {step} {describe(op)}" if op is not None else "setup/teardown"
        super().__init__(f"{where}: {message}")
        self.step = step
        self.op = op
        self.message = message


@dataclass(frozen=True)
class Config:
    """Everything besides the op list that a run depends on (a reproducer stores it)."""

    max_size: int = 1 << 20
    growth_policy: str = "adaptive"
    zeal_every: int = 0          # forced collection every N allocations (zeal builds only)
    verify_every: int = 1        # full verify + field comparison every N ops (0: only at end)

    @classmethod
    def from_seed(cls, seed: int, *, zeal_every: int | None = None,
                  verify_every: int = 1) -> Config:
        import random
        rng = random.Random(seed ^ 0x5EED)
        if zeal_every is None:
            zeal_every = rng.choice([1, 2, 3, 5, 8, 13, 50]) if ZEAL else 0
        return cls(max_size=rng.choice([64 << 10, 256 << 10, 1 << 20, 4 << 20]),
                   growth_policy=rng.choice(["adaptive", "wasmtime"]),
                   zeal_every=zeal_every if ZEAL else 0, verify_every=verify_every)


class Payload:
    """Externref host data that logs its own release (a payload must die exactly once)."""

    __slots__ = ("tok", "log")

    def __init__(self, tok: int, log: list[int]) -> None:
        self.tok = tok
        self.log = log

    def __del__(self) -> None:
        self.log.append(self.tok)


# Values in the model: None, ("i31", v), an object id (int), or a funcref ("fn", level, tok):
# an entry of type f0 (level 0) or f1 <: f0 (level 1) whose target is pool object `tok`.
I31_TAG = "i31"
FN_TAG = "fn"
FUNC_TARGETS = 8
FUNCREF_RECLAIM_MIN = 1024      # drc.heap.pxd: collections reclaim once the table reaches it
DATA = bytes((i * 37 + 11) & 0xFF for i in range(48))    # the "data segment" of init_data

# Object kinds, as the wrong calls of `op_bad_call` see them.
ARRAY_KINDS = ("arr", "iarr", "farr")
STRUCT_KINDS = ("node", "box", "dyn", "vt")
BAD_CALL_KINDS = ARRAY_KINDS + STRUCT_KINDS + ("ext",)


@dataclass
class Obj:
    kind: str               # node | arr | iarr | ext | box | dyn | vt | farr
    raw: int
    fields: list[Any]
    tok: int = -1           # externref payload token


# ---- the registry pool ---------------------------------------------------------------------

def _s(*fields, final=True, sup=None):
    return R.SubType(R.StructType([R.FieldType(f, True) for f in fields]), final=final,
                     supertype=sup)


#: Canonical rec groups (module-level indices inside each group start at the group's first
#: type), their sizes, the groups whose types they refer to, and their types' kinds.
GROUPS: dict[str, tuple[list[R.SubType], tuple[str, ...], tuple[str, ...]]] = {
    "A": ([_s(R.I32, final=False)], (), ("struct",)),
    "B": ([_s(R.I32, R.I64, sup=0)], ("A",), ("struct",)),
    "C": ([R.SubType(R.StructType([R.FieldType(R.RefType(1, True), True)])),
           R.SubType(R.ArrayType(R.FieldType(R.RefType(0, True), True)))], (),
          ("struct", "array")),
    "D": ([R.SubType(R.FuncType())], (), ("func",)),
    "E": ([R.SubType(R.ArrayType(R.FieldType(R.I8, True)))], (), ("array",)),
}

#: Modules: lists of group names; the module form of "B" refers to "A" at module index 0.
MODULES: tuple[tuple[str, ...], ...] = (("A",), ("A", "B"), ("C",), ("D",), ("E", "A"),
                                        ("C", "D"))


def _module_groups(names: tuple[str, ...]) -> list[R.RecGroup]:
    """The module's groups with module-level indices: each group's own types are shifted by
    its start; "B"'s supertype is the module index of "A"."""
    out = []
    start = 0
    starts: dict[str, int] = {}
    for name in names:
        starts[name] = start
        types, _, _ = GROUPS[name]
        fixed = []
        for st in types:
            comp = st.composite
            if isinstance(comp, R.StructType):
                comp = R.StructType([_shift_field(f, start) for f in comp.fields])
            elif isinstance(comp, R.ArrayType):
                comp = R.ArrayType(_shift_field(comp.element, start))
            sup = st.supertype
            if name == "B":
                sup = starts["A"]
            fixed.append(R.SubType(comp, final=st.final, supertype=sup))
        out.append(R.RecGroup(fixed))
        start += len(types)
    return out


def _shift_field(f: R.FieldType, start: int) -> R.FieldType:
    s = f.storage
    if isinstance(s, R.RefType) and isinstance(s.heap, int):
        s = R.RefType(s.heap + start, s.nullable)
    return R.FieldType(s, f.mutable)


MODULE_GROUPS = [_module_groups(m) for m in MODULES]


class Executor:
    """One heap, one registry, one model; `step(op)` runs an op and checks agreement."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        self.steps = 0
        self.released: list[int] = []
        self.reg = R.TypeRegistry()
        self.fixed = self.reg.register_module([R.RecGroup([
            _s(R.RefType(R.ANY, True), R.RefType(R.ANY, True), R.I32, R.I8),
            R.SubType(R.ArrayType(R.FieldType(R.RefType(R.ANY, True), True))),
            R.SubType(R.ArrayType(R.FieldType(R.I32, True))),
            _s(R.RefType(R.EXTERN, True)),
        ])])
        self.t_node, self.t_arr, self.t_iarr, self.t_box = self.fixed.shared_types
        self.funcs = self.reg.register_module([R.RecGroup([
            R.SubType(R.FuncType([R.I32], []), final=False),
            R.SubType(R.FuncType([R.I32], []), supertype=0),
            _s(R.RefType(1, True), R.RefType(0, True)),
            R.SubType(R.ArrayType(R.FieldType(R.RefType(0, True), True))),
        ])])
        self.t_f0, self.t_f1, self.t_vt, self.t_farr = self.funcs.shared_types
        self.ftype = (self.t_f0, self.t_f1)
        self.base_len = len(self.reg)
        self.heap = Heap(self.reg, max_size=self.config.max_size,
                         growth_policy=self.config.growth_policy)
        # Model state.
        self.objs: dict[int, Obj] = {}
        self.inrefs: dict[int, int] = {}              # oid -> ref fields pointing at it
        self.next_oid = 0
        self.next_tok = 0
        self.expected_released: set[int] = set()
        self.handles: list[tuple[Any, int]] = []      # (GcRef, oid)
        self.targets = [object() for _ in range(FUNC_TARGETS)]
        self.fhandles: list[tuple[Any, tuple]] = []   # (FuncRef, ("fn", level, tok))
        self.fentries: set[tuple] = set()             # entries in the heap's function table
        self.fn_reclaim_at = FUNCREF_RECLAIM_MIN
        self.stack: list[tuple[int, Any]] = []        # (raw, oid or ("i31", v))
        self.oasr: set[int] = set()
        self.collections = 0
        self.cycle_passes = 0
        self.capacity = 0
        self.inc: Any = None                          # Collection under way
        self.inc_marked: set[int] | None = None       # roots + exposed while marking
        self.inc_cycles = False                       # it ends with a cycle pass
        # Registry model.
        self.held: list[tuple[Any, tuple[str, ...]]] = []   # (collection or root, groups)
        self.heap_holds: set[str] = set()
        self.live_idx: dict[str, tuple[int, ...]] = {}       # live group -> engine indices
        self.seen_dead: set[int] = set()
        self.heap.set_root_provider(self._roots)
        if ZEAL and self.config.zeal_every:
            self.heap.set_zeal_collect_every(self.config.zeal_every)

    # ---- plumbing ----------------------------------------------------------------------

    def _roots(self) -> list[int]:
        return [raw for raw, _ in self.stack]

    def close(self) -> None:
        """Drop everything; the heap must end empty once all holds are gone."""
        if self.inc is not None:
            self.inc.cancel()
            self.inc = None
        self.handles.clear()
        self.fhandles.clear()
        self.stack.clear()
        if not self.heap.closed:
            self.heap.set_root_provider(None)
            self.heap.collect(stack_roots=[])
            _gc.collect()
            self.collections += 1
            self.oasr.clear()
            self._rc_collect()
            self._cycle_collect()
            live = self.heap.stats()["live_objects"]
            self.heap.verify()
            self.heap.close()
            # Nothing outside the heap holds anything: the cycle pass left nothing.
            self._check(live == len(self.objs) == 0,
                        f"{live} objects live at the end, model says {len(self.objs)}")
        for h, _ in self.held:
            h.close()
        self.held.clear()
        self.fixed.close()
        self.funcs.close()
        self.reg.verify()
        self._check(len(self.reg) == 0, f"{len(self.reg)} types still registered at the end")

    def _check(self, cond: bool, message: str) -> None:
        if not cond:
            raise FuzzFailure(self.steps, self._op, message)

    _op: Op | None = None

    def run(self, ops, on_step=None) -> None:
        for op in ops:
            self.step(op)
            if on_step is not None:
                on_step(self.steps)

    def step(self, op: Op) -> None:
        self._op = op
        code, a, b, c = op
        try:
            getattr(self, "op_" + NAMES[code])(a, b, c)
            self._after_op()
        except FuzzFailure:
            raise
        except Exception as e:  # noqa: BLE001 - every unexpected exception is a finding
            raise FuzzFailure(self.steps, op, f"unexpected {type(e).__name__}: {e}") from e
        self.steps += 1
        every = self.config.verify_every
        if every:
            # verify() is O(capacity) (zeal scans all free memory for poison): a big heap is
            # verified proportionally less often, so the op rate stays useful.
            every *= 1 + self.capacity // (256 << 10)
            if self.steps % every == 0:
                self._verify()
            if self.steps % (25 * every) == 0:
                self.deep_check(sample=True)

    # ---- the reference-counting model ---------------------------------------------------

    @staticmethod
    def _refs(o: Obj) -> list[Any]:
        """The values of `o`'s ref fields."""
        if o.kind in ("iarr", "dyn", "ext", "vt", "farr"):
            return []                   # funcref slots are not counted either
        return o.fields[:2] if o.kind == "node" else o.fields

    def _inc_refs(self, values, delta: int) -> None:
        inrefs = self.inrefs
        for v in values:
            if type(v) is int:
                inrefs[v] = inrefs.get(v, 0) + delta

    def _write(self, o: Obj, start: int, values: list[Any]) -> None:
        """Store `values` into `o`'s fields from `start`, keeping slot counts."""
        end = start + len(values)
        if o.kind == "iarr":
            o.fields[start:end] = values
            return
        self._inc_refs(values, 1)
        self._inc_refs(o.fields[start:end], -1)
        o.fields[start:end] = values

    def _counts(self) -> dict[int, int]:
        """Every object's count: handles + heap slots + OASR membership."""
        inrefs = self.inrefs
        c = {oid: inrefs.get(oid, 0) for oid in self.objs}
        for _, oid in self.handles:
            c[oid] += 1
        for oid in self.oasr:
            c[oid] += 1
        return c

    def _rc_collect(self) -> None:
        c = self._counts()
        work = [oid for oid, n in c.items() if n == 0]
        while work:
            oid = work.pop()
            o = self.objs.pop(oid)
            self.inrefs.pop(oid, None)
            if o.kind == "ext":
                self.expected_released.add(o.tok)
            for v in self._refs(o):
                if type(v) is int and v in self.objs:
                    self.inrefs[v] -= 1
                    c[v] -= 1
                    if c[v] == 0:
                        work.append(v)

    def _cycle_collect(self) -> None:
        """The cycle pass: free what host handles and OASR entries do not reach."""
        self.cycle_passes += 1
        reached: set[int] = set()
        todo = [oid for _, oid in self.handles] + list(self.oasr)
        while todo:
            oid = todo.pop()
            if oid in reached:
                continue
            reached.add(oid)
            todo.extend(v for v in self._refs(self.objs[oid])
                        if type(v) is int and v not in reached)
        dead = [oid for oid in self.objs if oid not in reached]
        for oid in dead:
            o = self.objs[oid]
            if o.kind == "ext":
                self.expected_released.add(o.tok)
            for v in self._refs(o):
                if type(v) is int and v in reached:
                    self.inrefs[v] -= 1
        for oid in dead:
            del self.objs[oid]
            self.inrefs.pop(oid, None)

    def _new(self, kind: str, ref, fields: list[Any], tok: int = -1) -> int:
        oid = self.next_oid
        self.next_oid += 1
        o = self.objs[oid] = Obj(kind, ref.raw, fields, tok)
        self._inc_refs(self._refs(o), 1)
        self.handles.append((ref, oid))
        return oid

    def _apply_collection(self, keep: set[int]) -> None:
        self.collections += 1
        self.oasr &= keep
        self._rc_collect()
        if len(self.fentries) >= self.fn_reclaim_at:
            self._reclaim_funcs()

    def _funcs_held(self) -> set[tuple]:
        """Entries something holds: a FuncRef handle or a field of a live object."""
        held = {k for _, k in self.fhandles}
        for o in self.objs.values():
            if o.kind in ("vt", "farr"):
                held.update(v for v in o.fields if v is not None)
        return held

    def _reclaim_funcs(self) -> int:
        held = self._funcs_held()
        self._check(held <= self.fentries, f"funcrefs {held - self.fentries} held but not in "
                                           "the model's table")
        freed = len(self.fentries - held)
        self.fentries = held
        self.fn_reclaim_at = max(FUNCREF_RECLAIM_MIN, 2 * len(held))
        return freed

    def _after_op(self) -> None:
        st = self.heap.stats()
        self.capacity = st["capacity"]
        # Collections the heap ran by itself (zeal's every-N-allocations, or for room) saw
        # the guest stack through the root provider; the stack did not change during an op.
        if st["collections"] > self.collections:
            self._check(self.inc is None, "an automatic collection ran during an incremental one")
            self.collections = st["collections"] - 1
            self._apply_collection({oid for _, oid in self.stack if type(oid) is int})
            st = self.heap.stats()
        self._rc_collect()
        if st["cycle_passes"] > self.cycle_passes:
            # Automatic passes run after a collection (forced ones, or before growing).
            self.cycle_passes = st["cycle_passes"] - 1
            self._cycle_collect()
        self._check(st["collections"] == self.collections,
                    f"{st['collections']} collections, model {self.collections}")
        self._check(st["cycle_passes"] == self.cycle_passes,
                    f"{st['cycle_passes']} cycle passes, model {self.cycle_passes}")
        self._check(st["live_objects"] == len(self.objs),
                    f"{st['live_objects']} live objects, model {len(self.objs)}")
        self._check(st["funcrefs_live"] == len(self.fentries),
                    f"{st['funcrefs_live']} function-table entries, model {len(self.fentries)}")
        self._check(st["oasr_len"] == len(self.oasr),
                    f"OASR length {st['oasr_len']}, model {len(self.oasr)}")
        n_ext = sum(1 for o in self.objs.values() if o.kind == "ext")
        self._check(st["host_data_live"] == n_ext,
                    f"{st['host_data_live']} payloads live, model {n_ext}")
        rel = self.released
        self._check(len(rel) == len(set(rel)), f"a payload was released twice: {sorted(rel)}")
        self._check(set(rel) == self.expected_released,
                    f"payloads released {sorted(set(rel) ^ self.expected_released)} differ "
                    "from the model")
        counts = self._counts()
        for h, oid in self.handles:
            self._check(h.raw == self.objs[oid].raw, f"handle raw {h.raw} != model")
            n = self.heap.ref_count(h)
            self._check(n == counts[oid], f"object {h.raw:#x} count {n}, model {counts[oid]}")
        for raw, oid in self.stack:
            if type(oid) is int:
                self._check(oid in self.oasr, f"guest-stack ref {raw:#x} is not in the OASR "
                                              "model")
        self._check(len(self.reg) == self._reg_len(),
                    f"len(registry) {len(self.reg)}, model {self._reg_len()}")

    def _verify(self) -> None:
        try:
            self.heap.verify()
            self.reg.verify()
        except Exception as e:  # noqa: BLE001
            raise FuzzFailure(self.steps, self._op, f"verify: {type(e).__name__}: {e}") from e

    def deep_check(self, sample: bool = False) -> None:
        """verify() both, compare every field of every object a handle or the guest stack
        reaches (with `sample`, at most 16 elements of each array), and registry liveness."""
        self._verify()
        seen: set[int] = set()
        for h, oid in self.handles:
            if oid not in seen:
                seen.add(oid)
                self._check_fields(h, oid, sample)
        for raw, oid in self.stack:
            if type(oid) is int and oid not in seen:
                seen.add(oid)
                self._check_fields(self.heap.from_raw(raw), oid, sample)
        for name, idx in self.live_idx.items():
            for i in idx:
                self._check(i in self.reg, f"live pool type {i} of group {name} is missing")
        for i in self.seen_dead:
            if not any(i in idx for idx in self.live_idx.values()):
                self._check(i not in self.reg, f"dropped type {i} is still registered")

    def _same(self, got: Any, want: Any) -> bool:
        if want is None:
            return got is None
        if type(want) is tuple:
            if want[0] == FN_TAG:
                return (type(got) is FuncRef and got.type_index == self.ftype[want[1]]
                        and got.target is self.targets[want[2]])
            return type(got) is I31 and got.value == want[1]
        return got is not None and type(got) is not I31 and got.raw == self.objs[want].raw

    def _check_fields(self, h, oid: int, sample: bool = False) -> None:
        o = self.objs[oid]
        heap = self.heap
        if o.kind == "ext":
            data = heap.externref_data(h)
            ok = type(data) is Payload and data.tok == o.tok
            del data
            self._check(ok, f"externref {o.raw:#x} payload differs")
            return
        if o.kind in ("arr", "iarr", "farr"):
            self._check(heap.array_len(h) == len(o.fields),
                        f"array {o.raw:#x} length {heap.array_len(h)}, model {len(o.fields)}")
            n = len(o.fields)
            # Big arrays (big_alloc) are sampled: reading 10^5 elements an op through
            # Python would dominate the run.
            where = range(n) if n <= (16 if sample else 2048) else sorted(
                {0, n - 1, *range(oid % 13, n, max(1, n // 14))})
            for i in where:
                want = o.fields[i]
                got = heap.array_get(h, i)
                if o.kind == "iarr":
                    self._check(got == want, f"array {o.raw:#x}[{i}] = {got}, model {want}")
                else:
                    self._check(self._same(got, want),
                                f"array {o.raw:#x}[{i}] = {got!r}, model {want!r}")
            return
        for i, want in enumerate(o.fields):
            got = heap.struct_get(h, i, signed=True)
            if o.kind == "dyn" or (o.kind == "node" and i >= 2):
                self._check(got == want, f"struct {o.raw:#x}.{i} = {got}, model {want}")
            else:
                self._check(self._same(got, want),
                            f"struct {o.raw:#x}.{i} = {got!r}, model {want!r}")

    # ---- picking operands ---------------------------------------------------------------

    def _handle(self, x: int, kinds: tuple[str, ...] | None = None):
        cands = self.handles if kinds is None else [
            p for p in self.handles if self.objs[p[1]].kind in kinds]
        if not cands:
            return None, None
        return cands[x % len(cands)]

    def _any_value(self, x: int):
        """A value for an anyref slot: None, an i31, or a struct/array handle."""
        sel = x % 8
        if sel == 0:
            return None, None
        if sel == 1:
            v = (x >> 3) - (1 << 12)
            return I31(v), (I31_TAG, v)
        h, oid = self._handle(x >> 3, ("node", "arr", "iarr", "box", "dyn", "vt", "farr"))
        return h, oid

    def _func_value(self, x: int):
        """A funcref value: None or a held FuncRef, with its model value."""
        if x % 6 == 0 or not self.fhandles:
            return None, None
        return self.fhandles[(x >> 3) % len(self.fhandles)]

    def _extern_value(self, x: int):
        if x % 5 == 0:
            return None, None
        return self._handle(x >> 3, ("ext",))

    def _alloc(self, fn, *args):
        """An allocation: OutOfHeapError is a legitimate answer (the heap stays unchanged,
        apart from collections made for room, which `_after_op` accounts for)."""
        try:
            return fn(*args)
        except OutOfHeapError:
            return None

    # ---- heap operations ----------------------------------------------------------------

    def op_new_node(self, a, b, c):
        ha, va = self._any_value(a)
        hb, vb = self._any_value(b)
        i8 = ((c & 0xFF) ^ 0x80) - 0x80
        ref = self._alloc(self.heap.struct_new, self.t_node, (ha, hb, c - 0x8000, i8))
        if ref is not None:
            self._new("node", ref, [va, vb, c - 0x8000, i8])

    def _length(self, x: int) -> int:
        return 1100 + x % 900 if x % 23 == 0 else x % 9

    def op_new_array(self, a, b, c):
        n = self._length(a)
        h, v = self._any_value(b)
        ref = self._alloc(self.heap.array_new, self.t_arr, n, h)
        if ref is not None:
            self._new("arr", ref, [v] * n)

    def op_new_i32_array(self, a, b, c):
        n = self._length(a)
        v = b * 0x10001 - 0x80000000
        ref = self._alloc(self.heap.array_new, self.t_iarr, n, v)
        if ref is not None:
            self._new("iarr", ref, [v] * n)

    def op_new_fixed(self, a, b, c):
        vals = [self._any_value(x) for x in (a, b, c)]
        ref = self._alloc(self.heap.array_new_fixed, self.t_arr, [h for h, _ in vals])
        if ref is not None:
            self._new("arr", ref, [v for _, v in vals])

    def op_new_extern(self, a, b, c):
        tok = self.next_tok
        self.next_tok += 1
        ref = self._alloc(self.heap.externref_new, Payload(tok, self.released))
        if ref is not None:
            self._new("ext", ref, [], tok)
        else:
            self.expected_released.add(tok)   # the rejected payload was dropped

    def op_new_box(self, a, b, c):
        h, v = self._extern_value(a)
        ref = self._alloc(self.heap.struct_new, self.t_box, [h])
        if ref is not None:
            self._new("box", ref, [v])

    def op_set_ref(self, a, b, c):
        h, oid = self._handle(a, ("node", "arr", "box"))
        if h is None:
            return
        o = self.objs[oid]
        if o.kind == "box":
            vh, v = self._extern_value(b)
            self.heap.struct_set(h, 0, vh)
            self._write(o, 0, [v])
        elif o.kind == "node":
            vh, v = self._any_value(b)
            self.heap.struct_set(h, c % 2, vh)
            self._write(o, c % 2, [v])
        elif o.fields:
            vh, v = self._any_value(b)
            i = c % len(o.fields)
            self.heap.array_set(h, i, vh)
            self._write(o, i, [v])
        self._rc_collect()

    def op_set_int(self, a, b, c):
        h, oid = self._handle(a, ("node", "iarr", "dyn"))
        if h is None:
            return
        o = self.objs[oid]
        if o.kind == "node":
            if c % 2:
                v = ((b & 0xFF) ^ 0x80) - 0x80
                self.heap.struct_set(h, 3, v)
                o.fields[3] = v
            else:
                self.heap.struct_set(h, 2, b - 0x8000)
                o.fields[2] = b - 0x8000
        elif o.kind == "dyn":
            self.heap.struct_set(h, 0, b)
            o.fields[0] = b
        elif o.fields:
            i = c % len(o.fields)
            self.heap.array_set(h, i, b)
            o.fields[i] = b

    def op_get(self, a, b, c):
        h, oid = self._handle(a)
        if h is None:
            return
        o = self.objs[oid]
        if not o.fields:
            return
        i = b % len(o.fields)
        if o.kind in ("arr", "iarr", "farr"):
            got = self.heap.array_get(h, i)
        else:
            got = self.heap.struct_get(h, i, signed=True)
        want = o.fields[i]
        if o.kind in ("iarr", "dyn") or (o.kind == "node" and i >= 2):
            self._check(got == want, f"read {got}, model {want}")
            return
        self._check(self._same(got, want), f"read {got!r}, model {want!r}")
        if type(want) is int and c % 2:
            self.handles.append((got, want))   # keep the new handle
        elif type(want) is tuple and want[0] == FN_TAG and c % 2:
            self.fhandles.append((got, want))

    def op_fill(self, a, b, c):
        h, oid = self._handle(a, ("arr", "iarr", "farr"))
        if h is None:
            return
        o = self.objs[oid]
        n = len(o.fields)
        start = c % (n + 1)
        count = (c >> 8) % (n - start + 1)
        if o.kind == "iarr":
            vh, v = b, b
        elif o.kind == "farr":
            vh, v = self._func_value(b)
        else:
            vh, v = self._any_value(b)
        self.heap.array_fill(h, start, vh, count)
        self._write(o, start, [v] * count)
        self._rc_collect()

    def op_copy(self, a, b, c):
        d, did = self._handle(a, ("arr", "iarr", "farr"))
        if d is None:
            return
        dk = self.objs[did].kind
        s, sid = self._handle(b, (dk,))
        dst, src = self.objs[did].fields, self.objs[sid].fields
        ds = c % (len(dst) + 1)
        ss = (c >> 5) % (len(src) + 1)
        count = (c >> 10) % (min(len(dst) - ds, len(src) - ss) + 1)
        self.heap.array_copy(d, ds, s, ss, count)
        self._write(self.objs[did], ds, src[ss:ss + count])
        self._rc_collect()

    # ---- cycle makers ---------------------------------------------------------------------

    def _linkable(self, x: int):
        """A handle on an object with an anyref slot (a node, or an array with elements)."""
        cands = [p for p in self.handles if self.objs[p[1]].kind == "node"
                 or (self.objs[p[1]].kind == "arr" and self.objs[p[1]].fields)]
        if not cands:
            return None, None
        return cands[x % len(cands)]

    def _link(self, h, oid: int, slot: int, vh, v: int) -> None:
        """Store object `v` (handle `vh`) into anyref slot `slot` (modulo) of `oid`."""
        o = self.objs[oid]
        if o.kind == "node":
            self.heap.struct_set(h, slot % 2, vh)
            self._write(o, slot % 2, [v])
        else:
            i = slot % len(o.fields)
            self.heap.array_set(h, i, vh)
            self._write(o, i, [v])

    def op_link_mutual(self, a, b, c):
        x, xid = self._linkable(a)
        y, yid = self._linkable(b)
        if x is None:
            return
        self._link(x, xid, c, y, yid)
        self._link(y, yid, c >> 4, x, xid)
        self._rc_collect()

    def op_self_ref(self, a, b, c):
        x, xid = self._linkable(a)
        if x is not None:
            self._link(x, xid, b, x, xid)
            self._rc_collect()

    def op_link_ancestor(self, a, b, c):
        top, tid = self._linkable(a)
        if top is None:
            return
        # Walk down through anyref slots with reads (each a temporary handle), then store
        # the ancestor into the last object reached that has a slot.
        cur, cid = top, tid
        for step in range(1 + b % 4):
            o = self.objs[cid]
            vals = [(i, v) for i, v in enumerate(self._refs(o)) if type(v) is int
                    and (self.objs[v].kind == "node"
                         or (self.objs[v].kind == "arr" and self.objs[v].fields))]
            if not vals:
                break
            i, v = vals[(c >> (3 * step)) % len(vals)]
            cur = (self.heap.array_get(cur, i) if o.kind == "arr"
                   else self.heap.struct_get(cur, i))
            self._check(cur is not None and cur.raw == self.objs[v].raw,
                        f"read {cur!r} on the way down, model {v}")
            cid = v
        self._link(cur, cid, c >> 12, top, tid)
        del cur
        self._rc_collect()

    def op_drop(self, a, b, c):
        if self.handles:
            h, _ = self.handles.pop(a % len(self.handles))
            if b % 3 == 0:
                h.close()
            del h
            self._rc_collect()

    def op_clone(self, a, b, c):
        h, oid = self._handle(a)
        if h is not None:
            self.handles.append((h.clone(), oid))

    def op_expose(self, a, b, c):
        h, oid = self._handle(a)
        if h is None:
            return
        # The guest holds the raw ref from the moment it is handed over, so the root
        # provider must already report it should the heap collect meanwhile.
        self.stack.append((h.raw, oid))
        raw = self.heap.expose(h)
        self._check(raw == h.raw, f"expose returned {raw}, handle raw {h.raw}")
        self.oasr.add(oid)
        if self.inc_marked is not None:
            self.inc_marked.add(oid)

    def op_expose_i31(self, a, b, c):
        v = a - (1 << 15)
        raw = self.heap.expose(I31(v))
        self._check(raw == I31(v).raw, f"expose(I31({v})) returned {raw}")
        self.stack.append((raw, (I31_TAG, v)))

    def op_pop(self, a, b, c):
        if self.stack:
            self.stack.pop(len(self.stack) - 1 - a % len(self.stack) if b % 2 else -1)

    def op_guest_read(self, a, b, c):
        if not self.stack:
            return
        raw, oid = self.stack[a % len(self.stack)]
        got = self.heap.from_raw(raw)
        if type(oid) is int:
            self._check(got is not None and type(got) is not I31 and got.raw == raw,
                        f"from_raw({raw:#x}) gave {got!r}")
            self.handles.append((got, oid))
        else:
            self._check(got == I31(oid[1]), f"from_raw({raw:#x}) gave {got!r}")

    def _report_subset(self, mask: int) -> list[int]:
        """The stack slots the guest reports; the rest it stopped holding."""
        if mask >= 0x8000:
            kept = list(self.stack)
        else:
            kept = [e for i, e in enumerate(self.stack) if (mask >> (i % 15)) & 1]
        self.stack[:] = kept
        return [raw for raw, _ in kept]

    def op_collect(self, a, b, c):
        if self.inc is not None:
            try:
                self.heap.collect(stack_roots=self._roots())
            except DrcError:
                return
            self._check(False, "collect() during an incremental collection did not raise")
        roots = self._report_subset(a)
        cycles = bool(b & 1)
        rep = self.heap.collect(stack_roots=roots, cycles=cycles)
        self._check(not rep.skipped, "an explicit collection was skipped")
        self._apply_collection({oid for _, oid in self.stack if type(oid) is int})
        swept = len(self.objs)
        if cycles:
            self._cycle_collect()
        self._check(rep.cycles_freed == swept - len(self.objs),
                    f"report.cycles_freed {rep.cycles_freed}, model {swept - len(self.objs)}")

    def op_gc_start(self, a, b, c):
        if self.inc is not None:
            try:
                self.heap.gc(stack_roots=self._roots())
            except DrcError:
                return
            self._check(False, "gc() during an incremental collection did not raise")
        roots = self._report_subset(a)
        self.inc_cycles = bool(b & 1)
        coll = self.heap.gc(stack_roots=roots, cycles=self.inc_cycles)
        self._check(coll.collect_increment() == "continue", "trace did not say continue")
        self.inc = coll
        self.inc_marked = {oid for _, oid in self.stack if type(oid) is int}

    def op_gc_step(self, a, b, c):
        if self.inc is None:
            return
        if self.inc.phase == "sweep":
            want = "continue" if self.inc_cycles else "complete"
            self._check(self.inc.collect_increment() == want, f"sweep did not say {want}")
            marked = self.inc_marked
            self.inc_marked = None
            self._apply_collection(marked)
            if self.inc_cycles:
                self._check(self.inc.phase == "cycles", f"phase {self.inc.phase} after the "
                                                        "sweep, expected cycles")
                return
        else:
            self._check(self.inc.phase == "cycles", f"unexpected phase {self.inc.phase}")
            self._check(self.inc.collect_increment() == "complete", "cycles did not complete")
            self._cycle_collect()
        self._check(self.inc.collect_increment() == "complete", "a done collection restarted")
        self.inc = None

    def op_gc_cancel(self, a, b, c):
        if self.inc is not None:
            self.inc.cancel()
            self.inc = self.inc_marked = None

    def op_big_alloc(self, a, b, c):
        n = 4096 + (a % 64) * 4096
        ref = self._alloc(self.heap.array_new, self.t_iarr, n, 7)
        if ref is not None:
            self._new("iarr", ref, [7] * n)

    def op_no_gc_collect(self, a, b, c):
        before = self.heap.stats()
        with self.heap.no_gc():
            try:
                self.heap.collect(stack_roots=self._roots())
            except NoGcScopeError:
                pass
            else:
                self._check(False, "collect() inside no_gc() did not raise")
        after = self.heap.stats()
        self._check(after["collections"] == before["collections"]
                    and after["live_objects"] == before["live_objects"],
                    "a refused collection changed the heap")

    # ---- function references and extern/any conversion -----------------------------------

    def _refused(self, call, exc: type[BaseException], what: str) -> None:
        """`call` must raise `exc` and change nothing the model sees."""
        before = self.heap.stats()
        try:
            call()
        except exc:
            pass
        else:
            self._check(False, f"{what} was accepted")
        after = self.heap.stats()
        for k in ("live_objects", "funcrefs_live", "used_bytes"):
            self._check(before[k] == after[k], f"refused {what} changed {k}")

    def op_new_func(self, a, b, c):
        level, tok = a % 2, b % FUNC_TARGETS
        key = (FN_TAG, level, tok)
        f = self.heap.funcref_new(self.ftype[level], self.targets[tok])
        self._check(self._same(f, key), f"funcref_new gave {f!r}, model {key}")
        for other, k in self.fhandles[-4:]:
            self._check((other == f) == (k == key) and (k != key or hash(other) == hash(f)),
                        f"{other!r} vs {f!r}: interning disagrees with the model")
        t = self.heap.ref_test
        self._check(t(f, R.RefType(self.t_f0, False)) and t(f, R.RefType(R.FUNC, False))
                    and t(f, R.RefType(self.t_f1)) == (level == 1)
                    and not t(f, R.RefType(R.ANY)) and not t(f, R.RefType(R.NOFUNC)),
                    f"ref_test of {f!r} disagrees with its type")
        self.fentries.add(key)
        self.fhandles.append((f, key))

    def op_new_vtable(self, a, b, c):
        h0, k0 = self._func_value(a)
        h1, k1 = self._func_value(b)
        if k0 is not None and k0[1] == 0:
            self._refused(lambda: self.heap.struct_new(self.t_vt, (h0, h1)), TypeError,
                          "an f0 funcref in a (ref null $f1) field")
            return
        ref = self._alloc(self.heap.struct_new, self.t_vt, (h0, h1))
        if ref is not None:
            self._new("vt", ref, [k0, k1])

    def op_new_func_array(self, a, b, c):
        if c % 2:
            n = self._length(a)
            h, k = self._func_value(b)
            ref = self._alloc(self.heap.array_new, self.t_farr, n, h)
            vals = [k] * n
        else:
            pairs = [self._func_value(x) for x in (a, b, c)]
            ref = self._alloc(self.heap.array_new_fixed, self.t_farr, [h for h, _ in pairs])
            vals = [k for _, k in pairs]
        if ref is not None:
            self._new("farr", ref, vals)

    def op_set_func(self, a, b, c):
        h, oid = self._handle(a, ("vt", "farr", "node"))
        if h is None:
            return
        o = self.objs[oid]
        vh, k = self._func_value(b)
        if o.kind == "node":
            if vh is not None:      # a funcref is not an anyref
                self._refused(lambda: self.heap.struct_set(h, c % 2, vh), TypeError,
                              "a funcref in an anyref field")
            return
        if c % 7 == 0:
            gh, g = self._any_value(b)
            if gh is not None:      # nor is a GC ref a funcref
                setter = self.heap.struct_set if o.kind == "vt" else self.heap.array_set
                if o.fields or o.kind == "vt":
                    self._refused(lambda: setter(h, 0, gh), TypeError,
                                  "a GC ref in a funcref field")
                return
        if o.kind == "vt":
            field = c % 2
            if field == 0 and k is not None and k[1] == 0:
                self._refused(lambda: self.heap.struct_set(h, 0, vh), TypeError,
                              "an f0 funcref in a (ref null $f1) field")
                return
            self.heap.struct_set(h, field, vh)
            o.fields[field] = k
        elif o.fields:
            i = c % len(o.fields)
            self.heap.array_set(h, i, vh)
            o.fields[i] = k

    def op_drop_func(self, a, b, c):
        if self.fhandles:
            f, _ = self.fhandles.pop(a % len(self.fhandles))
            del f

    def op_reclaim_funcs(self, a, b, c):
        got = self.heap.reclaim_funcrefs()
        want = self._reclaim_funcs()
        self._check(got == want, f"reclaim_funcrefs freed {got}, model {want}")

    def op_convert(self, a, b, c):
        heap = self.heap
        sel = c % 4
        if sel == 0:
            # extern.convert_any, then the value goes into an externref field.
            vh, v = self._any_value(a)
            conv = heap.extern_convert_any(vh)
            dest, did = self._handle(b, ("box",))
            field = 0
        elif sel == 1:
            # any.convert_extern of a host ref, then into an anyref field.
            vh, v = self._extern_value(a)
            conv = heap.any_convert_extern(vh)
            dest, did = self._handle(b, ("node",))
            field = (c >> 2) % 2
        else:
            vh, v = self._any_value(a) if sel == 2 else self._extern_value(a)
            conv = heap.any_convert_extern(heap.extern_convert_any(vh))
            dest = did = None
        self._check(self._same(conv, v), f"conversion of {vh!r} gave {conv!r}")
        if type(v) is int:
            self.handles.append((conv, v))          # a new handle with its own count
            o = self.objs[v]
            self._check(heap.ref_test(conv, R.RefType(R.EXTERN, False))
                        and heap.ref_test(conv, R.RefType(R.ANY, False))
                        and heap.ref_test(conv, R.RefType(R.EQ)) == (o.kind != "ext"),
                        f"ref_test of converted {conv!r} ({o.kind}) disagrees")
            if o.kind != "ext":
                self._check(heap.ref_test(conv, R.RefType(heap.type_of(conv), False)),
                            f"converted {conv!r} does not test as its own type")
        if dest is not None:
            heap.struct_set(dest, field, conv)
            self._write(self.objs[did], field, [v])
            self._rc_collect()

    def op_init_data(self, a, b, c):
        heap = self.heap
        if c % 3 == 0:
            n, off = a % 10, b % 50
            if off + 4 * n > len(DATA):
                self._refused(lambda: heap.array_new_data(self.t_iarr, DATA, off, n),
                              IndexError, f"array_new_data at {off} of {n} i32s")
                return
            ref = self._alloc(heap.array_new_data, self.t_iarr, DATA, off, n)
            if ref is not None:
                self._new("iarr", ref, list(_struct.unpack_from(f"<{n}i", DATA, off)))
            return
        h, oid = self._handle(a, ("iarr",))
        if h is None:
            return
        o = self.objs[oid]
        d, n, off = (c >> 2) % (len(o.fields) + 2), b % 6, (b >> 3) % 50
        if d + n > len(o.fields) or off + 4 * n > len(DATA):
            self._refused(lambda: heap.array_init_data(h, d, DATA, off, n), IndexError,
                          f"array_init_data of {n} at {d} from {off}")
            self._check(heap.array_len(h) == len(o.fields), "a refused init changed the array")
            return
        heap.array_init_data(h, d, DATA, off, n)
        o.fields[d:d + n] = _struct.unpack_from(f"<{n}i", DATA, off)

    # ---- registry operations -------------------------------------------------------------

    def _holds(self) -> dict[str, int]:
        n = dict.fromkeys(GROUPS, 0)
        for _, groups in self.held:
            for g in groups:
                n[g] += 1
        for g in self.heap_holds:
            n[g] += 1
        if n["B"]:
            n["A"] += 1            # B's supertype lives in A's group
        return n

    def _reg_len(self) -> int:
        return self.base_len + sum(len(GROUPS[g][0]) for g, k in self._holds().items() if k)

    def _sync_live(self) -> None:
        holds = self._holds()
        for g in list(self.live_idx):
            if not holds[g]:
                self.seen_dead.update(self.live_idx.pop(g))

    def _learn(self, g: str, idx: tuple[int, ...]) -> None:
        if g in self.live_idx:
            self._check(self.live_idx[g] == idx, f"group {g} is live as {self.live_idx[g]}, "
                                                 f"registered again as {idx}")
        else:
            others = {i for k, v in self.live_idx.items() for i in v}
            self._check(not (set(idx) & others), f"group {g} got indices {idx} of a live group")
            self.live_idx[g] = idx

    def op_reg_register(self, a, b, c):
        m = a % len(MODULES)
        coll = self.reg.register_module(MODULE_GROUPS[m])
        start = 0
        for g in MODULES[m]:
            k = len(GROUPS[g][0])
            self._learn(g, tuple(coll.shared_types[start:start + k]))
            start += k
        self.held.append((coll, MODULES[m]))

    def op_reg_drop(self, a, b, c):
        if self.held:
            h, _ = self.held.pop(a % len(self.held))
            h.close()
            self._sync_live()

    def _live_type(self, x: int):
        types = [(g, k, i) for g, idx in sorted(self.live_idx.items())
                 for k, i in enumerate(idx)]
        return types[x % len(types)] if types else (None, None, None)

    def op_reg_root(self, a, b, c):
        g, _, i = self._live_type(a)
        if g is not None:
            self.held.append((self.reg.root(i), (g,)))

    def op_reg_query(self, a, b, c):
        ga, ka, ia = self._live_type(a)
        gb, kb, ib = self._live_type(b)
        if ga is None:
            if self.seen_dead:
                i = sorted(self.seen_dead)[a % len(self.seen_dead)]
                if not any(i in v for v in self.live_idx.values()):
                    self._check(i not in self.reg, f"dead type {i} answers `in`")
                    try:
                        self.reg.get(i)
                    except R.UnknownTypeError:
                        return
                    self._check(False, f"get({i}) of a dropped type did not raise")
            return
        kind = GROUPS[ga][2][ka]
        want = ia == ib or (ga, gb) == ("B", "A")
        got = self.reg.is_subtype(ia, ib)
        self._check(got == want, f"is_subtype({ia} {ga}, {ib} {gb}) = {got}, model {want}")
        top = {"struct": R.STRUCT, "array": R.ARRAY, "func": R.FUNC}[kind]
        self._check(self.reg.ref_matches(R.RefType(ia, False), R.RefType(top)),
                    f"type {ia} ({kind}) does not match {top}")
        other = R.EXTERN if c % 2 else (R.FUNC if kind != "func" else R.ANY)
        self._check(not self.reg.ref_matches(R.RefType(ia, True), R.RefType(other)),
                    f"type {ia} ({kind}) matches {other}")
        self._check(self.reg.rec_group(ia) == self.live_idx[ga],
                    f"rec_group({ia}) = {self.reg.rec_group(ia)}, model {self.live_idx[ga]}")
        st = self.reg.get(ia)
        comp = {"struct": R.StructType, "array": R.ArrayType, "func": R.FuncType}[kind]
        self._check(isinstance(st.composite, comp), f"get({ia}) is {st!r}, model {kind}")
        lay = self.reg.layout(ia)
        self._check((lay is None) == (kind == "func"), f"layout({ia}) = {lay!r}")

    def op_reg_alloc(self, a, b, c):
        g, k, i = self._live_type(a)
        if g is None:
            return
        if GROUPS[g][2][k] == "func":
            try:
                self.heap.use_type(i)
            except TypeError:
                return
            self._check(False, f"use_type({i}) of a func type did not raise")
        if g in ("A", "B"):
            vals = [b] if g == "A" else [b, c]
            ref = self._alloc(self.heap.struct_new, i, vals)
            if ref is None:
                return
            self._new("dyn", ref, vals)
        else:
            self.heap.use_type(i)
        self.heap_holds.add(g)

    # ---- wrong calls ----------------------------------------------------------------------

    def bad_calls(self, a, b, c) -> list[tuple[str, Any, type[BaseException]]]:
        """The wrong calls `op_bad_call` picks from, in a fixed order (the corpus depends on
        it): ``(what, call, the exception class it must raise)``. A call that needs a
        handle of some kind is None when no such handle exists; the expected class of a
        call on a handle follows from the handle's kind (an index out of range is an
        IndexError on the right kind, an InvalidRefError on the wrong one)."""
        heap = self.heap
        h, oid = self._handle(b, BAD_CALL_KINDS)
        kind = self.objs[oid].kind if oid is not None else None
        other, _ = self._handle(b, tuple(k for k in BAD_CALL_KINDS if k != "ext"))
        on_array = IndexError if kind in ARRAY_KINDS else InvalidRefError
        on_struct = IndexError if kind in STRUCT_KINDS else InvalidRefError
        set_struct = TypeError if kind in STRUCT_KINDS else InvalidRefError

        def with_handle(call, handle=h):
            return None if handle is None else call

        return [
            ("struct_new with too few values",
             lambda: heap.struct_new(self.t_node, (None,)), TypeError),
            ("struct_new of an unregistered type",
             lambda: heap.struct_new(1 << 30, ()), R.UnknownTypeError),
            ("array_new of length -1", lambda: heap.array_new(self.t_iarr, -1, 0), OverflowError),
            ("array_new of length 2**40",
             lambda: heap.array_new(self.t_iarr, 1 << 40, 0), OverflowError),
            ("array_new of i32s with a str", lambda: heap.array_new(self.t_iarr, 1, "x"),
             TypeError),
            ("from_raw of a misaligned offset", lambda: heap.from_raw(b * 16 + 8),
             InvalidRefError),
            ("from_raw(-1)", lambda: heap.from_raw(-1), OverflowError),
            ("collect with a root past the heap",
             lambda: heap.collect(stack_roots=[c * 16 + 16 + (1 << 24)]), InvalidRefError),
            ("collect with a str of roots", lambda: heap.collect(stack_roots="abc"),  # type: ignore[arg-type]
             TypeError),
            (f"array_get past the end of a {kind}",
             with_handle(lambda: heap.array_get(h, 0xFFFFFFFF)), on_array),
            (f"struct_get of field 99 of a {kind}",
             with_handle(lambda: heap.struct_get(h, 99)), on_struct),
            (f"struct_set of an object() into a {kind}",
             with_handle(lambda: heap.struct_set(h, 0, object())), set_struct),
            (f"array_copy past the end of a {kind}",
             with_handle(lambda: heap.array_copy(h, 0, h, 0, 0xFFFFFFFF)), on_array),
            ("externref_data of a non-externref",
             with_handle(lambda: heap.externref_data(other), other), InvalidRefError),
            ("ref_test against a str", with_handle(lambda: heap.ref_test(h, "anyref")),  # type: ignore[arg-type]
             TypeError),
            ("registry get of an unregistered index", lambda: self.reg.get(1 << 30),
             R.UnknownTypeError),
            ("register_module with a forward supertype",
             lambda: self.reg.register_module([R.SubType(R.StructType([]), supertype=5)]),
             R.InvalidTypeError),
            ("register_wasm of a truncated type section",
             lambda: self.reg.register_wasm(b"\0asm\x01\0\0\0\x01\x05" + bytes([a & 0xFF])),
             R.MalformedWasmError),
        ]

    def op_bad_call(self, a, b, c):
        calls = self.bad_calls(a, b, c)
        n = a % len(calls)
        what, call, expected = calls[n]
        if call is None:
            return
        if self.inc is not None and n in (7, 8):
            return      # refused for the collection under way before the roots are read
        heap = self.heap
        before = heap.stats()
        reg_before = len(self.reg)
        try:
            call()
        except expected:
            pass
        except Exception as e:  # noqa: BLE001 - any other class is a finding
            self._check(False, f"bad call #{n} ({what}) raised {type(e).__name__}, expected "
                               f"{expected.__name__}: {e}")
        else:
            self._check(False, f"bad call #{n} ({what}) raised nothing, expected "
                               f"{expected.__name__}")
        after = heap.stats()
        for k in ("live_objects", "oasr_len", "host_data_live", "collections", "used_bytes"):
            self._check(before[k] == after[k], f"bad call #{n} ({what}) changed {k}: "
                                               f"{before[k]} -> {after[k]}")
        self._check(len(self.reg) == reg_before, f"bad call #{n} ({what}) changed the registry")

    def op_verify(self, a, b, c):
        self.deep_check()


@dataclass
class RunResult:
    ops_run: int
    failure: FuzzFailure | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def run_ops(ops, config: Config | None = None, *, on_step=None, finish: bool = True) -> RunResult:
    """Run `ops` on a fresh executor; returns how many ran and the failure, if any."""
    ex = Executor(config)
    try:
        ex.run(ops, on_step)
        if finish:
            ex.deep_check()
            ex.close()
    except FuzzFailure as f:
        _cleanup(ex)
        return RunResult(ex.steps, f)
    return RunResult(ex.steps)


def _cleanup(ex: Executor) -> None:
    """After a failure: release what we can without trusting the heap's state."""
    try:
        if ex.inc is not None:
            ex.inc.cancel()
    except Exception:  # noqa: BLE001
        pass
    ex.handles.clear()
    ex.stack.clear()
    for h, _ in ex.held:
        try:
            h.close()
        except Exception:  # noqa: BLE001
            pass
    try:
        ex.heap.set_root_provider(None)
        ex.heap.close()
    except Exception:  # noqa: BLE001
        pass
