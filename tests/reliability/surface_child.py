"""The API-surface sweep's worker: every class and function of the compiled modules, found by
introspection, called with None and with wrong types.

The cases are not written by hand: a class, method, property or keyword argument added later
joins the sweep by itself. What a class is allowed to do is stated once per class in CLASSES;
a compiled class missing from that table is itself a failure, so nobody can add a type without
deciding whether Python may construct it.

Rules checked:

- a type Python must not construct (``refused``) raises TypeError from ``Cls(...)`` and from
  ``Cls.__new__(Cls, ...)``: there is no way to get one without its maker;
- a type Python may construct (``value``) raises TypeError for ``Cls(None)`` and ``Cls(wrong)``,
  and ``Cls.__new__(Cls, *args)`` (which skips ``__init__``) raises where ``Cls(*args)`` does
  and otherwise builds an equal value, never a half-made one;
- a parameter the embedded signature gives a Python type (``Heap heap``, ``list items``) raises
  TypeError for None and for a wrong type (Cython lets None through unless ``not None``);
- any other call with None or wrong types may succeed or raise an ordinary exception, but never
  crashes, never raises SystemError, and leaves the heap and the registry passing ``verify()``.

Protocol as sweep_child.py: ``START name``, then ``OK name`` or ``BAD name: why``; run as
``python surface_child.py BATCH NBATCHES`` or ``--count`` / ``--list``.
"""

from __future__ import annotations

import faulthandler
import gc
import os
import re
import sys
from collections.abc import Callable
from typing import Any

import drc.build
import drc.heap
import registry as R
import registry.registry
from drc import DrcError

MODULES = (drc.heap, drc.build, registry.registry)
WRONG = ("wrong", 1.5)       # never a valid argument to anything in these modules

# C types in embedded signatures: they reject None and wrong types by conversion already.
C_SCALARS = {"int", "long", "long long", "unsigned int", "unsigned long", "unsigned long long",
             "size_t", "Py_ssize_t", "bint", "bool", "float", "double", "char", "short",
             "uint8_t", "uint16_t", "uint32_t", "uint64_t", "int8_t", "int16_t", "int32_t",
             "int64_t", "gcref_t"}

# Dunder methods that are part of the API (the rest are object protocol defaults).
API_DUNDERS = {"__enter__": 0, "__exit__": 3, "__len__": 0, "__iter__": 0, "__contains__": 1,
               "__getitem__": 1, "__eq__": 1, "__hash__": 0, "__repr__": 0, "__reduce__": 0}

# Ordinary exceptions a call with bad arguments may raise. SystemError (an error set without
# a return value, or the reverse) and AttributeError from inside a method are bugs.
ORDINARY = (TypeError, ValueError, LookupError, OverflowError, RuntimeError, BufferError,
            DrcError, R.RegistryError, MemoryError)


class World:
    """A registry, a heap with a few objects, and the handles and values built on them."""

    def __init__(self) -> None:
        self.reg = R.TypeRegistry()
        self.coll = self.reg.register_module([R.RecGroup([
            R.SubType(R.StructType([R.FieldType(R.RefType(R.ANY), True),
                                    R.FieldType(R.I32, True)])),
            R.SubType(R.ArrayType(R.FieldType(R.RefType(R.ANY), True))),
            R.SubType(R.FuncType([R.I32])),
        ])])
        self.node, self.arr, self.func = self.coll.shared_types
        self.rt = self.reg.register_type(R.SubType(R.StructType([R.FieldType(R.I64)])))
        self.heap = drc.heap.Heap(self.reg, max_size=1 << 22)
        self.n = self.heap.struct_new(self.node, [None, 7])
        self.a = self.heap.array_new(self.arr, 3, self.n)
        self.e = self.heap.externref_new("payload")
        self.f = self.heap.funcref_new(self.func, "target")

    def check(self) -> None:
        gc.collect()
        if not self.heap.closed:
            self.heap.verify()
        self.reg.verify()


# kind: "refused", "value" or "other"; make: a legitimate instance for the method sweep (None
# for classes whose methods are not swept); new_gives: for "other" classes, what a bare
# `Cls.__new__(Cls, ...)` must be (a check that returns True), or None if it must raise.
CLASSES: dict[str, dict[str, Any]] = {
    "drc.heap.Heap": dict(kind="value", make=lambda w: w.heap, args=lambda w: (w.reg,),
                          equal=False),
    "drc.heap.GcRef": dict(
        kind="other", make=lambda w: w.n,
        # A GcRef made by __new__ is a released handle (heap None, raw 0), a state every
        # handle reaches by close(); refusing it would cost every allocation a check.
        new_gives=lambda x: x.heap is None and x.raw == 0 and repr(x) == "<GcRef released>"),
    "drc.heap.I31": dict(
        kind="other", make=lambda w: drc.heap.I31(5),
        # I31 has no state beyond its value: __new__ makes I31(0), a valid value.
        new_gives=lambda x: x == drc.heap.I31(0)),
    "drc.heap.FuncRef": dict(kind="refused", make=lambda w: w.f),
    "drc.heap.Collection": dict(kind="refused", make=lambda w: w.heap.gc(stack_roots=[])),
    "drc.heap.CollectionReport": dict(kind="refused",
                                      make=lambda w: w.heap.collect(stack_roots=[])),
    "drc.heap.NoGcScope": dict(kind="refused", make=lambda w: w.heap.no_gc()),
    "drc.heap.GuestScope": dict(kind="refused", make=lambda w: w.heap.guest()),
    # Private: the free list on its own for property tests; it owns its memory.
    "drc.heap._FreeListForTests": dict(kind="value", make=lambda w: drc.heap._FreeListForTests(
        1 << 20), args=lambda w: (1 << 20,), equal=False, public=False),
    # Private buffers and walkers with C-level methods only; __new__ makes an empty one.
    "drc.heap._RootBuffer": dict(kind="other", make=None, new_gives=lambda x: True),
    "registry.registry._Entry": dict(kind="other", make=None, new_gives=lambda x: True),
    "registry.registry._Canon": dict(kind="other", make=None, new_gives=lambda x: True),
    "registry.registry._Ctx": dict(kind="other", make=None, new_gives=lambda x: True),
    "registry.registry._GroupKey": dict(kind="other", make=None, new_gives=lambda x: True),
    "registry.registry.TypeRegistry": dict(kind="value", make=lambda w: w.reg,
                                           args=lambda w: (), equal=False),
    "registry.registry.TypeCollection": dict(kind="refused", make=lambda w: w.coll),
    "registry.registry.RegisteredType": dict(kind="refused", make=lambda w: w.rt),
    "registry.registry.StorageType": dict(kind="refused", make=lambda w: R.I32),
    "registry.registry.AbstractHeapType": dict(kind="refused", make=lambda w: R.ANY),
    "registry.registry.RefType": dict(kind="value", make=lambda w: R.RefType(R.ANY),
                                      args=lambda w: (w.node, False)),
    "registry.registry.FieldType": dict(kind="value", make=lambda w: R.FieldType(R.I8, True),
                                        args=lambda w: (R.I16, True)),
    "registry.registry.StructType": dict(
        kind="value", make=lambda w: R.StructType([R.FieldType(R.I32)]),
        args=lambda w: ([R.FieldType(R.F64)],)),
    "registry.registry.ArrayType": dict(kind="value",
                                        make=lambda w: R.ArrayType(R.FieldType(R.I8)),
                                        args=lambda w: (R.FieldType(R.I32, True),)),
    "registry.registry.FuncType": dict(kind="value", make=lambda w: R.FuncType([R.I32], [R.I64]),
                                       args=lambda w: ([R.F32], [R.RefType(R.EXTERN)])),
    "registry.registry.SubType": dict(kind="value",
                                      make=lambda w: R.SubType(R.StructType(), final=False),
                                      args=lambda w: (R.StructType(), False, 0)),
    "registry.registry.RecGroup": dict(kind="value",
                                       make=lambda w: R.RecGroup([R.SubType(R.StructType())]),
                                       args=lambda w: ([R.SubType(R.ArrayType(
                                           R.FieldType(R.I8)))],)),
}


def compiled_classes() -> dict[str, type]:
    return {f"{m.__name__}.{n}": o for m in MODULES for n, o in vars(m).items()
            if isinstance(o, type) and o.__module__ == m.__name__}


def compiled_functions() -> dict[str, Callable]:
    return {f"{m.__name__}.{n}": o for m in MODULES for n, o in vars(m).items()
            if type(o).__name__ == "cython_function_or_method" and o.__module__ == m.__name__}


# ---- embedded signatures ------------------------------------------------------------------

def split_params(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def parse_signature(doc: str | None):
    """Parameters of an embedded Cython signature (``Cls.f(self, Heap h, x=None, *, bool k)``)
    as (name, ctype or None, keyword_only, has_default), without ``self``; None if the
    docstring has no signature."""
    if not doc:
        return None
    first = doc.strip().splitlines()[0]
    m = re.match(r"^[\w.]+\((.*)\)(?:\s*->.*)?$", first)
    if not m:
        return None
    params, kw_only = [], False
    for p in split_params(m.group(1)):
        if p == "*":
            kw_only = True
            continue
        if p.startswith("**"):
            continue
        if p.startswith("*"):
            kw_only = True
            continue
        decl, _, default = p.partition("=")
        decl = re.sub(r"\s+not\s+None$", "", decl.strip())
        tokens = decl.split()
        name, ctype = tokens[-1], " ".join(tokens[:-1]) or None
        if name == "self":
            continue
        params.append((name, ctype, kw_only, bool(default)))
    return params


def is_object_type(ctype: str | None) -> bool:
    return ctype is not None and ctype not in C_SCALARS and not ctype.endswith("*")


# ---- cases ------------------------------------------------------------------------------

CASES: list[tuple[str, Callable[[World], None]]] = []


def case(name: str):
    def add(fn):
        CASES.append((name, fn))
        return fn
    return add


def expect_type_error(what: str, fn: Callable[[], Any]) -> None:
    try:
        fn()
    except TypeError:
        return
    except BaseException as e:  # noqa: BLE001 - reported
        raise AssertionError(f"{what} raised {type(e).__name__}: {e}, not TypeError") from None
    raise AssertionError(f"{what} raised nothing (expected TypeError)")


def outcome(fn: Callable[[], Any]):
    """('ok', value) or ('raise', exception type); SystemError and non-ordinary ones fail."""
    try:
        return "ok", fn()
    except ORDINARY as e:
        return "raise", type(e)
    except BaseException as e:  # noqa: BLE001 - reported
        raise AssertionError(f"raised {type(e).__name__}: {e}") from None


def add_construction_cases(qual: str, cls: type, spec: dict[str, Any]) -> None:
    kind = spec["kind"]
    bad_args = [("none", (None,)), ("wrong", (WRONG[0],)), ("wrong2", (WRONG[1],)),
                ("none2", (None, None))]
    if kind == "refused":
        for label, args in [("noargs", ())] + bad_args:
            case(f"new:{qual}:call-{label}")(
                lambda w, a=args: expect_type_error(f"{cls.__name__}{a!r}", lambda: cls(*a)))
            case(f"new:{qual}:__new__-{label}")(
                lambda w, a=args: expect_type_error(f"{cls.__name__}.__new__{a!r}",
                                                    lambda: cls.__new__(cls, *a)))
        return
    if kind == "value":
        # A private class may take a C size (which truncates a float): it is no entry point.
        for label, args in bad_args[:3 if spec.get("public", True) else 2]:
            case(f"new:{qual}:call-{label}")(
                lambda w, a=args: expect_type_error(f"{cls.__name__}{a!r}", lambda: cls(*a)))

        def same_as_call(w: World, args: tuple) -> None:
            via_call = outcome(lambda: cls(*args))
            via_new = outcome(lambda: cls.__new__(cls, *args))
            if via_call[0] != via_new[0] or (via_call[0] == "raise"
                                             and via_call[1] is not via_new[1]):
                raise AssertionError(f"{cls.__name__}{args!r} -> {via_call}, but "
                                     f"__new__ -> {via_new}")
            if via_call[0] == "ok" and spec.get("equal", True) and via_call[1] != via_new[1]:
                raise AssertionError(f"{cls.__name__}.__new__{args!r} made {via_new[1]!r}, "
                                     f"not {via_call[1]!r}")

        for label, args in [("noargs", ())] + bad_args:
            case(f"new:{qual}:__new__-{label}")(lambda w, a=args: same_as_call(w, a))
        case(f"new:{qual}:__new__-valid")(lambda w: same_as_call(w, spec["args"](w)))
        return
    for label, args in [("noargs", ())] + bad_args:
        def made_by_new(w: World, a=args) -> None:
            res = outcome(lambda: cls.__new__(cls, *a))
            if res[0] == "ok" and not spec["new_gives"](res[1]):
                raise AssertionError(f"{cls.__name__}.__new__{a!r} made {res[1]!r}")
        case(f"new:{qual}:__new__-{label}")(made_by_new)


def members(cls: type):
    """(name, 'method' | 'property', descriptor) for the API surface of a class."""
    for name, d in sorted(vars(cls).items()):
        if name.startswith("__") and name not in API_DUNDERS:
            continue
        if type(d).__name__ in ("cython_function_or_method", "wrapper_descriptor",
                                "method_descriptor"):
            yield name, "method", d
        elif type(d).__name__ in ("getset_descriptor", "member_descriptor", "property"):
            yield name, "property", d


C_INTEGERS = C_SCALARS - {"bint", "bool", "float", "double"}


def call_variants(name: str, d: Any, public: bool):
    """(label, args(world), kwargs, must_raise_type_error) for one method. A public method's
    C-integer parameter must refuse a float too (Cython would truncate 0.5 to 0)."""
    params = parse_signature(getattr(d, "__doc__", None))
    if params is None:
        npos, kws, typed, typed_kw = API_DUNDERS.get(name, 1), [], {}, {}
    else:
        pos = [p for p in params if not p[2]]
        npos = len(pos)
        kws = [p[0] for p in params if p[2]]
        typed = {i: (p, (None, WRONG[0])) for i, p in enumerate(pos) if is_object_type(p[1])}
        if public:
            typed.update({i: (p, (WRONG[1],)) for i, p in enumerate(pos)
                          if p[1] in C_INTEGERS})
        typed_kw = {p[0]: p for p in params if p[2] and is_object_type(p[1])}
    yield "noargs", lambda w: (), {}, False
    for k in range(1, npos + 1):
        for label, v in (("none", None), ("wrong", WRONG[0]), ("wrong2", WRONG[1])):
            yield f"{label}x{k}", lambda w, v=v, k=k: (v,) * k, {}, False
    for kw in kws:
        for label, v in (("none", None), ("wrong", WRONG[0])):
            yield f"{kw}={label}", lambda w: (), {kw: v}, kw in typed_kw
    for i, ((pname, _, _, _), bad) in typed.items():
        for v in bad:
            label = {None: "none", WRONG[0]: "wrong", WRONG[1]: "wrong2"}[v]
            def args(w: World, i=i, v=v) -> tuple:
                a = tuple(filler(w, p[1]) for p in pos)
                return a[:i] + (v,) + a[i + 1:]
            yield f"typed-{pname}={label}", args, {}, True


def filler(w: World, ctype: str | None) -> Any:
    """A value that passes a parameter's entry conversion, so that a typed-argument probe
    fails on the probed parameter alone."""
    if ctype in C_SCALARS:
        return 0
    for qual, spec in CLASSES.items():
        if qual.rpartition(".")[2] == ctype and spec["make"] is not None:
            return spec["make"](w)
    return {"list": [], "tuple": (), "dict": {}, "str": "", "bytes": b""}.get(ctype)


def add_member_cases(qual: str, cls: type, spec: dict[str, Any]) -> None:
    make = spec["make"]
    if make is None:
        public = [n for n, _, _ in members(cls) if not n.startswith("__")]
        case(f"member:{qual}:has-no-python-methods")(
            lambda w, p=public: None if not p else (_ for _ in ()).throw(AssertionError(
                f"{qual} has Python-level members {p} but no instance to sweep them on")))
        return
    for name, what, d in members(cls):
        if what == "property":
            case(f"get:{qual}.{name}")(lambda w, n=name: (outcome(lambda: getattr(make(w), n)),
                                                          w.check()))
            for label, v in (("none", None), ("wrong", WRONG[0])):
                def set_prop(w: World, n=name, v=v) -> None:
                    obj = make(w)
                    try:
                        setattr(obj, n, v)
                    except (AttributeError, *ORDINARY):
                        pass
                    w.check()
                case(f"set:{qual}.{name}={label}")(set_prop)
            continue
        public = not qual.rpartition(".")[2].startswith("_") and not name.startswith("_")
        for label, make_args, kwargs, strict in call_variants(name, d, public):
            def call(w: World, n=name, make_args=make_args, kwargs=kwargs,
                     strict=strict) -> None:
                obj = make(w)
                fn = getattr(obj, n)
                args = make_args(w)
                if strict:
                    expect_type_error(f"{cls.__name__}.{n}(*{args!r}, **{kwargs!r})",
                                      lambda: fn(*args, **kwargs))
                else:
                    try:
                        outcome(lambda: fn(*args, **kwargs))
                    except AssertionError as e:
                        raise AssertionError(f"{cls.__name__}.{n}(*{args!r}, **{kwargs!r}) "
                                             f"{e}") from None
                if isinstance(obj, drc.heap.Collection):
                    obj.cancel()
                w.check()
            case(f"call:{qual}.{name}:{label}")(call)


def add_function_cases(qual: str, fn: Callable) -> None:
    params = parse_signature(fn.__doc__) or []
    npos = len([p for p in params if not p[2]])
    variants = [("noargs", ())] + [(f"{lbl}x{k}", (v,) * k) for k in range(1, npos + 1)
                                   for lbl, v in (("none", None), ("wrong", WRONG[0]))]
    for label, args in variants:
        case(f"call:{qual}:{label}")(lambda w, a=args: (outcome(lambda: fn(*a)), w.check()))


def build_cases() -> None:
    found = compiled_classes()
    for qual in filter(None, os.environ.get("DRC_SURFACE_FORGET", "").split(",")):
        CLASSES.pop(qual)       # the parent's self-test: an unclassified class must fail

    @case("classes:every-compiled-class-is-classified")
    def _(w: World) -> None:
        missing = sorted(set(found) - set(CLASSES))
        stale = sorted(set(CLASSES) - set(found))
        if missing or stale:
            raise AssertionError(f"classify these compiled classes in CLASSES: {missing}; "
                                 f"no longer exist: {stale}")

    for qual, cls in sorted(found.items()):
        spec = CLASSES.get(qual)
        if spec is None:
            continue
        add_construction_cases(qual, cls, spec)
        add_member_cases(qual, cls, spec)
    for qual, fn in sorted(compiled_functions().items()):
        add_function_cases(qual, fn)


build_cases()


def main(argv: list[str]) -> int:
    faulthandler.enable()
    if argv[1:] == ["--count"]:
        print(len(CASES))
        return 0
    if argv[1:] == ["--list"]:
        print("\n".join(name for name, _ in CASES))
        return 0
    batch, nbatches = int(argv[1]), int(argv[2])
    for name, fn in CASES[batch::nbatches]:
        print(f"START {name}", flush=True)
        try:
            w = World()
            fn(w)
            w.check()
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            print(f"BAD {name}: {type(e).__name__}: {e}", flush=True)
            continue
        print(f"OK {name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
