"""Shared numpy + Pillow preprocessing.

It reproduces Keras' ``load_img(target_size=...)`` + ``img_to_array`` + Xception's
``preprocess_input`` ("tf" mode) exactly, without importing TensorFlow, so every image
(TF, TFLite, ONNX) feeds the model the same tensor it was trained on.
"""

from __future__ import annotations

import io
from typing import Final

import numpy as np
from PIL import Image

#: Keras' load_img resizes with nearest-neighbour unless told otherwise.
RESAMPLE: Final = Image.Resampling.NEAREST


def to_rgb_resized(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Convert to RGB and resize to ``size`` = (height, width), as keras.utils.load_img does."""
    if img.mode != "RGB":
        img = img.convert("RGB")
    wh = (size[1], size[0])
    if img.size != wh:
        img = img.resize(wh, RESAMPLE)
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
    """Decode image bytes -> float32 (H, W, 3). Callers that face untrusted input validate first."""
    with Image.open(io.BytesIO(data)) as img:
        return image_to_array(img, size)
