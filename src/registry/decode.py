"""Read the type section of a WebAssembly binary into module-level ``RecGroup`` values.

Only the type section is decoded; other sections are skipped by their declared sizes (their
bounds are still checked). Every read is bounds-checked, so malformed or truncated input raises
``MalformedWasmError`` with the byte offset and never loops or crashes.
"""

from __future__ import annotations

from registry.errors import MalformedWasmError
from registry.registry import (
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

_MAGIC = b"\x00asm"
# Type indices live below the abstract heap codes (registry/typeinfo.pxd HEAP_ABSTRACT_BASE).
_MAX_INDEX = 0xFFFFFF00
_VERSION = b"\x01\x00\x00\x00"
_TYPE_SECTION = 1

# Abstract heap types by their one-byte (negative s33) encoding.
_ABSTRACT = {
    0x70: FUNC, 0x6F: EXTERN, 0x6E: ANY, 0x6D: EQ, 0x6C: I31, 0x6B: STRUCT, 0x6A: ARRAY,
    0x69: EXN, 0x71: NONE, 0x72: NOEXTERN, 0x73: NOFUNC, 0x74: NOEXN,
}
_UNSUPPORTED_HEAP = {0x68: "cont", 0x75: "nocont"}
_NUMERIC = {0x7F: I32, 0x7E: I64, 0x7D: F32, 0x7C: F64, 0x7B: V128}
_PACKED = {0x78: I8, 0x77: I16}


class _Reader:
    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data = data
        self.pos = pos
        self.end = end

    def fail(self, msg: str, at: int | None = None) -> MalformedWasmError:
        return MalformedWasmError(f"at byte offset {self.pos if at is None else at}: {msg}")

    def byte(self) -> int:
        if self.pos >= self.end:
            raise self.fail("unexpected end of data")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def u32(self) -> int:
        start = self.pos
        result = shift = 0
        for i in range(5):
            b = self.byte()
            if i == 4 and b & 0x70:
                raise self.fail("u32 LEB128 out of range (unused bits set)", start)
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
        raise self.fail("u32 LEB128 longer than 5 bytes", start)

    def s33(self) -> int:
        start = self.pos
        result = shift = 0
        for i in range(5):
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if i == 4:
                    # 33 bits: 4*7 = 28 bits so far, then 5 value bits; the remaining bits
                    # of the last byte must be a sign extension of bit 32.
                    top = b & 0x70
                    if top not in (0, 0x70) or (top == 0x70) != bool(b & 0x10):
                        raise self.fail("s33 LEB128 out of range", start)
                if b & 0x40:
                    result -= 1 << shift
                return result
        raise self.fail("s33 LEB128 longer than 5 bytes", start)


def _heap_type(r: _Reader) -> AbstractHeapType | int:
    at = r.pos
    if r.pos < r.end and r.data[r.pos] == 0x65:
        raise r.fail("shared heap types are not supported", at)
    v = r.s33()
    if v >= 0:
        if v >= _MAX_INDEX:
            raise r.fail(f"type index {v} is out of range", at)
        return v
    code = v & 0x7F
    if v >= -0x40 and code in _ABSTRACT:
        return _ABSTRACT[code]
    if v >= -0x40 and code in _UNSUPPORTED_HEAP:
        raise r.fail(f"heap type {_UNSUPPORTED_HEAP[code]} (stack switching) is not supported",
                     at)
    raise r.fail(f"invalid heap type 0x{code:02X}", at)


def _ref_or_val(r: _Reader, b: int, at: int) -> StorageType | RefType:
    if b in _NUMERIC:
        return _NUMERIC[b]
    if b == 0x64 or b == 0x63:
        return RefType(_heap_type(r), nullable=b == 0x63)
    if b in _ABSTRACT:
        return RefType(_ABSTRACT[b])
    if b in _UNSUPPORTED_HEAP:
        raise r.fail(f"reference type {_UNSUPPORTED_HEAP[b]}ref is not supported", at)
    raise r.fail(f"invalid value type 0x{b:02X}", at)


def _val_type(r: _Reader) -> StorageType | RefType:
    at = r.pos
    b = r.byte()
    if b in _PACKED:
        # Packed types only appear as storage; report it where it is read, by offset.
        raise r.fail("packed type i8/i16 is only allowed as field storage", at)
    return _ref_or_val(r, b, at)


def _field_type(r: _Reader) -> FieldType:
    at = r.pos
    b = r.byte()
    storage: StorageType | RefType = _PACKED[b] if b in _PACKED else _ref_or_val(r, b, at)
    at = r.pos
    m = r.byte()
    if m > 1:
        raise r.fail(f"invalid mutability flag 0x{m:02X}", at)
    return FieldType(storage, mutable=m == 1)


def _vec(r: _Reader, what: str) -> int:
    at = r.pos
    n = r.u32()
    # Each item takes at least one byte: a count beyond the remaining bytes is malformed,
    # and checking it here keeps a hostile count from allocating or looping for long.
    if n > r.end - r.pos:
        raise r.fail(f"{what} count {n} exceeds the remaining {r.end - r.pos} bytes", at)
    return n


def _composite(r: _Reader, b: int, at: int) -> StructType | ArrayType | FuncType:
    if b == 0x5F:
        return StructType([_field_type(r) for _ in range(_vec(r, "field"))])
    if b == 0x5E:
        return ArrayType(_field_type(r))
    if b == 0x60:
        params = [_val_type(r) for _ in range(_vec(r, "param"))]
        results = [_val_type(r) for _ in range(_vec(r, "result"))]
        return FuncType(params, results)
    if b in (0x5D, 0x5C):
        raise r.fail("continuation / exception composite types are not supported", at)
    raise r.fail(f"invalid composite type 0x{b:02X}", at)


def _sub_type(r: _Reader) -> SubType:
    at = r.pos
    b = r.byte()
    if b in (0x50, 0x4F):
        n = _vec(r, "supertype")
        if n > 1:
            raise r.fail(f"{n} supertypes declared; at most one is allowed", at)
        at2 = r.pos
        supertype = r.u32() if n else None
        if supertype is not None and supertype >= _MAX_INDEX:
            raise r.fail(f"supertype index {supertype} is out of range", at2)
        at2 = r.pos
        return SubType(_composite(r, r.byte(), at2), final=b == 0x4F, supertype=supertype)
    return SubType(_composite(r, b, at))


def _type_section(r: _Reader) -> list[RecGroup]:
    groups = []
    for _ in range(_vec(r, "rec group")):
        if r.pos < r.end and r.data[r.pos] == 0x4E:
            r.pos += 1
            groups.append(RecGroup([_sub_type(r) for _ in range(_vec(r, "rec group member"))]))
        else:
            groups.append(RecGroup([_sub_type(r)]))
    if r.pos != r.end:
        raise r.fail(f"type section has {r.end - r.pos} bytes after its last entry")
    return groups


def decode_type_section(wasm_bytes: bytes | bytearray | memoryview) -> list[RecGroup]:
    """The rec groups of a WebAssembly binary's type section (empty if it has none).

    Integer type references in the result are module-level indices, ready for
    ``TypeRegistry.register_module``. Raises ``MalformedWasmError`` (a ``ValueError``) with
    the byte offset for malformed or truncated input, ``TypeError`` for non-bytes input.
    """
    if not isinstance(wasm_bytes, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, not {type(wasm_bytes).__name__}")
    data = bytes(wasm_bytes)
    r = _Reader(data, 0, len(data))
    if data[:4] != _MAGIC:
        raise r.fail("not a WebAssembly binary (bad magic number)", 0)
    if len(data) < 8:
        raise r.fail("unexpected end of data in the header", len(data))
    if data[4:8] != _VERSION:
        raise r.fail("unsupported binary version (only version 1 modules are read)", 4)
    r.pos = 8
    groups: list[RecGroup] | None = None
    while r.pos < r.end:
        at = r.pos
        section_id = r.byte()
        size = r.u32()
        if size > r.end - r.pos:
            raise r.fail(f"section {section_id} of {size} bytes runs past the end of the "
                         f"data ({r.end - r.pos} bytes left)", at)
        body_end = r.pos + size
        if section_id == _TYPE_SECTION:
            if groups is not None:
                raise r.fail("a second type section", at)
            groups = _type_section(_Reader(data, r.pos, body_end))
        r.pos = body_end
    return groups if groups is not None else []
