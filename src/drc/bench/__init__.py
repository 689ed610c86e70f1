"""``python -m drc bench``: drc against the systems it replaces, in one run on this machine.

Workloads (``workloads.py``) run in the drc drivers (the Python API, a downstream Cython module
that cimports drc, and the reference Wasm interpreter when it is installed) and in the peers:
CPython ``__slots__`` objects, Wasmtime (compiled and Pulley-interpreted) and V8 on the same
Wasm GC binaries, and binary-trees in C (malloc/free and an arena). See ``docs/benchmarks.md``
for the method.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from drc.bench.harness import DRIVER_ORDER
from drc.bench.workloads import WORKLOADS

__all__ = ["add_parser", "main"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", help="benchmark drc against CPython, Wasmtime, V8 and C",
        description="Run the benchmark workloads in every driver and peer, in fresh interleaved "
                    "processes, and print medians, min-max and ratios.")
    p.add_argument("--quick", action="store_true",
                   help="small sizes and 3 repetitions (about a minute): indicative, no "
                        "verdicts on the budgets")
    p.add_argument("--depth", type=int, default=None,
                   help="binary-trees maximum depth (default 16; 12 with --quick)")
    p.add_argument("--size", action="append", default=[], metavar="WORKLOAD=N[,N...]",
                   help="sizes of another workload, e.g. list-churn=50000 (repeatable)")
    p.add_argument("--repeat", type=int, default=None,
                   help="repetitions of each pair (default 5; 3 with --quick)")
    p.add_argument("--workload", action="append", choices=list(WORKLOADS), default=None,
                   help="run only this workload (repeatable)")
    p.add_argument("--only", action="append", choices=list(DRIVER_ORDER), default=None,
                   metavar="DRIVER", help="run only this driver or peer (repeatable): "
                   + ", ".join(DRIVER_ORDER))
    p.add_argument("--json", type=Path, default=None, metavar="FILE",
                   help="write one record per (workload, driver) to FILE")
    p.add_argument("--plot", type=Path, default=None, metavar="FILE.png",
                   help="draw the comparison and drc's heap over time (needs matplotlib)")
    p.add_argument("--markdown", type=Path, default=None, metavar="FILE.md",
                   help="also write the tables as Markdown (for docs/benchmarks.md)")
    p.add_argument("--from-json", type=Path, default=None, metavar="FILE",
                   help="run nothing: report (tables, --markdown, --plot) the results a "
                        "previous --json wrote")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="where the C-level driver is built (default ~/.cache/drc/bench)")
    p.set_defaults(func=main)


def _sizes(args: argparse.Namespace, parser_error) -> dict[str, tuple[int, ...]]:  # type: ignore[no-untyped-def]
    sizes = {name: w.sizes(quick=args.quick) for name, w in WORKLOADS.items()}
    if args.depth is not None:
        sizes["binary-trees"] = (args.depth,)
    for item in args.size:
        name, _, value = item.partition("=")
        values = value.split(",")
        if name not in WORKLOADS or not all(v.isdigit() for v in values):
            parser_error(f"--size wants WORKLOAD=N[,N...] with WORKLOAD in "
                         f"{', '.join(WORKLOADS)}")
        sizes[name] = tuple(sorted({int(v) for v in values}))
    if not all(1 <= d <= 24 for d in sizes["binary-trees"]):
        parser_error("--depth must be between 1 and 24")
    for name, values in sizes.items():
        if min(values) < 1:
            parser_error(f"the size of {name} must be positive")
    return sizes


def main(args: argparse.Namespace) -> int:
    from drc.bench import harness, report

    def error(message: str) -> None:
        print(f"python -m drc bench: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    sizes = _sizes(args, error)
    repeat = args.repeat if args.repeat is not None else (3 if args.quick else 5)
    if repeat < 1:
        error("--repeat must be at least 1")
    workloads = list(dict.fromkeys(args.workload or WORKLOADS))
    names = [d for d in DRIVER_ORDER if args.only is None or d in args.only]
    # Refuse what would only fail after a long run.
    for path in (args.json, args.plot, args.markdown):
        if path is not None and not path.resolve().parent.is_dir():
            error(f"{path}: the directory {path.resolve().parent} does not exist")
    if args.plot is not None:
        try:
            import matplotlib  # type: ignore[import-not-found, import-untyped, unused-ignore]  # noqa: F401
        except ImportError:
            error("--plot needs matplotlib (pip install 'drc-heap[bench]')")
    if args.from_json is not None:
        return _report_saved(args, error)
    meta = harness.machine()
    meta.update(sizes={k: list(v) for k, v in sizes.items()}, repeat=repeat,
                quick=bool(args.quick))
    if meta.get("drc_zeal"):
        print("warning: this is the gc_zeal build; its checks make drc much slower. Benchmark a "
              "release build.", file=sys.stderr)
    cache = args.cache_dir or harness.cache_dir()

    progress = _Progress()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="drc-bench-") as tmp:
        ready, skipped = harness.prepare(names, Path(tmp), cache, progress.note)
        plan = harness.schedule(ready, workloads, sizes, repeat)
        runs = []
        with progress.bar(len(plan)) as advance:
            for prepared, workload, size, rep in plan:
                advance(f"{workload} / {harness.LABELS[prepared.name]}")
                runs.append(harness.run_once(prepared, workload, size, rep))
    meta["seconds_total"] = time.perf_counter() - started
    records = harness.summarize(runs, skipped, workloads, sizes, names, ready)
    ratios = harness.ratios(records, workloads)
    budgets = harness.budgets(records, ratios, quick=bool(args.quick))
    report.print_tables(records, ratios, budgets, meta)
    if args.json:
        report.write_json(args.json, records, ratios, budgets, meta)
        print(f"wrote {args.json}")
    if args.markdown:
        args.markdown.write_text(report.markdown(records, ratios, budgets, meta))
        print(f"wrote {args.markdown}")
    if args.plot:
        report.plot(args.plot, records)
        print(f"wrote {args.plot}")
    failed = [r for r in records if r["status"] == "failed"]
    for r in failed:
        print(f"FAILED {r['workload']} / {r['label']}: {r['reason']}", file=sys.stderr)
    return 1 if failed else 0


def _report_saved(args: argparse.Namespace, error) -> int:  # type: ignore[no-untyped-def]
    """Tables, Markdown and plot from a saved run, with today's ratio and budget rules."""
    import json

    from drc.bench import harness, report

    try:
        data = json.loads(args.from_json.read_text())
        records, meta = data["records"], data["machine"]
    except (OSError, ValueError, KeyError) as exc:
        error(f"{args.from_json}: not a saved run ({exc})")
    workloads = list(dict.fromkeys(r["workload"] for r in records))
    ratios = harness.ratios(records, workloads)
    budgets = harness.budgets(records, ratios, quick=bool(meta.get("quick")))
    report.print_tables(records, ratios, budgets, meta)
    if args.markdown:
        args.markdown.write_text(report.markdown(records, ratios, budgets, meta))
        print(f"wrote {args.markdown}")
    if args.plot:
        report.plot(args.plot, records)
        print(f"wrote {args.plot}")
    return 0


class _Progress:
    """A rich progress bar on a terminal; short plain lines otherwise (logs stay readable)."""

    def __init__(self) -> None:
        self.console: Any = None
        try:
            from rich.console import Console  # type: ignore[import-not-found, import-untyped, unused-ignore]

            self.console = Console(stderr=True)
            self.live = self.console.is_terminal
        except ImportError:
            self.console = None
            self.live = False

    def note(self, text: str) -> None:
        if self.console is not None and self.live:
            # A status line, not a log record: no timestamp, no source location.
            self.console.print(f"[dim]{text}[/dim]", highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)

    def bar(self, total: int):  # type: ignore[no-untyped-def]
        from contextlib import contextmanager

        @contextmanager
        def plain():  # type: ignore[no-untyped-def]
            count = [0]

            def advance(what: str) -> None:
                count[0] += 1
                print(f"[{count[0]}/{total}] {what}", file=sys.stderr, flush=True)

            yield advance

        if not self.live:
            return plain()
        from rich.progress import (  # type: ignore[import-not-found, import-untyped, unused-ignore]
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        @contextmanager
        def rich_bar():  # type: ignore[no-untyped-def]
            columns = (TextColumn("{task.description:<48}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn())
            with Progress(*columns, console=self.console, transient=True) as bar:
                task = bar.add_task("starting", total=total)
                first = [True]

                def advance(what: str) -> None:
                    if not first[0]:
                        bar.advance(task)
                    first[0] = False
                    bar.update(task, description=what)

                yield advance
                bar.advance(task)

        return rich_bar()
