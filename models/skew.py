"""The train/serve skew check: is the handler feeding the model what Keras fed it in training?

For a model and its card, on real labelled images of the dataset:

* **served vs Keras**: the tensor runtimes/preprocess.py builds from the card's pipeline against the one
  Keras's own pipeline builds for the declared mode (``keras.utils.load_img`` or
  image_dataset_from_directory's loader with the declared interpolation and aspect, then
  ``keras.applications`` ``preprocess_input`` in the declared mode): the largest difference per value,
  also in [0, 255] pixel levels, and the top-1 agreement of the Keras model fed each;
* **preset probe**: the Keras model's top-1 under every preset on a sample of labelled images; when another
  preset scores far better than the declared one the card is wrong, and the message names the preset.

A check beyond its bounds fails: bench/decide/winner.py makes every cell of that model ineligible, and
``results/skew.csv`` (one row per model, the contract below) says why. ``python -m models.skew --model M``.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Final

import numpy as np

from core.card import Card, read_card
from core.paths import RESULTS_DIR
from core.pipeline import PRESETS, Pipeline
from models import dataset

SKEW_CSV: Final = RESULTS_DIR / "skew.csv"
#: Largest served-vs-Keras difference allowed, in [0, 255] pixel levels. Both loaders serve Keras's own
#: pixels: ``load_img`` decodes and resizes with Pillow as keras.utils.load_img does (a ``crop`` resized
#: out of the whole image by the box, as load_img does), ``dataset`` decodes JPEG as tf.io.decode_image
#: does (runtimes/tfjpeg.py, bit-identical) and resizes with tf.image.resize's kernels. What is left is
#: float rounding (0 levels on the reference and a ``dataset`` model over the clothing test split, under
#: 2e-3 over every loader, resize, aspect and preset) and one level of rounding where two libraries
#: convert colour to gray (a PNG for a one-channel ``dataset`` pipeline: libpng against Pillow), which
#: bicubic's overshoot can stretch a little past one level. A decoder whose IDCT differs (Pillow's for
#: TensorFlow's: 4 levels on the split, 21 on generated JPEGs), a wrong resize (16 levels and more on
#: every image), aspect, loader or preset (4 to 255) are beyond.
MAX_LEVELS: Final = 1.5
#: Top-1 agreement of the Keras model fed the served vs Keras's tensors, in %. Within MAX_LEVELS the
#: tensors are the same picture (100 % measured on the reference and a ``dataset`` model); one borderline
#: image in 128 may follow a level of gray rounding. A model whose answers move more often under
#: rounding serves answers that differ from Keras's that often.
MIN_AGREEMENT_PCT: Final = 99.0
#: Another preset this many points of top-1 above the declared one means the card names the wrong mode.
PROBE_MARGIN_PCT: Final = 20.0
_WHY: Final = {
    "raw": "the model has its preprocessing inside",
    "tf": "the model expects keras 'tf' mode ([-1, 1])",
    "torch": "the model expects keras 'torch' mode (ImageNet mean/std)",
    "caffe": "the model expects keras 'caffe' mode (BGR, mean subtracted)",
    "unit": "the model expects [0, 1] pixels",
}


@dataclass(frozen=True)
class Skew:
    """One row of results/skew.csv."""

    model: str
    source_sha256: str
    preprocessing: str
    loader: str
    resize: str
    aspect: str
    images: int
    max_abs_diff: float
    max_levels: float
    agreement_pct: float
    declared_top1_pct: float
    best_preset: str
    best_top1_pct: float
    probe_images: int
    ok: bool
    message: str


def keras_values(x: np.ndarray, name: str) -> np.ndarray:
    """Keras's own value step for a preset: preprocess_input(mode) for tf/torch/caffe."""
    from keras.applications import imagenet_utils

    if name in ("tf", "torch", "caffe"):
        return np.asarray(imagenet_utils.preprocess_input(x.astype(np.float32), mode=name), np.float32)
    return x.astype(np.float32) / np.float32(255.0) if name == "unit" else x.astype(np.float32)


def keras_pixels(path: Path, p: Pipeline) -> np.ndarray:
    """The (h, w, C) float32 pixels Keras's loader gives for the pipeline's loader, resize and aspect."""
    import keras

    if p.loader == "load_img":
        mode = "grayscale" if p.channels == 1 else "rgb"
        img = keras.utils.load_img(
            path,
            color_mode=mode,
            target_size=p.size,
            interpolation=p.resize,
            keep_aspect_ratio=p.aspect == "crop",
        )
        return np.asarray(keras.utils.img_to_array(img), np.float32)
    import tensorflow as tf
    from keras.src.utils.image_dataset_utils import _load_image_tf  # the function the dataset maps

    out = _load_image_tf(
        tf.constant(str(path)),
        p.size,
        p.channels,
        p.resize,
        "channels_last",
        p.aspect == "crop",
        p.aspect == "pad",
    )
    return np.asarray(out, np.float32)


def levels(ours: np.ndarray, theirs: np.ndarray, p: Pipeline) -> np.ndarray:
    """|served - Keras| per value, in [0, 255] pixel levels (the value step undone: x std x divisor)."""
    return np.abs(ours - theirs) * np.asarray(p.std, np.float32) * np.float32(p.divisor)


def pixel_difference(p: Pipeline, limit: int = 32, seed: int = 0) -> dict[str, Any]:
    """What ``make card`` writes on the card (``pipeline_vs_keras``): the served tensor against Keras's own
    loader + preprocess_input on up to ``limit`` of the dataset's test images (seeded), in pixel levels.
    Both loaders decode and resize as Keras's do (Pillow for load_img; TensorFlow's JPEG settings and
    tf.image.resize's kernels for dataset), so what is left is float rounding: a level or more is skew."""
    from runtimes import preprocess

    d = dataset.split_dir("test")
    try:
        paths = [s.path for s in dataset.split("test")]
    except dataset.DatasetError as e:
        return {"images": 0, "not_measured": f"{e}: `python -m models.skew --model M` measures it later"}
    if len(paths) > limit:
        paths = [
            paths[i] for i in sorted(np.random.default_rng(seed).choice(len(paths), limit, replace=False))
        ]
    worst = [
        float(levels(preprocess.load_path(str(f), p), keras_values(keras_pixels(f, p), p.preset), p).max())
        for f in paths
    ]
    loader = {"load_img": "keras.utils.load_img", "dataset": "image_dataset_from_directory's loader"}
    return {
        "images": len(worst),
        "from": str(d),
        "against": f"{loader[p.loader]} ({p.resize}) + preprocess_input '{p.preset}'",
        "max_levels": round(max(worst), 4),
        "median_levels": round(float(np.median(worst)), 4),
        "exact_images": sum(w == 0.0 for w in worst),
    }


def labelled(card: Card, limit: int, seed: int = 0) -> list[tuple[Path, int]]:
    """Up to ``limit`` test images (seeded, shuffled) of the classes the card lists, labelled in the card's
    order."""
    d = dataset.split_dir("test")
    names = dataset.classes(d)
    out = [
        (s.path, card.classes.index(names[s.label]))
        for s in dataset.split("test")
        if names[s.label] in card.classes
    ]
    if not out:
        raise ValueError(f"no test images of the card's classes under {d}")
    # in seeded random order, so that any prefix (the check's n, the probe's probe_n) is a random subset
    # of every class, not the first classes' images
    return [out[i] for i in np.random.default_rng(seed).permutation(len(out))[:limit]]


def _top1(model: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=32, verbose=0)).argmax(-1)


def probe(model: Any, p: Pipeline, pixels: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Top-1 % of the Keras model under every preset its channel count allows (same loader and resize)."""
    out = {}
    for name in PRESETS:
        if p.channels == 1 and name in ("torch", "caffe"):
            continue
        out[name] = 100.0 * float(np.mean(_top1(model, keras_values(pixels, name)) == y))
    return out


def check(model: Any, card: Card, name: str, n: int = 128, probe_n: int = 96) -> Skew:
    """Both checks on the dataset's test images; ``ok`` is the gate."""
    from runtimes import preprocess

    p = card.pipeline
    sample = labelled(card, max(n, probe_n))
    pixels = np.stack([keras_pixels(path, p) for path, _ in sample])
    y = np.array([label for _, label in sample])
    ours = np.stack([preprocess.load_path(str(path), p) for path, _ in sample[:n]])
    theirs = keras_values(pixels[:n], p.preset)
    diff = np.abs(ours - theirs)
    worst = float(levels(ours, theirs, p).max())
    agree = 100.0 * float(np.mean(_top1(model, ours) == _top1(model, theirs)))
    scores = probe(model, p, pixels[:probe_n], y[:probe_n])
    declared = scores.get(p.preset, float("nan"))
    best = max(scores, key=lambda k: scores[k])
    msgs = []
    if worst > MAX_LEVELS:
        msgs.append(
            f"served tensors differ from Keras's by up to {worst:.2f} pixel levels (bound {MAX_LEVELS:g}), "
            f"top-1 agreement {agree:.1f} % (bound {MIN_AGREEMENT_PCT:g} %): check the loader, resize and "
            "aspect on the card"
        )
    elif agree < MIN_AGREEMENT_PCT:
        msgs.append(
            f"the pipeline matches Keras's to {worst:.2f} pixel levels (rounding), yet the model's top-1 "
            f"changes under it on {100 - agree:.1f} % of the images (bound {100 - MIN_AGREEMENT_PCT:g} %): "
            "served answers will differ from Keras's that often"
        )
    if scores[best] - declared >= PROBE_MARGIN_PCT:
        msgs.append(
            f"top-1 {declared:.0f} % as declared, {scores[best]:.0f} % with `{best}`: {_WHY[best]}; "
            f"use PREPROCESSING={best}"
        )
    return Skew(
        name, str(card.raw.get("source_sha256", "")), card.preprocessing, p.loader, p.resize, p.aspect,
        len(ours), float(diff.max()), worst, agree, declared, best, scores[best], min(probe_n, len(y)),
        not msgs, "; ".join(msgs) or "ok",
    )  # fmt: skip


def write(row: Skew, path: Path = SKEW_CSV) -> None:
    """Upsert the model's row (results/skew.csv: one row per model, columns = :class:`Skew`'s fields)."""
    names = [f.name for f in fields(Skew)]
    rows = []
    if path.is_file():
        with path.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("model") != row.model]
    rows.append({k: v for k, v in asdict(row).items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=names)
        w.writeheader()
        w.writerows(rows)


def failed(path: Path = SKEW_CSV) -> dict[str, str]:
    """model -> message for every model whose check failed (the winner's eligibility reads this)."""
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        return {r["model"]: r["message"] for r in csv.DictReader(f) if r.get("ok") != "True"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Train/serve skew check of a model against Keras's own pipeline."
    )
    ap.add_argument("--model", required=True, help="reference, xception, or a path to your .keras")
    ap.add_argument("--images", type=int, default=128, help="test images for served-vs-Keras")
    ap.add_argument("--probe", type=int, default=96, help="labelled images for the preset probe")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from models import registry

    spec = registry.resolve(args.model)
    card = read_card(spec.card_path)
    model = keras.models.load_model(str(spec.model_path), compile=False)
    row = check(model, card, spec.name, args.images, args.probe)
    write(row)
    print(
        f"{spec.name}: {row.images} images, max |dp| {row.max_abs_diff:.3g} ({row.max_levels:.2f} levels), "
        f"agreement {row.agreement_pct:.1f} %, top-1 {row.declared_top1_pct:.1f} % as declared "
        f"({row.preprocessing}); {'ok' if row.ok else 'FAILED: ' + row.message} -> {SKEW_CSV}"
    )
    return 0 if row.ok else 1


if __name__ == "__main__":
    sys.exit(main())
