"""Bugs the reliability sweep found in code owned by other branches (heap.pyx, registry.pyx).
Each test states the contract and fails today; ``strict=True`` makes the fix visible."""

from __future__ import annotations

import pytest

import registry as R
from drc import I31, Heap


@pytest.mark.xfail(strict=True, reason="Heap.ref_test answers False/True for an unregistered "
                   "concrete type index instead of raising UnknownTypeError (registry."
                   "ref_matches does raise); heap.pyx ref_test / ref_matches")
def test_ref_test_rejects_an_unregistered_type_index():
    reg = R.TypeRegistry()
    with reg.register_module([R.SubType(R.StructType([]))]) as c, Heap(reg) as heap:
        ref = heap.struct_new(c.shared_type(0), [])
        with pytest.raises(R.UnknownTypeError):
            heap.ref_test(ref, R.RefType(12345))
        with pytest.raises(R.UnknownTypeError):
            heap.ref_test(None, R.RefType(12345))
        ref.close()


@pytest.mark.xfail(strict=True, reason="Heap.expose(None) / expose(I31) on a closed heap "
                   "returns the raw value instead of raising ValueError('the heap is closed'): "
                   "the None/I31 branch of heap.pyx expose skips check_open")
def test_expose_on_a_closed_heap_raises():
    heap = Heap(R.TypeRegistry())
    heap.close()
    with pytest.raises(ValueError, match="closed"):
        heap.expose(None)
    with pytest.raises(ValueError, match="closed"):
        heap.expose(I31(3))


@pytest.mark.xfail(strict=True, reason="TypeRegistry(5) and TypeRegistry(x=1) are accepted: "
                   "registry.pyx declares only __cinit__(self), which Cython lets ignore any "
                   "arguments; the stub says __init__(self)")
def test_type_registry_takes_no_arguments():
    with pytest.raises(TypeError):
        R.TypeRegistry(5)
    with pytest.raises(TypeError):
        R.TypeRegistry(x=1)
