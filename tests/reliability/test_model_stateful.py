"""Hypothesis drives heap + collector + guest stack + registry through the fuzz op language
and checks every step against the plain-Python reference model (`drc.fuzz.model`): live
objects, counts, OASR length, field values, payload releases (exactly once), registered types
and subtype answers, and ``verify()`` of both. In zeal builds the heap also forces a
collection every few allocations and checks poison and integrity at every phase boundary."""

from __future__ import annotations

import collections
import gc

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

import drc
from drc.fuzz import OPS, Config, Executor, run_ops, stream
from drc.fuzz.ops import CODES, NAMES

ARG = st.integers(0, 0xFFFF)
HEAP_OPS = [c for name, c in CODES.items() if not name.startswith("reg_")]
REG_OPS = [c for name, c in CODES.items() if name.startswith("reg_")]
# How often each op code went through Executor.step (and passed its checks) in this process.
EXECUTED: collections.Counter[int] = collections.Counter()


class CombinedMachine(RuleBasedStateMachine):
    @initialize(zeal_every=st.sampled_from([0, 1, 3, 7]),
                max_size=st.sampled_from([64 << 10, 1 << 20]),
                policy=st.sampled_from(["adaptive", "wasmtime"]))
    def setup(self, zeal_every, max_size, policy):
        self.ex = Executor(Config(max_size=max_size, growth_policy=policy,
                                  zeal_every=zeal_every if drc.ZEAL else 0, verify_every=1))

    @precondition(lambda self: hasattr(self, "ex"))
    @rule(code=st.sampled_from(HEAP_OPS), a=ARG, b=ARG, c=ARG)
    def heap_op(self, code, a, b, c):
        self.step((code, a, b, c))

    @precondition(lambda self: hasattr(self, "ex"))
    @rule(code=st.sampled_from(REG_OPS), a=ARG, b=ARG, c=ARG)
    def registry_op(self, code, a, b, c):
        self.step((code, a, b, c))

    def step(self, op):
        self.ex.step(op)
        EXECUTED[op[0]] += 1

    @precondition(lambda self: hasattr(self, "ex"))
    @rule()
    def full_check(self):
        self.ex.deep_check()

    def teardown(self):
        if hasattr(self, "ex"):
            self.ex.deep_check()
            self.ex.close()
            gc.collect()


TestCombinedModel = CombinedMachine.TestCase
TestCombinedModel.settings = settings(
    max_examples=30, stateful_step_count=50, deadline=None)


class RegistryMachine(RuleBasedStateMachine):
    """Only the registry lifecycle: register / drop / re-register / root / query, with the
    heap taking holds on the types it uses."""

    @initialize()
    def setup(self):
        self.ex = Executor(Config(max_size=64 << 10, verify_every=1))

    @precondition(lambda self: hasattr(self, "ex"))
    @rule(code=st.sampled_from(REG_OPS), a=ARG, b=ARG, c=ARG)
    def registry_op(self, code, a, b, c):
        self.ex.step((code, a, b, c))

    def teardown(self):
        if hasattr(self, "ex"):
            self.ex.close()


TestRegistryModel = RegistryMachine.TestCase
TestRegistryModel.settings = settings(max_examples=20, stateful_step_count=40, deadline=None)


@pytest.mark.parametrize("seed", range(4))
def test_seeded_streams_agree_with_the_model(seed):
    result = run_ops(stream(seed, 400), Config.from_seed(seed))
    assert result.failure is None, str(result.failure)
    assert result.ops_run == 400


def test_a_run_of_the_state_machine_executes_every_op():
    # Not what the rules could draw, but what one short run of them did draw and execute.
    EXECUTED.clear()
    run_state_machine_as_test(CombinedMachine, settings=settings(
        max_examples=10, stateful_step_count=200, deadline=None, derandomize=True,
        database=None))
    missing = [NAMES[code] for code in range(len(OPS)) if not EXECUTED[code]]
    assert not missing, f"never executed: {missing}"


def test_the_model_catches_a_planted_disagreement():
    # A model that cannot fail proves nothing: corrupt the model's view and expect a report.
    ex = Executor(Config(max_size=64 << 10))
    ex.step((CODES["new_node"], 0, 0, 5))
    ex.objs[next(iter(ex.objs))].fields[2] = 6
    with pytest.raises(AssertionError, match="struct .*2 = -32763, model 6"):
        ex.deep_check()
    ex.objs[next(iter(ex.objs))].fields[2] = 5 - 0x8000
    ex.handles.append(ex.handles[0])      # one more count than the heap has
    with pytest.raises(AssertionError, match="count 1, model 2"):
        ex.step((CODES["verify"], 0, 0, 0))
    ex.handles.pop()
    ex.close()


def test_the_model_catches_planted_funcref_disagreements():
    ex = Executor(Config(max_size=64 << 10))
    ex.step((CODES["new_func"], 1, 3, 0))           # an f1 entry
    ex.step((CODES["new_vtable"], 8, 0, 0))         # field 0 holds it, field 1 null
    vt = next(o for o in ex.objs.values() if o.kind == "vt")
    assert vt.fields[0] == ("fn", 1, 3)
    vt.fields[0] = ("fn", 1, 4)                     # the model now expects another target
    with pytest.raises(AssertionError, match=r"struct .*\.0 = <FuncRef"):
        ex.deep_check()
    vt.fields[0] = ("fn", 1, 3)
    ex.fentries.add(("fn", 0, 0))                   # an entry the heap does not have
    with pytest.raises(AssertionError, match="function-table entries"):
        ex.step((CODES["verify"], 0, 0, 0))
    ex.fentries.discard(("fn", 0, 0))
    ex.fhandles.clear()
    vt.fields[0] = None                             # the model forgets the field's entry
    with pytest.raises(AssertionError, match="reclaim_funcrefs freed 0, model 1"):
        ex.step((CODES["reclaim_funcs"], 0, 0, 0))
    ex.close()
