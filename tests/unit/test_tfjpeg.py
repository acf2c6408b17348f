"""JPEG decoding per loader (runtimes/tfjpeg.py, runtimes/preprocess.py): a ``dataset`` pipeline gets the
pixels tf.io.decode_image gives image_dataset_from_directory, a ``load_img`` pipeline Pillow's, as before.

Generated structure: JPEGs of random size, content, quality, chroma subsampling, progressive or baseline,
restart intervals, colour, grayscale or CMYK; each decoded through ``load_bytes`` and through the
handler's sandboxed worker (``decode.to_array``) at the image's own size (nearest, raw values: the
decoded pixels themselves) and compared with TensorFlow's decode, to the bit.
"""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from core import pipeline
from runtimes import decode, preprocess, sandbox, tfjpeg
from runtimes.handler_errors import BadInput, TruncatedImage
from runtimes.limits import Limits

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def jpegs(draw: st.DrawFn, modes: tuple[str, ...] = ("RGB", "L", "CMYK")) -> bytes:
    """A JPEG as cameras and editors write them: smooth content plus noise, any size, any settings."""
    w, h = draw(st.integers(1, 72)), draw(st.integers(1, 72))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    coarse = Image.fromarray(rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), np.uint8))
    smooth = np.asarray(coarse.resize((w, h), Image.Resampling.BICUBIC), np.int16)
    noisy = np.clip(smooth + rng.integers(-24, 25, (h, w, 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(noisy).convert(draw(st.sampled_from(modes)))
    opts = {
        "quality": draw(st.integers(30, 100)),
        "subsampling": draw(st.sampled_from([0, 1, 2])),
        "progressive": draw(st.booleans()),
        "restart_marker_blocks": draw(st.sampled_from([0, 1, 5])),
    }
    buf = io.BytesIO()
    ImageFile.MAXBLOCK = max(ImageFile.MAXBLOCK, 1 << 20)  # room for progressive scans of noisy images
    img.save(buf, "JPEG", **opts)
    return buf.getvalue()


def _native(data: bytes, channels: int, loader: str = "dataset") -> pipeline.Pipeline:
    """The pipeline that returns the decoded pixels themselves: the image's size, nearest, raw values."""
    with Image.open(io.BytesIO(data)) as img:
        w, h = img.size
    return pipeline.preset("raw", (h, w), channels=channels, loader=loader, resize="nearest")


def _pillow(data: bytes, channels: int) -> np.ndarray:
    """Pillow's decode, as the served pixels were before (and stay for ``load_img``)."""
    with Image.open(io.BytesIO(data)) as img:
        if channels == 1 and img.mode == "RGB":
            img.draft("L", None)  # the decoder's own luma, as before
        out = img.convert("L" if channels == 1 else "RGB")
        return np.asarray(out, np.float32).reshape(out.height, out.width, channels)


def _turbojpeg_layout(data: bytes) -> bool:
    """Whether TurboJPEG (simplejpeg) classifies the file's component layout (Pillow writes CMYK with its
    first component alone subsampled, which it does not)."""
    import simplejpeg

    try:
        simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return False
    return True


@SETTINGS
@given(data=jpegs(), channels=st.sampled_from([1, 3]))
def test_a_dataset_pipeline_decodes_a_jpeg_as_tensorflow(data: bytes, channels: int) -> None:
    """``load_bytes`` and the handler's worker give tf.io.decode_image(channels=...)'s pixels, bit for bit
    (Pillow's accurate IDCT is off by up to 21 levels on such images). Pillow still
    decodes what simplejpeg cannot give TensorFlow's pixels for: a CMYK JPEG for one channel (TensorFlow
    refuses it) and a component layout TurboJPEG does not classify."""
    import tensorflow as tf

    with Image.open(io.BytesIO(data)) as img:
        cmyk = img.mode == "CMYK"
    p = _native(data, channels)
    served = decode.to_array(data, Limits(), p).array
    assert np.array_equal(preprocess.load_bytes(data, p), served)
    if cmyk and channels == 1:
        with pytest.raises(tf.errors.InvalidArgumentError):
            tf.io.decode_image(data, channels=1, expand_animations=False)
    if (cmyk and channels == 1) or not _turbojpeg_layout(data):
        assert np.array_equal(served, _pillow(data, channels))
        return
    want = tf.io.decode_image(data, channels=channels, expand_animations=False).numpy().astype(np.float32)
    assert np.array_equal(served, want)


@SETTINGS
@given(data=jpegs(), channels=st.sampled_from([1, 3]), side=st.integers(1, 48))
def test_a_load_img_pipeline_still_decodes_with_pillow(data: bytes, channels: int, side: int) -> None:
    """``load_img`` pipelines are keras.utils.load_img's: Pillow decodes, converts and resizes, as before;
    the first cards' bare size is load_img nearest + x / 127.5 - 1, unchanged to the bit."""
    with Image.open(io.BytesIO(data)) as img:
        pillow = np.asarray(img.convert("L" if channels == 1 else "RGB"), np.float32)
    p = _native(data, channels, loader="load_img")
    assert np.array_equal(preprocess.load_bytes(data, p), pillow.reshape(p.shape))
    with Image.open(io.BytesIO(data)) as img:
        old = preprocess.scale(np.asarray(preprocess.to_rgb_resized(img, (side, side)), np.float32))
    assert preprocess.load_bytes(data, (side, side)).tobytes() == old.tobytes()
    assert decode.to_array(data, Limits(), (side, side)).array.tobytes() == old.tobytes()


@SETTINGS
@given(data=jpegs(modes=("RGB",)), cut=st.floats(0.3, 0.9))
def test_a_truncated_jpeg_is_refused_as_tensorflow_refuses_it(data: bytes, cut: float) -> None:
    """Data that ends inside the scan: TensorFlow's decode fails, the handler answers TruncatedImage (a
    typed 422), never a crash or a guessed image."""
    import tensorflow as tf

    short = data[: max(len(data) - 2, int(len(data) * cut))]
    if len(short) < 200:  # the cut fell in the header: Pillow refuses it before any decoder runs
        short = data[:-40]
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.io.decode_image(short, channels=3, expand_animations=False)
    with pytest.raises(BadInput):
        decode.to_array(short, Limits(), _native(data, 3))


def test_corrupt_data_is_decoded_through_as_tensorflow_does() -> None:
    """libjpeg's recoverable warnings ("Corrupt JPEG data: ...", here a byte flipped in the scan): both
    decode through them, to the same pixels."""
    import tensorflow as tf

    rng = np.random.default_rng(7)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 80, 3), np.uint8)).save(buf, "JPEG", quality=90)
    good = buf.getvalue()
    mid = len(good) // 2
    bad = good[:mid] + bytes([good[mid] ^ 0x55]) + good[mid + 1 :]
    want = tf.io.decode_image(bad, channels=3, expand_animations=False).numpy().astype(np.float32)
    assert not np.array_equal(want, tf.io.decode_image(good, channels=3).numpy())  # the flip shows
    assert np.array_equal(decode.to_array(bad, Limits(), _native(bad, 3)).array, want)


def test_a_size_libjpeg_reads_otherwise_than_the_header_check_is_refused_before_decoding() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30)).save(buf, "JPEG")
    with pytest.raises(ValueError, match="libjpeg reads 40x30"):
        tfjpeg.decode(buf.getvalue(), 3, (400, 300), cmyk=False, adobe=False)


def test_a_missing_decoder_is_the_images_fault_not_the_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    """An image built without simplejpeg for a ``dataset`` card: the worker says so (a RuntimeError, the
    handler's 500), rather than calling the caller's JPEG corrupt (TruncatedImage, a 422)."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buf, "JPEG")
    p = _native(buf.getvalue(), 3)
    head = json.dumps({"formats": ["JPEG"], "max_pixels": 10**6, "pipeline": p, "budget": 2**28})
    monkeypatch.setitem(sys.modules, "simplejpeg", None)  # import simplejpeg -> ImportError
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # the worker's code sets it
    reply = decode._decode(head.encode(), buf.getvalue())
    assert reply.startswith(b"X") and b"simplejpeg" in reply
    outcome = sandbox.Outcome(reply, 0.0, 0)
    with pytest.raises(RuntimeError, match="simplejpeg") as e:
        decode._unpack(outcome)
    assert not isinstance(e.value, TruncatedImage)
