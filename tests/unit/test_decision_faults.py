"""The decision's statistics: a tie only when it is real and its price stated, regions that are the
verdict's own rule at every share (the user's included, with an SLO on a jump of the mix's p99), a
monotone p99 of the mix, and one set of cold figures per cell wherever it is quoted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.decide import stats, traffic, winner
from bench.measure import samples
from bench.measure.cells import Cell
from tests.support.rows import cell, frame, inp, records

BIG = "clothing-onnx:reference-float32-opt"
SMALL = "clothing-tflite:reference-full-int8"


def _write(path: Path, cells: dict[str, tuple[float, float, float]], n_cold: int, seed: int) -> Path:
    """Per image (warm mean ms, warm sd, init ms): 3 repeats, 40 warm requests and n_cold cold starts each."""
    rng = np.random.default_rng(seed)
    rows = []
    for rep in range(3):
        for image, (w, sd, init) in cells.items():
            warm = [(float(max(1.0, x)), float(max(1.0, x)) + 1) for x in rng.normal(w, sd, 40)]
            inits = rng.normal(init, init * 0.05, n_cold)
            cold = [(float(i), 2 * w, float(i + 2 * w + 300)) for i in inits]
            rows += samples.rows_for_cell("r", rep, image, 1024, warm, cold)
    return samples.write(path, rows)


def _df(sizes: dict[str, int]) -> pd.DataFrame:
    return frame(*[dict(cell(i, 0.4, size=s, mem=1024), cold_fraction=0.01) for i, s in sizes.items()])


def _region_at(regions: list[traffic.Region], c: float) -> str | None:
    for r in regions:
        if r.holds(c):
            return r.image
    raise AssertionError(f"no region holds {c}")


@settings(deadline=None, max_examples=6)
@given(
    c=st.sampled_from([0.001, 0.0099, 0.01, 0.0101, 0.03]),
    slo=st.sampled_from([12.0, 50.0, None]),
    seed=st.integers(0, 100),
)
def test_the_decision_never_contradicts_its_regions(tmp_path_factory, c, slo, seed) -> None:
    """At 1 % cold the mix's p99 sits on the jump from the warm tail to the cold starts: whatever the
    decision says there, the region list says the same."""
    path = _write(
        tmp_path_factory.mktemp("s") / "s.csv", {SMALL: (9.0, 0.7, 300.0), BIG: (8.0, 0.7, 500.0)}, 6, seed
    )
    df = _df({SMALL: 79_000_000, BIG: 99_000_000})
    by = samples.read(path, by_repeat=True)
    dec = winner.decide(inp(df, 1000, by_repeat=by, cold_share=c, slo_ms=slo))
    ref = winner.decide(inp(df, 1000, by_repeat=by, cold_share=0.3, slo_ms=None))
    assert ref is not None
    cells = winner.cells_of(winner.eligible(records(df), 1000))
    regs = winner.regions(cells, ref.lines, slo, 10.0, (c,))
    got = None if dec is None else dec.winner.image
    assert _region_at(regs, c) == got
    if dec is not None:
        assert _region_at(dec.regions, c) == got


@settings(deadline=None)
@given(
    warm=st.lists(st.floats(1, 1000), min_size=1, max_size=40),
    cold=st.lists(st.floats(1, 1000), min_size=1, max_size=12),
    c1=st.floats(0, 1),
    c2=st.floats(0, 1),
    q=st.sampled_from([0.5, 0.99, 0.999]),
)
def test_the_mix_quantile_grows_with_the_cold_share_whatever_the_samples(warm, cold, c1, c2, q) -> None:
    lo, hi = sorted((c1, c2))
    a, _ = stats.mixture_quantile(warm, cold, lo, q)
    b, _ = stats.mixture_quantile(warm, cold, hi, q)
    assert a is not None and b is not None and a <= b


def test_the_p99_on_the_jump_is_not_called_resolved() -> None:
    rng = np.random.default_rng(0)
    warm, cold = list(rng.normal(9, 0.7, 300)), list(rng.normal(500, 40, 12))
    assert not stats.mixture_quantile(warm, cold, 0.01, 0.99)[1]
    assert stats.mixture_quantile(warm, cold, 0.002, 0.99)[1]
    lim = stats.slo_limit(warm, cold, 12.0)
    at, above = (
        stats.mixture_quantile(warm, cold, lim, 0.99)[0],
        stats.mixture_quantile(warm, cold, lim * 1.01, 0.99)[0],
    )
    assert at is not None and above is not None and at <= 12.0 < above


def test_a_cell_clearly_cheaper_wins_over_a_smaller_image(tmp_path: Path) -> None:
    """10 % cheaper with an interval that excludes equality: no tie-break may override cost."""
    path = _write(tmp_path / "s.csv", {SMALL: (40.0, 12.0, 300.0), BIG: (34.0, 12.0, 300.0)}, 6, 1)
    dec = winner.decide(
        inp(_df({SMALL: 79_000_000, BIG: 99_000_000}), 1000, by_repeat=samples.read(path, True))
    )
    assert dec is not None and dec.winner.image == BIG and dec.decided_by == "cost"
    assert all(r.image == BIG for r in dec.regions)


def test_a_real_tie_states_what_the_smaller_image_costs(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.csv", {SMALL: (20.05, 0.2, 300.0), BIG: (20.0, 0.2, 300.0)}, 6, 2)
    dec = winner.decide(
        inp(_df({SMALL: 79_000_000, BIG: 99_000_000}), 1000, by_repeat=samples.read(path, True))
    )
    assert dec is not None and dec.winner.image == SMALL and dec.decided_by == "image size"
    extra = dec.winner.cost - min(x.cost for x in dec.cells)
    assert f"picked for a 20 MB smaller image, at ${extra:.2f} per 1M more than the cheapest" in dec.why
    assert "point cost" not in winner.RULE and all(name != "point cost" for name, _, _ in winner.TIE_BREAKS)


def test_one_set_of_cold_figures_per_cell(tmp_path: Path) -> None:
    """winner.json's cold figures are the pooled samples' (the ones the cost and the latency use)."""
    path = _write(tmp_path / "s.csv", {SMALL: (20.0, 1.0, 300.0)}, 6, 3)
    df = _df({SMALL: 79_000_000})
    df["cold_total_median_ms"] = 999.0  # a per-repeat median that must not be quoted
    df["init_billed_ms"] = 1.0
    dec = winner.decide(inp(df, 1000, by_repeat=samples.read(path, True)))
    assert dec is not None
    doc = winner.to_json(dec.winner, winner.Rule(1000), dec)
    pooled = samples.read(path)[Cell.of_tag(SMALL, 1024)]
    assert doc["metrics"]["cold_total_median_ms"] == float(np.median(pooled.cold_client_ms))
    want = float(np.mean(np.ceil(np.add(pooled.cold_init_ms, pooled.cold_duration_ms))))
    assert doc["metrics"]["billed_cold_request_mean_ms"] == want
    assert (
        traffic.figures(dec.lines[Cell.of_tag(SMALL, 1024)])["cold_total_median_ms"]
        == doc["metrics"]["cold_total_median_ms"]
    )
