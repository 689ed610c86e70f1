"""The WebAssembly GC spec tests, through wat2wasm, the decoder and the registry.

For every vendored spec script in tests/spec (see its README):
- every valid module's types register;
- `assert_invalid` modules whose error is about type definitions ("sub type", "unknown type"
  in a module of type definitions only) are rejected, and the type sections of the others are
  accepted (their error lies elsewhere);
- `assert_malformed` binaries in binary-gc.wast are rejected by the decoder;
- the type equivalences and subtypings the scripts assert are checked as shared-index
  relations: link-time (func import vs the registered module's export: declared subtype, via
  hash consing across modules), `(global (ref $t) (ref.func $f))` and `local.get; call`
  forwarding inside a module. In `assert_invalid "type mismatch"` and `assert_unlinkable`
  modules at least one of those relations must fail.
Text modules go through wat2wasm, which must convert every one except those the script asserts
malformed (`assert_malformed` of `module quote` text): there wat2wasm rejecting the text is the
assertion holding, and it is counted as such. Anything else wat2wasm cannot convert fails the
test. Module forms this harness does not follow (`module definition`/`instance`, sections
beyond those it reads) are skipped, counted, and reported.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
from _wast import Node, Unsupported, parse, read_module, string_bytes

from registry import (
    InvalidTypeError,
    MalformedWasmError,
    RefType,
    TypeRegistry,
    decode_type_section,
)

wasmtime = pytest.importorskip("wasmtime")

TESTSUITE = Path(__file__).resolve().parents[1] / "spec"
FILES = sorted(TESTSUITE.glob("*.wast"))
TYPE_MESSAGES = ("sub type", "unknown type")

# Filled by the tests, printed by conftest.pytest_terminal_summary.
STATS: dict[str, collections.Counter] = {}


class Script:
    def __init__(self, path: Path):
        self.path = path
        self.reg = TypeRegistry()
        self.stats = STATS.setdefault(path.name, collections.Counter())
        self.registered: dict[str, tuple] = {}
        self.named: dict[str, tuple] = {}
        self.last: tuple | None = None

    # -- compiling -----------------------------------------------------------------------------

    def binary(self, node: Node, *, asserted_malformed: bool = False) -> bytes | None:
        """The module's binary. A text module wat2wasm cannot convert fails the test, unless
        the script asserts it malformed: then wat2wasm rejecting it is that assertion holding
        (counted, None returned)."""
        items = node.items[1:]
        if items and isinstance(items[0], str) and items[0].startswith("$"):
            items = items[1:]
        if items and items[0] == "binary":
            return b"".join(string_bytes(a) for a in items[1:])
        if items and items[0] in ("definition", "instance"):
            self.stats[f"skipped: module {items[0]}"] += 1
            return None
        if items and items[0] == "quote":
            text = "(module " + " ".join(string_bytes(a).decode() for a in items[1:]) + ")"
        else:
            text = node.text
        try:
            return bytes(wasmtime.wat2wasm(text))
        except Exception as e:  # noqa: BLE001 - any failure to convert
            if asserted_malformed:
                self.stats["malformed text: rejected by wat2wasm"] += 1
                return None
            raise AssertionError(f"{self.path.name}:{node.line}: wat2wasm cannot convert a "
                                 f"module the script expects to convert: {e}") from e

    # -- relations the scripts assert -----------------------------------------------------------

    def relations(self, wasm: bytes, coll) -> list[tuple[str, bool]] | None:
        """(description, holds) for every checkable relation; None if unreadable."""
        try:
            info = read_module(wasm)
        except (Unsupported, MalformedWasmError):
            self.stats["skipped: sections this harness does not read"] += 1
            return None
        shared = coll.shared_types
        out = []
        for vt, f in info.global_ref_funcs:
            a = RefType(shared[info.func_types[f]], nullable=False)
            b = RefType(shared[vt.heap], vt.nullable)
            out.append((f"global init ref.func {f}", self.reg.ref_matches(a, b)))
        for f, i, callee in info.forwards:
            params = self.reg.get(shared[info.func_types[f]]).composite.params
            cparams = self.reg.get(shared[info.func_types[callee]]).composite.params
            a, b = params[i], cparams[0]
            ok = (self.reg.ref_matches(a, b) if isinstance(a, RefType)
                  and isinstance(b, RefType) else a is b)
            out.append((f"func {f} forwards param {i} to func {callee}", ok))
        for mod, name, t in info.func_imports:
            exporter = self.registered.get(mod)
            if exporter is None or name not in exporter[1].exports:
                self.stats["skipped: import from an unknown module"] += 1
                return None
            ecoll, einfo = exporter
            etype = ecoll.shared_type(einfo.func_types[einfo.exports[name]])
            out.append((f"import {mod}.{name}", self.reg.is_subtype(etype, shared[t])))
        return out

    # -- commands -------------------------------------------------------------------------------

    def module(self, node: Node) -> None:
        wasm = self.binary(node)
        if wasm is None:
            self.last = None
            return
        coll = self.reg.register_module(decode_type_section(wasm))  # must not raise
        self.stats["valid modules registered"] += 1
        rel = self.relations(wasm, coll)
        for what, holds in rel or ():
            assert holds, f"{self.path.name}:{node.line}: {what} should hold"
            self.stats["relations checked (hold)"] += 1
        entry = (coll, read_module(wasm) if rel is not None else None)
        self.last = entry
        if len(node.items) > 1 and str(node.items[1]).startswith("$"):
            self.named[node.items[1]] = entry

    def register(self, node: Node) -> None:
        name = string_bytes(node.items[1]).decode()
        entry = self.named.get(node.items[2]) if len(node.items) > 2 else self.last
        if entry is not None and entry[1] is not None:
            self.registered[name] = entry

    def assert_invalid(self, node: Node) -> None:
        mod, msg = node.items[1], string_bytes(node.items[2]).decode()
        wasm = self.binary(mod)
        if wasm is None:
            return
        try:
            groups = decode_type_section(wasm)
        except MalformedWasmError:
            self.stats["invalid: rejected by the decoder"] += 1
            return
        type_only = all(isinstance(x, Node) and x.head in ("type", "rec")
                        for x in mod.items[1:] if not (isinstance(x, str)))
        must_reject = msg.startswith(TYPE_MESSAGES[0]) or (
            msg.startswith(TYPE_MESSAGES[1]) and type_only)
        try:
            coll = self.reg.register_module(groups)
        except InvalidTypeError:
            assert must_reject or msg.startswith(TYPE_MESSAGES), (
                f"{self.path.name}:{node.line}: type section rejected, but the module's error "
                f"({msg!r}) lies elsewhere")
            self.stats["invalid: rejected by the registry"] += 1
            return
        with coll:
            assert not must_reject, (
                f"{self.path.name}:{node.line}: invalid types accepted ({msg!r})")
            if msg.startswith(TYPE_MESSAGES[1]):
                self.stats["invalid (unknown type outside the type section): types accepted"] += 1
                return
            rel = self.relations(wasm, coll)
            if msg == "type mismatch" and rel:
                assert not all(h for _, h in rel), (
                    f"{self.path.name}:{node.line}: every asserted relation holds, but the "
                    "module is a type mismatch")
                self.stats["invalid: a relation fails, as asserted"] += 1
            else:
                self.stats["invalid elsewhere: types accepted"] += 1

    def assert_malformed(self, node: Node) -> None:
        mod = node.items[1]
        wasm = self.binary(mod, asserted_malformed=True)
        if wasm is None:
            return
        try:
            decode_type_section(wasm)
        except MalformedWasmError:
            self.stats["malformed: rejected by the decoder"] += 1
            return
        assert self.path.name != "binary-gc.wast", f"{self.path.name}:{node.line} accepted"
        self.stats["malformed outside the type section: decoded"] += 1

    def assert_unlinkable(self, node: Node) -> None:
        wasm = self.binary(node.items[1])
        if wasm is None:
            return
        with self.reg.register_module(decode_type_section(wasm)) as coll:
            rel = self.relations(wasm, coll)
            if not rel:
                return
            assert not all(h for _, h in rel), (
                f"{self.path.name}:{node.line}: every import matches, but it is unlinkable")
            self.stats["unlinkable: an import type does not match, as asserted"] += 1

    def run(self) -> None:
        for node in parse(self.path.read_text()):
            handler = getattr(self, node.head.replace("-", "_"), None)
            if handler is None:
                self.stats[f"not about types: {node.head}"] += 1
            else:
                handler(node)
        for coll, _ in [*self.registered.values(), *self.named.values()]:
            coll.close()
        self.registered.clear()
        self.named.clear()
        self.last = None


def test_vendored_scripts_are_all_here():
    """The vendored data is part of the repository: a missing file is a failure, not a skip."""
    assert len(FILES) == 17, [p.name for p in FILES]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_spec_script(path):
    import gc

    script = Script(path)
    script.run()
    reg = script.reg
    del script
    gc.collect()
    assert len(reg) == 0
    assert STATS[path.name]["valid modules registered"] > 0 or path.name == "binary-gc.wast"


def test_a_module_wat2wasm_cannot_convert_fails_unless_asserted_malformed(tmp_path):
    path = tmp_path / "broken.wast"
    path.write_text('(assert_malformed (module quote "(type (func (result i32) (param i32)))")'
                    ' "unexpected token")\n(module (type (struct (field i32))))\n')
    script = Script(path)
    script.run()
    assert script.stats["malformed text: rejected by wat2wasm"] == 1
    assert script.stats["valid modules registered"] == 1
    path.write_text("(module (type (struct (field i33))))\n")
    with pytest.raises(AssertionError, match="broken.wast:1: wat2wasm cannot convert"):
        Script(path).run()
    path.write_text('(module quote "(type (struct (field i33)))")\n')
    with pytest.raises(AssertionError, match="wat2wasm cannot convert"):
        Script(path).run()
    del STATS[path.name]                 # not a vendored script: keep it out of the summary


def test_type_scripts_exercise_the_registry():
    """The type-* scripts must actually reach the registry, not be skipped wholesale."""
    for p in FILES:
        if p.name not in STATS:
            Script(p).run()
    total = collections.Counter()
    for name, c in STATS.items():
        if name.startswith("type"):
            total.update(c)
    # The counts of the June 2026 scripts; fewer means the harness stopped seeing them.
    assert total["invalid: rejected by the registry"] >= 24
    assert total["relations checked (hold)"] >= 75
    assert total["invalid: a relation fails, as asserted"] >= 11
    assert total["unlinkable: an import type does not match, as asserted"] >= 10
