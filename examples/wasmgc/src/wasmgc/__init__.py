"""wasmgc: a WebAssembly 3.0 GC interpreter built on drc's C-level API.

Every GC object lives in one drc ``Heap``; the interpreter keeps refs as raw u32 values and
reports its precise roots through the heap's root provider.
"""

from __future__ import annotations

import drc
from wasmgc.errors import Exhaustion, LinkError, Trap, VariantError, WasmError

try:
    from wasmgc import interp as _interp
except ImportError as e:          # a drc without the symbols this build was compiled against
    raise VariantError(f"wasmgc could not load its interpreter against the installed drc "
                       f"({e}); rebuild wasmgc against this drc") from e

# The interpreter inlines drc's fast paths, which differ between the release and gc_zeal
# builds (zeal tracks counts per object): running one against the other corrupts the heap.
ZEAL: bool = _interp.ZEAL
if ZEAL != drc.ZEAL:
    raise VariantError(
        f"wasmgc was compiled against the {'gc_zeal' if ZEAL else 'release'} build of drc, "
        f"but the installed drc is the {'gc_zeal' if drc.ZEAL else 'release'} build; "
        f"reinstall wasmgc against this drc (pip install --no-build-isolation "
        f"examples/wasmgc)")

from wasmgc.binary import DecodeError, decode  # noqa: E402
from wasmgc.compile import InvalidModule, Unsupported  # noqa: E402
from wasmgc.instance import Engine, Extern, Instance, Module, spectest  # noqa: E402

__all__ = ["ZEAL", "DecodeError", "Engine", "Exhaustion", "Extern", "Instance",
           "InvalidModule", "LinkError", "Module", "Trap", "Unsupported", "VariantError",
           "WasmError", "decode", "spectest"]
