"""The registry's exceptions. Each also derives from the builtin a Python user would catch."""


class RegistryError(Exception):
    """Base class of every error the type registry raises."""


class InvalidTypeError(RegistryError, ValueError):
    """A type definition breaks a WebAssembly GC rule; nothing was registered.

    The message names the offending module-level type index and the rule.
    """


class UnknownTypeError(RegistryError, LookupError):
    """An engine type index that is not (or no longer) registered."""


class MalformedWasmError(RegistryError, ValueError):
    """A WebAssembly binary that cannot be decoded; the message gives the byte offset."""
