"""The newcomer's path: `make card MODEL=path` on a small real Keras model, and a copied card's error."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from core.paths import ROOT as REPO
from models import card as cardlib
from models import convert, registry


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-class Keras model with a 48 px input and a softmax head, saved as .keras in a temp dir."""
    import keras

    d = tmp_path_factory.mktemp("byo")
    inp = keras.Input((48, 48, 3))
    x = keras.layers.Conv2D(4, 3, strides=2)(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
    path = d / "my_model.keras"
    model.save(path)
    for cls in ("boots", "caps", "scarves"):
        (d / "data" / "train" / cls).mkdir(parents=True)
    return path


def test_make_card_from_the_dataset_folders(small_model: Path) -> None:
    res = subprocess.run(
        ["make", "-s", "card", f"MODEL={small_model}", "PREPROCESSING=tf"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**_env(), "CLOTHING_DATASET": str(small_model.parent / "data")},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    card = json.loads(small_model.with_name("my_model.card.json").read_text())
    assert card["classes"] == ["boots", "caps", "scarves"] and card["input_px"] == [48, 48]
    assert card["output"] == "probabilities" and card["source_sha256"] == cardlib.digest(small_model)
    assert card["preprocessing"] == "tf" and card["decided"]["preprocessing"].startswith("declared")
    spec = registry.resolve(str(small_model))  # the registry finds it and the converter accepts it
    assert spec.name == "my_model" and not spec.builtin
    prepared = convert.prepared_card(spec, card["source_sha256"])
    convert.check_model(convert.load_keras(small_model), prepared, small_model)


def test_classes_flag_must_match_the_outputs(small_model: Path) -> None:
    tf = cardlib.Declared(preprocessing="tf")
    card, _ = cardlib.byo_card(small_model, ["a", "b", "c"], Path("/nonexistent"), declared=tf)
    assert card["classes"] == ["a", "b", "c"]
    with pytest.raises(cardlib.CardError, match="outputs 3 values per image but 2 classes") as e:
        cardlib.byo_card(small_model, ["a", "b"], Path("/nonexistent"), declared=tf)
    assert "make card MODEL=... CLASSES=a,b,c" in str(e.value)  # what a make user types
    with pytest.raises(cardlib.CardError, match="CLASSES=a,b,c"):
        cardlib.byo_card(small_model, None, small_model.parent / "nowhere", declared=tf)


def test_a_copied_reference_card_tells_the_model_bringer_what_to_do(
    small_model: Path, tmp_path: Path
) -> None:
    mine = tmp_path / "copied.keras"
    shutil.copyfile(small_model, mine)
    copied = json.loads((REPO / "models" / "reference" / "card.json").read_text())
    (tmp_path / "card.json").write_text(json.dumps(copied))
    with pytest.raises(registry.ModelError, match=f"make card MODEL={mine}"):
        registry.resolve(str(mine))  # copied as is: the reserved name
    (tmp_path / "card.json").write_text(json.dumps(copied | {"name": "mine"}))  # renamed, as README said
    spec = registry.resolve(str(mine))
    with pytest.raises(convert.ConvertError) as e:
        convert.prepared_card(spec, cardlib.digest(mine))
    assert f"make card MODEL={mine}" in str(e.value) and "make train" not in str(e.value)


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL")}
