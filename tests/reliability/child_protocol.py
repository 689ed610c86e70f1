"""The protocol of the child-process sweeps (sweep_child.py, surface_child.py): the child
prints `START case` before each call and `OK case` or `BAD case: why` after it, so a crash or a
hang names the case that was running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_child(script: Path, *args: str, timeout: float, env=None):
    """(stdout, return code or None on a timeout, stderr or "timeout")."""
    try:
        proc = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                              text=True, timeout=timeout, env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return out, None, "timeout"
    return proc.stdout, proc.returncode, proc.stderr


def verdicts(stdout: str):
    """(cases started in order, cases that passed, failure lines)."""
    started, ok, bad = [], set(), []
    for line in stdout.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "START":
            started.append(rest)
        elif kind == "OK":
            ok.add(rest)
        elif kind == "BAD":
            bad.append(rest)
    return started, ok, bad
