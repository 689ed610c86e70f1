"""benchmarks/policy_ratio_estimators.py: the estimators guest-churn's ratio was chosen among."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "policy_ratio_estimators.py"


def _rule(seconds, collections):
    return [{"seconds": s, "collections": collections, "capacity": 65536, "gc_seconds": 0.0}
            for s in seconds]


def _run(tmp_path, records):
    path = tmp_path / "churn.json"
    path.write_text(json.dumps({"records": records}))
    return subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True,
                          text=True, timeout=60)


def test_a_slow_spell_on_one_rule_misses_by_medians_but_not_by_pairs(tmp_path):
    # Pairs 1-3 ran in a slow spell that made both runs of each pair 1.5x slower; by the
    # pairs the adaptive rule is 1.1x faster throughout, by the medians it loses.
    adaptive = [1.0, 1.5, 1.5, 1.5, 1.0]
    wasmtime = [1.1, 1.65, 1.65, 1.65, 1.1]
    runs = {"adaptive": _rule(adaptive, 50), "wasmtime": _rule(wasmtime, 400)}
    # The spell covers the adaptive runs of pairs 1-3 but only the first of those Wasmtime
    # runs: the former estimator sees adaptive's median in the spell, Wasmtime's outside it.
    shifted = {"adaptive": runs["adaptive"],
               "wasmtime": _rule([1.1, 1.65, 1.1, 1.1, 1.1], 400)}
    proc = _run(tmp_path, [{"workload": "guest-churn", "size": 10,
                            "policy_runs_all": [runs, shifted]}])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "guest-churn 10: 2 repetitions, 5 pairs each"
    before = next(line for line in lines if "(before)" in line)
    assert "below 1.05x in  1 of 2; 0.73-1.10" in before
    reported = next(line for line in lines if "(reported)" in line)
    assert "below 1.05x in  0 of 2; 1.10-1.10" in reported
    assert "wasmtime  collections 400, capacity 64 KiB" in proc.stdout


def test_a_file_without_per_run_records_is_refused(tmp_path):
    proc = _run(tmp_path, [{"workload": "guest-churn", "size": 10}])
    assert proc.returncode == 2 and "no guest-churn runs with per-run records" in proc.stderr
