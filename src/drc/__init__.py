"""A deferred-reference-counting garbage-collected heap with WebAssembly GC semantics.

Objects (structs, arrays, externrefs) live packed in one mmap-backed linear memory and are
reclaimed by reference counting, with refs held by guest frames tracked through an
over-approximated stack-roots list and settled at collections. Types come from ``registry``.
"""

from importlib.metadata import PackageNotFoundError, version

from drc.build import ZEAL
from drc.errors import (
    DrcError,
    HeapCorruptionError,
    InvalidRefError,
    NoGcScopeError,
    OutOfHeapError,
)
from drc.heap import I31, MAX_HEAP_SIZE, GcRef, Heap

try:
    __version__ = version("drc")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "I31",
    "MAX_HEAP_SIZE",
    "ZEAL",
    "GcRef",
    "Heap",
    "DrcError",
    "HeapCorruptionError",
    "InvalidRefError",
    "NoGcScopeError",
    "OutOfHeapError",
    "__version__",
]
