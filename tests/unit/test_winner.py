"""The winner rule on synthetic frames (no docker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.decide import winner
from tests.support.rows import cell, frame, inp, records


def test_lowest_cost_wins() -> None:
    df = frame(
        cell("clothing-tf:reference-float32", 3.0),
        cell("clothing-tflite:reference-float32", 1.2),
        cell("clothing-onnx:reference-float32", 1.5),
    )
    assert winner.pick(records(df), winner.Rule(1000)).image == "clothing-tflite:reference-float32"


def test_p99_budget_and_gate_and_errors_exclude() -> None:
    df = frame(
        cell("clothing-tflite:reference-int8", 0.5, gate=False),
        cell("clothing-tflite:reference-float16", 0.6, p99=1500),
        cell("clothing-onnx:reference-float32", 0.7, errors=2),
        cell("clothing-tflite:reference-full-int8", 0.8, gate=None),
        cell("clothing-tf:reference-float32", 2.0),
    )
    assert winner.pick(records(df), winner.Rule(1000)).image == "clothing-tf:reference-float32"
    assert winner.pick(records(df), winner.Rule(2000)).image == "clothing-tflite:reference-float16"


def test_null_never_wins_and_inprocess_rows_do_not_count() -> None:
    df = frame(
        cell("clothing-null:reference-none", 0.01),
        cell("clothing-tflite:reference-float32", 0.3, mem=3008),
        cell("clothing-onnx:reference-float32", 0.1, target="inprocess"),
    )
    w = winner.pick(records(df), winner.Rule(1000))
    assert w is not None and w.image == "clothing-tflite:reference-float32" and w.memory_mb == 3008


def test_ties_go_to_the_smaller_image() -> None:
    df = frame(
        cell("clothing-onnx:reference-float32", 1.004, size=150_000_000),
        cell("clothing-tflite:reference-float32", 1.009, size=120_000_000),
        cell("clothing-tf:reference-float32", 1.000, size=370_000_000),
    )
    assert winner.pick(records(df), winner.Rule(1000)).image == "clothing-tflite:reference-float32"
    # outside the one-cent tie band the cheaper one wins regardless of size
    df2 = frame(
        cell("clothing-tf:reference-float32", 1.00, size=370_000_000),
        cell("clothing-tflite:reference-float32", 1.02, size=120_000_000),
    )
    assert winner.pick(records(df2), winner.Rule(1000)).image == "clothing-tf:reference-float32"


def test_nothing_eligible_returns_none_and_removes_stale_file(tmp_path: Path) -> None:
    path = tmp_path / "winner.json"
    path.write_text("{}")
    df = frame(
        cell("clothing-null:reference-none", 0.1), cell("clothing-tflite:reference-float32", 1, gate=False)
    )
    assert winner.pick(records(df), winner.Rule(1000)) is None
    assert winner.write(inp(df, 1000), path) is None and not path.exists()


def test_winner_json_has_the_architecture_schema(tmp_path: Path) -> None:
    df = frame(cell("clothing-tflite:reference-float32", 1.2), cell("clothing-tf:reference-float32", 3.0))
    doc = winner.write(inp(df, 750), tmp_path / "winner.json")
    on_disk = json.loads((tmp_path / "winner.json").read_text())
    assert doc == on_disk
    assert set(on_disk) == {
        "image",
        "image_kind",
        "runtime",
        "model",
        "variant",
        "memory_mb",
        "architecture",
        "threads",
        "metrics",
        "rule",
        "run_id",
        "generated_at",
        "cost_interval_usd",
        "cost_line_usd",
        "tie_set",
        "p_cheapest",
        "tie_break",
        "repeats",
        "regions",
        "traffic",
    }
    assert (
        on_disk["image_kind"] == "tflite"
        and on_disk["memory_mb"] == 1769
        and on_disk["architecture"] == "x86_64"
    )
    assert on_disk["metrics"]["cost_per_1m_x86_64_usd"] == pytest.approx(1.2)
    assert "750" in on_disk["rule"] and on_disk["run_id"] == "run-1"
    json.dumps(on_disk)  # plain JSON types only (no numpy / pandas scalars)


def test_degenerate_model_never_wins_however_cheap() -> None:
    """A from-scratch model that answers one class agrees perfectly with itself: the top-1 floor stops it."""
    df = frame(
        cell("clothing-tflite:xception-float32", 0.5, top1=14.0),
        cell("clothing-tflite:reference-float32", 0.8, top1=77.2),
    )
    assert winner.pick(records(df), winner.Rule(1000)).image == "clothing-tflite:reference-float32"
    low_floor = winner.Rule(1000, min_top1=10)
    w = winner.pick(records(df), low_floor)
    assert w is not None and w.image == "clothing-tflite:xception-float32"
    assert "top-1 >= 10 %" in winner.to_json(w, low_floor)["rule"]


def test_accuracy_of_other_bytes_never_wins() -> None:
    """The 2026-11-25 audit: the winner's accuracy row was measured on another file (5c40c1d6 vs 5ac4e399)."""
    df = frame(
        cell("clothing-tflite:reference-full-int8", 0.38, sha="5ac4e399" * 8, acc_sha="5c40c1d6" * 8),
        cell("clothing-onnx:reference-float32-opt", 0.39),
    )
    assert winner.pick(records(df), winner.Rule(1000)).image == "clothing-onnx:reference-float32-opt"
    unknown = frame(cell("clothing-tflite:reference-int8", 0.3, sha=None, acc_sha=None))  # type: ignore[arg-type]
    assert winner.pick(records(unknown), winner.Rule(1000)) is None


def test_threads_experiment_never_wins() -> None:
    """A BENCH_THREADS cell (MODEL_THREADS forced) measures a setting; the shipped handler uses its policy."""
    forced = cell("clothing-onnx:reference-float32", 0.5) | {"threads_forced": True, "threads": 2}
    df = frame(forced, cell("clothing-tflite:reference-float32", 0.8))
    assert winner.pick(records(df), winner.Rule(1000)).image == "clothing-tflite:reference-float32"


def test_a_few_kilobytes_do_not_break_a_tie() -> None:
    """2026-11-25 quick run: int8 (79,278,580 B) beat the cheaper full-int8 (79,287,733 B) on 9 KB."""
    df = frame(
        cell("clothing-tflite:reference-int8", 0.4300, size=79_278_580),
        cell("clothing-tflite:reference-full-int8", 0.4225, size=79_287_733),
        cell("clothing-onnx:reference-float32", 0.4224, size=99_205_445),
    )
    dec = winner.decide(inp(df, 1000))
    assert dec.winner.image == "clothing-tflite:reference-full-int8"
    assert dec.decided_by == "lower cost" and len(dec.tie_set) == 3
    assert dec.tie_set[-1].image == "clothing-onnx:reference-float32"  # 99 MB: last, however cheap
