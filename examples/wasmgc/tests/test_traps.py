"""Traps carry the spec's messages and leave the engine usable."""

import pytest
import wasmgc

MOD = """(module
  (type $s (struct (field (mut i32))))
  (type $a (array (mut i32)))
  (type $f (func (result i32)))
  (type $g (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $one)
  (memory 1)
  (func $one (type $f) (i32.const 1))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "rem") (param i32 i32) (result i32) (i32.rem_s (local.get 0) (local.get 1)))
  (func (export "trunc") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
  (func (export "null_struct") (result i32) (struct.get $s 0 (ref.null $s)))
  (func (export "null_array") (result i32) (array.len (ref.null $a)))
  (func (export "oob_array") (param i32) (result i32)
    (array.get $a (array.new $a (i32.const 0) (i32.const 3)) (local.get 0)))
  (func (export "cast") (result i32)
    (struct.get $s 0 (ref.cast (ref $s) (array.new_default $a (i32.const 1)))))
  (func (export "unreachable") unreachable)
  (func $rec (export "rec") (param i32) (result i32) (call $rec (local.get 0)))
  (func (export "indirect") (param i32) (result i32)
    (call_indirect (type $g) (i32.const 0) (local.get 0)))
  (func (export "uninit") (result i32) (call_indirect (type $f) (i32.const 1)))
  (func (export "undef") (result i32) (call_indirect (type $f) (i32.const 2)))
  (func (export "mem") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "i31") (result i32) (i31.get_s (ref.null i31)))
  (func (export "call_null") (result i32) (call_ref $f (ref.null $f)))
)"""


@pytest.mark.parametrize("name, args, msg", [
    ("div", [1, 0], "integer divide by zero"),
    ("div", [0x80000000, 0xFFFFFFFF], "integer overflow"),
    ("rem", [1, 0], "integer divide by zero"),
    ("trunc", [0x7FF8000000000000], "invalid conversion to integer"),
    ("trunc", [0x41F0000000000000], "integer overflow"),
    ("null_struct", [], "null structure reference"),
    ("null_array", [], "null array reference"),
    ("oob_array", [3], "out of bounds array access"),
    ("cast", [], "cast failure"),
    ("unreachable", [], "unreachable"),
    ("indirect", [0], "indirect call type mismatch"),
    ("uninit", [], "uninitialized element"),
    ("undef", [], "undefined element"),
    ("mem", [65535], "out of bounds memory access"),
    ("i31", [], "null i31 reference"),
    ("call_null", [], "null function reference"),
])
def test_trap_messages(load, name, args, msg):
    inst = load(MOD)
    with pytest.raises(wasmgc.Trap, match=f"^{msg}$"):
        inst.invoke(name, args)
    # The engine keeps working after a trap.
    assert inst.invoke("rem", [0x80000000, 0xFFFFFFFF]) == [0]
    assert inst.invoke("oob_array", [2]) == [0]


def test_deep_recursion_is_exhaustion(load, engine):
    inst = load(MOD)
    with pytest.raises(wasmgc.Exhaustion, match="call stack exhausted"):
        inst.invoke("rec", [0])
    assert engine.heap.guest_depth == 0
    assert inst.invoke("div", [7, 2]) == [3]


def test_wrong_argument_count_is_a_type_error(load):
    inst = load(MOD)
    with pytest.raises(TypeError):
        inst.invoke("div", [1])
    with pytest.raises(wasmgc.LinkError):
        inst.invoke("nope", [])


def test_bad_raw_arguments_are_refused(load, engine):
    inst = load("""(module (type $s (struct))
      (func (export "id") (param anyref) (result anyref) (local.get 0))
      (func (export "f") (param funcref) (result i32) (ref.is_null (local.get 0)))
      (func (export "i") (param i32) (result i32) (local.get 0)))""")
    with pytest.raises(ValueError, match="not null, an i31 or a live object"):
        inst.invoke("id", [0x1230])
    with pytest.raises(ValueError, match="not a funcref"):
        inst.invoke("f", [77])
    with pytest.raises(OverflowError):
        inst.invoke("i", [1 << 32])
    with pytest.raises(TypeError):
        inst.invoke("i", ["1"])
    assert inst.invoke("id", [(5 << 1) | 1]) == [(5 << 1) | 1]
    assert engine.heap.guest_depth == 0


def test_store_handles_are_checked(engine):
    store = engine.store
    with pytest.raises(ValueError, match="not an instance handle"):
        store.set_func(12345, 0, 0)
    with pytest.raises(ValueError, match="not a global handle"):
        store.global_value(8)
    with pytest.raises(ValueError, match="not a memory handle"):
        store.memory_write(64, 0, b"x")
    inst = store.new_instance(0, 0, 0, 1, 0)
    with pytest.raises(IndexError):
        store.set_data(inst, 0, b"abc")
    store.set_elem(inst, 0, 1, False)
    store.elem_push(inst, 0, 0)
    with pytest.raises(IndexError, match="full"):
        store.elem_push(inst, 0, 0)
