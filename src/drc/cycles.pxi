# Cycle collection: reference counting never frees a garbage cycle (each member keeps the next
# one's count above zero), and neither does the OASR sweep. The cycle pass finds them by trial
# deletion over a walk of the whole heap, the algorithm of CPython's gc (Modules/gc.c:
# update_refs, subtract_refs, move_unreachable), on drc's object-start bitmap.
#
# Included by heap.pyx. A pass, with no mutator running:
#   1. Number the live objects by their rank in the object-start bitmap (a prefix count per
#      64-bit word plus a popcount inside the word) and give each a u32 in a side array: how
#      many heap slots point at it.
#   2. An object whose count is larger than that is held from outside the heap: by a host
#      handle, by a count owned from C, or by its OASR entry (after the sweep, exactly the
#      entries the precise roots keep). Those objects are the roots; no root source is asked.
#   3. Mark everything the roots reach (an explicit stack; each object is pushed once).
#   4. What is left is garbage only garbage points at. Reserve room for all of it in the
#      free batch and the payload queue (without memory, stop here: nothing is written
#      yet), drop the counts its slots hold on marked objects (never their last one: a
#      marked object is held from outside or by a marked slot), free every garbage block in
#      one batch, then release the payloads of garbage externrefs, once each, with the heap
#      consistent again.
# Headers are only read until step 4 and the side arrays are freed when the pass ends, so
# nothing on the reference-counting fast paths (dec, store_ref, move_ref, new_struct) knows
# that the pass exists. Edges are exactly the slots the cascade decrements (TypeInfo's
# gc_ref_offsets and ref-array elements): null, i31 and funcref values are not edges.
#
# The pass must not run while objects are being freed: a block the cascade has queued still
# has its start bit and holds counts on its children that are not yet given back. For the
# same reason it first frees the objects C-level drops left pending (heap.pxd).

cdef extern from *:
    """
    /* Bits set in x, inline: without -mpopcnt, __builtin_popcountll is a libgcc call, and
       the pass ranks an object for every ref slot it reads. */
    static inline size_t drc_rank_popcount(uint64_t x) {
        x = x - ((x >> 1) & 0x5555555555555555ULL);
        x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
        x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
        return (size_t)((x * 0x0101010101010101ULL) >> 56);
    }
    """
    size_t drc_rank_popcount(uint64_t x) nogil


cdef enum:
    # Set in a reached object's scratch word, above its slot count (slot counts < 2**30).
    CYCLE_MARKED = 0x80000000
    CYCLE_COUNT = 0                 # visit_children modes
    CYCLE_MARK = 1
    CYCLE_CHECK = 2                 # zeal: tally the garbage's slots on each survivor
    CYCLE_DROP = 3


cdef struct CyclePass:
    const uint64_t* bits            # the object-start bitmap
    uint32_t* rank                  # per 64-granule word: live objects before it
    uint32_t* scratch               # per object: heap slots pointing at it | CYCLE_MARKED
    uint32_t* stack                 # the mark stack, then the garbage list
    uint32_t* zeal_drops            # zeal, per object: garbage slots pointing at it
    size_t n                        # live objects
    size_t stack_n
    size_t nextern                  # garbage externrefs (payloads to release)


cdef inline size_t object_index(const CyclePass* cp, size_t g) noexcept nogil:
    """Rank of the object starting at granule g among the live objects."""
    return cp.rank[g >> 6] + drc_rank_popcount(cp.bits[g >> 6]
                                               & (((<uint64_t>1) << (g & 63)) - 1))


cdef inline int visit_child(Heap h, CyclePass* cp, gcref_t x, gcref_t c,
                            int mode) except -1 nogil:
    cdef size_t j
    cdef ObjectHeader* ch
    if GC_ZEAL and not h.is_object(c):
        with gil:
            raise HeapCorruptionError(f"offset {x}: cycle pass: a slot holds {c:#x}, not a "
                                      "live object")
    j = object_index(cp, c >> GRANULE_SHIFT)
    if mode == CYCLE_COUNT:
        if GC_ZEAL and c == h.zeal_skip_subtract:
            return 0                # the deliberately broken pass of the zeal test
        cp.scratch[j] += 1
    elif mode == CYCLE_MARK:
        if not (cp.scratch[j] & CYCLE_MARKED):
            cp.scratch[j] |= CYCLE_MARKED
            cp.stack[cp.stack_n] = c
            cp.stack_n += 1
    elif cp.scratch[j] & CYCLE_MARKED:
        ch = hdr_of(h, c)
        if GC_ZEAL and mode == CYCLE_CHECK:
            cp.zeal_drops[j] += 1
            if cp.zeal_drops[j] >= ch.ref_count:
                with gil:
                    raise HeapCorruptionError(f"offset {c}: cycle pass: a reachable object "
                                              "would lose its last count to garbage")
        else:
            # CYCLE_DROP: a garbage slot's count on a survivor. Never its last: the survivor
            # is held from outside the heap or by a marked slot (zeal has checked it).
            ch.ref_count -= 1
    return 0


cdef int visit_children(Heap h, CyclePass* cp, gcref_t x, int mode) except -1 nogil:
    """Apply `mode` to every object x's ref slots point at."""
    cdef ObjectHeader* hdr = hdr_of(h, x)
    cdef uint32_t kind = hdr.kind_bits & KIND_MASK
    cdef const TypeInfo* ti
    cdef const uint32_t* elems
    cdef uint32_t i, length
    cdef gcref_t c
    if kind == KIND_STRUCT:
        ti = h.types[hdr.type_index]
        for i in range(ti.n_gc_refs):
            c = (<uint32_t*>(h.base + x + ti.gc_ref_offsets[i]))[0]
            if ref_is_object(c):
                visit_child(h, cp, x, c, mode)
    elif kind == KIND_ARRAY:
        ti = h.types[hdr.type_index]
        if ti.elems_are_gc_refs:
            length = (<ArrayHeader*>hdr).length
            elems = <const uint32_t*>(h.base + x + ti.size)
            for i in range(length):
                c = elems[i]
                if ref_is_object(c):
                    visit_child(h, cp, x, c, mode)
    elif GC_ZEAL and kind != KIND_EXTERN:
        with gil:
            raise HeapCorruptionError(f"offset {x}: cycle pass: invalid kind word "
                                      f"{hdr.kind_bits:#010x}")
    return 0


cdef bint cycle_pass_setup(Heap h, CyclePass* cp) noexcept nogil:
    """Step 1's side arrays: the rank of every bitmap word, a zeroed u32 per object, and a
    stack with room for every object. False if they do not fit in memory."""
    cdef size_t words = (h.fl.end + 63) >> 6
    cdef size_t w, n = 0
    cp.bits = h.fl.start_bits
    cp.rank = <uint32_t*>malloc((words + 1) * sizeof(uint32_t))
    if cp.rank == NULL:
        return False
    for w in range(words):
        cp.rank[w] = <uint32_t>n
        n += drc_popcount64(cp.bits[w])
    cp.rank[words] = <uint32_t>n
    cp.n = n
    cp.scratch = <uint32_t*>calloc(n + 1, sizeof(uint32_t))
    cp.stack = <uint32_t*>malloc((n + 1) * sizeof(uint32_t))
    cp.stack_n = 0
    if GC_ZEAL:
        cp.zeal_drops = <uint32_t*>calloc(n + 1, sizeof(uint32_t))
        if cp.zeal_drops == NULL:
            return False
    return cp.scratch != NULL and cp.stack != NULL


cdef void cycle_pass_teardown(CyclePass* cp) noexcept nogil:
    c_free(cp.rank)
    c_free(cp.scratch)
    c_free(cp.stack)
    c_free(cp.zeal_drops)
    cp.rank = cp.scratch = cp.stack = cp.zeal_drops = NULL


cdef int zeal_check_outside_counts(Heap h, CyclePass* cp) except -1 nogil:
    """Zeal: what the subtraction says is held from outside the heap must be exactly the
    handles and C-level counts zeal tallies, plus one for an OASR entry."""
    cdef size_t w, g, i = 0
    cdef uint64_t bits, outside, want
    cdef ObjectHeader* hdr
    for w in range((h.fl.end + 63) >> 6):
        bits = cp.bits[w]
        while bits:
            g = (w << 6) + drc_ctz64(bits)
            bits &= bits - 1
            hdr = <ObjectHeader*>(h.base + (g << GRANULE_SHIFT))
            want = h.ext_counts[g] + (1 if hdr.kind_bits & IN_OASR_BIT else 0)
            outside = hdr.ref_count - cp.scratch[i] if hdr.ref_count >= cp.scratch[i] else 0
            if hdr.ref_count < cp.scratch[i] or outside != want:
                with gil:
                    raise HeapCorruptionError(
                        f"offset {g << GRANULE_SHIFT}: cycle pass: ref_count {hdr.ref_count} "
                        f"minus {cp.scratch[i]} heap slots leaves {outside} held from outside "
                        f"the heap, but {h.ext_counts[g]} handles and "
                        f"{1 if hdr.kind_bits & IN_OASR_BIT else 0} OASR entries hold it")
            i += 1
    return 0


cdef int cycle_walk(Heap h, CyclePass* cp) except -1 nogil:
    """Steps 1-3 (count, roots, mark), then the garbage list: on return cp.stack holds the
    garbage in address order and cp.nextern how many of it are externrefs. Reads the heap
    only."""
    cdef size_t words = (h.fl.end + 63) >> 6
    cdef size_t w, g, i, ngarbage
    cdef uint64_t bits
    cdef ObjectHeader* hdr
    # 1. Count the heap slots that point at each object.
    for w in range(words):
        bits = cp.bits[w]
        while bits:
            g = (w << 6) + drc_ctz64(bits)
            bits &= bits - 1
            visit_children(h, cp, <gcref_t>(g << GRANULE_SHIFT), CYCLE_COUNT)
    if GC_ZEAL:
        zeal_check_outside_counts(h, cp)
    # 2 + 3. Roots are objects with counts beyond their heap slots; mark what they reach.
    i = 0
    for w in range(words):
        bits = cp.bits[w]
        while bits:
            g = (w << 6) + drc_ctz64(bits)
            bits &= bits - 1
            if not (cp.scratch[i] & CYCLE_MARKED):
                hdr = <ObjectHeader*>(h.base + (g << GRANULE_SHIFT))
                if GC_ZEAL and hdr.ref_count == 0:
                    with gil:
                        raise HeapCorruptionError(f"offset {g << GRANULE_SHIFT}: cycle pass: "
                                                  "live object with ref_count 0")
                if hdr.ref_count != cp.scratch[i]:
                    cp.scratch[i] |= CYCLE_MARKED
                    cp.stack[0] = <gcref_t>(g << GRANULE_SHIFT)
                    cp.stack_n = 1
                    while cp.stack_n:
                        cp.stack_n -= 1
                        visit_children(h, cp, cp.stack[cp.stack_n], CYCLE_MARK)
            i += 1
    if GC_ZEAL and h.zeal_flip_mark and h.is_object(h.zeal_flip_mark):
        # The deliberately broken mark step of the zeal tests.
        cp.scratch[object_index(cp, h.zeal_flip_mark >> GRANULE_SHIFT)] ^= CYCLE_MARKED
    # The garbage, in address order.
    ngarbage = 0
    cp.nextern = 0
    i = 0
    for w in range(words):
        bits = cp.bits[w]
        while bits:
            g = (w << 6) + drc_ctz64(bits)
            bits &= bits - 1
            if not (cp.scratch[i] & CYCLE_MARKED):
                cp.stack[ngarbage] = <gcref_t>(g << GRANULE_SHIFT)
                ngarbage += 1
                hdr = <ObjectHeader*>(h.base + (g << GRANULE_SHIFT))
                if (hdr.kind_bits & KIND_MASK) == KIND_EXTERN:
                    cp.nextern += 1
            i += 1
    cp.stack_n = ngarbage
    return 0


cdef int zeal_check_garbage(Heap h, CyclePass* cp) except -1 nogil:
    """Zeal, before anything is written: the mark step's verdict agrees with the counts.
    Nothing outside the heap holds a garbage object (not a handle, a C-level count or an
    OASR entry), and no survivor holds only counts of garbage slots, which step 4a would
    all give back. zeal_check_outside_counts has checked the counts themselves, so only a
    broken mark step trips these (the _zeal_flip_cycle_mark hook is one)."""
    cdef size_t i, j
    cdef gcref_t r
    cdef ObjectHeader* hdr
    for i in range(cp.stack_n):
        r = cp.stack[i]
        hdr = hdr_of(h, r)
        j = object_index(cp, r >> GRANULE_SHIFT)
        if hdr.ref_count != cp.scratch[j]:
            with gil:
                if hdr.kind_bits & IN_OASR_BIT:
                    raise HeapCorruptionError(f"offset {r}: cycle pass: an OASR entry is "
                                              "garbage")
                raise HeapCorruptionError(
                    f"offset {r}: cycle pass: garbage is held from outside the heap "
                    f"(ref_count {hdr.ref_count}, {cp.scratch[j]} heap slots)")
    for i in range(cp.stack_n):
        visit_children(h, cp, cp.stack[i], CYCLE_CHECK)
    return 0


cdef bint cycle_reserve(Heap h, CyclePass* cp) noexcept nogil:
    """Room in the free batch and the payload queue for all of the garbage, so that step 4,
    once it has given back a first count, cannot stop halfway for want of memory (survivors
    would be left short of counts the garbage still holds). False if there is none."""
    return (try_grow_buffer(h, &h.to_free, &h.free_cap, h.free_n + 2 * cp.stack_n)
            and try_grow_buffer(h, &h.release_ids, &h.cap_release, h.n_release + cp.nextern))


cdef int cycle_drop_garbage_counts(Heap h, CyclePass* cp) except -1 nogil:
    """Step 4a: give back the garbage's slot counts on survivors and queue the payload ids
    of garbage externrefs (room reserved by cycle_reserve)."""
    cdef size_t i
    cdef gcref_t r
    cdef ObjectHeader* hdr
    for i in range(cp.stack_n):
        r = cp.stack[i]
        hdr = hdr_of(h, r)
        visit_children(h, cp, r, CYCLE_DROP)
        if (hdr.kind_bits & KIND_MASK) == KIND_EXTERN:
            h.release_ids[h.n_release] = (<ExternRefObject*>hdr).host_data_id
            h.n_release += 1
    return 0


cdef int cycle_pass(Heap h, bint required) except -1 nogil:
    """Free every object that nothing outside the heap reaches (garbage cycles and what only
    they keep alive); the counters say how many. The caller has checked that no
    cascade, sweep or other pass is under way. Without memory for the side arrays or for
    the buffers that freeing the garbage fills, an optional pass (`required` false) does
    nothing; a required one raises MemoryError. Either way the heap is left as it was."""
    cdef CyclePass cp
    cdef double started = monotonic_now(), now
    cdef uint64_t objects_before = h.objects_freed, bytes_before = h.bytes_freed
    cdef bint was_collecting = h.collecting
    cdef size_t i
    cdef gcref_t r
    if h.in_cascade or h.sweeping or h.n_release:
        with gil:
            raise DrcError("cannot look for cycles while objects are being freed")
    memset(&cp, 0, sizeof(CyclePass))
    # A payload finalizer or a root provider may allocate meanwhile: it must not start a
    # collection of its own.
    h.collecting = True
    try:
        # Objects C-level drops left pending are dead but still own their children's counts:
        # free them first, so that every block with a start bit is live (heap.pxd, "Pending
        # frees"). A sweep has just done this; C code may have run since.
        h.free_pending()
        objects_before = h.objects_freed
        bytes_before = h.bytes_freed
        zeal_phase_check(h, b"before the cycle pass")
        if not cycle_pass_setup(h, &cp):
            cycle_pass_teardown(&cp)
            with gil:
                if required:
                    raise MemoryError(f"cycle pass: no memory for the scratch arrays of "
                                      f"{cp.n} objects")
                _log.warning("drc: skipping the cycle pass: no memory for its scratch arrays")
            return 0
        try:
            cycle_walk(h, &cp)
            if GC_ZEAL:
                zeal_check_garbage(h, &cp)
            if not cycle_reserve(h, &cp):
                # Nothing has been written yet: the heap is as it was.
                with gil:
                    if required:
                        raise MemoryError(f"cycle pass: no memory to free {cp.stack_n} "
                                          "garbage objects")
                    _log.warning("drc: skipping the cycle pass: no memory to free its "
                                 "garbage")
                return 0
            cycle_drop_garbage_counts(h, &cp)
            # 4b. Free the garbage in one batch (zeal poisons each block).
            if cp.stack_n:
                h.in_cascade = True
                try:
                    for i in range(cp.stack_n):
                        r = cp.stack[i]
                        queue_free(h, r, hdr_of(h, r))
                    h.flush_frees()
                finally:
                    h.in_cascade = False
        finally:
            cycle_pass_teardown(&cp)
        # 4c. Payloads last: releasing one runs arbitrary code.
        if h.n_release:
            with gil:
                h.release_host_data()
        zeal_phase_check(h, b"after the cycle pass")
        if GC_ZEAL:
            # Recompute every count from the heap's slots, the OASR list and the handles, and
            # check that the freed blocks (all free memory) are poisoned.
            with gil:
                try:
                    h.verify_integrity(False)
                except HeapCorruptionError as e:
                    raise HeapCorruptionError(f"after the cycle pass: {e}") from None
    finally:
        h.collecting = was_collecting
    now = monotonic_now()
    h.cycle_passes += 1
    h.objects_freed_by_cycles += h.objects_freed - objects_before
    h.bytes_freed_by_cycles += h.bytes_freed - bytes_before
    h.cycle_seconds += now - started
    h.gc_seconds += now - started
    # What is in use now is live: the policy's next decisions start from it. The pass's time
    # is not weighed by the adaptive time budget: growing amortizes a collection's fixed
    # costs, but a pass costs what it walks and frees, and growing would only let more
    # cycles pile up.
    h.policy.cycle_baseline = h.bytes_allocated - h.bytes_freed
    h.policy.last_live_bytes = h.policy.cycle_baseline
    h.policy.last_gc_end = now
    record_event(h, EVENT_CYCLES)
    return 0
