"""The WAT modules compile, and give the Python reference's results in Wasmtime and V8."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from drc.bench import harness
from drc.bench import workloads as W

wasmtime = pytest.importorskip("wasmtime")


@pytest.fixture(scope="module")
def wasm_dir(tmp_path_factory):
    return harness.compile_wasm(harness.assets_dir(), tmp_path_factory.mktemp("wasm"))


@pytest.fixture(scope="module")
def instances(wasm_dir):
    engine = wasmtime.Engine(wasmtime.Config())
    store = wasmtime.Store(engine)
    out = {}
    for name in ("workloads", "registry_checks"):
        module = wasmtime.Module(engine, (wasm_dir / f"{name}.wasm").read_bytes())
        out[name] = wasmtime.Instance(store, module, []).exports(store)
    return store, out


@pytest.mark.parametrize("depth", [1, 6, 8, 10])
def test_binary_trees(instances, depth):
    store, exports = instances
    assert exports["workloads"]["binary_trees"](store, depth) == W.binary_trees(depth)


@pytest.mark.parametrize("size", [1, 17, 100])
def test_churns(instances, size):
    store, exports = instances
    for workload in ("list-churn", "array-churn", "cycle-churn"):
        rounds = W.WORKLOADS[workload].rounds
        func = exports["workloads"][workload.replace("-", "_")]
        assert func(store, size, rounds) == W.expected(workload, size)


def test_subtype_checks(instances):
    store, exports = instances
    assert exports["registry_checks"]["subtype_checks"](store, 5) == 5 * W.REGISTRY_YES


def test_registry_types_module_has_the_chain(wasm_dir):
    # The types-only module is what the Wasm peers register per round; it must stay a valid
    # module with nothing to instantiate.
    engine = wasmtime.Engine(wasmtime.Config())
    module = wasmtime.Module(engine, (wasm_dir / "registry_types.wasm").read_bytes())
    assert module.imports == [] and module.exports == []


@pytest.mark.parametrize("workload", W.COMPARED)
def test_wasmtime_child(wasm_dir, workload):
    from drc.bench._child import run_wasmtime

    seconds, checksum = run_wasmtime(workload, 7, wasm_dir)
    assert seconds >= 0 and checksum == W.expected(workload, 7)


@pytest.mark.parametrize("workload", ["binary-trees", "cycle-churn", "registry"])
def test_wasmtime_pulley_child(wasm_dir, workload):
    from drc.bench._child import run_wasmtime

    try:
        harness._require_pulley()
    except harness.Skip as exc:
        pytest.skip(str(exc))
    seconds, checksum = run_wasmtime(workload, 5, wasm_dir, target="pulley64")
    assert seconds >= 0 and checksum == W.expected(workload, 5)


@pytest.mark.parametrize("workload", W.COMPARED)
def test_v8_runner(wasm_dir, workload):
    try:
        node = harness.node_executable()
    except harness.Skip as exc:
        pytest.skip(str(exc))
    size, rounds = 7, W.WORKLOADS[workload].rounds
    proc = subprocess.run([node, str(harness.assets_dir() / "runner.mjs"), str(wasm_dir),
                           workload, str(size), str(rounds)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert int(data["checksum"]) == W.expected(workload, size)
    assert data["seconds"] >= 0
    if sys.platform.startswith("linux"):
        assert data["peak_rss_bytes"] > 1 << 20


def test_v8_runner_rejects_bad_arguments(wasm_dir):
    try:
        node = harness.node_executable()
    except harness.Skip as exc:
        pytest.skip(str(exc))
    proc = subprocess.run([node, str(harness.assets_dir() / "runner.mjs"), str(wasm_dir),
                           "binary-trees", "x", "1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "usage" in proc.stderr
