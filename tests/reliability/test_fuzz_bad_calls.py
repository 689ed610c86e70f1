"""The fuzz model's wrong calls: each must raise exactly the exception class it names, on
every kind of handle, and one that raises nothing (or something else) must fail the run."""

from __future__ import annotations

import pytest

from drc.fuzz import Config, Executor, FuzzFailure
from drc.fuzz.model import BAD_CALL_KINDS
from drc.fuzz.ops import CODES

BAD = CODES["bad_call"]
MAKERS = ("new_node", "new_array", "new_i32_array", "new_extern", "new_box", "reg_register",
          "reg_alloc", "new_func", "new_vtable", "new_func_array")


@pytest.fixture
def ex():
    ex = Executor(Config(max_size=64 << 10))
    for name in MAKERS:
        ex.step((CODES[name], 1, 1, 3))
    assert {ex.objs[oid].kind for _, oid in ex.handles} == set(BAD_CALL_KINDS)
    yield ex
    ex.close()


def test_every_bad_call_raises_its_class_on_every_kind_of_handle(ex):
    n = len(ex.bad_calls(0, 0, 0))
    for a in range(n):
        for b in range(len(ex.handles)):
            ex.step((BAD, a, b, 7))
    ex.deep_check()


def test_externref_data_is_only_a_bad_call_on_a_non_externref(ex):
    for b in range(len(ex.handles)):
        what, call, expected = ex.bad_calls(13, b, 0)[13]
        assert what == "externref_data of a non-externref"
        with pytest.raises(expected):
            call()


class Lenient(Executor):
    """A bad call replaced by one that is fine, or raises the wrong class."""

    replacement = None

    def bad_calls(self, a, b, c):
        calls = super().bad_calls(a, b, c)
        what, _, expected = calls[0]
        calls[0] = (what, self.replacement, expected)
        return calls


@pytest.mark.parametrize("replacement, message", [
    (lambda: None, "raised nothing, expected TypeError"),
    (lambda: {}[0], "raised KeyError, expected TypeError"),
])
def test_a_bad_call_that_does_not_raise_its_class_fails_the_run(replacement, message):
    ex = Lenient(Config(max_size=64 << 10))
    ex.replacement = replacement
    with pytest.raises(FuzzFailure, match=message):
        ex.step((BAD, 0, 0, 0))
    ex.close()
