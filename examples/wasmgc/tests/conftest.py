import pytest
import wasmtime

import wasmgc


@pytest.fixture
def engine():
    return wasmgc.Engine()


@pytest.fixture
def load(engine):
    def _load(wat: str, imports=None):
        data = wasmtime.wat2wasm(wat)
        return wasmgc.Module(engine, bytes(data)).instantiate(imports or {})
    return _load
