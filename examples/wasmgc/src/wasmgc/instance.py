"""Modules, linking and instantiation: the pure-Python edge around the interpreter.

An `Engine` owns one type registry, one drc `Heap` and one interpreter `Store`. `Module`
decodes, registers the types and compiles every function once; `Module.instantiate` links
imports, evaluates constant expressions (by running them as tiny functions in the
interpreter), builds globals, tables, memories and segments, and runs the start function.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from drc import Heap
from registry import FUNC, ArrayType, FuncType, RefType, StructType, SubType, TypeRegistry
from registry.errors import InvalidTypeError
from wasmgc.binary import decode
from wasmgc.compile import Context, InvalidModule, compile_const, compile_function, kind_of
from wasmgc.errors import LinkError
from wasmgc.interp import Store

NO_MAX = 0xFFFFFFFF


@dataclass
class Extern:
    """An exported or importable thing: kind "func" (handle: function id), "global",
    "table" or "memory" (handle: the store's pointer); `type` is what linking checks:
    func: engine type index; global: (engine value type, mutable); table: (engine ref
    type, limits); memory: limits."""
    kind: str
    handle: int
    type: object


class Engine:
    """One registry, one heap, one store; every module and instance of a script share it."""

    def __init__(self, *, zeal_collect_every: int = 0, max_heap_size: int | None = None):
        self.registry = TypeRegistry()
        kw = {} if max_heap_size is None else {"max_size": max_heap_size}
        self.heap = Heap(self.registry, **kw)
        self.store = Store(self.registry, self.heap)
        self._host_types: list = []
        if zeal_collect_every:
            self.heap.set_zeal_collect_every(zeal_collect_every)

    def host_function(self, fn, params, results) -> Extern:
        """A Python callable as a Wasm function; it receives and returns raw slots."""
        rt = self.registry.register_type(SubType(FuncType(params, results)))
        self._host_types.append(rt)
        kinds = [kind_of(t, []) for t in params], [kind_of(t, []) for t in results]
        fid = self.store.add_host_function(fn, rt.index, *kinds)
        return Extern("func", fid, rt.index)

    def global_(self, vt, mutable: bool, raw: int) -> Extern:
        counted = kind_of(vt, []) == "r"
        return Extern("global", self.store.new_global(counted, raw), (vt, mutable))

    def table(self, ref: RefType, lo: int, hi: int | None) -> Extern:
        counted = kind_of(ref, []) == "r"
        t = self.store.new_table(lo, NO_MAX if hi is None else hi, counted, 0)
        return Extern("table", t, (ref, (lo, hi)))

    def memory(self, lo: int, hi: int | None) -> Extern:
        return Extern("memory", self.store.new_memory(lo, 65536 if hi is None else hi),
                      (lo, hi))


def _resolve(vt, engine):
    """A value type with module type indices replaced by engine indices."""
    if isinstance(vt, RefType) and isinstance(vt.heap, int):
        return RefType(engine[vt.heap], vt.nullable)
    return vt


class Module:
    """A decoded, type-registered and compiled module."""

    def __init__(self, engine: Engine, binary: bytes):
        self.engine = engine
        m = self.m = decode(binary)
        try:
            self.types = engine.registry.register_module(m.groups)
        except InvalidTypeError as e:
            raise InvalidModule(str(e)) from None
        eng = self.types.shared_types
        layouts = {}
        for i, st in enumerate(m.types):
            if isinstance(st.composite, (StructType, ArrayType)):
                layouts[eng[i]] = engine.registry.layout(eng[i])
        ctx = self.ctx = Context(m, eng, layouts, engine.registry)
        self.nimp_funcs = len(m.imported("func"))
        self.nimp_globals = len(m.imported("global"))
        self.nimp_tables = len(m.imported("table"))
        if ctx.nmem > 1:
            raise InvalidModule("multiple memories")
        for mem in m.imported("memory"):
            _check_limits(mem.desc, 65536, "memory")
        for lim in m.memories:
            _check_limits(lim, 65536, "memory")
        for imp in m.imported("table"):
            ctx.kind(imp.desc.ref)
            _check_limits(imp.desc.limits, NO_MAX, "table")
        for name, kind, idx in m.exports:
            n = {"func": len(ctx.func_types), "global": len(ctx.globals),
                 "table": len(ctx.tables), "memory": ctx.nmem}[kind]
            if idx >= n:
                raise InvalidModule(f"unknown {kind} {idx} in export {name!r}")
        if m.start is not None:
            ft = ctx.func(m.start)
            if ft.params or ft.results:
                raise InvalidModule("start function must take and return nothing")
        self.funcs = [compile_function(ctx, t, code)
                      for t, code in zip(m.funcs, m.codes, strict=True)]
        ng = self.nimp_globals
        self.global_inits = [compile_const(ctx, g.init, g.type, ng + i)
                             for i, g in enumerate(m.globals)]
        for g in m.globals:
            ctx.kind(g.type)
        self.table_inits = []
        for t in m.tables:
            _check_limits(t.limits, NO_MAX, "table")
            if t.init is None and not t.ref.nullable:
                raise InvalidModule("type mismatch: a table of non-nullable refs needs an "
                                    "initializer")
            self.table_inits.append(None if t.init is None else
                                    compile_const(ctx, t.init, t.ref, len(ctx.globals)))
        self.elem_items = []
        self.elem_offsets = []
        for e in m.elems:
            ctx.kind(e.ref)
            items = []
            for it in e.items:
                if isinstance(it, int):
                    ctx.func(it)
                    items.append(it)
                else:
                    items.append(compile_const(ctx, it, e.ref, len(ctx.globals)))
            self.elem_items.append(items)
            if e.mode == "active":
                tt = ctx.table(e.table)
                if not ctx.matches(ctx.resolve(e.ref), ctx.resolve(tt)):
                    raise InvalidModule("type mismatch: element segment and table types "
                                        "differ")
                self.elem_offsets.append(compile_const(ctx, e.offset, _I32, len(ctx.globals)))
            else:
                self.elem_offsets.append(None)
        self.data_offsets = []
        for d in m.datas:
            if d.mode == "active":
                ctx.memory(d.memory)
                self.data_offsets.append(compile_const(ctx, d.offset, _I32, len(ctx.globals)))
            else:
                self.data_offsets.append(None)

    def func_type(self, i):
        return self.ctx.func(i)

    def instantiate(self, imports: dict[tuple[str, str], Extern] | None = None) -> Instance:
        return Instance(self, imports or {})


def _check_limits(lim, cap, what):
    lo, hi = lim
    if lo > cap or (hi is not None and hi > cap):
        raise InvalidModule(f"{what} size must be at most {cap} "
                            f"{'pages' if what == 'memory' else 'elements'}")
    if hi is not None and lo > hi:
        raise InvalidModule("size minimum must not be greater than maximum")


class Instance:
    def __init__(self, module: Module, imports: dict[tuple[str, str], Extern]):
        self.module = module
        eng = module.engine
        store = eng.store
        m = module.m
        ctx = module.ctx
        etypes = module.types.shared_types
        self.exports: dict[str, Extern] = {}
        resolved = []
        for imp in m.imports:
            ext = imports.get((imp.module, imp.name))
            if ext is None:
                raise LinkError(f"unknown import {imp.module}.{imp.name}")
            if ext.kind != imp.kind:
                raise LinkError(f"incompatible import type for {imp.module}.{imp.name}: "
                                f"expected a {imp.kind}, got a {ext.kind}")
            _check_import(eng.registry, imp, ext, etypes)
            resolved.append(ext)
        funcs = [e.handle for e in resolved if e.kind == "func"]
        globs = [e.handle for e in resolved if e.kind == "global"]
        tabs = [e.handle for e in resolved if e.kind == "table"]
        mems = [e.handle for e in resolved if e.kind == "memory"]
        self.extern_of = {}
        nf = len(funcs) + len(module.funcs)
        inst = self.inst = store.new_instance(nf, len(ctx.globals), len(ctx.tables),
                                             len(m.elems), len(m.datas))
        for i, fid in enumerate(funcs):
            store.set_func(inst, i, fid)
        for cf in module.funcs:
            fid = store.add_function(cf.code, "".join(cf.param_kinds), cf.nresults,
                                     cf.nlocals, cf.max_height, cf.type_index, cf.maps, inst)
            store.set_func(inst, len(funcs), fid)
            funcs.append(fid)
        self.funcs = funcs
        for i, g in enumerate(globs):
            store.set_global(inst, i, g)
        if mems:
            store.set_memory(inst, mems[0])
        for i, t in enumerate(tabs):
            store.set_table(inst, i, t)
        # Globals, in order (an initializer may read the ones before it).
        for g, init in zip(m.globals, module.global_inits, strict=True):
            raw = self._eval(init)
            gp = store.new_global(ctx.kind(g.type) == "r", raw)
            store.set_global(inst, len(globs), gp)
            globs.append(gp)
        for i, t in enumerate(m.tables):
            init = module.table_inits[i]
            counted = ctx.kind(t.ref) == "r"
            hi = NO_MAX if t.limits[1] is None else t.limits[1]
            if init is None:
                tp = store.new_table(t.limits[0], hi, counted, 0)
            else:
                # The initializer's result is exposed, not counted: take the table's counts
                # before anything else can allocate.
                tp = store.new_table(t.limits[0], hi, counted, self._eval(init))
            store.set_table(inst, len(tabs), tp)
            tabs.append(tp)
        for lo, hi in m.memories:
            mp = store.new_memory(lo, 65536 if hi is None else hi)
            store.set_memory(inst, mp)
            mems.append(mp)
        self.globals, self.tables, self.memories = globs, tabs, mems
        for name, kind, idx in m.exports:
            if kind == "func":
                ext = Extern("func", funcs[idx], store.func_id_type(funcs[idx]))
            elif kind == "global":
                vt, mut = ctx.globals[idx]
                ext = Extern("global", globs[idx], (_resolve(vt, etypes), mut))
            elif kind == "table":
                tt = ctx.tables[idx]
                ext = Extern("table", tabs[idx], (_resolve(tt, etypes),
                                                  (store.table_size(tabs[idx]),
                                                   _max_or_none(store.table_max(tabs[idx])))))
            else:
                ext = Extern("memory", mems[idx], (store.memory_pages(mems[idx]),
                                                   _max_or_none(store.memory_max(mems[idx]),
                                                                65536)))
            self.exports[name] = ext
        # Element segments: items are counted as each is made, before the next may allocate.
        for i, (e, items) in enumerate(zip(m.elems, module.elem_items, strict=True)):
            store.set_elem(inst, i, len(items), ctx.kind(e.ref) == "r")
            for it in items:
                raw = store.func_ref(funcs[it]) if isinstance(it, int) else self._eval(it)
                store.elem_push(inst, i, raw)
        for i, d in enumerate(m.datas):
            store.set_data(inst, i, d.data)
        for i, e in enumerate(m.elems):
            if e.mode == "active":
                off = self._eval(module.elem_offsets[i])
                store.table_init(inst, e.table, i, off, 0, len(e.items))
            if e.mode != "passive":
                store.drop_elem(inst, i)
        for i, d in enumerate(m.datas):
            if d.mode == "active":
                off = self._eval(module.data_offsets[i])
                store.memory_write(mems[0], off, d.data)
                store.drop_data(inst, i)
        if m.start is not None:
            store.call(funcs[m.start], [])

    def _eval(self, cf) -> int:
        store = self.module.engine.store
        fid = store.add_function(cf.code, "", 1, 0, cf.max_height, 0xFFFFFFFF, cf.maps,
                                 self.inst)
        return store.call(fid, [])[0]

    def export(self, name: str) -> Extern:
        try:
            return self.exports[name]
        except KeyError:
            raise LinkError(f"unknown export {name!r}") from None

    def invoke(self, name: str, args) -> list[int]:
        """Call an exported function on raw argument slots; returns raw result slots."""
        ext = self.export(name)
        if ext.kind != "func":
            raise LinkError(f"export {name!r} is a {ext.kind}, not a function")
        return self.module.engine.store.call(ext.handle, list(args))

    def export_func_type(self, name: str) -> FuncType:
        ext = self.export(name)
        return self.module.engine.registry.get(ext.type).composite


def _max_or_none(v, none=NO_MAX):
    return None if v == none else v


_I32 = __import__("registry").I32


def _check_import(reg, imp, ext, etypes):
    what = f"incompatible import type for {imp.module}.{imp.name}"
    if imp.kind == "func":
        want = etypes[imp.desc]
        if not (ext.type == want or reg.is_subtype(ext.type, want)):
            raise LinkError(what)
    elif imp.kind == "global":
        vt, mut = imp.desc
        gvt, gmut = ext.type
        want = _resolve(vt, etypes)
        if mut != gmut:
            raise LinkError(what)
        if isinstance(want, RefType) != isinstance(gvt, RefType):
            raise LinkError(what)
        if isinstance(want, RefType):
            ok = reg.ref_matches(gvt, want) and (not mut or reg.ref_matches(want, gvt))
        else:
            ok = want is gvt
        if not ok:
            raise LinkError(what)
    elif imp.kind == "table":
        want = _resolve(imp.desc.ref, etypes)
        got, lim = ext.type
        if not (reg.ref_matches(got, want) and reg.ref_matches(want, got)):
            raise LinkError(what)
        _check_import_limits(imp.desc.limits, lim, what)
    elif imp.kind == "memory":
        _check_import_limits(imp.desc, ext.type, what)


def _check_import_limits(want, got, what):
    lo, hi = want
    glo, ghi = got
    if glo < lo:
        raise LinkError(what)
    if hi is not None and (ghi is None or ghi > hi):
        raise LinkError(what)


def f32_bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64_bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def spectest(engine: Engine) -> dict[tuple[str, str], Extern]:
    """The spec interpreter's `spectest` module: print functions, globals, a table and a
    memory."""
    from registry import F32, F64, I32, I64
    out = {}

    def noop(*args):
        return None

    for name, params in [("print", []), ("print_i32", [I32]), ("print_i64", [I64]),
                         ("print_f32", [F32]), ("print_f64", [F64]),
                         ("print_i32_f32", [I32, F32]), ("print_f64_f64", [F64, F64])]:
        out[("spectest", name)] = engine.host_function(noop, params, [])
    out[("spectest", "global_i32")] = engine.global_(I32, False, 666)
    out[("spectest", "global_i64")] = engine.global_(I64, False, 666)
    out[("spectest", "global_f32")] = engine.global_(F32, False, f32_bits(666.6))
    out[("spectest", "global_f64")] = engine.global_(F64, False, f64_bits(666.6))
    out[("spectest", "table")] = engine.table(RefType(FUNC), 10, 20)
    out[("spectest", "memory")] = engine.memory(1, 2)
    return out
