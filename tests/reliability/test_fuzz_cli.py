"""`python -m drc fuzz`: a clean run exits 0 with its figures; a failure prints the seed,
shrinks, writes a reproducer that fails on its own and exits 1; release builds refuse."""

from __future__ import annotations

import subprocess
import sys

import pytest

import drc
from drc.cli import main
from drc.fuzz import model


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "drc", "fuzz", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.zeal
def test_a_short_campaign_passes_and_reports_its_figures():
    p = run_cli("--ops", "600", "--seed", "11", "--ops-per-run", "300", "--quiet")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "seed 11" in p.stdout and "OK: 600 ops in 2 runs" in p.stdout
    assert "ops/s" in p.stdout


@pytest.mark.release
def test_release_builds_refuse_unless_allowed():
    p = run_cli("--ops", "50", "--seed", "1", "--quiet")
    assert p.returncode == 2 and "RELEASE build" in p.stderr
    assert "pip install . -Csetup-args=-Dgc_zeal=true" in p.stderr
    p = run_cli("--ops", "50", "--seed", "1", "--quiet", "--allow-release")
    assert p.returncode == 0 and "RELEASE build" in p.stderr, p.stdout + p.stderr


def test_help_describes_the_command():
    p = run_cli("--help")
    assert p.returncode == 0
    assert "reference model" in p.stdout and "-Dgc_zeal=true" in p.stdout


def test_a_failure_is_shrunk_and_written_as_a_reproducer(tmp_path, monkeypatch, capsys):
    # Plant a bug in the model: cloning a handle of an array "fails".
    def broken_clone(self, a, b, c):
        h, oid = self._handle(a)
        if h is not None and self.objs[oid].kind == "arr":
            self._check(False, "planted failure")
        if h is not None:
            self.handles.append((h.clone(), oid))

    monkeypatch.setattr(model.Executor, "op_clone", broken_clone)
    monkeypatch.chdir(tmp_path)
    args = ["fuzz", "--ops", "400", "--ops-per-run", "400", "--seed", "5", "--quiet",
            "--shrink-seconds", "300"]
    if not drc.ZEAL:
        args.append("--allow-release")
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "FAILED at seed" in out and "planted failure" in out
    assert "shortest failing sequence found: 2 ops" in out      # an array, then a clone
    (repro,) = tmp_path.glob("fuzz-repro-*.py")
    source = repro.read_text()
    assert "OPS = [" in source and ("new_array" in source or "new_fixed" in source)
    # The reproducer fails on its own only while the bug is there: here, in this process.
    namespace: dict = {"__name__": "repro"}
    exec(compile(source, str(repro), "exec"), namespace)
    assert model.run_ops(namespace["OPS"], namespace["CONFIG"]).failure is not None
    monkeypatch.undo()
    assert model.run_ops(namespace["OPS"], namespace["CONFIG"]).failure is None
