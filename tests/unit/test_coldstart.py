"""The cold-start pieces that need no docker: warm-up switch, load stages, the
decomposition/goal arithmetic of bench/report/coldstart.py on a synthetic run."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.report import coldstart
from runtimes import base


def test_warm_up_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(base.WARMUP_ENV, raising=False)
    assert base.warm_up_at_init("tflite") is base.WARMUP_AT_INIT["tflite"]
    for raw, want in (("1", True), ("on", True), ("0", False), ("false", False)):
        monkeypatch.setenv(base.WARMUP_ENV, raw)
        assert base.warm_up_at_init("onnx") is want
    monkeypatch.setenv(base.WARMUP_ENV, "maybe")
    with pytest.raises(ValueError, match="MODEL_WARMUP"):
        base.warm_up_at_init("onnx")


def test_init_stages_of_an_adapter_without_them() -> None:
    class Bare:
        pass

    assert base.init_stages(Bare()) == {}


def _row(label: str, kind: str, model: str, variant: str, mem: int, **v: float) -> dict:
    row = dict(run_id="r", round=0, order=0, label=label, kind=kind, model=model, variant=variant,
               tag="t", cpus=1.0 if mem == 1769 else 0.58, memory_mb=mem, env="", error="",
               loadavg1=1.0)  # fmt: skip
    if label == "after+warmup":
        row["env"] = "MODEL_WARMUP=1"
    return row | v


def _medians(path: Path, rows: list[dict]) -> pd.DataFrame:
    """``rows`` written as scripts/coldstart.py writes its CSV, read back through
    bench/report/coldstart.py."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=coldstart.KEYS + ["run_id", "round", "order", "tag", "error",
                                                           *coldstart.NUMERIC])  # fmt: skip
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in w.fieldnames})
    return coldstart.medians(coldstart.read(path))


def test_decomposition_and_goals_from_a_synthetic_run(tmp_path: Path) -> None:
    mem = 1769
    rows = [
        _row("floor", "boot", "", "", mem, init_report_ms=100, first_request_ms=110, cold_total_ms=400,
             container_ms=290),
        _row("floor", "null", "reference", "none", mem, init_report_ms=300, first_request_ms=320,
             cold_total_ms=600, container_ms=280),
        _row("after", "null", "reference", "none", mem, init_report_ms=320, first_request_ms=350,
             cold_total_ms=650, container_ms=300, handler_init_ms=2, warm_inference_ms=0),
        _row("before", "null", "reference", "none", mem, init_report_ms=400, first_request_ms=430,
             cold_total_ms=730, container_ms=300, handler_init_ms=2, warm_inference_ms=0),
        _row("floor", "tflite", "reference", "float32", mem, init_report_ms=400, first_request_ms=410,
             cold_total_ms=700, container_ms=290),
        _row("after", "tflite", "reference", "float32", mem, init_report_ms=420, first_request_ms=500,
             cold_total_ms=800, container_ms=300, handler_init_ms=60, load_ms=50, warmup_ms=0,
             warm_inference_ms=40),
    ]  # fmt: skip
    path = tmp_path / "coldstart.csv"
    med = _medians(path, rows)
    tfl = med[(med["kind"] == "tflite") & (med["label"] == "after")].iloc[0]
    assert tfl["boot_ms"] == 100
    assert tfl["imports_ms"] == pytest.approx(420 - 100 - 60)
    assert tfl["model_load_ms"] == 60
    assert tfl["request_ms"] == 80
    goals = {(g["goal"], g["model"]): g for g in coldstart.goals(med)}
    null_init = goals[("null INIT / python + awslambdaric + numpy + Pillow <= 1.1", "-")]
    assert null_init["after"] == pytest.approx(320 / 300) and null_init["holds"]
    assert null_init["before"] == pytest.approx(400 / 300)
    tfl_init = goals[("TFLite f32 INIT / its bare floor <= 1.1", "reference")]
    assert tfl_init["after"] == pytest.approx(420 / 400)
    cold = goals[("TFLite f32 cold / (null cold + one warm inference) <= 1.1", "reference")]
    assert cold["after"] == pytest.approx(800 / (650 + 40)) and cold["holds"] is False
    md = coldstart.section(
        path,
        tmp_path / "no-modelload.csv",
        imports_path=tmp_path / "none.csv",
        ortwarm_path=tmp_path / "no.csv",
    )
    assert "| 1769 MB | reference | TFLite f32 (after) |" in md
    assert np.isfinite(tfl["imports_ms"])


def test_seed_goals_from_a_synthetic_run(tmp_path: Path) -> None:
    mem = 1024
    rows = [
        _row("floor", "boot", "", "", mem, init_report_ms=100, first_request_ms=110, cold_total_ms=400),
        _row("after", "tflite", "xception", "float32", mem, init_report_ms=500, first_request_ms=700,
             cold_total_ms=900, handler_init_ms=100, warm_inference_ms=150),
        _row("after", "tflite", "xception", "full-int8", mem, init_report_ms=450, first_request_ms=600,
             cold_total_ms=800, handler_init_ms=50, warm_inference_ms=70),
        _row("seed", "seed", "xception", "float32", mem, init_report_ms=600, first_request_ms=900,
             cold_total_ms=1500, handler_init_ms=120, warm_inference_ms=160),
        _row("floor", "tflite", "xception", "float32", mem, init_report_ms=450, first_request_ms=460,
             cold_total_ms=750),
    ]  # fmt: skip
    path = tmp_path / "coldstart.csv"
    med = _medians(path, rows)
    goals = {(g["goal"], g["model"]): g for g in coldstart.goals(med)}
    f32 = goals[("TFLite f32 cold / seed-style cold <= 0.6", "xception")]
    assert f32["after"] == pytest.approx(900 / 1500) and f32["holds"] and f32["before"] is None
    int8 = goals[("TFLite full-int8 cold / seed-style cold <= 0.5", "xception")]
    assert int8["after"] == pytest.approx(800 / 1500) and int8["holds"] is False
    bound = goals[("(bound) TFLite f32 bare floor cold + one warm inference / seed-style cold", "xception")]
    assert bound["after"] == pytest.approx((750 + 150) / 1500) and bound["holds"] is None
    no_floor = goals[
        ("(bound) TFLite full-int8 bare floor cold + one warm inference / seed-style cold", "xception")
    ]
    assert no_floor["after"] is None
    names = [name for name, _ in coldstart._decomposition_rows(med, mem, "xception")]
    assert "seed-style: tflite-runtime 2.14 f32" in names


def test_doc_block_is_what_the_committed_csvs_give() -> None:
    """docs/coldstart.md's generated block is bench.report.coldstart's section of the committed results/
    CSVs."""
    text = coldstart.DOC.read_text()
    i, j = text.index(coldstart.BEGIN), text.index(coldstart.END)
    block = text[i + len(coldstart.BEGIN) : j].strip()
    assert block == coldstart.section().strip(), (
        "docs/coldstart.md drifted: run `python -m bench.report.coldstart`"
    )
