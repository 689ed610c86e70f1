"""Suite-wide guards: the right build, and zeal-only / release-only markers."""

from __future__ import annotations

import gc
import os

import pytest
from hypothesis import HealthCheck, settings

import drc
import registry as R
from drc import Heap

# CI draws the same examples every run, so a red run is reproducible from its log.
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_configure(config: pytest.Config) -> None:
    # tox sets DRC_EXPECT_ZEAL per env. A zeal env that quietly tested a release wheel (or the
    # reverse) would report green for checks that never ran, so refuse to run at all.
    expected = os.environ.get("DRC_EXPECT_ZEAL")
    if expected is not None and drc.ZEAL is not (expected == "1"):
        raise pytest.UsageError(
            f"this env expects a {'zeal' if expected == '1' else 'release'} build, "
            f"but the installed drc reports ZEAL={drc.ZEAL} ({drc.__file__})"
        )


def pytest_report_header(config: pytest.Config) -> str:
    return f"drc {drc.__version__}: {'gc_zeal' if drc.ZEAL else 'release'} build"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_zeal = pytest.mark.skip(reason="needs the gc_zeal build")
    skip_release = pytest.mark.skip(reason="needs the release build")
    for item in items:
        if "zeal" in item.keywords and not drc.ZEAL:
            item.add_marker(skip_zeal)
        if "release" in item.keywords and drc.ZEAL:
            item.add_marker(skip_release)


# ==== Shared fixtures: a registry, types registered on demand, a heap checked after each test


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

    def func(self, params=(), results=(), *, final=True, supertype=None) -> int:
        return self._register(R.SubType(R.FuncType(params, results), final=final,
                                        supertype=supertype))

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
