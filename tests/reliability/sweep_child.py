"""The bad-input sweep's worker: runs a slice of CASES in this process and reports each one.

Protocol (stdout, one line each): ``START name`` before a case, then ``OK name`` or
``BAD name: why``. If the process dies, the parent names the case that was STARTed last.
Run as ``python sweep_child.py BATCH NBATCHES`` (or ``--count``).
"""

from __future__ import annotations

import faulthandler
import gc
import sys

import registry as R
from drc import I31, DrcError, Heap, InvalidRefError, NoGcScopeError, OutOfHeapError

E = R.RegistryError
IT = R.InvalidTypeError
UT = R.UnknownTypeError
MW = R.MalformedWasmError
IR = InvalidRefError

# (name, code evaluated in the world namespace, expected exception class)
CASES: list[tuple[str, str, type[BaseException]]] = []


def case(name: str, code: str, exc: type[BaseException]) -> None:
    CASES.append((name, code, exc))


# ---- Heap construction ------------------------------------------------------------------
case("heap-registry-none", "Heap(None)", TypeError)
case("heap-registry-str", "Heap('reg')", TypeError)
case("heap-max-size-str", "Heap(reg, max_size='1')", TypeError)
case("heap-max-size-tiny", "Heap(reg, max_size=8)", ValueError)
case("heap-max-size-huge", "Heap(reg, max_size=1 << 40)", ValueError)
case("heap-max-size-neg", "Heap(reg, max_size=-1)", ValueError)
case("heap-initial-over-max", "Heap(reg, max_size=1 << 16, initial_size=1 << 20)", ValueError)
case("heap-initial-neg", "Heap(reg, initial_size=-5)", ValueError)
case("heap-policy-bad", "Heap(reg, growth_policy='greedy')", ValueError)
case("heap-policy-int", "Heap(reg, growth_policy=3)", (TypeError, ValueError))
case("heap-min-gc-neg", "Heap(reg, min_gc_heap=-1)", ValueError)
case("heap-min-gc-float", "Heap(reg, min_gc_heap=1.5)", ValueError)

# ---- allocation ----------------------------------------------------------------------------
for i, (code, exc) in enumerate([
    ("heap.struct_new('node', [])", TypeError),
    ("heap.struct_new(None, [])", TypeError),
    ("heap.struct_new(-1, [])", (OverflowError, UT)),
    ("heap.struct_new(1 << 40, [])", (OverflowError, UT)),
    ("heap.struct_new(12345, [])", UT),
    ("heap.struct_new(node, [None])", TypeError),
    ("heap.struct_new(node, [None, None, 1, 2, 3])", TypeError),
    ("heap.struct_new(node, 5)", TypeError),
    ("heap.struct_new(node, [None, None, 'x', 2])", TypeError),
    ("heap.struct_new(node, [None, None, 1 << 40, 2])", OverflowError),
    ("heap.struct_new(node, [None, None, 1.5, 2])", TypeError),
    ("heap.struct_new(node, [n, fr, 1, 2])", TypeError),
    ("heap.struct_new(node, [foreign, None, 1, 2])", IR),
    ("heap.struct_new(node, [dead, None, 1, 2])", IR),
    ("heap.struct_new(node, [object(), None, 1, 2])", TypeError),
    ("heap.struct_new(arr, [])", TypeError),
    ("heap.struct_new(functype, [])", TypeError),
    ("heap.struct_new(box_t, [fr])", TypeError),
    ("heap.array_new(arr, -1)", (ValueError, OverflowError)),
    ("heap.array_new(arr, 1 << 40)", (ValueError, OverflowError, OutOfHeapError)),
    ("heap.array_new(arr, (1 << 32) - 1)", (ValueError, OutOfHeapError)),
    ("heap.array_new(iarr, 1 << 28, 0)", OutOfHeapError),
    ("heap.array_new(arr, '3')", TypeError),
    ("heap.array_new(arr, 3.0)", TypeError),
    ("heap.array_new(arr, 3, fr)", TypeError),
    ("heap.array_new(iarr, 3, 'x')", TypeError),
    ("heap.array_new(iarr, 3, 1 << 33)", OverflowError),
    ("heap.array_new(node, 3)", TypeError),
    ("heap.array_new(functype, 3)", TypeError),
    ("heap.array_new_fixed(arr, [n, fr])", TypeError),
    ("heap.array_new_fixed(arr, 7)", TypeError),
    ("heap.array_new_fixed(iarr, [1, None])", TypeError),
    ("heap.array_new_fixed(node, [])", TypeError),
    ("heap.externref_new()", TypeError),
]):
    case(f"alloc-{i}", code, exc)

# ---- field and element access ---------------------------------------------------------------
for i, (code, exc) in enumerate([
    ("heap.struct_get(n, 4)", IndexError),
    ("heap.struct_get(n, -1)", (IndexError, OverflowError)),
    ("heap.struct_get(n, 1 << 40)", (IndexError, OverflowError)),
    ("heap.struct_get(n, '0')", TypeError),
    ("heap.struct_get(a, 0)", IR),
    ("heap.struct_get(e, 0)", IR),
    ("heap.struct_get(None, 0)", IR),
    ("heap.struct_get(I31(3), 0)", IR),
    ("heap.struct_get(5, 0)", TypeError),
    ("heap.struct_get(dead, 0)", IR),
    ("heap.struct_get(foreign, 0)", IR),
    ("heap.struct_get(closed_ref, 0)", IR),
    ("heap.struct_set(n, 0, fr)", TypeError),
    ("heap.struct_set(n, 2, None)", TypeError),
    ("heap.struct_set(n, 2, 1 << 40)", OverflowError),
    ("heap.struct_set(n, 9, None)", IndexError),
    ("heap.struct_set(imm, 0, 5)", (TypeError, ValueError)),
    ("heap.struct_set(n, 0, foreign)", IR),
    ("heap.struct_set(n, 0, dead)", IR),
    ("heap.struct_set(box, 0, fr_other_type)", TypeError),
    ("heap.array_len(n)", IR),
    ("heap.array_len(None)", IR),
    ("heap.array_len('a')", TypeError),
    ("heap.array_get(a, 4)", IndexError),
    ("heap.array_get(a, -1)", (IndexError, OverflowError)),
    ("heap.array_get(a, 1 << 40)", (IndexError, OverflowError)),
    ("heap.array_get(n, 0)", IR),
    ("heap.array_set(a, 4, None)", IndexError),
    ("heap.array_set(a, 0, fr)", TypeError),
    ("heap.array_set(ia, 0, None)", TypeError),
    ("heap.array_set(ia, 0, 1 << 33)", OverflowError),
    ("heap.array_set(imm_arr, 0, 1)", (TypeError, ValueError)),
    ("heap.array_fill(a, 0, None, 5)", IndexError),
    ("heap.array_fill(a, 3, None, 2)", IndexError),
    ("heap.array_fill(a, 0, None, -1)", (IndexError, OverflowError, ValueError)),
    ("heap.array_fill(a, (1 << 32) - 1, None, 2)", (IndexError, OverflowError)),
    ("heap.array_fill(ia, 0, 'x', 1)", TypeError),
    ("heap.array_fill(a, 0, fr, 1)", TypeError),
    ("heap.array_copy(a, 0, a, 2, 3)", IndexError),
    ("heap.array_copy(a, 3, a, 0, 2)", IndexError),
    ("heap.array_copy(a, 0, ia, 0, 1)", (TypeError, IR)),
    ("heap.array_copy(ia, 0, a, 0, 1)", (TypeError, IR)),
    ("heap.array_copy(a, 0, n, 0, 1)", IR),
    ("heap.array_copy(a, 0, a, 0, 1 << 40)", (IndexError, OverflowError)),
    ("heap.array_copy(a, -1, a, 0, 1)", (IndexError, OverflowError)),
    ("heap.array_copy(a, 0, foreign_arr, 0, 1)", IR),
    ("heap.array_copy(imm_arr, 0, imm_arr, 0, 1)", (TypeError, ValueError)),
    ("heap.externref_data(n)", IR),
    ("heap.externref_data(None)", IR),
    ("heap.externref_data(dead)", IR),
]):
    case(f"access-{i}", code, exc)

# ---- refs, roots, collection ------------------------------------------------------------------
for i, (code, exc) in enumerate([
    ("heap.ref_count(None)", IR),
    ("heap.ref_count(I31(1))", IR),
    ("heap.ref_count(dead)", IR),
    ("heap.ref_count(foreign)", IR),
    ("heap.ref_count('x')", TypeError),
    ("heap.type_of(dead)", IR),
    ("heap.type_of(3)", TypeError),
    ("heap.ref_test(n, 'anyref')", TypeError),
    ("heap.ref_test(dead, R.RefType(R.ANY))", IR),
    ("heap.ref_test(foreign, R.RefType(R.ANY))", IR),
    ("heap.expose(dead)", IR),
    ("heap.expose(foreign)", IR),
    ("heap.expose(17)", TypeError),
    ("heap.from_raw(8)", IR),
    ("heap.from_raw(0x10 + 4)", IR),
    ("heap.from_raw(1 << 32)", OverflowError),
    ("heap.from_raw(-16)", OverflowError),
    ("heap.from_raw(0xFFFFFFF0)", IR),
    ("heap.from_raw('16')", TypeError),
    ("heap.from_raw(freed_raw)", IR),
    ("heap.use_type(12345)", UT),
    ("heap.use_type(-1)", OverflowError),
    ("heap.use_type('0')", TypeError),
    ("heap.use_type(functype)", TypeError),
    ("heap.collect(stack_roots=[n.raw])", IR),
    ("heap.collect(stack_roots=[freed_raw])", IR),
    ("heap.collect(stack_roots=[0xFFFFFFF0])", IR),
    ("heap.collect(stack_roots=[1 << 32])", OverflowError),
    ("heap.collect(stack_roots=[-1])", OverflowError),
    ("heap.collect(stack_roots='abc')", TypeError),
    ("heap.collect(stack_roots=5)", TypeError),
    ("heap.collect(stack_roots=[1.5])", TypeError),
    ("heap.collect(stack_roots=[foreign.raw + (1 << 20)])", IR),
    ("heap.collect(frames=[(0, [1])])", ValueError),
    ("heap.gc(stack_roots=[n.raw]).collect_increment()", IR),
    ("no_gc_collect()", NoGcScopeError),
    ("double_gc()", DrcError),
    ("heap.set_root_provider(5)", TypeError),
    ("with_provider(lambda: None, heap.collect)", TypeError),
    ("with_provider(lambda: None, heap.gc)", TypeError),
    ("with_provider(lambda: 5, heap.collect)", TypeError),
    ("with_provider(lambda: None, lambda: heap.struct_new(node, [None, None, 1, 2]), "
     "zeal_every=1)", (TypeError, RuntimeError)),
    ("heap.set_zeal_collect_every(-1)", (ValueError, RuntimeError)),
    ("heap.set_zeal_collect_every(1 << 33)", (ValueError, RuntimeError)),
    ("heap.set_zeal_collect_every('1')", (ValueError, RuntimeError)),
    ("heap.exit_guest()", RuntimeError),
    ("setattr(heap, 'growth_policy', 'nope')", ValueError),
    ("setattr(heap, 'stack_maps', 5)", TypeError),
    ("n.clone() if False else dead.clone()", (IR, ValueError)),
    ("I31(1 << 30)", OverflowError),
    ("I31(-(1 << 30) - 1)", OverflowError),
    ("I31('1')", TypeError),
    ("drc_mod.GcRef()", TypeError),
    ("drc_mod.Collection()", TypeError),
    ("drc_mod.CollectionReport()", TypeError),
    ("drc_mod.heap.NoGcScope(None).__enter__()", TypeError),
    ("drc_mod.heap.GuestScope(None).__exit__()", TypeError),
    ("drc_mod.heap.NoGcScope(heap)", TypeError),
    ("repr(drc_mod.FuncRef.__new__(drc_mod.FuncRef))", TypeError),
    ("drc_mod.Collection.__new__(drc_mod.Collection).collect_increment()", TypeError),
]):
    case(f"refs-{i}", code, exc)

# ---- function references, extern/any conversion, data segments ------------------------------
for i, (code, exc) in enumerate([
    ("heap.funcref_new(None, 'f')", TypeError),
    ("heap.funcref_new('0', 'f')", TypeError),
    ("heap.funcref_new(-1, 'f')", OverflowError),
    ("heap.funcref_new(1 << 40, 'f')", OverflowError),
    ("heap.funcref_new(12345, 'f')", UT),
    ("heap.funcref_new(node, 'f')", TypeError),
    ("heap.funcref_new(arr, 'f')", TypeError),
    ("heap.funcref_new()", TypeError),
    ("drc_mod.FuncRef()", TypeError),
    ("heap.struct_set(fbox, 0, n)", TypeError),
    ("heap.struct_set(fbox, 0, I31(1))", TypeError),
    ("heap.struct_set(fbox, 0, e)", TypeError),
    ("heap.struct_set(fbox, 0, 5)", TypeError),
    ("heap.struct_set(fbox, 0, foreign_fr)", IR),
    ("heap.struct_set(fbox, 0, closed_fr)", IR),
    ("heap.struct_set(nnfbox, 0, None)", TypeError),
    ("heap.struct_set(nnfbox, 0, fr_other_type)", TypeError),
    ("heap.struct_set(eqbox, 0, fr)", TypeError),
    ("heap.struct_set(eqbox, 0, e)", TypeError),
    ("heap.struct_new(fbox_t, [n])", TypeError),
    ("heap.struct_new(fbox_t, [foreign_fr])", IR),
    ("heap.struct_new(nnfbox_t, [None])", TypeError),
    ("heap.struct_new(node, [fr, None, 1, 2])", TypeError),
    ("heap.array_new(farr_t, 2, n)", TypeError),
    ("heap.array_new(farr_t, 2, foreign_fr)", IR),
    ("heap.array_new_fixed(farr_t, [fr, n])", TypeError),
    ("heap.array_new_fixed(farr_t, [fr, foreign_fr])", IR),
    ("heap.array_set(fa, 0, foreign_fr)", IR),
    ("heap.array_set(fa, 0, I31(0))", TypeError),
    ("heap.array_set(a, 0, fr)", TypeError),
    ("heap.array_fill(fa, 0, n, 1)", TypeError),
    ("heap.array_fill(fa, 0, fr, 9)", IndexError),
    ("heap.array_copy(a, 0, fa, 0, 1)", TypeError),
    ("heap.array_copy(fa, 0, a, 0, 1)", TypeError),
    ("heap.ref_test(foreign_fr, R.RefType(R.FUNC))", IR),
    ("heap.ref_test(fr, 5)", TypeError),
    ("heap.expose(fr)", TypeError),
    ("heap.ref_count(fr)", TypeError),
    ("heap.type_of(fr)", TypeError),
    ("heap.extern_convert_any(fr)", TypeError),
    ("heap.extern_convert_any(5)", TypeError),
    ("heap.extern_convert_any(foreign)", IR),
    ("heap.extern_convert_any(dead)", IR),
    ("heap.any_convert_extern(fr)", TypeError),
    ("heap.any_convert_extern('x')", TypeError),
    ("heap.any_convert_extern(foreign)", IR),
    ("heap.array_new_data(iarr, None, 0, 1)", TypeError),
    ("heap.array_new_data(iarr, 'abcd', 0, 1)", TypeError),
    ("heap.array_new_data(iarr, [1, 2, 3, 4], 0, 1)", TypeError),
    ("heap.array_new_data(iarr, b'1234', 1, 1)", IndexError),
    ("heap.array_new_data(iarr, b'1234', 5, 0)", IndexError),
    ("heap.array_new_data(iarr, b'', -1, 0)", OverflowError),
    ("heap.array_new_data(iarr, b'', 0, 1 << 40)", OverflowError),
    ("heap.array_new_data(iarr, b'', 0, None)", TypeError),
    ("heap.array_new_data(iarr, b'', None, 0)", TypeError),
    ("heap.array_new_data(arr, b'1234', 0, 1)", TypeError),
    ("heap.array_new_data(farr_t, b'1234', 0, 1)", TypeError),
    ("heap.array_new_data(node, b'', 0, 0)", TypeError),
    ("heap.array_new_data(functype, b'', 0, 0)", TypeError),
    ("heap.array_new_data(12345, b'', 0, 0)", UT),
    ("heap.array_new_data(None, b'', 0, 0)", TypeError),
    ("heap.array_init_data(ia, 3, b'12345678', 0, 2)", IndexError),
    ("heap.array_init_data(ia, 5, b'', 0, 0)", IndexError),
    ("heap.array_init_data(ia, 0, b'1234', 1, 1)", IndexError),
    ("heap.array_init_data(ia, 0, b'1234', 0, 1 << 40)", OverflowError),
    ("heap.array_init_data(ia, -1, b'1234', 0, 1)", OverflowError),
    ("heap.array_init_data(ia, None, b'1234', 0, 1)", TypeError),
    ("heap.array_init_data(ia, 0, None, 0, 0)", TypeError),
    ("heap.array_init_data(imm_arr, 0, b'1234', 0, 1)", TypeError),
    ("heap.array_init_data(a, 0, b'1234', 0, 1)", TypeError),
    ("heap.array_init_data(n, 0, b'', 0, 0)", IR),
    ("heap.array_init_data(None, 0, b'', 0, 0)", IR),
    ("heap.array_init_data(dead, 0, b'', 0, 0)", IR),
    ("heap.array_init_data(foreign_arr, 0, b'', 0, 0)", IR),
    ("heap.array_init_data(5, 0, b'', 0, 0)", TypeError),
]):
    case(f"funcref-{i}", code, exc)

# ---- closed heap ------------------------------------------------------------------------------
for i, code in enumerate([
    "closed.struct_new(node, [None, None, 1, 2])", "closed.array_new(arr, 1)",
    "closed.array_new_fixed(arr, [])", "closed.externref_new(1)", "closed.stats()",
    "closed.verify()", "closed.collect()", "closed.gc()", "closed.from_raw(16)",
    "closed.expose(n)", "closed.struct_get(closed_ref, 0)", "closed.ref_count(closed_ref)",
    "closed.no_gc()", "closed.maybe_collect()", "memoryview(closed)", "closed.use_type(node)",
    "closed.history()", "closed.enter_guest()", "closed.guest()",
    "closed.set_root_provider(lambda: [])", "setattr(closed, 'growth_policy', 'wasmtime')",
    "setattr(closed, 'stack_maps', None)", "closed.collection_due", "closed.guest_depth",
    "closed.funcref_new(functype, 'f')", "closed.reclaim_funcrefs()", "closed_fr.type_index",
    "closed_fr.target", "closed.array_new_data(iarr, b'', 0, 0)",
    "closed.array_init_data(closed_ref, 0, b'', 0, 0)", "closed.extern_convert_any(None)",
    "closed.any_convert_extern(None)",
]):
    case(f"closed-heap-{i}", code, ValueError)

# ---- registry -----------------------------------------------------------------------------------
for i, (code, exc) in enumerate([
    ("reg.register_module(5)", TypeError),
    ("reg.register_module([5])", TypeError),
    ("reg.register_module([R.SubType(R.StructType([]), supertype=3)])", IT),
    ("reg.register_module([R.SubType(R.StructType([]), supertype=0)])", IT),
    ("reg.register_module([R.SubType(R.StructType([R.FieldType(R.RefType(9))]))])", IT),
    ("reg.register_module([R.SubType(R.StructType([]), final=True), "
     "R.SubType(R.StructType([]), supertype=0)])", IT),
    ("reg.register_module([R.SubType(R.ArrayType(R.FieldType(R.I32))), "
     "R.SubType(R.StructType([]), supertype=0)])", IT),
    ("reg.register_type(5)", TypeError),
    ("reg.register_type(R.SubType(R.StructType([R.FieldType(R.RefType(1 << 20))])))", (IT, UT)),
    ("reg.register_wasm(5)", TypeError),
    ("reg.register_wasm('abc')", TypeError),
    ("reg.register_wasm(b'')", MW),
    ("reg.register_wasm(b'\\0asm')", MW),
    ("reg.register_wasm(b'\\0asm\\x02\\0\\0\\0')", MW),
    ("reg.register_wasm(b'\\0asm\\x01\\0\\0\\0\\x01')", MW),
    ("reg.register_wasm(b'\\0asm\\x01\\0\\0\\0\\x01\\xff\\xff\\xff\\xff\\x0f')", MW),
    ("reg.register_wasm(b'\\0asm\\x01\\0\\0\\0\\x01\\x05\\x01\\x5f\\x01\\x7f')", MW),
    ("reg.register_wasm(b'\\0asm\\x01\\0\\0\\0\\x01\\x04\\x01\\x5f\\x01\\x63')", MW),
    ("reg.register_wasm(b'\\0asm\\x01\\0\\0\\0\\x01\\x03\\x01\\x42\\x00')", MW),
    ("reg.register_wasm(b'\\0asm\\x01\\0\\0\\0\\x01\\x05\\xff\\xff\\xff\\xff\\x7f')", MW),
    ("reg.register_wasm(b'\\0asm\\x01\\0\\0\\0\\x01\\x07\\x01\\x5f\\x01\\x63\\x05\\x01\\x00')",
     (MW, IT)),
    ("reg.register_wasm(bytes(1 << 20))", MW),
    ("reg.root(12345)", UT),
    ("reg.root(-1)", (UT, OverflowError, ValueError)),
    ("reg.root('0')", TypeError),
    ("reg.get(12345)", UT),
    ("reg.get(1 << 40)", (UT, OverflowError)),
    ("reg.get(None)", TypeError),
    ("reg.rec_group(12345)", UT),
    ("reg.registration_count(12345)", UT),
    ("reg.is_subtype(node, 12345)", UT),
    ("reg.is_subtype('a', node)", TypeError),
    ("reg.is_subtype(node, 0.5)", TypeError),
    ("reg.is_subtype(True, node)", TypeError),
    ("reg.ref_matches(5, R.RefType(R.ANY))", TypeError),
    ("reg.ref_matches(R.RefType(12345), R.RefType(R.ANY))", UT),
    ("reg.trampoline_type(node)", (TypeError, ValueError)),
    ("reg.trampoline_type(12345)", UT),
    ("reg.layout(12345)", UT),
    ("live_coll.shared_type(5)", IndexError),
    ("live_coll.shared_type(-1)", (IndexError, OverflowError)),
    ("R.decode_type_section(b'\\0asm\\x01\\0\\0\\0\\x01\\x02\\x01')", MW),
    ("R.decode_type_section(5)", TypeError),
    ("R.RefType(R.I32)", TypeError),
    ("R.RefType(-1)", (ValueError, OverflowError)),
    ("R.FieldType(5)", TypeError),
    ("R.StructType([5])", TypeError),
    ("R.ArrayType(R.I32)", TypeError),
    ("R.FuncType([R.FieldType(R.I32)])", TypeError),
    ("reg.register_module([R.SubType(R.FuncType([R.I8]))])", IT),
    ("R.SubType(5)", TypeError),
    ("R.SubType(R.StructType([]), supertype=-1)", (ValueError, OverflowError)),
    ("R.RecGroup([5])", TypeError),
    ("R.TypeCollection()", TypeError),
    ("R.RegisteredType()", TypeError),
    ("reg.register_type(R.SubType.__new__(R.SubType))", TypeError),
    ("reg.register_type(R.SubType(R.StructType([R.FieldType.__new__(R.FieldType)])))",
     TypeError),
    ("R.FieldType(R.StorageType.__new__(R.StorageType))", TypeError),
]):
    case(f"registry-{i}", code, exc)


def make_world() -> dict:
    import drc as drc_mod

    reg = R.TypeRegistry()
    coll = reg.register_module([R.RecGroup([
        R.SubType(R.StructType([R.FieldType(R.RefType(R.ANY), True),
                                R.FieldType(R.RefType(R.ANY), True),
                                R.FieldType(R.I32, True), R.FieldType(R.I8, True)])),
        R.SubType(R.ArrayType(R.FieldType(R.RefType(R.ANY), True))),
        R.SubType(R.ArrayType(R.FieldType(R.I32, True))),
        R.SubType(R.StructType([R.FieldType(R.RefType(R.EXTERN), True)])),
        R.SubType(R.StructType([R.FieldType(R.I32, False)])),
        R.SubType(R.ArrayType(R.FieldType(R.I32, False))),
        R.SubType(R.ArrayType(R.FieldType(R.I8, True))),
        R.SubType(R.FuncType()),
        R.SubType(R.StructType([R.FieldType(R.RefType(7), True)])),
        R.SubType(R.StructType([R.FieldType(R.RefType(7, False), True)])),
        R.SubType(R.ArrayType(R.FieldType(R.RefType(R.FUNC), True))),
        R.SubType(R.StructType([R.FieldType(R.RefType(R.EQ), True)])),
        R.SubType(R.FuncType([R.I32])),
    ])])
    (node, arr, iarr, box_t, imm_t, imm_arr_t, i8arr, functype, fbox_t, nnfbox_t, farr_t,
     eqbox_t, functype2) = coll.shared_types
    heap = Heap(reg, max_size=1 << 24)
    w = dict(Heap=Heap, R=R, reg=reg, coll=coll, heap=heap, I31=I31, drc_mod=drc_mod,
             node=node, arr=arr, iarr=iarr, box_t=box_t, i8arr=i8arr, functype=functype,
             fbox_t=fbox_t, nnfbox_t=nnfbox_t, farr_t=farr_t)
    w["n"] = heap.struct_new(node, [None, None, 1, 2])
    w["a"] = heap.array_new(arr, 4)
    w["ia"] = heap.array_new(iarr, 4, 7)
    w["e"] = heap.externref_new("payload")
    w["box"] = heap.struct_new(box_t, [w["e"]])
    w["imm"] = heap.struct_new(imm_t, [5])
    w["imm_arr"] = heap.array_new(imm_arr_t, 2, 5)
    w["fr"] = heap.funcref_new(functype, "target")
    w["fr_other_type"] = heap.funcref_new(functype2, "target")
    w["fbox"] = heap.struct_new(fbox_t, [w["fr"]])
    w["nnfbox"] = heap.struct_new(nnfbox_t, [w["fr"]])
    w["fa"] = heap.array_new(farr_t, 2, w["fr"])
    w["eqbox"] = heap.struct_new(eqbox_t, [None])
    w["dead"] = heap.struct_new(node, [None, None, 0, 0])
    w["dead"].close()
    gone = heap.struct_new(node, [None, None, 0, 0])
    w["freed_raw"] = heap.expose(gone)
    gone.close()
    heap.collect(stack_roots=[])
    w["other"] = other = Heap(reg)
    w["foreign"] = other.struct_new(node, [None, None, 0, 0])
    w["foreign_arr"] = other.array_new(arr, 4)
    w["foreign_fr"] = other.funcref_new(functype, "target")
    w["closed"] = closed = Heap(reg)
    w["closed_ref"] = closed.struct_new(node, [None, None, 0, 0])
    w["closed_fr"] = closed.funcref_new(functype, "target")
    closed.close()
    w["dead_coll"] = reg.register_module([R.SubType(R.StructType([R.FieldType(R.I64)]))])
    w["dead_coll"].close()
    w["live_coll"] = reg.register_module([R.SubType(R.StructType([R.FieldType(R.I16)]))])

    def no_gc_collect():
        with heap.no_gc():
            heap.collect(stack_roots=[])

    def double_gc():
        c = heap.gc(stack_roots=[])
        try:
            heap.collect(stack_roots=[])
        finally:
            c.cancel()

    def with_provider(provider, call, zeal_every=0):
        heap.set_root_provider(provider)
        try:
            if zeal_every:
                heap.set_zeal_collect_every(zeal_every)   # RuntimeError in release builds
            return call()
        finally:
            if zeal_every and drc_mod.ZEAL:
                heap.set_zeal_collect_every(0)
            heap.set_root_provider(None)

    w["no_gc_collect"] = no_gc_collect
    w["with_provider"] = with_provider
    w["double_gc"] = double_gc
    return w


def snapshot(w: dict):
    heap = w["heap"]
    st = dict(heap.stats())
    for k in ("gc_seconds", "collections", "collections_skipped", "last_live_bytes",
              "oasr_len_after_last_gc"):
        st.pop(k)   # a refused collection may not count, but timing fields are noisy
    counts = tuple(heap.ref_count(w[k]) for k in ("n", "a", "ia", "e", "box"))
    fields = (heap.struct_get(w["n"], 2), heap.array_get(w["ia"], 3), heap.array_len(w["a"]),
              heap.struct_get(w["fbox"], 0), heap.array_get(w["fa"], 1),
              tuple(heap.array_get(w["ia"], i) for i in range(4)))
    return st, counts, fields, len(w["reg"])


def main(argv: list[str]) -> int:
    faulthandler.enable()
    import os
    extra = os.environ.get("DRC_SWEEP_EXTRA_CASE")
    if extra:   # the parent's self-test: a case that crashes or hangs on purpose
        CASES.insert(0, ("planted", extra, ValueError))
    if argv[1:] == ["--count"]:
        print(len(CASES))
        return 0
    batch, nbatches = int(argv[1]), int(argv[2])
    w = make_world()
    for name, code, exc in CASES[batch::nbatches]:
        print(f"START {name}", flush=True)
        before = snapshot(w)
        try:
            eval(code, w)
        except exc:
            pass
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            print(f"BAD {name}: {code} raised {type(e).__name__}: {e} (expected {exc})",
                  flush=True)
            continue
        else:
            print(f"BAD {name}: {code} raised nothing (expected {exc})", flush=True)
            continue
        gc.collect()
        try:
            w["heap"].verify()
            w["reg"].verify()
            after = snapshot(w)
        except BaseException as e:  # noqa: BLE001
            print(f"BAD {name}: {code}: state check failed: {type(e).__name__}: {e}",
                  flush=True)
            continue
        if after != before:
            print(f"BAD {name}: {code} changed the state: {before} -> {after}", flush=True)
            continue
        print(f"OK {name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
