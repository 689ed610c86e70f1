"""A closed heap: ``close()`` is idempotent and ``closed`` says so; every other method and
property raises ValueError, with arguments that would be valid on an open heap. The list is
taken from the class itself, so a method added later is covered (or this test fails until it
is given arguments here)."""

from __future__ import annotations

import pytest

import registry as R
from drc import Heap, InvalidRefError, StackMapRegistry

# Attributes that still work once the heap is closed.
USABLE_WHEN_CLOSED = {"close", "closed", "__exit__"}

# name -> call on a closed heap `h` with valid arguments (w: the test's world).
CALLS = {
    "__enter__": lambda h, w: h.__enter__(),
    "_free_regions": lambda h, w: h._free_regions(),
    "_zeal_counters": lambda h, w: h._zeal_counters(),
    "array_copy": lambda h, w: h.array_copy(w["a"], 0, w["a"], 1, 1),
    "array_fill": lambda h, w: h.array_fill(w["a"], 0, None, 1),
    "array_get": lambda h, w: h.array_get(w["a"], 0),
    "array_len": lambda h, w: h.array_len(w["a"]),
    "array_new": lambda h, w: h.array_new(w["arr"], 2),
    "array_new_fixed": lambda h, w: h.array_new_fixed(w["arr"], [None]),
    "array_set": lambda h, w: h.array_set(w["a"], 0, None),
    "collect": lambda h, w: h.collect(stack_roots=[]),
    "enter_guest": lambda h, w: h.enter_guest(),
    "exit_guest": lambda h, w: h.exit_guest(),
    "expose": lambda h, w: h.expose(w["n"]),
    "externref_data": lambda h, w: h.externref_data(w["e"]),
    "externref_new": lambda h, w: h.externref_new("payload"),
    "from_raw": lambda h, w: h.from_raw(w["raw"]),
    "gc": lambda h, w: h.gc(stack_roots=[]),
    "guest": lambda h, w: h.guest(),
    "history": lambda h, w: h.history(),
    "maybe_collect": lambda h, w: h.maybe_collect(),
    "no_gc": lambda h, w: h.no_gc(),
    "ref_count": lambda h, w: h.ref_count(w["n"]),
    "ref_test": lambda h, w: h.ref_test(w["n"], R.RefType(R.ANY)),
    "set_root_provider": lambda h, w: h.set_root_provider(lambda: []),
    "set_zeal_collect_every": lambda h, w: h.set_zeal_collect_every(0),
    "_zeal_skip_cycle_subtraction": lambda h, w: h._zeal_skip_cycle_subtraction(None),
    "_zeal_fail_buffer_growth": lambda h, w: h._zeal_fail_buffer_growth(None),
    "_zeal_flip_cycle_mark": lambda h, w: h._zeal_flip_cycle_mark(None),
    "stats": lambda h, w: h.stats(),
    "struct_get": lambda h, w: h.struct_get(w["n"], 0),
    "struct_new": lambda h, w: h.struct_new(w["node"], [None, 1]),
    "struct_set": lambda h, w: h.struct_set(w["n"], 1, 5),
    "type_of": lambda h, w: h.type_of(w["n"]),
    "use_type": lambda h, w: h.use_type(w["node"]),
    "verify": lambda h, w: h.verify(),
    "finish_pending": lambda h, w: h.finish_pending(),
    "_drop_deferred": lambda h, w: h._drop_deferred(w["n"]),
    "array_new_data": lambda h, w: h.array_new_data(w["iarr"], b"\1\0\0\0", 0, 1),
    "array_init_data": lambda h, w: h.array_init_data(w["ia"], 0, b"\1\0\0\0", 0, 1),
    "funcref_new": lambda h, w: h.funcref_new(w["func"], "target"),
    "reclaim_funcrefs": lambda h, w: h.reclaim_funcrefs(),
    "extern_convert_any": lambda h, w: h.extern_convert_any(w["n"]),
    "any_convert_extern": lambda h, w: h.any_convert_extern(w["n"]),
    "memoryview": lambda h, w: memoryview(h),
}

# property -> a value its setter would accept on an open heap (None: read-only).
PROPERTIES = {
    "collection_due": None, "guest_depth": None, "max_size": None, "registry": None,
    "root_provider": None, "growth_policy": "wasmtime", "stack_maps": StackMapRegistry(),
}


def heap_surface() -> tuple[set[str], set[str]]:
    methods, props = set(), set()
    for name, d in vars(Heap).items():
        if name.startswith("__") and name not in ("__enter__", "__exit__"):
            continue
        if name == "__pyx_vtable__":
            continue
        (methods if callable(d) else props).add(name)
    return methods, props


@pytest.fixture
def world(reg):
    coll = reg.register_module([R.RecGroup([
        R.SubType(R.StructType([R.FieldType(R.RefType(R.ANY), True), R.FieldType(R.I32, True)])),
        R.SubType(R.ArrayType(R.FieldType(R.RefType(R.ANY), True))),
        R.SubType(R.ArrayType(R.FieldType(R.I32, True))),
        R.SubType(R.FuncType([R.I32])),
    ])])
    node, arr, iarr, func = coll.shared_types
    h = Heap(reg)
    w = dict(coll=coll, node=node, arr=arr, iarr=iarr, func=func, heap=h)
    w["ia"] = h.array_new(iarr, 2, 0)
    w["n"] = h.struct_new(node, [None, 1])
    w["a"] = h.array_new(arr, 3)
    w["e"] = h.externref_new("x")
    w["raw"] = h.expose(w["n"])
    # Every call works before the close (so the ValueError below is the close's doing).
    for name, call in CALLS.items():
        if name in ("exit_guest", "set_zeal_collect_every", "memoryview", "_drop_deferred",
                    "_zeal_skip_cycle_subtraction", "_zeal_fail_buffer_growth",
                    "_zeal_flip_cycle_mark"):
            continue
        result = call(h, w)
        if name == "gc":
            result.cancel()
        elif name == "enter_guest":
            h.exit_guest()
    h.close()
    return w


def test_the_table_covers_the_whole_heap_surface():
    methods, props = heap_surface()
    assert methods - USABLE_WHEN_CLOSED == set(CALLS) - {"memoryview"}
    assert props - USABLE_WHEN_CLOSED == set(PROPERTIES)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_method_of_a_closed_heap_raises(world, name):
    with pytest.raises(ValueError, match="the heap is closed"):
        CALLS[name](world["heap"], world)


@pytest.mark.parametrize("name", sorted(PROPERTIES))
def test_every_property_of_a_closed_heap_raises(world, name):
    h = world["heap"]
    with pytest.raises(ValueError, match="the heap is closed"):
        getattr(h, name)
    value = PROPERTIES[name]
    if value is not None:
        with pytest.raises(ValueError, match="the heap is closed"):
            setattr(h, name, value)


@pytest.mark.parametrize("name,value", [("growth_policy", "wasmtime"),
                                        ("stack_maps", StackMapRegistry())])
def test_the_setters_work_on_an_open_heap(heap, name, value):
    setattr(heap, name, value)
    assert getattr(heap, name) == value


def test_close_is_idempotent_and_closed_stays_readable(world):
    h = world["heap"]
    assert h.closed
    h.close()
    h.__exit__(None, None, None)
    assert h.closed


def test_handles_of_a_closed_heap_are_inert(world):
    n = world["n"]
    with pytest.raises(ValueError, match="the heap is closed"):
        n.clone()
    with pytest.raises(ValueError, match="the heap is closed"):
        _ = n.type_index
    assert "closed heap" in repr(n)
    n.close()
    n.close()
    with pytest.raises(InvalidRefError):
        n.clone()


def test_a_scope_entered_before_the_close_can_still_be_left(reg):
    h = Heap(reg)
    with h.no_gc(), h.guest():
        h.close()
    assert h.closed


def test_a_collection_started_before_the_close_refuses_to_go_on(reg):
    h = Heap(reg)
    c = h.gc(stack_roots=[])
    h.close()
    with pytest.raises(ValueError, match="the heap is closed"):
        c.collect_increment()
    c.cancel()
    assert c.phase == "done"


def test_with_on_a_closed_heap_raises(reg):
    h = Heap(reg)
    with h:
        pass
    assert h.closed
    with pytest.raises(ValueError, match="the heap is closed"):
        with h:
            pass


def test_close_from_a_payload_finalizer_is_refused_and_the_heap_goes_on(heap, types):
    """A finalizer the heap runs (here: a payload released by the allocation that reuses its
    holder's block) must not unmap the memory under that allocation."""
    from drc import DrcError

    holder = types.struct(R.RefType(R.EXTERN, True))
    errors: list[BaseException] = []

    class Payload:
        def __del__(self):
            try:
                heap.close()
            except BaseException as exc:  # __del__ swallows exceptions: keep them
                errors.append(exc)

    ext = heap.externref_new(Payload())
    s = heap.struct_new(holder, (ext,))
    del ext
    heap._drop_deferred(s)
    fresh = heap.struct_new(holder, (None,))
    assert len(errors) == 1 and isinstance(errors[0], DrcError)
    assert not heap.closed
    assert heap.struct_get(fresh, 0) is None
    heap.verify()
    # The same from a plain drop, outside any allocation.
    ext = heap.externref_new(Payload())
    del ext
    assert len(errors) == 2 and isinstance(errors[1], DrcError) and not heap.closed
    heap.verify()


def test_close_from_a_root_provider_is_refused(heap, node):
    from drc import DrcError

    a = heap.struct_new(node, (None, None))
    raw = heap.expose(a)
    heap.set_root_provider(lambda: (heap.close(), [raw])[1])
    before = heap.stats()
    with pytest.raises(DrcError, match="on its own behalf"):
        heap.collect()
    assert not heap.closed and heap.stats() == before
    heap.set_root_provider(lambda: [raw])
    heap.collect()
    assert heap.struct_get(a, 0) is None
    heap.verify()
    del a
    heap.collect(stack_roots=[])                  # the guest lets go: the list is settled
    assert heap.stats()["live_objects"] == 0
