"""Every class, constructor, method, property and function of the compiled modules (drc.heap,
drc.build, registry.registry), found by introspection, called with None and with wrong types
in child processes (surface_child.py), so that a crash names its case. A type Python must not
construct refuses ``Cls(...)`` and ``Cls.__new__(Cls, ...)``; a typed parameter refuses None."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from child_protocol import run_child, verdicts

CHILD = Path(__file__).with_name("surface_child.py")
BATCHES = 2

sys.path.insert(0, str(CHILD.parent))
import surface_child as S  # noqa: E402


def run_surface_child(*args: str, env=None, timeout: float = 300.0):
    return run_child(CHILD, *args, timeout=timeout, env=env)


@pytest.mark.parametrize("batch", range(BATCHES))
def test_every_entry_point_refuses_none_and_wrong_types_without_crashing(batch):
    stdout, rc, stderr = run_surface_child(str(batch), str(BATCHES))
    started, ok, bad = verdicts(stdout)
    if rc != 0:
        last = started[-1] if started else "(before the first case)"
        pytest.fail(f"the surface child died ({'hang' if rc is None else f'exit {rc}'}) in "
                    f"case {last!r}\n{stderr[-3000:]}")
    assert not bad, "\n".join(bad)
    assert len(ok) == len(started) > 0


def test_the_sweep_covers_the_whole_surface():
    names = run_surface_child("--list")[0].splitlines()
    # Each kind of probe is there for the types the outside review named.
    for expected in ("new:drc.heap.NoGcScope:call-none", "new:drc.heap.GuestScope:call-none",
                     "new:drc.heap.Collection:__new__-noargs",
                     "new:registry.registry.FieldType:__new__-noargs",
                     "call:drc.heap.Heap.struct_new:nonex2", "set:drc.heap.Heap.stack_maps=wrong",
                     "call:drc.heap.Heap.collect:frames=wrong",
                     "call:registry.registry.TypeRegistry.is_subtype:wrong2x2",
                     "call:drc.heap._should_collect_first:nonex1"):
        assert expected in names
    # Every public method of the heap is swept.
    import drc
    for name in dir(drc.Heap):
        if not name.startswith("_") and callable(getattr(drc.Heap, name)):
            assert f"call:drc.heap.Heap.{name}:noargs" in names, name
    assert len(names) >= 600


def test_an_unclassified_class_fails_the_sweep():
    stdout, rc, _ = run_surface_child("0", "1", env={"DRC_SURFACE_FORGET": "drc.heap.NoGcScope"})
    started, ok, bad = verdicts(stdout)
    assert rc == 0
    assert any(b.startswith("classes:every-compiled-class-is-classified") and
               "drc.heap.NoGcScope" in b for b in bad)


def test_signatures_are_read_from_the_embedded_docstrings():
    assert S.parse_signature("Heap.f(self, Heap h not None, x, *, bool k=False)") == [
        ("h", "Heap", False, False), ("x", None, False, False), ("k", "bool", True, True)]
    assert S.parse_signature("T.g(self, long long a, list b=[1, 2], *rest)") == [
        ("a", "long long", False, False), ("b", "list", False, True)]
    assert S.parse_signature("Initialize self.  See help(type(self)).") is None


def test_a_typed_parameter_that_lets_none_through_is_reported():
    # A stand-in for a compiled `def f(self, Heap h)`: it accepts None, as Cython would.
    def f(h, n):
        return None
    f.__doc__ = "Thing.f(self, Heap h, size_t n)"
    strict = [(label, make_args) for label, make_args, _, must in
              S.call_variants("f", f, public=True) if must]
    assert [label for label, _ in strict] == ["typed-h=none", "typed-h=wrong", "typed-n=wrong2"]
    world = S.World()
    for label, make_args in strict:
        with pytest.raises(AssertionError, match="raised nothing"):
            S.expect_type_error(label, lambda m=make_args: f(*m(world)))
