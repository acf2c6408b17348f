"""bench.report.document on a synthetic run (no docker): tables, plots, bars and winner.json."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from bench.measure import samples, schema
from bench.report import document as report

KINDS = {  # kind: (compressed MB, warm handler p50 ms at 1 thread, cold total ms, runtime, library)
    "tf": (370, 30.0, 4000.0, "tf", "tensorflow"),
    "tflite": (60, 20.0, 1200.0, "tflite", "ai_edge_litert"),
    "onnx": (90, 20.1, 1500.0, "onnx", "onnxruntime"),
    "null": (50, 2.0, 900.0, "null", "numpy"),
}


def synthetic_rows(tflite_cold_ms: float = 1200.0) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for kind, (mb, p50, cold, runtime, library) in KINDS.items():
        for mem in (1024, 1769, 3008):
            warm = p50 * {1024: 1.6, 1769: 1.0, 3008: 0.8}[mem]  # sub-linear: cheapest at 1024 MB
            cold_total = (tflite_cold_ms if kind == "tflite" else cold) * (1.1 if mem == 1024 else 1.0)
            samples = [cold_total * f for f in (0.9, 1.0, 1.1, 0.95, 1.05, 1.0)]
            rows.append(
                {
                    "run_id": "synthetic",
                    "target": "container",
                    "status": "ok",
                    "image": f"clothing-{kind}:reference-{'none' if kind == 'null' else 'float32'}",
                    "image_kind": kind,
                    "model": "reference",
                    "variant": "none" if kind == "null" else "float32",
                    "runtime": runtime,
                    "library": library,
                    "memory_mb": mem,
                    "cpus": round(mem / 1769, 3),
                    "threads": 1 if mem <= 1769 else 2,
                    "image_uncompressed_bytes": mb * 3_000_000,
                    "image_compressed_bytes": mb * 1_000_000,
                    "image_base_bytes": 160_000_000,
                    "image_runtime_layer_bytes": mb * 3_000_000 - 165_000_000,
                    "image_model_bytes": 2_500_000,
                    "image_handler_bytes": 150_000,
                    "cold_n": 6,
                    "cold_rejected_n": 0,
                    "cold_total_median_ms": cold_total,
                    "cold_container_start_median_ms": 500.0,
                    "cold_first_request_median_ms": cold_total - 500,
                    "cold_init_median_ms": 120.0,
                    "cold_first_inference_median_ms": warm,
                    "cold_total_samples_ms": ";".join(f"{s:.1f}" for s in samples),
                    "warm_n": 100,
                    "warm_client_p50_ms": warm + 3,
                    "warm_client_p90_ms": warm + 5,
                    "warm_client_p99_ms": warm * 2 + 3,
                    "warm_handler_p50_ms": warm,
                    "warm_handler_p99_ms": warm * 2,
                    "warm_inference_p50_ms": warm - 2,
                    "peak_memory_bytes": 200_000_000,
                    "rss_bytes": 80_000_000,
                    "container_agreement_pct": 100.0,
                    "model_sha256": f"{kind}-sha",
                    "accuracy_sha256": f"{kind}-sha",
                    "errors": 0,
                    "cold_fraction": 0.01,
                    "cost_per_1m_x86_64_usd": 0.2 + mem / 1024 * warm * 0.0166667,
                    "cost_per_1m_arm64_usd": 0.2 + mem / 1024 * warm * 0.0133334,
                    "git_sha": "abc",
                    "git_dirty": False,
                    "cpu_model": "test cpu",
                    "cpu_cores": 2,
                    "quick": False,
                    "timestamp": "2026-01-01T00:00:00+00:00",
                    "cold_n_requested": 6,
                    "warm_m_requested": 100,
                }
            )
    rows.append(
        {
            "run_id": "synthetic",
            "target": "inprocess",
            "status": "ok",
            "model": "reference",
            "runtime": "tflite",
            "library": "ai_edge_litert",
            "variant": "float32",
            "threads": 1,
            "inproc_load_ms": 100.0,
            "warm_inference_p50_ms": 15.0,
        }
    )
    rows.append(
        {
            "run_id": "synthetic",
            "target": "soak",
            "status": "ok",
            "image": "clothing-tflite:reference-float32",
            "memory_mb": 1769,
            "soak_n": 5000,
            "soak_bad_n": 500,
            "soak_typed_errors_ok": 500,
            "soak_unexpected_errors": 0,
            "soak_peak_growth_pct": 0.4,
            "soak_mem_growth_pct": 0.1,
        }
    )
    return rows


def write_accuracy(path: Path, f32_agreement: float = 100.0) -> None:
    cols = [
        "model",
        "runtime",
        "library",
        "variant",
        "top1_accuracy_pct",
        "agreement_pct",
        "max_abs_dprob",
        "gate_passed",
        "error",
        "sha256",
    ]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        w.writerow(["reference", "tf", "tensorflow", "float32", "80.1", "100.0", "0.0", "True", "", "tf-sha"])
        w.writerow(
            ["reference", "tflite", "ai_edge_litert", "float32", "80.1", f32_agreement, "1e-6", "True", ""]
            + ["tflite-sha"]
        )
        w.writerow(
            ["reference", "onnx", "onnxruntime", "float32", "80.1", "100.0", "1e-6", "True", "", "onnx-sha"]
        )


def run_report(
    tmp_path: Path, rows: list[dict[str, object]], f32_agreement: float = 100.0
) -> tuple[str, Path]:
    csv_path = schema.serialise([schema.Row.from_columns(r) for r in rows], tmp_path / "latest.csv")
    write_accuracy(tmp_path / "accuracy.csv", f32_agreement)
    out = tmp_path / "out"
    rc = report.main(
        [
            "--csv",
            str(csv_path),
            "--accuracy",
            str(tmp_path / "accuracy.csv"),
            "--out",
            str(out),
            "--budget-ms",
            "1000",
        ]
    )
    assert rc == 0
    return (out / "report.md").read_text(), out


def bar_line(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {start}"))


def test_report_tables_plots_and_winner(tmp_path: Path) -> None:
    text, out = run_report(tmp_path, synthetic_rows())
    for section in (
        "## Verdict",
        "## Performance bars",
        "## Image size",
        "## Cold start",
        "## Warm latency",
        "## Memory",
        "## Cost per 1M requests",
        "## Accuracy and agreement",
        "## In-process",
        "## Soak",
    ):
        assert section in text
    for name in ("sizes", "cold_start", "warm_latency", "cost_vs_memory", "agreement"):
        png = out / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000, name
        assert f"plots/{name}.png" in text
    w = json.loads((out / "winner.json").read_text())
    # 1024 MB is cheapest; onnx ($0.736) and tflite ($0.733) tie within a cent -> the smaller tflite image
    assert (w["image"], w["memory_mb"], w["threads"]) == ("clothing-tflite:reference-float32", 1024, 1)
    # no raw samples: the one-cent band ties onnx and tflite at 1024 MB, and the report says so
    assert "At 1 % cold requests: ship clothing-tflite:reference-float32 at 1024 MB" in text
    assert "it is not cheaper beyond the noise: 2 of 9 eligible cells tie" in text
    assert "The tie-break decided on image size" in text
    assert "Tie set at 1 % cold (2 cell(s)" in text and "| clothing-onnx:reference-float32 | 1024 |" in text
    assert "is the cheapest cell" not in text
    assert w["tie_break"]["decided_by"] == "image size" and len(w["tie_set"]) == 2
    assert "x86_64 timings at arm64 prices" in text


def test_bars_pass_and_fail_with_figures(tmp_path: Path) -> None:
    text, _ = run_report(tmp_path, synthetic_rows(tflite_cold_ms=1200.0))
    # 1.5 x (900 null + 100 load) = 1500 >= 1200 -> PASS at 1769 MB; 60/370 = 16 % -> PASS
    assert "| PASS |" in bar_line(text, "reference @ 1769 MB: TFLite cold start")
    assert "1500 ms" in bar_line(text, "reference @ 1769 MB: TFLite cold start")
    assert "16%" in bar_line(text, "reference: TFLite compressed") and "PASS" in bar_line(
        text, "reference: TFLite compressed"
    )
    # onnx p50 20.1 vs tflite 20 -> tflite is the fastest itself -> PASS
    assert "| PASS |" in bar_line(text, "reference @ 1769 MB: TFLite float32 warm p50")
    assert "| PASS |" in bar_line(text, "float32 agreement")

    text, _ = run_report(tmp_path / "slow", synthetic_rows(tflite_cold_ms=2000.0), f32_agreement=99.5)
    assert "| FAIL |" in bar_line(text, "reference @ 1769 MB: TFLite cold start")
    assert "| FAIL |" in bar_line(text, "float32 agreement")


def test_no_accuracy_means_no_winner(tmp_path: Path) -> None:
    rows = [schema.Row.from_columns(r) for r in synthetic_rows()]
    csv_path = schema.serialise(rows, tmp_path / "latest.csv")
    out = tmp_path / "out"
    assert (
        report.main(["--csv", str(csv_path), "--accuracy", str(tmp_path / "none.csv"), "--out", str(out)])
        == 0
    )
    text = (out / "report.md").read_text()
    assert "No cell qualified" in text and not (out / "winner.json").exists()


TFL = "clothing-tflite:reference-float32"


def test_report_reads_raw_samples_and_counts_repeat_wins(tmp_path: Path) -> None:
    """With results/samples/<run_id>.csv beside runs/ (1024 MB cells only): bootstrap intervals, and
    repeat wins in the report and in winner.json (tflite cheapest in repeats 0 and 1, onnx in repeat 2)."""
    lines = []
    for rep, (tfl, onnx) in enumerate([(30.0, 34.0), (30.0, 34.0), (36.0, 30.0)]):
        for image, ms in ((TFL, tfl), ("clothing-onnx:reference-float32", onnx)):
            warm = [(ms + (i % 5) * 0.1, ms + 3) for i in range(50)]
            cold = [(120.0, ms * 2, 1300.0)] * 6
            lines += samples.rows_for_cell("synthetic", rep, image, 1024, warm, cold)
    samples.write(tmp_path / "samples" / "synthetic.csv", lines)
    rows = [
        r
        for r in synthetic_rows()
        if r["target"] != "container" or (r["memory_mb"] == 1024 and r["image_kind"] in ("tflite", "onnx"))
    ]
    text, out = run_report(tmp_path, rows)
    w = json.loads((out / "winner.json").read_text())
    assert w["repeats"]["k"] == 3
    assert w["repeats"]["wins"] == {
        "clothing-onnx:reference-float32@1024": 1,
        "clothing-tflite:reference-float32@1024": 2,
    }
    assert w["cost_interval_usd"]["low"] < w["cost_interval_usd"]["point"] < w["cost_interval_usd"]["high"]
    assert "Repeat wins (cheapest eligible cell of each of 3 repeats)" in text
    assert "| clothing-tflite:reference-float32 | 1024 | 2 |" in text
    assert (
        "(95% interval $" in text
        and "95% bootstrap interval of each cell's cost minus the cheapest's" in text
    )
    assert "## Verdict per model and traffic" in text and (out / "plots" / "traffic_reference.png").is_file()


def test_missing_csv_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main(["--csv", str(tmp_path / "nope.csv"), "--out", str(tmp_path)]) == 2
    assert "bench-run" in capsys.readouterr().err


def test_warm_bar_compares_runtimes_at_float32(tmp_path: Path) -> None:
    """A quantised variant is faster by design, not because its runtime is: the bar compares float32 cells,
    and the fastest cell of any precision is named in the line."""
    rows = synthetic_rows()
    for r in [r for r in rows if r.get("image_kind") == "tflite" and r["target"] == "container"]:
        q = dict(r, image="clothing-tflite:reference-int8", variant="int8")
        q["warm_handler_p50_ms"] = float(r["warm_handler_p50_ms"]) / 3  # type: ignore[arg-type]
        q["warm_inference_p50_ms"] = float(r["warm_handler_p50_ms"]) / 3 - 1  # type: ignore[arg-type]
        rows.append(q)
    text, _ = run_report(tmp_path, rows)
    line = bar_line(text, "reference @ 1769 MB: TFLite float32 warm p50")
    assert "| PASS |" in line and "fastest of any precision: tflite:int8" in line, line


ROOT = Path(__file__).resolve().parents[2]
#: the committed reference run (results/latest.csv holds one run)
RUN = str(schema.parse(ROOT / "results" / "latest.csv")[0].run_id)


def quick_run_from_committed(dest: Path) -> Path:
    """A BENCH_QUICK=1-sized run cut from the committed reference run: 1769 MB, repeat 0 only, 2 cold starts
    and 10 warm requests per cell, the cold-cache and provenance columns empty (as a quick run may leave
    them). Returns the CSV path, with runs/ and samples/ beside it as `make bench` writes them."""
    df = schema.read(ROOT / "results" / "latest.csv")
    df = df[(df["target"] != "container") | ((df["memory_mb"] == 1769) & (df["repeat"] == 0))].copy()
    df["quick"], df["cold_n_requested"], df["warm_m_requested"] = True, 2, 10
    for col in ("cold_cache_n", "cold_cache_total_median_ms", "rie_version", "load_avg_before", "bench_seed"):
        df[col] = pd.NA
    with open(ROOT / "results" / "samples" / f"{RUN}.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["memory_mb"] == "1769" and r["repeat"] == "0"]
    keep: list[dict[str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for r in rows:
        k = (r["image"], r["kind"])
        seen[k] = seen.get(k, 0) + 1
        if seen[k] <= (2 if r["kind"] == "cold" else 10):
            keep.append(r)
    samples.write(dest / "samples" / f"{RUN}.csv", keep)
    schema.write(df, dest / "runs" / f"{RUN}.csv")
    return schema.write(df, dest / "latest.csv")


def test_a_quick_run_reports_without_claiming_certainty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make test`'s last step on a quick run's CSV: it reports, and two cold starts make nothing certain:
    no interval, no tie claimed (a tie must be shown, bench/decide/winner.py), the lower expected cost decides
    and the verdict points to P(cheapest) instead of claiming the cheapest outright."""
    monkeypatch.setenv("BENCH_QUICK", "1")
    path = quick_run_from_committed(tmp_path)
    out = tmp_path / "out"
    acc = ROOT / "results" / "accuracy.csv"
    assert report.main(["--csv", str(path), "--accuracy", str(acc), "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    w = json.loads((out / "winner.json").read_text())
    assert "too few samples" in w["cost_interval_usd"]["basis"] and w["cost_interval_usd"]["low"] is None
    assert w["tie_break"]["decided_by"] == "cost" and len(w["tie_set"]) == 1
    assert "P(cheapest)" in w["tie_break"]["why"]
    assert "outright" not in text and "## Verdict per model and traffic" in text
    assert (out / "plots" / "traffic_reference.png").is_file()


def test_a_forced_threads_cell_is_labelled_as_such_from_a_csv() -> None:
    """Read back from CSV, booleans are numpy's: `is True` missed them and forced cells read as policy."""
    import numpy as np

    from bench.report.tables import label

    r = pd.Series({"image_kind": "tflite", "variant": "float32", "model": "reference", "threads": 2})
    assert label(pd.concat([r, pd.Series({"threads_forced": np.True_})]), 1) == "tflite:float32 t=2 forced"
    assert label(pd.concat([r, pd.Series({"threads_forced": pd.NA})]), 1) == "tflite:float32"
