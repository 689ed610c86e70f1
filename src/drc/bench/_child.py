"""One repetition of one (workload, driver) pair, in a fresh process started by the harness.

``python -m drc.bench._child DRIVER WORKLOAD SIZE WASM_DIR [DRIVER_DIR]`` prints one JSON
object: ``seconds`` (the workload only), ``checksum``, ``peak_rss_bytes`` (where the system
tells it: :func:`peak_rss`) and driver extras.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from drc.bench.workloads import REGISTRY_CHAIN, WORKLOADS, run_cpython


def peak_rss() -> int | None:
    """This process's own peak resident set (Linux ``VmHWM``), or None elsewhere.

    Not ``getrusage``: on Linux a child's ``ru_maxrss`` starts at its parent's resident set
    at fork time (the kernel carries the old address space's high-water mark across exec),
    so every child would report at least the harness's own size.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def run_wasmtime(workload: str, size: int, wasm_dir: Path,
                 target: str | None = None) -> tuple[float, int]:
    """One workload in Wasmtime; ``target="pulley64"`` runs it in the Pulley interpreter."""
    import wasmtime  # type: ignore[import-not-found, import-untyped, unused-ignore]

    # A default Config: GC is on and its collector is DRC, which is the point of the peer.
    config = wasmtime.Config()
    if target is not None:
        config.target = target
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)

    def load(name: str) -> Any:
        module = wasmtime.Module(engine, (wasm_dir / f"{name}.wasm").read_bytes())
        return wasmtime.Instance(store, module, []).exports(store)

    if workload == "registry":
        types = (wasm_dir / "registry_types.wasm").read_bytes()
        checks = load("registry_checks")["subtype_checks"]
        total = 0
        start = time.perf_counter()
        for _ in range(size):
            # Compiling registers the module's rec group; the second one hash-conses onto the first.
            first = wasmtime.Module(engine, types)
            again = wasmtime.Module(engine, types)
            del first, again
            # Wasmtime has no API that counts a module's types: count the chain per compile.
            total += 2 * REGISTRY_CHAIN
        total += checks(store, size)
        return time.perf_counter() - start, total
    exports = load("workloads")
    rounds = WORKLOADS[workload].rounds
    name = workload.replace("-", "_")
    func = exports[name]
    args = (size,) if workload == "binary-trees" else (size, rounds)
    start = time.perf_counter()
    result = func(store, *args)
    return time.perf_counter() - start, int(result)


def run_wasmgc(workload: str, size: int, wasm_dir: Path) -> tuple[float, int, dict[str, Any]]:
    import wasmgc  # type: ignore[import-not-found, unused-ignore]

    engine = wasmgc.Engine()
    module = wasmgc.Module(engine, (wasm_dir / "workloads.wasm").read_bytes())
    inst = module.instantiate()
    rounds = WORKLOADS[workload].rounds
    args = [size] if workload == "binary-trees" else [size, rounds]
    start = time.perf_counter()
    (result,) = inst.invoke(workload.replace("-", "_"), args)
    seconds = time.perf_counter() - start
    stats = engine.heap.stats()
    # The capacity never shrinks: at the end it is the peak.
    return seconds, int(result), {"collections": stats["collections"],
                                  "peak_heap_bytes": stats["capacity"]}


def run_drc_c(workload: str, size: int, driver_dir: Path) -> tuple[float, int, dict[str, Any]]:
    sys.path.insert(0, str(driver_dir))
    import drc_driver  # type: ignore[import-not-found]

    seconds, checksum, extras = drc_driver.run(workload, size)
    return seconds, checksum, dict(extras)


def main(argv: list[str]) -> int:
    driver, workload, size_text, wasm_dir = argv[:4]
    size = int(size_text)
    extras: dict[str, Any] = {}
    if driver == "cpython":
        seconds, checksum = run_cpython(workload, size)
    elif driver == "wasmtime":
        seconds, checksum = run_wasmtime(workload, size, Path(wasm_dir))
    elif driver == "wasmtime-pulley":
        seconds, checksum = run_wasmtime(workload, size, Path(wasm_dir), target="pulley64")
    elif driver == "wasmgc":
        seconds, checksum, extras = run_wasmgc(workload, size, Path(wasm_dir))
    elif driver == "drc-python":
        from drc.bench.drivers import run

        seconds, checksum, extras = run(workload, size)
    elif driver == "drc-c":
        seconds, checksum, extras = run_drc_c(workload, size, Path(argv[4]))
    else:
        print(f"unknown driver {driver!r}", file=sys.stderr)
        return 2
    rss = peak_rss()
    if rss is not None:
        extras["peak_rss_bytes"] = rss
    print(json.dumps({"seconds": seconds, "checksum": checksum, **extras}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
