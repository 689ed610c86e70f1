"""The benchmark workloads: their sizes, their expected results, and the CPython peer.

Every driver and peer runs the same algorithm (``benchmarks/workloads.wat`` is the Wasm text of
this file, ``drc/bench/drivers.py`` and ``benchmarks/drc_driver.pyx`` the drc versions). Each run
returns a checksum that :func:`expected` computes in closed form, so a fast wrong run fails, and
counts its objects the same way everywhere (:func:`objects`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

#: binary-trees: the depth of the smallest short-lived trees (the Benchmarks Game's value).
MIN_DEPTH = 4
#: The registry workload's types: a chain of this many struct types in one rec group.
REGISTRY_CHAIN = 8
#: Subtype answers that are yes per round: t_i <: t_j exactly when j <= i.
REGISTRY_YES = REGISTRY_CHAIN * (REGISTRY_CHAIN + 1) // 2


@dataclass(frozen=True)
class Workload:
    """One workload: what ``size`` means, its default and ``--quick`` sizes, its round count."""

    name: str
    size_means: str
    default_size: int
    quick_size: int
    #: Fixed repetitions inside one run (list and array churn); 1 where ``size`` says it all.
    rounds: int
    unit: str = "objects"
    #: Sizes a full run measures besides ``default_size`` (budgets set at several sizes).
    also_full: tuple[int, ...] = ()

    def sizes(self, quick: bool) -> tuple[int, ...]:
        """The sizes a run measures, smallest first."""
        if quick:
            return (self.quick_size,)
        return tuple(sorted({self.default_size, *self.also_full}))


WORKLOADS: dict[str, Workload] = {
    w.name: w for w in (
        Workload("binary-trees", "maximum depth", 16, 12, 1),
        Workload("list-churn", "list length", 200_000, 20_000, 20),
        Workload("array-churn", "array length", 200_000, 20_000, 20),
        Workload("registry", "rounds", 5_000, 500, 1, unit="operations"),
        Workload("cycle-churn", "list length", 100_000, 10_000, 20),
        Workload("registry", "rounds", 5_000, 500, 1, unit="operations"),
        # The growth-policy budget holds at both sizes, so a full run measures both.
        Workload("guest-churn", "objects allocated", 4_000_000, 400_000, 1,
                 also_full=(400_000,)),
    )
}

#: Workloads every driver and peer runs. guest-churn measures drc's growth policy (the
#: adaptive rule against Wasmtime's, in one process), so only the C-level driver runs it.
COMPARED = ("binary-trees", "list-churn", "array-churn", "cycle-churn", "registry")
#: Workloads that leave garbage cycles: their records also report the peak heap size.
CYCLIC = ("cycle-churn",)
#: guest-churn: the guest keeps this many of its most recent objects live.
GUEST_LIVE = 64


def max_depth(size: int) -> int:
    return max(MIN_DEPTH + 2, size)


def objects(workload: str, size: int) -> int:
    """What one run allocates (binary-trees: nodes; churns: cells and arrays).

    For ``registry`` it is the operations: two module registrations and
    ``REGISTRY_CHAIN ** 2`` subtype checks per round.
    """
    w = WORKLOADS[workload]
    if workload == "binary-trees":
        top = max_depth(size)
        total = (1 << (top + 2)) - 1 + (1 << (top + 1)) - 1
        for depth in range(MIN_DEPTH, top + 1, 2):
            total += (1 << (top - depth + MIN_DEPTH)) * ((1 << (depth + 1)) - 1)
        return total
    if workload in ("list-churn", "cycle-churn"):
        return size * w.rounds
    if workload == "array-churn":
        return (size + 3) * w.rounds
    if workload == "registry":
        return size * (2 + REGISTRY_CHAIN * REGISTRY_CHAIN)
    if workload == "guest-churn":
        return size
    raise KeyError(workload)


def expected(workload: str, size: int) -> int:
    """The checksum a correct run returns."""
    rounds = WORKLOADS[workload].rounds
    if workload == "binary-trees":
        return objects(workload, size)  # every check counts the nodes of its tree
    if workload in ("list-churn", "array-churn"):
        # Round r contributes sum(i + r) (list) or sum(r) + sum(i) (array) for i < size.
        return rounds * size * (size - 1) // 2 + size * rounds * (rounds - 1) // 2
    if workload == "cycle-churn":
        # As list-churn, plus one per node for the walk back along the prev links.
        return (rounds * size * (size - 1) // 2 + size * rounds * (rounds - 1) // 2
                + rounds * size)
    if workload == "registry":
        return size * (2 * REGISTRY_CHAIN + REGISTRY_YES)
    if workload == "guest-churn":
        # Object i holds the value i; each is read back once, when the guest lets go of it
        # or at the end: a ref freed too early reads garbage.
        return size * (size - 1) // 2
    raise KeyError(workload)


# --- The CPython peer: plain classes with __slots__ --------------------------------------------


class Node:
    __slots__ = ("left", "right")

    def __init__(self, left: Node | None, right: Node | None) -> None:
        self.left = left
        self.right = right


class Cell:
    __slots__ = ("value", "next")

    def __init__(self, value: int, next: Cell | None) -> None:
        self.value = value
        self.next = next


class DNode:
    __slots__ = ("value", "prev", "next")

    def __init__(self, value: int, prev: DNode | None, next: DNode | None) -> None:
        self.value = value
        self.prev = prev
        self.next = next


def bottom_up_tree(depth: int) -> Node:
    if depth > 0:
        return Node(bottom_up_tree(depth - 1), bottom_up_tree(depth - 1))
    return Node(None, None)


def check(tree: Node) -> int:
    left = tree.left
    if left is None:
        return 1
    return 1 + check(left) + check(tree.right)  # type: ignore[arg-type]


def binary_trees(size: int) -> int:
    top = max_depth(size)
    total = check(bottom_up_tree(top + 1))
    long_lived = bottom_up_tree(top)
    for depth in range(MIN_DEPTH, top + 1, 2):
        for _ in range(1 << (top - depth + MIN_DEPTH)):
            total += check(bottom_up_tree(depth))
    return total + check(long_lived)


def list_churn(size: int, rounds: int) -> int:
    total = 0
    for r in range(rounds):
        head = None
        for i in range(size):
            head = Cell(i + r, head)
        walk = head
        while walk is not None:
            total += walk.value
            walk = walk.next
        del head, walk
    return total


def cycle_churn(size: int, rounds: int) -> int:
    """Doubly linked lists built and dropped: every dropped list is a garbage cycle."""
    total = 0
    for r in range(rounds):
        head = None
        for i in range(size):
            node = DNode(i + r, None, head)
            if head is not None:
                head.prev = node
            head = node
        walk, tail = head, None
        while walk is not None:
            total += walk.value
            tail = walk
            walk = walk.next
        while tail is not None:
            total += 1
            tail = tail.prev
        del head, node, walk, tail
    return total


def array_churn(size: int, rounds: int) -> int:
    total = 0
    for r in range(rounds):
        array: list[Cell | None] = [Cell(r, None)] * size
        for i in range(size):
            total += array[i].value  # type: ignore[union-attr]
        array = [None] * size
        for i in range(size):
            array[i] = Cell(i, None)
        for i in range(size):
            total += array[i].value  # type: ignore[union-attr]
        del array
    return total


def _register_chain() -> list[type]:
    # A class statement is CPython's type registration; the chain mirrors registry_types.wat.
    chain: list[type] = []
    for i in range(REGISTRY_CHAIN):
        base = (chain[-1],) if chain else (object,)
        chain.append(type(f"T{i}", base, {"__slots__": (f"f{i}",)}))
    return chain


def registry(size: int) -> int:
    total = 0
    for _ in range(size):
        first = _register_chain()
        again = _register_chain()
        total += len(first) + len(again)
        del first, again
    chain = _register_chain()
    for _ in range(size):
        for a in chain:
            for b in chain:
                total += issubclass(a, b)
    return total


def run_cpython(workload: str, size: int) -> tuple[float, int]:
    """Run one workload on CPython objects: (seconds, checksum)."""
    rounds = WORKLOADS[workload].rounds
    calls: dict[str, Callable[[], int]] = {
        "binary-trees": lambda: binary_trees(size),
        "list-churn": lambda: list_churn(size, rounds),
        "array-churn": lambda: array_churn(size, rounds),
        "cycle-churn": lambda: cycle_churn(size, rounds),
        "registry": lambda: registry(size),
    }
    call = calls[workload]
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result
