"""The load test's default images for a model given as MODEL takes it: a path to your model is measured
under the name its card gives (the name its image tags carry), as `make bench MODEL=path` passes it."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.measure import throughput
from core import catalogue

NAMES = st.from_regex(r"[a-z][a-z0-9]{2,12}", fullmatch=True).filter(
    lambda n: n not in ("reference", "xception")
)


def _model(tmp: Path, stem: str, name: str) -> Path:
    """A model file with a card beside it naming the model ``name`` (the file's bytes are not read)."""
    path = tmp / f"{stem}.keras"
    path.write_bytes(b"")
    card = {"name": name, "classes": ["a", "b"], "input_px": [32, 32], "preprocessing": "tf"}
    path.with_name(f"{stem}.card.json").write_text(json.dumps(card))
    return path


@settings(max_examples=25, deadline=None)
@given(stem=NAMES, name=NAMES, kind=st.sampled_from(["tflite", "onnx"]))
def test_a_model_path_picks_the_images_its_card_names(tmp_path_factory, stem: str, name: str, kind: str):
    tmp = tmp_path_factory.mktemp("m")
    path = _model(tmp, stem, name)
    pick = catalogue.tag(kind, name, "float32")
    other = catalogue.tag(kind, "reference", "float32")
    winner = tmp / "winner.json"
    winner.write_text(json.dumps({"per_model": {name: {"image": pick}, "reference": {"image": other}}}))
    assert throughput.chosen_images("", str(path), winner) == [pick]
    assert throughput.chosen_images("", f"{path},reference", winner) == [pick, other]
    assert throughput.chosen_images(other, str(path), winner) == [other]  # --images wins


def test_without_a_decision_a_model_path_gets_its_float32_images(tmp_path: Path) -> None:
    path = _model(tmp_path, "my_model", "mine")
    got = throughput.chosen_images("", str(path), tmp_path / "absent.json")
    assert got == [catalogue.tag("tflite", "mine", "float32"), catalogue.tag("onnx", "mine", "float32")]
