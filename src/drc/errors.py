"""The heap's exceptions. Each also derives from the builtin a Python user would catch."""


class DrcError(Exception):
    """Base class of every error the heap raises."""


class InvalidRefError(DrcError, ValueError):
    """A ref that is null where an object is needed, dead, of the wrong kind, or from another
    heap."""


class HeapCorruptionError(DrcError, RuntimeError):
    """An integrity check failed; the message names the heap offset and the broken rule."""


class OutOfHeapError(DrcError, MemoryError):
    """The heap cannot grow enough for an allocation; the heap itself is unchanged."""


class NoGcScopeError(DrcError, RuntimeError):
    """A collection was requested inside a no-GC scope."""
