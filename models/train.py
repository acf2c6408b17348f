"""Train the committed reference classifier from scratch (ImageNet weights cannot be downloaded here).

A small separable-conv residual CNN (Xception-style, ~0.5M parameters) at 128x128, with
flip/rotate/zoom/translate augmentation, AdamW + cosine decay. Seeded and op-deterministic,
so ``make train`` reproduces the committed model on the same library versions and CPU.
Also trains the seed-scale Xception briefly (``--arch xception``) so its outputs are not degenerate.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.pipeline import Pipeline, coerce
from core.settings import read
from models import dataset
from runtimes import preprocess


def load_split(
    name: str, size: Pipeline | tuple[int, int], limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Decode a split once into memory, through the same code the Lambda handler uses (a card's pipeline,
    or a bare (height, width): the reference's own)."""
    samples = dataset.split(name)
    if limit:
        rng = np.random.default_rng(0)
        samples = [samples[i] for i in sorted(rng.choice(len(samples), limit, replace=False))]
    x = np.empty((len(samples), *coerce(size).shape), np.float32)
    y = np.empty(len(samples), np.int64)
    t0 = time.time()
    for i, s in enumerate(samples):
        x[i] = preprocess.load_path(str(s.path), size)
        y[i] = s.label
        if (i + 1) % 500 == 0:
            print(f"  {name}: decoded {i + 1}/{len(samples)} ({time.time() - t0:.0f} s)", flush=True)
    return x, y


def reference_model(size: tuple[int, int], n_classes: int):
    import keras
    from keras import layers

    inp = keras.Input((*size, 3), name="input")
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False)(inp)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Conv2D(48, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    prev = x
    for filters in (96, 192, 384):
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        res = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(prev)
        x = layers.add([x, res])
        prev = x
    x = layers.SeparableConv2D(512, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    out = layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inp, out, name="clothing_reference")


def xception_model(size: tuple[int, int], n_classes: int):
    """The seed's architecture: Xception(weights=None) -> GAP -> dense(100) -> dense(10)."""
    import keras

    base = keras.applications.Xception(weights=None, include_top=False, input_shape=(None, None, 3))
    inp = keras.Input((None, None, 3), name="input")
    x = base(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(100, activation="relu")(x)
    x = keras.layers.Dropout(0.2)(x)
    out = keras.layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inp, out, name="clothing_xception")


def augmenter(seed: int):
    import keras
    from keras import layers

    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.08, fill_mode="nearest", seed=seed + 1),
            layers.RandomZoom((-0.15, 0.15), fill_mode="nearest", seed=seed + 2),
            layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed + 3),
        ],
        name="augment",
    )


def recalibrate_batchnorm(model: Any, x: np.ndarray, batch: int) -> float:
    """Replace every BatchNorm layer's moving mean/variance by their average over ``x`` (forward passes in
    training mode, no weight update). Why: a from-scratch Xception trained for 2 epochs keeps moving
    statistics that lag its weights (momentum 0.99 over 64 steps), so in inference mode it answered one
    class for every image (validation 23.8 %, logit std 0). Re-estimated on 640 train images (55 s here) it
    answered 5 classes, validation 28.7 %. Returns the seconds spent."""
    import keras

    t0 = time.time()
    bns = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in bns]
    for k, i in enumerate(range(0, len(x), batch)):
        for layer in bns:
            layer.momentum = k / (k + 1)  # a running mean over batches, the first one replacing the old stats
        model(x[i : i + batch], training=True)
    for layer, m in zip(bns, saved, strict=True):
        layer.momentum = m
    print(f"BatchNorm statistics re-estimated on {len(x)} images ({len(bns)} layers)", flush=True)
    return round(time.time() - t0, 1)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--arch", choices=["reference", "xception"], default="reference")
    ap.add_argument("--out", type=Path, required=True, help="output .keras file")
    ap.add_argument("--size", type=int, default=128, help="training input size (px)")
    ap.add_argument("--serve-size", type=int, default=None, help="input size the card declares for serving")
    ap.add_argument("--epochs", type=int, default=read("TRAIN_EPOCHS", 20))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--train-limit", type=int, default=None, help="train on a seeded subset")
    ap.add_argument(
        "--eval-train-limit", type=int, default=None, help="score train top-1 on a seeded subset (big models)"
    )
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--bn-recalibrate",
        type=int,
        default=0,
        help="after fit, re-estimate BatchNorm statistics on this many train images (0 = off)",
    )
    return ap


def _dataset(args: argparse.Namespace, xtr: np.ndarray, ytr: np.ndarray) -> Any:
    """Shuffled, augmented, batched train set: seeded and single-threaded so a re-run is identical."""
    import tensorflow as tf

    aug = augmenter(args.seed)
    return (
        tf.data.Dataset.from_tensor_slices((xtr, ytr))
        .shuffle(len(xtr), seed=args.seed, reshuffle_each_iteration=True)
        .batch(args.batch)
        .map(lambda x, y: (aug(x, training=True), y), num_parallel_calls=1, deterministic=True)
        .prefetch(2)
    )


def _compiled(args: argparse.Namespace, size: tuple[int, int], n_train: int) -> Any:
    import keras

    model = (reference_model if args.arch == "reference" else xception_model)(size, len(dataset.CLASSES))
    steps = args.epochs * int(np.ceil(n_train / args.batch))
    sched = keras.optimizers.schedules.CosineDecay(args.lr, steps, warmup_target=None)
    model.compile(
        optimizer=keras.optimizers.AdamW(sched, weight_decay=1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _fit(args: argparse.Namespace, model: Any, ds: Any, xva: np.ndarray, yva: np.ndarray, xtr: np.ndarray):
    """Fit, keep the best epoch (validation top-1), optionally re-estimate BatchNorm; saved to args.out.
    Returns (best model, history, fit seconds, re-estimation seconds or None)."""
    import keras

    args.out.parent.mkdir(parents=True, exist_ok=True)
    ckpt = args.out.with_suffix(".best.keras")
    t_fit = time.time()
    hist = model.fit(
        ds,
        validation_data=(xva, yva),
        epochs=args.epochs,
        verbose=2,
        callbacks=[keras.callbacks.ModelCheckpoint(str(ckpt), monitor="val_accuracy", save_best_only=True)],
    )
    fit_s = time.time() - t_fit
    best = keras.models.load_model(ckpt)
    recal_s = None
    if args.bn_recalibrate:
        recal_s = recalibrate_batchnorm(best, xtr[: args.bn_recalibrate], args.batch)
        best.save(args.out)
        ckpt.unlink()
    else:
        ckpt.replace(args.out)
    return best, hist, fit_s, recal_s


def _scores(best: Any, serve: int, eval_train_limit: int | None) -> dict[str, float]:
    def acc(split_name: str, limit: int | None = None) -> float:
        x, y = load_split(split_name, (serve, serve), limit)
        pred = np.argmax(best.predict(x, batch_size=32, verbose=0), axis=1)
        return float(np.mean(pred == y))

    return {
        "train_top1": acc("train", eval_train_limit),
        "validation_top1": acc("validation"),
        "test_top1": acc("test"),
    }


def _train_meta(
    args: argparse.Namespace, best: Any, hist: Any, serve: int, **measured: Any
) -> dict[str, Any]:
    import keras
    import tensorflow as tf

    return {
        "arch": args.arch,
        "parameters": int(best.count_params()),
        "train_input_px": args.size,
        "input_px": serve,
        "epochs": args.epochs,
        "best_epoch": int(np.argmax(hist.history["val_accuracy"]) + 1),
        "batch": args.batch,
        "lr": args.lr,
        "seed": args.seed,
        "train_limit": args.train_limit,
        "eval_train_limit": args.eval_train_limit,
        "train_wall_s": round(measured["fit_s"], 1),
        "bn_recalibrate_images": args.bn_recalibrate,
        "bn_recalibrate_s": measured["recal_s"],
        "history_val_accuracy": [round(v, 4) for v in hist.history["val_accuracy"]],
        **{k: round(v, 4) for k, v in measured["metrics"].items()},
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "pillow": __import__("PIL").__version__,
        },
        "cpu": platform.processor() or platform.machine(),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    size = (args.size, args.size)
    serve = args.serve_size or args.size

    t_start = time.time()
    xtr, ytr = load_split("train", size, args.train_limit)
    xva, yva = load_split("validation", size)
    print(f"decoded train {xtr.shape} val {xva.shape} in {time.time() - t_start:.0f} s", flush=True)
    model = _compiled(args, size, len(xtr))
    print(f"{model.name}: {model.count_params():,} parameters, {args.epochs} epochs", flush=True)
    best, hist, fit_s, recal_s = _fit(args, model, _dataset(args, xtr, ytr), xva, yva, xtr)
    del xtr
    metrics = _scores(best, serve, args.eval_train_limit)
    meta = _train_meta(args, best, hist, serve, fit_s=fit_s, recal_s=recal_s, metrics=metrics)
    args.out.with_suffix(".train.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(metrics), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
