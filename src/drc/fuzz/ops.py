"""The fuzz operation language.

An operation is ``(code, a, b, c)``: an opcode and three 16-bit arguments. Arguments are never
indices that must be in range: the executor resolves them modulo whatever exists at that
moment (handles, guest-stack slots, fields, held registrations), so *every* sequence of
operations is meaningful. That is what lets the shrinker delete operations freely and lets a
coverage-guided fuzzer feed raw bytes: any 7 bytes decode to one operation.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

Op = tuple[int, int, int, int]

#: (name, relative weight in random streams). The code of an op is its position here.
OPS: tuple[tuple[str, int], ...] = (
    ("new_node", 10),       # struct {mut anyref, mut anyref, mut i32, mut i8}
    ("new_array", 5),       # array (mut anyref), usually short, sometimes > 1024 elements
    ("new_i32_array", 3),   # array (mut i32)
    ("new_fixed", 3),       # array.new_fixed of three anyref values
    ("new_extern", 5),      # externref with a payload that counts its own release
    ("new_box", 4),         # struct {mut externref}
    ("set_ref", 12),        # struct.set / array.set of a ref field
    ("set_int", 4),         # struct.set / array.set of an integer field
    ("get", 8),             # struct.get / array.get (a ref read makes a new handle)
    ("fill", 2),            # array.fill
    ("copy", 2),            # array.copy (overlapping copies included)
    ("link_mutual", 6),     # two objects point at each other: a two-object cycle
    ("self_ref", 3),        # an object points at itself
    ("link_ancestor", 5),   # a descendant (a few reads down) points back at its ancestor
    ("drop", 22),           # close a host handle
    ("clone", 4),           # clone a host handle
    ("expose", 8),          # hand a ref to the guest: OASR list + guest stack
    ("expose_i31", 1),      # an i31 on the guest stack (never an object)
    ("pop", 7),             # the guest stops holding a stack slot
    ("guest_read", 4),      # from_raw of a guest-stack slot: a new host handle
    ("collect", 4),         # full collection, with or without the cycle pass; the guest
                            # reports a subset of its stack
    ("gc_start", 2),        # incremental collection: gc() + the trace increment
    ("gc_step", 3),         # the next increment (sweep, then the cycle pass) under way
    ("gc_cancel", 1),       # cancel the collection under way
    ("big_alloc", 1),       # a large array: growth, collections for room, OutOfHeapError
    ("no_gc_collect", 1),   # a collection inside no_gc() must raise and change nothing
    ("reg_register", 3),    # register a module from the pool
    ("reg_drop", 3),        # close a held TypeCollection / RegisteredType
    ("reg_root", 1),        # root(index) of a live pool type
    ("reg_query", 3),       # get / is_subtype / ref_matches / rec_group / layout / `in`
    ("reg_alloc", 1),       # allocate (or use_type) a pool type: the heap holds it for good
    ("bad_call", 3),        # a wrong call: a clean exception and no change
    ("verify", 1),          # heap.verify() + registry.verify() + a full field comparison
    # Function references (interned entries of the heap's function table) and extern/any.
    ("new_func", 3),        # funcref_new of f0 or f1 <: f0 with a target from a small pool
    ("new_vtable", 3),      # struct {mut (ref null $f1), mut (ref null $f0)}
    ("new_func_array", 2),  # array (mut (ref null $f0)), by array_new or array_new_fixed
    ("set_func", 4),        # store a funcref (or null); a supertype into (ref $f1) is refused
    ("drop_func", 4),       # drop a FuncRef handle
    ("reclaim_funcs", 2),   # reclaim_funcrefs(): exactly the entries nothing holds go
    ("convert", 3),         # extern.convert_any / any.convert_extern, stored across kinds
    ("init_data", 2),       # array_new_data / array_init_data on i32 arrays (bounds traps)
)

NAMES: tuple[str, ...] = tuple(name for name, _ in OPS)
CODES: dict[str, int] = {name: i for i, name in enumerate(NAMES)}
OP_BYTES = 7


def generate(rng: random.Random, n: int) -> list[Op]:
    """`n` random operations, with the weights above."""
    codes = rng.choices(range(len(OPS)), weights=[w for _, w in OPS], k=n)
    r = rng.getrandbits
    return [(code, r(16), r(16), r(16)) for code in codes]


def to_bytes(ops: Iterable[Op]) -> bytes:
    """The byte form that `from_bytes` decodes (used for the replayed corpus)."""
    out = bytearray()
    for code, a, b, c in ops:
        out.append(code)
        for v in (a, b, c):
            out += (v & 0xFFFF).to_bytes(2, "little")
    return bytes(out)


def from_bytes(data: bytes) -> list[Op]:
    """Decode raw fuzzer bytes: 7 bytes an op, opcode modulo the number of ops, trailing
    bytes ignored."""
    ops = []
    for i in range(0, len(data) - OP_BYTES + 1, OP_BYTES):
        code = data[i] % len(OPS)
        a = int.from_bytes(data[i + 1:i + 3], "little")
        b = int.from_bytes(data[i + 3:i + 5], "little")
        c = int.from_bytes(data[i + 5:i + 7], "little")
        ops.append((code, a, b, c))
    return ops


def describe(op: Op) -> str:
    code, a, b, c = op
    return f"{NAMES[code]}({a}, {b}, {c})"


def as_source(ops: Sequence[Op]) -> str:
    """A paste-able Python list literal, one op a line with its name as a comment."""
    lines = ["["]
    for op in ops:
        lines.append(f"    {tuple(op)!r},  # {describe(op)}")
    lines.append("]")
    return "\n".join(lines)
