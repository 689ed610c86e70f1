"""The build variant and the compiled object layout."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import drc
import registry as R
from drc import Heap, build


def test_a_run_that_expects_the_other_variant_refuses_to_start(tmp_path):
    # conftest's guard: an env that installed the wrong variant must not report green.
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    shutil.copy(Path(__file__).parent / "conftest.py", tmp_path / "conftest.py")
    env = {**os.environ, "DRC_EXPECT_ZEAL": "0" if drc.ZEAL else "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path)], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert f"reports ZEAL={drc.ZEAL}" in proc.stderr
    env["DRC_EXPECT_ZEAL"] = "1" if drc.ZEAL else "0"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path)], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_zeal_flag_says_what_the_compiled_heap_does(reg):
    # drc.ZEAL comes from drc.build, the heap from another extension module: a mixed or
    # stale build would let them disagree. Only the zeal heap poisons freed memory and
    # forces collections.
    t = reg.register_type(R.SubType(R.StructType([R.FieldType(R.I32, True)] * 4)))
    heap = Heap(reg)
    a = heap.struct_new(t.index, [0x01020304] * 4)
    after = heap.struct_new(t.index, [0] * 4)           # so the freed block stays a block
    raw = a.raw
    a.close()
    with memoryview(heap) as m:
        payload = bytes(m[raw + 24:raw + 40])
    assert (payload == bytes([build.POISON]) * 16) is drc.ZEAL, payload.hex()
    if drc.ZEAL:
        heap.set_zeal_collect_every(2)
    else:
        with pytest.raises(RuntimeError, match="gc_zeal build"):
            heap.set_zeal_collect_every(2)
    after.close()
    heap.close()
    t.close()


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


COMMANDS = ("info", "types", "bench", "fuzz")


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "drc", "--help"], capture_output=True,
                         text=True, check=True).stdout
    # Each command on its own line with its summary, and each has its own --help.
    listed = re.findall(r"^ {4}(\w+) +\S", out, re.MULTILINE)
    assert listed == list(COMMANDS), out
    for command in COMMANDS:
        proc = subprocess.run([sys.executable, "-m", "drc", command, "--help"],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"usage: python -m drc {command}"), proc.stdout


def test_cli_without_command_fails_with_usage():
    proc = subprocess.run([sys.executable, "-m", "drc"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "usage:" in proc.stdout


def test_version_comes_from_the_drc_heap_distribution():
    # The import package is `drc`; the distribution is `drc-heap` (`drc` on PyPI is another
    # project). A wrong name in __init__ would leave __version__ at its fallback.
    from importlib.metadata import version

    assert drc.__version__ == version("drc-heap") != "0+unknown"
