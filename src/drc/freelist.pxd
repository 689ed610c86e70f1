# The heap's free list: which 16-byte granules are free, which start a live object, and the
# bump region new objects are carved from. All of its metadata lives outside the heap memory,
# so zeal builds can keep every free byte poisoned.
#
# Design (docs/heap.md has the long version):
# - `free_bits`: one bit per granule, set when the granule is free and NOT in the bump region.
#   A maximal run of set bits is a free block, so neighbouring frees coalesce by construction.
# - the bump region [bump_ptr, bump_end) (granule indices, empty when equal) is free space
#   handed out by a cursor; it is kept out of `free_bits`, and no run of set bits ever touches
#   it (a run that would is absorbed into it). The empty region is (0, 0): granule 0 is never
#   free, so the sentinel can never be mistaken for a real block (Wasmtime's lost-bump-region
#   bug came from an empty-region sentinel that was a valid index).
# - `start_bits`: one bit per granule, set on the first granule of every live block. It makes
#   "is this u32 the start of a live object of this heap" an O(1) question.
# - size classes: stacks of candidate run starts (exact for runs below 64 granules, one class
#   per power of two above). Candidates are hints, validated when popped; stale ones are
#   dropped, and the stacks are rebuilt from the bitmap when stale entries pile up.
#
# Invariant: free_granules == popcount(free_bits) + (bump_end - bump_ptr), and
# free_granules + live granules == end - 1 (granule 0 is reserved).

from libc.stdint cimport uint32_t, uint64_t

cdef enum:
    GRANULE_SHIFT = 4
    GRANULE = 16
    # Exact classes 1..EXACT_CLASSES-1 (in granules), then one class per power of two.
    EXACT_CLASSES = 64
    NCLASSES = 96


cdef struct CandidateStack:
    uint32_t* items             # granule indices of candidate run starts (malloc'ed)
    size_t n                    # entries in use
    size_t cap                  # entries allocated


cdef struct FreeList:
    uint64_t* free_bits         # 1 bit per granule: free and outside the bump region
    uint64_t* start_bits        # 1 bit per granule: first granule of a live block
    size_t map_bytes            # bytes mapped for each bitmap (covers max_granules)
    size_t max_granules         # granules the bitmaps can describe (the reservation / 16)
    size_t end                  # granules currently usable: [1, end); granule 0 is reserved
    size_t bump_ptr             # next granule the bump cursor hands out
    size_t bump_end             # one past the bump region; bump_ptr == bump_end: empty
    size_t free_granules        # free granules, bump region included
    size_t ncandidates          # entries over all class stacks (stale ones included)
    bint dirty                  # a candidate could not be recorded: rebuild before failing
    CandidateStack classes[NCLASSES]


# ==== Bit helpers (granule g lives in word g >> 6, bit g & 63) =============================

cdef inline bint bit_get(const uint64_t* bits, size_t g) noexcept nogil:
    return (bits[g >> 6] >> (g & 63)) & 1


cdef inline void bit_set(uint64_t* bits, size_t g) noexcept nogil:
    bits[g >> 6] |= (<uint64_t>1) << (g & 63)


cdef inline void bit_clear(uint64_t* bits, size_t g) noexcept nogil:
    bits[g >> 6] &= ~((<uint64_t>1) << (g & 63))


# ==== The bump fast path ===================================================================

cdef inline size_t fl_bump(FreeList* fl, size_t granules) noexcept nogil:
    """Carve `granules` from the bump region; return the block's first granule, or 0 if the
    region is too small (the caller then takes the slow path)."""
    cdef size_t p = fl.bump_ptr
    if granules <= fl.bump_end - p:
        fl.bump_ptr = p + granules
        fl.free_granules -= granules
        bit_set(fl.start_bits, p)
        return p
    return 0
