"""Model cards: ``card.json`` (read by the handler and every tool) and ``model_card.md`` (for people).

Written from the training metadata (``build/train/<name>/model.train.json``) so that accuracy,
training time and library versions on the card are the measured ones, never typed in by hand.

    python -m models.card --train-json build/train/reference/model.train.json \
        --model models/reference/model.keras --name reference
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models import dataset

PREPROCESSING_ID = "xception-tf-nearest"
PREPROCESSING_TEXT = (
    "Decode the image, convert to RGB, resize to input_px x input_px with nearest-neighbour sampling "
    "(as keras.utils.load_img does), keep float32 pixel values in [0, 255], then scale as Xception's "
    "preprocess_input 'tf' mode: x / 127.5 - 1, giving [-1, 1]. Layout NHWC. "
    "Reference implementation: runtimes/preprocess.py."
)
CARD_VERSION = 1


class CardError(ValueError):
    """A card is missing, unreadable or does not describe its model; the message says which."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def build_card(meta: dict[str, Any], model_path: Path, name: str) -> dict[str, Any]:
    """Card dict from training metadata; the source hash is taken from the model file itself."""
    acc = {k: meta.get(k) for k in ("train_top1", "validation_top1", "test_top1")}
    return {
        "card_version": CARD_VERSION,
        "name": name,
        "classes": list(dataset.CLASSES),
        "input_px": int(meta["input_px"]),
        "train_input_px": int(meta.get("train_input_px", meta["input_px"])),
        "preprocessing": PREPROCESSING_ID,
        "preprocessing_description": PREPROCESSING_TEXT,
        "output": "logits",
        "output_description": "raw scores, one per class in 'classes' order; softmax gives probabilities",
        "source_file": model_path.name,
        "source_sha256": sha256_file(model_path),
        "source_bytes": model_path.stat().st_size,
        "arch": meta.get("arch"),
        "parameters": meta.get("parameters"),
        "accuracy": acc,
        "accuracy_note": "top-1 on clothing-dataset-small splits at input_px, Keras model, float32",
        "training": {
            k: meta.get(k)
            for k in (
                "epochs",
                "best_epoch",
                "batch",
                "lr",
                "seed",
                "train_limit",
                "eval_train_limit",
                "train_wall_s",
            )
        },
        "dataset": {
            "name": "clothing-dataset-small",
            "url": dataset.SOURCE_URL,
            "commit": dataset.SOURCE_COMMIT,
        },
        "versions": meta.get("versions", {}),
        "cpu": meta.get("cpu"),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{100 * float(v):.1f} %"


def render_markdown(card: dict[str, Any]) -> str:
    acc, tr = card["accuracy"], card["training"]
    limit = tr.get("train_limit")
    subset = f"a seeded subset of {limit} training images" if limit else "all 3,068 training images"
    ev = tr.get("eval_train_limit")
    train_note = f" (seeded subset of {ev} images)" if ev else ""
    versions = ", ".join(f"{k} {v}" for k, v in card.get("versions", {}).items())
    wall = tr.get("train_wall_s")
    training = (
        f"epochs {tr.get('epochs')} (best {tr.get('best_epoch')}) on {subset}, "
        f"batch {tr.get('batch')}, "
        f"lr {tr.get('lr')}, seed {tr.get('seed')}, {wall if wall is not None else 'n/a'} s wall "
        f"on `{card.get('cpu')}`"
    )
    return f"""# Model card: {card["name"]}

Clothing classifier, {len(card["classes"])} classes, trained from scratch on
[clothing-dataset-small]({card["dataset"]["url"]}) (CC0, commit `{card["dataset"]["commit"][:12]}`).

| | |
| --- | --- |
| architecture | {card.get("arch")} ({card.get("parameters") or 0:,} parameters) |
| input | {card["input_px"]} x {card["input_px"]} x 3 RGB, float32 (trained at {card["train_input_px"]} px) |
| preprocessing | `{card["preprocessing"]}` |
| output | {card["output"]} (10 floats, classes in the order below; softmax for probabilities) |
| source file | `{card["source_file"]}`, sha256 `{card["source_sha256"]}` |
| training | {training} |
| libraries | {versions} |

## Accuracy (top-1, Keras float32, measured at the end of training)

| split | top-1 |
| --- | --- |
| train{train_note} | {_pct(acc.get("train_top1"))} |
| validation | {_pct(acc.get("validation_top1"))} |
| test | {_pct(acc.get("test_top1"))} |

Per-runtime accuracy and agreement of every converted artefact: `results/accuracy.csv` (`make eval`).

## Classes (output order)

{", ".join(f"{i}: {c}" for i, c in enumerate(card["classes"]))}

## Preprocessing

{card["preprocessing_description"]}

## Limits

Small dataset (3,068 training images) photographed on plain backgrounds; expect lower accuracy on
cluttered photos. Not for decisions about people.
"""


def write_card(train_json: Path, model_path: Path, out_dir: Path, name: str) -> dict[str, Any]:
    """Write ``card.json`` and ``model_card.md`` into ``out_dir``; returns the card."""
    if not train_json.is_file():
        raise CardError(
            f"training metadata {train_json} not found (written by models.train next to the model)"
        )
    if not model_path.is_file():
        raise CardError(f"model file {model_path} not found")
    meta = json.loads(train_json.read_text())
    card = build_card(meta, model_path, name)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    (out_dir / "model_card.md").write_text(render_markdown(card))
    return card


def load_card(path: Path) -> dict[str, Any]:
    """Read and validate the fields every consumer relies on; one-line CardError otherwise."""
    if not path.is_file():
        raise CardError(f"model card {path} not found: write a card.json beside the model (see README)")
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CardError(f"model card {path} is not readable JSON: {e}") from None
    if not isinstance(card, dict):
        raise CardError(f"model card {path} must be a JSON object")
    classes = card.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise CardError(
            f"model card {path}: 'classes' must be a non-empty list of class names in output order"
        )
    if len(set(classes)) != len(classes):
        raise CardError(f"model card {path}: 'classes' has duplicates")
    px = card.get("input_px")
    if not isinstance(px, int) or px < 8:
        raise CardError(f"model card {path}: 'input_px' must be an integer image side in pixels")
    if card.get("preprocessing", PREPROCESSING_ID) != PREPROCESSING_ID:
        raise CardError(
            f"model card {path}: preprocessing {card.get('preprocessing')!r} is not supported "
            f"(only {PREPROCESSING_ID!r}, see runtimes/preprocess.py)"
        )
    if card.get("output", "logits") not in ("logits", "probabilities"):
        raise CardError(f"model card {path}: 'output' must be 'logits' or 'probabilities'")
    card.setdefault("preprocessing", PREPROCESSING_ID)
    card.setdefault("output", "logits")
    return card


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write card.json + model_card.md from training metadata.")
    ap.add_argument("--train-json", type=Path, required=True, help="model.train.json from models.train")
    ap.add_argument("--model", type=Path, required=True, help="the model file the card describes")
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", type=Path, default=None, help="output dir (default: the model's dir)")
    args = ap.parse_args(argv)
    try:
        card = write_card(args.train_json, args.model, args.out or args.model.parent, args.name)
    except CardError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    where = (args.out or args.model.parent) / "card.json"
    print(f"wrote {where} (test top-1 {_pct(card['accuracy']['test_top1'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
