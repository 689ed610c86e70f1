"""The C-level contract (registry.pxd / typeinfo.pxd), from a downstream extension."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import registry

HERE = Path(__file__).parent / "downstream"


@pytest.fixture(scope="module")
def regdown(tmp_path_factory):
    pkg = Path(registry.__file__).parent
    if not (pkg / "registry.pxd").exists():
        pytest.skip("registry is not a regular install (editable installs cannot be cimported)")
    if shutil.which("meson") is None and importlib.util.find_spec("mesonbuild") is None:
        pytest.skip("meson is not installed")
    src = tmp_path_factory.mktemp("regdown-src")
    for f in HERE.iterdir():
        shutil.copy(f, src)
    (src / "native.ini").write_text(f"[binaries]\npython = '{sys.executable}'\n")
    build = src / "build"
    meson = [sys.executable, "-m", "mesonbuild.mesonmain"]
    # The interpreter's own scripts dir first, so meson finds the cython installed beside it
    # even when the venv is not activated.
    env = {**os.environ,
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    proc = subprocess.run([*meson, "setup", str(build), "--buildtype=release",
                           f"--native-file={src / 'native.ini'}"], cwd=src, capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([*meson, "compile", "-C", str(build)], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sys.path.insert(0, str(build))
    try:
        import regdown
    finally:
        sys.path.remove(str(build))
    return regdown


def test_records(regdown):
    from registry import (
        ANY,
        FUNC,
        I8,
        I64,
        ArrayType,
        FieldType,
        FuncType,
        RefType,
        StructType,
        SubType,
        TypeRegistry,
    )

    reg = TypeRegistry()
    c = reg.register_module([
        SubType(StructType([FieldType(I8), FieldType(RefType(ANY), mutable=True)]), final=False),
        SubType(StructType([FieldType(I8), FieldType(RefType(ANY), mutable=True),
                            FieldType(I64), FieldType(RefType(0, nullable=False))]),
                supertype=0),
        SubType(ArrayType(FieldType(RefType(1)))),
        SubType(FuncType([RefType(1)], [RefType(FUNC)])),
    ])
    s0, s1, arr, fn = c.shared_types
    r0, r1 = regdown.record(reg, s0), regdown.record(reg, s1)
    assert r0["display"] == [s0] and r0["depth"] == 0 and r0["is_final"] == 0
    assert r1["display"] == [s0, s1] and r1["depth"] == 1 and r1["is_final"] == 1
    assert (r1["size"], r1["align"], r1["nfields"]) == (48, 8, 4)
    # (offset, size, storage, mutable, ref_heap, ref_nullable, is_gc_ref)
    assert r1["fields"] == [(24, 1, 1, 0, 0, 0, 0), (28, 4, 8, 1, ANY.code, 1, 1),
                            (32, 8, 4, 0, 0, 0, 0), (40, 4, 8, 0, s0, 0, 1)]
    assert r1["gc_ref_offsets"] == [28, 40] and r1["n_gc_refs"] == 2
    ra = regdown.record(reg, arr)
    assert (ra["kind"], ra["size"], ra["align"], ra["elem_size"], ra["elems_are_gc_refs"]) == (
        2, 28, 8, 4, 1)
    assert ra["fields"] == [(0, 4, 8, 0, s1, 1, 1)] and ra["gc_ref_offsets"] is None
    rf = regdown.record(reg, fn)
    assert rf["kind"] == 3 and rf["nfields"] == 0 and rf["trampoline"] == reg.trampoline_type(fn)
    assert r0["trampoline"] == regdown.none_code()[0]
    assert regdown.is_subtype(reg, s1, s0) and not regdown.is_subtype(reg, s0, s1)
    assert regdown.is_subtype(reg, arr, arr)
    c.close()
    assert regdown.record(reg, s0) is None and not regdown.is_subtype(reg, s0, s0)
    assert regdown.record(reg, 2**32 - 1) is None


def test_c_is_subtype_loops_from_another_extension(regdown):
    # The nogil loops an embedder writes, through the vtable and through the inline form;
    # their cost is measured by benchmarks/bench_c_level.py.
    from registry import I32, FieldType, StructType, SubType, TypeRegistry

    reg = TypeRegistry()
    groups, fields = [], []
    for k in range(8):
        fields = fields + [FieldType(I32)]
        groups.append(SubType(StructType(fields), final=False, supertype=k - 1 if k else None))
    c = reg.register_module(groups)
    deep, root, middle = c.shared_type(7), c.shared_type(0), c.shared_type(3)
    for count in (regdown.count_c_is_subtype, regdown.count_inline_is_subtype):
        assert count(reg, deep, root, 10_000) == 10_000
        assert count(reg, deep, middle, 10_000) == 10_000
        assert count(reg, root, deep, 10_000) == 0
        assert count(reg, middle, deep, 10_000) == 0
        assert count(reg, deep, 2**32 - 1, 10) == 0
    c.close()
    for count in (regdown.count_c_is_subtype, regdown.count_inline_is_subtype):
        assert count(reg, deep, root, 10) == 0              # unregistered: never a subtype


def test_c_register_wasm_from_another_extension(regdown):
    from registry import (
        I32,
        FieldType,
        InvalidTypeError,
        MalformedWasmError,
        StructType,
        SubType,
        TypeRegistry,
        encode_module,
    )

    chain = [SubType(StructType([FieldType(I32)] * (k + 1)), final=False,
                     supertype=k - 1 if k else None) for k in range(8)]
    wasm = encode_module(chain)
    reg = TypeRegistry()
    with reg.register_module(chain) as py:
        # Eight singleton groups: the first is held by py and by the second's supertype.
        assert reg.registration_count(py.shared_type(0)) == 2
        c, indices, n = regdown.register_bytes(reg, wasm)
        assert n == 8 and tuple(indices) == py.shared_types == c.shared_types
        assert regdown.record(reg, indices[7])["display"] == indices
        assert reg.registration_count(indices[0]) == 3
        assert regdown.close_twice(c) and reg.registration_count(indices[0]) == 2
    assert len(reg) == 0
    assert regdown.churn(reg, wasm, 1000) == 16_000 and len(reg) == 0
    with pytest.raises(MalformedWasmError, match="runs past the end"):
        regdown.register_bytes(reg, wasm[:-3])
    bad = encode_module([SubType(StructType(), final=True), SubType(StructType(), supertype=0)])
    with pytest.raises(InvalidTypeError, match="final"):
        regdown.register_bytes(reg, bad)
    with pytest.raises(ValueError, match="no data"):
        regdown.register_null(reg, 8)
    with pytest.raises(MalformedWasmError):
        regdown.register_null(reg, 0)
    assert len(reg) == 0
    reg.verify()
