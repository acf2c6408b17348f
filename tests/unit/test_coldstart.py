"""The cold-start study's pieces that need no docker: warm-up switch, load stages, its typed rows and
their CSV edge, the emulator-log parser it shares with the benchmark, and the decomposition/goal
arithmetic of bench/report/coldstart.py on a synthetic run."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.measure.coldstart import records as rec
from bench.measure.coldstart import study
from bench.measure.targets import container as ct
from bench.report import coldstart
from runtimes import base


def test_warm_up_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(base.WARMUP_ENV, raising=False)
    tflite, onnx = base.get("tflite"), base.get("onnx")
    assert base.warm_up_at_init(tflite) is tflite.warmup_at_init  # type: ignore[attr-defined]
    assert base.warm_up_at_init(object()) is False  # an adapter without a choice does not warm up
    for raw, want in (("1", True), ("on", True), ("0", False), ("false", False)):
        monkeypatch.setenv(base.WARMUP_ENV, raw)
        assert base.warm_up_at_init(onnx) is want
    monkeypatch.setenv(base.WARMUP_ENV, "maybe")
    with pytest.raises(ValueError, match="MODEL_WARMUP"):
        base.warm_up_at_init(onnx)


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
    """``rows`` written as the study writes its CSV (typed rows, rounded), read back through
    bench/report/coldstart.py."""
    rec.write(path, rec.ColdSampleRow, [rec.ColdSampleRow(**r) for r in rows], digits=2)
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


_num = st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False).map(lambda v: round(v, 2)))
_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=12)


@given(
    st.builds(
        rec.ColdSampleRow, run_id=_text, round=st.integers(0, 99), order=st.integers(0, 999), label=_text,
        kind=_text, model=_text, variant=_text, tag=_text, cpus=st.sampled_from([0.58, 1.0]),
        memory_mb=st.integers(128, 10240), env=_text, container_ms=_num, init_report_ms=_num,
        first_report_ms=_num, peak_mb=_num, loadavg1=_num, error=_text,
    )
)  # fmt: skip
def test_a_study_row_survives_its_csv(row: rec.ColdSampleRow) -> None:
    """Every row the study writes reads back equal: the CSV is only the edge of the typed rows."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "rows.csv"
        rec.write(path, rec.ColdSampleRow, [row], digits=2)
        assert rec.read(path, rec.ColdSampleRow) == [row]


def test_committed_csvs_read_as_typed_rows() -> None:
    """results/coldstart*.csv read back as the row types; an older modelload file lacks the memory
    split, which reads as None."""
    samples = rec.read(rec.SAMPLES_CSV, rec.ColdSampleRow)
    assert samples and all(isinstance(r.memory_mb, int) for r in samples)
    assert {r.label for r in samples} >= {"before", "after", "floor"}
    loads = rec.read(rec.MODELLOAD_CSV, rec.ModelLoadRow)
    assert loads and all(isinstance(r.mapped, bool) for r in loads)
    assert rec.read(rec.IMPORTS_CSV, rec.ImportRow)
    assert rec.read(rec.ORTWARM_CSV, rec.OrtWarmRow)


@given(
    init=st.one_of(st.none(), st.floats(0.01, 1e5).map(lambda v: round(v, 2))),
    durations=st.lists(st.floats(0.01, 1e5).map(lambda v: round(v, 2)), max_size=5),
    noise=st.lists(st.sampled_from(["START RequestId: x Version: $LATEST", "END RequestId: x",
                                    "REPORT RequestId: broken", "handler says REPORT"]), max_size=4),
)  # fmt: skip
def test_emulator_log_parser(init: float | None, durations: list[float], noise: list[str]) -> None:
    """The one parser of the emulator's log (the benchmark's warm REPORTs, the study's INIT): the INIT
    REPORT's duration and each well-formed REPORT line in order; other lines are skipped."""
    lines = (
        [] if init is None else [f"07 Dec 2026 23:00:00,123 [INFO] (rapid) INIT REPORT(durationMs: {init})"]
    )
    for i, d in enumerate(durations):
        lines += noise[i % len(noise) :][:1] if noise else []
        lines.append(
            f"REPORT RequestId: r{i}\tDuration: {d} ms\tBilled Duration: {int(d) + 1} ms\t"
            "Memory Size: 1024 MB\tMax Memory Used: 100 MB"
        )
    log = ct.parse_log("\n".join(lines + noise))
    assert log.init_ms == init
    assert [r.duration_ms for r in log.reports] == durations
    assert [r.request_id for r in log.reports] == [f"r{i}" for i in range(len(durations))]


def test_study_plan_names_what_its_images_are() -> None:
    """Every planned cell is measured on a study image (coldstart-*), the warm-up variant is an
    environment variable of the after image (no second build, no patched handler), and leaving the
    warm-up cells out removes exactly them at every configuration."""
    cells = study.plan(study.MODELS)
    assert all(c.tag.startswith("coldstart-") for c in cells)
    warm = [c for c in cells if c.label == "after+warmup"]
    assert warm and all(c.env_map() == {"MODEL_WARMUP": "1"} and c.tag.endswith("-after") for c in warm)
    assert {c.label for c in cells} == {"before", "after", "after+warmup", "floor", "seed"}
    assert len(study._points(cells, study.CONFIGS, warmup=False)) == 2 * (len(cells) - len(warm))


def test_md_table_renders_alignment() -> None:
    table = coldstart.md_table(coldstart._cols(("a",), ("b",), ("c", "l")), [("x", "1", "y")])
    assert table.splitlines() == ["| a | b | c |", "| --- | ---: | --- |", "| x | 1 | y |"]
