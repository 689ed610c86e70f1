"""Registries shared by threads: writers register and drop the *same* groups (hash-consing
hits racing unregistration), as type values or as .wasm bytes (the C path), while readers
query those types and heaps allocate them. Readers
accept exactly two outcomes for an index: the right answer, or UnknownTypeError once it is
gone; anything else (a wrong answer, another exception, a crash) fails."""

from __future__ import annotations

import random
import sys
import threading

import registry as R
from drc import Heap

A = R.SubType(R.StructType([R.FieldType(R.I32, True)]), final=False)
B = R.SubType(R.StructType([R.FieldType(R.I32, True), R.FieldType(R.I64)]), supertype=0)
GROUPS = [[A], [A, B], [R.RecGroup([R.SubType(R.StructType([R.FieldType(R.RefType(1))])),
                                    R.SubType(R.ArrayType(R.FieldType(R.RefType(0), True)))])]]
WASM = [R.encode_module(g) for g in GROUPS]


def register(reg, rnd, k):
    """Module k of GROUPS, through either path (both hash-cons onto the same groups)."""
    if rnd.random() < 0.5:
        return reg.register_wasm(WASM[k])
    return reg.register_module(GROUPS[k])


def test_writers_and_readers_share_a_registry():
    reg = R.TypeRegistry()
    stop = threading.Event()
    errors: list[BaseException] = []
    published: list[tuple[int, ...]] = []   # shared_types of [A, B] registrations seen
    lock = threading.Lock()

    def writer(seed):
        rnd = random.Random(seed)
        held = []
        try:
            for _ in range(4000):
                if rnd.random() < 0.55 or not held:
                    c = register(reg, rnd, rnd.randrange(len(GROUPS)))
                    if len(c) == 2 and c.shared_type(1) != c.shared_type(0):
                        with lock:
                            published.append(c.shared_types)
                    held.append(c)
                else:
                    held.pop(rnd.randrange(len(held))).close()
            for c in held:
                c.close()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def reader(seed):
        rnd = random.Random(seed)
        heap = Heap(reg, max_size=1 << 20)
        answered = 0
        try:
            while not stop.is_set() or answered < 50:
                with lock:
                    pair = rnd.choice(published) if published else None
                if pair is None:
                    continue
                # A published pair may be stale and its indices reused by another group:
                # unheld queries must answer or raise UnknownTypeError, never crash.
                for i in pair:
                    try:
                        reg.is_subtype(i, pair[0])
                        reg.layout(i)
                        reg.get(i)
                    except R.UnknownTypeError:
                        pass
                # Held queries must be right: a registration of our own keeps [A, B] alive
                # (a hash-consing hit racing the writers' drops).
                with register(reg, rnd, 1) as mine:
                    a, b = mine.shared_types
                    assert reg.is_subtype(b, a) and not reg.is_subtype(a, b)
                    assert reg.ref_matches(R.RefType(b, False), R.RefType(a))
                    assert reg.rec_group(a) == (a,)
                    assert reg.layout(b).size >= reg.layout(a).size
                    if rnd.random() < 0.2:
                        ref = heap.struct_new(b, [1, 2])
                        assert heap.type_of(ref) == b
                        ref.close()
                answered += 1
            heap.verify()
            heap.close()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
            stop.set()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        writers = [threading.Thread(target=writer, args=(s,)) for s in range(3)]
        readers = [threading.Thread(target=reader, args=(100 + s,)) for s in range(2)]
        for t in writers + readers:
            t.start()
        for t in writers:
            t.join()
        stop.set()
        for t in readers:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors
    reg.verify()
    assert len(reg) == 0 and published
