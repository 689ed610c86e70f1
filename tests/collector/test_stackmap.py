"""StackMapRegistry lookup semantics (as Wasmtime's former StackMapRegistry) and its validation."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drc.stackmap import StackMapRegistry


def two_functions():
    reg = StackMapRegistry()
    # f: [0x100, 0x140) safepoints at +0x10 (slots 0, 2) and +0x20 (slot 1)
    # g: [0x140, 0x180) safepoint at +0x08 (slot 3)
    reg.register([
        (0x100, 0x140, [(0x10, [2, 0]), (0x20, [1])]),
        (0x140, 0x180, [(0x08, [3])]),
    ])
    return reg


def test_exact_hit_returns_the_safepoints_map():
    reg = two_functions()
    assert reg.lookup(0x110) == (0, 2)
    assert reg.lookup(0x120) == (1,)
    assert reg.lookup(0x148) == (3,)


def test_pc_drifting_past_a_safepoint_uses_the_nearest_earlier_map():
    reg = two_functions()
    assert reg.lookup(0x114) == (0, 2)
    assert reg.lookup(0x13F) == (1,)


def test_no_stack_map_before_the_first_safepoint():
    reg = two_functions()
    assert reg.lookup(0x100) is None
    assert reg.lookup(0x10F) is None


def test_next_function_does_not_inherit_the_previous_functions_last_map():
    reg = two_functions()
    # Between g's start and its first safepoint: the marker stops the search at None.
    assert reg.lookup(0x140) is None
    assert reg.lookup(0x147) is None


def test_marker_is_skipped_when_the_first_safepoint_is_at_offset_zero():
    reg = StackMapRegistry()
    reg.register([(0, 0x10, [(4, [0])]), (0x10, 0x20, [(0, [5])])])
    assert reg.lookup(0x10) == (5,)
    assert reg.lookup(0x0F) == (0,)


def test_pcs_outside_every_module_have_no_map():
    reg = two_functions()
    assert reg.lookup(0) is None
    assert reg.lookup(0xFF) is None
    assert reg.lookup(0x181) is None


def test_module_end_is_inclusive():
    reg = two_functions()
    assert reg.lookup(0x180) == (3,)


def test_overlapping_modules_are_rejected_and_nothing_changes():
    reg = two_functions()
    with pytest.raises(ValueError, match="overlaps"):
        reg.register([(0x170, 0x200, [(0, [0])])])
    with pytest.raises(ValueError, match="overlaps"):
        reg.register([(0x80, 0x100, [(0, [0])])])  # touches the inclusive end of nothing, but 0x100
    assert len(reg) == 1
    assert reg.lookup(0x1A0) is None


def test_same_module_twice_is_a_no_op_but_different_maps_are_an_error():
    reg = two_functions()
    reg.register([
        (0x100, 0x140, [(0x10, [0, 2]), (0x20, [1])]),
        (0x140, 0x180, [(0x08, [3])]),
    ])
    assert len(reg) == 1
    with pytest.raises(ValueError, match="already registered"):
        reg.register([(0x100, 0x180, [(0x10, [7])])])


def test_module_without_safepoints_registers_nothing():
    reg = StackMapRegistry()
    reg.register([(0x100, 0x200, [])])
    assert len(reg) == 0


def test_unregister():
    reg = two_functions()
    reg.unregister(0x150)
    assert reg.lookup(0x110) is None
    with pytest.raises(LookupError):
        reg.unregister(0x150)


@pytest.mark.parametrize("bad, error", [
    ([(0x10, 0x10, [])], ValueError),                 # empty range
    ([(0x10, 0x20, [(0x10, [0])])], ValueError),      # offset outside the function
    ([(0x10, 0x20, [(4, [0]), (2, [1])])], ValueError),  # offsets not ascending
    ([(0x20, 0x30, []), (0x10, 0x18, [])], ValueError),  # functions out of order
    ([(0x10, 0x20, [(0, [-1])])], ValueError),        # negative slot
    ([(0x10, 0x20, [(0, "ab")])], TypeError),         # slots not indices
    ([(0x10, 0x20, [(0, [1.5])])], TypeError),
    ([(0x10, 0x20)], TypeError),                      # not a triple
    ([(-1, 0x20, [])], ValueError),
    ([("a", 0x20, [])], TypeError),
    ([(0x10, 0x20, 5)], TypeError),
])
def test_bad_registrations_raise_and_register_nothing(bad, error):
    reg = StackMapRegistry()
    with pytest.raises(error):
        reg.register(bad)
    assert len(reg) == 0


def test_roots_of_frames_reads_mapped_nonzero_slots_and_skips_host_frames():
    reg = two_functions()
    frames = [
        (0x112, [0x10, 0x99, 0x20]),  # map (0, 2): slot 1 is not a ref
        (0x5000, [0x30]),             # host frame: ignored
        (0x124, [0x40, 0]),           # map (1,): slot 1 is null
        (0x104, [0x50]),              # before the first safepoint: no refs live
    ]
    assert reg.roots_of_frames(frames) == [0x10, 0x20]


def test_frame_shorter_than_its_stack_map_is_an_error():
    reg = two_functions()
    with pytest.raises(IndexError, match="names slot 2"):
        reg.roots_of_frames([(0x110, [1, 2])])
    with pytest.raises(TypeError):
        reg.roots_of_frames([0x110])


@given(st.lists(st.tuples(st.integers(1, 64), st.lists(st.integers(0, 63), max_size=6)),
                min_size=1, max_size=8),
       st.lists(st.integers(0, 2000), max_size=50))
def test_lookup_matches_a_linear_reference(layout, probes):
    # Build contiguous functions of 64 pcs, each with safepoints at the given offsets. Every
    # safepoint has its own map (a slot naming its pc), so choosing a wrong one fails.
    reg = StackMapRegistry()
    functions, expected_points = [], []
    for i, (n, offsets) in enumerate(layout):
        start = 0x100 + 64 * i
        points = sorted({o % 64: tuple(range(n % 5)) + (1000 + start + o % 64,)
                         for o in offsets}.items())
        functions.append((start, start + 64, [(o, m) for o, m in points]))
        expected_points.append((start, start + 64, points))
    reg.register(functions)

    def reference(pc):
        first_start = expected_points[0][0]
        last_end = expected_points[-1][1]
        if not any(points for _, _, points in expected_points):
            return None
        if pc < first_start or pc > last_end:
            return None
        best = None
        for start, end, points in expected_points:
            if pc < start:
                break
            best = None  # a function's safepoints never apply to the next one
            for o, m in points:
                if start + o <= pc:
                    best = m
            if pc < end:
                return best
        return best  # pc == last_end: the last function's nearest map

    for pc in probes + [0x100 + 64 * len(layout)]:
        assert reg.lookup(pc) == reference(pc), hex(pc)
