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
assert h.stats()["live_objects"] == 0
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
assert h.stats()["live_objects"] == 0
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
d.release(h, b)
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
