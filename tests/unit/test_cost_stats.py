"""Cost as AWS bills it: the expected cost of a cold request is the mean of its billed durations, and a
container image's cold request bills INIT + handler as one duration rounded up once."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.decide import cost, prices

pairs = st.lists(st.tuples(st.floats(0.0, 9000.0), st.floats(0.1, 5000.0)), min_size=1, max_size=12)
warm = st.lists(st.floats(0.1, 5000.0), min_size=1, max_size=20)


def _per_1m(mem: int, billed_ms: float, arch: str = "x86_64") -> float:
    gb_s = mem / 1024 * billed_ms / 1000
    return (prices.REQUEST.value + gb_s * prices.DURATION[arch].value) * 1e6


@settings(deadline=None)
@given(mem=st.sampled_from([128, 1024, 1769, 3008]), w=warm, cold=pairs)
def test_cold_slope_is_the_mean_of_each_cold_requests_billed_sum(mem: int, w: list[float], cold) -> None:
    """b = expected billed cold request (mean over cold starts of ceil(init + duration)) over a warm one."""
    a, b = cost.cost_line(mem, w, [i for i, _ in cold], [d for _, d in cold])
    warm_billed = float(np.mean([max(1, math.ceil(x)) for x in w]))
    cold_billed = float(np.mean([max(1, math.ceil(i + d)) for i, d in cold]))
    assert math.isclose(a, _per_1m(mem, warm_billed), rel_tol=1e-9)
    assert math.isclose(a + b, _per_1m(mem, cold_billed), rel_tol=1e-9)


def test_a_skewed_cold_sample_moves_the_expected_cost_not_the_median() -> None:
    """One slow cold start in five raises the expected cost (a median would ignore it)."""
    inits, durs = [100.0, 100.0, 100.0, 100.0, 2100.0], [50.0] * 5
    _, b = cost.cost_line(1024, [10.0], inits, durs)
    _, b_fast = cost.cost_line(1024, [10.0], [100.0] * 5, durs)
    assert b - b_fast > 0.2 * b_fast


def test_init_and_duration_are_rounded_as_one_sum() -> None:
    """0.4 ms + 0.4 ms bills 1 ms, not 2."""
    _, b = cost.cost_line(1024, [1.0], [0.4], [0.4])
    assert math.isclose(b, _per_1m(1024, 1.0) - _per_1m(1024, 1.0), abs_tol=1e-12)
