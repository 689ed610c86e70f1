"""Function-reference benchmarks: what a funcref store and load cost next to the other field
kinds, and what reclaiming unused function-table entries costs.

Run against a release build: ``python benchmarks/bench_funcref.py``. Every row is measured in
the same run, its repeats interleaved with its peers' (so machine load hits them alike), and
printed as the median ns per operation with the min-max spread, plus the ratio to the peer.

- Python level: ``struct_set`` / ``struct_get`` of a funcref field (``FuncRef``), of an anyref
  field (``GcRef``, through the write barrier) and of an i32 field.
- C level (``--c``, needs a regular install with meson and ninja: the benchmark's C driver,
  ``benchmarks/drc_driver.pyx``, is built against it as ``benchmarks/bench_c_level.py`` does):
  ``store_funcref`` + ``load_funcref`` next to ``store_ref`` + ``load_ref`` + ``dec``.
- Reclamation: ``reclaim_funcrefs()`` over a heap of N structs holding funcrefs, and over the
  same number of structs of a type without funcref slots (the walk skips their fields).
"""

from __future__ import annotations

import argparse
import statistics
import time

import registry as R
from drc import Heap


def setup(n_objects: int = 0):
    reg = R.TypeRegistry()
    coll = reg.register_module([R.RecGroup([
        R.SubType(R.FuncType([R.I32], [])),
        R.SubType(R.StructType([R.FieldType(R.RefType(0), True),
                                R.FieldType(R.RefType(R.ANY), True),
                                R.FieldType(R.I32, True)])),
        R.SubType(R.StructType([R.FieldType(R.I32, True), R.FieldType(R.I32, True)])),
    ])])
    ft, st, plain = coll.shared_types
    heap = Heap(reg)
    return reg, coll, heap, ft, st, plain


def per_op(fn, n: int) -> float:
    t0 = time.perf_counter()
    fn(n)
    return (time.perf_counter() - t0) * 1e9 / n


def interleaved(cases: dict, n: int, repeats: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            out[name].append(per_op(fn, n))
    return out


def report(title: str, results: dict[str, list[float]], peer: str) -> None:
    print(f"\n{title}")
    base = statistics.median(results[peer])
    for name, xs in results.items():
        med = statistics.median(xs)
        print(f"  {name:<44} {med:8.1f} ns  [{min(xs):.1f}-{max(xs):.1f}]  "
              f"{med / base:5.2f}x {peer}")


def python_level(n: int, repeats: int) -> None:
    reg, coll, heap, ft, st, plain = setup()
    f, g = heap.funcref_new(ft, "f"), heap.funcref_new(ft, "g")
    obj = heap.struct_new(st, (f, None, 0))
    a, b = heap.struct_new(plain, (1, 2)), heap.struct_new(plain, (3, 4))
    ss, sg = heap.struct_set, heap.struct_get

    def set_funcref(k):
        for i in range(k):
            ss(obj, 0, f if i & 1 else g)

    def set_anyref(k):
        for i in range(k):
            ss(obj, 1, a if i & 1 else b)

    def set_i32(k):
        for i in range(k):
            ss(obj, 2, i)

    ss(obj, 1, a)

    def get_funcref(k):
        for _ in range(k):
            sg(obj, 0)

    def get_anyref(k):
        for _ in range(k):
            sg(obj, 1)

    def get_i32(k):
        for _ in range(k):
            sg(obj, 2)

    report("Python: struct_set", interleaved(
        {"funcref field (FuncRef, type check)": set_funcref,
         "anyref field (GcRef, barrier)": set_anyref, "i32 field": set_i32},
        n, repeats), "anyref field (GcRef, barrier)")
    report("Python: struct_get (+ drop of the result)", interleaved(
        {"funcref field (new FuncRef, pin)": get_funcref,
         "anyref field (new GcRef, count)": get_anyref, "i32 field": get_i32},
        n, repeats), "anyref field (new GcRef, count)")


def c_level(n: int, repeats: int) -> None:
    from bench_c_level import load_driver

    d = load_driver()
    reg, coll, heap, ft, st, plain = setup()
    node = reg.register_module([R.RecGroup([R.SubType(R.StructType([
        R.FieldType(R.RefType(0, True), True), R.FieldType(R.RefType(0, True), True)]))])])
    t_node = node.shared_type(0)
    left = reg.layout(t_node).fields[0].offset
    heap.use_type(st)
    fa, fb = d.funcref_intern(heap, ft, 1), d.funcref_intern(heap, ft, 2)
    # Each driver function times its own nogil loop and returns seconds for all n.
    both: dict[str, list[float]] = {"store_funcref + load_funcref": [],
                                    "store_ref + load_ref + dec (barrier)": []}
    for _ in range(repeats):
        both["store_funcref + load_funcref"].append(
            d.funcref_store_load_seconds(heap, st, fa, fb, n) * 1e9 / n)
        both["store_ref + load_ref + dec (barrier)"].append(
            d.barrier_seconds(heap, t_node, left, n) * 1e9 / n)
    report("C: one store + one load of a struct field", both,
           "store_ref + load_ref + dec (barrier)")
    d.funcref_unpin(heap, fa)
    d.funcref_unpin(heap, fb)


def reclaim(n_objects: int, repeats: int) -> None:
    # Two heaps of n live structs each: with a funcref slot, and without any.
    _, _, h1, ft1, st1, _ = w1 = setup()
    _, _, h2, ft2, _, plain2 = w2 = setup()
    fs = [h1.funcref_new(ft1, i) for i in range(64)]
    objs1 = [h1.struct_new(st1, (fs[i % 64], None, i)) for i in range(n_objects)]
    objs2 = [h2.struct_new(plain2, (i, i)) for i in range(n_objects)]
    h2.funcref_new(ft2, "one entry, so the walk runs")
    keep = h2.funcref_new(ft2, "one entry, so the walk runs")
    del fs
    cases = {"structs with a funcref slot": h1.reclaim_funcrefs,
             "structs without funcref slots": h2.reclaim_funcrefs}
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e9 / n_objects)
    report(f"reclaim_funcrefs(): ns per live object ({n_objects:,} objects)", times,
           "structs with a funcref slot")
    print(f"  first heap: {h1.stats()['funcrefs_live']} entries kept (held by fields), "
          f"{h1.stats()['funcrefs_reclaimed']} reclaimed")
    del objs1, objs2, keep, w1, w2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="operations per repeat")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--objects", type=int, default=200_000, help="objects for the reclaim")
    ap.add_argument("--c", action="store_true", help="also time the C level (downstream)")
    args = ap.parse_args()
    python_level(args.n, args.repeats)
    if args.c:
        c_level(args.n * 50, args.repeats)
    reclaim(args.objects, args.repeats)


if __name__ == "__main__":
    main()
