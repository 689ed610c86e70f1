# cython: language_level=3, cdivision=True, wraparound=False, boundscheck=False
"""The execution engine: a store of functions, globals, tables and memories over one drc Heap,
and the interpreter loop that runs compiled code (wasmgc.compile) on it.

Values are 64-bit slots: i32 zero-extended, floats as their bits, refs as raw u32 (drc's
gcref_t for the any/extern hierarchy, a function id + 1 for funcrefs, 0 for null). Guest frames
own no counts: every GC ref a frame holds was exposed to the heap's OASR list when it entered
the frame (allocation, field, global or table read, host argument), and at each collection
the store reports the precise roots through the heap's root provider, reading each frame's
slots through the stack map of the safepoint the frame stopped at. Globals, tables and
element segments hold counted refs.
"""

cimport cython
from libc.stdint cimport (uint8_t, uint16_t, uint32_t, uint64_t, int8_t, int16_t, int32_t,
                          int64_t, uintptr_t)
from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memcpy, memmove, memset
from libc.math cimport (ceil, ceilf, floor, floorf, trunc, truncf, nearbyint, nearbyintf, sqrt,
                        sqrtf, isnan)

from drc.includes.zeal cimport GC_ZEAL
from drc.header cimport (ObjectHeader, gcref_t, I31_TAG, KIND_MASK, KIND_EXTERN,
                         KIND_STRUCT, KIND_ARRAY, ExternRefObject, ref_is_object)
from drc.heap cimport (Heap, new_struct, inc, dec, load_ref, store_ref, array_length,
                       array_elem_addr, field_addr, funcref_target,
                       funcref_is_subtype, load_funcref, store_funcref)
from registry.registry cimport TypeRegistry, registry_type_info
from registry.typeinfo cimport (TypeInfo, COMPOSITE_FUNC, HEAP_ABSTRACT_BASE, HEAP_ANY,
                                HEAP_EQ, HEAP_I31, HEAP_NONE,
                                HEAP_FUNC, HEAP_NOFUNC, HEAP_EXTERN, HEAP_NOEXTERN)

from drc.errors import OutOfHeapError
from wasmgc.errors import Trap, Exhaustion

ZEAL = bool(GC_ZEAL)

cdef extern from *:
    int __builtin_clz(unsigned int) nogil
    int __builtin_ctz(unsigned int) nogil
    int __builtin_popcount(unsigned int) nogil
    int __builtin_clzll(unsigned long long) nogil
    int __builtin_ctzll(unsigned long long) nogil
    int __builtin_popcountll(unsigned long long) nogil

cdef enum:
    MAX_DEPTH = 1000            # guest call depth before "call stack exhausted"
    STACK_SLOTS = 1 << 20       # operand-stack slots shared by all frames
    PAGE = 65536
    STORAGE_I8 = 1
    STORAGE_I16 = 2
    STORAGE_I32 = 3
    STORAGE_I64 = 4
    STORAGE_F32 = 5
    STORAGE_F64 = 6
    STORAGE_V128 = 7
    STORAGE_REF = 8

cdef struct Func:
    uint64_t* code
    uint32_t id                 # index in the store
    uint32_t ref                # the heap's funcref id (pinned for the store's life), or 0
    uint32_t nparams
    uint32_t nresults
    uint32_t nlocals
    uint32_t max_height
    uint32_t type_index         # engine index of the function type
    int32_t host                # index into Store.hosts, or -1 for guest code
    Inst* inst

cdef struct Global:
    uint64_t value
    uint8_t counted             # holds a count on a GC ref

cdef struct Table:
    uint32_t* elems
    uint32_t size
    uint32_t max
    uint8_t counted

cdef struct Memory:
    uint8_t* data
    uint64_t size               # bytes
    uint32_t max_pages

cdef struct Segment:
    uint32_t* refs              # element segments
    const uint8_t* bytes        # data segments (owned by the module's Python bytes)
    uint32_t n                  # items or bytes; 0 once dropped
    uint32_t cap                # element segments: items allocated
    uint8_t counted

cdef struct Inst:
    Func** funcs
    Global** globals
    Table** tables
    Memory* mem
    Segment* elems
    Segment* datas
    uint32_t nfuncs
    uint32_t nglobals
    uint32_t ntables
    uint32_t nelems
    uint32_t ndatas

cdef struct Frame:
    Func* f
    uint64_t* fp
    uint32_t map


cdef inline float as_f32(uint64_t v) noexcept nogil:
    cdef uint32_t u = <uint32_t>v
    cdef float f
    memcpy(&f, &u, 4)
    return f

cdef inline uint64_t f32_bits(float f) noexcept nogil:
    cdef uint32_t u
    memcpy(&u, &f, 4)
    return u

cdef inline double as_f64(uint64_t v) noexcept nogil:
    cdef double d
    memcpy(&d, &v, 8)
    return d

cdef inline uint64_t f64_bits(double d) noexcept nogil:
    cdef uint64_t u
    memcpy(&u, &d, 8)
    return u

cdef inline uint64_t u32(int64_t v) noexcept nogil:
    return <uint32_t>v


cdef inline float fminf_wasm(float a, float b) noexcept nogil:
    if a != a or b != b:
        return a + b
    if a == b:
        return b if (f32_bits(a) >> 31) == 0 else a
    return a if a < b else b

cdef inline float fmaxf_wasm(float a, float b) noexcept nogil:
    if a != a or b != b:
        return a + b
    if a == b:
        return a if (f32_bits(a) >> 31) == 0 else b
    return a if a > b else b

cdef inline double fmin_wasm(double a, double b) noexcept nogil:
    if a != a or b != b:
        return a + b
    if a == b:
        return b if (f64_bits(a) >> 63) == 0 else a
    return a if a < b else b

cdef inline double fmax_wasm(double a, double b) noexcept nogil:
    if a != a or b != b:
        return a + b
    if a == b:
        return a if (f64_bits(a) >> 63) == 0 else b
    return a if a > b else b


cdef int trap(str msg) except -1:
    raise Trap(msg)


cdef int64_t trunc_s(double x, double lo, double hi) except? -1:
    # lo is the exclusive lower bound, hi the exclusive upper bound
    if isnan(x):
        trap("invalid conversion to integer")
    if not (x > lo and x < hi):
        trap("integer overflow")
    return <int64_t>x

cdef uint64_t trunc_u(double x, double hi) except? 0xFFFFFFFFFFFFFFFFULL:
    if isnan(x):
        trap("invalid conversion to integer")
    if not (x > -1.0 and x < hi):
        trap("integer overflow")
    return <uint64_t>x

cdef inline int64_t sat_s(double x, double lo, double hi, int64_t mn, int64_t mx) noexcept nogil:
    if x != x:
        return 0
    if x <= lo:
        return mn
    if x >= hi:
        return mx
    return <int64_t>x

cdef inline uint64_t sat_u(double x, double hi, uint64_t mx) noexcept nogil:
    if x != x or x <= -1.0:
        return 0
    if x >= hi:
        return mx
    return <uint64_t>x


cdef inline uint64_t read_storage(const char* p, uint32_t code, bint signed) noexcept nogil:
    if code == STORAGE_I8:
        return u32((<int8_t*>p)[0]) if signed else (<uint8_t*>p)[0]
    if code == STORAGE_I16:
        return u32((<int16_t*>p)[0]) if signed else (<uint16_t*>p)[0]
    if code == STORAGE_I32 or code == STORAGE_F32 or code == STORAGE_REF:
        return (<uint32_t*>p)[0]
    if code == STORAGE_I64 or code == STORAGE_F64:
        return (<uint64_t*>p)[0]
    return 0

cdef inline void write_storage(char* p, uint32_t code, uint64_t v) noexcept nogil:
    if code == STORAGE_I8:
        (<uint8_t*>p)[0] = <uint8_t>v
    elif code == STORAGE_I16:
        (<uint16_t*>p)[0] = <uint16_t>v
    elif code == STORAGE_I32 or code == STORAGE_F32 or code == STORAGE_REF:
        (<uint32_t*>p)[0] = <uint32_t>v
    elif code == STORAGE_I64 or code == STORAGE_F64:
        (<uint64_t*>p)[0] = v

cdef inline uint32_t storage_size(uint32_t code) noexcept nogil:
    if code == STORAGE_I8:
        return 1
    if code == STORAGE_I16:
        return 2
    if code == STORAGE_I64 or code == STORAGE_F64:
        return 8
    if code == STORAGE_V128:
        return 16
    return 4


@cython.final
@cython.no_gc_clear
cdef class Store:
    """Functions, globals, tables, memories and instances over one drc Heap."""
    cdef readonly Heap heap
    cdef readonly TypeRegistry registry
    cdef Func** funcs
    cdef uint32_t nfuncs, capfuncs
    cdef list maps                      # func id -> list of stack maps (tuples of slots)
    cdef list codes                     # keeps nothing alive that C needs; bookkeeping
    cdef list hosts                     # host functions: (callable, param kinds, result kinds)
    cdef list keep                      # Python objects whose buffers C points into
    cdef list owned                     # malloc'd blocks freed with the store
    cdef uint64_t* stack
    cdef uint64_t* stack_end
    cdef Frame* frames
    cdef uint32_t depth
    cdef uint32_t max_depth
    cdef dict handles                   # C record address -> "instance"/"global"/...
    cdef list param_kinds               # func id -> its parameters' slot kinds
    cdef list host_roots                # ref arguments of the host calls under way

    def __cinit__(self, TypeRegistry registry not None, Heap heap not None):
        self.registry = registry
        self.heap = heap
        self.maps = []
        self.codes = []
        self.hosts = []
        self.keep = []
        self.owned = []
        self.handles = {}
        self.param_kinds = []
        self.host_roots = []
        self.stack = <uint64_t*>calloc(STACK_SLOTS, 8)
        self.frames = <Frame*>calloc(MAX_DEPTH + 1, sizeof(Frame))
        if self.stack == NULL or self.frames == NULL:
            raise MemoryError()
        self.stack_end = self.stack + STACK_SLOTS
        self.max_depth = MAX_DEPTH
        heap.set_root_provider(self.roots)

    def __dealloc__(self):
        cdef uint32_t i
        free(self.stack)
        free(self.frames)
        if self.funcs != NULL:
            for i in range(self.nfuncs):
                free(self.funcs[i].code)
                free(self.funcs[i])
            free(self.funcs)
        for p in self.owned:
            free(<void*><size_t>p)

    cdef void* alloc(self, size_t n) except NULL:
        cdef void* p = calloc(n if n else 1, 1)
        if p == NULL:
            raise MemoryError()
        self.owned.append(<size_t>p)
        return p

    # ---- the root provider ------------------------------------------------------------

    def roots(self):
        """The precise GC roots of the active guest frames, from their stack maps."""
        cdef uint32_t d
        cdef Frame* fr
        out = [r for held in self.host_roots for r in held]
        for d in range(self.depth):
            fr = &self.frames[d]
            for slot in self.maps[fr.f.id][fr.map]:
                out.append(<uint32_t>fr.fp[<uint32_t>slot])
        return out

    # ---- building --------------------------------------------------------------------

    def add_function(self, code, str param_kinds not None, uint32_t nresults,
                     uint32_t nlocals, uint32_t max_height, uint32_t type_index,
                     list maps not None, size_t inst):
        """Register a function compiled by wasmgc.compile; returns its id. The code and
        stack maps are trusted: they come from the compiler, which validated the body."""
        cdef Func* f
        cdef Py_ssize_t i, n = len(code)
        cdef uint32_t nparams = len(param_kinds)
        cdef Inst* ip = self.inst_arg(inst)
        if nlocals < nparams or max_height < nlocals:
            raise ValueError("add_function: inconsistent frame sizes")
        f = <Func*>calloc(1, sizeof(Func))
        if f == NULL:
            raise MemoryError()
        f.code = <uint64_t*>malloc((n + 1) * 8)
        if f.code == NULL:
            free(f)
            raise MemoryError()
        for i in range(n):
            f.code[i] = code[i]
        f.nparams = nparams
        f.nresults = nresults
        f.nlocals = nlocals
        f.max_height = max_height
        f.type_index = type_index
        f.host = -1
        f.inst = ip
        return self.push_func(f, maps, param_kinds)

    def add_host_function(self, fn, uint32_t type_index, params, results):
        cdef Func* f = <Func*>calloc(1, sizeof(Func))
        if f == NULL:
            raise MemoryError()
        f.nparams = len(params)
        f.nresults = len(results)
        f.nlocals = f.nparams
        f.max_height = max(f.nparams, f.nresults)
        f.type_index = type_index
        f.host = len(self.hosts)
        self.hosts.append((fn, tuple(params), tuple(results)))
        return self.push_func(f, [], "".join(params))

    cdef uint32_t push_func(self, Func* f, list maps, str kinds) except? 0xFFFFFFFFULL:
        cdef Func** grown
        if self.nfuncs == self.capfuncs:
            self.capfuncs = self.capfuncs * 2 + 16
            grown = <Func**>realloc(self.funcs, self.capfuncs * sizeof(Func*))
            if grown == NULL:
                free(f.code)
                free(f)
                raise MemoryError()
            self.funcs = grown
        f.id = self.nfuncs
        f.ref = 0
        if f.type_index != 0xFFFFFFFFULL:
            # The heap's function table gives the funcref id; the store keeps its pin.
            f.ref = self.heap.funcref_intern(f.type_index, <uintptr_t>f)
        self.funcs[self.nfuncs] = f
        self.nfuncs += 1
        self.maps.append(maps)
        self.param_kinds.append(kinds)
        return f.id

    def func_info(self, uint32_t fid):
        self.check_func(fid)
        cdef Func* f = self.funcs[fid]
        return f.type_index, f.nparams, f.nresults

    cdef int check_func(self, uint32_t fid) except -1:
        if fid >= self.nfuncs:
            raise IndexError(f"no function {fid} in this store")
        return 0

    # Instances, globals, tables and memories are C records owned by the store; Python sees
    # them as opaque handles, each checked against the store's own list before use.

    cdef Inst* inst_arg(self, size_t p) except NULL:
        if self.handles.get(p) != "instance":
            raise ValueError(f"{p:#x} is not an instance handle of this store")
        return <Inst*>p

    cdef Global* global_arg(self, size_t p) except NULL:
        if self.handles.get(p) != "global":
            raise ValueError(f"{p:#x} is not a global handle of this store")
        return <Global*>p

    cdef Table* table_arg(self, size_t p) except NULL:
        if self.handles.get(p) != "table":
            raise ValueError(f"{p:#x} is not a table handle of this store")
        return <Table*>p

    cdef Memory* memory_arg(self, size_t p) except NULL:
        if self.handles.get(p) != "memory":
            raise ValueError(f"{p:#x} is not a memory handle of this store")
        return <Memory*>p

    cdef int index_arg(self, uint32_t i, uint32_t n, str what) except -1:
        if i >= n:
            raise IndexError(f"{what} index {i} out of range (the instance has {n})")
        return 0

    def new_instance(self, uint32_t nfuncs, uint32_t nglobals, uint32_t ntables,
                     uint32_t nelems, uint32_t ndatas):
        cdef Inst* inst = <Inst*>self.alloc(sizeof(Inst))
        inst.funcs = <Func**>self.alloc(<size_t>nfuncs * sizeof(Func*))
        inst.nfuncs = nfuncs
        inst.globals = <Global**>self.alloc(<size_t>nglobals * sizeof(Global*))
        inst.nglobals = nglobals
        inst.tables = <Table**>self.alloc(<size_t>ntables * sizeof(Table*))
        inst.ntables = ntables
        inst.elems = <Segment*>self.alloc(<size_t>nelems * sizeof(Segment))
        inst.nelems = nelems
        inst.datas = <Segment*>self.alloc(<size_t>ndatas * sizeof(Segment))
        inst.ndatas = ndatas
        self.handles[<size_t>inst] = "instance"
        return <size_t>inst

    def set_func(self, size_t inst, uint32_t i, uint32_t fid):
        cdef Inst* p = self.inst_arg(inst)
        self.index_arg(i, p.nfuncs, "function")
        self.check_func(fid)
        p.funcs[i] = self.funcs[fid]

    def new_global(self, bint counted, uint64_t value):
        """A global cell; a counted one takes a count on `value`."""
        cdef Global* g
        if counted:
            self.check_ref(value)
        g = <Global*>self.alloc(sizeof(Global))
        g.counted = counted
        g.value = value
        if counted:
            inc(self.heap, <uint32_t>value)
        self.handles[<size_t>g] = "global"
        return <size_t>g

    def set_global(self, size_t inst, uint32_t i, size_t g):
        cdef Inst* p = self.inst_arg(inst)
        self.index_arg(i, p.nglobals, "global")
        p.globals[i] = self.global_arg(g)

    def global_value(self, size_t g):
        return self.global_arg(g).value

    def new_table(self, uint32_t size, uint32_t maximum, bint counted, uint32_t init):
        cdef Table* t
        cdef uint32_t i
        if size > 10000000:
            raise MemoryError("table too large")
        if counted:
            self.check_ref(init)
        t = <Table*>self.alloc(sizeof(Table))
        t.elems = <uint32_t*>calloc(size if size else 1, 4)
        if t.elems == NULL:
            raise MemoryError()
        self.owned.append(<size_t>t.elems)
        t.size = size
        t.max = maximum
        t.counted = counted
        for i in range(size):
            t.elems[i] = init
            if counted:
                inc(self.heap, init)
        self.handles[<size_t>t] = "table"
        return <size_t>t

    def set_table(self, size_t inst, uint32_t i, size_t t):
        cdef Inst* p = self.inst_arg(inst)
        self.index_arg(i, p.ntables, "table")
        p.tables[i] = self.table_arg(t)

    def table_size(self, size_t t):
        return self.table_arg(t).size

    def table_max(self, size_t t):
        return self.table_arg(t).max

    def new_memory(self, uint32_t pages, uint32_t max_pages):
        cdef Memory* m
        if pages > 65536 or max_pages > 65536:
            raise MemoryError("memory too large")
        m = <Memory*>self.alloc(sizeof(Memory))
        m.data = <uint8_t*>calloc(<size_t>pages * PAGE + 1, 1)
        if m.data == NULL:
            raise MemoryError()
        m.size = <uint64_t>pages * PAGE
        m.max_pages = max_pages
        self.owned.append(<size_t>m.data)
        self.handles[<size_t>m] = "memory"
        return <size_t>m

    def set_memory(self, size_t inst, size_t m):
        self.inst_arg(inst).mem = self.memory_arg(m)

    def memory_pages(self, size_t m):
        return self.memory_arg(m).size // PAGE

    def memory_max(self, size_t m):
        return self.memory_arg(m).max_pages

    def memory_write(self, size_t m, uint64_t offset, bytes data not None):
        cdef Memory* mem = self.memory_arg(m)
        if offset > mem.size or len(data) > mem.size - offset:
            trap("out of bounds memory access")
        memcpy(mem.data + offset, <const char*>data, len(data))

    def set_data(self, size_t inst, uint32_t i, bytes data not None):
        cdef Inst* p = self.inst_arg(inst)
        self.index_arg(i, p.ndatas, "data segment")
        cdef Segment* s = &p.datas[i]
        self.keep.append(data)
        s.bytes = <const uint8_t*><const char*>data
        s.n = len(data)

    def drop_data(self, size_t inst, uint32_t i):
        cdef Inst* p = self.inst_arg(inst)
        self.index_arg(i, p.ndatas, "data segment")
        p.datas[i].n = 0

    def set_elem(self, size_t inst, uint32_t i, uint32_t n, bint counted):
        cdef Inst* p = self.inst_arg(inst)
        self.index_arg(i, p.nelems, "element segment")
        cdef Segment* s = &p.elems[i]
        if s.refs != NULL:
            raise ValueError(f"element segment {i} is already set")
        s.refs = <uint32_t*>self.alloc(<size_t>n * 4)
        s.n = 0
        s.cap = n
        s.counted = counted

    def elem_push(self, size_t inst, uint32_t i, uint32_t value):
        """Append an item; a counted segment takes a count."""
        cdef Inst* p = self.inst_arg(inst)
        self.index_arg(i, p.nelems, "element segment")
        cdef Segment* s = &p.elems[i]
        if s.n >= s.cap:
            raise IndexError(f"element segment {i} is full ({s.cap} items)")
        if s.counted:
            self.check_ref(value)
            inc(self.heap, value)
        s.refs[s.n] = value
        s.n += 1

    def drop_elem(self, size_t inst, uint32_t i):
        cdef Inst* p = self.inst_arg(inst)
        self.index_arg(i, p.nelems, "element segment")
        self.elem_drop(&p.elems[i])

    def table_init(self, size_t inst, uint32_t tab, uint32_t seg, uint32_t d, uint32_t s,
                   uint32_t n):
        cdef Inst* p = self.inst_arg(inst)
        self.index_arg(tab, p.ntables, "table")
        self.index_arg(seg, p.nelems, "element segment")
        if p.tables[tab] == NULL:
            raise ValueError(f"table {tab} is not set")
        self.do_table_init(p, tab, seg, d, s, n)

    cdef int check_ref(self, uint64_t r) except -1:
        if r > 0xFFFFFFFFULL or (ref_is_object(<uint32_t>r) and
                                 not self.heap.is_object(<uint32_t>r)):
            raise ValueError(f"{r:#x} is not null, an i31 or a live object of this heap")
        return 0

    # ---- calls from the host ----------------------------------------------------------

    def call(self, uint32_t fid, args):
        """Run function `fid` on raw argument slots; returns its raw result slots. Traps
        raise wasmgc.Trap; a too-deep recursion raises wasmgc.Exhaustion."""
        cdef Func* f
        cdef uint64_t* fp
        cdef uint32_t i, saved = self.depth
        self.check_func(fid)
        f = self.funcs[fid]
        if len(args) != f.nparams:
            raise TypeError(f"function {fid} takes {f.nparams} arguments, got {len(args)}")
        # Host calls nest (a host function may call back): start above the live frames.
        if self.depth:
            fp = self.frames[self.depth - 1].fp + self.frames[self.depth - 1].f.max_height
        else:
            fp = self.stack
        if fp + f.nparams + 8 > self.stack_end:
            raise Exhaustion("call stack exhausted")
        kinds = self.param_kinds[fid]
        for i in range(f.nparams):
            self.check_arg(args[i], kinds[i], i)
        for i in range(f.nparams):
            fp[i] = args[i]
        self.heap.guest_enter()
        try:
            self.run(f, fp)
        finally:
            self.depth = saved
            self.heap.guest_exit()
        return [fp[i] for i in range(f.nresults)]

    cdef int check_arg(self, object v, str kind, uint32_t i) except -1:
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"argument {i}: a raw slot is an int, not {type(v).__name__}")
        if v < 0 or v > 0xFFFFFFFFFFFFFFFF:
            raise OverflowError(f"argument {i}: {v} is not a u64 slot")
        if kind in ("i", "f") and v > 0xFFFFFFFF:
            raise OverflowError(f"argument {i}: {v} does not fit a 32-bit slot")
        if kind == "r":
            self.check_ref(v)
        elif kind == "p" and v != 0 and (v > 0xFFFFFFFF or not self.heap.funcref_valid(v)):
            raise ValueError(f"argument {i}: {v:#x} is not a funcref of this heap")
        elif kind == "v" and v != 0:
            raise ValueError(f"argument {i}: v128 arguments are not supported")
        return 0

    def describe(self, uint64_t raw, str kind):
        """What a raw ref slot holds, for the script runner: ("null",), ("i31", value),
        ("struct",), ("array",), ("extern", payload), ("func", id)."""
        cdef uint32_t r = <uint32_t>raw
        cdef uint32_t k
        if r == 0:
            return ("null",)
        if kind == "p":
            return ("func", r)
        if r & I31_TAG:
            return ("i31", (<int32_t>r) >> 1)
        if not self.heap.is_object(r):
            return ("invalid", r)
        k = (<ObjectHeader*>(self.heap.base + r)).kind_bits & KIND_MASK
        if k == KIND_STRUCT:
            return ("struct",)
        if k == KIND_ARRAY:
            return ("array",)
        if k == KIND_EXTERN:
            return ("extern", self.heap.host_data[
                (<ExternRefObject*>(self.heap.base + r)).host_data_id])
        return ("other",)

    def func_ref(self, uint32_t fid):
        """The funcref id of function `fid` (ref.func)."""
        self.check_func(fid)
        return self.funcs[fid].ref

    def func_id_type(self, uint32_t fid):
        self.check_func(fid)
        return self.funcs[fid].type_index

    # ---- the interpreter ------------------------------------------------------------

    cdef int matches(self, uint32_t r, uint32_t heap, bint nullable) except -1:
        """1 if ref r (of the hierarchy of `heap`) matches (ref null? heap), else 0."""
        cdef const TypeInfo* ti
        cdef uint32_t k
        if r == 0:
            return nullable
        if heap == HEAP_FUNC:
            return True
        if heap == HEAP_NOFUNC or heap == HEAP_NONE or heap == HEAP_NOEXTERN:
            return False
        if heap == HEAP_EXTERN:
            return True
        if heap < HEAP_ABSTRACT_BASE:
            ti = registry_type_info(self.registry, heap)
            if ti != NULL and ti.kind == COMPOSITE_FUNC:
                return funcref_is_subtype(self.heap, r, heap)
        if r & I31_TAG:
            return heap == HEAP_ANY or heap == HEAP_EQ or heap == HEAP_I31
        k = (<ObjectHeader*>(self.heap.base + r)).kind_bits & KIND_MASK
        if k == KIND_EXTERN:
            return heap == HEAP_ANY
        return self.heap.heap_type_matches(r, heap)

    cdef int elem_drop(self, Segment* s) except -1:
        cdef uint32_t i
        if s.counted:
            for i in range(s.n):
                dec(self.heap, s.refs[i])
        s.n = 0
        return 0

    cdef int do_table_init(self, Inst* inst, uint32_t ti, uint32_t si, uint32_t d, uint32_t s,
                           uint32_t n) except -1:
        cdef Table* t = inst.tables[ti]
        cdef Segment* seg = &inst.elems[si]
        cdef uint32_t i
        if <uint64_t>s + n > seg.n or <uint64_t>d + n > t.size:
            trap("out of bounds table access")
        for i in range(n):
            if t.counted:
                inc(self.heap, seg.refs[s + i])
                dec(self.heap, t.elems[d + i])
            t.elems[d + i] = seg.refs[s + i]
        return 0

    cdef int call_host(self, Func* f, uint64_t* fp) except -1:
        fn = self.hosts[f.host][0]
        args = [fp[i] for i in range(f.nparams)]
        kinds = self.param_kinds[f.id]
        # A host function has no frame: its ref arguments stay roots while it runs (it may
        # allocate, or call back into the guest).
        self.host_roots.append([a for a, k in zip(args, kinds) if k == "r"])
        try:
            out = fn(*args)
        finally:
            self.host_roots.pop()
        if f.nresults == 0:
            return 0
        if f.nresults == 1:
            out = (out,)
        for i in range(f.nresults):
            fp[i] = out[i]
        return 0

    cdef int run(self, Func* f, uint64_t* fp) except -1:
        """Run f with its arguments at fp[0 .. nparams); leave its results at fp[0 ..)."""
        cdef Heap h = self.heap
        cdef Inst* inst
        cdef uint64_t* code
        cdef uint64_t* sp
        cdef Frame* frame
        cdef size_t pc = 0
        cdef uint32_t op, n, i, r, t
        cdef uint64_t x, ea
        cdef Func* g
        cdef Table* tab
        cdef Memory* mem
        cdef Global* glob
        cdef char* p
        cdef uint32_t depth = self.depth
        if f.host >= 0:
            return self.call_host(f, fp)
        if depth >= self.max_depth:
            raise Exhaustion("call stack exhausted")
        frame = &self.frames[depth]
        self.depth = depth + 1
        # A tail call re-enters here with the callee's arguments at fp.
        while True:
            if fp + f.max_height + 1 > self.stack_end:
                raise Exhaustion("call stack exhausted")
            inst = f.inst
            mem = inst.mem
            code = f.code
            memset(fp + f.nparams, 0, (f.nlocals - f.nparams) * 8)
            sp = fp + f.nlocals
            frame.f = f
            frame.fp = fp
            frame.map = 0
            pc = 0
            g = NULL
            while True:
                op = <uint32_t>code[pc]
                if op == 0x20:                                  # local.get
                    sp[0] = fp[code[pc + 1]]
                    sp += 1
                    pc += 2
                elif op == 0x21:                                # local.set
                    sp -= 1
                    fp[code[pc + 1]] = sp[0]
                    pc += 2
                elif op == 0x22:                                # local.tee
                    fp[code[pc + 1]] = sp[-1]
                    pc += 2
                elif op == 0x41 or op == 0x42 or op == 0x43 or op == 0x44:
                    x = code[pc + 1]
                    if op == 0x41 or op == 0x43:
                        x = <uint32_t>x
                    sp[0] = x
                    sp += 1
                    pc += 2
                elif op == 0x0C:                                # br
                    n = <uint32_t>code[pc + 3]
                    memmove(fp + code[pc + 2], sp - n, n * 8)
                    sp = fp + code[pc + 2] + n
                    pc = code[pc + 1]
                elif op == 0x0D:                                # br_if
                    sp -= 1
                    if <uint32_t>sp[0]:
                        n = <uint32_t>code[pc + 3]
                        memmove(fp + code[pc + 2], sp - n, n * 8)
                        sp = fp + code[pc + 2] + n
                        pc = code[pc + 1]
                    else:
                        pc += 4
                elif op == 0x04:                                # if
                    sp -= 1
                    if <uint32_t>sp[0]:
                        pc += 2
                    else:
                        pc = code[pc + 1]
                elif op == 0x05:                                # else: jump to the end
                    pc = code[pc + 1]
                elif op == 0x0E:                                # br_table
                    sp -= 1
                    i = <uint32_t>sp[0]
                    n = <uint32_t>code[pc + 1]
                    if i > n:
                        i = n
                    pc = pc + 2 + 3 * i
                    n = <uint32_t>code[pc + 2]
                    memmove(fp + code[pc + 1], sp - n, n * 8)
                    sp = fp + code[pc + 1] + n
                    pc = code[pc]
                elif op == 0x0F:                                # return
                    n = f.nresults
                    memmove(fp, sp - n, n * 8)
                    self.depth = depth
                    return 0
                elif op == 0x00:
                    trap("unreachable")
                elif op == 0x1A:                                # drop
                    sp -= 1
                    pc += 1
                elif op == 0x1B:                                # select
                    sp -= 2
                    if not <uint32_t>sp[1]:
                        sp[-1] = sp[0]
                    pc += 1
                elif op == 0x10 or op == 0x12:                  # call, return_call
                    g = inst.funcs[code[pc + 1]]
                    frame.map = <uint32_t>code[pc + 2]
                    pc += 3
                elif op == 0x11 or op == 0x13:                  # call_indirect
                    tab = inst.tables[code[pc + 2]]
                    sp -= 1
                    i = <uint32_t>sp[0]
                    if i >= tab.size:
                        trap("undefined element")
                    r = tab.elems[i]
                    if r == 0:
                        trap("uninitialized element")
                    t = <uint32_t>code[pc + 1]
                    if not funcref_is_subtype(h, r, t):
                        trap("indirect call type mismatch")
                    g = <Func*>funcref_target(h, r)
                    frame.map = <uint32_t>code[pc + 3]
                    pc += 4
                elif op == 0x14 or op == 0x15:                  # call_ref
                    sp -= 1
                    r = <uint32_t>sp[0]
                    if r == 0:
                        trap("null function reference")
                    g = <Func*>funcref_target(h, r)
                    frame.map = <uint32_t>code[pc + 2]
                    pc += 3
                elif op == 0x23:                                # global.get
                    glob = inst.globals[code[pc + 1]]
                    x = glob.value
                    if code[pc + 2]:
                        inc(h, <uint32_t>x)
                        h.expose_raw(<uint32_t>x)
                    sp[0] = x
                    sp += 1
                    pc += 3
                elif op == 0x24:                                # global.set
                    glob = inst.globals[code[pc + 1]]
                    sp -= 1
                    if code[pc + 2]:
                        inc(h, <uint32_t>sp[0])
                        x = glob.value
                        glob.value = sp[0]
                        dec(h, <uint32_t>x)
                    else:
                        glob.value = sp[0]
                    pc += 3
                elif op == 0x25:                                # table.get
                    tab = inst.tables[code[pc + 1]]
                    i = <uint32_t>sp[-1]
                    if i >= tab.size:
                        trap("out of bounds table access")
                    r = tab.elems[i]
                    if tab.counted:
                        inc(h, r)
                        h.expose_raw(r)
                    sp[-1] = r
                    pc += 2
                elif op == 0x26:                                # table.set
                    tab = inst.tables[code[pc + 1]]
                    sp -= 2
                    i = <uint32_t>sp[0]
                    if i >= tab.size:
                        trap("out of bounds table access")
                    r = <uint32_t>sp[1]
                    if tab.counted:
                        inc(h, r)
                        dec(h, tab.elems[i])
                    tab.elems[i] = r
                    pc += 2
                elif (op == 0x28 or op == 0x29 or op == 0x2A or op == 0x2B or op == 0x2C or
                        op == 0x2D or op == 0x2E or op == 0x2F or op == 0x30 or op == 0x31 or
                        op == 0x32 or op == 0x33 or op == 0x34 or op == 0x35 or op == 0x36 or
                        op == 0x37 or op == 0x38 or op == 0x39 or op == 0x3A or op == 0x3B or
                        op == 0x3C or op == 0x3D or op == 0x3E):  # loads, stores
                    if op <= 0x35:
                        ea = <uint32_t>sp[-1] + code[pc + 1]
                        n = _ACCESS_SIZE[op - 0x28]
                        if ea + n > mem.size:
                            trap("out of bounds memory access")
                        p = <char*>mem.data + ea
                        if op == 0x28 or op == 0x2A:
                            x = (<uint32_t*>p)[0]
                        elif op == 0x29 or op == 0x2B:
                            x = (<uint64_t*>p)[0]
                        elif op == 0x2C:
                            x = u32((<int8_t*>p)[0])
                        elif op == 0x2D or op == 0x31:
                            x = (<uint8_t*>p)[0]
                        elif op == 0x2E:
                            x = u32((<int16_t*>p)[0])
                        elif op == 0x2F or op == 0x33:
                            x = (<uint16_t*>p)[0]
                        elif op == 0x30:
                            x = <uint64_t>(<int64_t>(<int8_t*>p)[0])
                        elif op == 0x32:
                            x = <uint64_t>(<int64_t>(<int16_t*>p)[0])
                        elif op == 0x34:
                            x = <uint64_t>(<int64_t>(<int32_t*>p)[0])
                        else:
                            x = (<uint32_t*>p)[0]
                        sp[-1] = x
                    else:
                        sp -= 2
                        ea = <uint32_t>sp[0] + code[pc + 1]
                        n = _ACCESS_SIZE[op - 0x28]
                        if ea + n > mem.size:
                            trap("out of bounds memory access")
                        memcpy(mem.data + ea, &sp[1], n)
                    pc += 2
                elif op == 0x3F:                                # memory.size
                    sp[0] = mem.size // PAGE
                    sp += 1
                    pc += 1
                elif op == 0x40:                                # memory.grow
                    sp[-1] = self.memory_grow(mem, <uint32_t>sp[-1])
                    pc += 1
                elif op == 0xD0:                                # ref.null
                    sp[0] = 0
                    sp += 1
                    pc += 1
                elif op == 0xD1:                                # ref.is_null
                    sp[-1] = 1 if <uint32_t>sp[-1] == 0 else 0
                    pc += 1
                elif op == 0xD2:                                # ref.func
                    sp[0] = inst.funcs[code[pc + 1]].ref
                    sp += 1
                    pc += 2
                elif op == 0xD3:                                # ref.eq
                    sp -= 1
                    sp[-1] = 1 if <uint32_t>sp[-1] == <uint32_t>sp[0] else 0
                    pc += 1
                elif op == 0xD4:                                # ref.as_non_null
                    if <uint32_t>sp[-1] == 0:
                        trap("null reference")
                    pc += 1
                elif op == 0xD5:                                # br_on_null
                    if <uint32_t>sp[-1] == 0:
                        sp -= 1
                        n = <uint32_t>code[pc + 3]
                        memmove(fp + code[pc + 2], sp - n, n * 8)
                        sp = fp + code[pc + 2] + n
                        pc = code[pc + 1]
                    else:
                        pc += 4
                elif op == 0xD6:                                # br_on_non_null
                    if <uint32_t>sp[-1] != 0:
                        n = <uint32_t>code[pc + 3]
                        memmove(fp + code[pc + 2], sp - n, n * 8)
                        sp = fp + code[pc + 2] + n
                        pc = code[pc + 1]
                    else:
                        sp -= 1
                        pc += 4
                # The hottest numeric and GC instructions, inline.
                elif op == 0x6A:                                # i32.add
                    sp -= 1
                    sp[-1] = <uint32_t>(sp[-1] + sp[0])
                    pc += 1
                elif op == 0x6B:                                # i32.sub
                    sp -= 1
                    sp[-1] = <uint32_t>(sp[-1] - sp[0])
                    pc += 1
                elif op == 0x45:                                # i32.eqz
                    sp[-1] = 1 if <uint32_t>sp[-1] == 0 else 0
                    pc += 1
                elif op == 0x46:                                # i32.eq
                    sp -= 1
                    sp[-1] = 1 if <uint32_t>sp[-1] == <uint32_t>sp[0] else 0
                    pc += 1
                elif op == 0x48:                                # i32.lt_s
                    sp -= 1
                    sp[-1] = 1 if <int32_t>sp[-1] < <int32_t>sp[0] else 0
                    pc += 1
                elif op == 0x4A:                                # i32.gt_s
                    sp -= 1
                    sp[-1] = 1 if <int32_t>sp[-1] > <int32_t>sp[0] else 0
                    pc += 1
                elif op == 0x4E:                                # i32.ge_s
                    sp -= 1
                    sp[-1] = 1 if <int32_t>sp[-1] >= <int32_t>sp[0] else 0
                    pc += 1
                elif op == 0x7C:                                # i64.add
                    sp -= 1
                    sp[-1] = sp[-1] + sp[0]
                    pc += 1
                elif op == 0xAC:                                # i64.extend_i32_s
                    sp[-1] = <uint64_t>(<int64_t>(<int32_t>sp[-1]))
                    pc += 1
                elif op == 0xAD:                                # i64.extend_i32_u
                    sp[-1] = <uint32_t>sp[-1]
                    pc += 1
                elif op == 0x102:                               # struct.get (not packed)
                    r = <uint32_t>sp[-1]
                    if r == 0:
                        trap("null structure reference")
                    if code[pc + 3] == 1:
                        sp[-1] = h.expose_raw(load_ref(h, r, <uint32_t>code[pc + 1]))
                    elif code[pc + 3] == 2:
                        sp[-1] = load_funcref(h, r, <uint32_t>code[pc + 1])
                    else:
                        sp[-1] = read_storage(field_addr(h, r, <uint32_t>code[pc + 1]),
                                              <uint32_t>code[pc + 2], False)
                    pc += 4
                elif op == 0x10F:                               # array.len
                    r = <uint32_t>sp[-1]
                    if r == 0:
                        trap("null array reference")
                    sp[-1] = array_length(h, r)
                    pc += 1
                else:
                    if (0x45 <= op <= 0xC4) or (0x200 <= op <= 0x207):
                        sp = self.numeric(op, sp)
                        pc += 1
                    elif op >= 0x100 and op < 0x200:
                        sp = self.gc_op(op, code, &pc, sp, frame, inst)
                    elif op >= 0x208:
                        sp = self.misc_op(op, code, &pc, sp, inst)
                    else:
                        raise RuntimeError(f"wasmgc: bad internal opcode {op:#x} at {pc}")

                if g != NULL:
                    # A call: arguments are the top g.nparams slots.
                    n = g.nparams
                    if op == 0x10 or op == 0x11 or op == 0x14 or g.host >= 0:
                        sp -= n
                        self.run(g, sp)
                        sp += g.nresults
                        if op == 0x12 or op == 0x13 or op == 0x15:
                            n = g.nresults
                            memmove(fp, sp - n, n * 8)
                            self.depth = depth
                            return 0
                        g = NULL
                    else:
                        memmove(fp, sp - n, n * 8)
                        f = g
                        break

    cdef uint64_t memory_grow(self, Memory* mem, uint32_t delta) except? 0xFFFFFFFFULL:
        cdef uint64_t old = mem.size // PAGE
        cdef uint64_t new = old + delta
        cdef uint8_t* grown
        if new > mem.max_pages or new > 65536:
            return 0xFFFFFFFFULL
        if delta == 0:
            return old
        grown = <uint8_t*>realloc(mem.data, new * PAGE + 1)
        if grown == NULL:
            return 0xFFFFFFFFULL
        memset(grown + mem.size, 0, (new - old) * PAGE)
        self.owned.remove(<size_t>mem.data)
        self.owned.append(<size_t>grown)
        mem.data = grown
        mem.size = new * PAGE
        return old

    cdef uint64_t* numeric(self, uint32_t op, uint64_t* sp) except NULL:
        cdef uint32_t a, b
        cdef int32_t ia, ib
        cdef uint64_t x, y
        cdef int64_t la, lb
        cdef float fa, fb
        cdef double da, db
        # unary i32
        if op == 0x45:
            sp[-1] = 1 if <uint32_t>sp[-1] == 0 else 0
            return sp
        if op == 0x50:
            sp[-1] = 1 if sp[-1] == 0 else 0
            return sp
        if 0x46 <= op <= 0x4F:
            sp -= 1
            a = <uint32_t>sp[-1]
            b = <uint32_t>sp[0]
            ia = <int32_t>a
            ib = <int32_t>b
            if op == 0x46:
                x = a == b
            elif op == 0x47:
                x = a != b
            elif op == 0x48:
                x = ia < ib
            elif op == 0x49:
                x = a < b
            elif op == 0x4A:
                x = ia > ib
            elif op == 0x4B:
                x = a > b
            elif op == 0x4C:
                x = ia <= ib
            elif op == 0x4D:
                x = a <= b
            elif op == 0x4E:
                x = ia >= ib
            else:
                x = a >= b
            sp[-1] = x
            return sp
        if 0x51 <= op <= 0x5A:
            sp -= 1
            x = sp[-1]
            y = sp[0]
            la = <int64_t>x
            lb = <int64_t>y
            if op == 0x51:
                a = x == y
            elif op == 0x52:
                a = x != y
            elif op == 0x53:
                a = la < lb
            elif op == 0x54:
                a = x < y
            elif op == 0x55:
                a = la > lb
            elif op == 0x56:
                a = x > y
            elif op == 0x57:
                a = la <= lb
            elif op == 0x58:
                a = x <= y
            elif op == 0x59:
                a = la >= lb
            else:
                a = x >= y
            sp[-1] = a
            return sp
        if 0x5B <= op <= 0x60:
            sp -= 1
            fa = as_f32(sp[-1])
            fb = as_f32(sp[0])
            if op == 0x5B:
                a = fa == fb
            elif op == 0x5C:
                a = fa != fb
            elif op == 0x5D:
                a = fa < fb
            elif op == 0x5E:
                a = fa > fb
            elif op == 0x5F:
                a = fa <= fb
            else:
                a = fa >= fb
            sp[-1] = a
            return sp
        if 0x61 <= op <= 0x66:
            sp -= 1
            da = as_f64(sp[-1])
            db = as_f64(sp[0])
            if op == 0x61:
                a = da == db
            elif op == 0x62:
                a = da != db
            elif op == 0x63:
                a = da < db
            elif op == 0x64:
                a = da > db
            elif op == 0x65:
                a = da <= db
            else:
                a = da >= db
            sp[-1] = a
            return sp
        if 0x67 <= op <= 0x69:
            a = <uint32_t>sp[-1]
            if op == 0x67:
                sp[-1] = 32 if a == 0 else __builtin_clz(a)
            elif op == 0x68:
                sp[-1] = 32 if a == 0 else __builtin_ctz(a)
            else:
                sp[-1] = __builtin_popcount(a)
            return sp
        if 0x6A <= op <= 0x78:
            sp -= 1
            a = <uint32_t>sp[-1]
            b = <uint32_t>sp[0]
            ia = <int32_t>a
            ib = <int32_t>b
            if op == 0x6A:
                a = a + b
            elif op == 0x6B:
                a = a - b
            elif op == 0x6C:
                a = a * b
            elif op == 0x6D:
                if b == 0:
                    trap("integer divide by zero")
                if ia == -2147483648 and ib == -1:
                    trap("integer overflow")
                a = <uint32_t>(ia // ib)
            elif op == 0x6E:
                if b == 0:
                    trap("integer divide by zero")
                a = a // b
            elif op == 0x6F:
                if b == 0:
                    trap("integer divide by zero")
                if ib == -1:
                    a = 0
                else:
                    a = <uint32_t>(ia % ib)
            elif op == 0x70:
                if b == 0:
                    trap("integer divide by zero")
                a = a % b
            elif op == 0x71:
                a = a & b
            elif op == 0x72:
                a = a | b
            elif op == 0x73:
                a = a ^ b
            elif op == 0x74:
                a = a << (b & 31)
            elif op == 0x75:
                a = <uint32_t>(ia >> (b & 31))
            elif op == 0x76:
                a = a >> (b & 31)
            elif op == 0x77:
                b &= 31
                a = (a << b) | (a >> ((32 - b) & 31))
            else:
                b &= 31
                a = (a >> b) | (a << ((32 - b) & 31))
            sp[-1] = a
            return sp
        if 0x79 <= op <= 0x7B:
            x = sp[-1]
            if op == 0x79:
                sp[-1] = 64 if x == 0 else __builtin_clzll(x)
            elif op == 0x7A:
                sp[-1] = 64 if x == 0 else __builtin_ctzll(x)
            else:
                sp[-1] = __builtin_popcountll(x)
            return sp
        if 0x7C <= op <= 0x8A:
            sp -= 1
            x = sp[-1]
            y = sp[0]
            la = <int64_t>x
            lb = <int64_t>y
            if op == 0x7C:
                x = x + y
            elif op == 0x7D:
                x = x - y
            elif op == 0x7E:
                x = x * y
            elif op == 0x7F:
                if y == 0:
                    trap("integer divide by zero")
                if x == 0x8000000000000000ULL and lb == -1:
                    trap("integer overflow")
                x = <uint64_t>(la // lb)
            elif op == 0x80:
                if y == 0:
                    trap("integer divide by zero")
                x = x // y
            elif op == 0x81:
                if y == 0:
                    trap("integer divide by zero")
                if lb == -1:
                    x = 0
                else:
                    x = <uint64_t>(la % lb)
            elif op == 0x82:
                if y == 0:
                    trap("integer divide by zero")
                x = x % y
            elif op == 0x83:
                x = x & y
            elif op == 0x84:
                x = x | y
            elif op == 0x85:
                x = x ^ y
            elif op == 0x86:
                x = x << (y & 63)
            elif op == 0x87:
                x = <uint64_t>(la >> (y & 63))
            elif op == 0x88:
                x = x >> (y & 63)
            elif op == 0x89:
                y &= 63
                x = (x << y) | (x >> ((64 - y) & 63))
            else:
                y &= 63
                x = (x >> y) | (x << ((64 - y) & 63))
            sp[-1] = x
            return sp
        if 0x8B <= op <= 0x91:
            fa = as_f32(sp[-1])
            if op == 0x8B:
                sp[-1] = <uint32_t>sp[-1] & 0x7FFFFFFF
                return sp
            if op == 0x8C:
                sp[-1] = (<uint32_t>sp[-1]) ^ 0x80000000ULL
                return sp
            if op == 0x8D:
                fa = ceilf(fa)
            elif op == 0x8E:
                fa = floorf(fa)
            elif op == 0x8F:
                fa = truncf(fa)
            elif op == 0x90:
                fa = nearbyintf(fa)
            else:
                fa = sqrtf(fa)
            sp[-1] = f32_bits(fa)
            return sp
        if 0x92 <= op <= 0x98:
            sp -= 1
            fa = as_f32(sp[-1])
            fb = as_f32(sp[0])
            if op == 0x92:
                fa = fa + fb
            elif op == 0x93:
                fa = fa - fb
            elif op == 0x94:
                fa = fa * fb
            elif op == 0x95:
                fa = fa / fb
            elif op == 0x96:
                fa = fminf_wasm(fa, fb)
            elif op == 0x97:
                fa = fmaxf_wasm(fa, fb)
            else:
                sp[-1] = ((<uint32_t>sp[-1]) & 0x7FFFFFFF) | ((<uint32_t>sp[0]) & 0x80000000ULL)
                return sp
            sp[-1] = f32_bits(fa)
            return sp
        if 0x99 <= op <= 0x9F:
            da = as_f64(sp[-1])
            if op == 0x99:
                sp[-1] = sp[-1] & 0x7FFFFFFFFFFFFFFFULL
                return sp
            if op == 0x9A:
                sp[-1] = sp[-1] ^ 0x8000000000000000ULL
                return sp
            if op == 0x9B:
                da = ceil(da)
            elif op == 0x9C:
                da = floor(da)
            elif op == 0x9D:
                da = trunc(da)
            elif op == 0x9E:
                da = nearbyint(da)
            else:
                da = sqrt(da)
            sp[-1] = f64_bits(da)
            return sp
        if 0xA0 <= op <= 0xA6:
            sp -= 1
            da = as_f64(sp[-1])
            db = as_f64(sp[0])
            if op == 0xA0:
                da = da + db
            elif op == 0xA1:
                da = da - db
            elif op == 0xA2:
                da = da * db
            elif op == 0xA3:
                da = da / db
            elif op == 0xA4:
                da = fmin_wasm(da, db)
            elif op == 0xA5:
                da = fmax_wasm(da, db)
            else:
                sp[-1] = (sp[-1] & 0x7FFFFFFFFFFFFFFFULL) | (sp[0] & 0x8000000000000000ULL)
                return sp
            sp[-1] = f64_bits(da)
            return sp
        x = sp[-1]
        if op == 0xA7:
            x = <uint32_t>x
        elif op == 0xA8:
            x = u32(trunc_s(as_f32(x), -2147483904.0, 2147483648.0))
        elif op == 0xA9:
            x = <uint32_t>trunc_u(as_f32(x), 4294967296.0)
        elif op == 0xAA:
            x = u32(trunc_s(as_f64(x), -2147483649.0, 2147483648.0))
        elif op == 0xAB:
            x = <uint32_t>trunc_u(as_f64(x), 4294967296.0)
        elif op == 0xAC:
            x = <uint64_t>(<int64_t>(<int32_t>x))
        elif op == 0xAD:
            x = <uint32_t>x
        elif op == 0xAE:
            x = <uint64_t>trunc_s(as_f32(x), -9223373136366403584.0, 9223372036854775808.0)
        elif op == 0xAF:
            x = trunc_u(as_f32(x), 18446744073709551616.0)
        elif op == 0xB0:
            x = <uint64_t>trunc_s(as_f64(x), -9223372036854777856.0, 9223372036854775808.0)
        elif op == 0xB1:
            x = trunc_u(as_f64(x), 18446744073709551616.0)
        elif op == 0xB2:
            x = f32_bits(<float>(<int32_t>x))
        elif op == 0xB3:
            x = f32_bits(<float>(<uint32_t>x))
        elif op == 0xB4:
            x = f32_bits(<float>(<int64_t>x))
        elif op == 0xB5:
            x = f32_bits(<float>x)
        elif op == 0xB6:
            x = f32_bits(<float>as_f64(x))
        elif op == 0xB7:
            x = f64_bits(<double>(<int32_t>x))
        elif op == 0xB8:
            x = f64_bits(<double>(<uint32_t>x))
        elif op == 0xB9:
            x = f64_bits(<double>(<int64_t>x))
        elif op == 0xBA:
            x = f64_bits(<double>x)
        elif op == 0xBB:
            x = f64_bits(<double>as_f32(x))
        elif op == 0xBC or op == 0xBE:
            x = <uint32_t>x
        elif op == 0xBD or op == 0xBF:
            pass
        elif op == 0xC0:
            x = u32(<int8_t>x)
        elif op == 0xC1:
            x = u32(<int16_t>x)
        elif op == 0xC2:
            x = <uint64_t>(<int64_t>(<int8_t>x))
        elif op == 0xC3:
            x = <uint64_t>(<int64_t>(<int16_t>x))
        elif op == 0xC4:
            x = <uint64_t>(<int64_t>(<int32_t>x))
        elif op == 0x200:
            x = u32(sat_s(as_f32(x), -2147483648.0, 2147483647.0, -2147483648, 2147483647))
        elif op == 0x201:
            x = <uint32_t>sat_u(as_f32(x), 4294967295.0, 4294967295)
        elif op == 0x202:
            x = u32(sat_s(as_f64(x), -2147483648.0, 2147483647.0, -2147483648, 2147483647))
        elif op == 0x203:
            x = <uint32_t>sat_u(as_f64(x), 4294967295.0, 4294967295)
        elif op == 0x204 or op == 0x206:
            da = as_f32(x) if op == 0x204 else as_f64(x)
            x = <uint64_t>sat_s(da, -9223372036854775808.0, 9223372036854775808.0,
                                -9223372036854775807 - 1, 9223372036854775807)
        else:
            da = as_f32(x) if op == 0x205 else as_f64(x)
            x = sat_u(da, 18446744073709551616.0, 0xFFFFFFFFFFFFFFFFULL)
        sp[-1] = x
        return sp

    cdef uint64_t* gc_op(self, uint32_t op, uint64_t* code, size_t* ppc, uint64_t* sp,
                         Frame* frame, Inst* inst) except NULL:
        cdef Heap h = self.heap
        cdef size_t pc = ppc[0]
        cdef uint32_t r, r2, t, n, i, off, code_, gc, d, s, esize
        cdef uint64_t v
        cdef char* p
        cdef Segment* seg
        if op == 0x100 or op == 0x101:                        # struct.new(_default)
            t = <uint32_t>code[pc + 1]
            frame.map = <uint32_t>code[pc + 2]
            n = <uint32_t>code[pc + 3]
            r = new_struct(h, t)
            if op == 0x100:
                sp -= n
                for i in range(n):
                    off = <uint32_t>code[pc + 4 + 3 * i]
                    code_ = <uint32_t>code[pc + 5 + 3 * i]
                    if code[pc + 6 + 3 * i] == 1:
                        store_ref(h, r, off, <uint32_t>sp[i])
                    elif code[pc + 6 + 3 * i] == 2:
                        store_funcref(h, r, off, <uint32_t>sp[i])
                    else:
                        write_storage(field_addr(h, r, off), code_, sp[i])
            sp[0] = h.expose_raw(r)
            ppc[0] = pc + 4 + 3 * n
            return sp + 1
        if op == 0x102 or op == 0x103 or op == 0x104:         # struct.get(_s/_u)
            r = <uint32_t>sp[-1]
            if r == 0:
                trap("null structure reference")
            off = <uint32_t>code[pc + 1]
            if code[pc + 3] == 1:
                sp[-1] = h.expose_raw(load_ref(h, r, off))
            elif code[pc + 3] == 2:
                sp[-1] = load_funcref(h, r, off)
            else:
                sp[-1] = read_storage(field_addr(h, r, off), <uint32_t>code[pc + 2],
                                      op == 0x103)
            ppc[0] = pc + 4
            return sp
        if op == 0x105:                                       # struct.set
            sp -= 2
            r = <uint32_t>sp[0]
            if r == 0:
                trap("null structure reference")
            off = <uint32_t>code[pc + 1]
            if code[pc + 3] == 1:
                store_ref(h, r, off, <uint32_t>sp[1])
            elif code[pc + 3] == 2:
                store_funcref(h, r, off, <uint32_t>sp[1])
            else:
                write_storage(field_addr(h, r, off), <uint32_t>code[pc + 2], sp[1])
            ppc[0] = pc + 4
            return sp
        if 0x106 <= op <= 0x10A:                              # array.new*
            t = <uint32_t>code[pc + 1]
            frame.map = <uint32_t>code[pc + 2]
            code_ = <uint32_t>code[pc + 3]
            gc = <uint32_t>code[pc + 4]
            esize = storage_size(code_)
            if op == 0x108:
                n = <uint32_t>code[pc + 5]
                sp -= n
                r = self.new_array(t, n)
                for i in range(n):
                    self.put_elem(r, i, code_, gc, sp[i])
                ppc[0] = pc + 6
            elif op == 0x109 or op == 0x10A:
                sp -= 2
                s = <uint32_t>sp[0]
                n = <uint32_t>sp[1]
                if op == 0x109:
                    seg = &inst.datas[code[pc + 5]]
                    if <uint64_t>s + <uint64_t>n * esize > seg.n:
                        trap("out of bounds memory access")
                    r = self.new_array(t, n)
                    if n:
                        memcpy(array_elem_addr(h, r, 0), seg.bytes + s, <size_t>n * esize)
                else:
                    seg = &inst.elems[code[pc + 5]]
                    if <uint64_t>s + n > seg.n:
                        trap("out of bounds table access")
                    r = self.new_array(t, n)
                    for i in range(n):
                        self.put_elem(r, i, code_, gc, seg.refs[s + i])
                ppc[0] = pc + 6
            else:
                if op == 0x106:
                    sp -= 2
                    v = sp[0]
                    n = <uint32_t>sp[1]
                else:
                    sp -= 1
                    v = 0
                    n = <uint32_t>sp[0]
                r = self.new_array(t, n)
                if v != 0:
                    for i in range(n):
                        self.put_elem(r, i, code_, gc, v)
                ppc[0] = pc + 5
            sp[0] = h.expose_raw(r)
            return sp + 1
        if 0x10B <= op <= 0x10D:                              # array.get(_s/_u)
            sp -= 1
            r = <uint32_t>sp[-1]
            i = <uint32_t>sp[0]
            if r == 0:
                trap("null array reference")
            if i >= array_length(h, r):
                trap("out of bounds array access")
            p = array_elem_addr(h, r, i)
            if code[pc + 2] == 1:
                v = (<uint32_t*>p)[0]
                inc(h, <uint32_t>v)
                sp[-1] = h.expose_raw(<uint32_t>v)
            elif code[pc + 2] == 2:
                sp[-1] = load_funcref(h, r, self.elem_offset(r, i))
            else:
                sp[-1] = read_storage(p, <uint32_t>code[pc + 1], op == 0x10C)
            ppc[0] = pc + 3
            return sp
        if op == 0x10E:                                       # array.set
            sp -= 3
            r = <uint32_t>sp[0]
            i = <uint32_t>sp[1]
            if r == 0:
                trap("null array reference")
            if i >= array_length(h, r):
                trap("out of bounds array access")
            self.put_elem(r, i, <uint32_t>code[pc + 1], <uint32_t>code[pc + 2], sp[2])
            ppc[0] = pc + 3
            return sp
        if op == 0x10F:                                       # array.len
            r = <uint32_t>sp[-1]
            if r == 0:
                trap("null array reference")
            sp[-1] = array_length(h, r)
            ppc[0] = pc + 1
            return sp
        if op == 0x110:                                       # array.fill
            sp -= 4
            r = <uint32_t>sp[0]
            d = <uint32_t>sp[1]
            v = sp[2]
            n = <uint32_t>sp[3]
            if r == 0:
                trap("null array reference")
            if <uint64_t>d + n > array_length(h, r):
                trap("out of bounds array access")
            for i in range(n):
                self.put_elem(r, d + i, <uint32_t>code[pc + 1], <uint32_t>code[pc + 2], v)
            ppc[0] = pc + 3
            return sp
        if op == 0x111:                                       # array.copy
            sp -= 5
            r = <uint32_t>sp[0]
            d = <uint32_t>sp[1]
            r2 = <uint32_t>sp[2]
            s = <uint32_t>sp[3]
            n = <uint32_t>sp[4]
            if r == 0 or r2 == 0:
                trap("null array reference")
            if <uint64_t>d + n > array_length(h, r) or <uint64_t>s + n > array_length(h, r2):
                trap("out of bounds array access")
            if n == 0:
                ppc[0] = pc + 3
                return sp
            code_ = <uint32_t>code[pc + 1]
            gc = <uint32_t>code[pc + 2]
            if code_ != STORAGE_REF or gc != 1:
                esize = storage_size(code_)
                memmove(array_elem_addr(h, r, d), array_elem_addr(h, r2, s),
                        <size_t>n * esize)
            elif r == r2 and d > s:
                i = n
                while i > 0:
                    i -= 1
                    store_ref(h, r, self.elem_offset(r, d + i),
                              (<uint32_t*>array_elem_addr(h, r2, s + i))[0])
            else:
                for i in range(n):
                    store_ref(h, r, self.elem_offset(r, d + i),
                              (<uint32_t*>array_elem_addr(h, r2, s + i))[0])
            ppc[0] = pc + 3
            return sp
        if op == 0x112 or op == 0x113:                        # array.init_data / _elem
            sp -= 4
            r = <uint32_t>sp[0]
            d = <uint32_t>sp[1]
            s = <uint32_t>sp[2]
            n = <uint32_t>sp[3]
            code_ = <uint32_t>code[pc + 1]
            gc = <uint32_t>code[pc + 2]
            if r == 0:
                trap("null array reference")
            if <uint64_t>d + n > array_length(h, r):
                trap("out of bounds array access")
            if op == 0x112:
                seg = &inst.datas[code[pc + 3]]
                esize = storage_size(code_)
                if <uint64_t>s + <uint64_t>n * esize > seg.n:
                    trap("out of bounds memory access")
                if n:
                    memcpy(array_elem_addr(h, r, d), seg.bytes + s, <size_t>n * esize)
            else:
                seg = &inst.elems[code[pc + 3]]
                if <uint64_t>s + n > seg.n:
                    trap("out of bounds table access")
                for i in range(n):
                    self.put_elem(r, d + i, code_, gc, seg.refs[s + i])
            ppc[0] = pc + 4
            return sp
        if 0x114 <= op <= 0x117:                              # ref.test / ref.cast
            r = <uint32_t>sp[-1]
            t = <uint32_t>code[pc + 1]
            if op <= 0x115:
                sp[-1] = 1 if self.matches(r, t, op == 0x115) else 0
            elif not self.matches(r, t, op == 0x117):
                trap("cast failure")
            ppc[0] = pc + 2
            return sp
        if op == 0x118 or op == 0x119:                        # br_on_cast(_fail)
            r = <uint32_t>sp[-1]
            if self.matches(r, <uint32_t>code[pc + 1], <bint>code[pc + 2]) == (op == 0x118):
                n = <uint32_t>code[pc + 5]
                memmove(frame.fp + code[pc + 4], sp - n, n * 8)
                sp = frame.fp + code[pc + 4] + n
                ppc[0] = code[pc + 3]
            else:
                ppc[0] = pc + 6
            return sp
        if op == 0x11A or op == 0x11B:                        # any/extern conversions
            ppc[0] = pc + 1
            return sp
        if op == 0x11C:                                       # ref.i31
            sp[-1] = ((<uint32_t>sp[-1]) << 1) | I31_TAG
            ppc[0] = pc + 1
            return sp
        if op == 0x11D or op == 0x11E:                        # i31.get_s / _u
            r = <uint32_t>sp[-1]
            if r == 0:
                trap("null i31 reference")
            if op == 0x11D:
                sp[-1] = <uint32_t>((<int32_t>r) >> 1)
            else:
                sp[-1] = r >> 1
            ppc[0] = pc + 1
            return sp
        raise RuntimeError(f"wasmgc: bad internal GC opcode {op:#x}")

    cdef gcref_t new_array(self, uint32_t t, uint32_t n) except 0:
        cdef const TypeInfo* ti = self.heap.type_record(t)
        if <uint64_t>ti.size + <uint64_t>n * ti.elem_size > 0xFFFF0000ULL:
            trap("allocation too large")
        try:
            return self.heap.alloc_array(t, n)
        except (MemoryError, OutOfHeapError):
            trap("allocation too large")

    cdef uint32_t elem_offset(self, gcref_t arr, uint32_t i) noexcept:
        return <uint32_t>(array_elem_addr(self.heap, arr, i) - (self.heap.base + arr))

    cdef int put_elem(self, gcref_t arr, uint32_t i, uint32_t code_, uint32_t gc,
                      uint64_t v) except -1:
        if gc == 1:
            store_ref(self.heap, arr, self.elem_offset(arr, i), <uint32_t>v)
        elif gc == 2:
            store_funcref(self.heap, arr, self.elem_offset(arr, i), <uint32_t>v)
        else:
            write_storage(array_elem_addr(self.heap, arr, i), code_, v)
        return 0

    cdef uint64_t* misc_op(self, uint32_t op, uint64_t* code, size_t* ppc, uint64_t* sp,
                           Inst* inst) except NULL:
        cdef Heap h = self.heap
        cdef size_t pc = ppc[0]
        cdef uint32_t d, s, n, i, r, v
        cdef Memory* mem = inst.mem
        cdef Segment* seg
        cdef Table* tab
        cdef Table* tab2
        if op == 0x208:                                       # memory.init
            sp -= 3
            d = <uint32_t>sp[0]
            s = <uint32_t>sp[1]
            n = <uint32_t>sp[2]
            seg = &inst.datas[code[pc + 1]]
            if <uint64_t>s + n > seg.n or <uint64_t>d + n > mem.size:
                trap("out of bounds memory access")
            memcpy(mem.data + d, seg.bytes + s, n)
            ppc[0] = pc + 2
        elif op == 0x209:                                     # data.drop
            inst.datas[code[pc + 1]].n = 0
            ppc[0] = pc + 2
        elif op == 0x20A:                                     # memory.copy
            sp -= 3
            d = <uint32_t>sp[0]
            s = <uint32_t>sp[1]
            n = <uint32_t>sp[2]
            if <uint64_t>s + n > mem.size or <uint64_t>d + n > mem.size:
                trap("out of bounds memory access")
            memmove(mem.data + d, mem.data + s, n)
            ppc[0] = pc + 1
        elif op == 0x20B:                                     # memory.fill
            sp -= 3
            d = <uint32_t>sp[0]
            v = <uint32_t>sp[1]
            n = <uint32_t>sp[2]
            if <uint64_t>d + n > mem.size:
                trap("out of bounds memory access")
            memset(mem.data + d, <uint8_t>v, n)
            ppc[0] = pc + 1
        elif op == 0x20C:                                     # table.init
            sp -= 3
            self.do_table_init(inst, <uint32_t>code[pc + 2], <uint32_t>code[pc + 1],
                               <uint32_t>sp[0], <uint32_t>sp[1], <uint32_t>sp[2])
            ppc[0] = pc + 3
        elif op == 0x20D:                                     # elem.drop
            self.elem_drop(&inst.elems[code[pc + 1]])
            ppc[0] = pc + 2
        elif op == 0x20E:                                     # table.copy
            sp -= 3
            tab = inst.tables[code[pc + 1]]
            tab2 = inst.tables[code[pc + 2]]
            d = <uint32_t>sp[0]
            s = <uint32_t>sp[1]
            n = <uint32_t>sp[2]
            if <uint64_t>s + n > tab2.size or <uint64_t>d + n > tab.size:
                trap("out of bounds table access")
            if tab.counted:
                for i in range(n):
                    inc(h, tab2.elems[s + i])
                for i in range(n):
                    dec(h, tab.elems[d + i])
            memmove(tab.elems + d, tab2.elems + s, <size_t>n * 4)
            ppc[0] = pc + 3
        elif op == 0x20F:                                     # table.grow
            tab = inst.tables[code[pc + 1]]
            sp -= 1
            n = <uint32_t>sp[0]
            r = <uint32_t>sp[-1]
            sp[-1] = self.table_grow(tab, n, r)
            ppc[0] = pc + 2
        elif op == 0x210:                                     # table.size
            sp[0] = inst.tables[code[pc + 1]].size
            sp += 1
            ppc[0] = pc + 2
        elif op == 0x211:                                     # table.fill
            sp -= 3
            tab = inst.tables[code[pc + 1]]
            d = <uint32_t>sp[0]
            r = <uint32_t>sp[1]
            n = <uint32_t>sp[2]
            if <uint64_t>d + n > tab.size:
                trap("out of bounds table access")
            for i in range(n):
                if tab.counted:
                    inc(h, r)
                    dec(h, tab.elems[d + i])
                tab.elems[d + i] = r
            ppc[0] = pc + 2
        else:
            raise RuntimeError(f"wasmgc: bad internal opcode {op:#x}")
        return sp

    cdef uint32_t table_grow(self, Table* tab, uint32_t n, uint32_t init) except? 0xFFFFFFFEULL:
        cdef uint64_t new = <uint64_t>tab.size + n
        cdef uint32_t old = tab.size, i
        cdef uint32_t* grown
        if new > tab.max or new > 10000000:
            return 0xFFFFFFFFULL
        if n == 0:
            return old
        grown = <uint32_t*>realloc(tab.elems, new * 4)
        if grown == NULL:
            return 0xFFFFFFFFULL
        self.owned.remove(<size_t>tab.elems)
        self.owned.append(<size_t>grown)
        tab.elems = grown
        for i in range(old, <uint32_t>new):
            grown[i] = init
            if tab.counted:
                inc(self.heap, init)
        tab.size = <uint32_t>new
        return old


cdef uint8_t[23] _ACCESS_SIZE
_ACCESS_SIZE[:] = [4, 8, 4, 8, 1, 1, 2, 2, 1, 1, 2, 2, 4, 4, 4, 8, 4, 8, 1, 2, 1, 2, 4]
