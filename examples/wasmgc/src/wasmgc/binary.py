"""Decode a WebAssembly binary into a `Module`: every section, bounds-checked.

Types come through `registry.decode` (the registry owns type syntax); everything else is read
here. Function bodies are kept as byte ranges and translated by `wasmgc.compile`. Malformed
input raises `DecodeError` naming the byte offset; unsupported proposals are refused with a
message that names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from registry import (
    ANY,
    ARRAY,
    EQ,
    EXN,
    EXTERN,
    F32,
    F64,
    FUNC,
    I31,
    I32,
    I64,
    NOEXN,
    NOEXTERN,
    NOFUNC,
    NONE,
    STRUCT,
    V128,
    RefType,
)
from registry.decode import decode_type_section
from registry.errors import MalformedWasmError


class DecodeError(ValueError):
    """A malformed or unsupported binary; the message names the byte offset."""


ABSTRACT = {
    0x70: FUNC, 0x6F: EXTERN, 0x6E: ANY, 0x6D: EQ, 0x6C: I31, 0x6B: STRUCT, 0x6A: ARRAY,
    0x69: EXN, 0x71: NONE, 0x72: NOEXTERN, 0x73: NOFUNC, 0x74: NOEXN,
}
NUMERIC = {0x7F: I32, 0x7E: I64, 0x7D: F32, 0x7C: F64, 0x7B: V128}
SECTION_NAMES = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory",
                 6: "global", 7: "export", 8: "start", 9: "element", 10: "code",
                 11: "data", 12: "data count", 13: "tag"}
# Section order in the binary (data count sits between element and code).
SECTION_ORDER = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12,
                 11: 13}


class Reader:
    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def fail(self, msg: str, at: int | None = None) -> DecodeError:
        return DecodeError(f"at byte offset {self.pos if at is None else at}: {msg}")

    def byte(self) -> int:
        if self.pos >= self.end:
            raise self.fail("unexpected end of section or function")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def bytes(self, n: int) -> bytes:
        if n > self.end - self.pos:
            raise self.fail("unexpected end of section or function")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def _leb(self, bits: int, signed: bool) -> int:
        start = self.pos
        result = shift = 0
        nbytes = (bits + 6) // 7
        for i in range(nbytes):
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if i == nbytes - 1:
                    # The unused high bits of the last byte must be zero (unsigned) or a sign
                    # extension (signed).
                    used = bits - 7 * i
                    rest = (b & 0x7F) >> (used - (1 if signed else 0))
                    if signed:
                        if rest not in (0, (0x7F >> (used - 1))):
                            raise self.fail("integer too large", start)
                    elif rest:
                        raise self.fail("integer too large", start)
                if signed and b & 0x40:
                    result -= 1 << shift
                return result
        raise self.fail("integer representation too long", start)

    def u32(self) -> int:
        return self._leb(32, False)

    def s32(self) -> int:
        return self._leb(32, True)

    def s33(self) -> int:
        return self._leb(33, True)

    def s64(self) -> int:
        return self._leb(64, True)

    def vec(self, what: str) -> int:
        at = self.pos
        n = self.u32()
        if n > self.end - self.pos:
            raise self.fail(f"{what} count {n} exceeds the remaining {self.end - self.pos} "
                            "bytes", at)
        return n

    def name(self) -> str:
        n = self.vec("name byte")
        at = self.pos
        raw = self.bytes(n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("malformed UTF-8 encoding", at) from None

    # ---- types -------------------------------------------------------------------------

    def heap_type(self):
        at = self.pos
        if self.pos < self.end and self.data[self.pos] == 0x65:
            raise self.fail("shared heap types (shared-everything threads) are not supported",
                            at)
        v = self.s33()
        if v >= 0:
            return v
        code = v & 0x7F
        if v >= -0x40 and code in ABSTRACT:
            return ABSTRACT[code]
        if v >= -0x40 and code in (0x68, 0x75):
            raise self.fail("continuation types (stack switching) are not supported", at)
        raise self.fail(f"malformed heap type 0x{code:02X}", at)

    def val_type(self):
        at = self.pos
        b = self.byte()
        if b in NUMERIC:
            return NUMERIC[b]
        if b in (0x63, 0x64):
            return RefType(self.heap_type(), nullable=b == 0x63)
        if b in ABSTRACT:
            return RefType(ABSTRACT[b])
        raise self.fail(f"malformed value type 0x{b:02X}", at)

    def ref_type(self):
        at = self.pos
        t = self.val_type()
        if not isinstance(t, RefType):
            raise self.fail("malformed reference type", at)
        return t

    def limits(self, what: str, max_pages: int | None = None) -> tuple[int, int | None]:
        at = self.pos
        flags = self.byte()
        if flags & 0x04:
            raise self.fail(f"64-bit {what}s (memory64) are not supported", at)
        if flags & 0x02:
            raise self.fail(f"shared {what}s (threads) are not supported", at)
        if flags & ~0x01:
            raise self.fail(f"malformed limits flags 0x{flags:02X}", at)
        lo = self.u32()
        hi = self.u32() if flags & 1 else None
        return lo, hi


@dataclass
class Import:
    module: str
    name: str
    kind: str                          # "func", "table", "memory", "global"
    desc: object                       # func: type index; table: Table; memory: limits;
                                       # global: (valtype, mutable)


@dataclass
class Table:
    ref: RefType
    limits: tuple[int, int | None]
    init: tuple[int, int] | None = None   # constant-expression byte range


@dataclass
class Global:
    type: object
    mutable: bool
    init: tuple[int, int]


@dataclass
class Elem:
    mode: str                          # "active", "passive", "declarative"
    ref: RefType
    items: list                        # constant-expression byte ranges
    table: int = 0
    offset: tuple[int, int] | None = None


@dataclass
class Data:
    mode: str                          # "active", "passive"
    data: bytes
    memory: int = 0
    offset: tuple[int, int] | None = None


@dataclass
class Code:
    locals: list                       # value types of the declared (non-param) locals
    start: int                         # body byte range (after the local declarations)
    end: int


@dataclass
class Module:
    data: bytes
    groups: list = field(default_factory=list)
    types: list = field(default_factory=list)        # module-level SubTypes, flat
    imports: list = field(default_factory=list)
    funcs: list = field(default_factory=list)        # type index of each defined function
    tables: list = field(default_factory=list)
    memories: list = field(default_factory=list)
    globals: list = field(default_factory=list)
    exports: list = field(default_factory=list)      # (name, kind, index)
    start: int | None = None
    elems: list = field(default_factory=list)
    datas: list = field(default_factory=list)
    data_count: int | None = None
    codes: list = field(default_factory=list)
    declared_funcs: set = field(default_factory=set)  # ref.func-able outside bodies

    def imported(self, kind: str) -> list[Import]:
        return [i for i in self.imports if i.kind == kind]


def _const_expr(r: Reader) -> tuple[int, int]:
    """Skip a constant expression up to its `end`, returning its byte range. The
    instructions are read by the compiler; here only their immediates are stepped over."""
    from wasmgc.compile import read_instr
    start = r.pos
    while True:
        at = r.pos
        op, _ = read_instr(r)
        if op == 0x0B:
            return start, at


_EXTERNAL = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


def decode(data: bytes | bytearray | memoryview) -> Module:
    """Decode a whole binary. Raises DecodeError (a ValueError) naming the byte offset."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"decode: expected bytes, not {type(data).__name__}")
    data = bytes(data)
    r = Reader(data)
    if data[:4] != b"\x00asm":
        raise r.fail("magic header not detected", 0)
    if len(data) < 8:
        raise r.fail("unexpected end (no version)", len(data))
    if data[4:8] != b"\x01\x00\x00\x00":
        raise r.fail("unknown binary version", 4)
    r.pos = 8
    m = Module(data)
    last = 0
    nfunc_decls = None
    while r.pos < r.end:
        at = r.pos
        sid = r.byte()
        size = r.u32()
        if size > r.end - r.pos:
            raise r.fail(f"section size mismatch: {SECTION_NAMES.get(sid, sid)} section of "
                         f"{size} bytes runs past the end", at)
        s = Reader(data, r.pos, r.pos + size)
        r.pos += size
        if sid == 0:
            s.name()
            continue
        if sid not in SECTION_ORDER:
            raise s.fail(f"malformed section id {sid}", at)
        if sid == 13:
            raise s.fail("tag sections (exception handling) are not supported", at)
        if SECTION_ORDER[sid] <= last:
            raise s.fail(f"unexpected content after last section: {SECTION_NAMES[sid]} "
                         "section out of order or repeated", at)
        last = SECTION_ORDER[sid]
        _SECTION[sid](m, s)
        if s.pos != s.end:
            raise s.fail(f"section size mismatch: {s.end - s.pos} bytes left in the "
                         f"{SECTION_NAMES[sid]} section")
        if sid == 3:
            nfunc_decls = len(m.funcs)
    if nfunc_decls is None:
        nfunc_decls = 0
    if len(m.codes) != len(m.funcs):
        raise r.fail("function and code section have inconsistent lengths")
    if m.data_count is not None and m.data_count != len(m.datas):
        raise r.fail("data count and data section have inconsistent lengths")
    return m


def _types(m: Module, s: Reader) -> None:
    # The registry decodes the type syntax; offsets in its errors are absolute.
    try:
        m.groups = decode_type_section(m.data[:8] + _section_copy(m.data, s))
    except MalformedWasmError as e:
        raise DecodeError(str(e)) from None
    m.types = [t for g in m.groups for t in g.types]
    s.pos = s.end


def _section_copy(data: bytes, s: Reader) -> bytes:
    # Re-frame the one section so decode_type_section reads only it.
    body = data[s.pos:s.end]
    n = len(body)
    leb = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        leb.append(b | (0x80 if n else 0))
        if not n:
            break
    return b"\x01" + bytes(leb) + body


def _imports(m: Module, s: Reader) -> None:
    for _ in range(s.vec("import")):
        mod = s.name()
        name = s.name()
        at = s.pos
        kind = s.byte()
        if kind == 0:
            desc = s.u32()
        elif kind == 1:
            rt = s.ref_type()
            desc = Table(rt, s.limits("table"))
        elif kind == 2:
            desc = s.limits("memory")
        elif kind == 3:
            t = s.val_type()
            mut = s.byte()
            if mut > 1:
                raise s.fail("malformed mutability")
            desc = (t, mut == 1)
        elif kind == 4:
            raise s.fail("tag imports (exception handling) are not supported", at)
        else:
            raise s.fail(f"malformed import kind {kind}", at)
        m.imports.append(Import(mod, name, _EXTERNAL[kind], desc))


def _functions(m: Module, s: Reader) -> None:
    m.funcs = [s.u32() for _ in range(s.vec("function"))]


def _tables(m: Module, s: Reader) -> None:
    for _ in range(s.vec("table")):
        if s.pos + 1 < s.end and s.data[s.pos] == 0x40 and s.data[s.pos + 1] == 0x00:
            s.pos += 2
            rt = s.ref_type()
            lim = s.limits("table")
            m.tables.append(Table(rt, lim, _const_expr(s)))
        else:
            rt = s.ref_type()
            m.tables.append(Table(rt, s.limits("table")))


def _memories(m: Module, s: Reader) -> None:
    for _ in range(s.vec("memory")):
        m.memories.append(s.limits("memory"))


def _globals(m: Module, s: Reader) -> None:
    for _ in range(s.vec("global")):
        t = s.val_type()
        mut = s.byte()
        if mut > 1:
            raise s.fail("malformed mutability")
        m.globals.append(Global(t, mut == 1, _const_expr(s)))


def _exports(m: Module, s: Reader) -> None:
    seen = set()
    for _ in range(s.vec("export")):
        name = s.name()
        at = s.pos
        kind = s.byte()
        if kind not in _EXTERNAL or kind == 4:
            raise s.fail(f"malformed export kind {kind}", at)
        idx = s.u32()
        if name in seen:
            raise s.fail(f"duplicate export name {name!r}", at)
        seen.add(name)
        m.exports.append((name, _EXTERNAL[kind], idx))


def _start(m: Module, s: Reader) -> None:
    m.start = s.u32()


def _elements(m: Module, s: Reader) -> None:
    for _ in range(s.vec("element segment")):
        at = s.pos
        flags = s.u32()
        if flags > 7:
            raise s.fail(f"malformed elements segment kind {flags}", at)
        table = 0
        offset = None
        if flags & 1:
            mode = "declarative" if flags & 2 else "passive"
        else:
            mode = "active"
            if flags & 2:
                table = s.u32()
            offset = _const_expr(s)
        exprs = bool(flags & 4)
        if flags & 3:
            if exprs:
                rt = s.ref_type()
            else:
                k = s.byte()
                if k != 0:
                    raise s.fail(f"malformed element kind {k}")
                rt = RefType(FUNC, nullable=False)
        else:
            rt = RefType(FUNC, nullable=exprs)
        items = []
        for _ in range(s.vec("element")):
            if exprs:
                items.append(_const_expr(s))
            else:
                items.append(s.u32())
        if not exprs:
            m.declared_funcs.update(items)
        m.elems.append(Elem(mode, rt, items, table, offset))


def _code(m: Module, s: Reader) -> None:
    for _ in range(s.vec("code")):
        size = s.u32()
        if size > s.end - s.pos:
            raise s.fail("unexpected end: function body runs past the section")
        b = Reader(s.data, s.pos, s.pos + size)
        s.pos += size
        local_types = []
        total = 0
        for _ in range(b.vec("local declaration")):
            at = b.pos
            n = b.u32()
            total += n
            if total > 50000:
                raise b.fail("too many locals", at)
            local_types.extend([b.val_type()] * n)
        m.codes.append(Code(local_types, b.pos, b.end))


def _data(m: Module, s: Reader) -> None:
    for _ in range(s.vec("data segment")):
        at = s.pos
        flags = s.u32()
        if flags == 0:
            off = _const_expr(s)
            m.datas.append(Data("active", s.bytes(s.vec("data byte")), 0, off))
        elif flags == 1:
            m.datas.append(Data("passive", s.bytes(s.vec("data byte"))))
        elif flags == 2:
            mem = s.u32()
            off = _const_expr(s)
            m.datas.append(Data("active", s.bytes(s.vec("data byte")), mem, off))
        else:
            raise s.fail(f"malformed data segment kind {flags}", at)


def _data_count(m: Module, s: Reader) -> None:
    m.data_count = s.u32()


_SECTION = {1: _types, 2: _imports, 3: _functions, 4: _tables, 5: _memories, 6: _globals,
            7: _exports, 8: _start, 9: _elements, 10: _code, 11: _data, 12: _data_count}
