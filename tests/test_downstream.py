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
    if not (Path(drc.__file__).parent / "includes" / "drc_config.h").exists():
        pytest.skip("drc is not a regular install (editable installs cannot be cimported)")
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
