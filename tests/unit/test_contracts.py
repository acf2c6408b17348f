"""core/contracts.py and core/fileio.py: each exchanged file has one reader and one atomic writer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import fileio
from core.contracts import (
    ACCURACY_COLUMNS,
    ContractError,
    PackageSummary,
    Winner,
    load_accuracy,
    save_accuracy,
)
from core.manifest import Manifest

ENTRY = {"path": "float32.tflite", "runtime": "tflite", "variant": "float32", "sha256": "ab" * 32, "bytes": 7}


def test_manifest_round_trip_and_entry_lookup(tmp_path: Path) -> None:
    Manifest.save(tmp_path, {"model": "m", "source_sha256": "s", "artefacts": [ENTRY]})
    m = Manifest.load(tmp_path)
    assert (m.model, m.source_sha256) == ("m", "s")
    e = m.entry("float32.tflite")
    assert e is not None and (e.runtime, e.variant, e.sha256, e.bytes) == ("tflite", "float32", "ab" * 32, 7)
    assert e.raw == ENTRY and m.entry("savedmodel") is None
    assert (tmp_path / "manifest.json").read_text().endswith("}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temporary left behind


def test_manifest_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Manifest.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ContractError, match="manifest.json"):
        Manifest.load(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"artefacts": [{"path": "x"}]}))
    with pytest.raises(ContractError, match="malformed"):
        Manifest.load(tmp_path)


def test_winner_defaults_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "winner.json"
    Winner.save(
        path, {"image": "clothing-tflite:reference-float32", "image_kind": "tflite", "memory_mb": 1024}
    )
    w = Winner.load(path)
    assert (w.image_kind, w.memory_mb, w.architecture, w.threads) == ("tflite", 1024, "x86_64", 1)
    path.write_text(json.dumps({"memory_mb": 1}))
    with pytest.raises(ContractError, match="winner.json"):
        Winner.load(path)
    path.write_text("[]")
    with pytest.raises(ContractError, match="JSON object"):
        Winner.load(path)


def test_package_summary_requires_what_deploy_reads(tmp_path: Path) -> None:
    PackageSummary.save(tmp_path, {"runtime": "python3.13", "model": "reference", "variant": "int8", "x": 1})
    s = PackageSummary.load(tmp_path)
    assert (s.runtime, s.model, s.variant, s.raw["x"]) == ("python3.13", "reference", "int8", 1)
    (tmp_path / "package.json").write_text(json.dumps({"variant": "int8"}))
    with pytest.raises(ContractError, match="make package"):
        PackageSummary.load(tmp_path)


def test_accuracy_upsert_keeps_other_models(tmp_path: Path) -> None:
    path = tmp_path / "accuracy.csv"
    save_accuracy(path, "a", [{"model": "a", "runtime": "tflite", "variant": "float32"}])
    save_accuracy(path, "b", [{"model": "b", "runtime": "onnx", "variant": "float32", "unknown": 1}])
    save_accuracy(path, "a", [{"model": "a", "runtime": "tf", "variant": "float32"}])
    rows = load_accuracy(path)
    assert [(r["model"], r["runtime"]) for r in rows] == [("a", "tf"), ("b", "onnx")]
    assert tuple(rows[0]) == ACCURACY_COLUMNS
    assert load_accuracy(tmp_path / "absent.csv") == []


def test_atomic_path_keeps_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    fileio.atomic_write_text(path, "old")
    with pytest.raises(RuntimeError), fileio.atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer died")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_digest_of_a_folder_is_order_and_name_sensitive(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_bytes(b"1")
    (tmp_path / "a" / "y").write_bytes(b"2")
    first = fileio.digest(tmp_path / "a")
    assert fileio.digest(tmp_path / "a") == first and len(first) == 64
    (tmp_path / "a" / "y").rename(tmp_path / "a" / "z")
    assert fileio.digest(tmp_path / "a") != first
    assert fileio.digest(tmp_path / "a" / "x") == fileio.file_sha256(tmp_path / "a" / "x")
    with pytest.raises(FileNotFoundError):
        fileio.digest(tmp_path / "missing")
