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
    (release or gc_zeal) it will load.

    In a regular install that is the site-packages directory holding ``drc``. An editable
    install keeps the generated header in its meson build directory, apart from the sources,
    so there the directory is a tree of links to both, made (or refreshed) by this call inside
    the build directory, one per variant.
    """
    package = os.path.dirname(os.path.abspath(__file__))
    if os.path.isfile(os.path.join(package, "includes", "drc_config.h")):
        return os.path.dirname(package)
    return _editable_include_tree(package)


def _editable_include_tree(package: str) -> str:
    import importlib.resources

    import registry

    # meson-python's editable loader maps package files to where they really are: the
    # sources in the source tree, the generated header in the build directory.
    config = importlib.resources.files("drc").joinpath("includes", "drc_config.h")
    if not isinstance(config, os.PathLike) or not os.path.isfile(config):
        raise RuntimeError(f"drc at {package} has no generated drc_config.h: it is neither a "
                           f"regular install nor a meson-python editable install")
    config = os.fspath(config)
    tree = os.path.join(os.path.dirname(config), "include-tree")
    links = {os.path.join(tree, "registry"): os.path.dirname(os.path.abspath(registry.__file__))}
    for sub in ("", "includes"):                # what a regular install ships for cimport
        for name in os.listdir(os.path.join(package, sub)):
            if name.endswith((".pxd", ".h", ".py")):
                links[os.path.join(tree, "drc", sub, name)] = os.path.join(package, sub, name)
    links[os.path.join(tree, "drc", "includes", "drc_config.h")] = config
    for link, target in links.items():
        if os.path.islink(link) and os.readlink(link) == target:
            continue
        os.makedirs(os.path.dirname(link), exist_ok=True)
        fresh = f"{link}.{os.getpid()}.tmp"
        os.symlink(target, fresh)
        os.replace(fresh, link)                 # atomic: concurrent callers never see a gap
    for where, dirs, files in os.walk(tree):
        for name in dirs + files:               # links to files that left the source tree
            path = os.path.join(where, name)
            if path not in links and os.path.islink(path):
                os.unlink(path)
    return tree


try:
    __version__ = version("drc-heap")
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
