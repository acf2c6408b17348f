"""Which model? ``MODEL=reference | xception | path/to/model.keras|.h5`` -> (name, model file, card).

* ``reference``: the committed model, ``models/reference/model.keras`` + ``card.json``.
* ``xception``: the seed-scale Xception, trained briefly on demand into ``build/train/xception/``
  (cached there, never committed), with a card written from its measured accuracy.
* a path: bring your own Keras model; a card must sit beside it, as ``<stem>.card.json`` or ``card.json``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from core.paths import ROOT as REPO
from models import card as cardlib
from models.settings import XceptionRun

BUILTIN = ("reference", "xception")
MODEL_SUFFIXES = (".keras", ".h5")


class ModelError(ValueError):
    """The requested model cannot be used; the one-line message says why and what to do."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    model_path: Path
    card_path: Path
    builtin: bool


def safe_name(text: str) -> str:
    """A name usable in image tags (``clothing-tf:<name>-float32``) and directory names."""
    s = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip(".-_")
    if not s:
        raise ModelError(f"cannot derive a model name from {text!r}; set 'name' in the card")
    return s[:60]


def _train_dir(name: str, root: Path) -> Path:
    return root / "build" / "train" / name


def build_xception(root: Path = REPO, force: bool = False) -> ModelSpec:
    """Train the Xception briefly (cached) and write its card; returns its spec."""
    d = _train_dir("xception", root)
    model, card = d / "model.keras", d / "card.json"
    if not force and model.is_file() and card.is_file():
        try:
            if cardlib.load_card(card).raw.get("source_sha256") == cardlib.digest(model):
                print(f"xception: using cached {model}", flush=True)
                return ModelSpec("xception", model, card, True)
        except cardlib.CardError:
            pass
    cfg = XceptionRun.from_env().train_args()  # XCEPTION_* (models/settings.py), read now, not at import
    cmd = [sys.executable, "-m", "models.train", "--arch", "xception", "--out", str(model)]
    cmd += [f"--{k.replace('_', '-')}={v}" for k, v in cfg.items()]
    print("xception: training on demand (cached afterwards): " + " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)
    written = cardlib.write_card(model.with_suffix(".train.json"), model, d, "xception")
    test_top1 = written["accuracy"].get("test_top1") or 0.0
    if test_top1 < 0.25:  # always answering the largest test class (shoes) scores 19.6 %
        print(
            f"WARNING: xception test top-1 is {test_top1:.1%}, near-degenerate; raise XCEPTION_EPOCHS or "
            "XCEPTION_TRAIN_LIMIT and delete build/train/xception to retrain",
            flush=True,
        )
    return ModelSpec("xception", model, card, True)


def find_card(model_path: Path) -> Path:
    """``<stem>.card.json`` beside the model wins over ``card.json`` in the same folder."""
    specific = model_path.with_name(model_path.stem + ".card.json")
    return specific if specific.is_file() else model_path.parent / "card.json"


def resolve(model: str, root: Path = REPO, build: bool = False) -> ModelSpec:
    """Map a MODEL value to its files; ``build=True`` trains the Xception if it is not cached yet."""
    if model == "reference":
        d = root / "models" / "reference"
        spec = ModelSpec("reference", d / "model.keras", d / "card.json", True)
        if not spec.model_path.is_file():
            raise ModelError(
                f"reference model {spec.model_path} not found: run `make train` (or git checkout it)"
            )
        if not spec.card_path.is_file():
            raise ModelError(f"reference card {spec.card_path} not found: run `make train` to write it")
        return spec
    if model == "xception":
        if build:
            return build_xception(root)
        d = _train_dir("xception", root)
        spec = ModelSpec("xception", d / "model.keras", d / "card.json", True)
        if not spec.model_path.is_file() or not spec.card_path.is_file():
            raise ModelError(f"xception model not built yet ({d}): run `make models MODEL=xception`")
        return spec
    path = Path(model).expanduser()
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise ModelError(f"MODEL={model!r}: use 'reference', 'xception' or a path to a .keras/.h5 file")
    if not path.is_file():
        raise ModelError(f"model file {path} not found")
    card_path = find_card(path)
    if not card_path.is_file():
        raise ModelError(
            f"no model card for {path}: run `make card MODEL={path}` (classes from CLASSES=a,b,c or the "
            f"dataset folders), or write {path.with_name(path.stem + '.card.json')} with classes and input_px"
        )
    card = cardlib.load_card(card_path)
    name = safe_name(str(card.raw.get("name") or path.stem))
    if name in BUILTIN:
        raise ModelError(
            f"model name {name!r} is reserved (a copied card?): run `make card MODEL={path}` to write a card "
            f"for your model, or set another 'name' in {card_path}"
        )
    return ModelSpec(name, path, card_path, False)


def model_name(model: str) -> str:
    """MODEL (reference, xception, or a path to a .keras/.h5 with a card) -> the name used in tags and
    build/models/<name>/, without training or reading anything for the built-in names."""
    if "/" not in model and not model.lower().endswith(MODEL_SUFFIXES):
        return model
    return resolve(model).name
