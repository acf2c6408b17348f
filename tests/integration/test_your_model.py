"""Your own model, end to end in-process: `make card`'s detection, the served tensor against Keras's own
pipeline, and the handler's answer (decode worker + the tf runtime adapter) against the Keras model's.

Small generated models (weights=None, 32 px) of several keras.applications families, and models with
preprocessing layers, a non-square input, one channel, a dynamic shape, a Softmax layer and a sigmoid
head. Images are generated, PNG and JPEG: served pixels are Keras's own to float rounding (a colour PNG
served to one channel: within a level).

``make test`` runs one family per preset (VGG16 caffe, MobileNetV2 tf, DenseNet121 torch, MobileNetV3
raw) and every kind; ``YOUR_MODEL_FULL=1`` adds the heavier graphs of the same presets (ResNet50,
EfficientNetB0). scripts/measure_your_model.py runs the same kinds at real sizes through conversion and
the handler on the dataset's test images.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from core.card import read_card
from core.paths import ROOT
from models import card as cardlib
from models import skew
from runtimes import base, decode
from runtimes.limits import Limits


def _head(backbone: Any, act: str = "softmax", n: int = 3) -> Any:
    import keras

    inp = keras.Input(backbone.input_shape[1:])
    x = keras.layers.GlobalAveragePooling2D()(backbone(inp))
    return keras.Model(inp, keras.layers.Dense(n, activation=act)(x))


def _small(shape: tuple[Any, ...], first: list[Any], last: list[Any]) -> Any:
    import keras

    inp = keras.Input(shape)
    x = inp
    for layer in [*first, keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(), *last]:
        x = layer(x)
    return keras.Model(inp, x)


def _app(name: str, **kw: Any) -> Callable[[], Any]:
    """A keras.applications backbone (weights=None, 32 px) under a softmax head."""

    def build() -> Any:
        import keras

        backbone = getattr(keras.applications, name)(
            weights=None, include_top=False, input_shape=(32, 32, 3), **kw
        )
        return _head(backbone)

    return build


def _models() -> dict[str, tuple[Callable[[], Any], str, str, list[str]]]:
    """name -> (builder, preset expected, output expected, extra make-card args)."""
    import keras

    L = keras.layers
    norm = L.Normalization(mean=[120.0] * 3, variance=[900.0] * 3)
    declared = ["--preprocessing", "unit", "--input-px", "30x18"]
    return {
        "vgg16": (_app("VGG16"), "caffe", "probabilities", []),
        "resnet50": (_app("ResNet50"), "caffe", "probabilities", []),
        "mobilenet_v2": (_app("MobileNetV2", alpha=0.35), "tf", "probabilities", []),
        "densenet": (_app("DenseNet121"), "torch", "probabilities", []),
        "efficientnet": (_app("EfficientNetB0"), "raw", "probabilities", []),
        "mobilenet_v3": (_app("MobileNetV3Small"), "raw", "probabilities", []),
        "rescaling_gray_nonsquare_softmax_layer": (
            lambda: _small((24, 40, 1), [L.Rescaling(1 / 255)], [L.Dense(3), L.Softmax()]),
            "raw",
            "probabilities",
            [],
        ),
        "normalization_sigmoid": (
            lambda: _small((28, 20, 3), [norm], [L.Dense(3, activation="sigmoid")]),
            "raw",
            "sigmoid",
            [],
        ),
        "dynamic_declared_unit_logits": (
            lambda: _small((None, None, 3), [], [L.Dense(3)]),
            "unit",
            "logits",
            declared,
        ),
    }


#: One keras.applications family per preset and every kind; the heavier graphs with YOUR_MODEL_FULL=1.
NAMES = [
    "vgg16",
    "mobilenet_v2",
    "densenet",
    "mobilenet_v3",
    "rescaling_gray_nonsquare_softmax_layer",
    "normalization_sigmoid",
    "dynamic_declared_unit_logits",
]
FULL = ["resnet50", "efficientnet"] if os.environ.get("YOUR_MODEL_FULL") == "1" else []


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Generated photos-like images of several sizes and aspects, PNG and JPEG."""
    d = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(7)
    out = []
    for i, (w, h) in enumerate([(64, 48), (37, 90), (120, 120), (50, 33), (200, 75), (31, 31)]):
        yy, xx = np.mgrid[0:h, 0:w]
        smooth = np.stack([(xx * 3 + i * 20) % 256, (yy * 5) % 256, (xx + yy) % 256], -1)
        noisy = np.clip(smooth + rng.integers(-30, 30, smooth.shape), 0, 255).astype(np.uint8)
        path = d / f"img{i}.{'png' if i % 2 == 0 else 'jpg'}"
        Image.fromarray(noisy).save(path)
        out.append(path)
    return out


@pytest.mark.parametrize("name", NAMES + FULL)
def test_your_model_is_read_served_and_answered_as_keras_does(
    name: str, images: list[Path], tmp_path: Path
) -> None:
    import keras

    keras.utils.set_random_seed(0)
    build, preset, output, extra = _models()[name]
    model = build()
    path = tmp_path / f"{name}.keras"
    model.save(path)
    assert cardlib.main(["--model", str(path), "--classes", "a,b,c", *extra]) == 0
    raw = json.loads(path.with_name(f"{name}.card.json").read_text())
    card = read_card(path.with_name(f"{name}.card.json"))
    assert card.preprocessing == preset and card.output == output
    how, vs = raw["decided"], raw["pipeline_vs_keras"]
    assert how["preprocessing"].startswith("declared" if extra else "detected")
    # measured on the dataset's test images when there are some, else said so
    assert (vs["images"] > 0 and 0 <= vs["max_levels"] <= skew.MAX_LEVELS) or "not_measured" in vs
    assert how["output"].startswith("detected") and how["resize"].startswith("default")
    p = card.pipeline
    want_shape = tuple(int(v) for v in extra[-1].split("x")) if extra else tuple(model.inputs[0].shape[1:3])
    assert p.size == want_shape and p.channels == model.inputs[0].shape[-1]

    served = np.stack([decode.to_array(f.read_bytes(), Limits(), p).array for f in images])
    keras_x = np.stack([skew.keras_values(skew.keras_pixels(f, p), p.preset) for f in images])
    levels = np.abs(served - keras_x) * np.asarray(p.std, np.float32) * np.float32(p.divisor)
    png = [i for i, f in enumerate(images) if f.suffix == ".png"]
    # both loaders decode as Keras's do, JPEG included: float rounding only; a PNG to one channel is the
    # exception (TensorFlow converts with libpng, Pillow with its own rounding: a level apart)
    as_keras = [i for i, f in enumerate(images) if f.suffix == ".jpg" or p.channels == 3]
    assert float(levels[as_keras].max()) <= 1e-3
    assert float(levels.max()) <= skew.MAX_LEVELS

    adapter = base.get("tf")
    adapter.load(str(path), 1)
    answered = np.concatenate([np.asarray(adapter.predict(x[None]), np.float32) for x in served])
    # the Keras model called eagerly (as the tf adapter calls it): predict() would trace each graph first
    np.testing.assert_allclose(answered, np.asarray(model(served, training=False)), rtol=1e-4, atol=1e-5)
    exact = [i for i in png if float(levels[i].max()) <= 1e-3] or png
    expected = np.asarray(model(keras_x[exact], training=False), np.float32)
    assert np.array_equal(answered[exact].argmax(1), expected.argmax(1))
    tol = 1e-5 if p.channels == 3 else 1e-2  # one channel: within a pixel level of Keras's tensor
    np.testing.assert_allclose(answered[exact], expected, rtol=1e-4, atol=tol)


def test_an_undetectable_model_stops_with_one_line_naming_the_presets(tmp_path: Path) -> None:
    import keras

    path = tmp_path / "plain.keras"
    _small((32, 32, 3), [], [keras.layers.Dense(3)]).save(path)
    res = subprocess.run(
        [sys.executable, "-m", "models.card", "--model", str(path), "--classes", "a,b,c"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode != 0 and not path.with_name("plain.card.json").exists()
    line = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(line) == 1
    assert f"make card MODEL={path} PREPROCESSING=<preset>" in line[0]
    assert all(f"{k} = " in line[0] for k in ("tf", "torch", "caffe", "raw", "unit"))


@pytest.mark.skipif(
    not (ROOT / "models" / "reference" / "model.keras").is_file(), reason="the committed reference model"
)
def test_a_mis_declared_model_is_caught_and_the_right_preset_named(tmp_path: Path) -> None:
    """The reference's own layers behind a Rescaling (so they take raw pixels), carded as 'tf': the probe
    says 'raw'; carded as 'raw' it passes. Needs the dataset's labelled test images."""
    import keras

    if not skew.dataset.split_dir("test").is_dir():
        pytest.skip("no dataset test split (set DATASET or CLOTHING_DATASET)")
    ref = keras.models.load_model(ROOT / "models" / "reference" / "model.keras", compile=False)
    inp = keras.Input((128, 128, 3))
    wrapped = keras.Model(inp, ref(keras.layers.Rescaling(1 / 127.5, offset=-1)(inp)))
    base_card = json.loads((ROOT / "models" / "reference" / "card.json").read_text())
    results = {}
    for prep in ("tf", "raw"):
        path = tmp_path / f"{prep}.json"
        path.write_text(
            json.dumps(
                base_card | {"preprocessing": prep, "pipeline": {"loader": "load_img", "resize": "nearest"}}
            )
        )
        results[prep] = skew.check(wrapped, read_card(path), "wrapped", n=16, probe_n=48)
    assert not results["tf"].ok and "use PREPROCESSING=raw" in results["tf"].message
    assert results["raw"].ok and results["raw"].max_abs_diff == 0.0 and results["raw"].agreement_pct == 100.0
    out = tmp_path / "skew.csv"
    skew.write(results["tf"], out)
    assert skew.failed(out) == {"wrapped": results["tf"].message}
