"""register_wasm (the C path: bytes -> words -> records) against the Python path
(register_module of decoded RecGroup values): the same indices, types, layouts, subtyping,
counts and errors, and hash consing across the two."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from _wast import Node, parse, string_bytes
from hypothesis import given, settings
from hypothesis import strategies as st
from test_properties import modules

from registry import (
    ANY,
    EQ,
    FUNC,
    I8,
    I31,
    I32,
    I64,
    NONE,
    STRUCT,
    ArrayType,
    FieldType,
    FuncType,
    InvalidTypeError,
    MalformedWasmError,
    RecGroup,
    RefType,
    RegistryError,
    StructType,
    SubType,
    TypeRegistry,
    decode_type_section,
    encode_module,
)

SPEC = sorted((Path(__file__).resolve().parents[1] / "spec").glob("*.wast"))


def same_view(ra: TypeRegistry, rb: TypeRegistry, indices) -> None:
    """Both registries agree on everything observable about these engine indices."""
    for i in indices:
        assert ra.get(i) == rb.get(i)
        assert ra.rec_group(i) == rb.rec_group(i)
        assert ra.layout(i) == rb.layout(i)
        assert ra.registration_count(i) == rb.registration_count(i)
        if isinstance(ra.get(i).composite, FuncType):
            assert ra.trampoline_type(i) == rb.trampoline_type(i)
    for a in indices:
        for b in indices:
            assert ra.is_subtype(a, b) is rb.is_subtype(a, b)
    assert len(ra) == len(rb)


def both(ra: TypeRegistry, rb: TypeRegistry, wasm: bytes):
    """Register `wasm` in ra through the Python path and in rb through the C path; the same
    collection or the same error (type and message) from both."""
    try:
        ca = ra.register_module(decode_type_section(wasm))
    except (MalformedWasmError, InvalidTypeError, RegistryError) as e:
        before = len(rb)
        with pytest.raises(type(e)) as info:
            rb.register_wasm(wasm)
        assert str(info.value) == str(e)
        assert len(rb) == before
        return None, None
    cb = rb.register_wasm(wasm)
    assert ca.shared_types == cb.shared_types
    same_view(ra, rb, ca.shared_types)
    return ca, cb


# ---- equivalence ------------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(st.lists(modules(), min_size=1, max_size=3), st.randoms())
def test_generated_modules_match_the_python_path(mods, rnd):
    ra, rb = TypeRegistry(), TypeRegistry()
    held = []
    for groups in mods:
        ca, cb = both(ra, rb, encode_module(groups))
        held.append((ca, cb))
        ra.verify()
        rb.verify()
    # Valid modules never need the Python path.
    assert rb._wasm_fallbacks() == 0
    rnd.shuffle(held)
    for ca, cb in held:
        ca.close()
        cb.close()
        ra.verify()
        rb.verify()
        assert len(ra) == len(rb)
    assert len(rb) == 0


@st.composite
def loose_modules(draw):
    """Modules whose subtypes declare any earlier type of the module as supertype, with
    fields drawn independently of it: many are invalid, in every rule's way."""
    heaps = st.sampled_from([ANY, EQ, FUNC, NONE, I31, STRUCT])
    groups: list[RecGroup] = []
    count = 0
    for _ in range(draw(st.integers(1, 4))):
        size = draw(st.integers(1, 3))
        end = count + size

        def value(storage, end=end):
            kind = draw(st.integers(0, 3))
            if kind == 0:
                return draw(st.sampled_from([I8, I32, I64] if storage else [I32, I64]))
            if kind == 1:
                return RefType(draw(heaps), draw(st.booleans()))
            return RefType(draw(st.integers(0, end - 1)), draw(st.booleans()))

        members = []
        for k in range(size):
            sup = draw(st.none() | st.integers(0, count + k - 1)) if count + k else None
            kind = draw(st.sampled_from(["struct", "array", "func", "near"]))
            flat = [t for g in groups for t in g.types] + members
            parent = flat[sup].composite if sup is not None else None
            if kind == "near" and isinstance(parent, StructType) and parent.fields:
                # The parent's fields with one of them redrawn: the depth rules decide.
                fields = list(parent.fields)
                at = draw(st.integers(0, len(fields) - 1))
                fields[at] = FieldType(value(True), draw(st.booleans()))
                comp = StructType(fields + [FieldType(I32)] * draw(st.integers(0, 1)))
            elif kind == "near" and isinstance(parent, FuncType):
                comp = FuncType([value(False) for _ in parent.params],
                                [value(False) for _ in parent.results])
            elif kind in ("struct", "near"):
                comp = StructType([FieldType(value(True), draw(st.booleans()))
                                   for _ in range(draw(st.integers(0, 3)))])
            elif kind == "array":
                comp = ArrayType(FieldType(value(True), draw(st.booleans())))
            else:
                comp = FuncType([value(False) for _ in range(draw(st.integers(0, 2)))],
                                [value(False) for _ in range(draw(st.integers(0, 1)))])
            members.append(SubType(comp, final=draw(st.booleans()), supertype=sup))
        groups.append(RecGroup(members))
        count = end
    return groups


@settings(max_examples=400, deadline=None)
@given(st.lists(loose_modules(), min_size=1, max_size=3))
def test_loose_modules_get_the_python_paths_verdict(mods):
    ra, rb = TypeRegistry(), TypeRegistry()
    held = [both(ra, rb, encode_module(groups)) for groups in mods]
    rb.verify()
    for ca, cb in held:
        if ca is not None:
            ca.close()
            cb.close()
    assert len(ra) == len(rb) == 0


def _binaries(path: Path):
    """(command, wasm) for every module of a spec script that wat2wasm converts."""
    wasmtime = pytest.importorskip("wasmtime")
    for node in parse(path.read_text()):
        if node.head in ("module", "assert_unlinkable"):
            mod = node if node.head == "module" else node.items[1]
        elif node.head in ("assert_invalid", "assert_malformed"):
            mod = node.items[1]
        else:
            continue
        if not isinstance(mod, Node):
            continue
        items = mod.items[1:]
        if items and isinstance(items[0], str) and items[0].startswith("$"):
            items = items[1:]
        if items and items[0] == "binary":
            yield node.head, b"".join(string_bytes(a) for a in items[1:])
            continue
        if items and items[0] in ("definition", "instance"):
            continue
        if items and items[0] == "quote":
            text = "(module " + " ".join(string_bytes(a).decode() for a in items[1:]) + ")"
        else:
            text = mod.text
        try:
            yield node.head, bytes(wasmtime.wat2wasm(text))
        except Exception:  # noqa: BLE001 - text the scripts assert malformed
            continue


@pytest.mark.parametrize("path", SPEC, ids=lambda p: p.name)
def test_spec_type_sections_match_the_python_path(path):
    ra, rb = TypeRegistry(), TypeRegistry()
    held = []
    valid = 0
    for command, wasm in _binaries(path):
        ca, cb = both(ra, rb, wasm)
        if ca is not None:
            held.append((ca, cb))
            valid += command == "module"
    ra.verify()
    rb.verify()
    for ca, cb in held:
        ca.close()
        cb.close()
    assert len(ra) == len(rb) == 0
    rb.verify()
    assert valid > 0 or path.name == "binary-gc.wast"


def test_spec_modules_take_the_c_path():
    """Every valid module of the scripts registers without the Python path."""
    reg = TypeRegistry()
    held = []
    for path in SPEC:
        for command, wasm in _binaries(path):
            if command == "module":
                held.append(reg.register_wasm(wasm))
    assert len(held) > 100
    assert reg._wasm_fallbacks() == 0
    for c in held:
        c.close()
    assert len(reg) == 0


# ---- hash consing across the paths ------------------------------------------------------------

CHAIN = [RecGroup([SubType(StructType([FieldType(I32)] * (i + 1)), final=False,
                           supertype=i - 1 if i else None) for i in range(8)])]
MIXED = [SubType(StructType([FieldType(RefType(ANY), mutable=True)]), final=False),
         RecGroup([SubType(StructType([FieldType(RefType(ANY), mutable=True),
                                       FieldType(RefType(2))]), supertype=0),
                   SubType(ArrayType(FieldType(RefType(1, nullable=False))))]),
         SubType(FuncType([RefType(1), I64], [RefType(3)])),
         SubType(FuncType([RefType(FUNC)], []))]


@pytest.mark.parametrize("groups", [CHAIN, MIXED], ids=["chain", "mixed"])
@pytest.mark.parametrize("python_first", [True, False])
def test_a_group_registered_both_ways_is_one_group(groups, python_first):
    reg = TypeRegistry()
    wasm = encode_module(groups)
    if python_first:
        a = reg.register_module(groups)
        b = reg.register_wasm(wasm)
    else:
        a = reg.register_wasm(wasm)
        b = reg.register_module(groups)
    reg.verify()
    assert a.shared_types == b.shared_types
    count = len(reg)
    c = reg.register_wasm(wasm)
    d = reg.register_module(groups)
    assert c.shared_types == d.shared_types == a.shared_types and len(reg) == count
    for i in a.shared_types:
        # Four collections, plus what other groups hold on this one.
        assert reg.registration_count(i) >= 4
    for h in (a, c, b, d):
        h.close()
        reg.verify()
    assert len(reg) == 0
    assert reg._wasm_fallbacks() == 0


def test_host_types_and_trampolines_hash_cons_with_wasm_groups():
    reg = TypeRegistry()
    func = SubType(FuncType([RefType(ANY)], [RefType(FUNC)]))
    with reg.register_type(func) as host:
        with reg.register_wasm(encode_module([func])) as m:
            assert m.shared_types == (host.index,)
            assert reg.registration_count(host.index) == 2
        # A struct-typed param makes a trampoline group of its own.
        with reg.register_wasm(encode_module([SubType(StructType()),
                                              SubType(FuncType([RefType(0)]))])) as m:
            tramp = reg.trampoline_type(m.shared_type(1))
            assert tramp not in m.shared_types
            assert reg.get(tramp) == SubType(FuncType([RefType(ANY)]))
            with reg.register_type(SubType(FuncType([RefType(ANY)]))) as same:
                assert same.index == tramp
            reg.verify()
    assert len(reg) == 0


def test_get_and_handles_build_values_from_the_stored_group():
    reg = TypeRegistry()
    with reg.register_wasm(encode_module(MIXED)) as m:
        s0, s1, arr, f1, f2 = m.shared_types
        assert reg.get(s1) == SubType(StructType([FieldType(RefType(ANY), mutable=True),
                                                  FieldType(RefType(arr))]), supertype=s0)
        assert reg.get(arr) == SubType(ArrayType(FieldType(RefType(s1, nullable=False))))
        assert reg.get(f1) == SubType(FuncType([RefType(s1), I64], [RefType(f1)]))
        with reg.root(arr) as h:
            assert h.type == reg.get(arr)
        assert reg.rec_group(arr) == (s1, arr)
    assert len(reg) == 0


# ---- counts and removal -----------------------------------------------------------------------

def test_counts_and_cross_group_edges():
    reg = TypeRegistry()
    base = encode_module([SubType(StructType([FieldType(I32)]), final=False)])
    ext = encode_module([SubType(StructType([FieldType(I32)]), final=False),
                         SubType(StructType([FieldType(I32), FieldType(RefType(0))]),
                                 supertype=0)])
    a = reg.register_wasm(base)
    (s0,) = a.shared_types
    b = reg.register_wasm(ext)
    assert b.shared_type(0) == s0
    # a, b, and the second group's two references (supertype, field) to it.
    assert reg.registration_count(s0) == 4
    a.close()
    assert reg.registration_count(s0) == 3
    b.close()
    assert len(reg) == 0
    reg.verify()


def test_closing_twice_and_dropping_release_once():
    reg = TypeRegistry()
    c = reg.register_wasm(encode_module(CHAIN))
    assert len(reg) == 8 and len(c) == 8 and not c.closed
    c.close()
    c.close()
    assert c.closed and len(reg) == 0
    reg.register_wasm(encode_module(CHAIN))      # dropped at once
    assert len(reg) == 0
    reg.verify()


def test_an_empty_module_and_a_module_without_types():
    reg = TypeRegistry()
    assert reg.register_wasm(b"\x00asm\x01\x00\x00\x00").shared_types == ()
    assert reg.register_wasm(encode_module([RecGroup([])])).shared_types == ()
    assert len(reg) == 0
    assert reg._wasm_fallbacks() == 0


# ---- bad input --------------------------------------------------------------------------------

def test_argument_types():
    reg = TypeRegistry()
    for bad in (None, "\x00asm", 5, [0, 97, 115, 109]):
        with pytest.raises(TypeError, match="expected bytes"):
            reg.register_wasm(bad)
    wasm = encode_module(CHAIN)
    assert reg.register_wasm(bytearray(wasm)).shared_types == tuple(range(8))
    assert reg.register_wasm(memoryview(wasm)).shared_types == tuple(range(8))


@pytest.mark.parametrize("groups, words", [
    ([SubType(StructType(), final=True), SubType(StructType(), supertype=0)], "final"),
    ([SubType(StructType([FieldType(I32, mutable=True)]), final=False),
      SubType(StructType([FieldType(I32)]), supertype=0)], "mutability"),
    ([SubType(FuncType([RefType(ANY)]), final=False), SubType(FuncType([RefType(EQ)]),
                                                              supertype=0)], "contravariant"),
    ([RecGroup([SubType(StructType(), final=False, supertype=1),
                SubType(StructType(), final=False)])], "earlier"),
    ([SubType(StructType([FieldType(RefType(1))]))], "not defined yet"),
    ([SubType(StructType(), final=False)]
     + [SubType(StructType(), final=False, supertype=i) for i in range(64)], "depth"),
])
def test_invalid_groups_raise_the_python_paths_error(groups, words):
    reg = TypeRegistry()
    keep = reg.register_wasm(encode_module([SubType(StructType([FieldType(I64)]))]))
    with pytest.raises(InvalidTypeError, match=words) as info:
        reg.register_wasm(encode_module(groups))
    with pytest.raises(InvalidTypeError) as expected:
        TypeRegistry().register_module(groups)
    assert str(info.value) == str(expected.value)
    assert len(reg) == 1 and reg.registration_count(keep.shared_type(0)) == 1
    reg.verify()
    assert reg._wasm_fallbacks() == 1


def test_packed_types_in_a_signature_are_malformed_bytes():
    reg = TypeRegistry()
    with pytest.raises(MalformedWasmError, match="packed"):
        reg.register_wasm(encode_module([SubType(FuncType([I8]))]))
    assert len(reg) == 0


def _corpus() -> list[bytes]:
    out = [encode_module(CHAIN), encode_module(MIXED)]
    for path in SPEC:
        if path.name in ("type-subtyping.wast", "type-rec.wast", "binary-gc.wast"):
            out += [w for c, w in _binaries(path) if len(w) < 400][:12]
    return out


def test_every_truncation_fails_cleanly():
    for wasm in _corpus()[:8]:
        ra, rb = TypeRegistry(), TypeRegistry()
        keep_a = ra.register_module([SubType(StructType([FieldType(I32)]))])
        keep_b = rb.register_wasm(encode_module([SubType(StructType([FieldType(I32)]))]))
        for n in range(len(wasm)):
            both(ra, rb, wasm[:n])
            assert len(ra) == len(rb) == 1
        rb.verify()
        keep_a.close()
        keep_b.close()


def test_random_corruptions_never_crash_and_agree_with_the_python_path():
    rnd = random.Random(20261201)
    corpus = _corpus()
    ra, rb = TypeRegistry(), TypeRegistry()
    for _ in range(3000):
        wasm = bytearray(rnd.choice(corpus))
        for _ in range(rnd.randint(1, 3)):
            at = rnd.randrange(8, len(wasm)) if len(wasm) > 8 else 0
            what = rnd.random()
            if what < 0.6:
                wasm[at] = rnd.randrange(256)
            elif what < 0.8:
                del wasm[at]
            else:
                wasm.insert(at, rnd.randrange(256))
        ca, cb = both(ra, rb, bytes(wasm))
        if ca is not None:
            ca.close()
            cb.close()
        assert len(ra) == len(rb) == 0
    rb.verify()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_after_a_header(tail):
    ra, rb = TypeRegistry(), TypeRegistry()
    ca, cb = both(ra, rb, b"\x00asm\x01\x00\x00\x00" + tail)
    if ca is not None:
        ca.close()
        cb.close()
    assert len(rb) == 0
    rb.verify()


# ---- the encoder ------------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(modules())
def test_encode_module_round_trips_through_the_decoder(groups):
    assert decode_type_section(encode_module(groups)) == groups


def test_encode_module_matches_wat2wasm():
    wasmtime = pytest.importorskip("wasmtime")
    text = (Path(__file__).resolve().parents[2] / "benchmarks" / "registry_types.wat").read_text()
    wasm = bytes(wasmtime.wat2wasm(text))
    ours = encode_module(CHAIN)
    # wat2wasm appends a custom "name" section.
    assert wasm[:len(ours)] == ours and wasm[len(ours)] == 0
    with pytest.raises(TypeError):
        encode_module([StructType()])
