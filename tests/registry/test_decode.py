"""The type-section decoder: every encoding, and clear errors with offsets for bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry import (
    ANY,
    ARRAY,
    EQ,
    EXN,
    EXTERN,
    F32,
    F64,
    FUNC,
    I8,
    I16,
    I31,
    I32,
    I64,
    NOEXN,
    NOEXTERN,
    NOFUNC,
    NONE,
    STRUCT,
    V128,
    ArrayType,
    FieldType,
    FuncType,
    MalformedWasmError,
    RecGroup,
    RefType,
    StructType,
    SubType,
    TypeRegistry,
    decode_type_section,
)

try:
    import wasmtime
except ImportError:  # only the tests that compile text need it
    wasmtime = None

needs_wasmtime = pytest.mark.skipif(wasmtime is None, reason="needs wasmtime (wat2wasm)")

HEADER = b"\x00asm\x01\x00\x00\x00"


def leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def module(types: bytes, count: int) -> bytes:
    body = leb(count) + types
    return HEADER + b"\x01" + leb(len(body)) + body


@needs_wasmtime
def test_text_module_with_every_encoding():
    wasm = wasmtime.wat2wasm("""
    (module
      (type $s (sub (struct (field i8) (field (mut i16)) (field i32 i64 f32 f64 v128))))
      (rec
        (type $a (sub final $s (struct (field i8) (field (mut i16)) (field i32 i64 f32 f64 v128)
                                       (field (ref null $b)))))
        (type $b (array (mut (ref $a)))))
      (type $f (func (param anyref eqref i31ref structref arrayref nullref)
                     (result funcref nullfuncref externref nullexternref exnref nullexnref)))
      (type $g (func (param (ref any) (ref null 1) (ref $f) (ref noextern)) (result)))
      (type (array i8))
      (type (sub (func)))
    )""")
    groups = decode_type_section(wasm)
    nums = [FieldType(s) for s in (I32, I64, F32, F64, V128)]
    base = [FieldType(I8), FieldType(I16, mutable=True), *nums]
    assert groups == [
        RecGroup([SubType(StructType(base), final=False)]),
        RecGroup([SubType(StructType(base + [FieldType(RefType(2))]), final=True, supertype=0),
                  SubType(ArrayType(FieldType(RefType(1, nullable=False), mutable=True)))]),
        RecGroup([SubType(FuncType([RefType(h) for h in (ANY, EQ, I31, STRUCT, ARRAY, NONE)],
                                   [RefType(h) for h in (FUNC, NOFUNC, EXTERN, NOEXTERN, EXN,
                                                         NOEXN)]))]),
        RecGroup([SubType(FuncType([RefType(ANY, nullable=False), RefType(1),
                                    RefType(3, nullable=False),
                                    RefType(NOEXTERN, nullable=False)], []))]),
        RecGroup([SubType(ArrayType(FieldType(I8)))]),
        RecGroup([SubType(FuncType(), final=False)]),
    ]
    reg = TypeRegistry()
    with reg.register_wasm(wasm) as coll:
        assert len(coll) == 7


def test_no_type_section_and_other_sections_skipped():
    assert decode_type_section(HEADER) == []
    custom = HEADER + b"\x00\x04\x01x\xAA\xBB"
    assert decode_type_section(custom) == []
    assert decode_type_section(custom + module(b"\x60\x00\x00", 1)[8:]) == [
        RecGroup([SubType(FuncType())])]


def test_long_leb_encodings_are_accepted():
    # A 5-byte u32 count of 1, then `array (ref null <type 0 as a 5-byte s33>)`.
    body = b"\x81\x80\x80\x80\x00" + b"\x5e\x63\x80\x80\x80\x80\x00\x00"
    wasm = HEADER + b"\x01" + leb(len(body)) + body
    assert decode_type_section(wasm) == [RecGroup([SubType(ArrayType(FieldType(RefType(0))))])]


@pytest.mark.parametrize("data, offset, words", [
    (b"\x00asx\x01\x00\x00\x00", 0, "magic"),
    (b"\x00asm\x02\x00\x00\x00", 4, "version"),
    (b"\x00asm\x01\x00", 6, "end"),
    (HEADER + b"\x01\x05\x01\x60", 8, "runs past"),
    (module(b"\x5e\x78\x02", 1), 13, "mutability"),
    (module(b"\x5e\x40\x00", 1), 12, "value type"),
    (module(b"\x60\x01\x78\x00", 1), 13, "packed"),
    (module(b"\x50\x02\x00\x00\x60\x00\x00", 1), 11, "supertypes"),
    (module(b"\x5e\x63\x40\x00", 1), 13, "heap type"),
    (module(b"\x5e\x63\x68\x00", 1), 13, "cont"),
    (module(b"\x5e\x63\xff\xff\xff\xff\x0f\x00", 1), 13, "out of range"),
    (module(b"\x61\x00", 1), 11, "composite"),
    (module(b"\x60\x00\x00\x00", 1), 14, "after its last entry"),
    (module(b"\x5f\xff\xff\xff\xff\x7f", 1), 12, "LEB128"),
    (module(b"\x5f\x80\x80\x80\x80\x80\x00", 1), 12, "longer than 5"),
    (module(b"\x5f\xff\xff\xff\xff\x0f", 1), 12, "count"),
    (module(b"\x60\x00\x00", 1) + module(b"\x60\x00\x00", 1)[8:], 14, "second type section"),
])
def test_malformed_input_names_the_offset(data, offset, words):
    with pytest.raises(MalformedWasmError, match=f"at byte offset {offset}: .*{words}"):
        decode_type_section(data)


def test_argument_type():
    with pytest.raises(TypeError):
        decode_type_section("\x00asm")


SAMPLE_TEXT = """
(module
  (rec (type $l (sub (struct (field i32) (field (ref null $l))))))
  (type $m (sub $l (struct (field i32) (field (ref null $l)) (field (mut i8)))))
  (type $v (array (mut v128)))
  (type $f (func (param (ref $m) i64) (result (ref null $v) funcref))))
"""
# SAMPLE_TEXT as wat2wasm encodes it: a type section, then a name section. Spelled out so that
# the decoder's tests run without wasmtime; test_sample_is_what_wat2wasm_makes checks it.
SAMPLE = bytes.fromhex(
    "0061736d" "01000000"                           # magic, version
    "01" "24" "04"                                  # type section, 36 bytes, 4 entries
    "4e01" "5000" "5f02" "7f00" "630000"            # rec: sub $l: struct i32 (ref null 0)
    "500100" "5f03" "7f00" "630000" "7801"          # sub 0: struct i32 (ref null 0) (mut i8)
    "5e" "7b01"                                     # array (mut v128)
    "60" "02" "6401" "7e" "02" "6302" "70"          # func (ref 1) i64 -> (ref null 2) funcref
    "00" "14" "046e616d65" "040d0400016c01016d020176030166")  # the name section ("name")


@needs_wasmtime
def test_sample_is_what_wat2wasm_makes():
    assert bytes(wasmtime.wat2wasm(SAMPLE_TEXT)) == SAMPLE


def _section_boundaries(data):
    out, pos = {8}, 8
    while pos < len(data):
        size, k = 0, 0
        while True:
            b = data[pos + 1 + k]
            size |= (b & 0x7F) << (7 * k)
            k += 1
            if not b & 0x80:
                break
        pos += 1 + k + size
        out.add(pos)
    return out


def test_every_truncation_is_rejected_cleanly():
    boundaries = _section_boundaries(SAMPLE)
    for n in range(len(SAMPLE)):
        try:
            decode_type_section(SAMPLE[:n])
        except MalformedWasmError as e:
            assert "at byte offset" in str(e)
        else:
            # Cutting exactly at a section boundary leaves a well-formed shorter module.
            assert n in boundaries, n


@settings(max_examples=300)
@given(st.integers(8, len(SAMPLE) - 1), st.integers(0, 255), st.randoms())
def test_corrupted_bytes_never_crash(pos, value, rnd):
    data = bytearray(SAMPLE)
    data[pos] = value
    for _ in range(rnd.randrange(3)):
        data[rnd.randrange(8, len(data))] = rnd.randrange(256)
    try:
        groups = decode_type_section(bytes(data))
    except MalformedWasmError:
        return
    reg = TypeRegistry()
    try:
        reg.register_module(groups).close()
    except ValueError:  # InvalidTypeError
        pass
    assert len(reg) == 0


def test_cli_types(tmp_path):
    path = tmp_path / "m.wasm"
    path.write_bytes(SAMPLE)
    out = subprocess.run([sys.executable, "-m", "drc", "types", str(path)], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "4 types in 4 rec groups" in text
    assert "1 <: 0" in text
    assert "struct size 32 align 8 fields [24:4, 28:4*]" in text
    assert "array base 32 align 16 elem 16" in text
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(SAMPLE[:20])
    out = subprocess.run([sys.executable, "-m", "drc", "types", str(bad)], capture_output=True,
                         text=True)
    assert out.returncode == 1 and "byte offset" in out.stderr


def test_cli_types_explains_its_notation_and_counts_in_words(tmp_path):
    path = tmp_path / "m.wasm"
    path.write_bytes(SAMPLE)
    out = subprocess.run([sys.executable, "-m", "drc", "types", str(path)], capture_output=True,
                         text=True)
    assert "* marks a GC ref field" in out.stdout
    assert "rec groups" in out.stdout and "1 rec groups" not in out.stdout


def test_cli_types_reads_text_or_says_how_to_get_a_binary(tmp_path):
    wat = tmp_path / "m.wat"
    wat.write_text("(module (rec (type (func (param (ref any)))) (type (struct (field i32)))))")
    out = subprocess.run([sys.executable, "-m", "drc", "types", str(wat)], capture_output=True,
                         text=True)
    try:
        import wasmtime  # noqa: F401
    except ImportError:
        assert out.returncode == 1 and "wat2wasm" in out.stderr
        return
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("2 types in 1 rec group;")
    assert "1 of them trampoline type" in out.stdout
    assert "trampoline type: shared 2" in out.stdout
    # Types are printed in the Wasm text format, not as Python constructors.
    assert "type 0 -> shared 0: (func (param (ref any)))" in out.stdout
    assert "type 1 -> shared 1: (struct (field i32))" in out.stdout
    bad = tmp_path / "bad.wat"
    bad.write_text("(module (type bogus))")
    out = subprocess.run([sys.executable, "-m", "drc", "types", str(bad)], capture_output=True,
                         text=True)
    assert out.returncode == 1 and "not valid WebAssembly text" in out.stderr
