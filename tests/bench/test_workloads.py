"""The workloads' reference results: the CPython peer, the closed forms, and the Wasm text."""

from __future__ import annotations

import pytest

from drc.bench import workloads as W

# The Benchmarks Game's binary-trees output for n = 10, line by line.
GOLDEN_10 = [
    ("stretch tree of depth 11", 4095),
    ("1024 trees of depth 4", 31744),
    ("256 trees of depth 6", 32512),
    ("64 trees of depth 8", 32704),
    ("16 trees of depth 10", 32752),
    ("long lived tree of depth 10", 2047),
]


def test_tree_checks_count_nodes():
    for depth in range(8):
        assert W.check(W.bottom_up_tree(depth)) == 2 ** (depth + 1) - 1


def test_binary_trees_matches_the_benchmarks_game_output():
    total = sum(check for _, check in GOLDEN_10)
    assert W.binary_trees(10) == total == W.expected("binary-trees", 10)
    assert W.objects("binary-trees", 10) == total


@pytest.mark.parametrize("size", [1, 4, 6, 7, 9])
def test_binary_trees_small_depths_clamp_like_the_original(size):
    # Depths below 6 run as 6 (max(min_depth + 2, n)), in every implementation.
    assert W.binary_trees(size) == W.expected("binary-trees", size)
    assert W.binary_trees(min(size, 6)) == W.binary_trees(6)


def _brute_list(size: int, rounds: int) -> tuple[int, int]:
    total = allocated = 0
    for r in range(rounds):
        values = [i + r for i in range(size)]
        allocated += len(values)
        total += sum(values)
    return total, allocated


@pytest.mark.parametrize("size", [1, 2, 17, 100])
def test_list_churn(size):
    rounds = W.WORKLOADS["list-churn"].rounds
    total, allocated = _brute_list(size, rounds)
    assert W.list_churn(size, rounds) == total == W.expected("list-churn", size)
    assert W.objects("list-churn", size) == allocated


@pytest.mark.parametrize("size", [1, 2, 17, 100])
def test_array_churn(size):
    rounds = W.WORKLOADS["array-churn"].rounds
    total = sum(size * r + size * (size - 1) // 2 for r in range(rounds))
    assert W.array_churn(size, rounds) == total == W.expected("array-churn", size)
    # Per round: the shared cell, two arrays, one fresh cell per element.
    assert W.objects("array-churn", size) == rounds * (1 + 2 + size)


@pytest.mark.parametrize("size", [1, 2, 17, 100])
def test_cycle_churn(size):
    rounds = W.WORKLOADS["cycle-churn"].rounds
    total, allocated = _brute_list(size, rounds)
    # The list-churn values, plus one per node for the walk back along prev.
    assert W.cycle_churn(size, rounds) == total + allocated == W.expected("cycle-churn", size)
    assert W.objects("cycle-churn", size) == allocated


def test_cycle_churn_leaves_cycles_that_only_cpythons_collector_frees():
    import gc
    import weakref

    class Probe(W.DNode):
        __slots__ = ("__weakref__",)

    a = Probe(0, None, None)
    b = Probe(1, a, None)
    a.next = b
    ref = weakref.ref(a)
    del a, b
    assert ref() is not None  # reference counting alone keeps the pair
    gc.collect()
    assert ref() is None


def test_full_runs_measure_guest_churn_at_both_budget_sizes():
    w = W.WORKLOADS["guest-churn"]
    assert w.sizes(quick=False) == (400_000, 4_000_000)
    assert w.sizes(quick=True) == (400_000,)
    assert W.WORKLOADS["list-churn"].sizes(quick=False) == (200_000,)


def test_registry_counts_subtype_answers():
    chain = W._register_chain()
    yes = sum(issubclass(a, b) for a in chain for b in chain)
    assert yes == W.REGISTRY_YES == 36
    assert W.registry(3) == W.expected("registry", 3) == 3 * (2 * W.REGISTRY_CHAIN + yes)
    assert W.objects("registry", 3) == 3 * (2 + 64)


@pytest.mark.parametrize("workload", W.COMPARED)
def test_run_cpython_returns_time_and_checksum(workload):
    seconds, checksum = W.run_cpython(workload, 6)
    assert seconds >= 0
    assert checksum == W.expected(workload, 6)


def test_unknown_workload_is_a_key_error():
    with pytest.raises(KeyError):
        W.objects("nope", 1)
    with pytest.raises(KeyError):
        W.expected("nope", 1)


def test_guest_churn_counts_every_object_and_reads_each_back_once():
    # Object i holds i and is read once: the checksum is the sum of 0..n-1.
    assert W.objects("guest-churn", 1000) == 1000
    assert W.expected("guest-churn", 1000) == sum(range(1000))
    assert "guest-churn" not in W.COMPARED
