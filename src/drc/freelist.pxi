# The free list's code (its data and the bump fast path are in freelist.pxd). Included into
# heap.pyx so the allocator and the heap compile into one extension: the slow paths are plain
# C calls from the heap's allocation and cascade code.

from libc.stdlib cimport realloc, free as c_free
from posix.mman cimport mmap, munmap, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS, MAP_FAILED

cdef extern from *:
    """
    #define drc_ctz64(x) ((size_t)__builtin_ctzll(x))
    #define drc_clz64(x) ((size_t)__builtin_clzll(x))
    #define drc_popcount64(x) ((size_t)__builtin_popcountll(x))
    #ifndef MAP_NORESERVE
    #define MAP_NORESERVE 0
    #endif
    """
    size_t drc_ctz64(uint64_t x) nogil
    size_t drc_clz64(uint64_t x) nogil
    size_t drc_popcount64(uint64_t x) nogil
    const int MAP_NORESERVE

# Free-list integrity rules, as reported by fl_check (heap.pyx turns them into messages).
cdef enum:
    FL_OK = 0
    FL_BAD_BUMP = 1             # bump region misordered, out of bounds, or at granule 0
    FL_BUMP_MARKED_FREE = 2     # a bump-region granule also has its free bit set
    FL_RUN_TOUCHES_BUMP = 3     # a free run is adjacent to the bump region (missed merge)
    FL_FREE_OUT_OF_RANGE = 4    # free bit on granule 0 or at/after the end
    FL_COUNT_MISMATCH = 5       # free_granules disagrees with the bitmap and bump region
    FL_START_IN_FREE = 6        # a live block starts inside free space


cdef int fl_init(FreeList* fl, size_t max_granules) except -1:
    """Map both bitmaps for `max_granules` granules. Anonymous pages are zero and only
    become resident once touched, so a 4 GiB heap costs nothing until it grows."""
    cdef size_t words = (max_granules + 64) // 64 + 1
    cdef void* p
    memset(fl, 0, sizeof(FreeList))
    fl.map_bytes = words * 8
    fl.max_granules = max_granules
    p = mmap(NULL, fl.map_bytes * 2, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
    if p == MAP_FAILED:
        raise MemoryError(f"cannot map {2 * fl.map_bytes} bytes of free-list bitmaps")
    fl.free_bits = <uint64_t*>p
    fl.start_bits = <uint64_t*>(<char*>p + fl.map_bytes)
    return 0


cdef void fl_destroy(FreeList* fl) noexcept nogil:
    cdef size_t i
    if fl.free_bits != NULL:
        munmap(fl.free_bits, fl.map_bytes * 2)
        fl.free_bits = NULL
        fl.start_bits = NULL
    for i in range(NCLASSES):
        c_free(fl.classes[i].items)
        fl.classes[i].items = NULL
        fl.classes[i].n = fl.classes[i].cap = 0
    fl.ncandidates = 0


# ==== Bitmap scans (word at a time) ========================================================

cdef inline size_t next_clear(const uint64_t* bits, size_t g, size_t limit) noexcept nogil:
    """First granule >= g whose bit is clear, or `limit`."""
    cdef size_t w
    cdef uint64_t x
    if g >= limit:
        return limit
    w = g >> 6
    x = ~bits[w] & (~(<uint64_t>0) << (g & 63))
    while x == 0:
        w += 1
        if (w << 6) >= limit:
            return limit
        x = ~bits[w]
    g = (w << 6) + drc_ctz64(x)
    return g if g < limit else limit


cdef inline size_t next_set(const uint64_t* bits, size_t g, size_t limit) noexcept nogil:
    """First granule >= g whose bit is set, or `limit`."""
    cdef size_t w
    cdef uint64_t x
    if g >= limit:
        return limit
    w = g >> 6
    x = bits[w] & (~(<uint64_t>0) << (g & 63))
    while x == 0:
        w += 1
        if (w << 6) >= limit:
            return limit
        x = bits[w]
    g = (w << 6) + drc_ctz64(x)
    return g if g < limit else limit


cdef inline size_t run_start(const uint64_t* bits, size_t g) noexcept nogil:
    """Start of the run of set bits that contains granule g (bit g must be set). Terminates
    because granule 0's bit is never set."""
    cdef size_t w = g >> 6
    cdef size_t b = g & 63
    cdef uint64_t x = ~bits[w] & (((<uint64_t>1) << b) - 1)
    while x == 0:
        w -= 1
        x = ~bits[w]
    return (w << 6) + 63 - drc_clz64(x) + 1


cdef inline void set_range(uint64_t* bits, size_t a, size_t b) noexcept nogil:
    cdef size_t wa, wb, w
    if a >= b:
        return
    wa = a >> 6
    wb = (b - 1) >> 6
    if wa == wb:
        bits[wa] |= (~(<uint64_t>0) << (a & 63)) & (~(<uint64_t>0) >> (63 - ((b - 1) & 63)))
        return
    bits[wa] |= ~(<uint64_t>0) << (a & 63)
    for w in range(wa + 1, wb):
        bits[w] = ~(<uint64_t>0)
    bits[wb] |= ~(<uint64_t>0) >> (63 - ((b - 1) & 63))


cdef inline void clear_range(uint64_t* bits, size_t a, size_t b) noexcept nogil:
    cdef size_t wa, wb, w
    if a >= b:
        return
    wa = a >> 6
    wb = (b - 1) >> 6
    if wa == wb:
        bits[wa] &= ~((~(<uint64_t>0) << (a & 63)) & (~(<uint64_t>0) >> (63 - ((b - 1) & 63))))
        return
    bits[wa] &= ~(~(<uint64_t>0) << (a & 63))
    for w in range(wa + 1, wb):
        bits[w] = 0
    bits[wb] &= ~(~(<uint64_t>0) >> (63 - ((b - 1) & 63)))


cdef size_t count_range(const uint64_t* bits, size_t a, size_t b) noexcept nogil:
    """Set bits in [a, b)."""
    cdef size_t n = 0
    cdef size_t g = a
    while g < b:
        g = next_set(bits, g, b)
        if g >= b:
            break
        a = next_clear(bits, g, b)
        n += a - g
        g = a
    return n


# ==== Size classes and candidates ==========================================================

cdef inline size_t size_class(size_t granules) noexcept nogil:
    if granules < EXACT_CLASSES:
        return granules
    # 64..127 -> 64, 128..255 -> 65, ...
    return EXACT_CLASSES + (63 - drc_clz64(granules)) - 6


cdef void fl_push(FreeList* fl, size_t start, size_t length) noexcept nogil:
    """Record a run start as a candidate for its size class. Never fails: if the stack
    cannot grow, the list is marked dirty and rebuilt from the bitmap before it would
    report that nothing fits."""
    cdef CandidateStack* st = &fl.classes[size_class(length)]
    cdef size_t cap
    cdef uint32_t* items
    if st.n == st.cap:
        cap = st.cap * 2 if st.cap else 64
        items = <uint32_t*>realloc(st.items, cap * sizeof(uint32_t))
        if items == NULL:
            fl.dirty = True
            return
        st.items = items
        st.cap = cap
    st.items[st.n] = <uint32_t>start
    st.n += 1
    fl.ncandidates += 1


cdef void fl_rebuild(FreeList* fl) noexcept nogil:
    """Forget every candidate and record each maximal free run once."""
    cdef size_t i, g, e
    for i in range(NCLASSES):
        fl.classes[i].n = 0
    fl.ncandidates = 0
    fl.dirty = False
    g = 1
    while g < fl.end:
        g = next_set(fl.free_bits, g, fl.end)
        if g >= fl.end:
            break
        e = next_clear(fl.free_bits, g, fl.end)
        fl_push(fl, g, e - g)
        g = e


cdef inline void fl_maybe_rebuild(FreeList* fl) noexcept nogil:
    # Every real run needs at most one valid candidate, and runs are disjoint, so more than
    # twice as many candidates as free granules means most are stale.
    if fl.ncandidates > 2 * fl.free_granules + 4096:
        fl_rebuild(fl)


# ==== Allocation slow path, frees, growth ==================================================

cdef void fl_retire_bump(FreeList* fl) noexcept nogil:
    """Return what is left of the bump region to the bitmap. It becomes a maximal run of its
    own, because no free run ever touches the bump region."""
    if fl.bump_end > fl.bump_ptr:
        set_range(fl.free_bits, fl.bump_ptr, fl.bump_end)
        fl_push(fl, fl.bump_ptr, fl.bump_end - fl.bump_ptr)
    fl.bump_ptr = fl.bump_end = 0


cdef size_t fl_take_candidate(FreeList* fl, size_t granules) noexcept nogil:
    """Find a free run of at least `granules` and remove it from its stack; 0 if none."""
    cdef size_t cls, i, s, length, other
    cdef CandidateStack* st
    for cls in range(size_class(granules), NCLASSES):
        st = &fl.classes[cls]
        i = st.n
        while i > 0:
            i -= 1
            s = st.items[i]
            if s >= fl.end or not bit_get(fl.free_bits, s) or bit_get(fl.free_bits, s - 1):
                # Stale: allocated, absorbed, or merged into a run that starts earlier.
                st.n -= 1
                st.items[i] = st.items[st.n]
                fl.ncandidates -= 1
                continue
            length = next_clear(fl.free_bits, s, fl.end) - s
            if length >= granules:
                st.n -= 1
                st.items[i] = st.items[st.n]
                fl.ncandidates -= 1
                return s
            other = size_class(length)
            if other != cls:
                # The run at this start was re-formed smaller since it was recorded.
                st.n -= 1
                st.items[i] = st.items[st.n]
                fl.ncandidates -= 1
                fl_push(fl, s, length)
            # else: same power-of-two class but too small for this request; keep it.
    return 0


cdef size_t fl_alloc_slow(FreeList* fl, size_t granules) noexcept nogil:
    """The bump region is too small: retire it, take the smallest class of run that fits and
    make the whole run the new bump region. Returns the first granule, or 0 when nothing
    fits (the free list is then unchanged except that the bump region was retired)."""
    cdef size_t s, e
    fl_maybe_rebuild(fl)
    fl_retire_bump(fl)
    s = fl_take_candidate(fl, granules)
    if s == 0 and fl.dirty:
        fl_rebuild(fl)
        s = fl_take_candidate(fl, granules)
    if s == 0:
        return 0
    e = next_clear(fl.free_bits, s, fl.end)
    clear_range(fl.free_bits, s, e)
    fl.bump_ptr = s + granules
    fl.bump_end = e
    fl.free_granules -= granules
    bit_set(fl.start_bits, s)
    return s


cdef inline void fl_absorb_into_bump(FreeList* fl) noexcept nogil:
    """Keep the invariant that no free run touches the bump region."""
    cdef size_t s, e
    if fl.bump_end == fl.bump_ptr:
        return
    if bit_get(fl.free_bits, fl.bump_ptr - 1):
        s = run_start(fl.free_bits, fl.bump_ptr - 1)
        clear_range(fl.free_bits, s, fl.bump_ptr)
        fl.bump_ptr = s
    if fl.bump_end < fl.end and bit_get(fl.free_bits, fl.bump_end):
        e = next_clear(fl.free_bits, fl.bump_end, fl.end)
        clear_range(fl.free_bits, fl.bump_end, e)
        fl.bump_end = e


cdef inline bint fl_free_next_to_bump(FreeList* fl, size_t s, size_t g) noexcept nogil:
    """Free one block if it touches the bump region (the common LIFO case): the region just
    grows over it, with no bitmap work beyond its start bit. False if it does not touch."""
    if fl.bump_end == fl.bump_ptr:
        return False
    if s + g == fl.bump_ptr:
        fl.bump_ptr = s
        if bit_get(fl.free_bits, s - 1):
            fl_absorb_into_bump(fl)
    elif s == fl.bump_end:
        fl.bump_end = s + g
        if fl.bump_end < fl.end and bit_get(fl.free_bits, fl.bump_end):
            fl_absorb_into_bump(fl)
    else:
        return False
    fl.free_granules += g
    bit_clear(fl.start_bits, s)
    return True


cdef void fl_free_batch(FreeList* fl, const uint32_t* blocks, size_t n) noexcept nogil:
    """Free n blocks given as (first granule, granules) pairs. The caller guarantees each is
    a live block. Coalescing is implicit in the bitmap; afterwards each maximal run that
    gained space gets one candidate (its start and its final length)."""
    cdef size_t i, s, e, rs, re
    cdef size_t lo = <size_t>-1
    cdef size_t hi = 0
    cdef bint left_free, right_is_batch
    if n == 0:
        return
    # 1. Mark every block free. Start bits stay set for now: a free granule with its start
    #    bit set is the first granule of a block in this batch.
    for i in range(n):
        s = blocks[2 * i]
        e = s + blocks[2 * i + 1]
        set_range(fl.free_bits, s, e)
        fl.free_granules += blocks[2 * i + 1]
        if s < lo:
            lo = s
        if e > hi:
            hi = e
    # 2. Blocks next to the bump region join it.
    fl_absorb_into_bump(fl)
    if hi - lo <= 256 * n:
        # A dense batch (a dropped tree, a chain allocated in order): walking the bitmap over
        # its span, a word at a time, is cheaper than looking at each block. Runs in the span
        # that gained nothing get a duplicate candidate, which is harmless.
        s = next_set(fl.free_bits, lo, hi)
        while s < hi:
            rs = run_start(fl.free_bits, s) if s == lo else s
            re = next_clear(fl.free_bits, s, fl.end)
            fl_push(fl, rs, re - rs)
            s = next_set(fl.free_bits, re, hi)
        for i in range(n):
            bit_clear(fl.start_bits, blocks[2 * i])
        fl_maybe_rebuild(fl)
        return
    # 3. One candidate per run: recorded by the block that starts the run, and by the block
    #    whose right neighbour is not another block of this batch (so a run that grew on its
    #    left, or joined older free space, is recorded with its full length).
    for i in range(n):
        s = blocks[2 * i]
        if not bit_get(fl.free_bits, s):
            continue                                        # absorbed by the bump region
        e = s + blocks[2 * i + 1]
        left_free = bit_get(fl.free_bits, s - 1)
        right_is_batch = (e < fl.end and bit_get(fl.free_bits, e)
                          and bit_get(fl.start_bits, e))
        if left_free and right_is_batch:
            continue
        rs = run_start(fl.free_bits, s) if left_free else s
        re = next_clear(fl.free_bits, e, fl.end)
        fl_push(fl, rs, re - rs)
    for i in range(n):
        bit_clear(fl.start_bits, blocks[2 * i])
    fl_maybe_rebuild(fl)


cdef void fl_add_capacity(FreeList* fl, size_t new_end) noexcept nogil:
    """Make granules [end, new_end) usable. With no bump region the new space becomes it."""
    cdef size_t start = fl.end if fl.end > 1 else 1
    cdef size_t rs
    if new_end <= fl.end:
        return
    fl.end = new_end
    if start >= new_end:
        return
    fl.free_granules += new_end - start
    if fl.bump_end > fl.bump_ptr and fl.bump_end == start:
        fl.bump_end = new_end
    elif fl.bump_end == fl.bump_ptr:
        fl.bump_ptr = start
        fl.bump_end = new_end
        fl_absorb_into_bump(fl)
    else:
        set_range(fl.free_bits, start, new_end)
        rs = run_start(fl.free_bits, start)
        fl_push(fl, rs, new_end - rs)


cdef size_t fl_largest_run(FreeList* fl) noexcept nogil:
    cdef size_t best = fl.bump_end - fl.bump_ptr
    cdef size_t g = 1
    cdef size_t e
    while g < fl.end:
        g = next_set(fl.free_bits, g, fl.end)
        if g >= fl.end:
            break
        e = next_clear(fl.free_bits, g, fl.end)
        if e - g > best:
            best = e - g
        g = e
    return best


cdef int fl_check(FreeList* fl, size_t* where) noexcept nogil:
    """Full integrity walk, O(end / 64). Returns an FL_* rule (0 if all hold) and sets
    *where to the offending granule."""
    cdef size_t g, e, rs, nfree = 0
    cdef size_t bp = fl.bump_ptr
    cdef size_t be = fl.bump_end
    where[0] = bp
    if bp > be or be > fl.end or (bp == 0 and be != 0) or (bp != be and bp == 0):
        return FL_BAD_BUMP
    if bit_get(fl.free_bits, 0):
        where[0] = 0
        return FL_FREE_OUT_OF_RANGE
    g = next_set(fl.free_bits, fl.end, fl.max_granules)
    if g < fl.max_granules:
        where[0] = g
        return FL_FREE_OUT_OF_RANGE
    if bp != be:
        g = next_set(fl.free_bits, bp, be)
        if g < be:
            where[0] = g
            return FL_BUMP_MARKED_FREE
        if bit_get(fl.free_bits, bp - 1):
            where[0] = bp - 1
            return FL_RUN_TOUCHES_BUMP
        if be < fl.end and bit_get(fl.free_bits, be):
            where[0] = be
            return FL_RUN_TOUCHES_BUMP
        g = next_set(fl.start_bits, bp, be)
        if g < be:
            where[0] = g
            return FL_START_IN_FREE
    g = 1
    while g < fl.end:
        g = next_set(fl.free_bits, g, fl.end)
        if g >= fl.end:
            break
        e = next_clear(fl.free_bits, g, fl.end)
        nfree += e - g
        rs = next_set(fl.start_bits, g, e)
        if rs < e:
            where[0] = rs
            return FL_START_IN_FREE
        g = e
    if nfree + (be - bp) != fl.free_granules:
        where[0] = 0
        return FL_COUNT_MISMATCH
    return FL_OK


cdef list fl_regions(FreeList* fl):
    """Free regions as (byte offset, byte length) in address order, bump region included."""
    cdef list out = []
    cdef size_t g = 1
    cdef size_t e
    while g < fl.end:
        g = next_set(fl.free_bits, g, fl.end)
        if g >= fl.end:
            break
        e = next_clear(fl.free_bits, g, fl.end)
        out.append((g * GRANULE, (e - g) * GRANULE))
        g = e
    if fl.bump_end > fl.bump_ptr:
        out.append((fl.bump_ptr * GRANULE, (fl.bump_end - fl.bump_ptr) * GRANULE))
        out.sort()
    return out
