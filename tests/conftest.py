"""Suite-wide guards: the right build, and zeal-only / release-only markers."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import drc

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
