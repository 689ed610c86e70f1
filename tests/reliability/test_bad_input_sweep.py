"""Every public entry point of `drc` and `registry` called with wrong types, out-of-range
values, dead refs, refs from another heap, closed heaps and collections, huge sizes and
malformed .wasm bytes (the cases live in sweep_child.py). The cases run in child processes,
several batches in parallel-free sequence, so a crash or a hang is caught and names its case;
each case must raise the expected exception and leave the heap and registry unchanged
(``verify()``, stats, counts, field values, ``len(registry)``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from child_protocol import run_child, verdicts

CHILD = Path(__file__).with_name("sweep_child.py")
BATCHES = 3


def run_batch(batch: int, nbatches: int, timeout: float = 120.0, env=None):
    return run_child(CHILD, str(batch), str(nbatches), timeout=timeout, env=env)


def case_count() -> int:
    out = subprocess.run([sys.executable, str(CHILD), "--count"], capture_output=True,
                         text=True, check=True).stdout
    return int(out)


def test_the_sweep_is_broad():
    assert case_count() >= 200


@pytest.mark.parametrize("batch", range(BATCHES))
def test_bad_inputs_raise_and_change_nothing(batch):
    stdout, rc, stderr = run_batch(batch, BATCHES)
    started, ok, bad = verdicts(stdout)
    if rc != 0:
        last = started[-1] if started else "(before the first case)"
        pytest.fail(f"the sweep child died ({'hang' if rc is None else f'exit {rc}'}) in "
                    f"case {last!r}\n{stderr[-3000:]}")
    assert not bad, "\n".join(bad)
    assert len(ok) == len(started) > 0


@pytest.mark.parametrize("code,what", [
    ("__import__('ctypes').string_at(0)", "exit -11"),
    ("__import__('time').sleep(60)", "hang"),
])
def test_a_crash_or_hang_names_its_case(code, what):
    stdout, rc, _ = run_batch(0, 1000, timeout=4.0, env={"DRC_SWEEP_EXTRA_CASE": code})
    started, ok, _ = verdicts(stdout)
    assert started and started[-1] == "planted" and "planted" not in ok
    assert (rc is None) if what == "hang" else (rc not in (0, None))
