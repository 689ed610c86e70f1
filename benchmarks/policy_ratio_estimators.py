"""How often would each way of reducing guest-churn's runs to one ratio miss the budget?

Reads the JSON of a guest-churn run of the benchmark, e.g.

    python -m drc bench --workload guest-churn --only drc-c --repeat 30 --json churn.json
    python benchmarks/policy_ratio_estimators.py churn.json

and, per size, applies four estimators to the same timed runs of every repetition: the
former one (the ratio of each rule's median over its first 5 runs), the median of the first 5
pairs' ratios, the ratio of the medians over all runs, and the one the benchmark reports (the
median of all pairs' ratios). It also prints the spread of the work each rule did, which says
whether a low ratio came from the machine or from the rule.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

Runs = dict[str, list[dict[str, Any]]]
BUDGET = 1.05


def _seconds(runs: Runs, rule: str, n: int | None = None) -> list[float]:
    return [r["seconds"] for r in runs[rule][:n]]


def medians_of_first_five(runs: Runs) -> float:
    return statistics.median(_seconds(runs, "wasmtime", 5)) / statistics.median(
        _seconds(runs, "adaptive", 5))


def pairs_of_first_five(runs: Runs) -> float:
    return statistics.median(w / a for a, w in zip(_seconds(runs, "adaptive", 5),
                                                   _seconds(runs, "wasmtime", 5), strict=True))


def medians_of_all(runs: Runs) -> float:
    return statistics.median(_seconds(runs, "wasmtime")) / statistics.median(
        _seconds(runs, "adaptive"))


def pairs_of_all(runs: Runs) -> float:
    return statistics.median(w / a for a, w in zip(_seconds(runs, "adaptive"),
                                                   _seconds(runs, "wasmtime"), strict=True))


ESTIMATORS: list[tuple[str, Callable[[Runs], float]]] = [
    ("5 runs per rule, ratio of the medians (before)", medians_of_first_five),
    ("5 pairs, median of the pairs' ratios", pairs_of_first_five),
    ("all runs, ratio of the medians", medians_of_all),
    ("all pairs, median of the pairs' ratios (reported)", pairs_of_all),
]


def _span(values: list[int]) -> str:
    return f"{min(values)}" if min(values) == max(values) else f"{min(values)}-{max(values)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path, help="the --json file of a guest-churn run")
    args = parser.parse_args(argv)
    records = [r for r in json.loads(args.json.read_text())["records"]
               if r["workload"] == "guest-churn" and r.get("policy_runs_all")]
    if not records:
        parser.error(f"{args.json} has no guest-churn runs with per-run records")
    for r in records:
        repetitions: list[Runs] = r["policy_runs_all"]
        print(f"guest-churn {r['size']:,}: {len(repetitions)} repetitions, "
              f"{len(repetitions[0]['adaptive'])} pairs each")
        for name, estimate in ESTIMATORS:
            values = [estimate(runs) for runs in repetitions]
            below = sum(v < BUDGET for v in values)
            print(f"  {name:52s} below {BUDGET}x in {below:2d} of {len(values)}; "
                  f"{min(values):.2f}-{max(values):.2f}, median {statistics.median(values):.2f}")
        for rule in ("adaptive", "wasmtime"):
            runs = [run for rep in repetitions for run in rep[rule]]
            print(f"  {rule:9s} collections {_span([x['collections'] for x in runs])}, "
                  f"capacity {_span([x['capacity'] // 1024 for x in runs])} KiB, CPU s "
                  f"{min(x['seconds'] for x in runs):.4f}-{max(x['seconds'] for x in runs):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
