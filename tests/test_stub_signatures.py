"""The stubs of methods whose signature only the docstring carries.

The per-object accessors of ``Heap`` are plain method descriptors (``binding=False`` in
heap.pyx, for call speed), and ``inspect.signature`` cannot read a method descriptor that has no
``__text_signature__``, so mypy's stubtest skips their signatures. This checks them instead:
the parameters Cython embeds in each docstring against the ones ``heap.pyi`` declares.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import drc
import drc.heap

#: The accessors the benchmarks' workloads call in their inner loops.
ACCESSORS = {"struct_new", "struct_get", "struct_set", "array_new", "array_get", "array_set"}


def embedded_params(doc: str) -> list[tuple[str, bool, bool]]:
    """(name, keyword_only, has_default) from ``Cls.f(self, a, *, bool b=False)``."""
    m = re.match(r"^\w+\.\w+\((.*)\)$", doc.splitlines()[0])
    assert m, f"no embedded signature in {doc!r}"
    out, kw_only = [], False
    for p in (x.strip() for x in m.group(1).split(",")):
        if p == "*":
            kw_only = True
            continue
        decl, eq, _ = p.partition("=")
        name = decl.split()[-1]
        if name != "self":
            out.append((name, kw_only, bool(eq)))
    return out


def stub_params(fn: ast.FunctionDef) -> list[tuple[str, bool, bool]]:
    a = fn.args
    pos = a.posonlyargs + a.args
    first_default = len(pos) - len(a.defaults)
    out = [(p.arg, False, i >= first_default) for i, p in enumerate(pos)]
    out += [(p.arg, True, d is not None)
            for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)]
    return [p for p in out if p[0] != "self"]


def stub_classes() -> dict[str, dict[str, ast.FunctionDef]]:
    tree = ast.parse((Path(drc.__file__).parent / "heap.pyi").read_text())
    return {c.name: {f.name: f for f in c.body if isinstance(f, ast.FunctionDef)}
            for c in tree.body if isinstance(c, ast.ClassDef)}


def method_descriptors() -> dict[tuple[str, str], object]:
    return {(cls.__name__, name): d
            for cls in vars(drc.heap).values() if isinstance(cls, type)
            and cls.__module__ == "drc.heap"
            for name, d in vars(cls).items() if type(d).__name__ == "method_descriptor"}


def test_the_hot_accessors_are_method_descriptors():
    found = {name for (cls, name) in method_descriptors() if cls == "Heap"}
    assert ACCESSORS <= found, f"bound Cython functions again: {sorted(ACCESSORS - found)}"


def test_method_descriptor_stubs_match_the_embedded_signatures():
    stubs = stub_classes()
    checked = 0
    for (cls, name), d in sorted(method_descriptors().items()):
        if name.startswith("_"):
            continue
        assert name in stubs.get(cls, {}), f"{cls}.{name} has no stub"
        assert embedded_params(d.__doc__) == stub_params(stubs[cls][name]), f"{cls}.{name}"
        checked += 1
    assert checked >= len(ACCESSORS)


def test_the_comparison_notices_a_wrong_stub():
    wrong = ast.parse("def struct_get(self, ref, field, signed=False): ...").body[0]
    right = ast.parse("def struct_get(self, ref, field, *, signed=False): ...").body[0]
    doc = drc.heap.Heap.struct_get.__doc__
    assert embedded_params(doc) == stub_params(right)
    assert embedded_params(doc) != stub_params(wrong)
