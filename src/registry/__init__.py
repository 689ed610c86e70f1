"""Engine-wide registry of WebAssembly GC types.

Recursion groups are hash-consed, kept alive by registration counts, checked for subtyping in
O(1) through supertype displays, and given the DRC heap layout of their struct and array types.
This package knows nothing of ``drc``.
"""

import os

from registry.decode import decode_type_section
from registry.encode import encode_module
from registry.errors import InvalidTypeError, MalformedWasmError, RegistryError, UnknownTypeError
from registry.layout import ArrayLayout, FieldLayout, StructLayout
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
    RegisteredType,
    StorageType,
    StructType,
    SubType,
    TypeCollection,
    TypeRegistry,
)


def get_include() -> str:
    """The include directory for extensions that ``cimport registry``: pass it to Cython
    (``-I``). It is the directory that holds the ``registry`` package and its ``.pxd`` files
    (in a regular install, the same directory as ``drc.get_include()``)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


__all__ = [
    "ANY", "ARRAY", "EQ", "EXN", "EXTERN", "F32", "F64", "FUNC", "I8", "I16", "I31", "I32",
    "I64", "NOEXN", "NOEXTERN", "NOFUNC", "NONE", "STRUCT", "V128",
    "AbstractHeapType", "ArrayLayout", "ArrayType", "FieldLayout", "FieldType", "FuncType",
    "InvalidTypeError", "MalformedWasmError", "RecGroup", "RefType", "RegisteredType",
    "RegistryError", "StorageType", "StructLayout", "StructType", "SubType", "TypeCollection",
    "TypeRegistry", "UnknownTypeError", "decode_type_section", "encode_module", "get_include",
]
