"""Writing model cards: ``card.json`` (read by the handler and every tool) and ``model_card.md`` (for people).

Reading a card is core/card.py's job (one ``Card`` type, one parser, shared with the handler);
:func:`load_card` only adds the model-bringer's advice when the file is missing.

Written from the training metadata (``build/train/<name>/model.train.json``) so that accuracy,
training time and library versions on the card are the measured ones, never typed in by hand.

    python -m models.card --train-json build/train/reference/model.train.json \
        --model models/reference/model.keras --name reference

Bringing your own model (``make card MODEL=path/to/model.keras [CLASSES=a,b,c] [PREPROCESSING=preset]``):
without ``--train-json`` the card is written from the model itself (models/detect.py): input size and
channels from its input shape, preprocessing from the layers at its input or the keras.applications
family it is built from, output kind from the graph; what the model cannot tell is declared
(``--preprocessing``, ``--input-px HxW`` for a dynamic input), never guessed: without it ``make card``
stops with one line listing the presets. Classes come from ``--classes`` or the class folders of the
dataset (sorted, as ``keras.utils.image_dataset_from_directory`` orders them). The card records how each
field was decided (``decided``) and, measured on the dataset's test images, how far the served tensor is
from the one Keras's own loader builds (``pipeline_vs_keras``, models/skew.py: equal to float rounding
when the declared loader, size, resize and preset are the model's); it is saved as ``<stem>.card.json``
beside the model, where models/registry.py looks first.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import pipeline
from core.card import Card, CardError, read_card
from core.fileio import digest
from models import dataset, detect, skew

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
    names = dataset.classes(split_dir)
    if not names:
        raise CardError(
            f"{split_dir} has no class sub-folders: name the classes instead, "
            "`make card MODEL=... CLASSES=a,b,c` (or --classes a,b,c)"
        )
    return names


@dataclass(frozen=True)
class Declared:
    """What the user said (``make card PREPROCESSING= INPUT_PX= RESIZE=``); None = read it from the model."""

    preprocessing: str | None = None
    size: tuple[int, int] | None = None
    resize: str | None = None
    loader: str | None = None
    aspect: str | None = None


def parse_px(text: str) -> tuple[int, int]:
    """``--input-px``: ``N`` (square) or ``HxW``."""
    parts = text.lower().split("x")
    try:
        hw = tuple(int(v) for v in parts)
    except ValueError:
        hw = ()
    if len(hw) == 1:
        hw = (hw[0], hw[0])
    if len(hw) != 2 or min(hw) < 1:
        raise CardError(f"--input-px must be N or HxW (e.g. 224 or 224x160), got {text!r}")
    return hw[0], hw[1]


def load_keras(model_path: Path) -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    try:
        return keras.models.load_model(str(model_path), compile=False)
    except Exception as e:  # noqa: BLE001 - any loader failure means the same thing to the user
        raise CardError(f"cannot load {model_path} with keras: {str(e).strip()[:200]}") from None


def declare_hint(model_path: Path | str) -> str:
    """The one line that says how to declare the preprocessing, with every preset."""
    presets = "; ".join(f"{k} = {v[4]}" for k, v in pipeline.PRESETS.items())
    return (
        f"declare it: make card MODEL={model_path} PREPROCESSING=<preset> (or --preprocessing); "
        f"presets: {presets}"
    )


def _size(model: Any, model_path: Path, want: tuple[int, int] | None) -> tuple[tuple[int, int], str, int]:
    """((height, width), how decided, channels) from the model's input and the declared size."""
    try:
        h, w, c = detect.input_shape(model)
    except ValueError as e:
        raise CardError(f"{model_path}: {e}") from None
    if c not in (1, 3):
        raise CardError(f"{model_path}: input has {c} channels: 1 (grayscale) or 3 (colour) are served")
    if h is None or w is None:
        if want is None:
            raise CardError(
                f"{model_path}: input {h}x{w} is dynamic: declare the size it was trained at, "
                f"make card MODEL={model_path} INPUT_PX=HxW (or --input-px HxW)"
            )
        return want, f"declared: {want[0]}x{want[1]} (the model's input is dynamic)", c
    if want is not None and want != (h, w):
        raise CardError(f"{model_path}: takes {h}x{w} inputs, --input-px says {want[0]}x{want[1]}")
    return (int(h), int(w)), f"detected: model input {h}x{w}x{c}", c


def model_facts(model_path: Path, declared: Declared) -> tuple[pipeline.Pipeline, str, int, dict[str, str]]:
    """(pipeline, output kind, number of outputs, how each was decided) read from the model or declared."""
    model = load_keras(model_path)
    size, size_how, channels = _size(model, model_path, declared.size)
    found = detect.preprocessing(model)
    if declared.preprocessing is not None:
        shown = f" (the model shows '{found.value}': {found.how})" if isinstance(found, detect.Found) else ""
        name, prep_how = declared.preprocessing, f"declared{shown}"
    elif isinstance(found, detect.Found):
        name, prep_how = found.value, found.how
    else:
        raise CardError(f"{model_path}: {found}: {declare_hint(model_path)}")
    over: dict[str, Any] = {"channels": channels}
    how = {"input_px": size_how, "preprocessing": prep_how, "channels": size_how}
    for key, value, default in (
        (
            "loader",
            declared.loader,
            "default: image_dataset_from_directory, how most Keras models are trained",
        ),
        ("resize", declared.resize, "default: bilinear, image_dataset_from_directory's interpolation"),
        ("aspect", declared.aspect, "default: stretch (no crop_to_aspect_ratio / pad_to_aspect_ratio)"),
    ):
        if value is not None:
            over[key] = value
        how[key] = "declared" if value is not None else default
    if channels == 1 and name in ("torch", "caffe"):
        raise CardError(f"{model_path}: '{name}' is a 3-channel mode; the model takes 1 channel")
    try:
        spec = pipeline.preset(name, size, **over)
    except pipeline.PipelineError as e:
        raise CardError(f"{model_path}: {e}") from None
    kind = detect.output_kind(model)
    how["output"] = kind.how
    return spec, kind.value, int(model.outputs[0].shape[-1]), how


_OUTPUT_TEXT = {
    "logits": "raw scores, one per class in 'classes' order; softmax gives probabilities",
    "probabilities": "softmax probabilities, one per class in 'classes' order (they sum to 1)",
    "sigmoid": "independent probabilities (sigmoid), one per class in 'classes' order: several may be high",
}


def byo_card(
    model_path: Path,
    classes: list[str] | None,
    split_dir: Path,
    name: str | None = None,
    px: int | tuple[int, int] | None = None,
    declared: Declared | None = None,
) -> tuple[dict[str, Any], Path]:
    """Write ``<stem>.card.json`` for a user's model; returns (card, path). Checks classes vs outputs."""
    if not model_path.is_file():
        raise CardError(f"model file {model_path} not found")
    declared = declared or Declared()
    if px is not None:
        declared = replace(declared, size=(px, px) if isinstance(px, int) else px)
    spec, output, n_out, how = model_facts(model_path, declared)
    how["classes"] = "declared" if classes else f"detected: the class folders of {split_dir}"
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
        "input_px": [spec.height, spec.width],
        "preprocessing": spec.preset,
        "pipeline": spec.fields(),
        "preprocessing_description": spec.describe() + ". Reference implementation: runtimes/preprocess.py.",
        "pipeline_vs_keras": skew.pixel_difference(spec),
        "output": output,
        "output_description": _OUTPUT_TEXT[output],
        "decided": how,
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
    split_dir = dataset.class_dir(args.dataset or dataset.root())
    declared = Declared(
        args.preprocessing or None,
        parse_px(args.input_px) if args.input_px else None,
        args.resize or None,
        args.loader or None,
        args.aspect or None,
    )
    card, out = byo_card(args.model, classes, split_dir, args.name, None, declared)
    how, vs = card["decided"], card["pipeline_vs_keras"]
    h, w = card["input_px"]
    measured = (
        f"served vs Keras on {vs['images']} test images: up to {vs['max_levels']:g} pixel levels"
        if vs["images"]
        else vs["not_measured"]
    )
    print(
        f"wrote {out}: {len(card['classes'])} classes ({', '.join(card['classes'])}), input {h}x{w}, "
        f"output {card['output']} ({how['output']}), preprocessing {card['preprocessing']} "
        f"({how['preprocessing']}; resize {card['pipeline']['resize']}: {how['resize']}); {measured}. "
        f"Next: make bench MODEL={args.model}"
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
        "--input-px", default=None, help="own model: input size N or HxW when the model's shape is dynamic"
    )
    names = ", ".join(pipeline.PRESETS)
    ap.add_argument(
        "--preprocessing", default=None, help=f"own model: preset ({names}) when the model does not show it"
    )
    ap.add_argument("--resize", default=None, choices=pipeline.RESIZES, help="own model (default bilinear)")
    ap.add_argument(
        "--loader",
        default=None,
        choices=pipeline.LOADERS,
        help="own model: how it was trained (default dataset)",
    )
    ap.add_argument("--aspect", default=None, choices=pipeline.ASPECTS, help="own model (default stretch)")
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
