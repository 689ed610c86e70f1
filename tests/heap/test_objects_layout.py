"""Golden layouts: the header C struct against Wasmtime's DRC layout, and objects as they lie in
heap memory (worked examples of Wasmtime's layout)."""

from __future__ import annotations

import struct

import pytest

import registry as R
from drc.build import HEADER_LAYOUT

KIND_STRUCT = 0xB0000000
KIND_ARRAY = 0xA8000000
KIND_EXTERN = 0x40000000


def test_header_offsets_match_design():
    assert HEADER_LAYOUT == {
        "size": 24, "kind_bits": 0, "type_index": 4, "ref_count": 8, "next_oasr": 16,
        "object_size": 20, "array_length": 24, "externref_host_data_id": 24,
        "externref_size": 32,
    }


def header(heap, ref):
    with memoryview(heap) as m:
        return struct.unpack_from("<IIQII", m, ref.raw)


@pytest.mark.parametrize("fields, size, offsets, alloc", [
    ((), 24, (), 32),
    ((R.I8,), 32, (24,), 32),
    ((R.I8, R.I32, R.I64, R.RefType(R.ANY)), 48, (24, 28, 32, 40), 48),
    ((R.I16, R.I8, R.I16), 32, (24, 26, 28), 32),
    ((R.RefType(R.ANY), R.RefType(R.ANY)), 32, (24, 28), 32),
    ((R.I8, R.V128), 48, (24, 32), 48),
])
def test_struct_layouts(heap, types, fields, size, offsets, alloc):
    t = types.struct(*fields)
    layout = heap.registry.layout(t)
    assert layout.size == size
    assert tuple(f.offset for f in layout.fields) == offsets
    values = []
    for f in fields:
        values.append(b"\x11" * 16 if f == R.V128 else None if isinstance(f, R.RefType) else 0x7F)
    before = heap.stats()["used_bytes"]
    ref = heap.struct_new(t, values)
    assert heap.stats()["used_bytes"] - before == alloc
    kind, ty, count, nxt, osize = header(heap, ref)
    assert (kind, ty, count, nxt, osize) == (KIND_STRUCT, t, 1, 0, size)
    with memoryview(heap) as m:
        for f, off in zip(fields, offsets, strict=True):
            if f == R.V128:
                assert bytes(m[ref.raw + off: ref.raw + off + 16]) == b"\x11" * 16
            elif not isinstance(f, R.RefType):
                assert m[ref.raw + off] == 0x7F


@pytest.mark.parametrize("elem, base, esize", [
    (R.I8, 28, 1), (R.I16, 28, 2), (R.I32, 28, 4), (R.F32, 28, 4), (R.RefType(R.EQ), 28, 4),
    (R.I64, 32, 8), (R.F64, 32, 8), (R.V128, 32, 16),
])
def test_array_layouts(heap, types, elem, base, esize):
    t = types.array(elem)
    arr = heap.array_new(t, 3)
    kind, ty, count, _, osize = header(heap, arr)
    assert (kind, ty, count, osize) == (KIND_ARRAY, t, 1, base + 3 * esize)
    with memoryview(heap) as m:
        assert struct.unpack_from("<I", m, arr.raw + 24)[0] == 3
    if elem == R.I32:
        heap.array_set(arr, 2, 0x01020304)
        with memoryview(heap) as m:
            assert struct.unpack_from("<I", m, arr.raw + base + 8)[0] == 0x01020304


def test_externref_layout(heap):
    e1 = heap.externref_new("a")
    e2 = heap.externref_new("b")
    assert e2.raw - e1.raw == 32
    kind, ty, count, _, osize = header(heap, e2)
    assert (kind, ty, count, osize) == (KIND_EXTERN, 0xFFFFFFFF, 1, 32)
    with memoryview(heap) as m:
        ids = [struct.unpack_from("<I", m, r.raw + 24)[0] for r in (e1, e2)]
    assert ids == [1, 2]                        # host-data ids start at 1


def test_node_struct_takes_32_bytes(heap, node):
    refs = [heap.struct_new(node, (None, None)) for _ in range(10)]
    assert heap.stats()["used_bytes"] == 320
    assert [r.raw for r in refs] == list(range(16, 16 + 320, 32))


def test_i31_encoding():
    from drc import I31
    assert I31(5).raw == 11
    assert I31(-1).raw == 0xFFFFFFFF
    assert I31(-(1 << 30)).raw == 0x80000001
