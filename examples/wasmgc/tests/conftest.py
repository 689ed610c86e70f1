import pytest
import wasmgc
import wasmtime


@pytest.fixture
def engine():
    return wasmgc.Engine()


@pytest.fixture
def load(engine):
    def _load(wat: str, imports=None):
        data = wasmtime.wat2wasm(wat)
        return wasmgc.Module(engine, bytes(data)).instantiate(imports or {})
    return _load


def pytest_configure(config):
    import os

    import drc
    expect = os.environ.get("DRC_EXPECT_ZEAL")
    if expect is not None and bool(int(expect)) != drc.ZEAL:
        raise pytest.UsageError(f"DRC_EXPECT_ZEAL={expect} but the installed drc has "
                                f"ZEAL={drc.ZEAL}")
