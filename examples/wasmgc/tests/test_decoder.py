"""The binary decoder: every malformed input gives a clear error naming a byte offset."""

import random

import pytest
import wasmgc
import wasmtime

SAMPLE = """(module
  (type $s (struct (field i32) (field (mut (ref null $s)))))
  (type $a (array (mut i8)))
  (import "spectest" "print_i32" (func $p (param i32)))
  (global $g (mut i32) (i32.const 7))
  (table 2 funcref)
  (memory 1)
  (data (i32.const 0) "hi")
  (data $d "abc")
  (elem (i32.const 0) $f)
  (func $f (export "f") (param i32) (result i32)
    (block (result i32) (local.get 0) (br_if 0 (i32.const 1)) (drop) (i32.const 2)))
  (func (export "g") (result i32)
    (array.len (array.new_data $a $d (i32.const 0) (i32.const 3))))
  (start $s0)
  (func $s0 (call $p (i32.const 1)))
)"""


def sample():
    return bytes(wasmtime.wat2wasm(SAMPLE))


def test_sample_decodes_every_section():
    m = wasmgc.decode(sample())
    assert len(m.types) >= 3 and len(m.imports) == 1 and len(m.funcs) == 3
    assert len(m.tables) == 1 and len(m.memories) == 1 and len(m.globals) == 1
    assert {e[0] for e in m.exports} == {"f", "g"}
    assert m.start == 3 and len(m.elems) == 1 and len(m.datas) == 2
    assert m.data_count == 2


def test_sample_runs(engine):
    inst = wasmgc.Module(engine, sample()).instantiate(wasmgc.spectest(engine))
    assert inst.invoke("f", [5]) == [5]
    assert inst.invoke("g", []) == [3]


@pytest.mark.parametrize("data, where", [
    (b"", "offset 0"),
    (b"\x00asn\x01\x00\x00\x00", "offset 0"),
    (b"\x00asm\x02\x00\x00\x00", "offset 4"),
    (b"\x00asm\x01\x00\x00\x00\x01\x05\x01", "offset 8"),
    (b"\x00asm\x01\x00\x00\x00\x0e\x00", "offset 8"),
])
def test_bad_headers_and_sections_name_the_offset(engine, data, where):
    with pytest.raises(wasmgc.DecodeError, match=where):
        wasmgc.Module(engine, data)


def test_every_truncation_is_a_clear_error(engine):
    data = sample()
    rejected = 0
    for n in range(len(data)):
        try:
            wasmgc.Module(engine, data[:n])
        except wasmgc.DecodeError as e:
            assert "at byte offset" in str(e), (n, e)
            rejected += 1
        # A prefix ending at a section boundary before the function section is a valid
        # module; every other prefix is malformed.
    assert rejected >= len(data) - 8


def test_random_corruption_never_crashes(engine):
    data = sample()
    rng = random.Random(12)
    for _ in range(400):
        b = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(8, len(b))] = rng.randrange(256)
        try:
            wasmgc.Module(engine, bytes(b))
        except (wasmgc.DecodeError, wasmgc.InvalidModule, wasmgc.Unsupported):
            pass


def test_non_bytes_is_a_type_error():
    with pytest.raises(TypeError):
        wasmgc.decode("not bytes")
    with pytest.raises(TypeError):
        wasmgc.decode(None)


def test_unsupported_proposals_are_refused_by_name(engine):
    simd = bytes(wasmtime.wat2wasm(
        '(module (func (drop (v128.const i64x2 0 0))))'))
    with pytest.raises(wasmgc.Unsupported, match="SIMD"):
        wasmgc.Module(engine, simd)
    mem64 = bytes(wasmtime.wat2wasm('(module (memory i64 1))'))
    with pytest.raises(wasmgc.DecodeError, match="memory64"):
        wasmgc.Module(engine, mem64)


def test_valid_subtyping_is_accepted(engine):
    wat = """(module (type $s (sub (struct))) (type $t (sub $s (struct (field i32))))
      (func (param (ref $t)) (result (ref null $s) eqref anyref)
        (local.get 0) (local.get 0) (local.get 0)))"""
    wasmgc.Module(engine, bytes(wasmtime.wat2wasm(wat)))


def test_invalid_bodies_are_rejected(engine):
    for wat in ['(module (func (result i32) (i64.const 1)))',
                '(module (func (i32.add (i32.const 1))))',
                '(module (func (call 7)))',
                '(module (func (local.get 3)))',
                # operand subtyping
                '(module (func (param (ref null none)) (result (ref null extern)) '
                '(local.get 0)))',
                '(module (func (param anyref) (result i32) (ref.eq (local.get 0) '
                '(local.get 0))))',
                '(module (type $t (struct)) (func (param (ref any)) (result (ref $t)) '
                '(block (result (ref any)) (br_on_cast 1 (ref null any) (ref null $t) '
                '(local.get 0))) (unreachable)))']:
        with pytest.raises(wasmgc.InvalidModule):
            wasmgc.Module(engine, bytes(wasmtime.wat2wasm(wat)))
