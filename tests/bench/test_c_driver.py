"""The C-level driver, built against the installed drc like an embedder's module, agrees with
the reference results. In the zeal build the heap checks every C-level precondition, so this
also proves the driver's counting (allocation, move_ref, store_ref, peek_ref, dec) is right."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import drc
from drc.bench import harness
from drc.bench import workloads as W

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def driver_dir(tmp_path_factory):
    if not hasattr(drc, "Heap"):
        pytest.skip("this drc has no Heap yet")
    try:
        return harness.build_c_driver(harness.assets_dir(), tmp_path_factory.mktemp("cache"))
    except harness.Skip as exc:
        if "editable" in str(exc) or "not installed" in str(exc):
            pytest.skip(str(exc))
        raise


@pytest.mark.parametrize("workload,size", [("binary-trees", 6), ("binary-trees", 9),
                                           ("list-churn", 300), ("array-churn", 300),
                                           ("cycle-churn", 300), ("registry", 5),
                                           ("guest-churn", 20_000)])
def test_c_driver_checksums(driver_dir, workload, size):
    proc = subprocess.run([sys.executable, "-m", "drc.bench._child", "drc-c", workload,
                           str(size), "-", str(driver_dir)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["checksum"] == W.expected(workload, size)
    if workload == "binary-trees":
        assert data["bytes_per_node"] == 32
        # Every sample is a Heap.stats() dict; the last one sees every tree freed.
        assert data["timeline"][-1]["live_objects"] == 0
    if workload in ("list-churn", "array-churn", "cycle-churn"):
        # Samples are taken while each round's data is live, not only after it is dropped.
        assert max(s["used_bytes"] for s in data["timeline"]) >= size * 32
        assert data["peak_heap_bytes"] >= max(s["capacity"] for s in data["timeline"])
    if workload == "cycle-churn":
        assert data["timeline"][-1]["objects_allocated"] == size * W.WORKLOADS[workload].rounds
    if workload == "guest-churn":
        # Both policies ran; each collected (the root provider reported the live frame),
        # and Wasmtime's rule never let the heap grow past one page.
        assert data["policy_collections_wasmtime"] > 0
        assert data["policy_capacity_wasmtime"] == 64 * 1024
        # Every timed run is recorded; pair k is run k of each rule, and the ratio is the
        # median of the pairs' ratios (an odd number of pairs: the median is one of them).
        runs, pairs = data["policy_runs"], data["policy_pair_ratios"]
        assert len(runs["adaptive"]) == len(runs["wasmtime"]) == len(pairs) >= 9
        assert len(pairs) % 2 == 1
        for a, w, ratio in zip(runs["adaptive"], runs["wasmtime"], pairs, strict=True):
            assert ratio == pytest.approx(w["seconds"] / a["seconds"])
        assert data["policy_ratio"] == sorted(pairs)[len(pairs) // 2] > 0
        assert data["seconds"] == sorted(r["seconds"] for r in runs["adaptive"])[len(pairs) // 2]
        # Wasmtime's rule does not look at the clock: every run does the same work.
        assert {(r["collections"], r["capacity"]) for r in runs["wasmtime"]} == {
            (data["policy_collections_wasmtime"], 64 * 1024)}
        assert all(r["collections"] > 0 and r["gc_seconds"] > 0 for r in runs["adaptive"])


def test_build_is_cached(driver_dir):
    again = harness.build_c_driver(harness.assets_dir(), driver_dir.parent.parent)
    assert again == driver_dir
