"""A small reader for the spec test scripts (.wast) and for the module sections the type tests
lean on (imports, functions, globals, exports, code), beyond the type section the registry
decodes itself."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from registry.decode import _heap_type, _Reader, _val_type

# ---- s-expressions ---------------------------------------------------------------------------


@dataclass
class Node:
    """A parenthesized form: `items` are Nodes or atom strings; `text` its source slice."""

    items: list
    text: str
    line: int

    @property
    def head(self) -> str | None:
        return self.items[0] if self.items and isinstance(self.items[0], str) else None


_ATOM = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s()";]+')


def parse(src: str) -> list[Node]:
    """Top-level forms of a .wast file (comments `;; ...` and `(; ... ;)` skipped)."""
    stack: list[tuple[list, int]] = []
    top: list[Node] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
        elif src.startswith(";;", i):
            j = src.find("\n", i)
            i = n if j < 0 else j + 1
        elif src.startswith("(;", i):
            depth, i = 1, i + 2
            while depth:
                if src.startswith("(;", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith(";)", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "(":
            stack.append(([], i))
            i += 1
        elif c == ")":
            items, start = stack.pop()
            node = Node(items, src[start:i + 1], src.count("\n", 0, start) + 1)
            (stack[-1][0] if stack else top).append(node)
            i += 1
        else:
            m = _ATOM.match(src, i)
            if m is None:
                raise ValueError(f"cannot tokenize at {i}: {src[i:i + 20]!r}")
            stack[-1][0].append(m.group())
            i = m.end()
    return top


def string_bytes(atom: str) -> bytes:
    """The bytes of a wast string literal (escapes \\hh, \\n, \\t, \\\\, \\', \\", \\u{...})."""
    body, out, i = atom[1:-1], bytearray(), 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        nxt = body[i + 1]
        simple = {"n": b"\n", "t": b"\t", "r": b"\r", "\\": b"\\", "'": b"'", '"': b'"'}
        if nxt in simple:
            out += simple[nxt]
            i += 2
        elif nxt == "u":
            j = body.index("}", i)
            out += chr(int(body[i + 3:j], 16)).encode()
            i = j + 1
        else:
            out.append(int(body[i + 1:i + 3], 16))
            i += 3
    return bytes(out)


# ---- other sections of a module ----------------------------------------------------------------


class Unsupported(Exception):
    """The module uses an encoding this reader does not follow; skip its extra checks."""


@dataclass
class ModuleInfo:
    func_types: list[int] = field(default_factory=list)      # function index -> type index
    func_imports: list[tuple[str, str, int]] = field(default_factory=list)
    exports: dict[str, int] = field(default_factory=dict)    # name -> function index
    global_ref_funcs: list[tuple[object, int]] = field(default_factory=list)  # (RefType, func)
    forwards: list[tuple[int, int, int]] = field(default_factory=list)  # (func, param, callee)


def _name(r: _Reader) -> str:
    n = r.u32()
    s = r.data[r.pos:r.pos + n]
    r.pos += n
    return s.decode()


def _limits(r: _Reader) -> None:
    flags = r.byte()
    if flags & ~0x07:
        raise Unsupported("limits")
    r.u32()
    if flags & 1:
        r.u32()


def _skip_const_expr(r: _Reader) -> tuple[str, int] | None:
    """Skip a constant expression; return ("ref.func", f) when it is exactly that."""
    first = None
    while True:
        op = r.byte()
        if op == 0x0B:
            return first
        if op == 0xD2:
            f = r.u32()
            first = ("ref.func", f) if first is None else ("other", 0)
            continue
        first = ("other", 0)
        if op in (0x41, 0x42):
            r.s33() if op == 0x41 else _s64(r)
        elif op == 0x43:
            r.pos += 4
        elif op == 0x44:
            r.pos += 8
        elif op == 0xD0:
            _heap_type(r)
        elif op == 0x23:
            r.u32()
        elif op in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E):
            pass
        elif op == 0xFB:
            sub = r.u32()
            if sub in (0, 1, 6, 7):          # struct.new(_default), array.new(_default)
                r.u32()
            elif sub == 8:                   # array.new_fixed
                r.u32()
                r.u32()
            elif sub in (0x1A, 0x1B, 0x1C):  # any.convert_extern, extern.convert_any, ref.i31
                pass
            else:
                raise Unsupported(f"0xFB {sub}")
        else:
            raise Unsupported(f"const op 0x{op:02X}")


def _s64(r: _Reader) -> None:
    while r.byte() & 0x80:
        pass


def read_module(data: bytes) -> ModuleInfo:
    info = ModuleInfo()
    r = _Reader(data, 8, len(data))
    n_imported = 0
    while r.pos < r.end:
        sid = r.byte()
        size = r.u32()
        s = _Reader(data, r.pos, r.pos + size)
        r.pos += size
        if sid == 2:
            for _ in range(s.u32()):
                mod, name, kind = _name(s), _name(s), s.byte()
                if kind == 0x00:
                    t = s.u32()
                    info.func_imports.append((mod, name, t))
                    info.func_types.append(t)
                    n_imported += 1
                elif kind == 0x01:
                    _val_type(s)
                    _limits(s)
                elif kind == 0x02:
                    _limits(s)
                elif kind == 0x03:
                    _val_type(s)
                    s.byte()
                elif kind == 0x04:
                    s.byte()
                    s.u32()
                else:
                    raise Unsupported(f"import kind {kind}")
        elif sid == 3:
            info.func_types.extend(s.u32() for _ in range(s.u32()))
        elif sid == 6:
            for _ in range(s.u32()):
                vt = _val_type(s)
                s.byte()
                init = _skip_const_expr(s)
                if init and init[0] == "ref.func" and isinstance(getattr(vt, "heap", None),
                                                                 int):
                    info.global_ref_funcs.append((vt, init[1]))
        elif sid == 7:
            for _ in range(s.u32()):
                name, kind, idx = _name(s), s.byte(), s.u32()
                if kind == 0:
                    info.exports[name] = idx
        elif sid == 10:
            for k in range(s.u32()):
                body_size = s.u32()
                body = data[s.pos:s.pos + body_size]
                s.pos += body_size
                # `local.get i; call j; end` with no locals: param i must fit callee's param 0.
                if len(body) == 6 and body[0] == 0 and body[1] == 0x20 and body[3] == 0x10 \
                        and body[5] == 0x0B and body[2] < 0x80 and body[4] < 0x80:
                    info.forwards.append((n_imported + k, body[2], body[4]))
    return info
