"""Write module-level rec groups as a WebAssembly binary holding only a type section.

The inverse of :func:`registry.decode_type_section`: ``decode_type_section(encode_module(g))``
gives back ``g`` (bare ``SubType`` values as singleton groups). For tests, benchmarks and tools
that need the bytes an embedder would hand to ``TypeRegistry.register_wasm``.
"""

from __future__ import annotations

from collections.abc import Iterable

from registry.registry import (
    AbstractHeapType,
    ArrayType,
    FieldType,
    FuncType,
    RecGroup,
    RefType,
    StorageType,
    StructType,
    SubType,
)

# The one-byte encodings (decode.py reads the same tables).
_HEAP = {"FUNC": 0x70, "EXTERN": 0x6F, "ANY": 0x6E, "EQ": 0x6D, "I31": 0x6C, "STRUCT": 0x6B,
         "ARRAY": 0x6A, "EXN": 0x69, "NONE": 0x71, "NOEXTERN": 0x72, "NOFUNC": 0x73,
         "NOEXN": 0x74}
_STORAGE = {"I32": 0x7F, "I64": 0x7E, "F32": 0x7D, "F64": 0x7C, "V128": 0x7B, "I8": 0x78,
            "I16": 0x77}


def _u32(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _s33(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        done = (n == 0 and not byte & 0x40) or (n == -1 and byte & 0x40)
        out.append(byte | (0 if done else 0x80))
        if done:
            return bytes(out)


def _value(v: StorageType | RefType) -> bytes:
    if isinstance(v, StorageType):
        return bytes([_STORAGE[v.name]])
    heap = v.heap
    code = bytes([_HEAP[heap.name]]) if isinstance(heap, AbstractHeapType) else _s33(heap)
    return (b"\x63" if v.nullable else b"\x64") + code


def _field(f: FieldType) -> bytes:
    return _value(f.storage) + (b"\x01" if f.mutable else b"\x00")


def _vec(items: list[bytes]) -> bytes:
    return _u32(len(items)) + b"".join(items)


def _subtype(t: SubType) -> bytes:
    c = t.composite
    if isinstance(c, StructType):
        body = b"\x5f" + _vec([_field(f) for f in c.fields])
    elif isinstance(c, ArrayType):
        body = b"\x5e" + _field(c.element)
    elif isinstance(c, FuncType):
        body = b"\x60" + _vec([_value(v) for v in c.params]) + _vec(
            [_value(v) for v in c.results])
    else:
        raise TypeError(f"a SubType's composite cannot be a {type(c).__name__}")
    sup = [] if t.supertype is None else [_u32(t.supertype)]
    return (b"\x4f" if t.final else b"\x50") + _vec(sup) + body


def encode_module(groups: Iterable[RecGroup | SubType]) -> bytes:
    """A version-1 binary whose only section is the type section of ``groups``.

    Integer references are module-level indices, as ``register_module`` takes them; every
    group is written as a ``rec`` group and every type in the explicit ``sub`` form.
    """
    entries = []
    for g in groups:
        if isinstance(g, SubType):
            g = RecGroup([g])
        if not isinstance(g, RecGroup):
            raise TypeError(f"encode_module takes RecGroup or SubType values, not "
                            f"{type(g).__name__}")
        entries.append(b"\x4e" + _vec([_subtype(t) for t in g.types]))
    section = _vec(entries)
    return b"\x00asm\x01\x00\x00\x00\x01" + _u32(len(section)) + section
