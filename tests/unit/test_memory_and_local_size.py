"""The planner's pure parts: memory slots never share a buffer between tensors alive together, and the default
local size respects every device limit."""
from hypothesis import given
from hypothesis import strategies as st

from pymace.runtime import memory
from pymace.runtime.plan import default_local_size

intervals = st.lists(st.tuples(st.integers(1, 10_000), st.integers(-1, 40), st.integers(0, 20)), min_size=1,
                     max_size=40).map(lambda xs: [memory.Interval(f"t{i}", size, start, start + length)
                                                  for i, (size, start, length) in enumerate(xs)])


@given(intervals)
def test_slots_hold_tensors_alive_together_apart(ivs):
    assignment, slots = memory.plan(ivs)
    for a in ivs:
        assert slots[assignment[a.name]] >= a.size
        for b in ivs:
            if a is not b and assignment[a.name] == assignment[b.name]:
                assert a.end < b.start or b.end < a.start, (a, b)
    assert sum(slots) >= memory.peak_live_bytes(ivs)


@given(st.lists(st.integers(1, 5000), min_size=1, max_size=3), st.sampled_from([64, 256, 1024, 4096]),
       st.booleans(), st.sampled_from([(), (1024, 1024, 64), (4096, 4096, 4096), (256, 16, 4)]))
def test_default_local_size_respects_limits(gws, limit, is_gpu, max_items):
    lws = default_local_size(tuple(gws), limit, is_gpu, max_items)
    assert len(lws) == len(gws)
    total = 1
    for dim, (g, size) in enumerate(zip(gws, lws)):
        assert size >= 1
        if dim < len(max_items):
            assert size <= max_items[dim]
        if dim > 0:
            assert g % size == 0  # only dimension 0 is padded
        total *= size
    assert total <= limit
