"""How the interpreter uses the drc heap: precise roots, automatic collection, bounded
memory, counted globals, and the variant pairing."""

import os
import subprocess
import sys

import wasmgc

import drc

LIST = """(module
  (type $node (struct (field $v i32) (field $next (ref null $node))))
  (global $keep (mut (ref null $node)) (ref.null $node))
  (func $build (export "build") (param $n i32) (result (ref null $node))
    (local $l (ref null $node))
    (block $done (loop $L
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $l (struct.new $node (local.get $n) (local.get $l)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $L)))
    (local.get $l))
  (func $sum (export "sum") (param $l (ref null $node)) (result i32)
    (local $s i32)
    (block $done (loop $M
      (br_if $done (ref.is_null (local.get $l)))
      (local.set $s (i32.add (local.get $s) (struct.get $node $v (local.get $l))))
      (local.set $l (struct.get $node $next (local.get $l)))
      (br $M)))
    (local.get $s))
  ;; Keeps a list in a global while allocating garbage; returns the kept list's sum.
  (func (export "churn") (param $rounds i32) (result i32)
    (global.set $keep (call $build (i32.const 100)))
    (block $done (loop $L
      (br_if $done (i32.eqz (local.get $rounds)))
      (drop (call $build (i32.const 50)))
      (local.set $rounds (i32.sub (local.get $rounds) (i32.const 1)))
      (br $L)))
    (call $sum (global.get $keep)))
  (func (export "forever") (param $rounds i32)
    (local $l (ref null $node))
    (loop $L
      (local.set $l (struct.new $node (local.get $rounds) (local.get $l)))
      (if (i32.eqz (i32.rem_u (local.get $rounds) (i32.const 64)))
        (then (local.set $l (ref.null $node))))
      (local.set $rounds (i32.sub (local.get $rounds) (i32.const 1)))
      (br_if $L (local.get $rounds))))
)"""


def test_roots_survive_automatic_collections(load, engine):
    inst = load(LIST)
    assert inst.invoke("churn", [3000]) == [5050]
    stats = engine.heap.stats()
    assert stats["collections"] > 0
    engine.heap.verify()


def test_allocating_forever_runs_in_bounded_memory(load, engine):
    inst = load(LIST)
    inst.invoke("forever", [400_000])
    stats = engine.heap.stats()
    # 400,000 structs of 32 bytes were made; at most 64 are live at a time.
    assert stats["bytes_allocated"] >= 400_000 * 32
    assert stats["capacity"] <= 4 * 1024 * 1024
    assert stats["collections"] > 0


def test_results_stay_valid_until_the_next_allocation(load, engine):
    inst = load(LIST)
    (lst,) = inst.invoke("build", [10])
    assert engine.store.describe(lst, "r") == ("struct",)
    assert inst.invoke("sum", [lst]) == [55]


def test_globals_hold_counted_refs(load, engine):
    inst = load(LIST)
    inst.invoke("churn", [10])
    # No guest frame is active: a collection drops every exposed ref, and the kept list
    # survives because the global owns a count on its head.
    engine.heap.collect()
    assert engine.heap.stats()["oasr_len"] == 0
    assert engine.heap.stats()["live_objects"] == 100
    engine.heap.verify()


def test_forced_collections_on_zeal_builds(load, engine):
    if not drc.ZEAL:
        import pytest
        pytest.skip("forced collections need the gc_zeal build")
    engine.heap.set_zeal_collect_every(1)
    inst = load(LIST)
    assert inst.invoke("churn", [50]) == [5050]
    engine.heap.verify()


def test_variant_matches_drc():
    assert wasmgc.ZEAL == drc.ZEAL


def test_the_other_variant_is_refused():
    code = ("import drc; drc.ZEAL = not drc.ZEAL\n"
            "try:\n    import wasmgc\nexcept ImportError as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(__file__), check=True).stdout
    assert out.startswith("VariantError wasmgc was compiled against the")


def test_cli_reports_and_exits_nonzero_on_failure(tmp_path):
    good = tmp_path / "good.wast"
    good.write_text('(module (func (export "f") (result i32) (i32.const 1)))\n'
                    '(assert_return (invoke "f") (i32.const 1))\n')
    bad = tmp_path / "bad.wast"
    bad.write_text('(module (func (export "f") (result i32) (i32.const 1)))\n'
                   '(assert_return (invoke "f") (i32.const 2))\n')
    run = [sys.executable, "-m", "wasmgc", "wast"]
    p = subprocess.run(run + [str(good)], capture_output=True, text=True)
    assert p.returncode == 0
    assert p.stdout.splitlines()[-1] == "1 passed, 0 failed, 0 skipped"
    p = subprocess.run(run + [str(good), str(bad)], capture_output=True, text=True)
    assert p.returncode == 1
    assert f"{bad}: 0 passed, 1 failed, 0 skipped" in p.stdout
    assert p.stdout.splitlines()[-1] == "1 passed, 1 failed, 0 skipped"


def test_cli_counts_guard_against_assertions_that_stop_running(tmp_path):
    script = tmp_path / "s.wast"
    # One assertion passes; the quoted text is malformed for wat2wasm, so it is skipped.
    script.write_text('(module (func (export "f") (result i32) (i32.const 1)))\n'
                      '(assert_return (invoke "f") (i32.const 1))\n'
                      '(assert_malformed (module quote "(func") "unexpected end")\n')
    run = [sys.executable, "-m", "wasmgc", "wast", str(script)]
    p = subprocess.run(run, capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.splitlines()[-1] == "1 passed, 0 failed, 1 skipped"
    assert subprocess.run(run + ["--min-passed", "1", "--max-skipped", "1"]).returncode == 0
    p = subprocess.run(run + ["--min-passed", "2"], capture_output=True, text=True)
    assert p.returncode == 1 and "at least 2 passed" in p.stderr
    p = subprocess.run(run + ["--max-skipped", "0"], capture_output=True, text=True)
    assert p.returncode == 1 and "at most 0 skipped" in p.stderr


def test_cli_run_invokes_an_export(tmp_path):
    import wasmtime
    wasm = tmp_path / "fac.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(
        '(module (func $fac (export "fac") (param i64) (result i64)'
        ' (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 1))'
        ' (else (i64.mul (local.get 0) (call $fac (i64.sub (local.get 0) (i64.const 1))))))))'))
    p = subprocess.run([sys.executable, "-m", "wasmgc", "run", str(wasm), "--invoke", "fac",
                        "20"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "2432902008176640000"



def test_benchmark_workloads_agree_with_wasmtime(engine):
    import pathlib

    import wasmtime
    text = (pathlib.Path(__file__).parents[3] / "benchmarks" / "workloads.wat").read_text()
    binary = bytes(wasmtime.wat2wasm(text))
    if drc.ZEAL:
        engine.heap.set_zeal_collect_every(5)
    mine = wasmgc.Module(engine, binary).instantiate()
    store = wasmtime.Store(wasmtime.Engine())
    ref = wasmtime.Instance(store, wasmtime.Module(store.engine, binary), [])
    for name, args in [("binary_trees", [6]), ("list_churn", [300, 4]),
                       ("array_churn", [300, 4])]:
        want = ref.exports(store)[name](store, *args)
        assert mine.invoke(name, args) == [want], name
    engine.heap.verify()


def test_host_function_arguments_stay_roots(load, engine):
    from registry import ANY, RefType
    seen = []

    def keep(r):
        # A collection while the host holds the guest's ref: it must survive, because a
        # host call has no frame of its own to report it.
        engine.heap.collect()
        seen.append(engine.store.describe(r, "r"))
        return r

    imp = engine.host_function(keep, [RefType(ANY)], [RefType(ANY)])
    inst = load("""(module (type $s (struct (field i32)))
      (import "h" "keep" (func $keep (param anyref) (result anyref)))
      (func (export "f") (result i32)
        (struct.get $s 0 (ref.cast (ref $s) (call $keep (struct.new $s (i32.const 42)))))))""",
                {("h", "keep"): imp})
    assert inst.invoke("f", []) == [42]
    assert seen == [("struct",)]
    engine.heap.verify()
