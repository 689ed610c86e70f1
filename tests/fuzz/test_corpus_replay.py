"""Replay the coverage-guided fuzzing corpus (tests/fuzz/corpus) in every build: each input
decodes to fuzz ops that must agree with the reference model. A crash found by a campaign
is added here (see docs/fuzzing.md) so CI keeps replaying it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from drc.fuzz import from_bytes, to_bytes

HERE = Path(__file__).parent
CORPUS = sorted((HERE / "corpus").iterdir())

spec = importlib.util.spec_from_file_location("atheris_target", HERE / "atheris_target.py")
target = importlib.util.module_from_spec(spec)
spec.loader.exec_module(target)


def test_the_corpus_is_small_and_present():
    assert 10 <= len(CORPUS) <= 200
    assert sum(p.stat().st_size for p in CORPUS) < 512 << 10


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_corpus_input_agrees_with_the_model(path):
    target.test_one_input(path.read_bytes())


def test_byte_form_round_trips():
    data = CORPUS[0].read_bytes()[1:]
    usable = len(data) - len(data) % 7
    assert to_bytes(from_bytes(data)) == data[:usable]


def test_a_failing_input_raises(monkeypatch):
    # The target must not swallow failures: plant one through a model that lies.
    from drc.fuzz import model

    original = model.Executor.op_verify

    def lying_verify(self, a, b, c):
        self.objs.clear()      # the model forgets every object; the heap has one
        original(self, a, b, c)

    monkeypatch.setattr(model.Executor, "op_verify", lying_verify)
    verify = model.NAMES.index("verify")
    with pytest.raises(AssertionError, match="op 1 verify"):
        target.test_one_input(bytes([0]) + to_bytes([(0, 0, 0, 0), (verify, 0, 0, 0)]))
