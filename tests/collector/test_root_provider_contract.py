"""The root provider must return an iterable of roots (of ``(pc, slots)`` frames with
``frames=True``). Anything else, above all the ``None`` of a provider that forgot to
``return``, raises TypeError from the collection or allocation that asked, and the heap stays
as it was: reading ``None`` as "no roots" would sweep everything the guest still holds."""

from __future__ import annotations

import pytest

import registry as R
from drc import Heap, OutOfHeapError, StackMapRegistry


def guest_holds(heap: Heap, t: int, n: int) -> list[int]:
    """n objects that only guest frames hold (each in the OASR list, no host handle)."""
    raws = []
    for i in range(n):
        ref = heap.struct_new(t, [i])
        raws.append(heap.expose(ref))
        ref.close()
    return raws


def state(heap: Heap):
    heap.verify()
    return heap.stats(), heap.history()


def still_held(heap: Heap, raws: list[int]) -> list[int]:
    return [heap.struct_get(heap.from_raw(r), 0) for r in raws]


def forgot_to_return(held):
    def provider():
        held  # noqa: B018 - the bug under test: the roots are computed, never returned
    return provider


BAD_RESULTS = [None, 5, "abc", b"\x10\x00", object()]


@pytest.fixture
def t(types):
    return types.struct(R.I32)


@pytest.mark.parametrize("ask", ["collect", "gc", "maybe_collect"])
@pytest.mark.parametrize("returned", BAD_RESULTS, ids=repr)
def test_an_explicit_collection_refuses_what_the_provider_returned(heap, t, ask, returned):
    held = guest_holds(heap, t, 1100)          # past the OASR trigger: maybe_collect is due
    heap.set_root_provider(lambda: returned)
    before = state(heap)
    with pytest.raises(TypeError, match=r"root provider .* returned .*iterable of raw u32"):
        getattr(heap, ask)()
    assert state(heap) == before
    assert heap.collection_due
    assert still_held(heap, held) == list(range(1100))
    heap.set_root_provider(lambda: held)       # fixed: the same request now collects
    getattr(heap, ask)() if ask != "gc" else heap.gc().run()
    assert heap.stats()["collections"] == 1
    assert still_held(heap, held) == list(range(1100))
    heap.set_root_provider(None)
    heap.collect(stack_roots=[])


def test_the_error_names_the_provider_and_what_it_returned(heap, t):
    guest_holds(heap, t, 2)
    provider = forgot_to_return([])
    heap.set_root_provider(provider)
    with pytest.raises(TypeError) as info:
        heap.collect()
    assert repr(provider) in str(info.value) and "returned NoneType None" in str(info.value)
    heap.set_root_provider(None)
    heap.collect(stack_roots=[])


def test_a_due_collection_at_an_allocation_raises_from_the_allocation(heap, t):
    held = guest_holds(heap, t, 1100)
    assert heap.collection_due
    heap.set_root_provider(forgot_to_return(held))
    before = state(heap)
    with pytest.raises(TypeError, match="automatic collection: the root provider"):
        heap.struct_new(t, [0])
    assert state(heap) == before
    assert still_held(heap, held) == list(range(1100))
    heap.set_root_provider(lambda: held)
    heap.struct_new(t, [0]).close()            # the allocation collects and succeeds now
    assert heap.stats()["collections"] == 1 and still_held(heap, held) == list(range(1100))
    heap.set_root_provider(None)
    heap.collect(stack_roots=[])


def test_a_collection_for_room_at_an_allocation_raises_from_the_allocation(reg, t):
    heap = Heap(reg, max_size=1 << 16)
    held = guest_holds(heap, t, 10)
    keep = []
    with pytest.raises(OutOfHeapError):        # no provider yet: the heap fills up
        while True:
            keep.append(heap.struct_new(t, [0]))
    heap.set_root_provider(forgot_to_return(held))
    before = state(heap)
    with pytest.raises(TypeError, match="automatic collection: the root provider"):
        heap.struct_new(t, [0])
    assert state(heap) == before
    assert still_held(heap, held) == list(range(10))
    keep.clear()
    heap.set_root_provider(None)
    heap.collect(stack_roots=[])
    heap.close()


def test_a_frames_provider_must_return_frames(heap, t):
    maps = StackMapRegistry()
    maps.register([(0, 0x100, [(0, [0])])])
    heap.stack_maps = maps
    held = guest_holds(heap, t, 3)
    heap.set_root_provider(forgot_to_return(held), frames=True)
    before = state(heap)
    with pytest.raises(TypeError, match=r"\(pc, slots\) frames \(it was set with frames=True\)"):
        heap.collect()
    assert state(heap) == before
    heap.set_root_provider(lambda: [(0x10, [r]) for r in held], frames=True)
    assert heap.collect().objects_freed == 0
    assert still_held(heap, held) == [0, 1, 2]
    heap.set_root_provider(None)
    heap.collect(stack_roots=[])


@pytest.mark.zeal
def test_a_forced_zeal_collection_raises_from_the_allocation(heap, t):
    held = guest_holds(heap, t, 3)
    heap.set_root_provider(forgot_to_return(held))
    heap.set_zeal_collect_every(1)
    with pytest.raises(TypeError, match="root provider"):
        heap.struct_new(t, [0])
    heap.set_zeal_collect_every(0)
    assert still_held(heap, held) == [0, 1, 2]
    heap.set_root_provider(None)
    heap.collect(stack_roots=[])
