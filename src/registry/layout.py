"""DRC heap layouts of struct and array types, as Python sees them.

The registry computes every layout once, when a type is registered, into its C record
(``typeinfo.pxd``); ``TypeRegistry.layout`` turns that record into one of these values.
"""

from __future__ import annotations

from dataclasses import dataclass

_U32_MAX = 0xFFFF_FFFF


@dataclass(frozen=True, slots=True)
class FieldLayout:
    """Where one struct field lives: ``offset`` from the object start (header included)."""

    offset: int
    size: int
    is_gc_ref: bool


@dataclass(frozen=True, slots=True)
class StructLayout:
    """A struct's object size (unrounded; the allocator rounds to 16), alignment and fields."""

    size: int
    align: int
    fields: tuple[FieldLayout, ...]


@dataclass(frozen=True, slots=True)
class ArrayLayout:
    """An array: header, ``u32`` length at ``length_offset``, elements from ``base_size``."""

    base_size: int
    align: int
    elem_size: int
    elems_are_gc_refs: bool
    length_offset: int = 24

    def elem_offset(self, i: int) -> int:
        """Byte offset of element ``i``; raises ``OverflowError`` beyond ``u32``."""
        if not isinstance(i, int) or isinstance(i, bool):
            raise TypeError(f"element index must be an int, not {type(i).__name__}")
        if i < 0:
            raise ValueError(f"element index must be >= 0, got {i}")
        offset = self.base_size + i * self.elem_size
        if offset > _U32_MAX:
            raise OverflowError(f"an array of {i} elements of {self.elem_size} bytes does not "
                                "fit in a 32-bit heap")
        return offset

    def size_for_len(self, n: int) -> int:
        """Object size (unrounded, no tail padding) of an array of ``n`` elements.

        Raises ``OverflowError`` when the size does not fit in ``u32``, ``ValueError`` for
        a negative length.
        """
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"array length must be an int, not {type(n).__name__}")
        if n < 0:
            raise ValueError(f"array length must be >= 0, got {n}")
        return self.elem_offset(n)
