"""The card's pipeline (core/pipeline.py) as runtimes/preprocess.py runs it, against TensorFlow and Keras.

Generated structure: random images (size, mode, format) and random pipelines (preset, channels, loader,
resize, aspect, non-square sizes). What is compared is what Keras computes itself: tf.image.resize for
the ``dataset`` loader's kernels, ``preprocess_input`` for the values, and the handler's validated path
(``decode.to_array``, the sandboxed worker) against ``load_bytes`` for every pipeline.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core import pipeline
from core.card import CardError, read_card
from core.paths import ROOT
from runtimes import decode, preprocess
from runtimes.limits import Limits

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _image(seed: int, w: int, h: int, mode: str) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h, w, 3), np.uint8)
    return Image.fromarray(base).convert(mode)


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


pipelines = st.builds(
    lambda name, hw, channels, loader, resize, aspect: pipeline.preset(
        name, hw, channels=channels if name in ("tf", "raw", "unit") else 3, loader=loader, resize=resize,
        aspect="stretch" if (aspect == "pad" and loader == "load_img") else aspect,
    ),
    st.sampled_from(["tf", "raw", "unit"]) | st.sampled_from(["torch", "caffe"]),
    st.tuples(st.integers(1, 48), st.integers(1, 48)),
    st.sampled_from([1, 3]),
    st.sampled_from(pipeline.LOADERS),
    st.sampled_from(["nearest", "bilinear", "bicubic"]),
    st.sampled_from(pipeline.ASPECTS),
)  # fmt: skip


@SETTINGS
@given(
    seed=st.integers(0, 2**16),
    wh=st.tuples(st.integers(1, 90), st.integers(1, 90)),
    hw=st.tuples(st.integers(1, 60), st.integers(1, 60)),
    method=st.sampled_from(pipeline.RESIZES),
)
def test_dataset_resize_is_tf_image_resize(
    seed: int, wh: tuple[int, int], hw: tuple[int, int], method: str
) -> None:
    """The numpy kernels against tf.image.resize(antialias=False): nearest and bilinear to the bit,
    bicubic and area to float rounding (values in [0, 255])."""
    import tensorflow as tf

    a = np.asarray(_image(seed, *wh, "RGB"))
    want = tf.image.resize(tf.convert_to_tensor(a), hw, method=method).numpy()
    got = preprocess._tf_resize(a, hw, method)
    assert got.shape == want.shape and got.dtype == np.float32
    tol = 0.0 if method in ("nearest", "bilinear") else 0.05
    assert float(np.abs(got - want).max()) <= tol


@SETTINGS
@given(
    seed=st.integers(0, 2**16),
    wh=st.tuples(st.integers(1, 90), st.integers(1, 90)),
    hw=st.tuples(st.integers(1, 60), st.integers(1, 60)),
    method=st.sampled_from(["nearest", "bilinear", "bicubic"]),
    crop=st.booleans(),
)
def test_load_img_pixels_are_keras_load_img(
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    wh: tuple[int, int],
    hw: tuple[int, int],
    method: str,
    crop: bool,
) -> None:
    """A load_img pipeline's pixels are keras.utils.load_img's, crop-to-aspect (keep_aspect_ratio)
    included: Keras resizes the crop box out of the whole image, which for bilinear and bicubic is not
    the same as cropping first (lossless PNG, so only the resize is compared)."""
    import keras

    path = tmp_path_factory.mktemp("img") / "x.png"
    _image(seed, *wh, "RGB").save(path)
    want = keras.utils.img_to_array(
        keras.utils.load_img(path, target_size=hw, interpolation=method, keep_aspect_ratio=crop)
    )
    p = pipeline.preset("raw", hw, loader="load_img", resize=method, aspect="crop" if crop else "stretch")
    got = preprocess.load_path(str(path), p)
    assert got.shape == want.shape
    assert float(np.abs(got - want).max()) == 0.0


@SETTINGS
@given(seed=st.integers(0, 2**16), wh=st.tuples(st.integers(1, 80), st.integers(1, 80)), p=pipelines)
def test_values_and_colour_are_keras_preprocess_input(
    seed: int, wh: tuple[int, int], p: pipeline.Pipeline
) -> None:
    """After the resize, the values are preprocess_input's for the preset (RGB->BGR for caffe)."""
    from keras.applications import imagenet_utils

    img = _image(seed, *wh, "L" if p.channels == 1 else "RGB")
    x = preprocess.prepare(img, p)
    assert x.shape == p.shape and x.dtype == np.float32
    raw = preprocess.prepare(
        img, p._replace(colour="RGB", divisor=1.0, mean=(0.0,), std=(1.0,), preset="raw")
    )
    if p.preset in ("tf", "torch", "caffe"):
        want = imagenet_utils.preprocess_input(raw.copy(), mode=p.preset)
    else:
        want = raw / np.float32(255) if p.preset == "unit" else raw
    np.testing.assert_allclose(x, want, rtol=0, atol=1e-5)


@SETTINGS
@given(
    seed=st.integers(0, 2**16),
    wh=st.tuples(st.integers(1, 120), st.integers(1, 120)),
    fmt=st.sampled_from(["PNG", "JPEG"]),
    mode=st.sampled_from(["RGB", "L", "RGBA", "P"]),
    p=pipelines,
)
def test_the_handler_builds_what_load_bytes_builds(
    seed: int, wh: tuple[int, int], fmt: str, mode: str, p: pipeline.Pipeline
) -> None:
    """The sandboxed worker path (a pipeline crossing its JSON head) gives the same tensor, bit for bit."""
    img = _image(seed, *wh, mode)
    data = _encode(img.convert("RGB") if fmt == "JPEG" else img, fmt)
    served = decode.to_array(data, Limits(), p).array  # as the handler passes card.pipeline
    assert served.shape == p.shape
    assert np.array_equal(served, preprocess.load_bytes(data, p))


@SETTINGS
@given(p=pipelines)
def test_a_pipeline_crosses_json_as_itself(p: pipeline.Pipeline) -> None:
    """The decode worker's head carries the pipeline as a JSON list: it comes back equal, field types kept."""
    back = pipeline.coerce(json.loads(json.dumps(p)))
    assert back == p and [type(v) for v in back] == [type(v) for v in p]


@SETTINGS
@given(
    seed=st.integers(0, 2**16),
    wh=st.tuples(st.integers(8, 96), st.integers(8, 96)),
    quality=st.integers(40, 100),
    subsampling=st.sampled_from([0, 1, 2]),
)
def test_a_one_channel_model_gets_the_jpeg_decoders_own_grayscale(
    seed: int, wh: tuple[int, int], quality: int, subsampling: int
) -> None:
    """A colour JPEG for a one-channel ``dataset`` pipeline is the decoder's luma, as
    tf.io.decode_image(channels=1) gives it (to the bit: runtimes/tfjpeg.py decodes with TensorFlow's fast
    IDCT), through load_bytes and the handler's worker; a ``load_img`` pipeline is keras.utils.load_img's
    grayscale (RGB decoded, then Pillow's convert("L"))."""
    import keras
    import tensorflow as tf

    buf = io.BytesIO()
    _image(seed, *wh, "RGB").save(buf, "JPEG", quality=quality, subsampling=subsampling)
    data = buf.getvalue()
    p = pipeline.preset("raw", (wh[1], wh[0]), channels=1, resize="nearest")
    want = tf.io.decode_image(data, channels=1, expand_animations=False).numpy().astype(np.float32)
    assert np.array_equal(preprocess.load_bytes(data, p), want)
    assert np.array_equal(decode.to_array(data, Limits(), p).array, want)
    p = p._replace(loader="load_img")
    img = keras.utils.load_img(io.BytesIO(data), color_mode="grayscale")
    assert np.array_equal(preprocess.load_bytes(data, p), keras.utils.img_to_array(img))


@SETTINGS
@given(
    seed=st.integers(0, 2**16), wh=st.tuples(st.integers(1, 90), st.integers(1, 90)), side=st.integers(1, 64)
)
def test_the_first_id_is_unchanged_to_the_bit(seed: int, wh: tuple[int, int], side: int) -> None:
    """``xception-tf-nearest`` (and a bare size) = load_img nearest + x / 127.5 - 1, as before."""
    img = _image(seed, *wh, "RGB")
    old = preprocess.scale(np.asarray(preprocess.to_rgb_resized(img, (side, side)), np.float32))
    for spec in ((side, side), pipeline.preset(pipeline.LEGACY_ID, (side, side))):
        assert preprocess.prepare(img, spec).tobytes() == old.tobytes()


def test_the_reference_card_reads_as_before() -> None:
    card = read_card(ROOT / "models" / "reference" / "card.json")
    assert card.preprocessing == pipeline.LEGACY_ID and card.size == (128, 128)
    p = card.pipeline
    assert (p.loader, p.resize, p.colour, p.channels, p.divisor, p.mean, p.std) == (
        "load_img", "nearest", "RGB", 3, 127.5, (1.0,), (1.0,),
    )  # fmt: skip


@pytest.mark.parametrize(
    "bad",
    [
        {"pipeline": {"channels": 4}},
        {"pipeline": {"resize": "lanczos"}},
        {"pipeline": {"loader": "load_img", "aspect": "pad"}},
        {"pipeline": {"std": [0, 1, 1]}},
        {"pipeline": {"mean": [1, 2]}},
        {"pipeline": {"gamma": 2}},
        {"preprocessing": "inception"},
        {"output": "softmax"},
    ],
)
def test_a_card_whose_pipeline_cannot_run_is_refused(bad: dict[str, object], tmp_path: Path) -> None:
    raw = json.loads((ROOT / "models" / "reference" / "card.json").read_text())
    path = tmp_path / "card.json"
    path.write_text(json.dumps(raw | {"preprocessing": "tf"} | bad))
    with pytest.raises(CardError, match=str(path)):
        read_card(path)


def test_non_square_size_and_sigmoid_output_are_read(tmp_path: Path) -> None:
    raw = json.loads((ROOT / "models" / "reference" / "card.json").read_text())
    path = tmp_path / "card.json"
    path.write_text(json.dumps(raw | {"input_px": [96, 64], "preprocessing": "caffe", "output": "sigmoid"}))
    card = read_card(path)
    assert card.pipeline.shape == (96, 64, 3) and card.pipeline.colour == "BGR" and card.output == "sigmoid"
