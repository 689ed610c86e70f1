# Grow or collect? The decision an allocation makes when the free list has no room.
#
# Wasmtime's rule (`should_collect_first`, PR #12942) collects whenever the live size after the
# last collection plus the request is under half the capacity. It looks only at the live size,
# so a program that allocates fast but keeps little alive stays in a small heap and collects
# on every fill (Wasmtime issue #13470: about half the throughput). Every collection has a
# fixed cost (asking the embedder for its roots, walking frames, zeal checks) that a small heap
# pays again every few thousand objects.
#
# The adaptive rule keeps Wasmtime's live-size test and adds three that weigh the allocation
# rate:
#  * below a minimum heap size, always grow: collecting a tiny heap is all fixed cost;
#  * when the last collection took more than GC_TIME_BUDGET_PERCENT of the time since it
#    ended, the program allocates faster than collections pay off: grow, up to
#    ADAPTIVE_LIVE_FACTOR times the live size (so a small live set cannot grow the heap
#    without bound);
#  * the OASR-length trigger (a collection is due at max(2 x the length after the last one,
#    1024)) gets a floor that doubles while collections overrun that time budget and halves
#    back while they stay well under it, between 1024 and ADAPTIVE_MAX_TRIGGER.
# Both rules grow when collecting cannot help and collect when growing is impossible.
#
# Before either rule grows the heap, the cycle pass (cycles.pxi) may run first: reference
# counting and the OASR sweep never free a garbage cycle, so a heap that keeps filling although
# collections run may be full of cycles. `cycle_pass_due` says when to look; its third test
# bounds the pass's cost (see the function).

from libc.stdint cimport uint8_t, uint64_t

cdef enum GrowthPolicy:
    POLICY_ADAPTIVE = 0
    POLICY_WASMTIME = 1

cdef enum:
    HEAP_PAGE_SIZE = 65536
    OASR_GC_THRESHOLD = 1024           # Wasmtime's floor: a list this long may make a GC due
    ADAPTIVE_MAX_TRIGGER = 1 << 13     # adaptive: the OASR trigger never rises above this
    DEFAULT_MIN_GC_HEAP = 1 << 20      # adaptive: never collect a heap smaller than this
    ADAPTIVE_LIVE_FACTOR = 8           # adaptive: time-budget growth stops at this x live
    GC_TIME_BUDGET_PERCENT = 10        # adaptive: share of wall time collections may take
    CYCLE_GROWTH_FACTOR = 2            # a cycle pass waits until use has doubled since the last

cdef struct PolicyState:
    uint64_t min_gc_heap         # adaptive: capacity below which it always grows
    uint64_t min_trigger         # adaptive: the OASR trigger's floor (1024 for Wasmtime)
    uint64_t last_live_bytes     # live bytes right after the last collection (0 before one)
    double last_gc_seconds       # how long the last collection took
    double last_gc_end           # monotonic time at which it ended (0 before one)
    uint64_t cycle_baseline      # bytes in use right after the last cycle pass (0 before one)
    uint8_t policy               # a GrowthPolicy


cdef inline bint wasmtime_should_collect_first(uint64_t need, uint64_t capacity,
                                               uint64_t last_live) noexcept nogil:
    """Wasmtime's `should_collect_first`, case for case."""
    if capacity == 0:
        return False
    if need == 0:              # zeal's forced-collection signal
        return True
    if need > <uint64_t>0x7FFFFFFFFFFFFFFF:
        return False
    if last_live + need < last_live:   # overflow: the request cannot fit without collecting
        return True
    return last_live + need < capacity // 2


cdef inline bint should_collect_first(const PolicyState* s, uint64_t need, uint64_t capacity,
                                      double now) noexcept nogil:
    cdef uint64_t live_cap
    if not wasmtime_should_collect_first(need, capacity, s.last_live_bytes):
        return False
    if s.policy == POLICY_WASMTIME or need == 0:
        return True
    if capacity < s.min_gc_heap:
        return False
    if (s.last_gc_end > 0
            and s.last_gc_seconds * 100 > GC_TIME_BUDGET_PERCENT * (now - s.last_gc_end)):
        live_cap = ADAPTIVE_LIVE_FACTOR * (s.last_live_bytes if s.last_live_bytes > s.min_gc_heap
                                           else s.min_gc_heap)
        if capacity < live_cap:
            return False
    return True


cdef inline bint cycle_pass_due(const PolicyState* s, uint64_t need, uint64_t capacity,
                                uint64_t used) noexcept nogil:
    """The heap is about to grow: look for garbage cycles first? Yes when
      1. (adaptive) the heap is at least `min_gc_heap` (a tiny heap is not worth a walk);
      2. the last DRC collection freed little: it left the heap at least half full, the case
         in which Wasmtime's rule would grow rather than collect;
      3. the bytes in use have reached CYCLE_GROWTH_FACTOR x what the last pass left.
    A pass costs O(live objects). By 3, between two passes the program added at least as many
    bytes as the earlier pass left in use, so the walks cost O(1) amortized per allocated
    byte, and a program whose live set grows geometrically pays a geometric sum."""
    if capacity == 0:
        return False
    if s.policy == POLICY_ADAPTIVE and capacity < s.min_gc_heap:
        return False
    if wasmtime_should_collect_first(need, capacity, s.last_live_bytes):
        return False
    return used >= CYCLE_GROWTH_FACTOR * s.cycle_baseline


cdef inline uint64_t oasr_trigger(const PolicyState* s,
                                  uint64_t len_after_last_gc) noexcept nogil:
    """The OASR length at which a collection becomes due: max(2 x the length after the last
    collection, the floor). Wasmtime's floor is 1024."""
    cdef uint64_t floor = OASR_GC_THRESHOLD
    if s.policy == POLICY_ADAPTIVE and s.min_trigger > floor:
        floor = s.min_trigger
    return 2 * len_after_last_gc if 2 * len_after_last_gc > floor else floor


cdef inline void learn_from_collection(PolicyState* s, double gc_seconds,
                                       double mutator_seconds) noexcept nogil:
    """Adaptive: a collection that took more than the time budget of the mutator time before
    it raises the OASR trigger's floor (fewer, larger collections amortize their fixed cost);
    one well under budget lowers it again, down to Wasmtime's 1024."""
    if s.policy != POLICY_ADAPTIVE:
        return
    if s.min_trigger < OASR_GC_THRESHOLD:
        s.min_trigger = OASR_GC_THRESHOLD
    if gc_seconds * 100 > GC_TIME_BUDGET_PERCENT * mutator_seconds:
        if s.min_trigger < ADAPTIVE_MAX_TRIGGER:
            s.min_trigger *= 2
    elif gc_seconds * 400 < GC_TIME_BUDGET_PERCENT * mutator_seconds:
        if s.min_trigger > OASR_GC_THRESHOLD:
            s.min_trigger //= 2


cdef inline uint64_t grown_capacity(uint64_t capacity, uint64_t need,
                                    uint64_t max_size) noexcept nogil:
    """Double the capacity (in whole pages), at least by `need`, at most `max_size`. Returns
    `capacity` unchanged when the heap cannot grow enough for `need`."""
    cdef uint64_t target = capacity * 2 if capacity else HEAP_PAGE_SIZE
    cdef uint64_t at_least = capacity + need
    if target < at_least:
        target = at_least
    target = (target + HEAP_PAGE_SIZE - 1) // HEAP_PAGE_SIZE * HEAP_PAGE_SIZE
    if target > max_size:
        target = max_size
    if target < at_least:
        return capacity
    return target
