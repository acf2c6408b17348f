"""Your own model, served end to end: models of each kind through the steps a user runs, answers compared.

    .venv/bin/python -m scripts.measure_your_model [--kinds a,b]   # -> results/your_model.csv

For each kind (keras.applications families of every preset, weights=None, trained briefly; the reference's
trained layers behind a Rescaling, behind a caffe-mode input, inside a one-channel non-square input ending
in a Softmax layer, behind a Normalization with a sigmoid head, inside a dynamic input declared 'tf'), it
builds the model file, then runs what the walk-through (docs/your-model.md) runs: ``make card``
(models.card), the skew check (models.skew), ``python -m models.convert`` (SavedModel + float32 TFLite),
then the handler itself (lambda_function, MODEL_RUNTIME=tflite on the converted artefact, image_b64 events)
on every test image of the dataset. Its answers are compared with the Keras model

* fed the tensor the handler built (``served``): the serving stack (conversion, runtime, handler) alone;
* fed Keras's own pipeline for the card (loader + resize + ``preprocess_input``, models/skew.py): what the
  model saw in training. Both loaders decode JPEG as Keras's do (``load_img``: Pillow on both sides;
  ``dataset``: TensorFlow's libjpeg settings, runtimes/tfjpeg.py), so the served tensor is Keras's own and
  this reads as the column before, to float rounding (the card's ``pipeline_vs_keras``: 0 levels);
* the same on lossless PNG copies of the test images (``_png`` columns): the pipeline on a second format.
  PNG colour to one channel is the one difference left: TensorFlow converts with libpng, Pillow with its
  own rounding (a level apart).

The keras.applications networks are trained briefly (3 epochs on 512 train images fed by Keras's own
pipeline for their card, then their BatchNorm statistics re-estimated, models/train.py): untrained, most
answered one class for every image, which makes agreement meaningless. The spread of their top-1 over the test
images (distinct classes answered, largest share) is recorded. Not a test: docs/your-model.md quotes the
CSV.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import importlib
import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.card import read_card
from core.paths import RESULTS_DIR, ROOT

OUT_CSV = RESULTS_DIR / "your_model.csv"
IMAGE_CSV = RESULTS_DIR / "your_model_image.csv"
DOC = ROOT / "docs" / "your-model.md"
BEGIN, END = "<!-- your-model:begin (results/your_model.csv) -->", "<!-- your-model:end -->"
SIZE = 96


def _head(backbone: Any, n: int, act: str = "softmax") -> Any:
    import keras

    inp = keras.Input(backbone.input_shape[1:])
    x = keras.layers.GlobalAveragePooling2D()(backbone(inp))
    return keras.Model(inp, keras.layers.Dense(n, activation=act)(x))


def _app(name: str, **kw: Any) -> Callable[[int], Any]:
    def build(n: int) -> Any:
        import keras

        app = getattr(keras.applications, name)
        return _head(app(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3), **kw), n)

    return build


def _reference() -> Any:
    import keras

    return keras.models.load_model(ROOT / "models" / "reference" / "model.keras", compile=False)


def _wrapped_raw(n: int) -> Any:
    """The reference's layers behind a Rescaling: it takes raw [0, 255] pixels (as EfficientNet does)."""
    import keras

    inp = keras.Input((128, 128, 3))
    return keras.Model(inp, _reference()(keras.layers.Rescaling(1 / 127.5, offset=-1)(inp)))


def _wrapped_caffe(n: int) -> Any:
    """The reference's layers expecting keras 'caffe' input (BGR, ImageNet mean subtracted), as ResNet50
    does: a Lambda-free layer stack undoes caffe's step, then the reference's 'tf' scaling."""
    import keras

    from core.pipeline import PRESETS

    mean_bgr = np.asarray(PRESETS["caffe"][2], np.float32)
    inp = keras.Input((128, 128, 3))
    # x_caffe = bgr - mean -> rgb = flip(x + mean); flip = a fixed 1x1 conv, then the reference's 'tf' scale
    x = keras.layers.Rescaling(1.0, offset=mean_bgr.tolist())(inp)
    flip = keras.layers.Conv2D(3, 1, use_bias=False, trainable=False)
    x = flip(x)
    flip.set_weights([np.eye(3, dtype=np.float32)[::-1].reshape(1, 1, 3, 3)])
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(x)
    return keras.Model(inp, _reference()(x), name="wrapped_caffe")


#: Kinds built from the reference's trained layers: not trained again.
TRAINED = (
    "wrapped_raw",
    "wrapped_caffe_declared",
    "gray_nonsquare_softmax_layer",
    "normalization_sigmoid",
    "dynamic_declared_tf",
)


def _train_briefly(path: Path, card: Any, epochs: int, n_images: int = 512) -> None:
    """Fit ``epochs`` on ``n_images`` seeded train images through Keras's own pipeline for the card, then
    re-estimate BatchNorm statistics (2 epochs leave them lagging: one answer for every image)."""
    import keras

    from models import dataset, skew
    from models.train import recalibrate_batchnorm

    samples = dataset.split("train")
    keep = np.random.default_rng(0).choice(len(samples), min(n_images, len(samples)), replace=False)
    picked = [samples[i] for i in sorted(keep)]
    p = card.pipeline
    x = np.stack([skew.keras_values(skew.keras_pixels(s.path, p), p.preset) for s in picked])
    y = np.array([s.label for s in picked])
    model = keras.models.load_model(path, compile=False)
    if card.output == "sigmoid":
        loss: Any = keras.losses.BinaryCrossentropy()
        target = np.eye(len(card.classes), dtype=np.float32)[y]
    else:
        loss, target = keras.losses.SparseCategoricalCrossentropy(from_logits=card.output == "logits"), y
    model.compile(keras.optimizers.Adam(1e-3), loss)
    model.fit(x, target, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
    recalibrate_batchnorm(model, x[:256], 32)
    model.save(path)


def _around_reference(shape: tuple[Any, ...], first: list[Any], last: list[Any]) -> Any:
    """The reference's trained layers inside another input (1 channel, non-square, dynamic): ``first``
    brings it to the reference's 'tf' scale and 3 channels, a Resizing layer to its 128 x 128."""
    import keras

    inp = keras.Input(shape)
    x = inp
    for layer in first:
        x = layer(x)
    if shape[-1] == 1:
        x = keras.layers.Concatenate()([x, x, x])
    # training=False on the call: with a Resizing in front, Keras exports the nested Dropout in training mode
    x = _reference()(keras.layers.Resizing(128, 128)(x), training=False)
    for layer in last:
        x = layer(x)
    return keras.Model(inp, x)


def kinds() -> dict[str, tuple[Callable[[int], Any], list[str]]]:
    """kind -> (builder taking the class count, extra models.card arguments)."""
    import keras

    L = keras.layers
    tf_scale = [L.Rescaling(1 / 127.5, offset=-1)]
    return {
        "resnet50": (_app("ResNet50"), []),
        "mobilenet_v2": (_app("MobileNetV2", alpha=0.35), []),
        "densenet121": (_app("DenseNet121"), []),
        "efficientnet_b0": (_app("EfficientNetB0"), []),
        "wrapped_raw": (_wrapped_raw, []),
        "wrapped_caffe_declared": (_wrapped_caffe, ["--preprocessing", "caffe"]),
        "gray_nonsquare_softmax_layer": (
            lambda n: _around_reference((96, 64, 1), tf_scale, [L.Softmax()]),
            [],
        ),
        "normalization_sigmoid": (
            lambda n: _around_reference(
                (80, 80, 3),
                [L.Normalization(mean=[127.5] * 3, variance=[127.5**2] * 3)],
                [L.Activation("sigmoid")],
            ),
            [],
        ),
        "dynamic_declared_tf": (
            lambda n: _around_reference((None, None, 3), [], []),
            ["--preprocessing", "tf", "--input-px", "72x96"],
        ),
    }


def _handler_answers(tflite: Path, card_path: Path, files: list[Path], classes: list[str]) -> np.ndarray:
    """lambda_function's answers (image_b64 direct invokes), scores in card order."""
    os.environ.update(MODEL_RUNTIME="tflite", MODEL_PATH=str(tflite), MODEL_CARD=str(card_path))
    import lambda_function

    handler = importlib.reload(lambda_function)  # a new sandbox: this model's card and artefact
    out = []
    with contextlib.redirect_stdout(io.StringIO()):  # the handler's one JSON log line per request
        for f in files:
            ans = handler.lambda_handler({"image_b64": base64.b64encode(f.read_bytes()).decode()}, None)
            out.append([ans[c] for c in classes])
    return np.asarray(out, np.float32)


def _probs(scores: np.ndarray, output: str) -> np.ndarray:
    if output != "logits":
        return scores
    e = np.exp(scores - scores.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _png_copies(files: list[Path], d: Path) -> list[Path]:
    """Each test image decoded once by Pillow and stored losslessly (build/, never committed)."""
    from PIL import Image

    d.mkdir(parents=True, exist_ok=True)
    out = []
    for i, f in enumerate(files):
        png = d / f"{i:04d}.png"
        if not png.is_file():
            with Image.open(f) as img:
                img.save(png)
        out.append(png)
    return out


def _compare(answered: np.ndarray, keras_out: np.ndarray, output: str) -> tuple[float, float]:
    """(top-1 agreement %, max |dp|) of the handler's answers against the Keras model's."""
    agree = 100 * float(np.mean(answered.argmax(1) == keras_out.argmax(1)))
    return round(agree, 2), float(np.abs(_probs(answered, output) - _probs(keras_out, output)).max())


def _against_keras(
    model: Any, card: Any, answered: np.ndarray, files: list[Path], pngs: list[Path]
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """The answers (test images, then their PNG copies) against the Keras model fed the tensor the handler
    built (``on_served``), Keras's own pipeline (``own_pipeline``) and the same on the PNG copies
    (``own_pipeline_png``): (top-1 agreement and max |dp| columns, the served tensors, Keras's tensors)."""
    from models import skew
    from runtimes import preprocess

    p, k = card.pipeline, len(files)
    served = np.stack([preprocess.load_path(str(f), p) for f in files])
    theirs = np.stack([skew.keras_values(skew.keras_pixels(f, p), p.preset) for f in files + pngs])
    on_served = np.asarray(model.predict(served, batch_size=32, verbose=0), np.float32)
    on_theirs = np.asarray(model.predict(theirs, batch_size=32, verbose=0), np.float32)
    pairs = {
        "on_served": (answered[:k], on_served),
        "own_pipeline": (answered[:k], on_theirs[:k]),
        "own_pipeline_png": (answered[k:], on_theirs[k:]),
    }
    cols: dict[str, Any] = {}
    for name, (ours, keras_out) in pairs.items():
        cols[f"agree_vs_keras_{name}_pct"], cols[f"max_dp_vs_keras_{name}"] = _compare(
            ours, keras_out, card.output
        )
    return cols, served, theirs


def measure(kind: str, out_dir: Path, files: list[Path], pngs: list[Path], n: int) -> dict[str, Any]:
    import keras

    from models import card as cardlib
    from models import convert, registry, skew

    build, extra = kinds()[kind]
    keras.utils.set_random_seed(0)
    path = out_dir / f"{kind}.keras"
    build(n).save(path)
    t0 = time.time()
    card_path = path.with_name(f"{kind}.card.json")

    def make_card() -> Any:
        if cardlib.main(["--model", str(path), *extra]) != 0:
            raise SystemExit(f"{kind}: make card failed")
        return read_card(card_path)

    card = make_card()
    if kind not in TRAINED:
        _train_briefly(path, card, epochs=3)
        card = make_card()  # the card describes the trained file (its source hash)
    model = keras.models.load_model(path, compile=False)
    sk = skew.check(model, card, card.raw["name"])
    convert.convert(str(path), None, ["savedmodel", "float32.tflite"], spread=False)
    name = registry.resolve(str(path)).name
    tflite = ROOT / "build" / "models" / name / "float32.tflite"
    p = card.pipeline
    answered = _handler_answers(tflite, card_path, files + pngs, list(card.classes))
    agree, served, theirs = _against_keras(model, card, answered, files, pngs)
    k = len(files)
    top = answered[:k].argmax(1)
    return {
        "kind": kind,
        "model": name,
        "input": "x".join(str(v) for v in p.shape),
        "preprocessing": card.preprocessing,
        "preprocessing_decided": card.raw["decided"]["preprocessing"].split(":")[0].split(" (")[0],
        "loader": p.loader,
        "resize": p.resize,
        "output": card.output,
        "card_max_levels": card.raw["pipeline_vs_keras"].get("max_levels"),
        "skew_ok": sk.ok,
        "skew_declared_top1_pct": round(sk.declared_top1_pct, 1),
        "skew_best": f"{sk.best_preset} {sk.best_top1_pct:.1f} %",
        "images": len(files),
        "classes_answered": len(set(top.tolist())),
        "largest_class_share_pct": round(100 * float(np.bincount(top).max()) / len(top), 1),
        **{c: agree[c] for c in list(agree)[:4]},  # served and own pipeline, then the levels, then PNG
        "max_levels_served_vs_keras": round(float(skew.levels(served, theirs[:k], p).max()), 3),
        **{c: agree[c] for c in list(agree)[4:]},
        "wall_s": round(time.time() - t0, 1),
    }


def _image_answers(tag: str, files: list[Path], classes: list[str]) -> tuple[np.ndarray, str]:
    """The built image started by the benchmark's container target (its Lambda emulator on 127.0.0.1, 1024
    MB), one image_b64 invoke per file."""
    from bench.measure.targets.base import Launch
    from bench.measure.targets.container import ContainerTarget, event_for

    out, sha = [], ""
    target = ContainerTarget("your-model", http_timeout_s=120, start_timeout_s=120)
    with target.start(Launch(tag, 1024, 1.0)) as em:
        for f in files:
            ans = em.invoke(event_for(f.read_bytes()))
            if not ans.ok or ans.predictions is None:
                raise SystemExit(f"{tag}: {f.name}: {ans.error_type} {ans.body}")
            out.append([ans.predictions[c] for c in classes])
            sha = str(ans.meta.get("model_sha256", ""))
    return np.asarray(out, np.float32), sha


def measure_image(kind: str, tag: str, out_dir: Path, files: list[Path], pngs: list[Path]) -> dict[str, Any]:
    """The kind's built image (``make build IMAGE=tflite MODEL=<its .keras> VARIANT=float32``) answering
    the test images, against the Keras model as in :func:`measure`."""
    import keras

    path = out_dir / f"{kind}.keras"
    card = read_card(path.with_name(f"{kind}.card.json"))
    answered, sha = _image_answers(tag, files + pngs, list(card.classes))
    model = keras.models.load_model(path, compile=False)
    agree, _, _ = _against_keras(model, card, answered, files, pngs)
    return {"kind": kind, "image": tag, "model_sha256": sha, "images": len(files), **agree}


def write(rows: list[dict[str, Any]], path: Path = OUT_CSV) -> None:
    old = []
    if path.is_file():
        with path.open(newline="") as f:
            old = [r for r in csv.DictReader(f) if r["kind"] not in {row["kind"] for row in rows}]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows([*old, *rows])


def table(path: Path = OUT_CSV) -> str:
    """docs/your-model.md's block, from the CSV."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    head = (
        "| kind | input | card: preprocessing (how), resize, output | pixel levels vs Keras (card) "
        "| skew check | classes answered (largest share) "
        "| vs Keras on the served tensor: top-1 agree, max abs dp | vs Keras's own pipeline, JPEG "
        "| same, PNG copies |\n| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: |\n"
    )
    lines = [
        f"| {r['kind']} | {r['input']} | `{r['preprocessing']}` ({r['preprocessing_decided']}), "
        f"{r['loader']} {r['resize']}, {r['output']} | {float(r['card_max_levels'] or 'nan'):g} "
        f"| {'ok' if r['skew_ok'] == 'True' else 'FAILED'} ({r['skew_declared_top1_pct']} % as carded, "
        f"best {r['skew_best']}) | {r['classes_answered']} ({r['largest_class_share_pct']} %) "
        f"| {float(r['agree_vs_keras_on_served_pct']):.2f} %, {float(r['max_dp_vs_keras_on_served']):.1e} "
        f"| {float(r['agree_vs_keras_own_pipeline_pct']):.2f} %, "
        f"{float(r['max_dp_vs_keras_own_pipeline']):.1e} "
        f"| {float(r['agree_vs_keras_own_pipeline_png_pct']):.2f} %, "
        f"{float(r['max_dp_vs_keras_own_pipeline_png']):.1e} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def image_table(path: Path = IMAGE_CSV) -> str:
    """The built images' rows: the same comparisons, the answers coming from the container."""
    if not path.is_file():
        return ""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    head = (
        "\nThrough the built image (Lambda emulator, `image_b64` invokes):\n\n"
        "| kind | image | test images | vs Keras on the served tensor | vs Keras's own pipeline, JPEG "
        "| same, PNG copies |\n| --- | --- | ---: | ---: | ---: | ---: |\n"
    )
    lines = [
        f"| {r['kind']} | `{r['image']}` | {r['images']} "
        + " ".join(
            f"| {float(r[f'agree_vs_keras_{c}_pct']):.2f} %, {float(r[f'max_dp_vs_keras_{c}']):.1e}"
            for c in ("on_served", "own_pipeline", "own_pipeline_png")
        )
        + " |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def with_table(doc: str) -> str:
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    return doc[:start] + "\n\n" + table() + image_table() + "\n" + doc[end:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default=None, help="comma-separated subset (default: every kind)")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "your-model")
    ap.add_argument(
        "--image",
        default=None,
        help="KIND=TAG: that kind's built image answers (make build IMAGE=tflite MODEL=... VARIANT=float32)",
    )
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from models import dataset

    samples = dataset.split("test")
    files, n = [s.path for s in samples], len(dataset.classes(dataset.split_dir("test")))
    args.out.mkdir(parents=True, exist_ok=True)
    pngs = _png_copies(files, args.out / "png")
    if args.image:
        kind, _, tag = args.image.partition("=")
        row = measure_image(kind, tag, args.out, files, pngs)
        print(row, flush=True)
        write([row], IMAGE_CSV)
        DOC.write_text(with_table(DOC.read_text()))
        return 0
    rows = []
    for kind in args.kinds.split(",") if args.kinds else list(kinds()):
        rows.append(measure(kind, args.out, files, pngs, n))
        print(rows[-1], flush=True)
        write(rows[-1:])
        DOC.write_text(with_table(DOC.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
