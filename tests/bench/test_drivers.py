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
                                           ("list-churn", 50), ("array-churn", 50)])
def test_heap_workloads(workload, size):
    seconds, checksum, extras = drivers.run(workload, size)
    assert checksum == W.expected(workload, size)
    assert extras["timeline"] and all("t" in s for s in extras["timeline"])


@needs_heap
def test_node_takes_32_bytes():
    seconds, checksum, extras = drivers.run("binary-trees", 6)
    assert extras["bytes_per_node"] == 32
