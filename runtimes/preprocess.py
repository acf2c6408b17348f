"""Shared numpy + Pillow preprocessing: the one path from decoded image to model input.

It reproduces Keras' ``load_img(target_size=...)`` + ``img_to_array`` + Xception's
``preprocess_input`` ("tf" mode) exactly, without importing TensorFlow, so every image
(TF, TFLite, ONNX) feeds the model the same tensor it was trained on. Serving (lambda_function via
runtimes/decode.py) and evaluation/training (models/, through ``load_path``) both come through here,
so the two can never drift apart. One addition over Keras, decided with data (docs/handler.md):

* EXIF orientation is applied (phone photos are stored sideways with an Orientation tag). Measured
  with the reference model (float32 TFLite, scripts/measure_preprocess.py): the test split carries no
  tag, so its tensors and top-1 (77.15 %) are unchanged; on copies stored rotated with the tag that
  undoes it, top-1 is 48.1 / 29.8 / 28.0 % (tags 3 / 6 / 8) when the tag is ignored and 77.15 % for
  all three when applied. The transpose runs after the resize, on the small image, so it costs no memory.

JPEG draft mode (DCT scaling) was measured and not adopted: top-1 agreement with full decoding was
95.70 % on the test split (at the model's input size) and 98.92 % on 4x upscaled copies (scaling kept
>= 2x the input size), under the 99.5 % bar. Memory is bounded by the memory-scaled pixel cap instead
(runtimes/limits.py).
"""

from __future__ import annotations

import io
from typing import Final

import numpy as np
from PIL import Image

#: Keras' load_img resizes with nearest-neighbour unless told otherwise.
RESAMPLE: Final = Image.Resampling.NEAREST
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


def orientation(img: Image.Image) -> int:
    """The EXIF Orientation tag (1 = upright); a missing or unreadable EXIF block counts as upright."""
    try:
        value = img.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - EXIF is caller data; a broken block must not refuse the image
        return 1
    return value if value in _UPRIGHT else 1


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


def image_to_array(img: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """One decoded PIL image -> float32 array (H, W, 3) ready for the model."""
    return scale(np.asarray(to_rgb_resized(img, size), dtype=np.float32))


def load_path(path: str, size: tuple[int, int]) -> np.ndarray:
    """Read an image file from disk -> float32 (H, W, 3)."""
    with open(path, "rb") as f:
        return load_bytes(f.read(), size)


def load_bytes(data: bytes, size: tuple[int, int]) -> np.ndarray:
    """Decode image bytes -> float32 (H, W, 3). Callers that face untrusted input validate first
    (runtimes/decode.py does, then calls the same ``image_to_array``)."""
    with Image.open(io.BytesIO(data)) as img:
        return image_to_array(img, size)
