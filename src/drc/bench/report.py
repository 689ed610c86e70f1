"""Tables, JSON and the plot for ``python -m drc bench``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drc.bench.harness import DRC_DRIVERS, LABELS, SHORT


def _num(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
    return "-" if value is None else f"{value / scale:.{digits}f}"


def result_rows(records: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The results table; the note column appears only when a run failed."""
    failed = any(r["status"] == "failed" for r in records)
    rows = []
    for r in records:
        if r["status"] == "skipped":
            continue
        spread = (f"{r['seconds_min']:.3f}-{r['seconds_max']:.3f}"
                  if r["seconds_min"] is not None else "-")
        row = [r["workload"], r["label"], f"{r['size']:,}", f"{r['objects']:,}",
               _num(r["seconds_median"], 1, 3), spread,
               _num(r["objects_per_second"], 1e6), _num(r["peak_rss_bytes"], 2**20, 0),
               _num(r.get("peak_heap_bytes"), 2**20, 1)]
        if failed:
            row.append("" if r["status"] == "ok"
                       else f"FAILED: {r['reason'].splitlines()[0]}")
        rows.append(row)
    return HEADERS + (["note"] if failed else []), rows


HEADERS = ["workload", "driver / peer", "size", "objects", "median s", "min-max s", "M obj/s",
           "peak RSS MiB", "peak heap MiB"]


def skip_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    """What did not run and why, one row per reason (drivers sharing a reason share a row)."""
    reasons: dict[str, list[str]] = {}
    for r in records:
        if r["status"] == "skipped":
            lines = r["reason"].strip().splitlines()
            # Build failures carry a log tail; the table shows its first and last lines.
            reason = lines[0] if len(lines) < 3 else f"{lines[0]} ... {lines[-2].strip()}"
            labels = reasons.setdefault(reason, [])
            if r["label"] not in labels:
                labels.append(r["label"])
    return [["; ".join(labels), reason] for reason, labels in reasons.items()]


def _ratio_text(x: dict[str, Any]) -> str:
    if x["pairs"] > 1:
        return f"{x['ratio']:.2f}x ({x['ratio_min']:.2f}-{x['ratio_max']:.2f})"
    return f"{x['ratio']:.2f}x"


def ratio_table(records: list[dict[str, Any]],
                ratios: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """One row per (workload, size, drc driver), one column per peer that ran."""
    peers = [p for p in dict.fromkeys(r["driver"] for r in records)
             if p not in DRC_DRIVERS and any(x["peer"] == p for x in ratios)]
    keys = list(dict.fromkeys((x["workload"], x["size"], x["driver"]) for x in ratios))
    several = {w for w, _, _ in keys if len({s for ww, s, _ in keys if ww == w}) > 1}
    rows = []
    for workload, size, driver in keys:
        name = f"{workload} ({size:,})" if workload in several else workload
        row = [name, LABELS[driver]]
        for peer in peers:
            hit = next((x for x in ratios if x["workload"] == workload and x["size"] == size
                        and x["driver"] == driver and x["peer"] == peer), None)
            row.append("-" if hit is None else _ratio_text(hit))
        rows.append(row)
    return ["workload", "drc driver", *(SHORT[p] for p in peers)], rows


def budget_rows(budgets: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for b in budgets:
        need, got = b["need"], b["measured"]
        if b["kind"] == "rate":
            need_text = "no regression" if need is None else f">= {need / 1e6:.0f} M/s"
            got_text = "-" if got is None else f"{got / 1e6:.2f} M/s"
        elif b["kind"] == "bytes":
            need_text = f"<= {need}"
            got_text = "-" if got is None else f"{got:.1f}"
        else:
            need_text = f">= {need:g}x"
            got_text = "-" if got is None else f"{got:.2f}x"
            if got is not None and b.get("low") is not None and b["low"] != b["high"]:
                got_text += f" ({b['low']:.2f}-{b['high']:.2f})"
        verdict = {True: "met", False: "MISSED", None: ""}[b["met"]]
        note = b.get("note") or ""
        verdict = f"{verdict}: {note}" if verdict and note else (verdict or note)
        rows.append([b["budget"], need_text, got_text, verdict])
    return rows


POLICY_HEADERS = ["size", "rule", "runs", "median CPU s", "min-max CPU s", "collections",
                  "capacity KiB", "median s in collections"]
POLICY_TITLE = ("guest-churn: what each growth rule did, over every timed run of every "
                "repetition (CPU time of the run; time in collections by the wall clock)")


def _span(values: list[float], fmt: str) -> str:
    low, high = min(values), max(values)
    return format(low, fmt) if low == high else f"{format(low, fmt)}-{format(high, fmt)}"


def policy_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    """Per guest-churn size and rule: its runs' times beside the work they did, so a slow
    repetition can be told apart from one in which a rule collected or grew more."""
    rows = []
    for r in records:
        if r["workload"] != "guest-churn" or not r.get("policy_runs_all"):
            continue
        for rule in ("adaptive", "wasmtime"):
            runs = [run for rep in r["policy_runs_all"] if rep for run in rep.get(rule, ())]
            if not runs:
                continue
            seconds = sorted(run["seconds"] for run in runs)
            in_gc = sorted(run["gc_seconds"] for run in runs)
            rows.append([f"{r['size']:,}", rule, str(len(runs)),
                         f"{seconds[len(seconds) // 2]:.4f}", _span(seconds, ".4f"),
                         _span([run["collections"] for run in runs], "d"),
                         _span([run["capacity"] // 1024 for run in runs], "d"),
                         f"{in_gc[len(in_gc) // 2]:.4f}"])
    return rows


RATIO_TITLE = ("Ratios: drc objects/s over the peer's (> 1: drc is faster); in brackets the "
               "lowest and highest per-repetition ratio")
BUDGET_TITLE = "Budgets, measured in this run (a verdict only where the spread allows one)"


def quick_note(meta: dict[str, Any]) -> str | None:
    if not meta.get("quick"):
        return None
    return ("A quick run is indicative: smaller sizes than the budgets are set at and few "
            "repetitions, so it gives no verdicts. Run without --quick for those.")


def print_tables(records, ratios, budgets, meta, console=None) -> None:  # type: ignore[no-untyped-def]
    """Readable tables (rich when available, plain text otherwise)."""
    ratio_headers, ratio_rows = ratio_table(records, ratios)
    result_headers, results = result_rows(records)
    sections = [
        ("Results (time of the workload only; medians of fresh processes)", result_headers,
         results),
        ("Skipped", ["driver / peer", "why"], skip_rows(records)),
        (RATIO_TITLE, ratio_headers, ratio_rows),
        (POLICY_TITLE, POLICY_HEADERS, policy_rows(records)),
        (BUDGET_TITLE, ["budget", "need", "measured", "verdict"], budget_rows(budgets)),
    ]
    machine = (f"{meta.get('cpu', '?')}, {meta.get('cpus', '?')} CPUs, "
               f"{meta.get('memory_bytes', 0) / 2**30:.0f} GiB; {meta.get('python', '')}; "
               f"drc {meta.get('drc', '?')} ({'zeal' if meta.get('drc_zeal') else 'release'}); "
               f"{meta.get('repeat')} repetitions, {meta.get('seconds_total', 0):.0f} s in all")
    note = quick_note(meta)
    try:
        from rich.console import Console  # type: ignore[import-not-found, import-untyped, unused-ignore]
        from rich.table import Table  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        print(machine)
        for title, headers, rows in sections:
            if rows:
                _plain(title, headers, rows)
        if note:
            print(f"\n{note}")
        return
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)
    console.print(machine, highlight=False)
    left = {"workload", "driver / peer", "why", "budget", "verdict", "drc driver", "note", "rule"}
    for title, headers, rows in sections:
        if not rows:
            continue
        table = Table(title=title, title_justify="left")
        for h in headers:
            table.add_column(h, justify="left" if h in left else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    if note:
        console.print(f"[bold]{note}[/bold]", highlight=False)


def _plain(title: str, headers: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    for row in [headers, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def markdown(records, ratios, budgets, meta) -> str:  # type: ignore[no-untyped-def]
    """The same tables as Markdown, for docs/benchmarks.md."""
    ratio_headers, ratio_body = ratio_table(records, ratios)
    result_headers, results = result_rows(records)
    parts = []
    note = quick_note(meta)
    if note:
        parts += [f"*{note}*", ""]
    for title, headers, rows in (
            ("Results", result_headers, results),
            ("Skipped", ["driver / peer", "why"], skip_rows(records)),
            ("Ratios (drc objects/s over the peer's; in brackets the lowest and highest "
             "per-repetition ratio)", ratio_headers, ratio_body),
            ("guest-churn: what each growth rule did (every timed run of every repetition)",
             POLICY_HEADERS, policy_rows(records)),
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
    """The comparison (objects/s per workload, log scale), cycle-churn's peak memory, and
    drc's heap over time: one small panel per (drc driver, workload)."""
    try:
        import matplotlib  # type: ignore[import-not-found, import-untyped, unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found, import-untyped, unused-ignore]
        from matplotlib.lines import Line2D  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError as exc:
        raise RuntimeError("--plot needs matplotlib (pip install 'drc-heap[bench]')") from exc
    ok = [r for r in records if r["status"] == "ok"]
    drivers = list(dict.fromkeys(r["driver"] for r in records))
    colors = {d: f"C{i}" for i, d in enumerate(drivers)}
    timelines = [r for r in ok if r["driver"] in DRC_DRIVERS and r.get("timeline")]
    rows = [d for d in DRC_DRIVERS if any(r["driver"] == d for r in timelines)]
    columns = list(dict.fromkeys(r["workload"] for r in timelines))
    cyclic = [r for r in ok if r["workload"] == "cycle-churn"]
    ncols = max(2, len(columns))
    fig = plt.figure(figsize=(4.2 * ncols, 6 + 3.2 * len(rows)), layout="constrained")
    grid = fig.add_gridspec(1 + len(rows), ncols, height_ratios=[2.2] + [1] * len(rows))
    half = ncols // 2 if cyclic else ncols
    _throughput(fig.add_subplot(grid[0, :half]), ok, drivers, colors)
    if cyclic:
        _peak_memory(fig.add_subplot(grid[0, half:]), cyclic, colors)
    for i, driver in enumerate(rows):
        for j, workload in enumerate(columns):
            mine = [r for r in timelines if r["driver"] == driver and r["workload"] == workload]
            ax = fig.add_subplot(grid[1 + i, j])
            if mine:
                _heap_over_time(ax, driver, mine[0])
            else:
                ax.set_visible(False)
    if rows:
        key = [Line2D([], [], color="C0", label="capacity"),
               Line2D([], [], color="C1", linestyle=":", marker=".", label="used bytes"),
               Line2D([], [], color="C3", marker="|", linestyle="none", markersize=10,
                      label="a collection")]
        fig.legend(handles=key, loc="outside lower center", ncol=3, frameon=False,
                   title="drc's heap over time, sampled between units of work")
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _below(ax: Any, ncol: int) -> None:
    """A legend under the axes, where it cannot cover data."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=ncol, fontsize="small",
              frameon=False)


def _throughput(ax: Any, ok: list[dict[str, Any]], drivers: list[str],
                colors: dict[str, str]) -> None:
    # guest-churn compares drc's two growth rules with each other: it has no peer to show here.
    keys = list(dict.fromkeys((r["workload"], r["size"]) for r in ok
                              if r["objects_per_second"] and r["workload"] != "guest-churn"))
    several = {w for w, _ in keys if sum(1 for ww, _ in keys if ww == w) > 1}
    drawn: set[str] = set()
    for i, (workload, size) in enumerate(keys):
        present = [r for d in drivers for r in ok if r["workload"] == workload
                   and r["size"] == size and r["driver"] == d and r["objects_per_second"]]
        width = 0.8 / max(1, len(present))
        for k, r in enumerate(present):
            rate = r["objects_per_second"]
            err = [[rate - r["objects"] / r["seconds_max"]],
                   [r["objects"] / r["seconds_min"] - rate]]
            label = None if r["driver"] in drawn else LABELS[r["driver"]]
            drawn.add(r["driver"])
            ax.bar(i + (k - (len(present) - 1) / 2) * width, rate, width, yerr=err, capsize=2,
                   color=colors[r["driver"]], label=label)
    names = [f"{w}\n{s:,}" if w in several else w for w, s in keys]
    ax.set_xticks(range(len(keys)), names, fontsize="small")
    ax.set_yscale("log")
    ax.set_ylabel("objects (operations) per second")
    ax.set_title("Throughput: median of the repetitions, bars from min to max",
                 fontsize="medium")
    ax.grid(axis="y", which="major", alpha=0.3)
    _below(ax, 3)


def _peak_memory(ax: Any, cyclic: list[dict[str, Any]], colors: dict[str, str]) -> None:
    """Peak RSS of every driver on cycle-churn, and drc's peak heap capacity beside it."""
    names = [LABELS[r["driver"]] for r in cyclic]
    rss = [r["peak_rss_bytes"] / 2**20 for r in cyclic]
    heap = [(k, r["peak_heap_bytes"] / 2**20) for k, r in enumerate(cyclic)
            if r.get("peak_heap_bytes")]
    shift = 0.2 if heap else 0.0
    bars = ax.barh([k - shift for k in range(len(cyclic))], rss, 0.38 if heap else 0.6,
                   color=[colors[r["driver"]] for r in cyclic], label="peak RSS")
    ax.bar_label(bars, fmt="%.0f", padding=3, fontsize="small")
    if heap:
        extra = ax.barh([k + shift for k, _ in heap], [v for _, v in heap], 0.38,
                        color="white", edgecolor="black", hatch="//",
                        label="drc heap capacity at its peak")
        ax.bar_label(extra, fmt="%.0f", padding=3, fontsize="small")
    ax.set_yticks(range(len(cyclic)), names, fontsize="small")
    ax.invert_yaxis()
    ax.margins(x=0.12)
    ax.set_xlabel("MiB")
    size = cyclic[0]["size"]
    ax.set_title(f"cycle-churn (lists of {size:,}): peak memory; garbage cycles are "
                 "freed only by a tracing pass", fontsize="medium")
    _below(ax, 2)


def _heap_over_time(ax: Any, driver: str, r: dict[str, Any]) -> None:
    t = [s["t"] for s in r["timeline"]]
    cap = [(_pick(s, "capacity") or 0) / 2**20 for s in r["timeline"]]
    used = [(_pick(s, "used_bytes") or 0) / 2**20 for s in r["timeline"]]
    gcs = [_pick(s, "collections") or 0 for s in r["timeline"]]
    ax.plot(t, cap, color="C0")
    ax.plot(t, used, color="C1", linestyle=":", marker=".", markersize=3)
    marks = [x for x, a, b in zip(t, gcs, gcs[1:], strict=False) if b > a]
    if marks:
        ax.plot(marks, [0] * len(marks), "|", color="C3", markersize=10, clip_on=False)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("seconds into the workload", fontsize="small")
    ax.set_ylabel("MiB", fontsize="small")
    ax.tick_params(labelsize="small")
    n = int(gcs[-1]) if gcs else 0
    ax.set_title(f"{LABELS[driver]}\n{r['workload']}: {n} collection{'s' * (n != 1)}",
                 fontsize="small")
    ax.grid(alpha=0.3)
