"""Numeric, memory and table instructions against Wasmtime on the same module: every result
(bit patterns; any NaN matches any NaN) and every trap must agree."""

import random
import struct

import pytest
import wasmgc
import wasmtime

BINOPS = {
    "i32": ["add", "sub", "mul", "div_s", "div_u", "rem_s", "rem_u", "and", "or", "xor",
            "shl", "shr_s", "shr_u", "rotl", "rotr", "eq", "ne", "lt_s", "lt_u", "gt_s",
            "gt_u", "le_s", "le_u", "ge_s", "ge_u"],
    "i64": ["add", "sub", "mul", "div_s", "div_u", "rem_s", "rem_u", "and", "or", "xor",
            "shl", "shr_s", "shr_u", "rotl", "rotr", "eq", "ne", "lt_s", "lt_u", "gt_s",
            "gt_u", "le_s", "le_u", "ge_s", "ge_u"],
    "f32": ["add", "sub", "mul", "div", "min", "max", "copysign", "eq", "ne", "lt", "gt",
            "le", "ge"],
    "f64": ["add", "sub", "mul", "div", "min", "max", "copysign", "eq", "ne", "lt", "gt",
            "le", "ge"],
}
UNOPS = {
    "i32": ["clz", "ctz", "popcnt", "eqz", "extend8_s", "extend16_s"],
    "i64": ["clz", "ctz", "popcnt", "eqz", "extend8_s", "extend16_s", "extend32_s"],
    "f32": ["abs", "neg", "ceil", "floor", "trunc", "nearest", "sqrt"],
    "f64": ["abs", "neg", "ceil", "floor", "trunc", "nearest", "sqrt"],
}
CONVERSIONS = [  # (name, param, result)
    ("i32.wrap_i64", "i64", "i32"), ("i64.extend_i32_s", "i32", "i64"),
    ("i64.extend_i32_u", "i32", "i64"),
    *[(f"{r}.trunc{s}_{p}_{u}", p, r) for r in ("i32", "i64") for p in ("f32", "f64")
      for u in ("s", "u") for s in ("", "_sat")],
    *[(f"{r}.convert_{p}_{u}", p, r) for r in ("f32", "f64") for p in ("i32", "i64")
      for u in ("s", "u")],
    ("f32.demote_f64", "f64", "f32"), ("f64.promote_f32", "f32", "f64"),
    ("i32.reinterpret_f32", "f32", "i32"), ("i64.reinterpret_f64", "f64", "i64"),
    ("f32.reinterpret_i32", "i32", "f32"), ("f64.reinterpret_i64", "i64", "f64"),
]
_RESULT = {"eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u", "lt",
           "gt", "le", "ge", "eqz"}


def _module():
    funcs = []
    sigs = {}
    for t, ops in BINOPS.items():
        for op in ops:
            r = "i32" if op in _RESULT else t
            name = f"{t}.{op}"
            funcs.append(f'(func (export "{name}") (param {t} {t}) (result {r}) '
                         f'({name} (local.get 0) (local.get 1)))')
            sigs[name] = ([t, t], r)
    for t, ops in UNOPS.items():
        for op in ops:
            r = "i32" if op in _RESULT else t
            name = f"{t}.{op}"
            funcs.append(f'(func (export "{name}") (param {t}) (result {r}) '
                         f'({name} (local.get 0)))')
            sigs[name] = ([t], r)
    for name, p, r in CONVERSIONS:
        funcs.append(f'(func (export "{name}") (param {p}) (result {r}) '
                     f'({name} (local.get 0)))')
        sigs[name] = ([p], r)
    mem = """
      (memory 1 3)
      (data $d "\\01\\02\\03\\04\\05\\06\\07\\08")
      (table $t 4 10 funcref)
      (elem $e func $id $id)
      (func $id (param i32) (result i32) (local.get 0))
      (func (export "mem") (param i32 i32 i32) (result i64)
        (memory.fill (local.get 0) (local.get 1) (local.get 2))
        (memory.copy (i32.add (local.get 0) (i32.const 3)) (local.get 0) (local.get 2))
        (memory.init $d (local.get 1) (i32.const 0) (i32.const 4))
        (i64.add (i64.load (local.get 0))
          (i64.add (i64.load8_s offset=3 (local.get 1)) (i64.load16_u (local.get 2)))))
      (func (export "grow") (param i32) (result i32)
        (drop (memory.grow (local.get 0))) (memory.size))
      (func (export "drop_init") (param i32) (result i32)
        (data.drop $d) (memory.init $d (local.get 0) (i32.const 0) (i32.const 1))
        (i32.const 1))
      (func (export "tab") (param i32 i32 i32) (result i32)
        (table.init $t $e (local.get 0) (i32.const 0) (local.get 2))
        (table.copy $t $t (local.get 1) (local.get 0) (local.get 2))
        (drop (table.grow $t (ref.func $id) (i32.const 1)))
        (table.fill $t (i32.const 0) (ref.null func) (i32.const 1))
        (i32.add (table.size $t)
          (call_indirect $t (param i32) (result i32) (i32.const 7) (local.get 1))))
    """
    for name, ps, r in [("mem", ["i32"] * 3, "i64"), ("grow", ["i32"], "i32"),
                        ("drop_init", ["i32"], "i32"), ("tab", ["i32"] * 3, "i32")]:
        sigs[name] = (ps, r)
    return "(module " + mem + "\n".join(funcs) + ")", sigs


_SPECIAL = {
    "i32": [0, 1, 2, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 31, 32, 33],
    "i64": [0, 1, 2, 63, 64, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF],
    "f32": [0, 0x80000000, 0x3F800000, 0xBF800000, 0x7F800000, 0xFF800000, 0x7FC00000,
            0x4F000000, 0xCF000000, 0x5F000000, 0x3F000000, 0x3FC00000, 0x00000001],
    "f64": [0, 1 << 63, 0x3FF0000000000000, 0xBFF0000000000000, 0x7FF0000000000000,
            0x7FF8000000000000, 0x41E0000000000000, 0xC1E0000000000000, 0x43E0000000000000,
            0x3FE0000000000000, 0x3FF8000000000000, 0x0000000000000001],
}
_BITS = {"i32": 32, "i64": 64, "f32": 32, "f64": 64}


def _arg(rng, t):
    if rng.random() < 0.5:
        return rng.choice(_SPECIAL[t])
    if t == "f32" and rng.random() < 0.5:
        return struct.unpack("<I", struct.pack("<f", rng.uniform(-1e10, 1e10)))[0]
    if t == "f64" and rng.random() < 0.5:
        return struct.unpack("<Q", struct.pack("<d", rng.uniform(-1e20, 1e20)))[0]
    return rng.getrandbits(_BITS[t])


def _to_wasmtime(v, t):
    if t == "i32":
        return v - (1 << 32) if v >> 31 else v
    if t == "i64":
        return v - (1 << 64) if v >> 63 else v
    if t == "f32":
        return wasmtime.Val.f32(struct.unpack("<f", struct.pack("<I", v))[0])
    return wasmtime.Val.f64(struct.unpack("<d", struct.pack("<Q", v))[0])


def _bits(v, t):
    if t in ("i32", "i64"):
        return v & ((1 << _BITS[t]) - 1)
    fmt = "<f" if t == "f32" else "<d"
    return struct.unpack("<I" if t == "f32" else "<Q", struct.pack(fmt, v))[0]


def _is_nan(bits, t):
    if t == "f32":
        return bits & 0x7F800000 == 0x7F800000 and bits & 0x7FFFFF
    if t == "f64":
        return bits & 0x7FF0000000000000 == 0x7FF0000000000000 and bits & 0xFFFFFFFFFFFFF
    return False


@pytest.fixture(scope="module")
def both():
    text, sigs = _module()
    binary = bytes(wasmtime.wat2wasm(text))
    eng = wasmtime.Engine()
    store = wasmtime.Store(eng)
    ref = wasmtime.Instance(store, wasmtime.Module(eng, binary), [])
    e = wasmgc.Engine()
    mine = wasmgc.Module(e, binary).instantiate()
    return sigs, store, ref, mine


def _run(both, name, args):
    sigs, store, ref, mine = both
    params, result = sigs[name]
    try:
        want = ("ok", _bits(ref.exports(store)[name](
            store, *[_to_wasmtime(a, t) for a, t in zip(args, params, strict=True)]),
            result))
    except wasmtime.Trap:
        want = ("trap",)
    try:
        (got,) = mine.invoke(name, args)
        got = ("ok", got & ((1 << _BITS[result]) - 1))
    except wasmgc.Trap:
        got = ("trap",)
    if want[0] == got[0] == "ok" and _is_nan(want[1], result) and _is_nan(got[1], result):
        return
    assert got == want, (name, args)


def test_numeric_instructions_agree_with_wasmtime(both):
    sigs = both[0]
    rng = random.Random(2026)
    for name, (params, _) in sigs.items():
        if name in ("mem", "grow", "drop_init", "tab"):
            continue
        for _ in range(40):
            _run(both, name, [_arg(rng, t) for t in params])


def test_memory_and_table_instructions_agree_with_wasmtime(both):
    rng = random.Random(7)
    for _ in range(60):
        _run(both, "mem", [rng.choice([0, 5, 100, 65530, 65536, 70000]),
                           rng.choice([0, 1, 200, 65535]), rng.choice([0, 3, 8, 100000])])
        _run(both, "tab", [rng.randrange(6), rng.randrange(6), rng.randrange(4)])
    _run(both, "grow", [1])
    _run(both, "grow", [5])
    _run(both, "drop_init", [0])
