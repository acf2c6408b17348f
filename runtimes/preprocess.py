"""Shared numpy + Pillow preprocessing: the one path from decoded image to model input.

It runs a card's :class:`core.pipeline.Pipeline` the way Keras's own loaders and ``preprocess_input``
do, without importing TensorFlow, so every image (TF, TFLite, ONNX) feeds the model the tensor it was
trained on. Serving (lambda_function via runtimes/decode.py), evaluation and training (models/, through
``load_path``) all come through here, so they can never drift apart.

* ``load_img`` pipelines resize with Pillow, as ``keras.utils.load_img`` does (same library, same call).
* ``dataset`` pipelines decode and resize as ``image_dataset_from_directory`` does: a JPEG with
  TensorFlow's libjpeg settings (runtimes/tfjpeg.py: fast IDCT, fancy upsampling; Pillow's accurate
  IDCT is a few levels off them), then tf.image.resize's kernels (antialias=False, half-pixel centres)
  written out in numpy below; Pillow's filters are different (its bilinear and bicubic widen with the
  scale, an antialias TF does not apply). The remaining difference (float32 rounding order) is measured
  against TensorFlow on real images by models/skew.py and written on the card.

The bare ``(height, width)`` that older callers pass means the first cards' pipeline
(``xception-tf-nearest``: load_img nearest, 'tf' scaling), unchanged to the bit.

One addition over Keras, decided with data (docs/handler.md): EXIF orientation is applied (phone photos
are stored sideways with an Orientation tag). Measured with the reference model (float32 TFLite,
scripts/measure_preprocess.py): the test split carries no tag, so its tensors and top-1 (77.15 %) are
unchanged; on copies stored rotated with the tag that undoes it, top-1 is 48.1 / 29.8 / 28.0 % (tags
3 / 6 / 8) when the tag is ignored and 77.15 % for all three when applied. The transpose runs after the
resize, on the small image, so it costs no memory.

JPEG draft mode (DCT scaling) was measured and not adopted: top-1 agreement with full decoding was
95.70 % on the test split (at the model's input size) and 98.92 % on 4x upscaled copies (scaling kept
>= 2x the input size), under the 99.5 % bar. Memory is bounded by the memory-scaled pixel cap instead
(runtimes/limits.py).
"""

from __future__ import annotations

import importlib.machinery
import io
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
from PIL import Image

from core.pipeline import Pipeline, coerce
from runtimes import exif
from runtimes.handler_errors import MissingExtra

#: Keras' load_img resizes with nearest-neighbour unless told otherwise (the first cards' resize).
RESAMPLE: Final = Image.Resampling.NEAREST
#: load_img's interpolation names -> Pillow's filters (keras.utils.load_img passes them straight on).
_PIL: Final = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "area": Image.Resampling.BOX,
}
#: EXIF Orientation value -> the transpose that shows the photo upright (values 5-8 swap the axes).
_UPRIGHT: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_F: Final = np.float32


def orientation(img: Image.Image) -> int:
    """The EXIF Orientation tag (1 = upright), read with bounded work by runtimes/exif.py."""
    return exif.orientation(img)


def _stored_size(size: tuple[int, int], orient: int) -> tuple[int, int]:
    """(width, height) to resize the *stored* pixels to, so the upright result is ``size`` (h, w)."""
    return (size[0], size[1]) if orient >= 5 else (size[1], size[0])


def to_rgb_resized(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Convert to RGB, resize to ``size`` = (height, width) as keras.utils.load_img does, then turn
    it upright per EXIF (on the small image, so the transpose costs nothing)."""
    orient = orientation(img)
    if img.mode != "RGB":
        img = img.convert("RGB")
    wh = _stored_size(size, orient)
    if img.size != wh:
        img = img.resize(wh, RESAMPLE)
    if orient != 1:
        img = img.transpose(_UPRIGHT[orient])
    return img


def scale(x: np.ndarray) -> np.ndarray:
    """Xception ("tf" mode) scaling: [0, 255] -> [-1, 1], float32."""
    x = x.astype(np.float32, copy=False)
    return x / np.float32(127.5) - np.float32(1.0)


# --- tf.image.resize (antialias=False, half-pixel centres) in numpy ------------------------------------


def _tf_scale(n_in: int, n_out: int) -> np.float32:
    return _F(n_in) / _F(n_out)  # CalculateResizeScale: a float32 ratio


def _tf_nearest_index(n_in: int, n_out: int) -> np.ndarray:
    pos = (np.arange(n_out, dtype=_F) + _F(0.5)) * _tf_scale(n_in, n_out)
    return np.asarray(np.minimum(np.floor(pos).astype(np.int64), n_in - 1))


def _tf_linear(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower, upper, lerp) per output position, as resize_bilinear's compute_interpolation_weights."""
    pos = (np.arange(n_out, dtype=_F) + _F(0.5)) * _tf_scale(n_in, n_out) - _F(0.5)
    lo = np.floor(pos)
    lerp = (pos - lo).astype(_F)
    return np.maximum(lo.astype(np.int64), 0), np.minimum(np.ceil(pos).astype(np.int64), n_in - 1), lerp


def _keys_table() -> np.ndarray:
    """resize_bicubic's coefficient table (Keys cubic, A = -0.5), kTableSize = 1024."""
    a, out = -0.5, np.zeros(2 * 1025, _F)
    for i in range(1025):
        x = i / 1024
        out[2 * i] = ((a + 2) * x - (a + 3)) * x * x + 1
        x += 1.0
        out[2 * i + 1] = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return out


def _tf_cubic(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices (n_out, 4), weights (n_out, 4)) as resize_bicubic's GetWeightsAndIndices (Keys, half-pixel):
    taps outside the image get weight 0 and the rest are renormalised."""
    table = _keys_table()
    pos = (np.arange(n_out, dtype=_F) + _F(0.5)) * _tf_scale(n_in, n_out) - _F(0.5)
    base = np.floor(pos).astype(np.int64)
    off = np.rint((pos - base) * _F(1024)).astype(np.int64)
    taps = base[:, None] + np.arange(-1, 3)[None, :]
    w = np.stack(
        [table[off * 2 + 1], table[off * 2], table[(1024 - off) * 2], table[(1024 - off) * 2 + 1]], 1
    )
    w = np.where((taps >= 0) & (taps < n_in), w, _F(0)).astype(_F)
    total = w.sum(1, dtype=_F)
    w = np.where(np.abs(total)[:, None] >= _F(1000) * np.finfo(_F).tiny, w / total[:, None], w)
    return np.clip(taps, 0, n_in - 1), w.astype(_F)


def _tf_area(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of resize_area: each output cell averages the input cells it covers."""
    s = float(_tf_scale(n_in, n_out))
    m = np.zeros((n_out, n_in), _F)
    for o in range(n_out):
        start, end = o * s, (o + 1) * s
        for i in range(int(math.floor(start)), int(math.ceil(end))):
            m[o, min(i, n_in - 1)] += min(i + 1, end) - max(i, start)
    return m / _F(s)


def _tf_resize(a: np.ndarray, hw: tuple[int, int], method: str) -> np.ndarray:
    """uint8 (H, W, C) -> float32 (h, w, C) as tf.image.resize(method, antialias=False). Rows and columns
    are gathered from the uint8 image before any float copy, so memory stays at the output's scale."""
    (h_in, w_in), (h, w) = a.shape[:2], hw
    if method == "nearest":
        return np.asarray(a[_tf_nearest_index(h_in, h)][:, _tf_nearest_index(w_in, w)], _F)
    if method == "bilinear":
        (ylo, yhi, yl), (xlo, xhi, xl) = _tf_linear(h_in, h), _tf_linear(w_in, w)
        xl = xl[None, :, None]
        rows_lo, rows_hi = a[ylo], a[yhi]
        tl, tr = rows_lo[:, xlo].astype(_F), rows_lo[:, xhi].astype(_F)
        bl, br = rows_hi[:, xlo].astype(_F), rows_hi[:, xhi].astype(_F)
        top, bottom = tl + (tr - tl) * xl, bl + (br - bl) * xl
        return np.asarray(top + (bottom - top) * yl[:, None, None], _F)
    if method == "bicubic":
        (yi, yw), (xi, xw) = _tf_cubic(h_in, h), _tf_cubic(w_in, w)
        cols = sum(a[:, xi[:, k]].astype(_F) * xw[None, :, k, None] for k in range(4))
        return np.asarray(sum(np.asarray(cols)[yi[:, k]] * yw[:, k, None, None] for k in range(4)), _F)
    wy, wx = _tf_area(h_in, h), _tf_area(w_in, w)
    rows = np.zeros((h, w_in, a.shape[2]), _F)
    for start in range(0, h_in, 256):  # float copies of 256 input rows at a time, never the whole image
        rows += np.einsum("oi,iwc->owc", wy[:, start : start + 256], a[start : start + 256].astype(_F))
    return np.asarray(np.einsum("ow,hwc->hoc", wx, rows), _F)


# --- aspect: crop / pad, as Keras computes the boxes ---------------------------------------------------


def _crop_box(w: int, h: int, size: tuple[int, int], loader: str) -> tuple[int, int, int, int]:
    """The centred box (left, top, right, bottom) with the target aspect: load_img(keep_aspect_ratio) in
    integer arithmetic, smart_resize (crop_to_aspect_ratio) in float."""
    th, tw = size
    if loader == "load_img":
        ch, cw = min(h, (w * th) // tw), min(w, (h * tw) // th)
        top, left = (h - ch) // 2, (w - cw) // 2
    else:
        ch = max(min(h, int(float(w * th) / tw)), 1)
        cw = max(min(w, int(float(h * tw) / th)), 1)
        top, left = int(float(h - ch) / 2), int(float(w - cw) / 2)
    return left, top, left + cw, top + ch


def _pad_plan(w: int, h: int, size: tuple[int, int]) -> tuple[tuple[int, int], int, int]:
    """tf.image.resize_with_pad: the (height, width) to resize to and the (top, left) offset, in float32."""
    th, tw = size
    ratio = max(_F(w) / _F(tw), _F(h) / _F(th))
    rh, rw = _F(h) / ratio, _F(w) / ratio
    top = max(0, int(np.floor((_F(th) - rh) / _F(2))))
    left = max(0, int(np.floor((_F(tw) - rw) / _F(2))))
    return (int(np.floor(rh)), int(np.floor(rw))), top, left


# --- the pipeline ------------------------------------------------------------------------------------


def _stored_hw(p: Pipeline, orient: int) -> tuple[int, int]:
    """(height, width) in the stored image's axes, so that the upright result is the pipeline's size."""
    return (p.width, p.height) if orient >= 5 else (p.height, p.width)


def _resized(x: Image.Image | np.ndarray, p: Pipeline, hw: tuple[int, int]) -> np.ndarray:
    """The stored image at ``hw`` (height, width), (h, w, C): a ``load_img`` pipeline's Pillow image
    resized by Pillow (uint8), a ``dataset`` pipeline's decoded pixels by tf.image.resize's kernels
    (float32)."""
    if isinstance(x, Image.Image):
        if x.size != (hw[1], hw[0]):
            # load_img resizes the crop box out of the whole image (Image.resize(box=...)): cropping first
            # and resizing the crop differs for every filter wider than nearest
            box = _crop_box(x.width, x.height, hw, p.loader) if p.aspect == "crop" else None
            x = x.resize((hw[1], hw[0]), _PIL[p.resize], box=box)
        return np.asarray(x).reshape(hw[0], hw[1], -1)
    a = x
    if p.aspect == "crop":
        left, top, right, bottom = _crop_box(a.shape[1], a.shape[0], hw, p.loader)
        a = a[top:bottom, left:right]
    if p.aspect != "pad":
        return _tf_resize(a, hw, p.resize)
    inner, top, left = _pad_plan(a.shape[1], a.shape[0], hw)
    out = np.zeros((*hw, a.shape[2]), _F)
    out[top : top + inner[0], left : left + inner[1]] = _tf_resize(a, inner, p.resize)
    return out


def _upright(x: np.ndarray, orient: int) -> np.ndarray:
    """The EXIF transpose on the small (h, w, C) array, as Pillow's Image.transpose does it."""
    if orient in (5, 6, 7, 8):
        x = np.swapaxes(x, 0, 1)  # TRANSPOSE; then flips give the other three
        return {5: x, 6: x[:, ::-1], 7: x[::-1, ::-1], 8: x[::-1]}[orient]
    return {1: x, 2: x[:, ::-1], 3: x[::-1, ::-1], 4: x[::-1]}[orient]


def _values(x: np.ndarray, p: Pipeline) -> np.ndarray:
    """Colour order, then (x / divisor - mean) / std in float32, in preprocess_input's order."""
    x = x.astype(_F, copy=False)
    if p.channels == 3 and p.colour == "BGR":
        x = x[..., ::-1]
    if p.divisor != 1:
        x = x / _F(p.divisor)
    x = x - np.asarray(p.mean, _F)
    return np.ascontiguousarray(x / np.asarray(p.std, _F), dtype=_F)


#: loader -> the distributions its pipelines import beyond every image's requirements (each one's name is
#: also its import name): a ``dataset`` pipeline decodes JPEG through simplejpeg (runtimes/tfjpeg.py).
#: images/extras.py pins them into the image and the zip layer of a model whose card asks for them, and
#: nowhere else, so the bundled ``load_img`` models keep their dependency trees.
LOADER_EXTRAS: Final[Mapping[str, tuple[str, ...]]] = {"dataset": ("simplejpeg",)}


def missing_extras(p: Pipeline) -> tuple[str, ...]:
    """The pipeline loader's extras this interpreter cannot import. Looked up on sys.path without
    importing them (INIT stays as cheap as before; the decode worker loads the decoder at its first
    JPEG); a ``None`` in sys.modules, Python's mark of a module that must not import, counts as absent."""
    out = []
    for name in LOADER_EXTRAS.get(p.loader, ()):
        if name in sys.modules:
            found = sys.modules[name] is not None
        else:
            found = importlib.machinery.PathFinder.find_spec(name) is not None
        if not found:
            out.append(name)
    return tuple(out)


def require_extras(p: Pipeline) -> None:
    """At INIT: :class:`MissingExtra` naming what the card's pipeline needs and the function lacks, and
    how a function gets it, rather than a 500 on every JPEG request."""
    absent = missing_extras(p)
    if absent:
        raise MissingExtra(
            f"the card's pipeline (loader {p.loader!r}) needs {', '.join(absent)}, which this function "
            "cannot import: `make build` and `make package` install a card's loader extras "
            "(images/extras.py) into its image or layer; rebuild it from this card"
        )


def decoder_mode(img: Image.Image, p: Pipeline) -> None:
    """Before the pixels are decoded by Pillow: a one-channel ``dataset`` pipeline asks the JPEG decoder
    for grayscale, as tf.io.decode_image(channels=1) does (libjpeg's luma, chroma never decoded), rather
    than decoding RGB and converting (the one JPEG Pillow still decodes for it is CMYK, which TensorFlow
    refuses for one channel). ``load_img`` pipelines decode as Keras's load_img does (RGB, then Pillow's
    convert("L")). No DCT scaling (size None); a no-op for other formats and once loaded."""
    if p.channels == 1 and p.loader == "dataset" and img.mode == "RGB":
        img.draft("L", None)


def _file_bytes(img: Image.Image) -> bytes | None:
    """The bytes an opened image was read from, when its file is still open (else None)."""
    fp = getattr(img, "fp", None)
    if fp is None:
        return None
    pos = fp.tell()
    fp.seek(0)
    data = fp.read()
    fp.seek(pos)
    return bytes(data)


def _dataset_pixels(img: Image.Image, p: Pipeline, data: bytes | None) -> np.ndarray:
    """The stored pixels, uint8 (H, W, C), as tf.io.decode_image gives them to image_dataset_from_directory:
    a JPEG through runtimes/tfjpeg.py (TensorFlow's IDCT and upsampling, which Pillow cannot be set to);
    other formats, and a JPEG whose bytes are gone, through Pillow (PNG, GIF, BMP: the same pixels)."""
    if img.format in ("JPEG", "MPO"):
        from runtimes import tfjpeg  # here: a load_img pipeline's cold path never imports it

        if tfjpeg.handles(img.mode, p.channels):
            raw = data if data is not None else _file_bytes(img)
            try:
                if raw is not None:
                    return tfjpeg.decode(raw, p.channels, img.size, img.mode == "CMYK", "adobe" in img.info)
            except tfjpeg.Unsupported:
                pass  # a component layout only libjpeg's own API takes: Pillow's decode, the nearest
    decoder_mode(img, p)
    img = _in_mode(img, p)
    return np.asarray(img).reshape(img.height, img.width, -1)


def _in_mode(img: Image.Image, p: Pipeline) -> Image.Image:
    """Pillow's pixels in the pipeline's colour mode (L for one channel, else RGB), as both loaders ask."""
    mode = "L" if p.channels == 1 else "RGB"
    return img if img.mode == mode else img.convert(mode)


def prepare(img: Image.Image, spec: Pipeline | Sequence[Any], data: bytes | None = None) -> np.ndarray:
    """One opened PIL image -> the float32 (H, W, C) model input the pipeline describes. ``data`` are the
    bytes it was opened from (read back from its file when not given): a ``dataset`` pipeline decodes a
    JPEG from them as TensorFlow does; a ``load_img`` pipeline decodes with Pillow, as load_img does."""
    p = coerce(spec)
    orient = orientation(img)
    hw = _stored_hw(p, orient)
    if p.loader == "dataset":
        x = _resized(_dataset_pixels(img, p, data), p, hw)
    else:
        x = _resized(_in_mode(img, p), p, hw)
    return _values(_upright(x, orient), p)


def image_to_array(img: Image.Image, spec: Pipeline | Sequence[Any]) -> np.ndarray:
    """One decoded PIL image -> float32 array (H, W, C) ready for the model."""
    return prepare(img, spec)


def load_path(path: str, spec: Pipeline | Sequence[Any]) -> np.ndarray:
    """Read an image file from disk -> float32 (H, W, C)."""
    with open(path, "rb") as f:
        return load_bytes(f.read(), spec)


def load_bytes(data: bytes, spec: Pipeline | Sequence[Any]) -> np.ndarray:
    """Decode image bytes -> float32 (H, W, C). Callers that face untrusted input validate first
    (runtimes/decode.py does, then calls the same ``prepare``)."""
    with Image.open(io.BytesIO(data)) as img:
        return prepare(img, spec, data)


# --- the decode worker's side (runtimes/decode.py) ---------------------------------------------------


class Served:
    """The model input as the decode worker sends it: ``size`` (width, height) and float32 bytes."""

    def __init__(self, x: np.ndarray) -> None:
        self.array = x

    @property
    def size(self) -> tuple[int, int]:
        return (int(self.array.shape[1]), int(self.array.shape[0]))

    def tobytes(self) -> bytes:
        return self.array.tobytes()


def served(img: Image.Image, spec: Pipeline | Sequence[Any], data: bytes | None = None) -> Served:
    """In the decode worker: the whole pipeline, values included, on the opened image (its header
    checked) and the bytes it was opened from."""
    return Served(prepare(img, spec, data))


def from_worker(body: bytes, offset: int, width: int, height: int) -> np.ndarray:
    """In the handler: the worker's float32 bytes -> (height, width, C); C follows from the length."""
    n = (len(body) - offset) // 4
    return np.frombuffer(body, _F, n, offset).reshape(height, width, -1).copy()
