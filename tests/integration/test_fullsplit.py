"""bench/measure/fullsplit.py: an image under the Lambda emulator, answering test-split images, judged
against the
Keras reference with models/eval.py's gates; and answers that differ from the reference fail the gate."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bench.measure import fullsplit, schema
from bench.measure.cells import Cell
from bench.measure.settings import Settings
from core import catalogue, paths
from models import eval as ev

IMAGE, VARIANT, MEMORY_MB, N = "tflite", "float32", 1024, 12


def _docker_ok() -> bool:
    return (
        shutil.which("docker") is not None
        and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    )


@pytest.fixture(scope="module")
def ref() -> fullsplit.Reference:
    from models import dataset, registry

    try:
        registry.resolve("reference")
        dataset.split("test")
    except (registry.ModelError, dataset.DatasetError) as e:
        pytest.skip(f"needs the model and the dataset: {e}")
    return fullsplit.reference("reference", log=lambda s: None)


@pytest.fixture(scope="module")
def measured(ref: fullsplit.Reference) -> tuple[dict, np.ndarray, np.ndarray]:
    """One real run of the tflite float32 image on N test images: (row, the raw answers, indices)."""
    if not _docker_ok():
        pytest.skip("docker is not available")
    from images import build as imgbuild

    tag = imgbuild.build_one(IMAGE, "reference", VARIANT).tag  # this tree's handler (docker cache: seconds)
    idx = fullsplit.subset(len(ref.y), N)
    cfg = Settings.from_env()
    with fullsplit.container.emulator(tag, MEMORY_MB, cfg.cpus_for(MEMORY_MB)[0], "fullsplit-test", 60) as em:
        em.start()
        em.wait_ready(60)
        logits, shas, errors = fullsplit.answers(em, [ref.paths[i] for i in idx], ref.classes)
    assert errors == [] and np.isfinite(logits).all()
    (row,) = fullsplit.run(
        [fullsplit.Candidate(Cell.of_tag(tag, MEMORY_MB), "test")], limit=N, run_id="t", cfg=cfg
    )
    return row, logits, idx


@pytest.mark.docker
def test_the_container_agrees_with_the_keras_reference(
    ref: fullsplit.Reference, measured: tuple[dict, np.ndarray, np.ndarray]
) -> None:
    row, logits, idx = measured
    manifest = json.loads((paths.model_dir("reference") / "manifest.json").read_text())
    want_sha = next(e["sha256"] for e in manifest["artefacts"] if e["path"] == f"{VARIANT}.tflite")
    assert row["model_sha256"] == want_sha and row["reference_sha256"] == ref.sha256
    assert (row["n"], row["errors"], row["variant"], row["memory_mb"]) == (N, 0, VARIANT, MEMORY_MB)
    # the figures, recomputed here from the answers of a second container run of the same bytes
    dl = float(np.max(np.abs(logits - ref.logits[idx])))
    assert (
        row["top1_agreement_pct"] == 100.0 == 100.0 * np.mean(logits.argmax(1) == ref.logits[idx].argmax(1))
    )
    assert row["max_abs_dlogit"] == pytest.approx(dl, rel=0.01, abs=1e-9) and dl < 1e-4
    assert row["max_abs_dprob"] <= 1e-4
    top1 = 100.0 * float(np.mean(logits.argmax(1) == ref.y[idx]))
    assert row["top1_accuracy_pct"] == pytest.approx(top1, abs=1e-3)
    assert row["gate"] == ev.GATES[VARIANT][0] and row["gate_passed"] is True


@pytest.mark.docker
def test_answers_that_differ_fail_the_gate(
    ref: fullsplit.Reference, measured: tuple[dict, np.ndarray, np.ndarray]
) -> None:
    _, logits, idx = measured
    y, r = ref.y[idx], ref.logits[idx]
    assert fullsplit.judge(logits, y, r, VARIANT, ref.probs)["gate_passed"] is True

    one = logits.copy()  # the measured answers with one image's top class moved to another class
    top = one[0].argmax()
    one[0, (top + 1) % one.shape[1]] = one[0, top] + 1.0
    got = fullsplit.judge(one, y, r, VARIANT, ref.probs)
    assert got["top1_agreement_pct"] == pytest.approx(100.0 * (N - 1) / N, abs=1e-3)
    assert got["max_abs_dlogit"] >= 1.0 and got["gate_passed"] is False
    # int8's gate tolerates 2 % disagreement, not one image in N = 12 (8.3 %)
    assert fullsplit.judge(one, y, r, "int8", ref.probs)["gate_passed"] is False

    missing = logits.copy()  # one request that got no answer: the rest agree, the cell still fails
    missing[3] = np.nan
    got = fullsplit.judge(missing, y, r, VARIANT, ref.probs)
    assert (got["n"], got["errors"], got["top1_agreement_pct"], got["gate_passed"]) == (
        N - 1,
        1,
        100.0,
        False,
    )


def test_candidates_are_the_tie_set_and_the_best_of_each_other_kind() -> None:
    def row(image: str, mem: int, cost: float, errors: int = 0, status: str = "ok") -> schema.Row:
        t = catalogue.parse_tag(image)
        assert t is not None
        return schema.Row.from_columns(
            {
                "target": "container",
                "status": status,
                "image": image,
                "image_kind": t.kind,
                "model": t.model,
                "memory_mb": mem,
                "cost_per_1m_x86_64_usd": cost,
                "errors": errors,
                "model_sha256": f"sha-{t.variant}",
            }
        )

    rows = [
        row("clothing-tflite:reference-full-int8", 1024, 0.388),
        row("clothing-onnx:reference-float32-opt", 1024, 0.3875),
        row("clothing-onnx:reference-int8-qdq", 1024, 0.30, errors=2),  # errors: not a rival
        row("clothing-onnx:reference-float32", 1769, 0.41),
        row("clothing-tf:reference-float32", 1769, 0.60),
        row("clothing-tf:reference-float32", 1024, 0.55),
        row("clothing-tflite-runtime:reference-int8", 1024, 0.39, status="failed"),
        row("clothing-tf:xception-float32", 1024, 0.50),  # another model
        row("clothing-null:reference-none", 1024, 0.10),
    ]
    winner = {
        "image": "clothing-tflite:reference-full-int8",
        "model": "reference",
        "memory_mb": 1024,
        "tie_set": [
            {"image": "clothing-tflite:reference-full-int8", "memory_mb": 1024},
            {"image": "clothing-onnx:reference-float32-opt", "memory_mb": 1024},
            {"image": "clothing-onnx:reference-float32-opt", "memory_mb": 1769},
        ],
    }
    got = [(c.image, c.memory_mb, c.role, c.bench_model_sha256) for c in fullsplit.candidates(winner, rows)]
    assert got == [
        ("clothing-tflite:reference-full-int8", 1024, "winner", "sha-full-int8"),
        ("clothing-onnx:reference-float32-opt", 1024, "tie", "sha-float32-opt"),
        ("clothing-tf:reference-float32", 1024, "best tf", "sha-float32"),
    ]
    no_tie_set = {k: v for k, v in winner.items() if k != "tie_set"}  # winner.json before the tie sets
    assert [c.role for c in fullsplit.candidates(no_tie_set, rows)] == ["winner", "best onnx", "best tf"]


def test_the_report_section(tmp_path: Path) -> None:
    rows = [
        {
            "image": "clothing-tflite:reference-full-int8",
            "role": "winner",
            "memory_mb": 1024,
            "n": 372,
            "top1_agreement_pct": 98.925,
            "max_abs_dlogit": 2.68,
            "max_abs_dprob": 0.1,
            "top1_accuracy_pct": 77.151,
            "gate_passed": True,
            "model_sha256": "a",
            "bench_model_sha256": "b",
            "run_id": "r1",
        },
    ]
    path = fullsplit.write(rows, tmp_path / "fullsplit.csv")
    text = "\n".join(fullsplit.section(path, run_id="r2"))
    assert (
        "| clothing-tflite:reference-full-int8 | winner | 1024 | 372 | 98.92 | 2.68 | 0.1 | 77.15 | yes |"
        in text
    )
    assert "not this report's run r2" in text
    assert "(rebuilt since the run): clothing-tflite:reference-full-int8" in text
    assert fullsplit.section(tmp_path / "absent.csv") == []
