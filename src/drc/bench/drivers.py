"""The drc Python-API driver: the workloads of ``workloads.py`` on a :class:`drc.Heap`.

Runs in a child process started by the harness. Besides the timed result it samples
``Heap.stats()`` a few dozen times per run (heap size and collections over time, for the plot),
reports the peak heap capacity, and measures the bytes one ``{ref, ref}`` node takes in the heap.
"""

from __future__ import annotations

import time
from typing import Any

from drc.bench.workloads import CYCLIC, MIN_DEPTH, REGISTRY_CHAIN, WORKLOADS, max_depth

#: Module indices of node_cell_types() and the fields of dnode.
NODE, CELL, CELLS, DNODE = range(4)
DVALUE, PREV, DNEXT = range(3)


def node_cell_types() -> list[Any]:
    """The workloads' module (workloads.wat): node {left, right}, cell {i64, next}, [cell]
    array, dnode {i64, prev, next}."""
    from registry import I64, ArrayType, FieldType, RecGroup, RefType, StructType, SubType

    node = SubType(StructType([FieldType(RefType(NODE, nullable=True), mutable=True)] * 2))
    cell = SubType(StructType([FieldType(I64, mutable=True),
                               FieldType(RefType(CELL, nullable=True), mutable=True)]))
    cells = SubType(ArrayType(FieldType(RefType(CELL, nullable=True), mutable=True)))
    dnode = SubType(StructType([FieldType(I64, mutable=True)]
                               + [FieldType(RefType(DNODE, nullable=True), mutable=True)] * 2))
    return [RecGroup([node]), RecGroup([cell]), RecGroup([cells]), RecGroup([dnode])]


def registry_chain() -> list[Any]:
    """One rec group: struct t_i has i + 1 i32 fields and extends t_(i-1) (registry_types.wat)."""
    from registry import I32, FieldType, RecGroup, StructType, SubType

    types = []
    for i in range(REGISTRY_CHAIN):
        types.append(SubType(StructType([FieldType(I32)] * (i + 1)), final=False,
                             supertype=i - 1 if i else None))
    return [RecGroup(types)]


def registry_chain_wasm() -> bytes:
    """The binary of registry_types.wat: the bytes wat2wasm makes of it up to the custom
    "name" section it appends, i.e. a type section holding registry_chain() as one rec group."""
    from registry import encode_module

    return encode_module(registry_chain())


class Sampler:
    """Heap stats over time, taken between units of work, never inside a hot loop."""

    def __init__(self, heap: Any) -> None:
        self.heap = heap
        self.start = time.perf_counter()
        self.samples: list[dict[str, Any]] = []

    def __call__(self) -> None:
        stats = dict(self.heap.stats())
        stats["t"] = time.perf_counter() - self.start
        self.samples.append(stats)

    def peak_capacity(self) -> int:
        return max(int(s["capacity"]) for s in self.samples)


def _used(heap: Any) -> int | None:
    stats = heap.stats()
    for key in ("used_bytes", "used", "live_bytes"):
        if key in stats:
            return int(stats[key])
    return None


def run(workload: str, size: int) -> tuple[float, int, dict[str, Any]]:
    """Run one workload through the Python API: (seconds, checksum, extras)."""
    import drc
    import registry

    reg = registry.TypeRegistry()
    if workload == "registry":
        return _registry(reg, size)
    types = reg.register_module(node_cell_types())
    node_t, cell_t, cells_t, dnode_t = (types.shared_type(i) for i in range(4))
    heap = drc.Heap(reg)
    if workload in CYCLIC:
        # The driver holds every ref through a GcRef handle and no guest frame holds any: a
        # provider with no roots lets the heap collect by itself under pressure.
        heap.set_root_provider(lambda: ())
    sample = Sampler(heap)
    extras: dict[str, Any] = {}
    rounds = WORKLOADS[workload].rounds
    start = time.perf_counter()
    sample()
    if workload == "binary-trees":
        result = _binary_trees(heap, node_t, size, sample, extras)
    elif workload == "list-churn":
        result = _list_churn(heap, cell_t, size, rounds, sample)
    elif workload == "array-churn":
        result = _array_churn(heap, cell_t, cells_t, size, rounds, sample)
    elif workload == "cycle-churn":
        result = _cycle_churn(heap, dnode_t, size, rounds, sample)
    else:
        raise KeyError(workload)
    seconds = time.perf_counter() - start
    sample()
    extras["timeline"] = sample.samples
    extras["peak_heap_bytes"] = sample.peak_capacity()
    extras["collections"] = int(sample.samples[-1]["collections"])
    return seconds, result, extras


def _binary_trees(heap: Any, node_t: int, size: int, sample: Sampler,
                  extras: dict[str, Any]) -> int:
    new = heap.struct_new
    get = heap.struct_get

    def bottom_up_tree(depth: int) -> Any:
        if depth > 0:
            return new(node_t, (bottom_up_tree(depth - 1), bottom_up_tree(depth - 1)))
        return new(node_t, (None, None))

    def check(tree: Any) -> int:
        left = get(tree, 0)
        if left is None:
            return 1
        return 1 + check(left) + check(get(tree, 1))

    top = max_depth(size)
    total = check(bottom_up_tree(top + 1))
    before = _used(heap)
    long_lived = bottom_up_tree(top)
    after = _used(heap)
    if before is not None and after is not None:
        extras["bytes_per_node"] = (after - before) / ((1 << (top + 1)) - 1)
    sample()
    for depth in range(MIN_DEPTH, top + 1, 2):
        iterations = 1 << (top - depth + MIN_DEPTH)
        every = max(1, iterations // 8)
        for i in range(iterations):
            total += check(bottom_up_tree(depth))
            if i % every == 0:
                sample()
    return total + check(long_lived)


def _list_churn(heap: Any, cell_t: int, size: int, rounds: int, sample: Sampler) -> int:
    new = heap.struct_new
    get = heap.struct_get
    total = 0
    for r in range(rounds):
        head = None
        for i in range(size):
            head = new(cell_t, (i + r, head))
        sample()  # the list is live
        walk = head
        while walk is not None:
            total += get(walk, 0)
            walk = get(walk, 1)
        del head, walk
        sample()
    return total


def _cycle_churn(heap: Any, dnode_t: int, size: int, rounds: int, sample: Sampler) -> int:
    new = heap.struct_new
    get = heap.struct_get
    put = heap.struct_set
    total = 0
    for r in range(rounds):
        head = None
        for i in range(size):
            node = new(dnode_t, (i + r, None, head))
            if head is not None:
                put(head, PREV, node)
            head = node
        sample()  # the list is live
        walk, tail = head, None
        while walk is not None:
            total += get(walk, DVALUE)
            tail = walk
            walk = get(walk, DNEXT)
        while tail is not None:
            total += 1
            tail = get(tail, PREV)
        # Dropping the handles leaves the list a garbage cycle: only a cycle pass frees it.
        del head, node, walk, tail
        sample()
    return total


def _array_churn(heap: Any, cell_t: int, cells_t: int, size: int, rounds: int,
                 sample: Sampler) -> int:
    new = heap.struct_new
    get = heap.struct_get
    aget = heap.array_get
    aset = heap.array_set
    total = 0
    for r in range(rounds):
        array = heap.array_new(cells_t, size, new(cell_t, (r, None)))
        for i in range(size):
            total += get(aget(array, i), 0)
        array = heap.array_new(cells_t, size, None)
        for i in range(size):
            aset(array, i, new(cell_t, (i, None)))
        sample()  # the array and its cells are live
        for i in range(size):
            total += get(aget(array, i), 0)
        del array
        sample()
    return total


def _registry(reg: Any, size: int) -> tuple[float, int, dict[str, Any]]:
    groups = registry_chain()
    register = reg.register_module
    is_subtype = reg.is_subtype
    total = 0
    start = time.perf_counter()
    for _ in range(size):
        first = register(groups)
        again = register(groups)
        total += len(first) + len(again)
        first.close()
        again.close()
    chain_types = register(groups)
    chain = [chain_types.shared_type(i) for i in range(REGISTRY_CHAIN)]
    for _ in range(size):
        for a in chain:
            for b in chain:
                total += is_subtype(a, b)
    seconds = time.perf_counter() - start
    chain_types.close()
    return seconds, total, {}
