"""The verdict, the cost interval, the tie set and the raw-sample files, on synthetic frames (no docker)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.decide import cost, stats, verdict, winner
from bench.measure import samples
from bench.measure.cells import Cell
from tests.support.rows import cell, frame, inp

BUDGET = 1000.0
FULL_INT8 = "clothing-tflite:reference-full-int8"
ORT = "clothing-onnx:reference-float32-opt"
TF = "clothing-tf:reference-float32"


def _samples(
    tmp_path: Path, cells: dict[str, tuple[float, float]], repeats: int = 1, n_warm: int = 60
) -> Path:
    """Write a samples file: per image, warm handler ms ~ N(mean, sd); 6 cold starts per repeat."""
    rng = np.random.default_rng(7)
    rows = []
    for rep in range(repeats):
        for image, (mean, sd) in cells.items():
            warm = [(float(max(1.0, h)), float(h) + 3) for h in rng.normal(mean, sd, n_warm)]
            cold = [
                (float(i), float(h), float(i + h + 250))
                for i, h in zip(rng.normal(300, 20, 6), rng.normal(mean * 2, sd, 6), strict=True)
            ]
            rows += samples.rows_for_cell("run-1", rep, image, 1024, warm, cold)
    return samples.write(tmp_path / "run-1.samples.csv", rows)


def _decide(
    tmp_path: Path, cells: dict[str, tuple[float, float]], sizes: dict[str, int], repeats: int = 1
) -> winner.Decision:
    path = _samples(tmp_path, cells, repeats)
    df = frame(
        *[
            dict(
                cell(img, cost.cost_at(1024, [m], [300], [2 * m], 0.01), size=sizes[img], mem=1024),
                cold_fraction=0.01,
                agreement_pct=99.0,
            )
            for img, (m, _) in cells.items()
        ]
    )
    dec = winner.decide(inp(df, BUDGET, samples.read(path, by_repeat=True)))
    assert dec is not None
    return dec


def test_samples_round_trip(tmp_path: Path) -> None:
    path = _samples(tmp_path, {ORT: (20.0, 2.0)}, repeats=2, n_warm=10)
    pooled = samples.read(path)[Cell.of_tag(ORT, 1024)]
    assert len(pooled.warm_ms) == 20 and len(pooled.cold_init_ms) == len(pooled.cold_duration_ms) == 12
    assert set(samples.read(path, by_repeat=True)) == {Cell.of_tag(ORT, 1024, repeat=r) for r in (0, 1)}
    assert samples.path_for(Path("results/runs/r1.csv")) == Path("results/samples/r1.csv")
    with pytest.raises(ValueError, match="kind"):
        samples.write(
            tmp_path / "bad.csv",
            [dict(samples.rows_for_cell("r", 0, ORT, 1024, [(1, 2)], [])[0], kind="lukewarm")],
        )


def test_cost_line_interval_brackets_the_point_and_narrows_with_samples() -> None:
    """The two-stage bootstrap of the cost line: its interval holds the pooled point and narrows as the
    repeats carry more samples; constant samples give a zero-width interval."""
    rng = np.random.default_rng(0)
    cold = [([300.0 + i for i in range(6)], [80.0] * 6)] * 2

    def width(n: int) -> tuple[float, float, float]:
        warm = [list(rng.normal(40, 8, n)), list(rng.normal(40, 8, n))]
        reps = stats.repeat_indices(2, 2000, np.random.default_rng(1))
        a, b = cost.line_draws(1024, warm, cold, reps, np.random.default_rng(2))
        draws = a + b * 0.01
        pa, pb = cost.cost_line(1024, warm[0] + warm[1], cold[0][0] * 2, cold[0][1] * 2)
        lo, hi = np.percentile(draws, [2.5, 97.5])
        return lo, pa + pb * 0.01, hi

    lo, pt, hi = width(15)
    lo2, pt2, hi2 = width(400)
    assert lo < pt < hi and lo2 < pt2 < hi2 and (hi2 - lo2) < (hi - lo)
    reps = stats.repeat_indices(1, 50, np.random.default_rng(0))
    a, b = cost.line_draws(1024, [[10.0] * 5], [([300.0] * 6, [20.0] * 6)], reps, np.random.default_rng(0))
    assert np.ptp(a) == 0 and np.ptp(b) == 0


def test_a_winner_inside_a_tie_is_never_called_the_cheapest_cell(tmp_path: Path) -> None:
    """A winner inside a tie (dearer than ORT by less than the noise) must never be called 'the cheapest'."""
    dec = _decide(
        tmp_path,
        {FULL_INT8: (20.1, 0.5), ORT: (20.0, 0.5), TF: (60.0, 0.5)},
        {FULL_INT8: 79_000_000, ORT: 99_000_000, TF: 370_000_000},
    )
    assert dec.winner.image == FULL_INT8 and dec.decided_by == "image size"
    assert {x.image for x in dec.tie_set} == {FULL_INT8, ORT}  # TF's interval is far above
    text = verdict.paragraph(dec, BUDGET)
    assert "outright" not in text and "is the cheapest" not in verdict.headline(dec).split("tie")[0]
    assert "2 of 3 eligible cells tie for the lowest cost" in text and ORT in verdict.headline(dec)
    assert "decided on image size" in text
    doc = winner.to_json(dec.winner, winner.Rule(BUDGET), dec)
    assert [c["image"] for c in doc["tie_set"]] == [FULL_INT8, ORT]
    assert doc["tie_break"]["decided_by"] == "image size"
    lo, hi = doc["cost_interval_usd"]["low"], doc["cost_interval_usd"]["high"]
    assert lo < doc["cost_interval_usd"]["point"] < hi and doc["cost_interval_usd"]["n_warm"] == 60
    json.dumps(doc)


def test_the_rival_is_given_its_own_image_size(tmp_path: Path) -> None:
    """The rival's sentence describes the rival's own image, never the winner's size."""
    dec = _decide(
        tmp_path, {FULL_INT8: (20.1, 0.5), ORT: (20.0, 0.5)}, {FULL_INT8: 79_000_000, ORT: 99_000_000}
    )
    s = verdict.rival(dec)
    assert s is not None and ORT in s
    assert "its compressed image is 99 MB, the winner's 79 MB" in s and "inside the tie" in s


def test_a_clear_winner_is_the_cheapest_and_repeats_are_counted(tmp_path: Path) -> None:
    dec = _decide(
        tmp_path,
        {FULL_INT8: (10.0, 0.5), ORT: (40.0, 0.5)},
        {FULL_INT8: 79_000_000, ORT: 99_000_000},
        repeats=3,
    )
    assert dec.decided_by == "cost" and len(dec.tie_set) == 1 and dec.repeats == 3
    assert dec.wins == {Cell.of_tag(FULL_INT8, 1024): 3}
    text = verdict.paragraph(dec, BUDGET)
    assert "it is the cheapest cell outright" in text and "outside the tie" in text
    assert "cheapest in 100% of the bootstrap draws" in text
    assert (
        "Over 3 repeats of the matrix in fresh random orders" in text and "won 3, every one of them." in text
    )
    doc = winner.evidence(dec)
    assert doc["repeats"] == {"k": 3, "won": 3, "wins": {f"{FULL_INT8}@1024": 3}}


def test_no_winner_says_so() -> None:
    df = frame(cell(FULL_INT8, 0.3, gate=False))
    assert winner.decide(inp(df, BUDGET)) is None
    assert verdict.sentences(None, BUDGET)[0].startswith("No cell qualified")


def test_repeat_wins_count_each_repeats_own_cheapest(tmp_path: Path) -> None:
    """Repeat 0: the ORT cell is cheaper; repeats 1 and 2: the TFLite cell. Each names its own winner."""
    rows = []
    for rep, (tfl_ms, ort_ms) in enumerate(((30.0, 10.0), (10.0, 30.0), (10.0, 30.0))):
        for image, ms in ((FULL_INT8, tfl_ms), (ORT, ort_ms)):
            rows += samples.rows_for_cell(
                "r", rep, image, 1024, [(ms, ms + 2)] * 20, [(300.0, 2 * ms, 400.0)] * 6
            )
    path = samples.write(tmp_path / "r.csv", rows)
    df = frame(
        dict(cell(FULL_INT8, 0.5, size=79_000_000, mem=1024), cold_fraction=0.01, agreement_pct=99.0),
        dict(cell(ORT, 0.5, size=99_000_000, mem=1024), cold_fraction=0.01, agreement_pct=100.0),
    )
    dec = winner.decide(inp(df, BUDGET, samples.read(path, by_repeat=True)))
    assert dec is not None and dec.repeats == 3
    assert dec.wins == {Cell.of_tag(FULL_INT8, 1024): 2, Cell.of_tag(ORT, 1024): 1}
    assert f"won 2; the other repeat winners: {ORT} at 1024 MB 1." in verdict.repeats(dec)
