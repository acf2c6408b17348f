"""Evaluation: CSV schema, gates, failures marked (never hidden), per-model upsert."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from core.contracts import ACCURACY_COLUMNS
from models import calibration
from models import eval as ev

if TYPE_CHECKING:
    from tests.support.converted import Converted

LIMIT = 40


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        return list(r.fieldnames or []), list(r)


def test_gates_on_synthetic_metrics() -> None:
    ok32 = {"agreement_pct": 100.0, "max_abs_dprob": 5e-5, "accuracy_drop_pts": 0.0}
    assert ev.GATES["float32"][1](ok32) and ev.GATES["float32-opt"][1](ok32)
    assert not ev.GATES["float32"][1](dict(ok32, max_abs_dprob=2e-4))
    assert not ev.GATES["float32"][1](dict(ok32, agreement_pct=99.73))
    assert ev.GATES["float16"][1]({"agreement_pct": 99.73}) and not ev.GATES["float16"][1](
        {"agreement_pct": 99.4}
    )
    i8 = {"agreement_pct": 98.4, "accuracy_drop_pts": 0.8}
    assert ev.GATES["int8"][1](i8) and ev.GATES["full-int8"][1](i8)
    # ONNX Runtime's int8 artefacts carry TFLite int8's gate: same text, same verdicts
    for v in ("int8-dynamic", "int8-qdq"):
        assert ev.GATES[v][0] == ev.GATES["full-int8"][0]
        assert ev.GATES[v][1](i8) and not ev.GATES[v][1](dict(i8, agreement_pct=97.9))
    assert not ev.GATES["int8"][1](dict(i8, accuracy_drop_pts=1.3))
    assert not ev.GATES["full-int8"][1](dict(i8, agreement_pct=97.9))


def test_metrics_and_non_finite() -> None:
    ref = np.array([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], np.float32)
    y = np.array([0, 1, 1, 0])
    got = ref.copy()
    got[2] = [0.0, 2.0, 0.0]  # flips one top-1 (to the right answer)
    m = ev.metrics(got, y, ref, 75.0, probs=False)
    assert m["agreement_pct"] == 75.0 and m["top1_accuracy_pct"] == 100.0 and m["accuracy_drop_pts"] == -25.0
    assert m["max_abs_dprob"] == pytest.approx(
        float(np.max(np.abs(ev.softmax(got) - ev.softmax(ref)))), rel=1e-2
    )
    got[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        ev.metrics(got, y, ref, 75.0, probs=False)


def test_eval_csv_schema_and_gates(converted: Converted, tmp_path: Path) -> None:
    out = tmp_path / "accuracy.csv"
    rows = ev.evaluate(converted.name, converted.dir, out, limit=LIMIT, log=lambda s: None, images=False)
    cols, disk = _read(out)
    assert tuple(cols) == ACCURACY_COLUMNS
    manifest = json.loads((converted.dir / "manifest.json").read_text())
    assert {r["artefact"] for r in disk} == {e["path"] for e in manifest["artefacts"]}
    assert len(disk) == len(rows) == len(manifest["artefacts"])  # only ai_edge_litert serves tflite here
    for r in disk:
        assert r["model"] == converted.name and r["n_images"] == str(LIMIT) and r["error"] == ""
        assert 0 <= float(r["top1_accuracy_pct"]) <= 100 and 0 <= float(r["agreement_pct"]) <= 100
        assert r["gate_passed"] in ("True", "False") and r["gate"]
        assert r["python"] and r["timestamp"] and len(r["git_sha"]) == 40 and int(r["bytes"]) > 0
        assert r["evaluated_in"] == "host" and len(r["sha256"]) == 64
    by = {r["artefact"]: r for r in disk}
    ref = by["savedmodel"]
    assert (ref["runtime"], ref["agreement_pct"], ref["max_abs_dprob"]) == ("tf", "100.0", "0.0")
    assert ref["gate_passed"] == "True"
    for a in ("float32.tflite", "float32.onnx", "float32-opt.onnx"):
        assert by[a]["gate_passed"] == "True", by[a]
        assert float(by[a]["max_abs_dprob"]) <= 1e-4
    assert by["float32.tflite"]["library"] == "ai_edge_litert"
    # every row's verdict is the gate applied to its own numbers (a calibrated variant's lowered by its
    # measured calibration spread), nothing hard-coded
    entries = {e["path"]: e for e in manifest["artefacts"]}
    for row in rows:
        if row["artefact"] != "savedmodel":
            gate = calibration.gated(entries[row["artefact"]], *ev.GATES[row["variant"]])[1]
            assert row["gate_passed"] == gate(row)


def test_broken_artefacts_are_marked_failed_and_upsert_keeps_other_models(
    converted: Converted, tmp_path: Path
) -> None:
    d = tmp_path / "models"
    shutil.copytree(converted.dir, d, ignore=shutil.ignore_patterns("model.keras"))
    shutil.copyfile(d / "int8.tflite", d / "float32.tflite")  # wrong weights: float32 gate must fail
    (d / "float16.tflite").write_bytes(b"\x00" * 64)  # does not load at all
    out = tmp_path / "accuracy.csv"
    other = {c: "" for c in ACCURACY_COLUMNS}
    other |= {"model": "other", "runtime": "onnx", "artefact": "float32.onnx"}
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=ACCURACY_COLUMNS)
        w.writeheader()
        w.writerow(other)
    name = "copy"
    rows = ev.evaluate(name, d, out, limit=LIMIT, log=lambda s: None, images=False)
    ev.evaluate(
        name, d, out, limit=LIMIT, log=lambda s: None, images=False
    )  # second run replaces, never duplicates
    _, disk = _read(out)
    assert [r["model"] for r in disk].count("other") == 1
    mine = [r for r in disk if r["model"] == name]
    assert len(mine) == len(rows)
    by: dict[str, Any] = {r["artefact"]: r for r in mine}
    f32 = by["float32.tflite"]
    assert f32["gate_passed"] == "False" and f32["error"] == "" and float(f32["max_abs_dprob"]) > 1e-4
    f16 = by["float16.tflite"]
    assert f16["gate_passed"] == "False" and f16["error"] and f16["n_images"] == "0"
    assert by["float32.onnx"]["gate_passed"] == "True"
    assert (
        ev.main(
            [
                "--model",
                name,
                "--models-dir",
                str(d),
                "--out",
                str(out),
                "--limit",
                "8",
                "--strict",
                "--no-images",
            ]
        )
        == 1
    )


def test_int8_onnx_artefacts_pass_their_gate(converted: Converted, tmp_path: Path) -> None:
    """ORT dynamic and static QDQ int8 exist in the manifest and are measured like TFLite's int8."""
    rows = ev.evaluate(
        converted.name, converted.dir, tmp_path / "a.csv", limit=LIMIT, log=lambda s: None, images=False
    )
    by = {r["artefact"]: r for r in rows}
    entries = {e["path"]: e for e in converted.manifest["artefacts"]}
    for a, v in (("int8-dynamic.onnx", "int8-dynamic"), ("int8-qdq.onnx", "int8-qdq")):
        r = by[a]
        assert (r["runtime"], r["variant"], r["error"]) == ("onnx", v, ""), r
        assert r["gate_passed"] == calibration.gated(entries[a], *ev.GATES[v])[1](r)
        assert 0 < r["max_abs_dprob"] < 1 and r["bytes"] < by["float32.onnx"]["bytes"] / 2


@pytest.mark.docker
def test_tflite_runtime_is_evaluated_inside_its_image(converted: Converted, tmp_path: Path) -> None:
    """tflite-runtime 2.14 rows come from its python 3.11 image, with the sha256 of the bytes in the image."""
    from models import image_eval

    tags = [t.tag for t in image_eval.targets(converted.name)]
    if shutil.which("docker") is None or not all(image_eval.image_exists(t) for t in tags):
        pytest.skip(f"needs the built images {tags} (make build-all)")
    rows = ev.image_rows(
        converted.name,
        ev.reference(converted.dir, converted.manifest, converted.card, 16, 1, print),
        {"model": converted.name, "threads": 1, "error": ""},
    )
    assert [r["evaluated_in"] for r in rows] == tags
    for r in rows:
        assert (
            r["error"] == "" and r["library"] == "tflite_runtime" and r["library_version"].startswith("2.14")
        )
        assert r["python"].startswith("3.11") and r["n_images"] == 16 and len(r["sha256"]) == 64
        assert r["gate_passed"] == ev.GATES[r["variant"]][1](r)


def test_a_class_subset_model_is_scored_on_its_own_classes_images() -> None:
    """A 5-class model (card order differs from the dataset's) keeps the test images of its 5 classes,
    labelled by its own output order; the other classes' images would be wrong by construction."""
    from models import dataset

    y = np.array([dataset.CLASSES.index(c) for c in ("dress", "hat", "shoes", "pants", "t-shirt", "hat")])
    keep, labels = ev.own_classes(y, ["hat", "pants", "shoes", "t-shirt", "skirt"])
    assert keep.tolist() == [False, True, True, True, True, True]
    assert labels.tolist() == [0, 2, 1, 3, 0]
    every, same = ev.own_classes(y, list(dataset.CLASSES))
    assert every.all() and (same == y).all()
    with pytest.raises(ev.CardError, match="not classes of the dataset"):
        ev.own_classes(y, ["hat", "sandals"])
