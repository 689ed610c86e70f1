"""The drc drivers agree with the reference results (run in-process, at small sizes)."""

from __future__ import annotations

import pytest

import drc
from drc.bench import drivers
from drc.bench import workloads as W

registry = pytest.importorskip("registry")
needs_heap = pytest.mark.skipif(not hasattr(drc, "Heap"), reason="this drc has no Heap yet")


def test_registry_workload():
    seconds, checksum, extras = drivers.run("registry", 4)
    assert seconds >= 0 and checksum == W.expected("registry", 4)


def test_registry_chain_is_the_wasm_chain():
    reg = registry.TypeRegistry()
    with reg.register_module(drivers.registry_chain()) as chain:
        idx = [chain.shared_type(i) for i in range(W.REGISTRY_CHAIN)]
        yes = sum(reg.is_subtype(a, b) for a in idx for b in idx)
        assert yes == W.REGISTRY_YES
        assert [len(reg.layout(i).fields) for i in idx] == list(range(1, 9))


@needs_heap
@pytest.mark.parametrize("workload,size", [("binary-trees", 6), ("binary-trees", 8),
                                           ("list-churn", 50), ("array-churn", 50),
                                           ("cycle-churn", 50)])
def test_heap_workloads(workload, size):
    seconds, checksum, extras = drivers.run(workload, size)
    assert checksum == W.expected(workload, size)
    assert extras["timeline"] and all("t" in s for s in extras["timeline"])
    assert extras["peak_heap_bytes"] == max(s["capacity"] for s in extras["timeline"]) > 0


@needs_heap
@pytest.mark.parametrize("workload", ["list-churn", "array-churn"])
def test_samples_see_the_live_data(workload):
    # A sample is taken while each round's data is live, so "used" is not flat at 0.
    seconds, checksum, extras = drivers.run(workload, 200)
    used = [s["used_bytes"] for s in extras["timeline"]]
    assert max(used) >= 200 * 32
    assert extras["timeline"][-1]["live_objects"] == 0


@needs_heap
def test_cycle_churn_leaves_garbage_cycles_without_a_cycle_pass():
    # Each round's list is one garbage cycle once dropped. Reference counting alone never
    # frees it: live_objects at the end counts what a cycle pass has not reclaimed.
    seconds, checksum, extras = drivers.run("cycle-churn", 100)
    last = extras["timeline"][-1]
    rounds = W.WORKLOADS["cycle-churn"].rounds
    assert 0 <= last["live_objects"] <= 100 * rounds
    assert last["objects_allocated"] == 100 * rounds


@needs_heap
def test_node_takes_32_bytes():
    seconds, checksum, extras = drivers.run("binary-trees", 6)
    assert extras["bytes_per_node"] == 32
