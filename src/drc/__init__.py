"""A deferred-reference-counting garbage-collected heap with WebAssembly GC semantics.

Objects (structs, arrays, externrefs) live packed in one mmap-backed linear memory and are
reclaimed by reference counting, with refs held by guest frames tracked through an
over-approximated stack-roots list and settled at collections. Types come from ``registry``.
"""

import os
from importlib.metadata import PackageNotFoundError, version

from drc.build import ZEAL
from drc.errors import (
    DrcError,
    HeapCorruptionError,
    InvalidRefError,
    NoGcScopeError,
    OutOfHeapError,
)
from drc.heap import I31, MAX_HEAP_SIZE, Collection, CollectionReport, FuncRef, GcRef, Heap
from drc.stackmap import StackMapRegistry


def get_include() -> str:
    """The include directory for extensions that ``cimport drc`` or ``cimport registry``.

    Pass it to Cython (``-I``) and to the C compiler (``include_directories``): it holds the
    ``drc`` and ``registry`` packages with their ``.pxd`` files and drc's C headers, including
    the generated ``drc/includes/drc_config.h`` that tells downstream code which build variant
    (release or gc_zeal) it will load. An editable install has no such directory (the
    generated header lives in its build directory); build downstream code against a regular
    install.
    """
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


try:
    __version__ = version("drc")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "I31",
    "MAX_HEAP_SIZE",
    "Collection",
    "CollectionReport",
    "ZEAL",
    "FuncRef",
    "GcRef",
    "Heap",
    "DrcError",
    "HeapCorruptionError",
    "InvalidRefError",
    "NoGcScopeError",
    "OutOfHeapError",
    "StackMapRegistry",
    "__version__",
    "get_include",
]
