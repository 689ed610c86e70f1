"""Fixtures for the heap tests: a registry, a heap checked after every test, type helpers."""

from __future__ import annotations

import gc

import pytest

import registry as R
from drc import Heap


@pytest.fixture
def reg():
    return R.TypeRegistry()


class Types:
    """Registers types on demand and keeps the registrations alive for the test."""

    def __init__(self, reg: R.TypeRegistry) -> None:
        self.reg = reg
        self.keep: list[object] = []

    def struct(self, *fields, final=True, supertype=None) -> int:
        return self._register(R.SubType(R.StructType([self._field(f) for f in fields]),
                                        final=final, supertype=supertype))

    def array(self, elem, mutable=True) -> int:
        return self._register(R.SubType(R.ArrayType(R.FieldType(elem, mutable))))

    def node(self) -> int:
        """`(struct (field (mut (ref null $self))) (field (mut (ref null $self))))`."""
        coll = self.reg.register_module([R.RecGroup([R.SubType(R.StructType([
            R.FieldType(R.RefType(0, True), True), R.FieldType(R.RefType(0, True), True)]))])])
        self.keep.append(coll)
        return coll.shared_type(0)

    @staticmethod
    def _field(f):
        if isinstance(f, R.FieldType):
            return f
        return R.FieldType(f, True)

    def _register(self, subtype) -> int:
        rt = self.reg.register_type(subtype)
        self.keep.append(rt)
        return rt.index


@pytest.fixture
def types(reg):
    return Types(reg)


@pytest.fixture
def heap(reg):
    h = Heap(reg)
    yield h
    if not h.closed:
        # Every handle the test made is gone by now: allocations and frees must balance.
        gc.collect()
        h.verify()
        allocated, freed = h._zeal_counters()
        assert allocated == freed, f"{allocated - freed} objects leaked"
        h.close()


@pytest.fixture
def node(types):
    return types.node()
