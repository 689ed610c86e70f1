"""The .wast script runner: a small S-expression reader and the spec's commands.

Text modules go through ``wasmtime.wat2wasm`` (a test dependency); ``(module binary ...)``
and ``(module quote ...)`` are read here. Each assertion is counted as passed, failed or
skipped; a skip always carries its reason.
"""

from __future__ import annotations

import math
import re
import struct
import sys
import traceback
from dataclasses import dataclass, field

import drc
from wasmgc.binary import DecodeError
from wasmgc.compile import InvalidModule, Unsupported
from wasmgc.errors import Exhaustion, LinkError, Trap
from wasmgc.instance import Engine, Module, spectest

# ---- reading S-expressions -----------------------------------------------------------


class ScriptError(ValueError):
    """The script itself cannot be read."""


@dataclass
class Atom:
    text: str
    string: bool = False          # a "..." literal (text holds its bytes as latin-1)

    def __repr__(self):
        return repr(self.text)


@dataclass
class List:
    items: list
    start: int
    end: int = 0
    line: int = 0

    def head(self):
        return self.items[0].text if self.items and isinstance(self.items[0], Atom) else None


_TOKEN = re.compile(r'\s+|;;[^\n]*|\(;|\(|\)|"(?:[^"\\]|\\.)*"|[^\s()";]+', re.S)


def _unescape(s: str) -> bytes:
    out = bytearray()
    i = 0
    b = s.encode("utf-8")
    while i < len(b):
        c = b[i]
        if c != 0x5C:
            out.append(c)
            i += 1
            continue
        n = chr(b[i + 1])
        if n in "0123456789abcdefABCDEF" and i + 2 < len(b) and chr(b[i + 2]) in \
                "0123456789abcdefABCDEF":
            out.append(int(b[i + 1:i + 3], 16))
            i += 3
        elif n == "u":
            j = b.index(b"}", i)
            out += chr(int(b[i + 3:j], 16)).encode("utf-8")
            i = j + 1
        else:
            out += {"n": b"\n", "t": b"\t", "r": b"\r", '"': b'"', "'": b"'",
                    "\\": b"\\"}[n]
            i += 2
    return bytes(out)


def parse(text: str) -> list[List]:
    stack: list[List] = [List([], 0)]
    pos = 0
    n = len(text)
    while pos < n:
        if text.startswith("(;", pos):
            depth = 1
            pos += 2
            while depth and pos < n:
                if text.startswith("(;", pos):
                    depth += 1
                    pos += 2
                elif text.startswith(";)", pos):
                    depth -= 1
                    pos += 2
                else:
                    pos += 1
            continue
        m = _TOKEN.match(text, pos)
        if not m:
            raise ScriptError(f"cannot read the script at offset {pos}")
        tok = m.group(0)
        if tok == "(":
            stack.append(List([], pos, line=text.count("\n", 0, pos) + 1))
        elif tok == ")":
            if len(stack) == 1:
                raise ScriptError(f"unbalanced ')' at offset {pos}")
            lst = stack.pop()
            lst.end = m.end()
            stack[-1].items.append(lst)
        elif tok[0] == '"':
            stack[-1].items.append(Atom(_unescape(tok[1:-1]).decode("latin-1"), True))
        elif not tok[0].isspace() and not tok.startswith(";;"):
            stack[-1].items.append(Atom(tok))
        pos = m.end()
    if len(stack) != 1:
        raise ScriptError("unbalanced '(' at the end of the script")
    return stack[0].items


# ---- values --------------------------------------------------------------------------


def _int(text: str, bits: int) -> int:
    t = text.replace("_", "")
    v = int(t, 0) if not t.lstrip("+-").startswith("0x") else int(t, 16)
    return v & ((1 << bits) - 1)


def _float_bits(text: str, bits: int) -> int:
    t = text.replace("_", "")
    sign = 1 if t.startswith("-") else 0
    body = t.lstrip("+-")
    if bits == 32:
        exp_mask, quiet, top = 0x7F800000, 0x400000, 1 << 31
    else:
        exp_mask, quiet, top = 0x7FF0000000000000, 0x8000000000000, 1 << 63
    if body.startswith("nan"):
        payload = int(body[4:], 16) if body.startswith("nan:0x") else quiet
        return (top if sign else 0) | exp_mask | payload
    if body == "inf":
        return (top if sign else 0) | exp_mask
    if body.startswith("0x"):
        v = float.fromhex(t) if bits == 64 else _hex_to_f32(t)
    else:
        v = float(t)
    if bits == 32:
        if isinstance(v, int):
            return v
        return struct.unpack("<I", struct.pack("<f", v))[0] if math.isfinite(v) and \
            abs(v) < 3.4028235677973366e38 else (top if sign else 0) | exp_mask
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def _hex_to_f32(t: str):
    # float.fromhex rounds to double first; f32 literals need one rounding, so round the
    # exact value with fractions.
    from fractions import Fraction
    sign = -1 if t.startswith("-") else 1
    body = t.lstrip("+-")[2:]
    mant, _, exp = body.partition("p")
    whole, _, frac = mant.partition(".")
    num = int((whole or "0") + frac, 16) if (whole or frac) else 0
    val = Fraction(num, 16 ** len(frac)) * Fraction(2) ** int(exp or "0")
    if val == 0:
        return 0x80000000 if sign < 0 else 0
    # round to nearest even at 24 bits of mantissa
    e = val.numerator.bit_length() - val.denominator.bit_length()
    while Fraction(2) ** e > val:
        e -= 1
    while Fraction(2) ** (e + 1) <= val:
        e += 1
    e = max(e, -126)
    scale = Fraction(2) ** (e - 23)
    q = val / scale
    m = q.numerator // q.denominator
    rem = q - m
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and m & 1):
        m += 1
    if m >= 1 << 24:
        m >>= 1
        e += 1
    if e > 127:
        return (0x80000000 if sign < 0 else 0) | 0x7F800000
    if m < 1 << 23:
        bits = m
    else:
        bits = ((e + 127) << 23) | (m - (1 << 23))
    return (0x80000000 if sign < 0 else 0) | bits


class Script:
    """One script file's state: the engine, named modules, registered instances."""

    def __init__(self, path: str, text: str, zeal_collect_every: int):
        self.path = path
        self.text = text
        self.engine = Engine(zeal_collect_every=zeal_collect_every)
        self.registered = {}
        for (mod, name), ext in spectest(self.engine).items():
            self.registered[(mod, name)] = ext
        self.instances = {}
        self.current = None
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.skips: dict[str, int] = {}
        self.failures: list[str] = []

    # -- values --
    def arg(self, e: List) -> int:
        op = e.head()
        a = e.items[1].text if len(e.items) > 1 else None
        if op == "i32.const":
            return _int(a, 32)
        if op == "i64.const":
            return _int(a, 64)
        if op == "f32.const":
            return _float_bits(a, 32)
        if op == "f64.const":
            return _float_bits(a, 64)
        if op == "ref.null":
            return 0
        if op in ("ref.extern", "ref.host"):
            h = self.engine.heap
            g = h.externref_new(int(a))
            raw = h.expose(g)
            g.close()
            return raw
        raise ScriptError(f"unsupported argument {op}")

    # -- modules --
    def module_bytes(self, e: List) -> tuple[str | None, bytes]:
        items = e.items[1:]
        name = None
        if items and isinstance(items[0], Atom) and items[0].text.startswith("$") \
                and not items[0].string:
            name = items[0].text
            items = items[1:]
        if items and isinstance(items[0], Atom) and not items[0].string and \
                items[0].text in ("binary", "quote"):
            kind = items[0].text
            data = "".join(i.text for i in items[1:])
            if kind == "binary":
                return name, data.encode("latin-1")
            return name, self.wat("(module " + data.encode("latin-1").decode("utf-8") + ")")
        return name, self.wat(self.text[e.start:e.end])

    def wat(self, text: str) -> bytes:
        import wasmtime
        try:
            return bytes(wasmtime.wat2wasm(text))
        except Exception as exc:          # wasmtime raises its own error for bad text
            raise _TextError(str(exc)) from None

    def instantiate(self, e: List):
        name, data = self.module_bytes(e)
        mod = Module(self.engine, data)
        inst = mod.instantiate(self.registered)
        self.current = inst
        if name:
            self.instances[name] = inst
        return inst

    def target(self, items):
        if items and isinstance(items[0], Atom) and items[0].text.startswith("$") and \
                not items[0].string:
            inst = self.instances.get(items[0].text)
            if inst is None:
                raise ScriptError(f"unknown module {items[0].text}")
            return inst, items[1:]
        if self.current is None:
            raise ScriptError("no module to act on")
        return self.current, items

    def action(self, e: List):
        """Run an invoke or get; returns (raw results, result kinds)."""
        op = e.head()
        inst, rest = self.target(e.items[1:])
        name = rest[0].text
        if op == "invoke":
            args = [self.arg(a) for a in rest[1:]]
            ft = inst.export_func_type(name)
            kinds = [_kind(t) for t in ft.results]
            return inst.invoke(name, args), kinds
        if op == "get":
            ext = inst.export(name)
            if ext.kind != "global":
                raise ScriptError(f"{name} is not a global")
            vt, _ = ext.type
            raw = self.engine.store.global_value(ext.handle)
            return [raw], [_kind(vt)]
        raise ScriptError(f"unknown action {op}")

    # -- results --
    def matches(self, raw: int, kind: str, pat: List) -> bool:
        op = pat.head()
        a = pat.items[1].text if len(pat.items) > 1 else None
        if op == "either":
            return any(self.matches(raw, kind, p) for p in pat.items[1:])
        if op == "i32.const":
            return raw & 0xFFFFFFFF == _int(a, 32)
        if op == "i64.const":
            return raw == _int(a, 64)
        if op in ("f32.const", "f64.const"):
            bits = 32 if op == "f32.const" else 64
            raw &= (1 << bits) - 1
            exp = 0x7F800000 if bits == 32 else 0x7FF0000000000000
            quiet = 0x400000 if bits == 32 else 0x8000000000000
            if a == "nan:canonical":
                return raw & ~(1 << (bits - 1)) == exp | quiet
            if a == "nan:arithmetic":
                return raw & exp == exp and raw & quiet != 0
            return raw == _float_bits(a, bits)
        d = self.engine.store.describe(raw, kind)
        if op == "ref.null":
            return d[0] == "null"
        if d[0] == "null":
            return False
        if op == "ref.func":
            return d[0] == "func"
        if op == "ref.struct":
            return d[0] == "struct"
        if op == "ref.array":
            return d[0] == "array"
        if op == "ref.i31":
            return d[0] == "i31" and (a is None or d[1] == _signed31(a))
        if op == "ref.eq":
            return d[0] in ("i31", "struct", "array")
        if op == "ref.any":
            return d[0] in ("i31", "struct", "array", "extern")
        if op in ("ref.extern", "ref.host"):
            if a is None:
                return kind == "r"
            return d[0] == "extern" and d[1] == int(a)
        raise ScriptError(f"unsupported result pattern {op}")

    # -- commands --
    def run(self):
        for cmd in parse(self.text):
            if not isinstance(cmd, List):
                raise ScriptError(f"a command must be a list, got {cmd}")
            try:
                self.command(cmd)
            except ScriptError:
                raise
            except Exception as exc:
                self.fail(cmd, f"unexpected {type(exc).__name__}: {exc}\n"
                          + "".join(traceback.format_exc(limit=-3)))

    def fail(self, cmd: List, why: str):
        self.failed += 1
        src = self.text[cmd.start:cmd.end].splitlines()[0][:100]
        self.failures.append(f"line {cmd.line}: {src}\n    {why}")

    def skip(self, why: str):
        self.skipped += 1
        self.skips[why] = self.skips.get(why, 0) + 1

    def command(self, cmd: List):
        op = cmd.head()
        if op == "module":
            self.instantiate(cmd)
        elif op == "register":
            name = cmd.items[1].text
            inst, _ = self.target(cmd.items[2:])
            for ex, ext in inst.exports.items():
                self.registered[(name, ex)] = ext
        elif op in ("invoke", "get"):
            self.action(cmd)
        elif op == "assert_return":
            raws, kinds = self.action(cmd.items[1])
            pats = cmd.items[2:]
            if len(raws) != len(pats):
                return self.fail(cmd, f"{len(raws)} results, expected {len(pats)}")
            for raw, kind, pat in zip(raws, kinds, pats, strict=True):
                if not self.matches(raw, kind, pat):
                    d = self.engine.store.describe(raw, kind) if kind in "rp" else raw
                    return self.fail(cmd, f"result {d!r} does not match "
                                     f"{self.text[pat.start:pat.end]}")
            self.passed += 1
        elif op in ("assert_trap", "assert_exhaustion"):
            expect = cmd.items[2].text
            what = cmd.items[1]
            try:
                if what.head() == "module":
                    self.instantiate(what)
                else:
                    self.action(what)
            except Exhaustion as t:
                return self.expect_msg(cmd, op == "assert_exhaustion" or
                                       expect.startswith("call stack"), str(t), expect)
            except Trap as t:
                return self.expect_msg(cmd, op == "assert_trap", str(t), expect)
            self.fail(cmd, f"expected a trap ({expect}), returned normally")
        elif op in ("assert_invalid", "assert_malformed"):
            what = cmd.items[1]
            try:
                name, data = self.module_bytes(what)
            except _TextError:
                # wat2wasm, not wasmgc, refused the text: that checks the text format, which
                # wasmgc never parses, so it is no evidence about wasmgc.
                self.skip(f"{op} of module text that wat2wasm rejects (wasmgc reads binaries "
                          "only)")
                return
            try:
                Module(self.engine, data)
            except Unsupported as exc:
                return self.skip(f"unsupported feature: {exc}")
            except DecodeError as exc:
                # A malformed binary is rejected by the decoder; an invalid one must decode.
                if op == "assert_malformed":
                    self.passed += 1
                else:
                    self.fail(cmd, f"rejected as malformed ({exc}), expected invalid")
                return
            except InvalidModule as exc:
                if op == "assert_invalid":
                    self.passed += 1
                else:
                    self.fail(cmd, f"rejected as invalid ({exc}), expected malformed")
                return
            if op == "assert_invalid":
                self.skip("assert_invalid needs function-body subtype validation, which "
                          "wasmgc does not implement")
            else:
                self.fail(cmd, "a malformed module was accepted")
        elif op == "assert_unlinkable":
            try:
                _, data = self.module_bytes(cmd.items[1])
                Module(self.engine, data).instantiate(self.registered)
            except LinkError:
                self.passed += 1
                return
            self.fail(cmd, "module linked, expected an unlinkable error")
        elif op == "assert_uninstantiable":
            try:
                self.instantiate(cmd.items[1])
            except Trap:
                self.passed += 1
                return
            self.fail(cmd, "module instantiated, expected a trap")
        else:
            self.skip(f"unsupported command {op}")

    def expect_msg(self, cmd, right_kind: bool, got: str, expect: str):
        # As the reference interpreter: the expected message is a prefix of the trap's.
        if right_kind and got.startswith(expect):
            self.passed += 1
        else:
            self.fail(cmd, f"trapped with {got!r}, expected {expect!r}")


class _TextError(ValueError):
    pass


def _kind(t) -> str:
    from registry import FUNC, RefType
    if isinstance(t, RefType):
        h = t.heap
        if isinstance(h, int):
            return "p" if _is_func_index(h) else "r"
        return "p" if h.top is FUNC else "r"
    return "n"


_REGISTRY_FOR_KIND = []


def _is_func_index(engine_index: int) -> bool:
    from registry import FuncType
    return isinstance(_REGISTRY_FOR_KIND[0].get(engine_index).composite, FuncType)


def _signed31(a: str) -> int:
    v = _int(a, 32)
    v &= 0x7FFFFFFF
    return v - (1 << 31) if v & (1 << 30) else v


def run_files(files: list[str], *, zeal_collect_every: int | None = None,
              verbose: bool = False, min_passed: int = 0,
              max_skipped: int | None = None) -> int:
    """Run the scripts and print one line per file and the total. Exit status 1 on any
    failure, and also (so that CI notices assertions that silently stop running) when fewer
    than `min_passed` assertions passed or more than `max_skipped` were skipped."""
    if zeal_collect_every is None:
        zeal_collect_every = 1 if drc.ZEAL else 0
    tp = tf = ts = 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        s = Script(path, text, zeal_collect_every)
        _REGISTRY_FOR_KIND[:] = [s.engine.registry]
        try:
            s.run()
        except ScriptError as exc:
            s.failed += 1
            s.failures.append(f"script error: {exc}")
        print(f"{path}: {s.passed} passed, {s.failed} failed, {s.skipped} skipped")
        for why, n in s.skips.items():
            print(f"  skipped {n}: {why}")
        for fmsg in s.failures[:20]:
            lines = fmsg.splitlines()
            print("  FAIL " + "\n       ".join(lines[:6 if verbose else 3]))
        if len(s.failures) > 20:
            print(f"  ... and {len(s.failures) - 20} more failures")
        tp, tf, ts = tp + s.passed, tf + s.failed, ts + s.skipped
        sys.stdout.flush()
    print(f"{tp} passed, {tf} failed, {ts} skipped")
    status = 1 if tf else 0
    if tp < min_passed:
        print(f"expected at least {min_passed} passed assertions, got {tp}", file=sys.stderr)
        status = 1
    if max_skipped is not None and ts > max_skipped:
        print(f"expected at most {max_skipped} skipped assertions, got {ts}", file=sys.stderr)
        status = 1
    return status


def run_binary(path: str, name: str, args: list[str]) -> int:
    from registry import F32, F64, I32, I64
    with open(path, "rb") as f:
        data = f.read()
    eng = Engine()
    _REGISTRY_FOR_KIND[:] = [eng.registry]
    inst = Module(eng, data).instantiate(spectest(eng))
    ft = inst.export_func_type(name)
    if len(args) != len(ft.params):
        raise SystemExit(f"{name} takes {len(ft.params)} arguments, got {len(args)}")
    raw = []
    for t, a in zip(ft.params, args, strict=True):
        if t is I32:
            raw.append(_int(a, 32))
        elif t is I64:
            raw.append(_int(a, 64))
        elif t is F32:
            raw.append(_float_bits(a, 32))
        elif t is F64:
            raw.append(_float_bits(a, 64))
        else:
            raise SystemExit(f"cannot pass an argument of type {t} from the command line")
    try:
        out = inst.invoke(name, raw)
    except Trap as t:
        print(f"trap: {t}")
        return 1
    for t, v in zip(ft.results, out, strict=True):
        if t is I32:
            v &= 0xFFFFFFFF
            print(v - (1 << 32) if v >> 31 else v)
        elif t is I64:
            print(v - (1 << 64) if v >> 63 else v)
        elif t is F32:
            print(struct.unpack("<f", struct.pack("<I", v & 0xFFFFFFFF))[0])
        elif t is F64:
            print(struct.unpack("<d", struct.pack("<Q", v))[0])
        else:
            print(eng.store.describe(v, _kind(t)))
    return 0


__all__ = ["Script", "parse", "run_files", "run_binary", "field"]
