# Collection: the over-approximated stack-roots list settled against the precise roots the
# embedder reports, as Wasmtime's DRC collector does
# (crates/wasmtime/src/runtime/vm/gc/enabled/drc.rs).
#
# Included by heap.pyx, so the sweep's decrements and cascades are plain C calls into the heap.
# The Heap methods that front these functions (collect, gc, no_gc, ...) live in heap.pyx; the
# C-level entry points are declared in heap.pxd.
#
# A collection has two increments, and a third with `cycles`:
#   Trace: validate every precise root (a live object in the OASR list), then set its mark bit.
#   Sweep: walk the OASR list; marked entries stay (mark cleared), the rest are unlinked and
#          lose the list's count, which frees whatever only they kept alive.
#   Cycles: the cycle pass (cycles.pxi) frees garbage cycles, by trial deletion over the heap.
# Between trace and sweep the embedder may run guest code: anything exposed meanwhile is marked
# as it is exposed (heap.expose_raw), so the sweep cannot drop a ref the guest has just been
# handed. Between sweep and cycles nothing needs marking: the pass asks no root source, it
# keeps everything held from outside the heap, the OASR list included.

from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

import logging

_log = logging.getLogger("drc")

cdef enum CollectionPhase:
    PHASE_TRACE = 0
    PHASE_SWEEP = 1
    PHASE_CYCLES = 2
    PHASE_DONE = 3

cdef enum HistoryKind:
    EVENT_GROW = 1
    EVENT_COLLECT = 2
    EVENT_SKIP = 3
    EVENT_CYCLES = 4

_EVENT_NAMES = {EVENT_GROW: "grow", EVENT_COLLECT: "collect", EVENT_SKIP: "skip",
                EVENT_CYCLES: "cycles"}
_POLICY_NAMES = {POLICY_ADAPTIVE: "adaptive", POLICY_WASMTIME: "wasmtime"}


cdef double monotonic_now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef int record_event(Heap h, uint8_t kind) except -1 nogil:
    """Append to the heap's growth/collection history (for plots); bounded, oldest dropped."""
    cdef HistoryEvent* ev
    if h.events_n == HISTORY_CAPACITY:
        memmove(h.events, h.events + HISTORY_CAPACITY // 2,
                (HISTORY_CAPACITY - HISTORY_CAPACITY // 2) * sizeof(HistoryEvent))
        h.events_n -= HISTORY_CAPACITY // 2
    ev = &h.events[h.events_n]
    h.events_n += 1
    ev.seconds = monotonic_now() - h.created_at
    ev.capacity = h.capacity
    ev.used_bytes = h.bytes_allocated - h.bytes_freed
    ev.oasr_len = h.oasr_len
    ev.kind = kind
    return 0


# ==== Zeal: integrity at every phase boundary ===============================================

cdef int zeal_check_oasr(Heap h, const char* when) except -1 nogil:
    """Every list entry is a live object with a valid kind, its in-list bit and a nonzero
    count; no cycle or duplicate; the length counter is right."""
    cdef gcref_t r = h.oasr_head
    cdef size_t n = 0
    cdef ObjectHeader* hdr
    cdef uint32_t kind
    while r:
        if not h.is_object(r):
            with gil:
                raise HeapCorruptionError(f"offset {r}: {when.decode()}: OASR entry is not a "
                                          "live object")
        hdr = hdr_of(h, r)
        kind = hdr.kind_bits & KIND_MASK
        if not kind_is_valid(kind):
            with gil:
                raise HeapCorruptionError(f"offset {r}: {when.decode()}: OASR entry has "
                                          f"invalid kind word {hdr.kind_bits:#010x}")
        if not (hdr.kind_bits & IN_OASR_BIT):
            with gil:
                raise HeapCorruptionError(f"offset {r}: {when.decode()}: OASR entry without "
                                          "its in-list bit")
        if hdr.ref_count == 0:
            with gil:
                raise HeapCorruptionError(f"offset {r}: {when.decode()}: OASR entry with "
                                          "ref_count 0")
        n += 1
        if n > h.oasr_len:
            with gil:
                raise HeapCorruptionError(
                    f"offset {r}: {when.decode()}: OASR list is longer than its length "
                    f"{h.oasr_len} (a cycle, a duplicate or a lost count)")
        r = hdr.next_oasr
    if n != h.oasr_len:
        with gil:
            raise HeapCorruptionError(f"offset {h.oasr_head}: {when.decode()}: OASR list has "
                                      f"{n} entries, its length says {h.oasr_len}")
    return 0


cdef int zeal_check_free_poisoned(Heap h, const char* when) except -1 nogil:
    """Every free granule (free runs and the bump region) still holds only POISON bytes."""
    cdef size_t g = 1, e, i
    cdef const uint64_t* words
    while g < h.fl.end:
        g = next_set(h.fl.free_bits, g, h.fl.end)
        if g >= h.fl.end:
            break
        e = next_clear(h.fl.free_bits, g, h.fl.end)
        zeal_check_range_poisoned(h, g, e, when)
        g = e
    if h.fl.bump_ptr < h.fl.bump_end:
        zeal_check_range_poisoned(h, h.fl.bump_ptr, h.fl.bump_end, when)
    return 0


cdef int zeal_check_range_poisoned(Heap h, size_t g, size_t e, const char* when) except -1 nogil:
    # Compare word by word; report the first bad byte.
    cdef const uint64_t* words = <const uint64_t*>(h.base + (g << GRANULE_SHIFT))
    cdef size_t n = (e - g) * (GRANULE // 8), i, b
    cdef uint64_t poison_word = 0x0101010101010101ULL * DRC_POISON
    for i in range(n):
        if words[i] != poison_word:
            for b in range(8):
                if (<const uint8_t*>&words[i])[b] != DRC_POISON:
                    with gil:
                        raise HeapCorruptionError(
                            f"offset {(g << GRANULE_SHIFT) + i * 8 + b}: {when.decode()}: free "
                            f"memory is not poisoned (byte "
                            f"{(<const uint8_t*>&words[i])[b]:#04x}): a write through a "
                            "dangling ref")
    return 0


cdef int zeal_phase_check(Heap h, const char* when) except -1 nogil:
    if GC_ZEAL:
        zeal_check_oasr(h, when)
        zeal_check_free_poisoned(h, when)
    return 0


# ==== Trace and sweep =======================================================================

cdef int check_root(Heap h, gcref_t r) except -1 nogil:
    """A precise root must be an object the OASR list holds: guest frames own no counts, so
    a root outside the list means the embedder forgot to expose it (or reports garbage), and
    marking it would let the sweep corrupt counts."""
    if not ref_is_object(r):
        return 0
    if h.is_object(r) and (hdr_of(h, r).kind_bits & IN_OASR_BIT) and hdr_of(h, r).ref_count:
        return 0
    with gil:
        if not h.is_object(r):
            raise InvalidRefError(f"stack root {r:#x} is not a live object of this heap")
        raise InvalidRefError(
            f"stack root {r:#x} is not in the over-approximated stack-roots list: every ref a "
            "guest frame holds must have been exposed first")


cdef int trace(Heap h, const uint32_t* roots, size_t n) except -1 nogil:
    """Mark the precise stack roots. Validates every root before marking any, so a bad root
    leaves the heap exactly as it was."""
    cdef size_t i
    for i in range(n):
        check_root(h, roots[i])
    for i in range(n):
        if ref_is_object(roots[i]):
            hdr_of(h, roots[i]).kind_bits |= MARK_BIT
    return 0


cdef int sweep(Heap h) except -1 nogil:
    """Keep marked list entries (clearing the mark), unlink and decrement the rest. Entries
    whose count reaches zero are freed by one cascade after the walk (one batch of frees, not
    one per entry); payloads of dead externrefs are released last, with the list consistent."""
    cdef gcref_t prev = 0, r = h.oasr_head, nxt
    cdef ObjectHeader* hdr
    cdef uint64_t objects_before, bytes_before
    cdef bint swept = False
    h.sweeping = True
    try:
        # Pending objects are garbage already: free them, so that the live size the growth
        # policy learns from this collection holds only what is really live. (Their payloads
        # wait for the end of the sweep with the others.)
        h.free_pending()
        objects_before = h.objects_freed
        bytes_before = h.bytes_freed
        h.stack_n = 0
        r = h.oasr_head
        while r:
            hdr = hdr_of(h, r)
            nxt = hdr.next_oasr
            if hdr.kind_bits & MARK_BIT:
                hdr.kind_bits &= ~(<uint32_t>MARK_BIT)
                prev = r
            else:
                if hdr.ref_count == 1 and h.stack_n == h.stack_cap and not try_grow_buffer(
                        h, &h.stack, &h.stack_cap, h.stack_n + 1):
                    # No memory for a longer stack: free what it holds now, r still listed.
                    # Nothing listed can die in that cascade (the list holds a count on it).
                    h.cascade_run()
                if prev:
                    hdr_of(h, prev).next_oasr = nxt
                else:
                    h.oasr_head = nxt
                hdr.next_oasr = 0
                hdr.kind_bits &= ~(<uint32_t>IN_OASR_BIT)
                h.oasr_len -= 1
                if GC_ZEAL and hdr.ref_count == 0:
                    with gil:
                        raise HeapCorruptionError(f"offset {r}: OASR entry with ref_count 0")
                if hdr.ref_count > 1:
                    hdr.ref_count -= 1
                else:
                    # The list held the last count: queue it; the cascade frees it below.
                    hdr.ref_count = 0
                    h.stack[h.stack_n] = r
                    h.stack_n += 1
            r = nxt
        if h.stack_n:
            h.cascade_run()
        swept = True
    finally:
        h.sweeping = False
        if not swept and h.n_release:
            # Out of memory halfway (the cascade parked what it left): the payloads of what
            # it did free are released all the same.
            with gil:
                h.release_host_data()
    h.objects_freed_by_sweeps += h.objects_freed - objects_before
    h.bytes_freed_by_sweeps += h.bytes_freed - bytes_before
    if h.n_release:
        with gil:
            h.release_host_data()
    return 0


cdef int clear_marks(Heap h) noexcept nogil:
    """Undo a trace whose sweep will not run (a cancelled collection)."""
    cdef gcref_t r = h.oasr_head
    while r:
        hdr_of(h, r).kind_bits &= ~(<uint32_t>MARK_BIT)
        r = hdr_of(h, r).next_oasr
    return 0


cdef int begin_collection(Heap h) except -1 nogil:
    if h.base == NULL:
        with gil:
            raise ValueError("the heap is closed")
    if h.no_gc_depth:
        with gil:
            raise NoGcScopeError(f"cannot collect inside a no-GC scope (depth {h.no_gc_depth})")
    if h.collecting:
        with gil:
            raise DrcError("a collection is already in progress on this heap")
    if h.in_cascade or h.sweeping:
        with gil:
            raise DrcError("cannot collect while objects are being freed")
    return 0


cdef int finish_collection(Heap h, double started) except -1 nogil:
    cdef double now = monotonic_now()
    cdef double mutator = started - (h.policy.last_gc_end if h.policy.last_gc_end > 0
                                     else h.created_at)
    h.collecting = False
    h.marking = False
    h.collections += 1
    h.gc_due = False
    h.oasr_len_after_last_gc = h.oasr_len
    learn_from_collection(&h.policy, now - started, mutator)
    h.oasr_trigger = oasr_trigger(&h.policy, h.oasr_len)
    h.policy.last_live_bytes = h.bytes_allocated - h.bytes_freed
    h.policy.last_gc_seconds = now - started
    h.policy.last_gc_end = now
    h.gc_seconds += now - started
    record_event(h, EVENT_COLLECT)
    # Function-table entries nothing refers to any more (funcref.pxi), once the table has
    # doubled since the last reclaim: amortized O(1) per entry, nothing on the hot paths.
    if h.fn_live >= h.fn_reclaim_at:
        fn_reclaim(h)
    return 0


cdef int collect_roots(Heap h, const uint32_t* roots, size_t n, bint cycles) except -1 nogil:
    """A whole collection against precise raw roots (the C-level entry point), then, with
    `cycles`, the cycle pass."""
    cdef double started = monotonic_now()
    cdef bint finished = False
    begin_collection(h)
    h.collecting = True
    try:
        zeal_phase_check(h, b"before trace")
        trace(h, roots, n)
        zeal_phase_check(h, b"after trace")
        zeal_phase_check(h, b"before sweep")
        sweep(h)
        zeal_phase_check(h, b"after sweep")
        finished = True
    finally:
        if not finished:
            clear_marks(h)
            h.collecting = False
    finish_collection(h, started)
    if cycles:
        cycle_pass(h, True)
    return 0


# ==== Root sources ==========================================================================

cdef object raw_roots_arg(object roots, str what):
    """A list of u32 raw refs from an iterable of ints, GcRefs or I31s."""
    out = []
    if roots is None:
        return out
    if isinstance(roots, (str, bytes)) or not hasattr(roots, "__iter__"):
        raise TypeError(f"{what}: stack roots must be an iterable of raw u32 refs, got "
                        f"{type(roots).__name__}")
    for r in roots:
        if type(r) is GcRef:
            out.append((<GcRef>r).raw)
        elif type(r) is I31:
            continue
        elif isinstance(r, int) and not isinstance(r, bool):
            if r < 0 or r > 0xFFFFFFFF:
                raise OverflowError(f"{what}: stack root {r!r} is not a u32")
            out.append(r)
        elif r is None:
            continue
        else:
            raise TypeError(f"{what}: a stack root is a raw u32 ref, got "
                            f"{type(r).__name__} {r!r}")
    return out


cdef object gather_roots(Heap h, object stack_roots, object frames, str what):
    """The precise roots for a collection, or None when they cannot be known (guest frames
    are active and nothing can report them: the caller must not sweep)."""
    if stack_roots is not None or frames is not None:
        roots = raw_roots_arg(stack_roots, what)
        if frames is not None:
            roots.extend(raw_roots_arg(frames_to_roots(h, frames, what), what))
        return roots
    if h.provider is not None:
        h.callbacks += 1
        try:
            produced = h.provider()
        finally:
            h.callbacks -= 1
        if (produced is None or isinstance(produced, (str, bytes))
                or not hasattr(produced, "__iter__")):
            # A provider that forgot to `return` must not read as "no roots": the sweep
            # would free everything the guest still holds.
            raise TypeError(
                f"{what}: the root provider {h.provider!r} returned "
                f"{type(produced).__name__} {produced!r:.80}; it must return an iterable of "
                + ("(pc, slots) frames (it was set with frames=True)"
                   if h.provider_gives_frames else "raw u32 stack roots"))
        if h.provider_gives_frames:
            return raw_roots_arg(frames_to_roots(h, produced, what), what)
        return raw_roots_arg(produced, what)
    if h.guest_frames == 0:
        # No guest frame is active (the stack canary is unset), so no frame can hold a ref:
        # the whole list is stale, exactly as Wasmtime's activations table does
        # when no stack canary is set.
        return []
    return None


cdef object frames_to_roots(Heap h, object frames, str what):
    if h.stack_maps is None:
        raise ValueError(f"{what}: frames need a StackMapRegistry (set heap.stack_maps)")
    return h.stack_maps.roots_of_frames(frames)


@cython.auto_pickle(False)
cdef class _RootBuffer:
    """The roots of one collection as a C array (kept alive by its Collection)."""
    cdef uint32_t* items
    cdef size_t n

    def __dealloc__(self):
        c_free(self.items)

    cdef int fill(self, list roots) except -1:
        cdef size_t i
        self.n = len(roots)
        self.items = <uint32_t*>malloc(max(self.n, 1) * sizeof(uint32_t))
        if self.items == NULL:
            raise MemoryError()
        for i in range(self.n):
            self.items[i] = roots[i]
        return 0


# ==== The Python-visible collection object and its report ===================================

@cython.final
@cython.auto_pickle(False)
cdef class CollectionReport:
    """What one collection did. ``skipped`` is True when guest frames were active and no root
    source could report their roots, so nothing was swept (``reason`` says why).
    ``objects_freed`` counts everything freed, ``cycles_freed`` the part the cycle pass
    freed (garbage cycles and what only they kept alive)."""
    cdef readonly bint skipped
    cdef readonly str reason
    cdef readonly Py_ssize_t roots
    cdef readonly Py_ssize_t oasr_before
    cdef readonly Py_ssize_t oasr_after
    cdef readonly unsigned long long objects_freed
    cdef readonly unsigned long long bytes_freed
    cdef readonly unsigned long long cycles_freed
    cdef readonly double seconds

    def __cinit__(self, *args):
        claim_private(args, "CollectionReport objects are made by Heap.collect and Heap.gc")

    def __init__(self, *args, **kwargs):
        raise TypeError("CollectionReport objects are made by Heap.collect and Heap.gc")

    def __repr__(self):
        if self.skipped:
            return f"<CollectionReport skipped: {self.reason}>"
        return (f"<CollectionReport roots={self.roots} oasr {self.oasr_before}->"
                f"{self.oasr_after} freed {self.objects_freed} objects / {self.bytes_freed} "
                f"bytes ({self.cycles_freed} by the cycle pass) in "
                f"{self.seconds * 1e3:.3f} ms>")


@cython.final
@cython.auto_pickle(False)
cdef class Collection:
    """An incremental collection: call ``collect_increment()`` until it returns
    ``"complete"``. The first increment traces (marks the precise roots), the second sweeps,
    and with ``cycles`` a third runs the cycle pass. Guest code may run between them;
    whatever it is handed meanwhile survives. ``cancel()`` (also done when the object is
    dropped unfinished) undoes the trace; after the sweep it only skips the cycle pass."""
    cdef Heap heap
    cdef _RootBuffer roots
    cdef int phase_code
    cdef bint cycles
    cdef readonly CollectionReport report
    cdef double started
    cdef uint64_t objects_before
    cdef uint64_t bytes_before
    cdef uint64_t cycles_before

    def __cinit__(self, *args):
        claim_private(args, "Collection objects are made by Heap.gc()")

    def __init__(self, *args, **kwargs):
        raise TypeError("Collection objects are made by Heap.gc()")

    @property
    def phase(self):
        """The next increment: 'trace', 'sweep', 'cycles', or 'done'."""
        return ("trace", "sweep", "cycles", "done")[self.phase_code]

    def collect_increment(self):
        """Run the next phase. Returns ``"continue"`` while one is left (after the trace,
        and after the sweep of a collection with ``cycles``), then ``"complete"`` (and on
        every later call)."""
        cdef Heap h = self.heap
        if self.phase_code == PHASE_DONE:
            return "complete"
        if h is None:
            raise TypeError("this Collection was not made by Heap.gc()")
        h.check_open()
        if h.no_gc_depth:
            raise NoGcScopeError(f"cannot collect inside a no-GC scope (depth {h.no_gc_depth})")
        if self.phase_code == PHASE_CYCLES:
            try:
                cycle_pass(h, True)
            except BaseException:
                self.abandon()
                raise
            self.phase_code = PHASE_DONE
            h.collecting = False
            self.report = self.make_report()
            return "complete"
        if self.phase_code == PHASE_TRACE:
            zeal_phase_check(h, b"before trace")
            try:
                trace(h, self.roots.items, self.roots.n)
            except BaseException:
                self.abandon()
                raise
            h.marking = True
            zeal_phase_check(h, b"after trace")
            self.phase_code = PHASE_SWEEP
            return "continue"
        h.marking = False
        try:
            zeal_phase_check(h, b"before sweep")
            sweep(h)
            zeal_phase_check(h, b"after sweep")
        except BaseException:
            self.abandon()
            raise
        finish_collection(h, self.started)
        self.report = self.make_report()
        if self.cycles:
            # Still this collection's: no other may start before its last increment.
            h.collecting = True
            self.phase_code = PHASE_CYCLES
            return "continue"
        self.phase_code = PHASE_DONE
        return "complete"

    cdef CollectionReport make_report(self):
        return make_report(self.heap, False, "", self.roots.n, self.report.oasr_before,
                           self.objects_before, self.bytes_before, self.cycles_before,
                           self.started)

    def run(self):
        """Run the remaining increments; returns the report."""
        while self.collect_increment() != "complete":
            pass
        return self.report

    def cancel(self):
        """Abandon an unfinished collection: clear the marks it set. Before the sweep
        nothing was freed; after it, only the cycle pass is skipped."""
        if self.phase_code != PHASE_DONE:
            self.abandon()

    cdef void abandon(self) noexcept:
        cdef Heap h = self.heap
        self.phase_code = PHASE_DONE
        if h is not None:
            if h.base != NULL:
                clear_marks(h)
            h.collecting = False
            h.marking = False

    def __dealloc__(self):
        # Dropped unfinished: undo the trace so the heap can collect again.
        if self.phase_code != PHASE_DONE:
            self.abandon()


cdef CollectionReport make_report(Heap h, bint skipped, str reason, Py_ssize_t nroots,
                                  Py_ssize_t oasr_before, uint64_t objects_before,
                                  uint64_t bytes_before, uint64_t cycles_before,
                                  double started):
    cdef CollectionReport rep
    global _making_private
    _making_private = True
    rep = CollectionReport.__new__(CollectionReport)
    rep.skipped = skipped
    rep.reason = reason
    rep.roots = nroots
    rep.oasr_before = oasr_before
    rep.oasr_after = h.oasr_len
    rep.objects_freed = h.objects_freed - objects_before
    rep.bytes_freed = h.bytes_freed - bytes_before
    rep.cycles_freed = h.objects_freed_by_cycles - cycles_before
    rep.seconds = monotonic_now() - started
    return rep


cdef Collection start_collection(Heap h, object stack_roots, object frames, str what,
                                 bint cycles):
    """A Collection ready to trace; or, on the canary path, one that is already done with a
    report saying the sweep (and the cycle pass) was skipped."""
    cdef Collection c
    cdef _RootBuffer buf
    cdef double started = monotonic_now()
    h.check_open()
    begin_collection(h)
    # Claimed before the root provider runs: if it allocates on this heap, that allocation
    # must grow rather than start a collection of its own.
    h.collecting = True
    try:
        roots = gather_roots(h, stack_roots, frames, what)
    finally:
        h.collecting = False
    global _making_private
    _making_private = True
    c = Collection.__new__(Collection)
    c.heap = h
    c.started = started
    c.objects_before = h.objects_freed
    c.bytes_before = h.bytes_freed
    c.cycles_before = h.objects_freed_by_cycles
    c.cycles = cycles
    if roots is None:
        reason = ("guest frames are active (stack canary set) but no root source can report "
                  "their roots: pass stack_roots or frames, or set a root provider")
        _log.warning("drc: skipping the sweep: %s", reason)
        h.collections_skipped += 1
        record_event(h, EVENT_SKIP)
        c.phase_code = PHASE_DONE
        c.report = make_report(h, True, reason, 0, h.oasr_len, h.objects_freed,
                               h.bytes_freed, h.objects_freed_by_cycles, started)
        return c
    buf = _RootBuffer.__new__(_RootBuffer)
    buf.fill(roots)
    c.roots = buf
    c.phase_code = PHASE_TRACE
    c.report = make_report(h, False, "", buf.n, h.oasr_len, h.objects_freed, h.bytes_freed,
                           h.objects_freed_by_cycles, started)
    h.collecting = True
    return c


cdef CollectionReport collect_now(Heap h, object stack_roots, object frames, str what,
                                  bint cycles):
    return start_collection(h, stack_roots, frames, what, cycles).run()


# ==== Scopes =================================================================================

cdef inline Heap scope_heap(Heap h):
    if h is None:
        raise TypeError("this scope was not made by Heap.no_gc() or Heap.guest()")
    return h


@cython.final
@cython.auto_pickle(False)
cdef class NoGcScope:
    """``with heap.no_gc():`` no collection may run inside (scopes nest)."""
    cdef Heap heap

    def __cinit__(self, *args):
        claim_private(args, "NoGcScope objects are made by Heap.no_gc()")

    def __init__(self, *args, **kwargs):
        raise TypeError("NoGcScope objects are made by Heap.no_gc()")

    def __enter__(self):
        scope_heap(self.heap).no_gc_enter()
        return self

    def __exit__(self, *exc):
        scope_heap(self.heap).no_gc_exit()


cdef NoGcScope make_no_gc_scope(Heap h):
    cdef NoGcScope s
    global _making_private
    _making_private = True
    s = NoGcScope.__new__(NoGcScope)
    s.heap = h
    return s


@cython.final
@cython.auto_pickle(False)
cdef class GuestScope:
    """``with heap.guest():`` guest frames are active inside (the stack canary is set)."""
    cdef Heap heap

    def __cinit__(self, *args):
        claim_private(args, "GuestScope objects are made by Heap.guest()")

    def __init__(self, *args, **kwargs):
        raise TypeError("GuestScope objects are made by Heap.guest()")

    def __enter__(self):
        scope_heap(self.heap).guest_enter()
        return self

    def __exit__(self, *exc):
        scope_heap(self.heap).guest_exit()


cdef GuestScope make_guest_scope(Heap h):
    cdef GuestScope s
    global _making_private
    _making_private = True
    s = GuestScope.__new__(GuestScope)
    s.heap = h
    return s


cdef uint8_t policy_code(object name) except 0xFF:
    if name == "adaptive":
        return POLICY_ADAPTIVE
    if name == "wasmtime":
        return POLICY_WASMTIME
    raise ValueError(f"growth_policy must be 'adaptive' or 'wasmtime', got {name!r}")


def _should_collect_first(policy, need, capacity, last_live, *, last_gc_seconds=0.0,
                          since_last_gc=0.0, min_gc_heap=DEFAULT_MIN_GC_HEAP):
    """The growth policy's decision, for tests: True to collect first, False to grow.
    `since_last_gc` is how long ago the last collection ended (0: never collected)."""
    cdef PolicyState s
    s.policy = policy_code(policy)
    s.min_gc_heap = min_gc_heap
    s.last_live_bytes = last_live
    s.last_gc_seconds = last_gc_seconds
    s.last_gc_end = 1000.0 if since_last_gc else 0.0
    return bool(should_collect_first(&s, need, capacity, 1000.0 + since_last_gc))


def _oasr_trigger(policy, min_trigger, len_after_last_gc):
    """The OASR trigger rule, for tests: the list length at which a collection becomes due,
    given the adaptive floor `min_trigger` and the list length after the last collection."""
    cdef PolicyState s
    s.policy = policy_code(policy)
    s.min_trigger = min_trigger
    return oasr_trigger(&s, len_after_last_gc)


def _learn_from_collection(policy, min_trigger, gc_seconds, mutator_seconds):
    """The adaptive floor's update rule, for tests: the floor after a collection that took
    `gc_seconds` following `mutator_seconds` of mutator time."""
    cdef PolicyState s
    s.policy = policy_code(policy)
    s.min_trigger = min_trigger
    learn_from_collection(&s, gc_seconds, mutator_seconds)
    return s.min_trigger


# ==== Automatic collection from the allocation slow path ====================================

cdef bint can_auto_collect(Heap h) noexcept nogil:
    """A collection may start by itself: someone can report the roots, and nothing that a
    collection would disturb is under way."""
    return (h.has_root_provider and h.no_gc_depth == 0 and not h.collecting
            and not h.in_cascade and not h.sweeping)


cdef int auto_collect(Heap h, bint cycles) except -1 nogil:
    with gil:
        collect_now(h, None, None, "automatic collection", cycles)
    return 0


cdef int auto_cycles(Heap h, bint collected) except -1 nogil:
    """The automatic cycle pass: alone right after a collection (the OASR list is exactly
    the precise set then), or as the last increment of a fresh full collection."""
    if collected:
        cycle_pass(h, False)
    else:
        auto_collect(h, True)
    return 0


cdef size_t alloc_after_failure(Heap h, size_t granules) except 0 nogil:
    """The free list has no block of `granules`: collect or grow, by the growth policy, and
    return the block. Before growing, the cycle pass runs when policy.pxd's cycle_pass_due
    says the collections freed little. Raises OutOfHeapError (heap unchanged) when nothing
    makes room."""
    cdef size_t need = granules << GRANULE_SHIFT
    cdef size_t p
    cdef bint collected = False, cycled = False
    if can_auto_collect(h) and should_collect_first(&h.policy, need, h.capacity,
                                                    monotonic_now()):
        auto_collect(h, False)
        collected = True
        p = fl_alloc_slow(&h.fl, granules)
        if p:
            return p
    if can_auto_collect(h) and cycle_pass_due(&h.policy, need, h.capacity,
                                              h.bytes_allocated - h.bytes_freed):
        auto_cycles(h, collected)
        collected = cycled = True
        p = fl_alloc_slow(&h.fl, granules)
        if p:
            return p
    if h.grow_for(need) == 0 and not cycled and can_auto_collect(h):
        # Growing is impossible: a full collection is the last resort.
        auto_cycles(h, collected)
        collected = True
    p = fl_bump(&h.fl, granules)
    if p == 0:
        p = fl_alloc_slow(&h.fl, granules)
    if p == 0:
        with gil:
            raise OutOfHeapError(
                f"cannot allocate {need} bytes: the heap holds {h.capacity} of at most "
                f"{h.max_size} bytes, {h.fl.free_granules << GRANULE_SHIFT} of them free "
                f"but no free block is large enough"
                + ("" if collected else " (no root provider, so it could not collect)"))
    return p


cdef int maybe_collect_due(Heap h) except -1 nogil:
    """The OASR trigger fired (len >= max(2 * len after the last collection, 1024)): collect
    now if a root source is registered."""
    if h.gc_due and can_auto_collect(h):
        auto_collect(h, False)
    return 0
