# The DRC heap: memory, objects, reference counts, host handles.
#
# C-level contract for embedders and for drc's collector. Everything works on raw gcref_t
# values (u32 heap offsets, i31s, 0 for null). Unless a signature says otherwise:
#   - `obj` arguments must be live objects of THIS heap of the kind the function expects,
#     `offset`s must be the offset of a field of the right storage in that object's layout,
#     array indices must be < the array's length;
#   - a returned or "owned" ref carries one count that the caller must give back with
#     dec_ref (or hand to a heap slot, or to the OASR list with expose_raw);
#   - the release build trusts these preconditions; the zeal build checks them and raises
#     InvalidRefError / IndexError / HeapCorruptionError instead of corrupting memory.
# Functions marked `nogil` never touch a Python object except to raise (they take the GIL
# only on the failure branch).

cimport cython
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, uintptr_t
from libc.string cimport memset
from cpython.ref cimport PyObject

from drc.includes.zeal cimport GC_ZEAL
from drc.header cimport (ObjectHeader, ArrayHeader, gcref_t, REF_NULL, I31_TAG, KIND_STRUCT,
                         KIND_MASK, KIND_EXTERN,
                         KIND_ARRAY, ref_is_object)
from drc.freelist cimport FreeList, fl_bump, GRANULE_SHIFT
from drc.policy cimport PolicyState
from registry.typeinfo cimport (TypeInfo, FieldInfo, COMPOSITE_STRUCT, COMPOSITE_ARRAY,
                                STORAGE_REF, HEAP_I31)
from registry.registry cimport TypeRegistry, registry_is_subtype


cdef enum:
    HISTORY_CAPACITY = 4096             # events kept; the oldest half is dropped when full
    # Blocks of 1..PENDING_CLASSES-1 granules (up to 1008 bytes) may wait on a pending list.
    PENDING_CLASSES = 64

# ==== Function references ===================================================================
# A funcref field holds a u32 id into the heap's function table, as in Wasmtime
# (crates/wasmtime/src/runtime/vm/gc/func_ref.rs): 0 is null, otherwise the low 24 bits are the
# entry's index and the top 8 bits its generation (bumped each time the entry is reclaimed, so
# a stale id is caught by funcref_valid until the generation wraps after 256 reuses). A funcref
# is NOT a GC ref: it is never traced and carries no count; a field holding one is a plain u32.
#
# Entries are interned: one entry per (func type index, target), where the target is either a
# uintptr_t chosen by a C embedder or a Python object (compared by identity) owned by the entry.
#
# Lifetime. Each entry has a pin count: live FuncRef handles and C-level pins
# (funcref_intern/funcref_pin take one, funcref_unpin gives it back). At the end of a
# collection, once the table has doubled since its last reclaim (and holds at least
# FUNCREF_RECLAIM_MIN entries), the heap walks every live object's funcref slots and frees the
# entries that are neither pinned nor stored in any field (funcref_reclaim; Heap.
# reclaim_funcrefs() runs it on demand). Nothing on the allocation, barrier or cascade paths
# changes: a funcref store or load is a plain u32 move.
# So a C caller must pin every id it keeps outside the heap across a collection (an embedder
# typically interns each function once per instance and keeps that pin for the instance's
# life); an id read from a field with load_funcref is borrowed from the field.

# ==== extern and any ========================================================================
# anyref and externref share the gcref_t representation, as in Wasmtime: at C level
# extern.convert_any and any.convert_extern are the identity (no call, no count change). An
# externref-typed slot may therefore hold a struct, an array or an i31, and an anyref-typed
# slot a host externref (KIND_EXTERN); only eq-and-below slots exclude host externrefs.

cdef enum:
    FUNCREF_INDEX_BITS = 24
    FUNCREF_INDEX_MASK = 0x00FFFFFF
    FUNCREF_MAX_ENTRIES = 0x01000000    # indices 1 .. 2**24 - 1
    FUNCREF_RECLAIM_MIN = 1024          # entries in use before collections reclaim any

cdef struct FuncEntry:
    uintptr_t target                    # the embedder's value, or a PyObject* the entry owns
    uint32_t type_index                 # engine index of a func type; TYPE_INDEX_NONE: free
    uint32_t pins                       # live FuncRef handles + C-level pins
    uint32_t next_free                  # free entries: the next free index (0 ends the list)
    uint8_t generation                  # the top 8 bits of this entry's ids
    uint8_t is_python                   # target is a PyObject* (owned)
    uint8_t marked                      # scratch for funcref_reclaim


cdef struct HistoryEvent:
    double seconds                      # since the heap was created
    uint64_t capacity                   # usable bytes after the event
    uint64_t used_bytes                 # bytes in live (or not yet swept) objects
    uint32_t oasr_len                   # OASR list length after the event
    uint8_t kind                        # 1 grow, 2 collect, 3 skipped collection, 4 cycles


@cython.final
cdef class Heap:
    # ---- memory: one reservation, usable prefix grown in 64 KiB pages ----
    cdef char* base                     # start of the reservation; never moves; NULL once closed
    cdef size_t reserved                # bytes reserved (max_size rounded up to a page)
    cdef size_t capacity                # usable bytes [0, capacity), readable and writable
    cdef size_t max_size                # hard limit on capacity (<= 4 GiB - 16)
    cdef Py_ssize_t exports             # live buffer exports (memoryviews) of the memory
    cdef FreeList fl                    # free granules, object starts, bump region

    # ---- types: a registration held for every type with objects here ----
    cdef TypeRegistry registry
    cdef const TypeInfo** types         # cache indexed by engine type index; NULL: not yet used
    cdef size_t ntypes                  # entries in `types`
    # `roots` parallels `types`: the RegisteredType keeping each type registered, owned by
    # hand so that Python's cycle collector can never drop it under live objects.
    cdef PyObject** roots
    cdef size_t nroots                  # types held

    # ---- externref payloads: a side table with reusable ids (id 0 is never used) ----
    # id -> payload; a free id holds heap.pyx's _FREE_ID sentinel (None is a valid payload)
    cdef list host_data
    cdef list host_free_ids             # free ids, reused last-freed first
    cdef uint32_t* release_ids          # payload ids to release once the cascade is done
    cdef size_t n_release
    cdef size_t cap_release

    # ---- function references (see above) ----
    cdef FuncEntry* fn                  # entries by index; index 0 is never used
    cdef uint32_t fn_n                  # indices handed out so far (+1 for index 0)
    cdef uint32_t fn_cap                # entries allocated
    cdef uint32_t fn_free_head          # first free index, 0 when none
    cdef uint32_t fn_live               # entries in use
    cdef uint32_t fn_reclaim_at         # a collection reclaims once fn_live reaches this
    cdef uint64_t fn_reclaimed          # entries freed by funcref_reclaim so far
    cdef dict fn_map                    # (type index, is_python, target or id(obj)) -> id
    cdef dict fn_type_holds             # func type index -> RegisteredType held until close

    # ---- over-approximated stack roots: refs handed to guest code ----
    cdef uint32_t oasr_head             # first object in the list, 0 when empty
    cdef uint32_t oasr_len              # objects in the list
    cdef uint32_t oasr_len_after_last_gc
    cdef uint64_t no_gc_depth           # nesting depth of no-GC scopes

    # ---- counters ----
    cdef uint64_t objects_allocated
    cdef uint64_t objects_freed
    cdef uint64_t bytes_allocated       # 16-rounded
    cdef uint64_t bytes_freed           # 16-rounded
    cdef uint64_t collections
    cdef uint64_t bytes_freed_by_sweeps
    cdef uint64_t host_data_released

    # ---- the dealloc cascade's reusable buffers ----
    cdef uint32_t* stack                # refs whose count is being given up
    cdef size_t stack_n
    cdef size_t stack_cap
    cdef uint32_t* large                # (array ref, next element) pairs of big ref arrays
    cdef size_t large_n
    cdef size_t large_cap
    cdef uint32_t* to_free              # (first granule, granules) pairs to free
    cdef size_t free_n
    cdef size_t free_cap
    cdef size_t batch_lo                # granule span [batch_lo, batch_hi) of the queued blocks
    cdef size_t batch_hi
    cdef bint in_cascade                # a cascade is running (re-entry would corrupt buffers)

    # ---- pending frees: lazy freeing of what C-level drops kill (see "Pending frees") ----
    cdef uint32_t pending[PENDING_CLASSES]  # per block size in granules: first waiting object
    # A reuse is a free and an allocation at once; it is counted here only (stats() adds these
    # to the allocation and free totals), which keeps the hot path to two counter updates.
    cdef uint64_t objects_reused
    cdef uint64_t bytes_reused
    # Objects put on a pending list so far, and those free_pending finished: with
    # objects_reused they give the number waiting in O(1) (verify() checks it by walking).
    cdef uint64_t objects_pended
    cdef uint64_t pending_finished

    # ---- collection (collector.pxi): roots, canary, policy ----
    cdef PolicyState policy             # the grow-or-collect rule and what it has learned
    cdef object provider                # callable reporting the guest's roots, or None
    cdef bint has_root_provider         # provider is set (readable without the GIL)
    cdef bint provider_gives_frames     # the provider returns (pc, slots) frames
    cdef object stack_maps_registry     # StackMapRegistry that reads frames, or None
    cdef uint64_t guest_frames          # the stack canary: nesting of active guest frames
    cdef bint collecting                # a collection has started and not finished
    cdef bint marking                   # between trace and sweep: exposed refs get marked
    cdef bint sweeping                  # in a sweep: payload release waits for its end
    cdef bint gc_due                    # the OASR-length trigger fired: collect when possible
    cdef uint64_t oasr_trigger          # OASR length that makes a collection due
    cdef uint64_t zeal_collect_every    # zeal: force a collection every N allocations; 0 off
    cdef uint64_t zeal_countdown        # allocations left before the next forced one
    cdef uint64_t collections_skipped   # canary path: guest frames active, roots unknown
    cdef uint64_t objects_freed_by_sweeps
    cdef double gc_seconds              # total time spent in collections (cycle passes too)
    cdef double created_at              # monotonic time of creation (history timestamps)
    cdef HistoryEvent* events           # growth and collection history, for plots
    cdef size_t events_n

    cdef object __weakref__

    # ---- zeal only ----
    cdef uint32_t* ext_counts           # per granule: counts owned by host handles / C callers

    # ---- cycle collection (cycles.pxi): trial deletion over a heap walk. Last, so that no
    # field the inline fast paths read moves. ----
    cdef uint64_t cycle_passes
    cdef uint64_t objects_freed_by_cycles
    cdef uint64_t bytes_freed_by_cycles
    cdef double cycle_seconds           # total time spent in cycle passes
    cdef uint32_t zeal_skip_subtract    # zeal test hook: the pass ignores slots pointing here
    # reuse_pending is giving up a reused block's field counts: the block is neither pending
    # nor an object yet, so payload releases (arbitrary Python code) wait until it is one.
    cdef uint32_t reusing
    # Depth of Python code the heap runs on its own behalf (payload finalizers, root
    # providers, funcref targets' finalizers): close() is refused while it is nonzero, since
    # the operation that called out goes on using the memory when the callback returns.
    cdef uint32_t callbacks
    # The running cascade started from a C-level drop (release_last): a child it kills that
    # could wait on a pending list does, as it would have if dropped on its own.
    cdef bint lazy_children
    # Zeal test hook (_zeal_fail_buffer_growth): 0 off; otherwise the work-buffer growths
    # left until one fails, counting the failing one.
    cdef uint64_t zeal_growths_left
    cdef uint32_t zeal_flip_mark        # zeal test hook: the pass reverses its mark on this

    # Memory. grow_for grows by the policy's step to fit `need` more bytes: 1 if it grew,
    # 0 if the reservation cannot fit them (nothing changed).
    cdef int grow_for(self, size_t need) except -1 nogil
    cdef int grow_to(self, size_t new_capacity) except -1 nogil
    cdef int check_open(self) except -1
    cdef void release_memory(self) noexcept
    cdef void drop_roots(self) noexcept

    # Allocation (each returns an owned ref; fields / elements are zero). alloc_struct and
    # alloc_array take the GIL only the first time they see a type, and to raise.
    cdef gcref_t alloc_object(self, size_t size, uint32_t kind_bits,
                              uint32_t type_index) except 0 nogil
    cdef void undo_alloc(self, size_t p, size_t g) noexcept nogil
    cdef gcref_t alloc_struct(self, uint32_t type_index) except 0 nogil
    cdef gcref_t alloc_array(self, uint32_t type_index, uint32_t length) except 0 nogil
    cdef gcref_t alloc_externref(self, object data) except 0
    cdef const TypeInfo* type_record(self, uint32_t type_index) except NULL

    # Counting. inc_ref/dec_ref are for counts held OUTSIDE the heap (embedder variables,
    # handles): zeal tracks them per object. Counts owned by the OASR list are dropped with
    # oasr_drop. cascade(r) gives up one count on r and frees whatever dies.
    cdef int inc_ref(self, gcref_t r) except -1 nogil
    cdef int dec_ref(self, gcref_t r) except -1 nogil
    cdef int zeal_give_up_outside_count(self, gcref_t r) except -1 nogil
    cdef int oasr_drop(self, gcref_t r) except -1 nogil
    cdef int cascade(self, gcref_t r) except -1 nogil
    cdef int cascade_run(self) except -1 nogil
    # cascade for release_last: the dead object is freed now, the children it kills that are
    # small enough wait on pending lists (their own fields unread) instead.
    cdef int cascade_lazy(self, gcref_t r) except -1 nogil
    # Pending frees. free_pending frees every waiting object now (and whatever only they
    # kept alive), eagerly; dec_ref_deferred is the zeal build's dec(): dec_ref's checks, then
    # the pending path.
    cdef int free_pending(self) except -1 nogil
    # new_struct's reuse of a pending block that died as another type (same size class),
    # out of line: reuse_pending, then the header and zeroed fields of a struct of `size`
    # bytes, then the payload releases that the field drops queued. Returns r. (A block of
    # the same type is reused inline: reuse_same_struct.)
    cdef gcref_t reuse_struct(self, gcref_t r, size_t g, uint32_t type_index,
                              uint32_t size) except 0 nogil
    # reuse_same_struct's rare branch, out of line: the child of ref field i cannot wait (an
    # externref or a big object at its last count), so the rest of the reuse happens here:
    # fields i.. give up their counts with payload releases held back, the header is written,
    # then the payloads go. If a release fails, the block goes back on its list (unreuse)
    # before the error propagates.
    cdef gcref_t finish_reuse(self, gcref_t r, size_t g, uint32_t i) except 0 nogil
    # A reuse of the pending block r (size class g) failed while giving up the count of ref
    # field (or element) i: the fields up to i no longer own theirs and become null, and r
    # waits on its list again; the payloads queued so far are released.
    cdef int unreuse(self, gcref_t r, size_t g, uint32_t i) except -1 nogil
    cdef int dec_ref_deferred(self, gcref_t r) except -1 nogil
    cdef int flush_frees(self) except -1 nogil
    cdef int zeal_check_free_list(self) except -1 nogil
    cdef int release_host_data(self) except -1
    cdef int release_queued_ids(self) except -1
    cdef void ext_add(self, gcref_t r, int delta) noexcept nogil

    # Barriered ref fields. `offset` is a byte offset from the object start. read_ref returns
    # an owned ref; write_ref leaves the caller's count on `value` with the caller.
    cdef int check_ref_slot(self, gcref_t obj, uint32_t offset) except -1 nogil
    cdef gcref_t read_ref(self, gcref_t obj, uint32_t offset) except? 0 nogil
    cdef int write_ref(self, gcref_t obj, uint32_t offset, gcref_t value) except -1 nogil

    # OASR and validation. expose_raw consumes one owned count and returns r. is_object: is
    # r the start of a live object of this heap (O(1), any u32 accepted). check_object also
    # checks the kind (0: any kind) and raises InvalidRefError naming r.
    cdef gcref_t expose_raw(self, gcref_t r) except? 0 nogil
    cdef bint is_object(self, gcref_t r) noexcept nogil
    cdef int check_object(self, gcref_t r, uint32_t kind) except -1 nogil
    cdef int check_object_slow(self, gcref_t r, uint32_t kind) except -1
    cdef bint heap_type_matches(self, gcref_t r, uint32_t heap) noexcept nogil
    cdef bint ref_matches(self, gcref_t r, uint32_t heap, bint nullable) noexcept nogil
    cdef bint ref_type_sub(self, uint32_t a, bint an, uint32_t b, bint bn) noexcept
    cdef uint32_t heap_top(self, uint32_t h) noexcept

    # Function references. funcref_intern / funcref_intern_object return the id of the
    # entry for (type_index, target), creating it if needed, with ONE PIN taken for the
    # caller (give it back with funcref_unpin). type_index must be a registered func type
    # (UnknownTypeError / TypeError otherwise); the heap holds that type until it is closed.
    # funcref_valid: is `id` a live entry (0 is not; any u32 accepted, O(1)). check_funcref
    # raises InvalidRefError naming the id unless it is valid (or null when null_ok).
    # funcref_matches: does funcref `id` (0 = null) belong to (ref nullable? heap)?
    # funcref_reclaim: free every unpinned entry that no live object's field holds; returns
    # how many were freed. Needs no guest roots; must not run inside a cascade or a sweep.
    cdef uint32_t funcref_intern(self, uint32_t type_index, uintptr_t target) except 0
    cdef uint32_t funcref_intern_object(self, uint32_t type_index, object target) except 0
    cdef int funcref_pin(self, uint32_t id) except -1 nogil
    cdef int funcref_unpin(self, uint32_t id) except -1 nogil
    cdef bint funcref_valid(self, uint32_t id) noexcept nogil
    cdef int check_funcref(self, uint32_t id, bint null_ok) except -1 nogil
    cdef bint funcref_matches(self, uint32_t id, uint32_t heap, bint nullable) noexcept nogil
    cdef const FieldInfo* funcref_slot(self, gcref_t obj, uint32_t offset) except NULL nogil
    cdef uint32_t read_funcref(self, gcref_t obj, uint32_t offset) except? 0xFFFFFFFF nogil
    cdef int write_funcref(self, gcref_t obj, uint32_t offset, uint32_t id) except -1 nogil
    cdef Py_ssize_t funcref_reclaim(self) except -1 nogil

    # Bulk array initialization (array.new_data / array.init_data / array.new_elem /
    # array.init_elem). Preconditions: `arr` is an array of this heap, dst + n <= its length;
    # array_init_bytes: its elements are numeric or v128 and `src` holds n * element-size
    # bytes, little-endian, packed i8/i16 taking 1/2 bytes each; array_init_refs: its
    # elements are refs and `src` holds n raw values of the element type (GC refs, or funcref
    # ids for func-typed elements). GC refs go through store_ref's barrier: the caller keeps
    # its counts on them, and an old element that dies waits on a pending list when it is a
    # small struct or array ("Pending frees"). Zeal checks all of it (IndexError /
    # InvalidRefError / TypeError).
    cdef int array_init_bytes(self, gcref_t arr, uint32_t dst, const uint8_t* src,
                              uint32_t n) except -1 nogil
    cdef int array_init_refs(self, gcref_t arr, uint32_t dst, const uint32_t* src,
                             uint32_t n) except -1 nogil
    cdef int check_array_range(self, gcref_t arr, uint32_t dst, uint32_t n,
                               bint refs) except -1 nogil

    # Python-API helpers: argument checking and conversion.
    cdef object convert_arg(self, object ref, str what)
    cdef gcref_t ref_value(self, object v, str what) except? 0xFFFFFFFF
    cdef object ref_out(self, gcref_t r)
    cdef GcRef wrap(self, gcref_t r)
    cdef gcref_t object_arg(self, object ref, uint32_t kind, str what) except 0
    cdef gcref_t object_arg_checked(self, object ref, uint32_t kind, str what) except 0
    cdef const TypeInfo* type_arg(self, object type_index, int kind, str what) except NULL
    cdef const FieldInfo* field_arg(self, gcref_t r, object field, str what) except NULL
    cdef uint32_t length_arg(self, object n, str what, str name) except? 0xFFFFFFFF
    cdef int fill_elems(self, gcref_t arr, const FieldInfo* f, uint32_t start, uint32_t count,
                        const uint8_t* value) except -1 nogil
    cdef uint32_t index_arg(self, gcref_t r, object index, str what) except? 0xFFFFFFFF
    cdef uint32_t range_arg(self, gcref_t r, object start, object count,
                            str what) except? 0xFFFFFFFF
    cdef const FieldInfo* elem_info(self, gcref_t r) noexcept
    cdef int check_mutable_array(self, gcref_t r, str what) except -1

    # Collection (collector.pxi). collect_raw runs a whole collection with `n` precise raw
    # roots (each must be null, an i31, or an object in the OASR list: InvalidRefError
    # otherwise, and nothing changes), then, with `cycles` (the default), the cycle pass
    # (cycles.pxi) frees garbage cycles. NoGcScopeError inside a no-GC scope. A safepoint
    # runs a collection that is due (OASR trigger, zeal's forced mode) if a root provider is
    # set.
    cdef int collect_raw(self, const uint32_t* roots, size_t n, bint cycles=*) except -1 nogil
    cdef int safepoint(self) except -1 nogil
    cdef void no_gc_enter(self) noexcept nogil
    cdef int no_gc_exit(self) except -1 nogil
    cdef void guest_enter(self) noexcept nogil
    cdef int guest_exit(self) except -1 nogil

    # Integrity walks (verify()).
    cdef int verify_integrity(self, bint host_table) except -1
    cdef set verify_pending(self)
    cdef int verify_slot(self, gcref_t obj, uint32_t offset, uint32_t* expected) except -1
    cdef int verify_oasr(self, size_t nin, uint32_t* expected) except -1
    cdef int verify_funcref_slot(self, gcref_t obj, uint32_t offset) except -1
    cdef int verify_funcref_table(self) except -1
    cdef int verify_counts(self, uint32_t* expected) except -1
    cdef int verify_poison(self) except -1


cdef class GcRef:
    """A host handle owning one count on a heap object."""
    cdef readonly Heap heap             # None once released
    cdef readonly gcref_t raw           # the object's offset; 0 once released

    cdef Heap live_heap(self)


cdef class I31:
    """An unboxed 31-bit integer ref."""
    cdef readonly int value


cdef class FuncRef:
    """A host handle on a function-table entry; holds one pin on it."""
    cdef readonly Heap heap             # the heap whose table holds the entry
    cdef readonly uint32_t raw          # the entry's id (never 0)

    cdef FuncEntry* live_entry(self) except NULL


# ==== Inline fast paths (compiled into every module that cimports this file) ==============

cdef inline ObjectHeader* obj_header(Heap h, gcref_t obj) noexcept nogil:
    return <ObjectHeader*>(h.base + obj)


cdef inline char* field_addr(Heap h, gcref_t obj, uint32_t offset) noexcept nogil:
    """Address of the byte at `offset` inside `obj`. Valid until the object is freed."""
    return h.base + obj + offset


cdef inline uint32_t array_length(Heap h, gcref_t arr) noexcept nogil:
    return (<ArrayHeader*>(h.base + arr)).length


cdef inline char* array_elem_addr(Heap h, gcref_t arr, uint32_t index) noexcept nogil:
    """Address of element `index` (precondition: index < length)."""
    cdef const TypeInfo* ti = h.types[(<ObjectHeader*>(h.base + arr)).type_index]
    return h.base + arr + ti.size + <size_t>index * ti.elem_size


# ==== Pending frees (lazy freeing) ==========================================================
# A C-level drop (dec, store_ref, move_ref) that gives up the last count on a struct or array
# of fewer than PENDING_CLASSES granules does not free it: the object is linked, with its
# fields unread, onto h.pending[its granule count] (LIFO, through its header's next_oasr
# word), and the next allocation of that size reuses the block while it is still in cache,
# giving up the object's own refs then (Boehm, "The space cost of lazy reference counting",
# POPL 2004). A big free then costs O(1), and reuse needs no free-list work at all. A bigger
# object or an externref dropped from C is freed at once, by a lazy cascade: the small
# objects that die with it wait in turn (Heap.cascade_lazy).
#
# Invariant (every heap walk must honour it):
#   - a pending object keeps its start bit, its header (kind, type_index, object_size) and
#     its fields; its ref_count is 0, IN_OASR_BIT and MARK_BIT are clear, and it is on
#     exactly one list: h.pending[granules_of(object_size)];
#   - its ref fields still own their counts: a child of a pending object is live (count >= 1)
#     until the pending object is reused or finished;
#   - nothing points at a pending object (no field, no OASR entry, no handle), so is_object()
#     rejects it (ref_count 0) and from_raw/check_object refuse it;
#   - the counters count it as allocated and not yet freed (finishing it adds to
#     objects_freed / bytes_freed; reusing its block adds to objects_reused / bytes_reused
#     only, as a free plus an allocation), and its bytes are used, not free.
# h.free_pending() frees every pending object eagerly (the cascade), leaving none. The
# allocation slow path calls it before growing or collecting, and so does every sweep; a heap
# walk that cannot honour the invariant calls it first. verify() checks the invariant.
# Python-level drops (GcRef.close(), del, Python API writes) stay eager, so Python code never
# sees a pending object unless C-level code made one. Zeal builds take the same path, with
# each waiting header checked when its block is reused.

cdef inline void pend(Heap h, gcref_t r, ObjectHeader* hdr, size_t g) noexcept nogil:
    """Object r (header hdr, g granules, no count left) waits on h.pending[g]."""
    hdr.ref_count = 0
    hdr.next_oasr = h.pending[g]
    h.pending[g] = r
    h.objects_pended += 1


cdef inline int release_last(Heap h, gcref_t r) except -1 nogil:
    """The caller gives up the last count on object r (its ref_count is 1): small structs
    and arrays wait on a pending list; externrefs and big objects are freed now."""
    cdef ObjectHeader* hdr = <ObjectHeader*>(h.base + r)
    cdef size_t g = (hdr.object_size + 15) >> GRANULE_SHIFT
    if g < PENDING_CLASSES and (hdr.kind_bits & KIND_MASK) != KIND_EXTERN:
        pend(h, r, hdr, g)
        return 0
    return h.cascade_lazy(r)


cdef inline int release_child(Heap h, gcref_t c) except -1 nogil:
    cdef ObjectHeader* ch
    if ref_is_object(c):
        ch = <ObjectHeader*>(h.base + c)
        if ch.ref_count > 1:
            ch.ref_count -= 1
            return 0
        return release_last(h, c)
    return 0


cdef inline int release_fields(Heap h, gcref_t r, size_t g, uint32_t i) except -1 nogil:
    """Give up the counts that the ref fields (or elements) i.. of r, a block being reused
    from h.pending[g], still own. Payloads those drops free are only queued (h.reusing). If a
    drop fails (a cascade out of work memory), r goes back on its list with the fields given
    up so far null (Heap.unreuse)."""
    cdef ObjectHeader* hdr = <ObjectHeader*>(h.base + r)
    cdef const TypeInfo* ti = h.types[hdr.type_index]
    cdef uint32_t n
    cdef const uint32_t* elems
    cdef bint done = False
    h.reusing += 1
    try:
        if (hdr.kind_bits & KIND_MASK) == KIND_STRUCT:
            while i < ti.n_gc_refs:
                release_child(h, (<uint32_t*>(h.base + r + ti.gc_ref_offsets[i]))[0])
                i += 1
        elif ti.elems_are_gc_refs:
            n = (<ArrayHeader*>hdr).length
            elems = <const uint32_t*>(h.base + r + ti.size)
            while i < n:
                release_child(h, elems[i])
                i += 1
        done = True
    finally:
        h.reusing -= 1
        if not done:
            h.unreuse(r, g, i)
    return 0


cdef inline int reuse_pending(Heap h, gcref_t r, size_t g) except -1 nogil:
    """Take the pending object r off h.pending[g] (it must be the list's head) and give up
    the counts its fields own (release_fields); the caller then owns the block as a fresh
    allocation, writes its header, then releases the payloads those drops queued
    (Heap.reuse_struct, alloc_object)."""
    h.pending[g] = (<ObjectHeader*>(h.base + r)).next_oasr
    release_fields(h, r, g, 0)
    h.objects_reused += 1
    h.bytes_reused += g << GRANULE_SHIFT
    return 0


cdef inline void zero_struct_fields(ObjectHeader* hdr, size_t g) noexcept nogil:
    """Zero a struct block of g granules past its 24-byte header, with word stores up to the
    block's end (it is the struct's): small structs never reach a memset call."""
    (<uint64_t*>hdr)[3] = 0
    if g > 2:
        (<uint64_t*>hdr)[4] = 0
        (<uint64_t*>hdr)[5] = 0
        if g > 3:
            memset(<char*>hdr + 48, 0, (g << GRANULE_SHIFT) - 48)


cdef inline gcref_t reuse_same_struct(Heap h, gcref_t r, size_t g,
                                      const TypeInfo* ti) except 0 nogil:
    """new_struct's common reuse: the head r of h.pending[g] died as a struct of the very
    type being allocated, so its header's type_index and object_size are already right. Its
    fields give up their counts (a child at its last count waits on a pending list in turn),
    then the block becomes a fresh, zeroed struct owned by the caller."""
    cdef ObjectHeader* hdr = <ObjectHeader*>(h.base + r)
    cdef ObjectHeader* ch
    cdef const uint32_t* offsets = ti.gc_ref_offsets
    cdef uint32_t i
    cdef gcref_t c
    cdef size_t cg
    h.pending[g] = hdr.next_oasr
    for i in range(ti.n_gc_refs):
        c = (<uint32_t*>(h.base + r + offsets[i]))[0]
        if ref_is_object(c):
            ch = <ObjectHeader*>(h.base + c)
            if ch.ref_count > 1:
                ch.ref_count -= 1
            elif ch.type_index == hdr.type_index:
                # A recursive type (a list, a tree): the child is a struct of this very
                # size, so it waits on the list r came from.
                pend(h, c, ch, g)
            else:
                cg = (ch.object_size + 15) >> GRANULE_SHIFT
                if cg < PENDING_CLASSES and (ch.kind_bits & KIND_MASK) != KIND_EXTERN:
                    pend(h, c, ch, cg)
                else:
                    return h.finish_reuse(r, g, i)
    h.objects_reused += 1
    h.bytes_reused += g << GRANULE_SHIFT
    hdr.kind_bits = KIND_STRUCT
    hdr.ref_count = 1
    hdr.next_oasr = 0
    zero_struct_fields(hdr, g)
    return r


cdef inline gcref_t new_struct(Heap h, uint32_t type_index) except 0 nogil:
    """Allocate a zeroed struct of a type the heap already holds (Heap.use_type(), or any
    earlier allocation); other types, no block of its size pending and a full bump region, a
    due collection and zeal builds go through Heap.alloc_struct. Returns an owned ref. May
    collect (a safepoint)."""
    cdef const TypeInfo* ti
    cdef size_t g, p
    cdef gcref_t r = 0
    cdef ObjectHeader* hdr
    if not GC_ZEAL and type_index < h.ntypes and not h.gc_due:
        ti = h.types[type_index]
        if ti != NULL and ti.kind == COMPOSITE_STRUCT:
            g = (ti.size + 15) >> GRANULE_SHIFT
            if g < PENDING_CLASSES:
                r = h.pending[g]
            if r != 0:
                if (<ObjectHeader*>(h.base + r)).type_index == type_index:
                    return reuse_same_struct(h, r, g, ti)
                return h.reuse_struct(r, g, type_index, ti.size)
            p = fl_bump(&h.fl, g)
            if p == 0:
                return h.alloc_struct(type_index)
            r = <gcref_t>(p << GRANULE_SHIFT)
            h.objects_allocated += 1
            h.bytes_allocated += g << GRANULE_SHIFT
            hdr = <ObjectHeader*>(h.base + r)
            hdr.kind_bits = KIND_STRUCT
            hdr.type_index = type_index
            hdr.ref_count = 1
            hdr.next_oasr = 0
            hdr.object_size = ti.size
            zero_struct_fields(hdr, g)
            return r
    return h.alloc_struct(type_index)


cdef inline int inc(Heap h, gcref_t r) except -1 nogil:
    """Take one more count on r (null and i31 are ignored)."""
    if GC_ZEAL:
        return h.inc_ref(r)
    if ref_is_object(r):
        (<ObjectHeader*>(h.base + r)).ref_count += 1
    return 0


cdef inline int dec(Heap h, gcref_t r) except -1 nogil:
    """Give up one count on r; at zero, r is dead: small structs and arrays wait on a pending
    list (see "Pending frees"), anything else is freed at once with everything only it kept
    alive."""
    cdef ObjectHeader* hdr
    if GC_ZEAL:
        return h.dec_ref_deferred(r)
    if ref_is_object(r):
        hdr = <ObjectHeader*>(h.base + r)
        if hdr.ref_count > 1:
            hdr.ref_count -= 1
            return 0
        return release_last(h, r)
    return 0


cdef inline gcref_t load_ref(Heap h, gcref_t obj, uint32_t offset) except? 0 nogil:
    """Read a ref field; the result is owned by the caller (one count taken)."""
    cdef gcref_t r
    if GC_ZEAL:
        return h.read_ref(obj, offset)
    r = (<uint32_t*>(h.base + obj + offset))[0]
    if ref_is_object(r):
        (<ObjectHeader*>(h.base + r)).ref_count += 1
    return r


cdef inline gcref_t peek_ref(Heap h, gcref_t obj, uint32_t offset) noexcept nogil:
    """Read a ref field WITHOUT taking a count: the result is borrowed from the field and
    only valid until that field is written or `obj` dies."""
    return (<uint32_t*>(h.base + obj + offset))[0]


cdef inline int store_ref(Heap h, gcref_t obj, uint32_t offset, gcref_t value) except -1 nogil:
    """Write barrier: count the new value, store it, then drop the old one. The caller keeps
    its own count on `value`."""
    cdef uint32_t* slot
    cdef gcref_t old
    if GC_ZEAL:
        return h.write_ref(obj, offset, value)
    if ref_is_object(value):
        (<ObjectHeader*>(h.base + value)).ref_count += 1
    slot = <uint32_t*>(h.base + obj + offset)
    old = slot[0]
    slot[0] = value
    return dec(h, old)


cdef inline int move_ref(Heap h, gcref_t obj, uint32_t offset, gcref_t value) except -1 nogil:
    """Like store_ref, but the caller's count on `value` moves into the field."""
    cdef uint32_t* slot
    cdef gcref_t old
    if GC_ZEAL:
        h.write_ref(obj, offset, value)
        return h.dec_ref(value)
    slot = <uint32_t*>(h.base + obj + offset)
    old = slot[0]
    slot[0] = value
    return dec(h, old)


# ==== Function references: inline accessors ==============================================
# `id` must be valid (funcref_valid) unless stated otherwise; zeal checks every id.

cdef inline bint field_is_funcref(const FieldInfo* f) noexcept nogil:
    """Is this field (or array element) a funcref slot: a ref whose top type is func?"""
    return f.storage == STORAGE_REF and not f.is_gc_ref and f.ref_heap != HEAP_I31


cdef inline FuncEntry* funcref_entry(Heap h, uint32_t id) noexcept nogil:
    return &h.fn[id & FUNCREF_INDEX_MASK]


cdef inline uint32_t funcref_type(Heap h, uint32_t id) except? 0xFFFFFFFF nogil:
    """The entry's engine func type index."""
    if GC_ZEAL:
        h.check_funcref(id, False)
    return h.fn[id & FUNCREF_INDEX_MASK].type_index


cdef inline uintptr_t funcref_target(Heap h, uint32_t id) except? 0 nogil:
    """The entry's target: the value given to funcref_intern, or (entries made from Python)
    the address of the target object, borrowed from the entry."""
    if GC_ZEAL:
        h.check_funcref(id, False)
    return h.fn[id & FUNCREF_INDEX_MASK].target


cdef inline bint funcref_type_fits(Heap h, uint32_t id, uint32_t func_type) noexcept nogil:
    """Is the funcref's type `func_type` or a declared subtype of it? `id` must be valid and
    not null: nothing is checked (funcref_is_subtype and Heap.funcref_matches check first)."""
    cdef uint32_t t = h.fn[id & FUNCREF_INDEX_MASK].type_index
    return t == func_type or registry_is_subtype(h.registry, t, func_type)


cdef inline int funcref_is_subtype(Heap h, uint32_t id, uint32_t func_type) except -1 nogil:
    """1 if the (non-null) funcref's type is `func_type` or a declared subtype of it, else 0.
    O(1): the check call_indirect makes."""
    if GC_ZEAL:
        h.check_funcref(id, False)
    return funcref_type_fits(h, id, func_type)


cdef inline uint32_t load_funcref(Heap h, gcref_t obj, uint32_t offset) except? 0xFFFFFFFF nogil:
    """Read a funcref field (0 = null). No count, no pin: the id is borrowed from the field.
    Zeal checks the slot and the id it holds (HeapCorruptionError)."""
    if GC_ZEAL:
        return h.read_funcref(obj, offset)
    return (<uint32_t*>(h.base + obj + offset))[0]


cdef inline int store_funcref(Heap h, gcref_t obj, uint32_t offset, uint32_t id) except -1 nogil:
    """Write a funcref field: a plain store, no barrier. `id` is 0 or a valid id whose type
    fits the field (zeal checks both: InvalidRefError / TypeError)."""
    if GC_ZEAL:
        return h.write_funcref(obj, offset, id)
    (<uint32_t*>(h.base + obj + offset))[0] = id
    return 0
