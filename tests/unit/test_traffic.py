"""The verdict as a function of traffic: cost lines, the latency mix, the keep-alive model, ties by the
difference to the cheapest, P(cheapest), the minimum sample size and the decision per model (no docker)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.decide import cost, stats, traffic, verdict, winner
from bench.measure import samples
from bench.measure.cells import Cell
from bench.measure.settings import Settings
from tests.support.rows import cell, frame, inp

durations = st.lists(st.floats(0.1, 5000.0, allow_nan=False), min_size=1, max_size=30)
shares = st.floats(0.0, 1.0, allow_nan=False)
FULL_INT8 = "clothing-tflite:reference-full-int8"
INT8 = "clothing-tflite:reference-int8"
ORT = "clothing-onnx:reference-float32-opt"


@settings(deadline=None)  # the shared 2-core host: timing is not what these test
@given(
    mem=st.sampled_from([128, 1024, 1769, 3008, 10240]),
    warm=durations,
    cold=st.lists(st.tuples(st.floats(0.1, 9000.0), st.floats(0.1, 5000.0)), max_size=12),
    c=shares,
    arch=st.sampled_from(cost.ARCHITECTURES),
)
def test_cost_line_reproduces_the_cost_at_every_share(mem, warm, cold, c, arch) -> None:
    """a + b * c is the expected cost at c, for any samples and share: the bill of one cold start, averaged
    over the cold starts (each bills ceil(init + duration)), mixed with the warm requests."""
    inits, durs = [i for i, _ in cold], [d for _, d in cold]
    a, b = cost.cost_line(mem, warm, inits, durs, arch)
    per = [_bill(mem, warm, c, i + d, arch) for i, d in cold] or [_bill(mem, warm, c, None, arch)]
    assert a + b * c == pytest.approx(float(np.mean(per)), rel=1e-9)
    assert cost.cost_at(mem, warm, inits, durs, c, arch) == pytest.approx(a + b * c, rel=1e-12)


def _bill(mem: int, warm: list[float], c: float, cold_ms: float | None, arch: str) -> float:
    """USD per 1M as AWS bills it, by hand: warm requests bill ceil(duration), a cold one ceil(INIT +
    duration) as one duration (no cold sample: 1 ms of init on top of a warm request), GB = MB / 1024."""
    w = float(np.mean([max(1, math.ceil(x)) for x in warm]))
    cold = max(1, math.ceil(cold_ms)) if cold_ms is not None else 1 + w
    ms = (1 - c) * w + c * cold
    return (cost.REQUEST_USD + mem / 1024 * ms / 1000 * cost.GB_SECOND_USD[arch]) * 1e6


@settings(deadline=None)  # the shared 2-core host: timing is not what these test
@given(warm=durations, q=st.sampled_from([0.5, 0.9, 0.99, 0.999]))
def test_mixture_quantile_of_one_kind_is_the_inverted_cdf(warm, q) -> None:
    got, _ = stats.mixture_quantile(warm, [], 0.0, q)
    assert got == pytest.approx(float(np.quantile(warm, q, method="inverted_cdf")))
    alone, _ = stats.mixture_quantile([], warm, 1.0, q)
    assert alone == got


@settings(deadline=None)  # the shared 2-core host: timing is not what these test
@given(warm=durations, cold=durations, c1=shares, c2=shares)
def test_mixture_p99_grows_with_the_cold_share_when_cold_is_slower(warm, cold, c1, c2) -> None:
    """Every cold start slower than every warm request: more cold requests never lower the tail."""
    slow = [max(warm) + x for x in cold]
    lo, hi = sorted((c1, c2))
    low, high = (
        stats.mixture_quantile(warm, slow, lo, 0.99)[0],
        stats.mixture_quantile(warm, slow, hi, 0.99)[0],
    )
    assert low is not None and high is not None and low <= high


def test_mixture_quantile_says_when_the_tail_is_beyond_the_samples() -> None:
    warm = list(np.linspace(1, 150, 150))
    assert stats.mixture_quantile(warm, [], 0.0, 0.99) == (149.0, True)
    assert stats.mixture_quantile(warm, [], 0.0, 0.999) == (150.0, False)  # the largest sample: unresolved
    # 1 % cold at 600 ms: the p99.9 of the mix is a cold start
    assert stats.mixture_quantile(warm, [600.0] * 10, 0.01, 0.999)[0] == 600.0


@settings(deadline=None)  # the shared 2-core host: timing is not what these test
@given(r=st.floats(0.01, 1e5), t=st.floats(0.5, 120.0))
def test_keepalive_model_maps_both_ways(r, t) -> None:
    c = traffic.cold_share(r, t)
    assert 0 <= c < 1
    if 1e-12 < c < 1:  # below, exp() is too close to zero to invert to 6 digits
        assert traffic.requests_per_hour(c, t) == pytest.approx(r, rel=1e-6)
    assert traffic.cold_share(r * 2, t) <= c  # more traffic, fewer cold requests


def test_keepalive_default_figures() -> None:
    """One request every T minutes on average leaves e^-1 of requests cold; the bench default share 1 %
    is ln(100) * 60 / T requests per hour."""
    assert traffic.cold_share(60 / traffic.KEEPALIVE_MIN) == pytest.approx(math.exp(-1))
    assert traffic.requests_per_hour(0.01) == pytest.approx(math.log(100) * 60 / traffic.KEEPALIVE_MIN)
    with pytest.raises(ValueError):
        traffic.requests_per_hour(0.0)


def _cell(image: str, memory_mb: int = 1024) -> Cell:
    """A cell of a synthetic image the catalogue does not name."""
    return Cell("tflite", "m", "float32", memory_mb, image=image)


def _line(key: str, a: np.ndarray, b: np.ndarray, n: int = 10) -> traffic.CellLine:
    return traffic.CellLine(_cell(key), float(np.mean(a)), float(np.mean(b)), a, b, n * 10, n, 1, [], [])


@settings(max_examples=60, deadline=None)
@given(
    means=st.lists(st.floats(0.1, 2.0), min_size=1, max_size=6),
    sd=st.floats(0.001, 0.5),
    c=shares,
    seed=st.integers(0, 2**16),
)
def test_p_cheapest_sums_to_one_and_the_tie_set_shrinks_with_confidence(means, sd, c, seed) -> None:
    rng = np.random.default_rng(seed)
    ls = {
        _cell(f"img{i}"): _line(f"img{i}", rng.normal(m, sd, 400), rng.normal(5, sd, 400))
        for i, m in enumerate(means)
    }
    wide, narrow = traffic.compare(ls, c, 0.99), traffic.compare(ls, c, 0.5)
    assert sum(x.p_cheapest or 0.0 for x in wide.values()) == pytest.approx(1.0)
    best = min(wide.values(), key=lambda x: x.cost).cell
    assert wide[best].tied and narrow[best].tied  # the cheapest always ties with itself
    # a tie is an equivalence: the wider (more confident) interval fits the margin less often
    assert {k for k, x in wide.items() if x.tied} <= {k for k, x in narrow.items() if x.tied}


def test_a_cell_far_dearer_leaves_the_tie_and_one_close_stays() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(0.40, 0.02, 2000)
    ls = {
        _cell("a"): _line("a", base, np.full(2000, 6.0)),
        _cell("close"): _line("close", base + rng.normal(0.002, 0.001, 2000), np.full(2000, 6.0)),
        _cell("unclear"): _line("unclear", rng.normal(0.405, 0.02, 2000), np.full(2000, 6.0)),
        _cell("far"): _line("far", rng.normal(0.60, 0.02, 2000), np.full(2000, 6.0)),
    }
    t = traffic.compare(ls, 0.01)
    # close: within 2 % of the cheapest in every draw (a real tie); unclear: cannot be told apart but not
    # shown equal either (no tie: the lower cost decides); far: dearer beyond doubt
    assert [x.tied for x in t.values()] == [True, True, False, False]
    assert not t[_cell("unclear")].distinct
    far = t[_cell("far")]
    assert far.diff_low is not None and far.diff_low > 0 and far.p_cheapest == 0


def test_too_few_cold_starts_never_make_a_tie() -> None:
    """Too few samples cannot show two cells equal: no tie-break, the lower expected cost decides."""
    rng = np.random.default_rng(2)
    ls = {
        _cell("a"): _line("a", rng.normal(0.40, 0.001, 500), np.full(500, 6.0), n=2),
        _cell("b"): _line("b", rng.normal(0.50, 0.001, 500), np.full(500, 6.0), n=2),
    }
    assert not ls[_cell("a")].enough
    t = traffic.compare(ls, 0.01)
    assert [x.tied for x in t.values()] == [True, False] and not any(x.distinct for x in t.values())


def test_crossovers_and_the_exact_crossing() -> None:
    grid = np.array([0.001, 0.01, 0.1, 1.0])
    a, b = _cell("A"), _cell("B")
    runs = traffic.crossovers([a, a, b, b], grid)
    assert [r.winner for r in runs] == [a, b]
    assert runs[0].to_cold_share == runs[1].from_cold_share == pytest.approx(math.sqrt(0.01 * 0.1))
    assert runs[0].to_json()["from_requests_per_hour"] == traffic.requests_per_hour(0.001)
    steep = traffic.CellLine(_cell("s", 1), 1.0, 10.0, None, None, 0, 0, 0, [], [])
    flat = traffic.CellLine(_cell("f", 1), 1.5, 0.0, None, None, 0, 0, 0, [], [])
    assert traffic.crossing(steep, flat, 0.0, 1.0) == pytest.approx(0.05)
    assert traffic.crossing(steep, flat, 0.1, 1.0) is None


@settings(deadline=None)  # the shared 2-core host: timing is not what these test
@given(
    groups=st.lists(st.lists(st.floats(1, 100), min_size=1, max_size=8), min_size=1, max_size=4),
    seed=st.integers(0, 1000),
)
def test_two_stage_resampling_keeps_pairs_and_pads_short_repeats(groups, seed) -> None:
    rng = np.random.default_rng(seed)
    reps = stats.repeat_indices(len(groups), 50, rng)
    paired = [[x + 1000 for x in g] for g in groups]
    vals, pair = stats.resample_within(groups, reps, rng, paired)
    assert np.array_equal(np.isnan(vals), np.isnan(pair))
    assert np.allclose(pair[~np.isnan(pair)] - vals[~np.isnan(vals)], 1000)
    counts = (~np.isnan(vals)).sum(axis=1)
    assert list(counts) == [sum(len(groups[r]) for r in row) for row in reps]
    pool = {x for g in groups for x in g}
    assert set(vals[~np.isnan(vals)]) <= pool


def _samples_file(
    tmp_path: Path, cells: dict[str, tuple[float, float]], n_cold: int, repeats: int = 2
) -> Path:
    """Per image (warm ms, init ms); every cold start of the cell 600 ms client side."""
    rng = np.random.default_rng(3)
    rows = []
    for rep in range(repeats):
        for image, (w, init) in cells.items():
            warm = [(float(x), float(x) + 2) for x in rng.normal(w, 0.3, 40)]
            cold = [(float(i), w * 2, 600.0) for i in rng.normal(init, 5, n_cold)]
            rows += samples.rows_for_cell("r", rep, image, 1024, warm, cold)
    return samples.write(tmp_path / "r.csv", rows)


def _frame(images: dict[str, int], top1: float = 77.0) -> pd.DataFrame:
    return frame(
        *[
            dict(cell(img, 0.4, size=size, mem=1024, top1=top1), cold_fraction=0.01, variant="float32")
            for img, size in images.items()
        ]
    )


def test_two_cold_starts_never_make_a_cell_cheapest_outright(tmp_path: Path) -> None:
    """The BENCH_QUICK=1 case: N=2 cold starts per cell; the cheaper cell is picked but not certain."""
    path = _samples_file(tmp_path, {FULL_INT8: (4.0, 300.0), ORT: (9.0, 420.0)}, n_cold=2, repeats=1)
    dec = winner.decide(
        inp(_frame({FULL_INT8: 79_000_000, ORT: 99_000_000}), 1000, by_repeat=samples.read(path, True))
    )
    assert dec is not None and dec.winner.image == FULL_INT8
    assert len(dec.tie_set) == 1 and dec.decided_by == "cost"
    assert "too few samples" in dec.basis and "outright" not in verdict.paragraph(dec, 1000)


def test_the_pick_changes_along_the_traffic_axis(tmp_path: Path) -> None:
    """A: faster warm, slow init; B: slower warm, fast init. A wins at low cold shares, B at high ones, and
    the boundary is where their cost lines cross."""
    path = _samples_file(tmp_path, {FULL_INT8: (3.0, 900.0), INT8: (8.0, 100.0)}, n_cold=8)
    by_rep = samples.read(path, by_repeat=True)
    df = _frame({FULL_INT8: 79_000_000, INT8: 79_000_000})
    low = winner.decide(inp(df, 1000, by_repeat=by_rep, cold_share=1e-4))
    high = winner.decide(inp(df, 1000, by_repeat=by_rep, cold_share=0.4))
    assert low.winner.image == FULL_INT8 and high.winner.image == INT8
    assert [r.image for r in low.regions] == [FULL_INT8, INT8]
    a, b = low.lines[Cell.of_tag(FULL_INT8, 1024)], low.lines[Cell.of_tag(INT8, 1024)]
    x = low.regions[0].to_cold_share
    assert a.cost(x) == pytest.approx(b.cost(x), rel=1e-9)
    assert "Along the traffic axis the rule picks" in verdict.paragraph(low, 1000)


def test_a_p99_slo_with_cold_starts_excludes_cells_where_cold_starts_reach_the_tail(tmp_path: Path) -> None:
    path = _samples_file(tmp_path, {FULL_INT8: (4.0, 300.0)}, n_cold=8)
    by_rep = samples.read(path, by_repeat=True)
    df = _frame({FULL_INT8: 79_000_000})
    assert winner.decide(inp(df, 1000, by_repeat=by_rep, cold_share=0.001, slo_ms=100)) is not None
    assert winner.decide(inp(df, 1000, by_repeat=by_rep, cold_share=0.05, slo_ms=100)) is None  # p99 = 600 ms


def test_a_model_below_the_floor_gets_a_labelled_cost_only_verdict(tmp_path: Path) -> None:
    xc = "clothing-tflite:xception-float32"
    path = _samples_file(tmp_path, {FULL_INT8: (4.0, 300.0), xc: (30.0, 900.0)}, n_cold=8)
    df = pd.concat([_frame({FULL_INT8: 79_000_000}), _frame({xc: 160_000_000}, top1=16.0)])
    vs = {
        v.model: v
        for v in winner.decide_models(inp(df, 1000, samples.read(path, by_repeat=True), min_top1=50.0))
    }
    assert vs["reference"].accurate and vs["reference"].decision.winner.image == FULL_INT8
    assert vs["xception"].accurate is False and vs["xception"].decision.winner.image == xc
    assert winner.model_summary(vs["xception"])["verdict"] == winner.COST_LATENCY_ONLY
    assert (
        winner.decide(inp(df, 1000, by_repeat=samples.read(path, by_repeat=True))).winner.image == FULL_INT8
    )


def test_traffic_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_REQUESTS_PER_HOUR", "60")
    monkeypatch.setenv("BENCH_KEEPALIVE_MIN", "5")
    monkeypatch.setenv("BENCH_P99_MS", "800")
    cfg = Settings.from_env()
    assert (
        cfg.cold_fraction == pytest.approx(math.exp(-5)) and cfg.traffic_source == "BENCH_REQUESTS_PER_HOUR"
    )
    assert cfg.p99_slo_ms == 800 and cfg.keepalive_min == 5
    monkeypatch.setenv("BENCH_COLD_FRACTION", "0.02")
    with pytest.raises(ValueError, match="not both"):
        Settings.from_env()
    monkeypatch.delenv("BENCH_REQUESTS_PER_HOUR")
    assert Settings.from_env().cold_fraction == 0.02 and Settings.from_env().p99_slo_ms == 800


def test_without_raw_samples_one_cent_decides_and_nothing_is_called_outright() -> None:
    df = frame(
        dict(cell(FULL_INT8, 0.40, mem=1024), cold_fraction=0.01),
        dict(cell(ORT, 0.45, mem=1024), cold_fraction=0.01),
    )
    dec = winner.decide(inp(df, 1000))
    assert dec is not None and dec.decided_by == "cost" and "no raw samples" in dec.why
    assert dec.winner.cost == pytest.approx(0.40)  # the row's own cost at its own cold share
    assert "outright" not in verdict.paragraph(dec, 1000)
