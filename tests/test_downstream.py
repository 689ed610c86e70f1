"""Build a downstream Cython extension against the installed package, as an embedder would."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import drc

HERE = Path(__file__).parent / "downstream"


@pytest.fixture(scope="module")
def downstream(tmp_path_factory):
    if shutil.which("meson") is None and not _module_available("mesonbuild"):
        pytest.skip("meson is not installed")
    src = tmp_path_factory.mktemp("downstream-src")
    for f in HERE.iterdir():
        shutil.copy(f, src)
    build = src / "build"
    meson = [sys.executable, "-m", "mesonbuild.mesonmain"]
    subprocess.run([*meson, "setup", str(build), "--buildtype=release",
                    f"--native-file={_native_file(src)}"],
                   cwd=src, check=True, capture_output=True, text=True)
    proc = subprocess.run([*meson, "compile", "-C", str(build)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return build


def _module_available(name: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(name) is not None


def _native_file(where: Path) -> Path:
    # Pin meson to this interpreter, so the extension is built for the Python under test.
    path = where / "native.ini"
    path.write_text(f"[binaries]\npython = '{sys.executable}'\n")
    return path


def _run(build: Path, code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], cwd=build, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_downstream_sees_the_installed_variant(downstream):
    assert _run(downstream, "import downstream; print(downstream.ZEAL)") == str(drc.ZEAL)


def test_downstream_header_and_inline_accessors(downstream):
    out = _run(downstream, "import downstream as d; print(d.header_size(), "
                           "d.registry_header_size(), d.i31_roundtrip(-5), d.struct_is_eq(), "
                           "d.display_subtype())")
    assert out == "24 24 (True, -5) (True, False) (True, False)"


_HEAP_SETUP = """
import downstream as d, registry as R, drc
reg = R.TypeRegistry()
coll = reg.register_module([R.RecGroup([R.SubType(R.StructType([
    R.FieldType(R.RefType(0, True), True), R.FieldType(R.RefType(0, True), True)]))])])
node = coll.shared_type(0)
s64 = reg.register_type(R.SubType(R.StructType([R.FieldType(R.I32, True),
                                                R.FieldType(R.I64, True)])))
i32s = reg.register_type(R.SubType(R.ArrayType(R.FieldType(R.I32, True))))
h = drc.Heap(reg)
"""


def test_downstream_allocates_and_uses_barriers(downstream):
    out = _run(downstream, _HEAP_SETUP + """
a, b = d.pair(h, node)
ga, gb = h.from_raw(a), h.from_raw(b)
assert h.ref_count(ga) == 3            # C caller + b.left + ga
assert h.struct_get(gb, 0) == ga
left = d.read_left(h, b, node)         # owned by the caller
assert left == a and h.ref_count(ga) == 4
d.release(h, left)
d.set_left(h, b, node, 0)              # barrier drops the field's count
assert h.ref_count(ga) == 2
d.retain(h, a); d.release(h, a)
d.release(h, a); d.release(h, b)       # the C caller's counts
assert h.ref_count(ga) == 1 and h.ref_count(gb) == 1
del ga, gb
assert h.stats()["live_objects"] == 0 and h.stats()["pending_frees"] == 0
s, x, y = d.scalar_roundtrip(h, s64.index)
g = h.from_raw(s); d.release(h, s)
assert (x, y) == (-7, 1 << 40) and h.struct_get(g, 0) == -7 and h.struct_get(g, 1) == 1 << 40
arr = h.array_new_fixed(i32s.index, [5, 6, 7])
assert d.array_elems(h, arr.raw) == [5, 6, 7]
n, checked = d.binary_trees(h, node, 6)
# stretch tree (depth 7) 255 + long-lived (depth 6) 127 + 64 x 31 (depth 4) + 16 x 127 (depth 6)
assert n == checked == 255 + 127 + 64 * 31 + 16 * 127
before = h.stats()
d.alloc_free_loop(h, node, 1000)
after = h.stats()
assert after["objects_allocated"] - before["objects_allocated"] == 1000
assert after["live_objects"] == before["live_objects"]
holder, a1, b1 = d.barrier_loop(h, node, 1001)       # the last store (i = 1000) was b1
gh, ga1, gb1 = h.from_raw(holder), h.from_raw(a1), h.from_raw(b1)
assert h.struct_get(gh, 0) == gb1
assert h.ref_count(gb1) == 3 and h.ref_count(ga1) == 2   # caller + handle (+ holder.left)
for raw in (holder, a1, b1):
    d.release(h, raw)
del gh, ga1, gb1
del g, arr
h.verify()
# C-level drops leave small dead objects pending (heap.pxd, "Pending frees") until finished.
h.finish_pending()
h.verify()
assert h.stats()["live_objects"] == 0 and h.stats()["pending_frees"] == 0
print("ok")
""")
    assert out == "ok"


def test_downstream_reuse_and_lazy_cascades(downstream):
    out = _run(downstream, """
import downstream as d, drc, registry as R
reg = R.TypeRegistry()
types = reg.register_module([
    R.SubType(R.StructType([R.FieldType(R.RefType(0, True), mutable=True)] * 2)),
    R.SubType(R.StructType([R.FieldType(R.RefType(R.EXTERN, True), mutable=True),
                            R.FieldType(R.RefType(R.EXTERN, True), mutable=True)])),
    R.SubType(R.ArrayType(R.FieldType(R.RefType(0, True), mutable=True))),
])
node, holder, nodes = (types.shared_type(i) for i in range(3))
h = drc.Heap(reg)

# new_struct reuses the newest pending block of its type: a shared child loses one count, a
# child at its last count waits in turn.
shared = h.struct_new(node, (None, None))
tree = h.struct_new(node, (h.struct_new(node, (None, None)), shared))
raw = tree.raw
h._drop_deferred(tree)
assert h.stats()["pending_frees"] == 1
fresh = d.new_raw(h, node)
assert fresh == raw and h.struct_get(h.from_raw(fresh), 0) is None
assert h.ref_count(shared) == 1 and h.stats()["pending_frees"] == 1
h.verify()

# A child that cannot wait (an externref at its last count) is freed during the reuse; its
# payload is released only once the block is an object again, so its finalizer finds the
# heap consistent.
seen = []
class Payload:
    def __del__(self):
        h.verify()
        seen.append(h.stats()["host_data_live"])
box = h.struct_new(holder, (h.externref_new(Payload()), h.externref_new("kept")))
kept = h.struct_get(box, 1)
raw = box.raw
h._drop_deferred(box)
again = d.new_raw(h, holder)
assert again == raw and seen == [1]
assert h.ref_count(kept) == 1
h.verify()

# A C-level drop of a big ref array frees the array now; the small children it kills wait.
arr = h.array_new(nodes, 300, None)
for i in range(300):
    h.array_set(arr, i, h.struct_new(node, (None, None)))
before = h.stats()["pending_frees"]
h._drop_deferred(arr)
assert h.stats()["pending_frees"] == before + 300
h.verify()
# The same drop from Python stays eager (the allocations here reuse what waits).
arr = h.array_new(nodes, 300, None)
for i in range(300):
    h.array_set(arr, i, h.struct_new(node, (None, None)))
before = h.stats()["pending_frees"]
live = h.stats()["live_objects"]
del arr
assert h.stats()["pending_frees"] == before and h.stats()["live_objects"] == live - 301
for r in (fresh, again):
    d.release(h, r)
del shared, kept
h.finish_pending()
h.verify()
assert h.stats()["live_objects"] == 0 and h.stats()["pending_frees"] == 0
print("ok")
""")
    assert out == "ok"


@pytest.mark.zeal
def test_downstream_zeal_checks_c_level_preconditions(downstream):
    out = _run(downstream, _HEAP_SETUP + """
a, b = d.pair(h, node)
for bad in (a + 8, 1 << 20):
    try:
        d.release(h, bad)
    except drc.InvalidRefError as e:
        assert hex(bad) in str(e), e
    else:
        raise AssertionError("release of a non-object was accepted")
d.release(h, a)                        # a now lives through b.left only
try:
    d.release(h, a)                    # drops a count nobody outside the heap holds
except drc.HeapCorruptionError as e:
    assert str(a) in str(e), e
else:
    raise AssertionError("over-release was accepted")
h.verify()
d.release(h, b)                        # b waits on a pending list, a hangs off it
assert h.stats()["pending_frees"] == 1
h.verify()
h.finish_pending()
assert h.stats()["live_objects"] == 0
print("ok")
""")
    assert out == "ok"


def test_downstream_collects_with_raw_roots(downstream):
    out = _run(downstream, _HEAP_SETUP + """
kept = d.guest_collect(h, node, 100, 10)
assert len(kept) == 10
s = h.stats()
assert s["collections"] == 1 and s["oasr_len"] == 10 and s["live_objects"] == 10
for raw in kept:
    assert h.ref_count(h.from_raw(raw)) == 2        # the list + the temporary handle
before = h.stats()
try:
    d.collect_with(h, kept + [kept[0] + 16 * 1000])
except drc.InvalidRefError:
    pass
else:
    raise AssertionError("a root that is not an object was accepted")
assert h.stats() == before
try:
    d.no_gc_then_collect(h)
except drc.NoGcScopeError:
    pass
else:
    raise AssertionError("collect_raw ran inside a no-GC scope")
d.collect_with(h, [])
assert h.stats()["live_objects"] == 0 and h.stats()["oasr_len"] == 0
h.verify()
print("ok")
""")
    assert out == "ok"


def test_downstream_cycle_pass_keeps_what_c_holds(downstream):
    out = _run(downstream, _HEAP_SETUP + """
print(d.c_count_keeps_a_cycle(h, node), h.stats()["cycle_passes"])
h.verify()
""")
    assert out == "[2, 2, 0] 2"


def test_get_include_holds_everything_a_downstream_build_needs():
    import registry

    inc = Path(drc.get_include())
    for rel in ("drc/heap.pxd", "drc/header.pxd", "drc/includes/zeal.pxd",
                "drc/includes/zeal.h", "registry/registry.pxd", "registry/typeinfo.pxd"):
        assert (inc / rel).is_file(), rel
    config = (inc / "drc" / "includes" / "drc_config.h").read_text()
    assert f"#define GC_ZEAL {int(drc.ZEAL)}" in config
    # registry's own include directory serves extensions that cimport only registry.
    assert (Path(registry.get_include()) / "registry" / "registry.pxd").is_file()
    if not _editable():
        assert registry.get_include() == str(inc)


def _editable() -> bool:
    return not (Path(drc.__file__).parent / "includes" / "drc_config.h").is_file()


@pytest.mark.skipif(not _editable(), reason="only an editable install links an include tree")
def test_editable_include_tree_follows_the_sources():
    inc = Path(drc.get_include())
    heap_pxd = inc / "drc" / "heap.pxd"
    assert heap_pxd.resolve() == (Path(drc.__file__).parent / "heap.pxd").resolve()
    # A link that no longer matches a source file is removed on the next call.
    stale = inc / "drc" / "gone.pxd"
    stale.symlink_to(inc / "drc" / "no-such-file.pxd")
    assert Path(drc.get_include()) == inc
    assert not stale.is_symlink()


_FUNC_SETUP = _HEAP_SETUP + """
f0 = reg.register_type(R.SubType(R.FuncType([R.I32], []), final=False))
f1 = reg.register_type(R.SubType(R.FuncType([R.I32], []), supertype=f0.index))
g = reg.register_type(R.SubType(R.FuncType([], [])))
vt = reg.register_type(R.SubType(R.StructType([R.FieldType(R.RefType(f0.index), True),
                                               R.FieldType(R.RefType(R.ANY), True)])))
farr = reg.register_type(R.SubType(R.ArrayType(R.FieldType(R.RefType(f0.index), True))))
anyarr = reg.register_type(R.SubType(R.ArrayType(R.FieldType(R.RefType(R.ANY), True))))
i16s = reg.register_type(R.SubType(R.ArrayType(R.FieldType(R.I16, True))))
"""


def test_downstream_funcrefs_and_bulk_init(downstream):
    out = _run(downstream, _FUNC_SETUP + """
a = d.funcref_intern(h, f1.index, 0xDEAD0)
assert d.funcref_intern(h, f1.index, 0xDEAD0) == a        # interned (a second pin)
d.funcref_unpin(h, a)
b = d.funcref_intern(h, g.index, 7)
assert a != b and d.funcref_info(h, a) == (True, f1.index, 0xDEAD0)
assert d.funcref_fits(h, a, f0.index) and not d.funcref_fits(h, b, f0.index)
assert d.is_funcref_field(h, vt.index, 0) and not d.is_funcref_field(h, vt.index, 1)
obj = h.struct_new(vt.index, (None, None))
d.store_func(h, obj.raw, vt.index, 0, a)
assert d.load_func(h, obj.raw, vt.index, 0) == a
fa = h.struct_get(obj, 0)                                # the Python view of a C entry
assert fa.type_index == f1.index and fa.target == 0xDEAD0 and fa.raw == a
assert h.ref_count(obj) == 1                             # funcrefs are not counted
del fa
d.funcref_unpin(h, a)
d.funcref_unpin(h, b)
assert h.reclaim_funcrefs() == 1                         # b: nothing holds it any more
assert d.funcref_info(h, b) == (False, None, None)       # a stale id is refused
assert d.funcref_info(h, a)[0]                           # a lives in obj's field
d.store_func(h, obj.raw, vt.index, 0, 0)
assert h.reclaim_funcrefs() == 1 and h.stats()["funcrefs_live"] == 0
c0 = d.funcref_intern(h, g.index, 1)
d.funcref_unpin(h, c0)
try:
    d.funcref_unpin(h, c0)                               # every build refuses this one
except drc.InvalidRefError as e:
    assert "unpinned more often" in str(e), e
else:
    raise AssertionError("over-unpin was accepted")
# array.new_data / array.init_data / array.new_elem / array.init_elem from C
arr = h.array_new(i16s.index, 4)
d.init_bytes(h, arr.raw, 1, bytes([1, 0, 0xFF, 0xFF, 3, 0]), 3)
assert [h.array_get(arr, i, signed=True) for i in range(4)] == [0, 1, -1, 3]
d.init_bytes(h, arr.raw, 4, b"", 0)
c = d.funcref_intern(h, f0.index, 1)
e = d.new_elem(h, farr.index, [c, 0, c])
ge = h.from_raw(e); d.release(h, e)
assert [x and x.raw for x in (h.array_get(ge, i) for i in range(3))] == [c, None, c]
d.funcref_unpin(h, c)
x = h.struct_new(s64.index, (1, 2))
ax = h.array_new(anyarr.index, 3)
d.init_refs(h, ax.raw, 0, [x.raw, 0, x.raw])
assert h.ref_count(x) == 3                               # counted, the caller kept its own
d.init_refs(h, ax.raw, 1, [x.raw, 0])
assert h.ref_count(x) == 3 and h.array_get(ax, 1) == x and h.array_get(ax, 2) is None
d.init_refs(h, ax.raw, 0, [0])
assert h.ref_count(x) == 2
# An element whose last count was the array's is given up as C-level drops give it up: a small
# struct waits on a pending list (heap.pxd, "Pending frees"), an externref is freed at once.
y = h.struct_new(s64.index, (3, 4))
d.init_refs(h, ax.raw, 2, [y.raw])
del y
freed = h.stats()["objects_freed"]
d.init_refs(h, ax.raw, 2, [0])
assert h.stats()["pending_frees"] == 1 and h.stats()["objects_freed"] == freed
h.verify()
h.finish_pending()
assert h.stats()["pending_frees"] == 0 and h.stats()["objects_freed"] == freed + 1
ext = h.externref_new([])
d.init_refs(h, ax.raw, 2, [ext.raw])
del ext
d.init_refs(h, ax.raw, 2, [0])
assert h.stats()["pending_frees"] == 0 and h.stats()["objects_freed"] == freed + 2
del obj, arr, ge, x, ax
h.verify()
assert h.stats()["live_objects"] == 0
assert h.reclaim_funcrefs() == 2 and h.stats()["funcrefs_live"] == 0
print("ok")
""")
    assert out == "ok"


@pytest.mark.zeal
def test_downstream_zeal_checks_funcref_and_bulk_preconditions(downstream):
    out = _run(downstream, _FUNC_SETUP + """
def refused(fn, *args, exc=(drc.InvalidRefError,), what=""):
    try:
        fn(*args)
    except exc as e:
        assert what in str(e), e
    else:
        raise AssertionError(f"{fn.__name__}{args} was accepted")

a = d.funcref_intern(h, f1.index, 1)
b = d.funcref_intern(h, g.index, 2)
obj = h.struct_new(vt.index, (None, None))
refused(d.store_func, h, obj.raw, vt.index, 0, 12345, what="not an id")      # forged
refused(d.store_func, h, obj.raw, vt.index, 0, b, exc=TypeError)            # wrong type
refused(d.store_func, h, obj.raw, vt.index, 1, a, exc=IndexError)           # not a funcref slot
d.funcref_unpin(h, b)
h.reclaim_funcrefs()
refused(d.store_func, h, obj.raw, vt.index, 0, b, what="stale")             # reclaimed
refused(d.funcref_pin, h, b, what="stale")
refused(d.funcref_type_of, h, b, what="stale")
refused(d.funcref_fits, h, b, f0.index, what="stale")
refused(d.funcref_type_of, h, 0, what="null")
refused(d.funcref_unpin, h, 0, what="null")
arr = h.array_new(i16s.index, 4)
refused(d.init_bytes, h, arr.raw, 3, bytes(4), 2, exc=IndexError)
refused(d.init_bytes, h, obj.raw, 0, bytes(2), 1)                            # not an array
fa = h.array_new(farr.index, 2)
refused(d.init_bytes, h, fa.raw, 0, bytes(4), 1, exc=TypeError)              # ref elements
refused(d.init_refs, h, arr.raw, 0, [0], exc=TypeError)                      # scalar elements
refused(d.init_refs, h, fa.raw, 1, [a, a], exc=IndexError)
refused(d.init_refs, h, fa.raw, 0, [b])
ax = h.array_new(anyarr.index, 2)
refused(d.init_refs, h, ax.raw, 0, [obj.raw + 8])
refused(d.init_refs, h, ax.raw, 0, [16 * 999])
assert h.ref_count(obj) == 1 and h.array_get(ax, 0) is None
d.funcref_unpin(h, a)
del obj, arr, fa, ax
h.verify()
print("ok")
""")
    assert out == "ok"
