"""Engine-wide registry of WebAssembly GC types.

Recursion groups are hash-consed, kept alive by registration counts, checked for subtyping in
O(1) through supertype displays, and given the DRC heap layout of their struct and array types.
This package knows nothing of ``drc``.
"""

from registry.errors import InvalidTypeError, MalformedWasmError, RegistryError, UnknownTypeError

__all__ = ["InvalidTypeError", "MalformedWasmError", "RegistryError", "UnknownTypeError"]
