"""A readable report of a module's types: groups, shared indices, layouts, subtyping.

Backs ``python -m drc types FILE.wasm``; kept here so the report needs nothing from ``drc``.
"""

from __future__ import annotations

from registry.decode import decode_type_section
from registry.layout import ArrayLayout, StructLayout
from registry.registry import RecGroup, TypeRegistry


def _layout_line(layout: StructLayout | ArrayLayout | None) -> str:
    if isinstance(layout, StructLayout):
        fields = ", ".join(f"{f.offset}:{f.size}{'*' if f.is_gc_ref else ''}"
                           for f in layout.fields)
        return f"struct size {layout.size} align {layout.align} fields [{fields}]"
    if isinstance(layout, ArrayLayout):
        refs = ", elements are GC refs" if layout.elems_are_gc_refs else ""
        return (f"array base {layout.base_size} align {layout.align} elem {layout.elem_size} "
                f"length at {layout.length_offset}{refs}")
    return "func (no layout)"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


#: Printed under the summary: what the report's notation means.
KEY = [
    "key: type M -> shared S: module type index M is engine-wide type index S (equivalent types "
    "share one)",
    "     layout fields are offset:size in bytes; * marks a GC ref field (counted and traced)",
]


def describe_wasm(wasm_bytes: bytes, registry: TypeRegistry | None = None) -> list[str]:
    """Register the binary's types (in a fresh registry unless one is given); report lines.

    Raises ``MalformedWasmError`` / ``InvalidTypeError`` like ``register_wasm``.
    """
    groups: list[RecGroup] = decode_type_section(wasm_bytes)
    reg = registry if registry is not None else TypeRegistry()
    lines: list[str] = []
    before = len(reg)
    with reg.register_module(groups) as coll:
        n = len(coll)
        # In a fresh registry, every type beyond the module's own is a trampoline type.
        extra = len(reg) - len(set(coll.shared_types)) if before == 0 else 0
        lines.append(f"{_count(n, 'type')} in {_count(len(groups), 'rec group')}; the "
                     f"registry now holds {_count(len(reg), 'type')}")
        if extra > 0:
            lines.append(f"  ({extra} of them trampoline type{'s' * (extra != 1)}: a function "
                         "type's form with every ref parameter and result widened to a "
                         "nullable top type, which host calls go through)")
        lines.extend(KEY)
        m = 0
        for g, group in enumerate(groups):
            lines.append(f"rec group {g}:")
            for sub in group:
                shared = coll.shared_type(m)
                lines.append(f"  type {m} -> shared {shared}: {sub}")
                layout = _layout_line(reg.layout(shared))
                if layout.startswith("func"):
                    tramp = reg.trampoline_type(shared)
                    layout += ("; it is its own trampoline type" if tramp == shared
                               else f"; trampoline type: shared {tramp}")
                lines.append(f"    layout: {layout}")
                m += 1
        lines.append("subtyping (module indices, proper supertypes):")
        shared_types = coll.shared_types
        any_edge = False
        for a in range(n):
            sups = [b for b in range(n)
                    if a != b and shared_types[a] != shared_types[b]
                    and reg.is_subtype(shared_types[a], shared_types[b])]
            if sups:
                any_edge = True
                lines.append(f"  {a} <: {', '.join(map(str, sups))}")
        same: dict[int, list[int]] = {}
        for a in range(n):
            same.setdefault(shared_types[a], []).append(a)
        for members in same.values():
            if len(members) > 1:
                any_edge = True
                lines.append(f"  equivalent: {' = '.join(map(str, members))}")
        if not any_edge:
            lines.append("  (none)")
    return lines
