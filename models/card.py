"""Writing model cards: ``card.json`` (read by the handler and every tool) and ``model_card.md`` (for people).

Reading a card is core/card.py's job (one ``Card`` type, one parser, shared with the handler);
:func:`load_card` only adds the model-bringer's advice when the file is missing.

Written from the training metadata (``build/train/<name>/model.train.json``) so that accuracy,
training time and library versions on the card are the measured ones, never typed in by hand.

    python -m models.card --train-json build/train/reference/model.train.json \
        --model models/reference/model.keras --name reference

Bringing your own model (``make card MODEL=path/to/model.keras [CLASSES=a,b,c]``): without
``--train-json`` the card is written from the model itself: input size from its input shape, output kind
from its last activation (softmax -> probabilities), classes from ``--classes`` or the class folders of a
dataset split (sorted, as ``keras.utils.image_dataset_from_directory`` orders them), saved as
``<stem>.card.json`` beside the model, where models/registry.py looks first.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.card import Card, CardError, read_card
from core.fileio import digest
from models import dataset

__all__ = ["Card", "CardError", "digest", "load_card", "write_card", "byo_card", "PREPROCESSING_ID"]

PREPROCESSING_ID = "xception-tf-nearest"
PREPROCESSING_TEXT = (
    "Decode the image, convert to RGB, resize to input_px x input_px with nearest-neighbour sampling "
    "(as keras.utils.load_img does), keep float32 pixel values in [0, 255], then scale as Xception's "
    "preprocess_input 'tf' mode: x / 127.5 - 1, giving [-1, 1]. Layout NHWC. "
    "Reference implementation: runtimes/preprocess.py."
)
CARD_VERSION = 1


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
        "source_sha256": digest(model_path),
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
    read_card(out_dir / "card.json")  # what the handler will parse: fail here, not at the first request
    (out_dir / "model_card.md").write_text(render_markdown(card))
    return card


def load_card(path: Path) -> Card:
    """core.card.read_card, with what to do when the card is missing (a model-bringer's first error)."""
    if not path.is_file():
        raise CardError(
            f"model card {path} not found: write one beside the model (`make card MODEL=path`, see README)"
        )
    return read_card(path)


def folder_classes(split_dir: Path) -> list[str]:
    """Class names = the sub-folders of a dataset split, sorted (image_dataset_from_directory's order)."""
    if not split_dir.is_dir():
        raise CardError(
            f"no dataset folder {split_dir}: name the classes in model output order instead, "
            "`make card MODEL=... CLASSES=a,b,c` (or --classes a,b,c)"
        )
    names = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise CardError(
            f"{split_dir} has no class sub-folders: name the classes instead, "
            "`make card MODEL=... CLASSES=a,b,c` (or --classes a,b,c)"
        )
    return names


def model_facts(model_path: Path) -> tuple[int, int, str]:
    """(input side px, number of outputs, 'logits' | 'probabilities') read from the Keras model."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    try:
        model = keras.models.load_model(str(model_path), compile=False)
    except Exception as e:  # noqa: BLE001 - any loader failure means the same thing to the user
        raise CardError(f"cannot load {model_path} with keras: {str(e).strip()[:200]}") from None
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise CardError(f"{model_path}: input must be (batch, height, width, 3) RGB, got {shape}")
    if shape[1] is None or shape[1] != shape[2]:
        raise CardError(f"{model_path}: input {shape[1]}x{shape[2]} is not a fixed square: pass --input-px N")
    act = getattr(getattr(model.layers[-1], "activation", None), "__name__", "")
    return int(shape[1]), int(model.outputs[0].shape[-1]), "probabilities" if act == "softmax" else "logits"


def byo_card(
    model_path: Path,
    classes: list[str] | None,
    split_dir: Path,
    name: str | None = None,
    px: int | None = None,
) -> tuple[dict[str, Any], Path]:
    """Write ``<stem>.card.json`` for a user's model; returns (card, path). Checks classes vs outputs."""
    if not model_path.is_file():
        raise CardError(f"model file {model_path} not found")
    side, n_out, output = model_facts(model_path)
    classes = classes or folder_classes(split_dir)
    if len(classes) != n_out:
        raise CardError(
            f"{model_path} outputs {n_out} values per image but {len(classes)} classes were given "
            f"({', '.join(classes)}): give {n_out} names in output order, "
            f"`make card MODEL=... CLASSES=a,b,c` (or `python -m models.card --classes a,b,c`)"
        )
    card = {
        "card_version": CARD_VERSION,
        "name": name or model_path.stem,
        "classes": classes,
        "input_px": px or side,
        "preprocessing": PREPROCESSING_ID,
        "preprocessing_description": PREPROCESSING_TEXT,
        "output": output,
        "source_file": model_path.name,
        "source_sha256": digest(model_path),
        "source_bytes": model_path.stat().st_size,
        "written_by": "make card (models.card --model PATH)",
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    out = model_path.with_name(model_path.stem + ".card.json")
    out.write_text(json.dumps(card, indent=2) + "\n")
    read_card(out)  # what the handler will parse
    return card, out


def _byo_main(args: argparse.Namespace) -> int:
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    split_dir = args.dataset / "train" if args.dataset else dataset.root() / "train"
    card, out = byo_card(args.model, classes, split_dir, args.name, args.input_px)
    print(
        f"wrote {out}: {len(card['classes'])} classes ({', '.join(card['classes'])}), input "
        f"{card['input_px']} px, output {card['output']}, preprocessing {card['preprocessing']} "
        f"(check it matches how the model was trained). Next: make bench MODEL={args.model}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Write a model card: from training metadata (--train-json) or, for your own model, "
        "from the model file itself (make card MODEL=path)."
    )
    ap.add_argument("--train-json", type=Path, default=None, help="model.train.json from models.train")
    ap.add_argument("--model", type=Path, required=True, help="the model file the card describes")
    ap.add_argument("--name", default=None, help="card name (default: the model file's stem)")
    ap.add_argument("--out", type=Path, default=None, help="output dir (default: the model's dir)")
    ap.add_argument("--classes", default=None, help="own model: class names in output order, a,b,c")
    ap.add_argument(
        "--dataset", type=Path, default=None, help="own model: dataset whose train/ folders name the classes"
    )
    ap.add_argument(
        "--input-px", type=int, default=None, help="own model: input side when the shape is dynamic"
    )
    args = ap.parse_args(argv)
    try:
        if args.train_json is None:
            return _byo_main(args)
        if not args.name:
            raise CardError("--name is required with --train-json")
        card = write_card(args.train_json, args.model, args.out or args.model.parent, args.name)
    except CardError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    where = (args.out or args.model.parent) / "card.json"
    print(f"wrote {where} (test top-1 {_pct(card['accuracy']['test_top1'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
