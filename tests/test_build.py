"""The build variant and the compiled object layout."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import drc
from drc import build


def test_variant_matches_the_env():
    expected = os.environ.get("DRC_EXPECT_ZEAL")
    if expected is None:
        pytest.skip("not run by tox: no expected variant")
    assert drc.ZEAL is (expected == "1")


def test_zeal_is_a_bool_from_the_compiled_module():
    assert type(drc.ZEAL) is bool
    assert drc.ZEAL is build.ZEAL
    assert build.info()["variant"] == ("gc_zeal" if drc.ZEAL else "release")


def test_installed_config_header_agrees_with_the_module():
    # drc.get_include() finds it in an installed package and in an editable install's build dir.
    header = Path(drc.get_include()) / "drc" / "includes" / "drc_config.h"
    text = header.read_text()
    assert f"#define GC_ZEAL {int(drc.ZEAL)}" in text


def test_header_layout_matches_the_design():
    assert build.HEADER_LAYOUT == {
        "size": 24,
        "kind_bits": 0,
        "type_index": 4,
        "ref_count": 8,
        "next_oasr": 16,
        "object_size": 20,
        "array_length": 24,
        "externref_host_data_id": 24,
        "externref_size": 32,
    }


def test_poison_word_never_decodes_as_a_kind():
    kinds = {0x40000000, 0x80000000, 0xA0000000, 0xA8000000, 0xB0000000, 0x04000000}
    word = int.from_bytes(bytes([build.POISON]) * 4, "little")
    assert word & 0xFC000000 not in kinds


def test_errors_derive_from_builtins():
    assert issubclass(drc.InvalidRefError, ValueError)
    assert issubclass(drc.HeapCorruptionError, RuntimeError)
    assert issubclass(drc.OutOfHeapError, MemoryError)
    assert issubclass(drc.NoGcScopeError, RuntimeError)
    for err in (drc.InvalidRefError, drc.HeapCorruptionError, drc.OutOfHeapError,
                drc.NoGcScopeError):
        assert issubclass(err, drc.DrcError)


def test_cli_info_reports_the_variant():
    out = subprocess.run([sys.executable, "-m", "drc", "info"], capture_output=True, text=True,
                         check=True).stdout
    assert ("gc_zeal build" if drc.ZEAL else "release build") in out
    assert "object header: 24 bytes" in out
    assert "ref_count    at offset 8" in out


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "drc", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "info" in out


def test_cli_without_command_fails_with_usage():
    proc = subprocess.run([sys.executable, "-m", "drc"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "usage:" in proc.stdout


def test_version_comes_from_the_drc_heap_distribution():
    # The import package is `drc`; the distribution is `drc-heap` (`drc` on PyPI is another
    # project). A wrong name in __init__ would leave __version__ at its fallback.
    from importlib.metadata import version

    assert drc.__version__ == version("drc-heap") != "0+unknown"
