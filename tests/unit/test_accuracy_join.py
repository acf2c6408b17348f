"""bench/measure/accuracy.py joins accuracy rows by the artefact's sha256: other bytes -> stale, never
borrowed."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.measure import accuracy, schema

COLS = [
    "model",
    "runtime",
    "library",
    "variant",
    "sha256",
    "top1_accuracy_pct",
    "agreement_pct",
    "max_abs_dprob",
    "gate_passed",
    "error",
]
LITERT_INT8 = "5c40c1d6" * 8
SHIPPED_INT8 = "5ac4e399" * 8


def _acc(tmp_path: Path) -> pd.DataFrame:
    path = tmp_path / "accuracy.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLS)
        w.writerow(
            [
                "reference",
                "tflite",
                "ai_edge_litert",
                "full-int8",
                LITERT_INT8,
                "77.2",
                "98.9",
                "0.08",
                "True",
                "",
            ]
        )
        w.writerow(
            [
                "reference",
                "tflite",
                "ai_edge_litert",
                "float32",
                "f" * 64,
                "77.2",
                "100.0",
                "1e-6",
                "True",
                "",
            ]
        )
        w.writerow(
            [
                "reference",
                "tflite",
                "tflite_runtime",
                "float32",
                "f" * 64,
                "77.2",
                "100.0",
                "2e-6",
                "True",
                "",
            ]
        )
    df = accuracy.load(path)
    assert df is not None
    return df


def test_same_bytes_join(tmp_path: Path) -> None:
    acc = _acc(tmp_path)
    fields, note = accuracy.lookup(acc, "reference", "tflite", "ai_edge_litert", "full-int8", LITERT_INT8)
    assert note is None and fields["gate_passed"] is True and fields["agreement_pct"] == 98.9
    assert fields["accuracy_sha256"] == LITERT_INT8
    fields, note = accuracy.lookup(acc, "reference", "tflite", "tflite_runtime", "float32", "f" * 64)
    assert note is None and fields["max_abs_dprob"] == 2e-6  # its own library's row, not LiteRT's


def test_other_bytes_are_stale_and_fail_the_gate(tmp_path: Path) -> None:
    acc = _acc(tmp_path)
    fields, note = accuracy.lookup(acc, "reference", "tflite", "ai_edge_litert", "full-int8", SHIPPED_INT8)
    assert fields["gate_passed"] is False and fields["accuracy_sha256"] == LITERT_INT8
    assert accuracy.stale(note) and "5c40c1d6" in (note or "") and "5ac4e399" in (note or "")
    fields, note = accuracy.lookup(acc, "reference", "tflite", "ai_edge_litert", "float32", None)
    assert fields["gate_passed"] is False and accuracy.stale(note)  # unknown bytes are not the measured ones
    fields, note = accuracy.lookup(acc, "reference", "tflite", "ai_edge_litert", "float32", pd.NA)
    assert fields["gate_passed"] is False and accuracy.stale(note)


def test_no_library_borrows_another_libraries_row(tmp_path: Path) -> None:
    acc = _acc(tmp_path)
    fields, note = accuracy.lookup(acc, "reference", "tflite", "tflite_runtime", "full-int8", LITERT_INT8)
    assert fields == {} and "no accuracy row" in (note or "") and not accuracy.stale(note)


def _acc_rows(tmp_path: Path, rows: list[list[str]]) -> pd.DataFrame:
    path = tmp_path / "acc.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLS)
        w.writerows(rows)
    loaded = accuracy.load(path)
    assert loaded is not None
    return loaded


@given(
    bench_gate=st.sampled_from([True, False, None]),
    now_gate=st.booleans(),
    same_bytes=st.booleans(),
    agreement=st.floats(90, 100),
)
@settings(deadline=None, max_examples=40)
def test_a_gate_re_judged_on_the_same_bytes_decides(
    tmp_path_factory: pytest.TempPathFactory,
    bench_gate: bool | None,
    now_gate: bool,
    same_bytes: bool,
    agreement: float,
) -> None:
    """accuracy.csv re-evaluated after the bench: the row that ran the same bytes takes today's gate;
    a row that ran other bytes is stale and never passes, whatever it recorded at bench time."""
    from bench.report import document as report

    sha_ran, sha_now = "ab" * 32, ("ab" * 32 if same_bytes else "cd" * 32)
    acc = _acc_rows(
        tmp_path_factory.mktemp("acc"),
        [
            [
                "m",
                "tflite",
                "ai_edge_litert",
                "full-int8",
                sha_now,
                "77",
                f"{agreement}",
                "0.1",
                str(now_gate),
                "",
            ]
        ],
    )
    row = schema.Row.from_columns(
        {
            "model": "m",
            "runtime": "tflite",
            "library": "ai_edge_litert",
            "variant": "full-int8",
            "model_sha256": sha_ran,
            "target": "container",
            "gate_passed": bench_gate,
            "agreement_pct": 99.0,
            "top1_accuracy_pct": 77.0,
            "max_abs_dprob": 0.1,
        }
    )
    got = report.fill_accuracy([row], acc)[0].accuracy
    if same_bytes:
        assert got.gate_passed is now_gate and got.agreement_pct == pytest.approx(agreement)
    else:
        assert not got.gate_passed
