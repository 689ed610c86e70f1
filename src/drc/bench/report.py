"""Tables, JSON and the plot for ``python -m drc bench``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drc.bench.harness import DRC_DRIVERS, LABELS


def _num(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
    return "-" if value is None else f"{value / scale:.{digits}f}"


def result_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in records:
        if r["status"] == "skipped":
            continue
        spread = (f"{r['seconds_min']:.3f}-{r['seconds_max']:.3f}"
                  if r["seconds_min"] is not None else "-")
        note = "" if r["status"] == "ok" else f"FAILED: {r['reason'].splitlines()[0]}"
        rows.append([r["workload"], r["label"], str(r["size"]), f"{r['objects']:,}",
                     _num(r["seconds_median"], 1, 3), spread,
                     _num(r["objects_per_second"], 1e6), _num(r["peak_rss_bytes"], 2**20, 0),
                     note])
    return rows


HEADERS = ["workload", "driver / peer", "size", "objects", "median s", "min-max s", "M obj/s",
           "peak RSS MiB", ""]


def skip_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    """Skipped drivers once each (a peer that only implements some workloads says so once)."""
    seen: dict[str, list[str]] = {}
    for r in records:
        if r["status"] == "skipped":
            seen.setdefault(r["label"], [])
            lines = r["reason"].strip().splitlines()
            # Build failures carry a log tail; the table shows its first and last lines.
            reason = lines[0] if len(lines) < 3 else f"{lines[0]} ... {lines[-2].strip()}"
            if reason not in seen[r["label"]]:
                seen[r["label"]].append(reason)
    return [[label, "; ".join(reasons)] for label, reasons in seen.items()]


def ratio_table(records: list[dict[str, Any]],
                ratios: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """One row per (workload, drc driver), one column per peer that ran."""
    peers = [p for p in dict.fromkeys(r["driver"] for r in records)
             if p not in DRC_DRIVERS and any(x["peer"] == p for x in ratios)]
    keys = list(dict.fromkeys((x["workload"], x["driver"]) for x in ratios))
    rows = []
    for workload, driver in keys:
        row = [workload, LABELS[driver]]
        for peer in peers:
            hit = next((x["ratio"] for x in ratios if x["workload"] == workload
                        and x["driver"] == driver and x["peer"] == peer), None)
            row.append("-" if hit is None else f"{hit:.2f}x")
        rows.append(row)
    return ["workload", "drc driver", *(LABELS[p] for p in peers)], rows


def budget_rows(budgets: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for b in budgets:
        need, got = b["need"], b["measured"]
        if b["kind"] == "rate":
            need_text = f">= {need / 1e6:.0f} M/s"
            got_text = "-" if got is None else f"{got / 1e6:.1f} M/s"
        elif b["kind"] == "bytes":
            need_text = f"<= {need}"
            got_text = "-" if got is None else f"{got:.1f}"
        else:
            need_text = "(floor)" if need == 0 else f">= {need:g}x"
            got_text = "-" if got is None else f"{got:.2f}x"
        verdict = {True: "met", False: "MISSED", None: b.get("note", "")}[b["met"]]
        if need == 0 and b["met"] is not None:
            verdict = "reported"
        rows.append([b["budget"], need_text, got_text, verdict])
    return rows


def print_tables(records, ratios, budgets, meta, console=None) -> None:  # type: ignore[no-untyped-def]
    """Readable tables (rich when available, plain text otherwise)."""
    ratio_headers, ratio_rows = ratio_table(records, ratios)
    sections = [
        ("Results (time of the workload only; medians of fresh processes)", HEADERS,
         result_rows(records)),
        ("Skipped", ["driver / peer", "why"], skip_rows(records)),
        ("Ratios: drc objects/s over the peer's (> 1: drc is faster)", ratio_headers,
         ratio_rows),
        ("Budgets, measured in this run", ["budget", "need", "measured", "verdict"],
         budget_rows(budgets)),
    ]
    machine = (f"{meta.get('cpu', '?')}, {meta.get('cpus', '?')} CPUs, "
               f"{meta.get('memory_bytes', 0) / 2**30:.0f} GiB; {meta.get('python', '')}; "
               f"drc {meta.get('drc', '?')} ({'zeal' if meta.get('drc_zeal') else 'release'}); "
               f"{meta.get('repeat')} repetitions, {meta.get('seconds_total', 0):.0f} s in all")
    try:
        from rich.console import Console  # type: ignore[import-not-found, import-untyped, unused-ignore]
        from rich.table import Table  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        print(machine)
        for title, headers, rows in sections:
            if rows:
                _plain(title, headers, rows)
        return
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)
    console.print(machine)
    for title, headers, rows in sections:
        if not rows:
            continue
        table = Table(title=title, title_justify="left")
        for h in headers:
            table.add_column(h, justify="left" if h in ("workload", "driver / peer", "why",
                                                        "budget", "verdict", "drc driver", "")
                             else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)


def _plain(title: str, headers: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    for row in [headers, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def markdown(records, ratios, budgets, meta) -> str:  # type: ignore[no-untyped-def]
    """The same tables as Markdown, for docs/benchmarks.md."""
    ratio_headers, ratio_body = ratio_table(records, ratios)
    parts = []
    for title, headers, rows in (
            ("Results", HEADERS[:-1] + ["note"], result_rows(records)),
            ("Skipped", ["driver / peer", "why"], skip_rows(records)),
            ("Ratios (drc objects/s over the peer's)", ratio_headers, ratio_body),
            ("Budgets", ["budget", "need", "measured", "verdict"], budget_rows(budgets))):
        if not rows:
            continue
        parts.append(f"**{title}**\n")
        parts.append("| " + " | ".join(headers) + " |")
        parts.append("|" + "---|" * len(headers))
        for row in rows:
            parts.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        parts.append("")
    return "\n".join(parts)


def write_json(path: Path, records, ratios, budgets, meta) -> None:  # type: ignore[no-untyped-def]
    data = {"machine": meta, "records": records, "ratios": ratios, "budgets": budgets}
    path.write_text(json.dumps(data, indent=1) + "\n")


def _pick(sample: dict[str, Any], *names: str) -> float | None:
    for name in names:
        if name in sample:
            return float(sample[name])
    return None


def plot(path: Path, records: list[dict[str, Any]]) -> None:
    """The comparison (objects/s per workload, log scale) and drc's heap over time."""
    try:
        import matplotlib  # type: ignore[import-not-found, import-untyped, unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError as exc:
        raise RuntimeError("--plot needs matplotlib (pip install 'drc[bench]')") from exc
    ok = [r for r in records if r["status"] == "ok"]
    workloads = list(dict.fromkeys(r["workload"] for r in records))
    drivers = list(dict.fromkeys(r["driver"] for r in records))
    timelines = [r for r in ok if r["driver"] in DRC_DRIVERS and r.get("timeline")]
    with_timeline = [d for d in DRC_DRIVERS if any(r["driver"] == d for r in timelines)]
    fig = plt.figure(figsize=(15 if with_timeline else 8, 6))
    grid = fig.add_gridspec(max(1, len(with_timeline)), 2 if with_timeline else 1,
                            width_ratios=[1.3, 1] if with_timeline else [1])
    ax = fig.add_subplot(grid[:, 0])
    colors = {d: f"C{i}" for i, d in enumerate(drivers)}
    drawn: set[str] = set()
    for i, workload in enumerate(workloads):
        present = [r for d in drivers for r in ok
                   if r["workload"] == workload and r["driver"] == d and r["objects_per_second"]]
        width = 0.8 / max(1, len(present))
        for k, r in enumerate(present):
            rate = r["objects_per_second"]
            err = [[rate - r["objects"] / r["seconds_max"]],
                   [r["objects"] / r["seconds_min"] - rate]]
            label = None if r["driver"] in drawn else LABELS[r["driver"]]
            drawn.add(r["driver"])
            ax.bar(i + (k - (len(present) - 1) / 2) * width, rate, width, yerr=err, capsize=2,
                   color=colors[r["driver"]], label=label)
    ax.set_yscale("log")
    ax.set_xticks(range(len(workloads)), workloads)
    ax.set_ylabel("objects (operations) per second, median; bars: min-max")
    ax.set_title("Throughput, same workload in each driver and peer")
    ax.legend(fontsize="small")
    for row, driver in enumerate(with_timeline):
        tax = fig.add_subplot(grid[row, 1])
        collected = False
        for k, r in enumerate(r for r in timelines if r["driver"] == driver):
            t = [s["t"] for s in r["timeline"]]
            cap = [_pick(s, "capacity", "capacity_bytes") for s in r["timeline"]]
            used = [_pick(s, "used_bytes", "used", "live_bytes") for s in r["timeline"]]
            gcs = [_pick(s, "collections", "gc_count") or 0 for s in r["timeline"]]
            color = f"C{k}"
            tax.plot(t, [v / 2**20 if v is not None else float("nan") for v in cap],
                     color=color, label=f"{r['workload']}: capacity")
            tax.plot(t, [v / 2**20 if v is not None else float("nan") for v in used],
                     color=color, linestyle=":", label=f"{r['workload']}: used")
            marks = [x for x, a, b in zip(t, gcs, gcs[1:], strict=False) if b > a]
            if marks:
                collected = True
                tax.plot(marks, [0] * len(marks), "|", color=color, markersize=12,
                         label=f"{r['workload']}: collections")
        tax.set_xscale("symlog", linthresh=0.1)
        tax.set_ylabel("MiB")
        tax.set_title(f"{LABELS[driver]}: heap over time"
                      + ("" if collected else " (no collection ran)"), fontsize="medium")
        tax.legend(fontsize="x-small", ncol=2)
    if with_timeline:
        tax.set_xlabel("seconds into the run (linear below 0.1 s, log above)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
