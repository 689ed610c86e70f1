"""Regression tests for bugs the reliability sweep found: each states the contract that was
broken (a silently wrong answer or an accepted bad argument) and now holds."""

from __future__ import annotations

import pytest

import registry as R
from drc import I31, Heap


def test_ref_test_rejects_an_unregistered_type_index():
    reg = R.TypeRegistry()
    with reg.register_module([R.SubType(R.StructType([]))]) as c, Heap(reg) as heap:
        ref = heap.struct_new(c.shared_type(0), [])
        with pytest.raises(R.UnknownTypeError):
            heap.ref_test(ref, R.RefType(12345))
        with pytest.raises(R.UnknownTypeError):
            heap.ref_test(None, R.RefType(12345))
        ref.close()


def test_expose_on_a_closed_heap_raises():
    heap = Heap(R.TypeRegistry())
    heap.close()
    with pytest.raises(ValueError, match="closed"):
        heap.expose(None)
    with pytest.raises(ValueError, match="closed"):
        heap.expose(I31(3))


def test_type_registry_takes_no_arguments():
    with pytest.raises(TypeError):
        R.TypeRegistry(5)
    with pytest.raises(TypeError):
        R.TypeRegistry(x=1)
