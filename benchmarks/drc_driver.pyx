# cython: language_level=3
"""The C-level benchmark driver: the workloads of drc/bench/workloads.py on raw refs.

A downstream extension, built by `python -m drc bench` against the installed drc the way an
embedder builds theirs: it cimports drc.heap and registry, keeps every ref as a raw u32, and
uses the inline fast paths of drc/heap.pxd (new_struct, move_ref, store_ref, peek_ref, dec).
Counts follow the contract there: an allocation returns an owned ref, move_ref hands the
caller's count to the field, peek_ref borrows, dec gives a count back (freeing at zero).
"""

from libc.stdint cimport int64_t, uint32_t, uint64_t, uintptr_t

from drc.header cimport gcref_t
from drc.heap cimport (Heap, dec, field_addr, load_funcref, load_ref, move_ref, new_struct,
                       peek_ref, store_funcref, store_ref)
from registry.registry cimport TypeCollection, TypeRegistry, registry_is_subtype

import time

import drc
import registry

from drc.bench.drivers import CELL, CELLS, DNODE, NODE, node_cell_types, registry_chain_wasm
from drc.bench.workloads import (CYCLIC, GUEST_LIVE, MIN_DEPTH, REGISTRY_CHAIN, WORKLOADS,
                                 max_depth)


cdef enum:
    MAX_CHAIN = 64           # room for the registry workload's chain of engine indices
    MAX_LIVE = 1024          # room for guest-churn's live frame
    GUEST_MIN_PAIRS = 9      # guest-churn: timed pairs of runs per child, at least...
    GUEST_MAX_PAIRS = 101    # ... and at most (odd, so the median is one of them)
    GUEST_PAIR_OBJECTS = 100_000_000  # ... enough that each policy allocates about this many


cdef struct Layout:
    uint32_t node            # engine type index of node {left, right}
    uint32_t left            # byte offsets of node's fields
    uint32_t right
    uint32_t cell            # engine type index of cell {i64 value, next}
    uint32_t value
    uint32_t next
    uint32_t cells           # engine type index of the [cell] array
    uint32_t elems           # byte offset of the array's first element
    uint32_t elem_size
    uint32_t dnode           # engine type index of dnode {i64 value, prev, next}
    uint32_t dvalue          # byte offsets of dnode's fields
    uint32_t prev
    uint32_t dnext


# ---- binary-trees -------------------------------------------------------------------------

cdef gcref_t bottom_up_tree(Heap h, const Layout* t, int depth) except 0 nogil:
    cdef gcref_t left, right, node
    if depth > 0:
        left = bottom_up_tree(h, t, depth - 1)
        right = bottom_up_tree(h, t, depth - 1)
        node = new_struct(h, t.node)
        move_ref(h, node, t.left, left)
        move_ref(h, node, t.right, right)
        return node
    return new_struct(h, t.node)


cdef int64_t check(Heap h, const Layout* t, gcref_t tree) noexcept nogil:
    # The caller keeps `tree` alive, so its children can be borrowed.
    cdef gcref_t left = peek_ref(h, tree, t.left)
    if left == 0:
        return 1
    return 1 + check(h, t, left) + check(h, t, peek_ref(h, tree, t.right))


cdef int64_t one_tree(Heap h, const Layout* t, int depth) except -1 nogil:
    cdef gcref_t tree = bottom_up_tree(h, t, depth)
    cdef int64_t n = check(h, t, tree)
    dec(h, tree)
    return n


cdef object _binary_trees(Heap h, const Layout* t, int size, sample, dict extras):
    cdef int top = max_depth(size)
    cdef int depth, i, iterations, every
    cdef int64_t total = one_tree(h, t, top + 1)
    # The stretch tree's nodes wait on a pending list (heap.pxd, "Pending frees"); free them
    # so that the next tree's bytes are measured on their own.
    h.finish_pending()
    before = _used(h)
    cdef gcref_t long_lived = bottom_up_tree(h, t, top)
    after = _used(h)
    if before is not None and after is not None:
        extras["bytes_per_node"] = (after - before) / ((1 << (top + 1)) - 1)
    sample()
    for depth in range(MIN_DEPTH, top + 1, 2):
        iterations = 1 << (top - depth + MIN_DEPTH)
        every = max(1, iterations // 8)
        i = 0
        while i < iterations:
            # Unit of work between samples runs without Python objects.
            with nogil:
                while True:
                    total += one_tree(h, t, depth)
                    i += 1
                    if i >= iterations or i % every == 0:
                        break
            sample()
    total += check(h, t, long_lived)
    dec(h, long_lived)
    return total


# ---- list-churn ---------------------------------------------------------------------------

cdef gcref_t build_list(Heap h, const Layout* t, int size, int r) except? 0 nogil:
    """A list of `size` cells holding i + r, prepended; returns the owned head (0 if empty)."""
    cdef gcref_t head = 0, cell
    cdef int i
    for i in range(size):
        cell = new_struct(h, t.cell)
        (<int64_t*>field_addr(h, cell, t.value))[0] = i + r
        move_ref(h, cell, t.next, head)     # the list's count on the old head moves into cell
        head = cell
    return head


cdef int64_t walk_list(Heap h, const Layout* t, gcref_t head) except? -1 nogil:
    """Sum the list's values, then give up the head (the whole list dies)."""
    cdef gcref_t walk = head
    cdef int64_t total = 0
    while walk != 0:
        total += (<int64_t*>field_addr(h, walk, t.value))[0]
        walk = peek_ref(h, walk, t.next)
    dec(h, head)
    return total


cdef object _list_churn(Heap h, const Layout* t, int size, int rounds, sample):
    cdef int64_t total = 0
    cdef int r
    cdef gcref_t head
    for r in range(rounds):
        with nogil:
            head = build_list(h, t, size, r)
        sample()  # the list is live
        with nogil:
            total += walk_list(h, t, head)
        sample()
    return total


# ---- cycle-churn --------------------------------------------------------------------------

cdef gcref_t build_dlist(Heap h, const Layout* t, int size, int r) except? 0 nogil:
    """A doubly linked list of `size` nodes holding i + r; returns the owned head."""
    cdef gcref_t head = 0, node
    cdef int i
    for i in range(size):
        node = new_struct(h, t.dnode)
        (<int64_t*>field_addr(h, node, t.dvalue))[0] = i + r
        if head != 0:
            store_ref(h, head, t.prev, node)  # the old head points back: a cycle
        move_ref(h, node, t.dnext, head)
        head = node
    return head


cdef int64_t walk_dlist(Heap h, const Layout* t, gcref_t head) except? -1 nogil:
    """Sum the values forward, count the nodes back along prev, then drop the head: the list
    stays allocated as a garbage cycle until a cycle pass frees it."""
    cdef gcref_t walk = head, tail = 0
    cdef int64_t total = 0
    while walk != 0:
        total += (<int64_t*>field_addr(h, walk, t.dvalue))[0]
        tail = walk
        walk = peek_ref(h, walk, t.dnext)
    while tail != 0:
        total += 1
        tail = peek_ref(h, tail, t.prev)
    dec(h, head)
    return total


cdef object _cycle_churn(Heap h, const Layout* t, int size, int rounds, sample):
    cdef int64_t total = 0
    cdef int r
    cdef gcref_t head
    for r in range(rounds):
        with nogil:
            head = build_dlist(h, t, size, r)
        sample()  # the list is live
        with nogil:
            total += walk_dlist(h, t, head)
        sample()
    return total


# ---- array-churn --------------------------------------------------------------------------

cdef int64_t sum_cells(Heap h, const Layout* t, gcref_t array, int size) noexcept nogil:
    cdef int64_t total = 0
    cdef int i
    for i in range(size):
        total += (<int64_t*>field_addr(h, peek_ref(h, array, t.elems + i * t.elem_size),
                                       t.value))[0]
    return total


cdef object _array_churn(Heap h, const Layout* t, int size, int rounds, sample):
    cdef int64_t total = 0
    cdef int r, i
    cdef gcref_t array, shared, cell
    for r in range(rounds):
        # The fill and the sum over each array run without Python objects.
        array = h.alloc_array(t.cells, size)
        shared = new_struct(h, t.cell)
        with nogil:
            (<int64_t*>field_addr(h, shared, t.value))[0] = r
            for i in range(size):
                store_ref(h, array, t.elems + i * t.elem_size, shared)
            dec(h, shared)
            total += sum_cells(h, t, array, size)
            dec(h, array)
        array = h.alloc_array(t.cells, size)
        with nogil:
            for i in range(size):
                cell = new_struct(h, t.cell)
                (<int64_t*>field_addr(h, cell, t.value))[0] = i
                move_ref(h, array, t.elems + i * t.elem_size, cell)
        sample()  # the array and its cells are live
        with nogil:
            total += sum_cells(h, t, array, size)
            dec(h, array)
        sample()
    return total


# ---- guest-churn: the growth policy under allocation-heavy guest code ------------------------

cdef class _GuestFrame:
    """A guest frame of raw refs (no counts); calling it reports them, as a root provider."""
    cdef uint32_t slots[MAX_LIVE]
    cdef int n

    def __call__(self):
        return [self.slots[i] for i in range(self.n)]


cdef int64_t guest_loop(Heap h, uint32_t* slots, int live, uint32_t cell, uint32_t value,
                        int64_t n) except? -1 nogil:
    """Allocate n cells the way compiled guest code does: each allocation is exposed to the
    guest, which keeps its `live` most recent objects and reads each one back when it lets
    go of it. Collections happen inside new_struct, by the growth policy."""
    cdef int64_t i, total = 0
    cdef int k
    cdef gcref_t r
    for i in range(n):
        r = new_struct(h, cell)
        (<int64_t*>field_addr(h, r, value))[0] = i
        k = i % live
        if i >= live:
            total += (<int64_t*>field_addr(h, slots[k], value))[0]
        slots[k] = h.expose_raw(r)
    for k in range(live if n >= live else n):
        total += (<int64_t*>field_addr(h, slots[k], value))[0]
    return total


cdef object _guest_churn_once(reg, uint32_t cell, uint32_t value, int64_t size, str policy):
    cdef Heap h = drc.Heap(reg, growth_policy=policy)
    cdef _GuestFrame frame = _GuestFrame()
    cdef int64_t total
    cdef int live = GUEST_LIVE
    frame.n = live if size >= live else <int>size
    h.set_root_provider(frame)
    # The thread's CPU time, not the wall clock: a run is tens of milliseconds at the quick
    # size, and on a shared machine one preemption inside one policy's run used to flip the
    # ratio (0.78x-1.20x across runs). The loop runs on this thread only.
    start = time.thread_time()
    with nogil:
        total = guest_loop(h, frame.slots, live, cell, value, size)
    seconds = time.thread_time() - start
    stats = h.stats()
    h.set_root_provider(None)
    h.collect(stack_roots=[])
    h.close()
    # What the run did, so that a slow run can be told apart from one that did more work.
    run = {"seconds": seconds, "collections": stats["collections"],
           "capacity": stats["capacity"], "gc_seconds": stats["gc_seconds"]}
    return total, run


def _guest_churn(reg, uint32_t cell, uint32_t value, int64_t size):
    # Both policies in one process. One untimed run of each first, so neither pays the
    # process's first-run costs alone. Then pairs: one run of each policy back to back, the
    # order alternating, and the ratio is the median of the pairs' ratios. A slow spell of
    # the machine (the same work taking up to 1.6x the CPU time, in either policy) mostly
    # covers both runs of a pair and cancels within it; the ratio of the two policies'
    # medians over 5 runs each did not cancel it when the spell fell on more runs of one
    # policy (docs/benchmarks.md). The workload's time is the adaptive rule's median.
    if GUEST_LIVE > MAX_LIVE:
        raise ValueError(f"GUEST_LIVE is above {MAX_LIVE}")
    # Enough pairs that the median survives a loaded machine, where the two runs of a pair
    # no longer share their noise: 25 at 4,000,000 objects, 101 at 400,000 (a slow spell
    # spans several of those 6 ms runs), about the same time per child.
    cdef int64_t pairs = GUEST_PAIR_OBJECTS // size if size > 0 else GUEST_MAX_PAIRS
    pairs = min(max(pairs, GUEST_MIN_PAIRS), GUEST_MAX_PAIRS) | 1
    totals = set()
    for policy in ("adaptive", "wasmtime"):
        totals.add(_guest_churn_once(reg, cell, value, size, policy)[0])
    runs = {"adaptive": [], "wasmtime": []}
    for pair in range(pairs):
        for policy in (("adaptive", "wasmtime") if pair % 2 == 0 else ("wasmtime", "adaptive")):
            total, run = _guest_churn_once(reg, cell, value, size, policy)
            totals.add(total)
            runs[policy].append(run)
    if len(totals) != 1:
        raise AssertionError(f"guest-churn checksums differ between runs: {sorted(totals)}")
    pair_ratios = [w["seconds"] / a["seconds"]
                   for a, w in zip(runs["adaptive"], runs["wasmtime"])]
    median, last = pairs // 2, pairs - 1   # (the driver is built without wraparound)
    adaptive = sorted(r["seconds"] for r in runs["adaptive"])[median]
    wasmtime_rule = sorted(r["seconds"] for r in runs["wasmtime"])[median]
    extras = {
        "policy_ratio": sorted(pair_ratios)[median],
        "policy_pair_ratios": pair_ratios,
        "policy_seconds_adaptive": adaptive,
        "policy_seconds_wasmtime": wasmtime_rule,
        "policy_collections_adaptive": runs["adaptive"][last]["collections"],
        "policy_collections_wasmtime": runs["wasmtime"][last]["collections"],
        "policy_capacity_adaptive": runs["adaptive"][last]["capacity"],
        "policy_capacity_wasmtime": runs["wasmtime"][last]["capacity"],
        "policy_runs": runs,
    }
    return adaptive, totals.pop(), extras


def guest_churn_run(int64_t size, str policy not None):
    """One run of guest-churn under one growth policy: (checksum, what the run did). For
    counting instructions, which no other process on the machine can change:
    valgrind --tool=callgrind --toggle-collect='*_guest_churn_once*' python -c
    "import sys; sys.path.insert(0, DRIVER_DIR); import drc_driver;
    drc_driver.guest_churn_run(4000000, 'adaptive')" """
    if size < 0:
        raise ValueError(f"size must be >= 0, not {size}")
    reg = registry.TypeRegistry()
    types = reg.register_module(node_cell_types())
    cell = types.shared_type(CELL)
    return _guest_churn_once(reg, cell, reg.layout(cell).fields[0].offset, size, policy)


# ---- registry -----------------------------------------------------------------------------

def _registry(TypeRegistry reg, int size):
    # What an embedder decoding a module does: each round hands the module's .wasm bytes to
    # the registry's C entry point (decoded, hash-consed and laid out in C, no Python type
    # values), twice: a new group, then a hash-consing hit. The subtype checks run on raw
    # engine indices through the lock-free C path.
    cdef bytes wasm = registry_chain_wasm()
    cdef const unsigned char* data = wasm
    cdef Py_ssize_t nbytes = len(wasm)
    cdef int64_t total = 0
    cdef int i, j, n = REGISTRY_CHAIN
    cdef uint32_t chain[MAX_CHAIN]
    cdef TypeCollection first, again, kept
    if REGISTRY_CHAIN > MAX_CHAIN:
        raise ValueError(f"the registry chain is longer than {MAX_CHAIN}")
    start = time.perf_counter()
    for _ in range(size):
        first = reg.c_register_wasm(data, nbytes)
        again = reg.c_register_wasm(data, nbytes)
        total += first.c_shared_types(NULL, 0) + again.c_shared_types(NULL, 0)
        first.c_close()
        again.c_close()
    kept = reg.c_register_wasm(data, nbytes)
    if kept.c_shared_types(chain, MAX_CHAIN) != n:
        raise AssertionError("the registry module does not hold the chain")
    with nogil:
        for _ in range(size):
            for i in range(n):
                for j in range(n):
                    total += reg.c_is_subtype(chain[i], chain[j])
    seconds = time.perf_counter() - start
    kept.c_close()
    return seconds, total, {}


# ---- entry point --------------------------------------------------------------------------

def _used(Heap h):
    stats = h.stats()
    for key in ("used_bytes", "used", "live_bytes"):
        if key in stats:
            return int(stats[key])
    return None


def run(str workload, int size):
    """Run one workload: (seconds, checksum, extras). Called by drc.bench._child."""
    reg = registry.TypeRegistry()
    if workload == "registry":
        return _registry(reg, size)
    types = reg.register_module(node_cell_types())
    cdef Layout t
    t.node, t.cell = types.shared_type(NODE), types.shared_type(CELL)
    t.cells, t.dnode = types.shared_type(CELLS), types.shared_type(DNODE)
    node, cell, cells = reg.layout(t.node), reg.layout(t.cell), reg.layout(t.cells)
    dnode = reg.layout(t.dnode)
    t.left, t.right = node.fields[0].offset, node.fields[1].offset
    t.value, t.next = cell.fields[0].offset, cell.fields[1].offset
    t.elems, t.elem_size = cells.base_size, cells.elem_size
    t.dvalue, t.prev, t.dnext = (dnode.fields[0].offset, dnode.fields[1].offset,
                                 dnode.fields[2].offset)
    if workload == "guest-churn":
        return _guest_churn(reg, t.cell, t.value, size)
    cdef Heap h = drc.Heap(reg)
    if workload in CYCLIC:
        # Every ref is an owned count and no guest frame holds any: a provider with no roots
        # lets the heap collect by itself under pressure.
        h.set_root_provider(lambda: ())
    samples = []
    extras = {"timeline": samples}
    origin = time.perf_counter()

    def sample():
        stats = dict(h.stats())
        stats["t"] = time.perf_counter() - origin
        samples.append(stats)

    rounds = WORKLOADS[workload].rounds
    sample()
    start = time.perf_counter()
    if workload == "binary-trees":
        total = _binary_trees(h, &t, size, sample, extras)
    elif workload == "list-churn":
        total = _list_churn(h, &t, size, rounds, sample)
    elif workload == "array-churn":
        total = _array_churn(h, &t, size, rounds, sample)
    elif workload == "cycle-churn":
        total = _cycle_churn(h, &t, size, rounds, sample)
    else:
        raise KeyError(workload)
    # What the last drops left pending is part of the work (and the last sample shows none).
    h.finish_pending()
    seconds = time.perf_counter() - start
    sample()
    extras["peak_heap_bytes"] = max(s["capacity"] for s in samples)
    # (compiled with wraparound=False: no negative indices)
    extras["collections"] = samples[len(samples) - 1]["collections"]
    return seconds, total, extras


# ---- single C-level calls, for benchmarks/bench_c_level.py ---------------------------------


def alloc_free_seconds(Heap h, uint32_t node, Py_ssize_t n):
    """Seconds for `n` times (allocate a {ref, ref} struct + dec it, which frees it)."""
    cdef Py_ssize_t _i
    cdef gcref_t r
    r = new_struct(h, node)                  # warm: the type is cached, the page mapped
    dec(h, r)
    start = time.perf_counter()
    with nogil:
        for _i in range(n):
            r = new_struct(h, node)
            dec(h, r)
    return time.perf_counter() - start


def barrier_seconds(Heap h, uint32_t node, uint32_t left, Py_ssize_t n):
    """Seconds for `n` times (barriered store of one of two values + owned load + dec)."""
    cdef gcref_t holder = new_struct(h, node)
    cdef gcref_t a = new_struct(h, node)
    cdef gcref_t b = new_struct(h, node)
    cdef gcref_t r
    cdef Py_ssize_t i
    start = time.perf_counter()
    with nogil:
        for i in range(n):
            store_ref(h, holder, left, a if i & 1 else b)
            r = load_ref(h, holder, left)
            dec(h, r)
    seconds = time.perf_counter() - start
    dec(h, holder)
    dec(h, a)
    dec(h, b)
    return seconds


def c_is_subtype_seconds(TypeRegistry reg, uint32_t sub, uint32_t sup, Py_ssize_t n):
    """Seconds for `n` calls of reg.c_is_subtype from this (another) extension module."""
    cdef Py_ssize_t i, hits = 0
    start = time.perf_counter()
    with nogil:
        for i in range(n):
            hits += reg.c_is_subtype(sub, sup + <uint32_t>(i & 0))
    seconds = time.perf_counter() - start
    if hits != n:
        raise AssertionError(f"c_is_subtype({sub}, {sup}) answered false")
    return seconds


def inline_is_subtype_seconds(TypeRegistry reg, uint32_t sub, uint32_t sup, Py_ssize_t n):
    """Seconds for `n` calls of the inline registry_is_subtype, compiled into this module."""
    cdef Py_ssize_t i, hits = 0
    start = time.perf_counter()
    with nogil:
        for i in range(n):
            hits += registry_is_subtype(reg, sub, sup + <uint32_t>(i & 0))
    seconds = time.perf_counter() - start
    if hits != n:
        raise AssertionError(f"registry_is_subtype({sub}, {sup}) answered false")
    return seconds


def funcref_intern(Heap h, uint32_t func_type, uintptr_t target):
    """The interned id of (func_type, target), with one pin for the caller."""
    return h.funcref_intern(func_type, target)


def funcref_unpin(Heap h, uint32_t fid):
    h.funcref_unpin(fid)


def funcref_store_load_seconds(Heap h, uint32_t t, uint32_t fid_a, uint32_t fid_b,
                               Py_ssize_t n):
    """Seconds for `n` times (funcref store + funcref load) on field 0 of a struct of type t:
    the vtable-entry path. The ids' checksum keeps the loads from being dropped."""
    cdef uint32_t off = h.type_record(t).fields[0].offset
    cdef gcref_t obj = new_struct(h, t)
    cdef uint64_t total = 0
    cdef Py_ssize_t i
    start = time.perf_counter()
    with nogil:
        for i in range(n):
            store_funcref(h, obj, off, fid_a if i & 1 else fid_b)
            total += load_funcref(h, obj, off)
    seconds = time.perf_counter() - start
    dec(h, obj)
    if total == 0:
        raise AssertionError("no loads")
    return seconds
