"""core/card.py: one card reader and one artefact digest for the handler, models/ and the manifest.

One formula, because two drift apart: a handler fallback hash of a SavedModel folder by another formula than
manifest.json's gives a ``model_sha256`` in meta that differs from the manifest's when the manifest is absent.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core import card, fileio
from tests.support.converted import Converted


def test_digest_equals_the_manifest_for_files_and_savedmodel(converted: Converted, tmp_path: Path) -> None:
    entries = {e["path"]: e["sha256"] for e in converted.manifest["artefacts"]}
    assert "savedmodel" in entries and (converted.dir / "savedmodel").is_dir()
    for path, sha in entries.items():
        assert fileio.digest(converted.dir / path) == sha, path
    # the handler's fallback (no MODEL_SHA256, no manifest beside the artefact) gives the same value
    copy = tmp_path / "savedmodel"
    shutil.copytree(converted.dir / "savedmodel", copy)
    assert card.artefact_sha256(str(copy), env={}) == entries["savedmodel"]
    assert card.artefact_sha256(str(converted.dir / "savedmodel"), env={"MODEL_SHA256": "x"}) == "x"
    assert card.artefact_sha256(str(tmp_path / "absent.null"), env={}) is None


def test_read_card_on_the_built_card(converted: Converted) -> None:
    raw = json.loads((converted.dir / "card.json").read_text())
    c = card.read_card(converted.dir / "card.json")
    assert list(c.classes) == raw["classes"] and c == converted.card
    assert c.size == (raw["input_px"], raw["input_px"])
    assert c.output == raw.get("output", "logits") and c.raw == raw


@pytest.mark.parametrize(
    "raw,field",
    [
        ([], "JSON object"),
        ({"classes": ["a", "a"], "input_px": 8, "preprocessing": "xception-tf-nearest"}, "classes"),
        ({"classes": ["a"], "input_px": True, "preprocessing": "xception-tf-nearest"}, "input_px"),
        ({"classes": ["a"], "input_px": 8, "preprocessing": "bilinear"}, "preprocessing"),
        ({"classes": ["a"], "input_px": 8, "preprocessing": "xception-tf-nearest", "output": "x"}, "output"),
    ],
)
def test_read_card_names_the_bad_field(raw: object, field: str, tmp_path: Path) -> None:
    p = tmp_path / "card.json"
    p.write_text(json.dumps(raw))
    with pytest.raises(card.CardError, match=field):
        card.read_card(p)
