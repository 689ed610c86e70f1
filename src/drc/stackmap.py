"""Stack maps: which slots of a guest frame hold GC refs at a given pc.

An embedder's interpreter or compiler registers, per module, the pc range of each function and
the stack maps of its safepoints. At a collection, each guest frame is reported as
``(pc, slots)``; the registry finds the frame's stack map and the collector reads the refs out
of the mapped slots (Wasmtime's former ``StackMapRegistry``, in
``crates/runtime/src/externref.rs`` of wasmtime-runtime 0.24).

Lookup works as that registry's ``lookup_stack_map`` does: a pc belongs to the module whose
range contains it (ends are inclusive, since a return address may sit just past the last
instruction); within the module, the map is the one of the nearest safepoint at or before the
pc, because the pc a frame reports can drift past its safepoint (a return address, a reload
of spilled refs before a call). A pc before a function's first safepoint has no map: a marker
separates functions so that the previous function's last map never leaks into the next one.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Sequence
from typing import Any

StackMap = tuple[int, ...]
"""The slot indices of a frame that hold GC refs at a safepoint, ascending."""


def _as_index(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {value}")
    return value


def _as_stack_map(slots: object) -> StackMap:
    if isinstance(slots, (str, bytes)) or not isinstance(slots, Iterable):
        raise TypeError(f"a stack map is an iterable of slot indices, not {type(slots).__name__}")
    indices = sorted({_as_index(s, "a stack-map slot index") for s in slots})
    return tuple(indices)


class _ModuleMaps:
    """The safepoints of one registered module, sorted by pc."""

    __slots__ = ("start", "end", "pcs", "maps")

    def __init__(self, start: int, end: int, pcs: list[int], maps: list[StackMap | None]):
        self.start = start
        self.end = end
        self.pcs = pcs
        self.maps = maps

    def same_as(self, other: _ModuleMaps) -> bool:
        return (self.start, self.end, self.pcs, self.maps) == (
            other.start, other.end, other.pcs, other.maps)


class StackMapRegistry:
    """pc ranges of guest code and the stack maps of their safepoints.

    Thread-safe: registration and lookup take one lock. Lookup is two binary searches.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ends: list[int] = []           # each module's last pc, ascending
        self._modules: list[_ModuleMaps] = []  # parallel to _ends

    def register(self, functions: Iterable[tuple[int, int, Iterable[tuple[int, Iterable[int]]]]],
                 ) -> None:
        """Register one module: ``[(start, end, [(code_offset, slots), ...]), ...]``.

        Each function occupies pcs ``[start, end)``; each safepoint sits at ``start +
        code_offset`` with ``code_offset < end - start`` and maps the frame slots listed in
        ``slots``. Functions must be given in ascending pc order and must not overlap, and
        safepoints ascend within a function. Registering the very same module again is a no-op;
        a module that overlaps another registered one raises ``ValueError`` and registers
        nothing. A module without any safepoint registers nothing (it has no refs to report).
        """
        low, high = None, 0
        pcs: list[int] = []
        maps: list[StackMap | None] = []
        last_is_marker = True
        previous_end = -1
        for entry in functions:
            start, end, safepoints = self._unpack_function(entry)
            if start < previous_end:
                raise ValueError(
                    f"function [{start:#x}, {end:#x}) overlaps or precedes the previous "
                    f"function ending at {previous_end:#x}; give functions in ascending order")
            previous_end = end
            low = start if low is None else min(low, start)
            high = max(high, end)
            points = [self._unpack_safepoint(sp, start, end) for sp in safepoints]
            offsets = [offset for offset, _ in points]
            if offsets != sorted(set(offsets)):
                raise ValueError(
                    f"safepoints of function [{start:#x}, {end:#x}) must have distinct, "
                    f"ascending code offsets, got {offsets}")
            # A pc between this function's start and its first safepoint has no map; without
            # the marker the search would land on the previous function's last safepoint.
            if not last_is_marker and (not points or points[0][0] > 0):
                pcs.append(start)
                maps.append(None)
                last_is_marker = True
            for offset, stack_map in points:
                pcs.append(start + offset)
                maps.append(stack_map)
                last_is_marker = False
        if not pcs or low is None:
            return
        module = _ModuleMaps(low, high, pcs, maps)
        with self._lock:
            i = bisect.bisect_left(self._ends, high)
            if i < len(self._ends) and self._ends[i] == high:
                if self._modules[i].same_as(module):
                    return
                raise ValueError(
                    f"pc range [{low:#x}, {high:#x}] is already registered with other stack "
                    f"maps")
            # Ranges are inclusive of their end (see the module docstring), so neighbours
            # must be strictly apart.
            if i < len(self._modules) and self._modules[i].start <= high:
                other = self._modules[i]
                raise ValueError(
                    f"pc range [{low:#x}, {high:#x}] overlaps the registered range "
                    f"[{other.start:#x}, {other.end:#x}]")
            if i > 0 and self._ends[i - 1] >= low:
                other = self._modules[i - 1]
                raise ValueError(
                    f"pc range [{low:#x}, {high:#x}] overlaps the registered range "
                    f"[{other.start:#x}, {other.end:#x}]")
            self._ends.insert(i, high)
            self._modules.insert(i, module)

    def unregister(self, pc: int) -> None:
        """Forget the module whose range contains ``pc``; ``LookupError`` if there is none."""
        pc = _as_index(pc, "pc")
        with self._lock:
            i = self._module_at(pc)
            if i is None:
                raise LookupError(f"no registered module contains pc {pc:#x}")
            del self._ends[i]
            del self._modules[i]

    def lookup(self, pc: int) -> StackMap | None:
        """The stack map that applies at ``pc``, or ``None`` (no guest code there, or no refs
        live at that point)."""
        pc = _as_index(pc, "pc")
        with self._lock:
            i = self._module_at(pc)
            if i is None:
                return None
            module = self._modules[i]
            k = bisect.bisect_right(module.pcs, pc)
            if k == 0:
                return None
            return module.maps[k - 1]

    def roots_of_frames(self, frames: Iterable[tuple[int, Sequence[int]]]) -> list[int]:
        """The nonzero raw refs held in the mapped slots of ``frames`` (``(pc, slots)`` pairs).

        A frame whose pc is not guest code (no module contains it) is a host frame and holds
        no roots. A stack map naming a slot the frame does not have raises ``IndexError``:
        the embedder's frame and its stack map disagree.
        """
        roots: list[int] = []
        for frame in frames:
            try:
                pc, slots = frame
            except (TypeError, ValueError):
                raise TypeError(f"a frame is a (pc, slots) pair, got {frame!r}") from None
            stack_map = self.lookup(pc)
            if not stack_map:
                continue
            if len(slots) <= stack_map[-1]:
                raise IndexError(
                    f"the stack map at pc {pc:#x} names slot {stack_map[-1]}, but the frame "
                    f"has only {len(slots)} slots")
            for s in stack_map:
                raw = slots[s]
                if raw:
                    roots.append(raw)
        return roots

    def __len__(self) -> int:
        """The number of registered modules."""
        return len(self._modules)

    def _module_at(self, pc: int) -> int | None:
        i = bisect.bisect_left(self._ends, pc)
        if i == len(self._ends) or pc < self._modules[i].start:
            return None
        return i

    @staticmethod
    def _unpack_function(entry: Any) -> tuple[int, int, Iterable[Any]]:
        try:
            raw_start, raw_end, safepoints = entry
        except (TypeError, ValueError):
            raise TypeError(
                f"a function is a (start, end, safepoints) triple, got {entry!r}") from None
        start = _as_index(raw_start, "function start pc")
        end = _as_index(raw_end, "function end pc")
        if end <= start:
            raise ValueError(f"function range [{start:#x}, {end:#x}) is empty")
        if isinstance(safepoints, (str, bytes)) or not isinstance(safepoints, Iterable):
            raise TypeError(f"safepoints must be an iterable of (code_offset, slots) pairs, "
                            f"got {type(safepoints).__name__}")
        return start, end, safepoints

    @staticmethod
    def _unpack_safepoint(entry: Any, start: int, end: int) -> tuple[int, StackMap]:
        try:
            raw_offset, slots = entry
        except (TypeError, ValueError):
            raise TypeError(
                f"a safepoint is a (code_offset, slots) pair, got {entry!r}") from None
        offset = _as_index(raw_offset, "safepoint code offset")
        if offset >= end - start:
            raise ValueError(
                f"safepoint code offset {offset} lies outside its function "
                f"[{start:#x}, {end:#x})")
        return offset, _as_stack_map(slots)
