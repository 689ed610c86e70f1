"""What a cycle pass costs per live object: ``python benchmarks/cycle_pass_cost.py``.

Builds heaps of N live objects (a binary tree of two-field structs, and a linked list) and
times ``collect(cycles=True)`` against ``collect(cycles=False)`` on the same heap, interleaved,
in thread CPU time (the machine may be shared; CPU time is what the pass costs). Then it drops
a ring of N objects and times the pass that frees it. Prints ns per object: the median and the
spread (min-max) of the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time

import registry as R
from drc import Heap


def _node(reg: R.TypeRegistry):
    coll = reg.register_module([R.RecGroup([R.SubType(R.StructType([
        R.FieldType(R.RefType(0, True), True), R.FieldType(R.RefType(0, True), True)]))])])
    return coll, coll.shared_type(0)


def _tree(heap: Heap, node: int, depth: int):
    if depth == 0:
        return heap.struct_new(node, [None, None])
    return heap.struct_new(node, [_tree(heap, node, depth - 1), _tree(heap, node, depth - 1)])


def _list(heap: Heap, node: int, n: int):
    head = None
    for _ in range(n):
        head = heap.struct_new(node, [head, None])
    return head


def _collect_cpu(heap: Heap, cycles: bool) -> float:
    """Thread CPU seconds of one full collection."""
    t0 = time.thread_time()
    heap.collect(stack_roots=[], cycles=cycles)
    return time.thread_time() - t0


def _fmt(samples: list[float], n: int) -> str:
    ns = [s * 1e9 / n for s in samples]
    return f"{statistics.median(ns):6.1f} ns/object ({min(ns):.1f}-{max(ns):.1f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", type=int, nargs="+", default=[14, 17, 20])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    reg = R.TypeRegistry()
    coll, node = _node(reg)
    for depth in args.depths:
        n = (2 << depth) - 1
        for shape in ("tree", "list"):
            heap = Heap(reg)
            root = _tree(heap, node, depth) if shape == "tree" else _list(heap, node, n)
            with_pass, without = [], []
            for _ in range(args.repeats):
                with_pass.append(_collect_cpu(heap, True))
                without.append(_collect_cpu(heap, False))
            print(f"{shape:4} {n:>9,} live: pass {_fmt(with_pass, n)}; "
                  f"collection without it {_fmt(without, n)}")
            del root
            heap.close()
        ring = []
        for _ in range(args.repeats):
            heap = Heap(reg)
            first = head = heap.struct_new(node, [None, None])
            for _ in range(n - 1):
                head = heap.struct_new(node, [head, None])
            heap.struct_set(first, 0, head)      # head -> ... -> first -> head: a ring
            del first, head
            ring.append(_collect_cpu(heap, True))
            assert heap.stats()["live_objects"] == 0
            heap.close()
        print(f"ring {n:>9,} garbage: pass frees it at {_fmt(ring, n)}")
    coll.close()


if __name__ == "__main__":
    main()
