"""Translate function bodies into wasmgc's internal code, once, at module load.

The internal form is a flat list of integers: an opcode (the Wasm encoding; 0xFB-prefixed
instructions are 0x100 + sub-opcode, 0xFC-prefixed 0x200 + sub-opcode) followed by its
immediates, already resolved: branch targets are code positions with the operand-stack height
and arity to keep, field accesses are byte offsets with a storage code, type immediates are
engine type indices. Blocks and `end` vanish.

While translating, the compiler tracks the kind of every operand-stack slot ('i' i32, 'I' i64,
'f' f32, 'F' f64, 'v' v128, 'r' a GC ref of the any/extern hierarchy, 'p' a funcref, None in
unreachable code) and, beside it, the slot's precise type. The kinds are what the interpreter's
precise roots need: each safepoint (a call or an allocation) carries the index of a stack map
listing the frame slots that hold GC refs there. The types validate the body: operands are
checked against what each instruction expects, refs by subtyping through the registry.
"""

from __future__ import annotations

import struct

from registry import (
    ANY,
    ARRAY,
    EQ,
    EXN,
    EXTERN,
    FUNC,
    I31,
    I32,
    NOEXN,
    ArrayType,
    FuncType,
    RefType,
    StructType,
)
from wasmgc.binary import NUMERIC, DecodeError, Reader


class InvalidModule(ValueError):
    """The module breaks a validation rule the compiler checks."""


class Unsupported(ValueError):
    """The module uses a proposal wasmgc does not implement."""


GC = 0x100
MISC = 0x200
STORAGE_REF = 8

# ---- immediates -----------------------------------------------------------------------

_U32 = {0x0C, 0x0D, 0xD5, 0xD6, 0x10, 0x12, 0xD2, 0x14, 0x15, 0x20, 0x21, 0x22, 0x23, 0x24,
        0x25, 0x26, 0x3F, 0x40}
_UNSUPPORTED = {0x06: "try", 0x07: "catch", 0x08: "throw", 0x09: "rethrow", 0x0A: "throw_ref",
                0x18: "delegate", 0x19: "catch_all", 0x1F: "try_table"}


def read_block_type(r: Reader):
    b = r.data[r.pos] if r.pos < r.end else None
    if b == 0x40:
        r.pos += 1
        return None
    if b is not None and (b in NUMERIC or b in (0x63, 0x64) or 0x69 <= b <= 0x74):
        return r.val_type()
    at = r.pos
    v = r.s33()
    if v < 0:
        raise r.fail("malformed block type", at)
    return v


def read_instr(r: Reader):
    """Read one instruction: (internal opcode, immediates)."""
    at = r.pos
    op = r.byte()
    if op in _U32:
        return op, (r.u32(),)
    if 0x28 <= op <= 0x3E:
        flags = r.u32()
        mem = r.u32() if flags & 0x40 else 0
        return op, (r.u32(), mem)
    if op == 0x41:
        return op, (r.s32(),)
    if op == 0x42:
        return op, (r.s64(),)
    if op == 0x43:
        return op, (struct.unpack("<I", r.bytes(4))[0],)
    if op == 0x44:
        return op, (struct.unpack("<Q", r.bytes(8))[0],)
    if op in (0x02, 0x03, 0x04):
        return op, (read_block_type(r),)
    if op == 0x0E:
        n = r.vec("br_table label")
        labels = [r.u32() for _ in range(n)]
        return op, (labels, r.u32())
    if op in (0x11, 0x13):
        return op, (r.u32(), r.u32())
    if op == 0x1C:
        return op, (tuple(r.val_type() for _ in range(r.vec("select type"))),)
    if op == 0xD0:
        return op, (r.heap_type(),)
    if op == 0xFB:
        sub = r.u32()
        o = GC + sub
        if sub in (0, 1, 6, 7, 11, 12, 13, 14, 16):
            return o, (r.u32(),)
        if sub in (2, 3, 4, 5, 8, 9, 10, 17, 18, 19):
            return o, (r.u32(), r.u32())
        if sub in (20, 21, 22, 23):
            return o, (r.heap_type(),)
        if sub in (24, 25):
            flags = r.byte()
            if flags > 3:
                raise r.fail(f"malformed br_on_cast flags 0x{flags:02X}")
            return o, (flags, r.u32(), r.heap_type(), r.heap_type())
        if sub in (15, 26, 27, 28, 29, 30):
            return o, ()
        raise r.fail(f"illegal opcode 0xFB {sub}", at)
    if op == 0xFC:
        sub = r.u32()
        o = MISC + sub
        if sub <= 7:
            return o, ()
        if sub in (8, 10, 12, 14):
            return o, (r.u32(), r.u32())
        if sub in (9, 11, 13, 15, 16, 17):
            return o, (r.u32(),)
        raise r.fail(f"illegal opcode 0xFC {sub}", at)
    if op == 0xFD:
        raise Unsupported(f"at byte offset {at}: SIMD instructions are not supported")
    if op == 0xFE:
        raise Unsupported(f"at byte offset {at}: atomic instructions (threads) are not "
                          "supported")
    if op in _UNSUPPORTED:
        raise Unsupported(f"at byte offset {at}: {_UNSUPPORTED[op]} (exception handling) is "
                          "not supported")
    if op in SIMPLE or op in (0x00, 0x01, 0x05, 0x0B, 0x0F, 0x1A, 0x1B, 0xD1, 0xD3, 0xD4):
        return op, ()
    raise r.fail(f"illegal opcode 0x{op:02X}", at)


# ---- stack effects of the plain instructions ----------------------------------------------

SIMPLE: dict[int, tuple[str, str]] = {}


def _fill(lo, hi, pops, pushes):
    for o in range(lo, hi + 1):
        SIMPLE[o] = (pops, pushes)


_fill(0x45, 0x45, "i", "i")
_fill(0x46, 0x4F, "ii", "i")
_fill(0x50, 0x50, "I", "i")
_fill(0x51, 0x5A, "II", "i")
_fill(0x5B, 0x60, "ff", "i")
_fill(0x61, 0x66, "FF", "i")
_fill(0x67, 0x69, "i", "i")
_fill(0x6A, 0x78, "ii", "i")
_fill(0x79, 0x7B, "I", "I")
_fill(0x7C, 0x8A, "II", "I")
_fill(0x8B, 0x91, "f", "f")
_fill(0x92, 0x98, "ff", "f")
_fill(0x99, 0x9F, "F", "F")
_fill(0xA0, 0xA6, "FF", "F")
for _o, _e in zip(range(0xA7, 0xC5), [
        "Ii", "fi", "fi", "Fi", "Fi", "iI", "iI", "fI", "fI", "FI", "FI", "if", "if", "If",
        "If", "Ff", "iF", "iF", "IF", "IF", "fF", "fi", "FI", "if", "IF", "ii", "ii", "II",
        "II", "II"], strict=True):
    SIMPLE[_o] = (_e[0], _e[1])
for _o, _e in zip(range(MISC, MISC + 8), ["fi", "fi", "Fi", "Fi", "fI", "fI", "FI", "FI"],
                  strict=True):
    SIMPLE[_o] = (_e[0], _e[1])
LOADS = dict(zip(range(0x28, 0x36), "iIfFiiiiIIIIII", strict=True))
STORES = dict(zip(range(0x36, 0x3F), "iIfFiiIII", strict=True))


def kind_of(t, types) -> str:
    """The slot kind of a value type (module-level type indices)."""
    if isinstance(t, RefType):
        h = t.heap
        if isinstance(h, int):
            if h >= len(types):
                raise InvalidModule(f"unknown type {h}")
            return "p" if isinstance(types[h].composite, FuncType) else "r"
        if h.top is FUNC:
            return "p"
        if h.top is EXN or h is NOEXN:
            raise Unsupported("exnref (exception handling) is not supported")
        return "r"
    return {0x7F: "i", 0x7E: "I", 0x7D: "f", 0x7C: "F", 0x7B: "v"}[_numeric_code(t)]


def _numeric_code(t) -> int:
    for code, st in NUMERIC.items():
        if st is t:
            return code
    raise InvalidModule(f"{t!r} is not a value type")


class Context:
    """What function bodies may refer to: the module's index spaces, resolved."""

    def __init__(self, module, engine, layouts, registry=None):
        self.m = module
        self.registry = registry            # for operand subtyping; None: kinds only
        self.types = module.types
        self.engine = engine                  # module type index -> engine type index
        self.layouts = layouts                # engine type index -> registry layout
        self.func_types = [i.desc for i in module.imports if i.kind == "func"] + module.funcs
        self.globals = ([i.desc for i in module.imports if i.kind == "global"]
                        + [(g.type, g.mutable) for g in module.globals])
        self.tables = ([i.desc.ref for i in module.imports if i.kind == "table"]
                       + [t.ref for t in module.tables])
        self.nmem = len(module.imported("memory")) + len(module.memories)
        self.elems = [e.ref for e in module.elems]
        self.ndata = len(module.datas) if module.data_count is None else module.data_count
        for t in self.func_types:
            self.func_type(t)
        # engine index -> slot kind, for operand types that carry engine indices
        self.engine_kinds = {engine[i]: ("p" if isinstance(st.composite, FuncType) else "r")
                             for i, st in enumerate(self.types)}

    def type(self, t):
        if not isinstance(t, int) or t >= len(self.types):
            raise InvalidModule(f"unknown type {t}")
        return self.types[t].composite

    def func_type(self, t) -> FuncType:
        c = self.type(t)
        if not isinstance(c, FuncType):
            raise InvalidModule(f"type {t} is not a function type")
        return c

    def struct_type(self, t) -> StructType:
        c = self.type(t)
        if not isinstance(c, StructType):
            raise InvalidModule(f"type {t} is not a struct type")
        return c

    def array_type(self, t) -> ArrayType:
        c = self.type(t)
        if not isinstance(c, ArrayType):
            raise InvalidModule(f"type {t} is not an array type")
        return c

    def kind(self, vt) -> str:
        return kind_of(vt, self.types)

    def resolve(self, vt):
        """An operand type: module type indices become engine indices, i8/i16 become i32."""
        if isinstance(vt, RefType):
            if isinstance(vt.heap, int):
                self.type(vt.heap)
                return RefType(self.engine[vt.heap], vt.nullable)
            return vt
        if vt.code in (1, 2):
            return I32
        return vt

    def resolves(self, vts):
        return [self.resolve(t) for t in vts]

    def ref(self, h, nullable):
        """The operand type (ref null? h) of a heap-type immediate."""
        return RefType(self.engine[h] if isinstance(h, int) else h, nullable)

    def top(self, h):
        """The top type of heap type h's hierarchy (any, extern or func)."""
        if isinstance(h, int):
            return FUNC if isinstance(self.type(h), FuncType) else ANY
        return h.top

    def matches(self, a, b) -> bool:
        """Does operand type a match b? Unknown (None) matches everything."""
        if a is None or b is None or self.registry is None:
            return True
        if isinstance(a, RefType) and isinstance(b, RefType):
            return self.registry.ref_matches(a, b)
        return a is b

    def kinds(self, vts) -> list[str]:
        return [kind_of(t, self.types) for t in vts]

    def heap(self, h) -> int:
        """The heap type as an engine index or an abstract HEAP_* code."""
        if isinstance(h, int):
            self.type(h)
            return self.engine[h]
        return h.code

    def heap_kind(self, h) -> str:
        return kind_of(RefType(h), self.types)

    def storage_kind(self, st) -> str:
        code = st.code if not isinstance(st, RefType) else STORAGE_REF
        if code in (1, 2):
            return "i"
        return self.kind(st)

    def func(self, f):
        if f >= len(self.func_types):
            raise InvalidModule(f"unknown function {f}")
        return self.func_type(self.func_types[f])

    def table(self, t):
        if t >= len(self.tables):
            raise InvalidModule(f"unknown table {t}")
        return self.tables[t]

    def memory(self, mem):
        if mem >= self.nmem:
            raise InvalidModule(f"unknown memory {mem}")
        if mem != 0:
            raise Unsupported("multiple memories are not supported")

    def data(self, d):
        if self.m.data_count is None:
            raise InvalidModule("data count section required")
        if d >= self.ndata:
            raise InvalidModule(f"unknown data segment {d}")

    def elem(self, e):
        if e >= len(self.elems):
            raise InvalidModule(f"unknown elem segment {e}")
        return self.elems[e]


class _Ctl:
    __slots__ = ("op", "height", "params", "results", "start", "fixups", "else_fix",
                 "unreachable")

    def __init__(self, op, height, params, results, start):
        self.op = op
        self.height = height          # frame-relative stack height below the block's params
        self.params = params
        self.results = results
        self.start = start            # loop: the code position branches go back to
        self.fixups = []              # code positions waiting for the end's position
        self.else_fix = None
        self.unreachable = False

    def label(self):
        return self.params if self.op == 0x03 else self.results


class CompiledFunction:
    __slots__ = ("code", "nparams", "nresults", "nlocals", "max_height", "maps", "type_index",
                 "local_kinds", "result_kinds", "param_kinds")

    def __init__(self):
        self.code = []
        self.maps = []


class _Compiler:
    def __init__(self, ctx: Context, params, results, local_types, reader: Reader,
                 const: bool = False):
        self.ctx = ctx
        self.r = reader
        self.const = const
        self.out = CompiledFunction()
        self.local_kinds = ctx.kinds(params) + ctx.kinds(local_types)
        self.local_types = ctx.resolves(params) + ctx.resolves(local_types)
        self.nlocals = len(self.local_kinds)
        self.stack: list[str | None] = []
        self.types: list = []               # the precise operand types, parallel to stack
        self.max = 0
        self.result_types = ctx.resolves(results)
        self.ctl = [_Ctl(0x02, self.nlocals, [], self.result_types, 0)]
        self.map_ids: dict[tuple, int] = {}
        self.result_kinds = ctx.kinds(results)
        self.last = None                    # the type of the operand popped last

    # -- helpers --
    def fail(self, msg, at):
        return InvalidModule(f"at byte offset {at}: {msg}")

    def height(self):
        return self.nlocals + len(self.stack)

    def push(self, k, t=None):
        """Push a slot of kind k (a kind letter, or a value type, which is then precise)."""
        if k is not None and not isinstance(k, str):
            t = k
            k = self.kind(k)
        self.stack.append(k)
        self.types.append(t)
        h = self.height()
        if h > self.max:
            self.max = h

    def kind(self, t):
        """The kind of an operand type (engine indices)."""
        if isinstance(t, RefType) and isinstance(t.heap, int):
            return self.ctx.engine_kinds[t.heap]
        return self.ctx.kind(t)

    def pop(self, want=None):
        """Pop one operand; `want` is a kind letter, a value type (checked by subtyping when
        the operand's type is known), or None."""
        wt = None
        if want is not None and not isinstance(want, str):
            wt = want
            want = self.kind(want)
        c = self.ctl[-1]
        if self.height() <= c.height:
            if c.unreachable:
                self.last = None
                return None
            raise self.fail("type mismatch: operand stack underflow", self.at)
        k = self.stack.pop()
        t = self.last = self.types.pop()
        if want is not None and k is not None and k != want:
            raise self.fail(f"type mismatch: expected {_NAMES[want]}, found {_NAMES[k]}",
                            self.at)
        if not self.ctx.matches(t, wt):
            raise self.fail(f"type mismatch: expected {wt}, found {t}", self.at)
        return k

    def truncate(self, height):
        del self.stack[height - self.nlocals:]
        del self.types[height - self.nlocals:]

    def pops(self, kinds):
        for k in reversed(kinds):
            self.pop(k)

    def emit(self, *xs):
        self.out.code.extend(xs)

    def unreachable(self):
        c = self.ctl[-1]
        self.truncate(c.height)
        c.unreachable = True

    def safepoint(self, hidden=0):
        """The stack map for a safepoint: locals and operand slots holding GC refs, leaving
        out the top `hidden` operands (a call's arguments: the callee reports them)."""
        slots = [i for i, k in enumerate(self.local_kinds) if k == "r"]
        n = len(self.stack) - hidden
        slots += [self.nlocals + i for i in range(max(n, 0)) if self.stack[i] == "r"]
        key = tuple(slots)
        mid = self.map_ids.get(key)
        if mid is None:
            mid = self.map_ids[key] = len(self.out.maps)
            self.out.maps.append(key)
        return mid

    def label(self, depth):
        if depth >= len(self.ctl):
            raise self.fail(f"unknown label {depth}", self.at)
        return self.ctl[-1 - depth]

    def branch_imms(self, c):
        """(target, height, arity) for a branch to c; the target may be patched later."""
        arity = len(c.label())
        if c.op == 0x03:
            self.emit(c.start, c.height, arity)
        else:
            c.fixups.append(len(self.out.code))
            self.emit(0, c.height, arity)

    def check_label_operands(self, c):
        """Check the operands a branch to c passes; as the spec types br_if and br_on_*,
        those that stay on the stack afterwards have the label's types."""
        saved = list(self.stack), list(self.types)
        lab = c.label()
        self.pops(lab)
        self.stack[:], self.types[:] = saved
        n = len(lab)
        if n and self.height() - n >= self.ctl[-1].height:
            self.types[len(self.types) - n:] = lab

    def block_sig(self, bt):
        if bt is None:
            return [], []
        if isinstance(bt, int):
            ft = self.ctx.func_type(bt)
            return self.ctx.resolves(ft.params), self.ctx.resolves(ft.results)
        return [], [self.ctx.resolve(bt)]

    # -- the loop --
    def run(self):
        r = self.r
        ctx = self.ctx
        while True:
            self.at = r.pos
            op, imm = read_instr(r)
            if self.const and op not in _CONST_OPS:
                raise self.fail("constant expression required", self.at)
            if op in SIMPLE:
                pops, pushes = SIMPLE[op]
                self.pops(pops)
                self.emit(op)
                self.push(pushes)
            elif op == 0x0B:
                c = self.ctl[-1]
                self.pops(c.results)
                if self.height() != c.height:
                    raise self.fail("type mismatch: values remain on the stack at the end of "
                                    "a block", self.at)
                if c.op == 0x04 and c.else_fix is not None and c.params != c.results:
                    raise self.fail("type mismatch: if without else must leave its params",
                                    self.at)
                self.ctl.pop()
                pos = len(self.out.code)
                if c.else_fix is not None:
                    self.out.code[c.else_fix] = pos
                for f in c.fixups:
                    self.out.code[f] = pos
                self.truncate(c.height)
                for k in c.results:
                    self.push(k)
                if not self.ctl:
                    self.emit(0x0F)
                    if r.pos != r.end and not self.const:
                        raise self.fail("section size mismatch: bytes after the function's "
                                        "end", r.pos)
                    return
            elif op in (0x02, 0x03, 0x04):
                params, results = self.block_sig(imm[0])
                if op == 0x04:
                    self.pop("i")
                self.pops(params)
                c = _Ctl(op, self.height(), params, results, len(self.out.code))
                if op == 0x04:
                    self.emit(0x04, 0)
                    c.else_fix = len(self.out.code) - 1
                self.ctl.append(c)
                for k in params:
                    self.push(k)
            elif op == 0x05:
                c = self.ctl[-1]
                if c.op != 0x04 or c.else_fix is None:
                    raise self.fail("else without if", self.at)
                self.pops(c.results)
                if self.height() != c.height:
                    raise self.fail("type mismatch: values remain on the stack before else",
                                    self.at)
                self.emit(0x05, 0)
                c.fixups.append(len(self.out.code) - 1)
                self.out.code[c.else_fix] = len(self.out.code)
                c.else_fix = None
                c.op = 0x02
                c.unreachable = False
                for k in c.params:
                    self.push(k)
            elif op == 0x00:
                self.emit(0x00)
                self.unreachable()
            elif op == 0x01:
                pass
            elif op == 0x0C:
                c = self.label(imm[0])
                self.pops(c.label())
                self.emit(0x0C)
                self.branch_imms(c)
                self.unreachable()
            elif op == 0x0D:
                self.pop("i")
                c = self.label(imm[0])
                self.check_label_operands(c)
                self.emit(0x0D)
                self.branch_imms(c)
            elif op == 0x0E:
                self.pop("i")
                labels, default = imm
                cd = self.label(default)
                arity = len(cd.label())
                self.emit(0x0E, len(labels))
                for lab in list(labels) + [default]:
                    c = self.label(lab)
                    if len(c.label()) != arity:
                        raise self.fail("type mismatch: br_table targets differ in arity",
                                        self.at)
                    self.check_label_operands(c)
                    self.branch_imms(c)
                self.unreachable()
            elif op == 0x0F:
                self.pops(self.result_types)
                self.emit(0x0F)
                self.unreachable()
            elif op in (0x10, 0x12):
                ft = ctx.func(imm[0])
                self.call(op, ft, (imm[0],))
            elif op in (0x11, 0x13):
                ft = ctx.func_type(imm[0])
                tt = ctx.table(imm[1])
                if ctx.heap_kind(tt.heap) != "p":
                    raise self.fail("type mismatch: call_indirect needs a funcref table",
                                    self.at)
                self.pop("i")
                self.call(op, ft, (ctx.engine[imm[0]], imm[1]))
            elif op in (0x14, 0x15):
                ft = ctx.func_type(imm[0])
                self.pop(ctx.ref(imm[0], True))
                self.call(op, ft, (ctx.engine[imm[0]],))
            elif op == 0x1A:
                self.pop()
                self.emit(0x1A)
            elif op in (0x1B, 0x1C):
                self.pop("i")
                if op == 0x1C:
                    if len(imm[0]) != 1:
                        raise self.fail("invalid result arity for select", self.at)
                    k = ctx.resolve(imm[0][0])
                    self.pop(k)
                    self.pop(k)
                else:
                    a = self.pop()
                    b = self.pop(a)
                    k = a or b
                    if k in ("r", "p"):
                        raise self.fail("type mismatch: select without a type on refs",
                                        self.at)
                self.emit(0x1B)
                self.push(k)
            elif op == 0x20:
                self.emit(0x20, self.local(imm[0]))
                self.push(self.local_types[imm[0]])
            elif op in (0x21, 0x22):
                self.pop(self.local_types[self.local(imm[0])])
                self.emit(op, imm[0])
                if op == 0x22:
                    self.push(self.local_types[imm[0]])
            elif op == 0x23:
                t, _ = self.glob(imm[0])
                k = ctx.kind(t)
                self.emit(0x23, imm[0], 1 if k == "r" else 0)
                self.push(ctx.resolve(t))
            elif op == 0x24:
                t, mut = self.glob(imm[0])
                if not mut:
                    raise self.fail("global is immutable", self.at)
                k = ctx.kind(t)
                self.pop(ctx.resolve(t))
                self.emit(0x24, imm[0], 1 if k == "r" else 0)
            elif op in (0x25, 0x26):
                tt = ctx.table(imm[0])
                k = ctx.resolve(tt)
                if op == 0x25:
                    self.pop("i")
                    self.emit(0x25, imm[0])
                    self.push(k)
                else:
                    self.pop(k)
                    self.pop("i")
                    self.emit(0x26, imm[0])
            elif op in LOADS:
                ctx.memory(imm[1])
                self.pop("i")
                self.emit(op, imm[0])
                self.push(LOADS[op])
            elif op in STORES:
                ctx.memory(imm[1])
                self.pop(STORES[op])
                self.pop("i")
                self.emit(op, imm[0])
            elif op == 0x3F:
                ctx.memory(imm[0])
                self.emit(op)
                self.push("i")
            elif op == 0x40:
                ctx.memory(imm[0])
                self.pop("i")
                self.emit(op)
                self.push("i")
            elif op in (0x41, 0x42, 0x43, 0x44):
                self.emit(op, imm[0] & 0xFFFFFFFFFFFFFFFF)
                self.push("iIfF"[op - 0x41])
            elif op == 0xD0:
                ctx.heap(imm[0])
                self.emit(0xD0)
                self.push(ctx.ref(imm[0], True))
            elif op == 0xD1:
                self.pop_ref()
                self.emit(0xD1)
                self.push("i")
            elif op == 0xD2:
                ctx.func(imm[0])
                self.emit(0xD2, imm[0])
                self.push(RefType(ctx.engine[ctx.func_types[imm[0]]], False))
            elif op == 0xD3:
                self.pop(RefType(EQ))
                self.pop(RefType(EQ))
                self.emit(0xD3)
                self.push("i")
            elif op == 0xD4:
                k = self.pop_ref()
                self.emit(0xD4)
                self.push(k, _non_null(self.last))
            elif op in (0xD5, 0xD6):
                k = self.pop_ref()
                c = self.label(imm[0])
                t = _non_null(self.last)
                if op == 0xD5:
                    self.check_label_operands(c)
                    self.emit(0xD5)
                    self.branch_imms(c)
                    self.push(k, t)
                else:
                    self.push(k, t)
                    self.check_label_operands(c)
                    self.emit(0xD6)
                    self.branch_imms(c)
                    self.pop()
            elif op >= MISC:
                self.misc(op - MISC, imm)
            elif op >= GC:
                self.gc(op - GC, imm)
            else:
                raise self.fail(f"illegal opcode 0x{op:02X}", self.at)

    def pop_ref(self):
        k = self.pop()
        if k is not None and k not in ("r", "p"):
            raise self.fail(f"type mismatch: expected a reference, found {_NAMES[k]}", self.at)
        return k

    def local(self, i):
        if i >= self.nlocals:
            raise self.fail(f"unknown local {i}", self.at)
        return i

    def glob(self, i):
        if i >= len(self.ctx.globals):
            raise self.fail(f"unknown global {i}", self.at)
        return self.ctx.globals[i]

    def call(self, op, ft, imms):
        params = self.ctx.resolves(ft.params)
        results = self.ctx.resolves(ft.results)
        self.pops(params)
        tail = op in (0x12, 0x13, 0x15)
        # The arguments are already popped from the tracked stack: the map is the caller's.
        mid = self.safepoint()
        self.emit(op, *imms, mid)
        if tail:
            if len(results) != len(self.result_types) or not all(
                    self.ctx.matches(a, b) for a, b in zip(results, self.result_types,
                                                           strict=True)):
                raise self.fail("type mismatch: tail call results differ from the caller's",
                                self.at)
            self.unreachable()
        else:
            for k in results:
                self.push(k)

    def field(self, t, i):
        st = self.ctx.struct_type(t)
        if i >= len(st.fields):
            raise self.fail(f"unknown field {i}", self.at)
        ft = st.fields[i]
        lay = self.ctx.layouts[self.ctx.engine[t]].fields[i]
        code = STORAGE_REF if isinstance(ft.storage, RefType) else ft.storage.code
        return ft, lay.offset, code, self.slot_kind(ft.storage, lay.is_gc_ref)

    def slot_kind(self, storage, is_gc_ref):
        """How a field is accessed: 1 a counted GC ref (barriers), 2 a funcref (the heap's
        function-table id, a plain u32), 0 plain data (i31-typed refs included)."""
        if is_gc_ref:
            return 1
        if isinstance(storage, RefType) and self.ctx.kind(storage) == "p":
            return 2
        return 0

    def elem_info(self, t):
        at = self.ctx.array_type(t)
        e = at.element
        code = STORAGE_REF if isinstance(e.storage, RefType) else e.storage.code
        lay = self.ctx.layouts[self.ctx.engine[t]]
        return e, code, self.slot_kind(e.storage, lay.elems_are_gc_refs)

    def gc(self, sub, imm):
        ctx = self.ctx
        op = GC + sub
        if sub in (0, 1):
            st = ctx.struct_type(imm[0])
            ks = [ctx.resolve(f.storage) for f in st.fields]
            if sub == 1:
                for f in st.fields:
                    if isinstance(f.storage, RefType) and not f.storage.nullable:
                        raise self.fail("type mismatch: struct.new_default of a field "
                                        "without a default", self.at)
            mid = self.safepoint()
            if sub == 0:
                self.pops(ks)
            fields = []
            for i in range(len(st.fields)):
                _, off, code, gcref = self.field(imm[0], i)
                fields += [off, code, gcref]
            self.emit(op, ctx.engine[imm[0]], mid, len(st.fields), *fields)
            self.push(ctx.ref(imm[0], False))
        elif sub in (2, 3, 4):
            ft, off, code, gcref = self.field(*imm)
            packed = code in (1, 2)
            if packed != (sub != 2):
                raise self.fail("type mismatch: struct.get_s/u is for packed fields only",
                                self.at)
            self.pop(ctx.ref(imm[0], True))
            self.emit(op, off, code, gcref)
            self.push(ctx.resolve(ft.storage))
        elif sub == 5:
            ft, off, code, gcref = self.field(*imm)
            if not ft.mutable:
                raise self.fail("field is immutable", self.at)
            self.pop(ctx.resolve(ft.storage))
            self.pop(ctx.ref(imm[0], True))
            self.emit(op, off, code, gcref)
        elif sub in (6, 7, 8, 9, 10):
            e, code, gcref = self.elem_info(imm[0])
            k = ctx.resolve(e.storage)
            mid = self.safepoint()
            if sub == 6:
                self.pop("i")
                self.pop(k)
                self.emit(op, ctx.engine[imm[0]], mid, code, gcref)
            elif sub == 7:
                if isinstance(e.storage, RefType) and not e.storage.nullable:
                    raise self.fail("type mismatch: array.new_default of an element without "
                                    "a default", self.at)
                self.pop("i")
                self.emit(op, ctx.engine[imm[0]], mid, code, gcref)
            elif sub == 8:
                for _ in range(imm[1]):
                    self.pop(k)
                self.emit(op, ctx.engine[imm[0]], mid, code, gcref, imm[1])
            elif sub == 9:
                if code == STORAGE_REF:
                    raise self.fail("type mismatch: array.new_data of a ref array", self.at)
                ctx.data(imm[1])
                self.pop("i")
                self.pop("i")
                self.emit(op, ctx.engine[imm[0]], mid, code, gcref, imm[1])
            else:
                if not ctx.matches(ctx.resolve(ctx.elem(imm[1])), k):
                    raise self.fail("type mismatch: element segment type", self.at)
                self.pop("i")
                self.pop("i")
                self.emit(op, ctx.engine[imm[0]], mid, code, gcref, imm[1])
            self.push(ctx.ref(imm[0], False))
        elif sub in (11, 12, 13):
            e, code, gcref = self.elem_info(imm[0])
            if (code in (1, 2)) != (sub != 11):
                raise self.fail("type mismatch: array.get_s/u is for packed elements only",
                                self.at)
            self.pop("i")
            self.pop(ctx.ref(imm[0], True))
            self.emit(op, code, gcref)
            self.push(ctx.resolve(e.storage))
        elif sub == 14:
            e, code, gcref = self.elem_info(imm[0])
            if not e.mutable:
                raise self.fail("array is immutable", self.at)
            self.pop(ctx.resolve(e.storage))
            self.pop("i")
            self.pop(ctx.ref(imm[0], True))
            self.emit(op, code, gcref)
        elif sub == 15:
            self.pop(RefType(ARRAY))
            self.emit(op)
            self.push("i")
        elif sub == 16:
            e, code, gcref = self.elem_info(imm[0])
            if not e.mutable:
                raise self.fail("array is immutable", self.at)
            self.pop("i")
            self.pop(ctx.resolve(e.storage))
            self.pop("i")
            self.pop(ctx.ref(imm[0], True))
            self.emit(op, code, gcref)
        elif sub == 17:
            e, code, gcref = self.elem_info(imm[0])
            e2, code2, _ = self.elem_info(imm[1])
            if not e.mutable:
                raise self.fail("array is immutable", self.at)
            if (code == STORAGE_REF) != (code2 == STORAGE_REF) or (
                    code != STORAGE_REF and code != code2) or not ctx.matches(
                    ctx.resolve(e2.storage), ctx.resolve(e.storage)):
                raise self.fail("type mismatch: array.copy between different element types",
                                self.at)
            self.pop("i")
            self.pop("i")
            self.pop(ctx.ref(imm[1], True))
            self.pop("i")
            self.pop(ctx.ref(imm[0], True))
            self.emit(op, code, gcref)
        elif sub in (18, 19):
            e, code, gcref = self.elem_info(imm[0])
            if not e.mutable:
                raise self.fail("array is immutable", self.at)
            if sub == 18:
                if code == STORAGE_REF:
                    raise self.fail("type mismatch: array.init_data of a ref array", self.at)
                ctx.data(imm[1])
            elif not ctx.matches(ctx.resolve(ctx.elem(imm[1])), ctx.resolve(e.storage)):
                raise self.fail("type mismatch: element segment type", self.at)
            self.pop("i")
            self.pop("i")
            self.pop("i")
            self.pop(ctx.ref(imm[0], True))
            self.emit(op, code, gcref, imm[1])
        elif sub in (20, 21, 22, 23):
            self.pop(RefType(ctx.top(imm[0])))
            self.emit(op, ctx.heap(imm[0]))
            self.push("i" if sub < 22 else ctx.ref(imm[0], sub == 23))
        elif sub in (24, 25):
            flags, lab, h1, h2 = imm
            if ctx.heap_kind(h1) != ctx.heap_kind(h2):
                raise self.fail("type mismatch: br_on_cast between hierarchies", self.at)
            rt1 = ctx.ref(h1, bool(flags & 1))
            rt2 = ctx.ref(h2, bool(flags & 2))
            if not ctx.matches(rt2, rt1):
                raise self.fail("type mismatch: br_on_cast target is not a subtype of its "
                                "source", self.at)
            self.pop(rt1)
            diff = RefType(rt1.heap, False) if rt2.nullable else rt1
            c = self.label(lab)
            self.push(rt2 if sub == 24 else diff)
            self.check_label_operands(c)
            self.pop()
            self.push(diff if sub == 24 else rt2)
            self.emit(op, ctx.heap(h2), (flags >> 1) & 1)
            self.branch_imms(c)
        elif sub in (26, 27):
            self.pop(RefType(EXTERN if sub == 26 else ANY))
            nullable = self.last.nullable if isinstance(self.last, RefType) else True
            self.emit(op)
            self.push(RefType(ANY if sub == 26 else EXTERN, nullable))
        elif sub == 28:
            self.pop("i")
            self.emit(op)
            self.push(RefType(I31, False))
        elif sub in (29, 30):
            self.pop(RefType(I31))
            self.emit(op)
            self.push("i")

    def misc(self, sub, imm):
        ctx = self.ctx
        op = MISC + sub
        if sub == 8:
            ctx.data(imm[0])
            ctx.memory(imm[1])
            self.pops("iii")
            self.emit(op, imm[0])
        elif sub == 9:
            ctx.data(imm[0])
            self.emit(op, imm[0])
        elif sub == 10:
            ctx.memory(imm[0])
            ctx.memory(imm[1])
            self.pops("iii")
            self.emit(op)
        elif sub == 11:
            ctx.memory(imm[0])
            self.pops("iii")
            self.emit(op)
        elif sub == 12:
            if not ctx.matches(ctx.resolve(ctx.elem(imm[0])), ctx.resolve(ctx.table(imm[1]))):
                raise self.fail("type mismatch: element segment and table types", self.at)
            self.pops("iii")
            self.emit(op, imm[0], imm[1])
        elif sub == 13:
            ctx.elem(imm[0])
            self.emit(op, imm[0])
        elif sub == 14:
            if not ctx.matches(ctx.resolve(ctx.table(imm[1])), ctx.resolve(ctx.table(imm[0]))):
                raise self.fail("type mismatch: table.copy between table types", self.at)
            self.pops("iii")
            self.emit(op, imm[0], imm[1])
        elif sub == 15:
            k = ctx.resolve(ctx.table(imm[0]))
            self.pop("i")
            self.pop(k)
            self.emit(op, imm[0])
            self.push("i")
        elif sub == 16:
            ctx.table(imm[0])
            self.emit(op, imm[0])
            self.push("i")
        elif sub == 17:
            k = ctx.resolve(ctx.table(imm[0]))
            self.pop("i")
            self.pop(k)
            self.pop("i")
            self.emit(op, imm[0])


def _non_null(t):
    return RefType(t.heap, False) if isinstance(t, RefType) else t


_NAMES = {"i": "i32", "I": "i64", "f": "f32", "F": "f64", "v": "v128", "r": "a GC reference",
          "p": "a funcref", None: "nothing"}
_CONST_OPS = {0x0B, 0x41, 0x42, 0x43, 0x44, 0x23, 0xD0, 0xD2, 0x6A, 0x6B, 0x6C, 0x7C, 0x7D,
              0x7E, GC + 0, GC + 1, GC + 6, GC + 7, GC + 8, GC + 26, GC + 27, GC + 28}


def compile_function(ctx: Context, type_index: int, code) -> CompiledFunction:
    ft = ctx.func_type(type_index)
    r = Reader(ctx.m.data, code.start, code.end)
    c = _Compiler(ctx, ft.params, ft.results, code.locals, r)
    try:
        c.run()
    except DecodeError:
        raise
    out = c.out
    out.nparams = len(ft.params)
    out.nresults = len(ft.results)
    out.nlocals = c.nlocals
    out.max_height = c.max + 2
    out.type_index = ctx.engine[type_index]
    out.local_kinds = c.local_kinds
    out.param_kinds = c.local_kinds[:len(ft.params)]
    out.result_kinds = c.result_kinds
    return out


def compile_const(ctx: Context, expr: tuple[int, int], result, nglobals: int
                  ) -> CompiledFunction:
    """A constant expression as a function of no parameters returning `result`; it may read
    only the first `nglobals` globals (imported ones, or earlier ones in GC modules)."""
    r = Reader(ctx.m.data, expr[0], expr[1] + 1)
    c = _Compiler(ctx, [], [result], [], r, const=True)
    saved = ctx.globals
    ctx.globals = ctx.globals[:nglobals]
    try:
        c.run()
    finally:
        ctx.globals = saved
    out = c.out
    out.nparams = 0
    out.nresults = 1
    out.nlocals = 0
    out.max_height = c.max + 2
    out.type_index = 0xFFFFFFFF
    out.local_kinds = []
    out.param_kinds = []
    out.result_kinds = c.result_kinds
    return out
