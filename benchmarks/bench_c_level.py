"""Single C-level calls, measured from a downstream extension (the benchmark's C driver).

Needs a regular (non-editable) install with meson and ninja: the driver
(``benchmarks/drc_driver.pyx``) is built against it the way an embedder builds theirs, into the
cache ``python -m drc bench`` uses. Run: ``python benchmarks/bench_c_level.py``.

Rows, in ns per operation, as the median over interleaved rounds with the min-max spread:

- ``new_struct`` + ``dec`` of a ``{ref, ref}`` struct (which frees it);
- a barriered ``store_ref`` (alternating two values) + an owned ``load_ref`` + ``dec``;
- ``c_is_subtype`` inside the registry extension (``reg._bench_c_is_subtype``: the peer);
- ``reg.c_is_subtype`` called from the driver (through the class's vtable);
- the inline ``registry_is_subtype`` compiled into the driver.

The two downstream subtype rows are also given as ratios to the in-extension loop, per round.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import drc
import registry as R
from drc.bench.harness import Skip, build_c_driver, cache_dir

HERE = Path(__file__).resolve().parent


def load_driver():
    try:
        where = build_c_driver(HERE, cache_dir())
    except Skip as e:
        sys.exit(f"bench_c_level: {e}")
    sys.path.insert(0, str(where))
    import drc_driver  # type: ignore[import-not-found]

    return drc_driver


def subtype_chain(reg: R.TypeRegistry, depth: int = 8):
    """A supertype chain of `depth` structs, each adding an i32: (collection, deepest, root)."""
    groups, fields = [], []
    for k in range(depth):
        fields = fields + [R.FieldType(R.I32)]
        groups.append(R.SubType(R.StructType(fields), final=False,
                                supertype=k - 1 if k else None))
    c = reg.register_module(groups)
    return c, c.shared_type(depth - 1), c.shared_type(0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("-n", type=int, default=5_000_000, help="operations per measurement")
    args = ap.parse_args()
    if drc.ZEAL:
        sys.exit("bench_c_level: this is the gc_zeal build; measure the release build")
    d = load_driver()
    reg = R.TypeRegistry()
    node_types = reg.register_module([R.RecGroup([R.SubType(R.StructType(
        [R.FieldType(R.RefType(0), True)] * 2))])])
    node = node_types.shared_type(0)
    left = reg.layout(node).fields[0].offset
    chain, sub, sup = subtype_chain(reg)
    heap = drc.Heap(reg)
    n = args.n
    rows = {
        "new_struct + dec (frees)": lambda: d.alloc_free_seconds(heap, node, n),
        "store_ref + load_ref + dec": lambda: d.barrier_seconds(heap, node, left, n),
        "c_is_subtype, in-extension loop (peer)": lambda: _in_extension(reg, sub, sup, n),
        "reg.c_is_subtype from the driver": lambda: d.c_is_subtype_seconds(reg, sub, sup, n),
        "registry_is_subtype (inline) in the driver":
            lambda: d.inline_is_subtype_seconds(reg, sub, sup, n),
    }
    samples: dict[str, list[float]] = {name: [] for name in rows}
    for measure in rows.values():             # warm-up, not recorded
        measure()
    for _ in range(args.rounds):
        for name, measure in rows.items():    # interleaved: every row once per round
            samples[name].append(measure() / n)
    heap.close()
    chain.close()
    node_types.close()

    print(f"{'operation':<44} {'median':>9} {'spread':>17}   ({args.rounds} rounds of {n:,})")
    for name, values in samples.items():
        ns = [v * 1e9 for v in values]
        print(f"{name:<44} {statistics.median(ns):>6.2f} ns {min(ns):>6.2f}-{max(ns):.2f} ns")
    peer = samples["c_is_subtype, in-extension loop (peer)"]
    for name in ("reg.c_is_subtype from the driver", "registry_is_subtype (inline) in the driver"):
        ratios = [v / p for v, p in zip(samples[name], peer, strict=True)]
        print(f"{name} / in-extension: {statistics.median(ratios):.2f}x "
              f"({min(ratios):.2f}-{max(ratios):.2f}x)")


def _in_extension(reg: R.TypeRegistry, sub: int, sup: int, n: int) -> float:
    start = time.perf_counter()
    hits = reg._bench_c_is_subtype(sub, sup, n)
    seconds = time.perf_counter() - start
    assert hits == n
    return seconds


if __name__ == "__main__":
    main()
