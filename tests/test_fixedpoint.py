"""The fixed-point rules against their definitions (SPEC §2)."""
import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from hwgen.fixedpoint import fire, saturate, saturate_count, signed_range

values = arrays(np.int64, st.integers(1, 40), elements=st.integers(-(1 << 20), 1 << 20))


@settings(max_examples=200, deadline=None)
@given(v=values, threshold=st.integers(1, 5000), burst=st.integers(0, 9), inplace=st.booleans())
def test_fire_is_clamped_floor_division(v, threshold, burst, inplace):
    """k = clamp(floor(V/θ), 0, Γ), V' = V − kθ for every burst (compare and divide paths)."""
    expected_k = [min(max(int(x) // threshold, 0), burst) for x in v]
    expected_v = [int(x) - k * threshold for x, k in zip(v, expected_k)]
    k, v_after = fire(v.copy(), threshold, burst, inplace=inplace)
    assert k.tolist() == expected_k
    assert v_after.tolist() == expected_v


@settings(max_examples=100, deadline=None)
@given(v=arrays(np.int64, (3, 5), elements=st.integers(-(1 << 12), 1 << 12)), bits=st.integers(2, 14))
def test_saturate_count_counts_events_per_row(v, bits):
    lo, hi = signed_range(bits)
    clamped, events = saturate_count(v, bits)
    assert clamped.tolist() == np.clip(v, lo, hi).tolist()
    assert events.tolist() == [int(((row < lo) | (row > hi)).sum()) for row in v]
    assert np.array_equal(saturate(v, bits)[0], clamped)
