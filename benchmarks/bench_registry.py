"""Type-registry benchmarks, each printed next to its budget.

Run against a release build: ``python benchmarks/bench_registry.py``. Prints medians of
several repeats:

- registering a module of 1,000 types (a realistic mix: struct chains with supertypes,
  arrays, functions, and a few recursive groups), into an empty registry;
- re-registering the identical module (every group a hash-consing hit);
- the same two from the module's ``.wasm`` bytes (``register_wasm``: decoded and registered
  in C, no type values);
- ``is_subtype`` from Python (``reg.is_subtype(a, b)``, a method call per check);
- ``c_is_subtype`` from C (a nogil loop inside the extension, ``_bench_c_is_subtype``).
"""

from __future__ import annotations

import argparse
import statistics
import time

from registry import (
    ANY,
    EQ,
    F64,
    FUNC,
    I8,
    I32,
    I64,
    ArrayType,
    FieldType,
    FuncType,
    RecGroup,
    RefType,
    StructType,
    SubType,
    TypeRegistry,
    encode_module,
)

BUDGETS = {"register 1,000 types": 20e-3, "is_subtype (Python)": 100e-9,
           "is_subtype (C)": 5e-9}


def module_of(n: int) -> list:
    """`n` distinct types in singleton groups and groups of 3.

    Every type refers to the type just before it, so no two are equivalent (by induction)
    and hash consing cannot shrink the module. Structs form supertype chains up to depth 8,
    each subtype appending a field to its parent's; arrays and functions are interleaved.
    """
    groups: list = []
    count = 0
    k = 0
    parent: int | None = None
    parent_fields: list = []
    depth = 0
    while count < n:
        prev = RefType(count - 1) if count else RefType(ANY)
        kind = k % 5
        if kind in (0, 1):
            if depth == 8:
                parent, parent_fields, depth = None, [], 0
            fields = parent_fields + [FieldType(I64 if depth % 2 else I8),
                                      FieldType(prev)]
            groups.append(SubType(StructType(fields), final=False, supertype=parent))
            parent, parent_fields, depth = count, fields, depth + 1
            count += 1
        elif kind == 2:
            groups.append(SubType(ArrayType(FieldType(prev, mutable=True))))
            count += 1
        elif kind == 3:
            groups.append(SubType(FuncType([I32, RefType(EQ), prev, F64], [RefType(FUNC)])))
            count += 1
        else:
            size = min(3, n - count)
            members = [SubType(StructType([FieldType(I32), FieldType(prev),
                                           FieldType(RefType(count + (j + 1) % size),
                                                     mutable=True)]))
                       for j in range(size)]
            groups.append(RecGroup(members))
            count += size
        k += 1
    return groups


# The clock every measurement reads; --clock cpu switches to this process's CPU time, which
# leaves out the time spent descheduled on a shared, loaded machine.
_now = time.perf_counter


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = _now()
        fn()
        times.append(_now() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall: perf_counter (default); cpu: process_time")
    args = ap.parse_args()
    global _now
    _now = time.perf_counter if args.clock == "wall" else time.process_time
    groups = module_of(1000)
    probe = TypeRegistry()
    with probe.register_module(groups) as c:
        # Every module type is its own engine type, plus one shared trampoline type.
        assert len(set(c.shared_types)) == 1000, len(set(c.shared_types))
    results: dict[str, float] = {}

    def fresh():
        reg = TypeRegistry()
        t0 = _now()
        c = reg.register_module(groups)
        dt = _now() - t0
        c.close()
        return dt

    results["register 1,000 types"] = statistics.median(fresh() for _ in range(args.repeats))

    reg = TypeRegistry()
    keep = reg.register_module(groups)
    results["re-register identical module (hits)"] = median_time(
        lambda: reg.register_module(groups).close(), args.repeats)
    wasm = encode_module(groups)

    def fresh_wasm():
        reg = TypeRegistry()
        t0 = _now()
        c = reg.register_wasm(wasm)
        dt = _now() - t0
        c.close()
        return dt

    results["register 1,000 types from bytes"] = statistics.median(
        fresh_wasm() for _ in range(args.repeats))
    results["re-register from bytes (hits)"] = median_time(
        lambda: reg.register_wasm(wasm).close(), args.repeats)
    results["unregister 1,000 types (close)"] = statistics.median(
        _close_time(groups) for _ in range(args.repeats))

    # A deep pair: the last struct of a chain against its root.
    shared = keep.shared_types
    sub = max(shared, key=lambda i: len(reg.get(i).composite.fields)
              if isinstance(reg.get(i).composite, StructType) else 0)
    root = sub
    while reg.get(root).supertype is not None:
        root = reg.get(root).supertype
    assert reg.is_subtype(sub, root)
    n = 1_000_000
    is_sub = reg.is_subtype

    def py_loop():
        for _ in range(n):
            is_sub(sub, root)

    def empty_loop():
        for _ in range(n):
            pass

    results["is_subtype (Python)"] = (median_time(py_loop, 5) - median_time(empty_loop, 5)) / n
    n_c = 50_000_000
    bench = reg._bench_c_is_subtype
    assert bench(sub, root, 10) == 10
    results["is_subtype (C)"] = median_time(lambda: bench(sub, root, n_c), 5) / n_c
    keep.close()

    print(f"{'operation':<40} {'median':>12} {'budget':>12}   ({args.clock} clock)")
    for name, value in results.items():
        unit, scale = ("ns", 1e9) if value < 1e-6 else ("ms", 1e3)
        budget = BUDGETS.get(name)
        btxt = f"{budget * scale:.1f} {unit}" if budget else "-"
        flag = "" if budget is None else ("  ok" if value <= budget else "  OVER")
        print(f"{name:<40} {value * scale:>9.2f} {unit} {btxt:>12}{flag}")


def _close_time(groups) -> float:
    reg = TypeRegistry()
    c = reg.register_module(groups)
    t0 = _now()
    c.close()
    return _now() - t0


if __name__ == "__main__":
    main()
