"""Conversion, manifest, caching, cards and bring-your-own-model errors."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.paths import ROOT as REPO
from models import card as cardlib
from models import convert, dataset, registry

LAYOUT = (
    "savedmodel",
    "float32.tflite",
    "float16.tflite",
    "int8.tflite",
    "full-int8.tflite",
    "float32.onnx",
    "float32-opt.onnx",
    "int8-dynamic.onnx",
    "int8-qdq.onnx",
)


@pytest.fixture(scope="session")
def spec() -> registry.ModelSpec:
    model = os.environ.get("CLOTHING_TEST_MODEL", "reference")
    try:
        return registry.resolve(model)
    except registry.ModelError as e:
        pytest.skip(f"needs the committed model: {e}")


@pytest.fixture(scope="session")
def fresh_conversion(spec: registry.ModelSpec) -> tuple[Path, dict[str, Any]]:
    try:
        dataset.split("train")
    except dataset.DatasetError as e:
        pytest.skip(f"needs the dataset (full-int8 calibration): {e}")
    out = REPO / "build" / "models" / spec.name
    return out, convert.convert(str(spec.model_path) if not spec.builtin else spec.name, out, build=False)


def test_layout_and_manifest(spec: registry.ModelSpec, fresh_conversion: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = fresh_conversion
    assert [e["path"] for e in manifest["artefacts"]] == list(LAYOUT)
    src_sha = cardlib.digest(spec.model_path)
    assert manifest["source_sha256"] == src_sha
    for e in manifest["artefacts"]:
        p = out / e["path"]
        assert p.exists(), e["path"]
        assert e["sha256"] == convert.sha256_path(p)
        assert e["bytes"] == convert.size_bytes(p) > 0
        assert e["source_sha256"] == src_sha
        assert e["tool_versions"]["tensorflow"] not in ("", "missing")
        assert e["wall_s"] >= 0 and e["runtime"] in ("tf", "tflite", "onnx")
    by = {e["path"]: e for e in manifest["artefacts"]}
    assert by["float32-opt.onnx"]["tool_versions"]["onnxruntime"] not in ("", "missing")
    assert by["float32.onnx"]["tool_versions"]["tf2onnx"] not in ("", "missing")
    assert by["full-int8.tflite"]["params"]["calibration"]["images"] == 200
    assert (out / "savedmodel" / "saved_model.pb").is_file()
    assert cardlib.digest(out / "model.keras") == src_sha
    assert json.loads((out / "manifest.json").read_text()) == manifest
    card = json.loads((out / "card.json").read_text())
    assert card["classes"] == json.loads(spec.card_path.read_text())["classes"]
    assert card["source_sha256"] == src_sha and card["name"] == spec.name


def test_quantised_artefacts_are_smaller(fresh_conversion: tuple[Path, dict[str, Any]]) -> None:
    by = {e["path"]: e["bytes"] for e in fresh_conversion[1]["artefacts"]}
    assert by["float16.tflite"] < 0.7 * by["float32.tflite"]
    assert by["int8.tflite"] < 0.5 * by["float32.tflite"]
    assert by["full-int8.tflite"] < 0.5 * by["float32.tflite"]
    assert by["int8-dynamic.onnx"] < 0.5 * by["float32.onnx"]
    assert by["int8-qdq.onnx"] < 0.5 * by["float32.onnx"]


def test_ort_int8_artefacts(fresh_conversion: tuple[Path, dict[str, Any]]) -> None:
    """Dynamic int8 has integer kernels; static QDQ int8 is calibrated like full-int8.tflite."""
    import onnx

    by = {e["path"]: e for e in fresh_conversion[1]["artefacts"]}
    assert by["int8-qdq.onnx"]["params"]["calibration"] == by["full-int8.tflite"]["params"]["calibration"]
    dyn = {n.op_type for n in onnx.load(str(fresh_conversion[0] / "int8-dynamic.onnx")).graph.node}
    qdq = {n.op_type for n in onnx.load(str(fresh_conversion[0] / "int8-qdq.onnx")).graph.node}
    assert "DynamicQuantizeLinear" in dyn or "ConvInteger" in dyn or "MatMulInteger" in dyn, dyn
    assert {"QuantizeLinear", "DequantizeLinear"} <= qdq, qdq


def test_ort_offline_copy_is_portable(fresh_conversion: tuple[Path, dict[str, Any]]) -> None:
    """EXTENDED level: fused contrib ops allowed, but no NCHWc layout ops tied to the converting CPU."""
    import onnx

    m = onnx.load(str(fresh_conversion[0] / "float32-opt.onnx"))
    ops = {n.op_type for n in m.graph.node}
    assert not any("Nchwc" in op or "ReorderInput" in op or "ReorderOutput" in op for op in ops), ops


def test_rerun_unchanged_is_fast_and_redoes_nothing(
    spec: registry.ModelSpec, fresh_conversion: tuple[Path, dict[str, Any]]
) -> None:
    out, first = fresh_conversion
    lines: list[str] = []
    t0 = time.time()
    again = convert.convert(
        spec.name if spec.builtin else str(spec.model_path), out, build=False, log=lines.append
    )
    assert time.time() - t0 < 20
    assert again["artefacts"] == first["artefacts"]  # same created_at, wall_s, sha: nothing redone
    assert sum(s.endswith("up to date, skipped") or "), skipped" in s for s in lines) == len(LAYOUT), lines
    assert not any("converting" in s for s in lines)


def _byo(tmp_path: Path, spec: registry.ModelSpec, name: str = "mine") -> tuple[Path, dict[str, Any]]:
    model = tmp_path / f"{name}.keras"
    shutil.copyfile(spec.model_path, model)
    card = json.loads(spec.card_path.read_text())
    card["name"] = name
    (tmp_path / f"{name}.card.json").write_text(json.dumps(card))
    return model, card


@pytest.mark.slow
def test_changed_or_tampered_inputs_are_redone(spec: registry.ModelSpec, tmp_path: Path) -> None:
    import keras

    model, card = _byo(tmp_path, spec)
    out = tmp_path / "out"
    only = ["float32.tflite"]
    m1 = convert.convert(str(model), out, only=only, log=lambda s: None)
    assert [e["path"] for e in m1["artefacts"]] == ["savedmodel", "float32.tflite"]
    lines: list[str] = []
    m2 = convert.convert(str(model), out, only=only, log=lines.append)
    assert m2["artefacts"] == m1["artefacts"] and sum("), skipped" in s for s in lines) == 2

    # a tampered artefact (sha no longer matches the manifest) is rebuilt, the rest kept
    (out / "float32.tflite").write_bytes(b"tampered")
    lines.clear()
    m3 = convert.convert(str(model), out, only=only, log=lines.append)
    assert any("float32.tflite: converting" in s for s in lines)
    assert any("savedmodel: up to date" in s for s in lines)
    assert m3["artefacts"][1]["sha256"] == convert.sha256_path(out / "float32.tflite") != "tampered"

    # a changed source (new weights) redoes everything and records the new source sha
    k = keras.models.load_model(model, compile=False)
    dense = k.get_layer("logits")
    w, b = dense.get_weights()
    dense.set_weights([w, b + np.float32(0.5)])
    k.save(model)
    card.pop("source_sha256", None)
    (tmp_path / "mine.card.json").write_text(json.dumps(card))
    lines.clear()
    m4 = convert.convert(str(model), out, only=only, log=lines.append)
    new_sha = cardlib.digest(model)
    assert sum("converting" in s for s in lines) == 2, lines
    assert m4["source_sha256"] == new_sha != m1["source_sha256"]
    assert all(e["source_sha256"] == new_sha for e in m4["artefacts"])
    assert m4["artefacts"][1]["sha256"] != m1["artefacts"][1]["sha256"]


def _main_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    rc = convert.main(list(args))
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_byo_errors_are_one_line(
    spec: registry.ModelSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "out")
    assert "not found" in _main_error(capsys, "--model", str(tmp_path / "nope.keras"), "--out", out)
    assert ".keras/.h5" in _main_error(capsys, "--model", str(tmp_path / "model.onnx"), "--out", out)

    model, card = _byo(tmp_path, spec)
    (tmp_path / "mine.card.json").unlink()
    assert f"no model card for {model}: run `make card MODEL={model}`" in _main_error(
        capsys, "--model", str(model), "--out", out
    )

    bad = dict(card, classes=card["classes"][:9])
    (tmp_path / "mine.card.json").write_text(json.dumps(bad))
    assert "9 classes but the model outputs 10" in _main_error(capsys, "--model", str(model), "--out", out)

    bad = dict(card, input_px=card["input_px"] + 32)
    (tmp_path / "mine.card.json").write_text(json.dumps(bad))
    assert "input_px" in _main_error(capsys, "--model", str(model), "--out", out)

    bad = dict(card, source_sha256="0" * 64)
    (tmp_path / "mine.card.json").write_text(json.dumps(bad))
    assert f"make card MODEL={model}" in _main_error(capsys, "--model", str(model), "--out", out)

    (tmp_path / "mine.card.json").write_text("{not json")
    assert "cannot read model card" in _main_error(capsys, "--model", str(model), "--out", out)

    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"this is not a keras zip")
    junk_card = {k: v for k, v in card.items() if k != "source_sha256"}  # the card is fine, the file is not
    (tmp_path / "junk.card.json").write_text(json.dumps(dict(junk_card, name="junk")))
    assert "cannot load model" in _main_error(capsys, "--model", str(junk), "--out", out)
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_registry_names(tmp_path: Path) -> None:
    assert registry.safe_name("xception_v4_large_08_0.894") == "xception_v4_large_08_0.894"
    assert registry.safe_name("My Model!") == "my-model"
    m = tmp_path / "x.h5"
    m.write_bytes(b"")
    minimal = {"classes": ["a", "b"], "input_px": 32, "preprocessing": "xception-tf-nearest"}
    (tmp_path / "card.json").write_text(json.dumps(minimal | {"name": "reference"}))
    with pytest.raises(registry.ModelError, match="reserved"):
        registry.resolve(str(m))
    # the handler's parser (core/card.py) is the only one: no preprocessing id, no card
    (tmp_path / "card.json").write_text(json.dumps({"classes": ["a", "b"], "input_px": 32}))
    with pytest.raises(cardlib.CardError, match="preprocessing None is not implemented"):
        registry.resolve(str(m))
    (tmp_path / "card.json").write_text(json.dumps(minimal))
    got = registry.resolve(str(m))
    assert (got.name, got.card_path, got.builtin) == ("x", tmp_path / "card.json", False)
    with pytest.raises(registry.ModelError, match="make models MODEL=xception"):
        registry.resolve("xception", root=tmp_path)
    with pytest.raises(registry.ModelError, match="make train"):
        registry.resolve("reference", root=tmp_path)


def test_card_writer(tmp_path: Path) -> None:
    model = tmp_path / "model.keras"
    model.write_bytes(b"weights")
    meta = {
        "arch": "reference",
        "parameters": 624000,
        "train_input_px": 128,
        "input_px": 128,
        "epochs": 18,
        "best_epoch": 17,
        "batch": 32,
        "lr": 0.002,
        "seed": 42,
        "train_limit": None,
        "train_wall_s": 3150.2,
        "train_top1": 0.91,
        "validation_top1": 0.85,
        "test_top1": 0.8412,
        "versions": {"tensorflow": "2.21.0", "keras": "3.15.1"},
        "cpu": "x86_64",
    }
    tj = tmp_path / "model.train.json"
    tj.write_text(json.dumps(meta))
    card = cardlib.write_card(tj, model, tmp_path / "out", "reference")
    on_disk = cardlib.load_card(tmp_path / "out" / "card.json")
    assert on_disk.raw == card and on_disk.size == (128, 128)
    assert card["classes"] == list(dataset.CLASSES) and card["input_px"] == 128
    assert card["output"] == "logits" and card["preprocessing"] == cardlib.PREPROCESSING_ID
    assert card["source_sha256"] == cardlib.digest(model)
    assert card["accuracy"]["test_top1"] == 0.8412 and card["training"]["train_wall_s"] == 3150.2
    md = (tmp_path / "out" / "model_card.md").read_text()
    assert "84.1 %" in md and "nearest" in md and card["source_sha256"] in md and "2.21.0" in md
    with pytest.raises(cardlib.CardError, match="not found"):
        cardlib.write_card(tmp_path / "missing.json", model, tmp_path, "x")


@pytest.mark.slow
def test_legacy_h5_with_card_beside_it(spec: registry.ModelSpec, tmp_path: Path) -> None:
    """The seed shipped an .h5; it loads with compile=False and converts like any .keras."""
    import keras

    from runtimes import base

    k = keras.models.load_model(spec.model_path, compile=False)
    h5 = tmp_path / "legacy.h5"
    k.save(h5)
    card = json.loads(spec.card_path.read_text())
    card.pop("source_sha256", None)
    card["name"] = "Legacy Seed"
    (tmp_path / "card.json").write_text(json.dumps(card))
    out = tmp_path / "out"
    m = convert.convert(str(h5), out, only=["float32.tflite"], log=lambda s: None)
    assert m["model"] == "legacy-seed" and m["source_sha256"] == cardlib.digest(h5)
    px = card["input_px"]
    x = np.random.default_rng(0).uniform(-1, 1, (2, px, px, 3)).astype(np.float32)
    a = base.get("tflite")
    a.load(str(out / "float32.tflite"), 1)
    np.testing.assert_allclose(a.predict(x), k(x, training=False).numpy(), atol=1e-4)
    assert keras.models.load_model(out / "model.keras", compile=False).count_params() == k.count_params()
