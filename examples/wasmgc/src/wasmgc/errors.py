"""wasmgc's exceptions."""


class WasmError(Exception):
    """Base of wasmgc's errors."""


class Trap(WasmError):
    """A WebAssembly trap; the message is the spec's (e.g. "null structure reference")."""


class Exhaustion(Trap):
    """The guest's call stack ran out ("call stack exhausted")."""


class LinkError(WasmError):
    """An import could not be satisfied ("unknown import", "incompatible import type")."""


class VariantError(ImportError):
    """wasmgc was compiled against the other drc variant (release vs gc_zeal)."""
