"""runtimes/preprocess.py feeds the model exactly what Keras' loading path would.

Reference: ``keras.utils.load_img(path, target_size=..., interpolation="nearest")`` +
``keras.utils.img_to_array`` + ``keras.applications.xception.preprocess_input``. Checked bit for bit
(``array_equal``, no tolerance) on real dataset images and on converted copies covering every PIL
mode conversion the handler may meet (L, LA, 1, P with transparency, RGBA, CMYK, I;16), both through
``preprocess.load_path`` and through the handler's validated path (``decode.to_array``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.paths import ROOT as REPO
from runtimes import decode, limits, preprocess
from runtimes.limits import Limits

SIZES = [(128, 128), (150, 100), (299, 299)]  # (height, width): square, non-square, upscaling
N_PER_SPLIT = 3

keras = pytest.importorskip("keras")


def _dataset_root() -> Path:
    return Path(os.environ.get("CLOTHING_DATASET") or REPO / "data" / "clothing-dataset-small")


def _real_images() -> list[Path]:
    """A few images from each split, different classes, in a fixed order."""
    root = _dataset_root()
    picked: list[Path] = []
    for split in ("train", "validation", "test"):
        classes = sorted(p for p in (root / split).glob("*") if p.is_dir())
        for cls in classes[:N_PER_SPLIT]:
            files = sorted(cls.glob("*.jp*g")) + sorted(cls.glob("*.png"))
            if files:
                picked.append(files[len(files) // 2])
    return picked


@pytest.fixture(scope="module")
def real_images() -> list[Path]:
    images = _real_images()
    if not images:
        pytest.skip(f"clothing dataset not found at {_dataset_root()} (set CLOTHING_DATASET, or `make data`)")
    return images


def keras_reference(path: Path, size: tuple[int, int]) -> np.ndarray:
    img = keras.utils.load_img(str(path), target_size=size, interpolation="nearest")
    x = keras.utils.img_to_array(img)
    return np.asarray(keras.applications.xception.preprocess_input(x))


def handler_path(path: Path, size: tuple[int, int]) -> np.ndarray:
    """What lambda_function does with uploaded bytes: validate + decode, then the shared preprocessing."""
    every = Limits(formats=limits.DEFAULT_FORMATS + limits.OPTIONAL_FORMATS)  # BMP, TIFF too
    return decode.to_array(path.read_bytes(), every, size).array


def assert_same(path: Path, size: tuple[int, int]) -> None:
    expected = keras_reference(path, size)
    assert expected.shape == (*size, 3) and expected.dtype == np.float32
    candidates = {"load_path": preprocess.load_path(str(path), size), "handler": handler_path(path, size)}
    for name, got in candidates.items():
        assert got.dtype == np.float32, name
        assert got.shape == expected.shape, name
        assert np.array_equal(got, expected), f"{name} differs from Keras on {path.name} at {size}: " + str(
            np.abs(got - expected).max()
        )
    assert expected.min() >= -1.0 and expected.max() <= 1.0


def test_real_dataset_images_match_keras(real_images: list[Path]) -> None:
    assert len(real_images) >= 6
    for path in real_images:
        with Image.open(path) as im:
            assert im.size != (128, 128)  # so the resize path is exercised
        for size in SIZES:
            assert_same(path, size)


def test_image_already_at_target_size(real_images: list[Path], tmp_path: Path) -> None:
    """No resize branch: Keras skips resizing when the size already matches, and so must we."""
    with Image.open(real_images[0]) as im:
        im.convert("RGB").resize((128, 128), Image.Resampling.BILINEAR).save(tmp_path / "exact.png")
    assert_same(tmp_path / "exact.png", (128, 128))


def _variants(src: Path, tmp: Path) -> list[Path]:
    """Non-RGB copies of a real photo (the dataset itself is all RGB JPEG)."""
    with Image.open(src) as im:
        rgb = im.convert("RGB")
    w, h = rgb.size
    alpha = Image.linear_gradient("L").resize((w, h))
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    la = rgb.convert("L")
    la.putalpha(alpha)
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    palette.info["transparency"] = 0
    out = {
        "gray.png": rgb.convert("L"),
        "gray-alpha.png": la,
        "bilevel.png": rgb.convert("1"),
        "palette-transparent.png": palette,
        "palette.gif": rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=32),
        "rgba.png": rgba,
        "rgba.webp": rgba,
        "cmyk.jpg": rgb.convert("CMYK"),
        "gray.jpg": rgb.convert("L"),
        "rgb.bmp": rgb,
        "i16.png": rgb.convert("L").point(lambda v: v * 256).convert("I;16"),
    }
    paths = []
    for name, img in out.items():
        path = tmp / name
        img.save(path)
        paths.append(path)
    return paths


def test_mode_conversions_match_keras(real_images: list[Path], tmp_path: Path) -> None:
    paths = _variants(real_images[0], tmp_path)
    modes = set()
    for path in paths:
        with Image.open(path) as im:
            modes.add(im.mode)
        for size in SIZES[:2]:
            assert_same(path, size)
    assert {"L", "LA", "1", "P", "RGBA", "CMYK", "I;16"} <= modes, modes


def test_scaling_formula_endpoints() -> None:
    """The Xception 'tf' mode maps 0 -> -1, 255 -> 1 exactly, in float32."""
    x = np.array([0, 127.5, 255], np.float32)
    np.testing.assert_array_equal(preprocess.scale(x), np.array([-1, 0, 1], np.float32))
    assert preprocess.scale(np.zeros(3, np.uint8)).dtype == np.float32


@pytest.mark.parametrize("tag,stored", [(3, Image.Transpose.ROTATE_180), (6, Image.Transpose.ROTATE_90),
                                        (8, Image.Transpose.ROTATE_270)])  # fmt: skip
def test_exif_orientation_same_in_eval_and_serving(tag: int, stored: Image.Transpose) -> None:
    """models/ (load_path/load_bytes) and the handler (decode.to_array) turn a tagged photo upright the
    same way, so evaluation measures what serving does."""
    import io

    rng = np.random.default_rng(tag)
    upright = Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8), "RGB")
    exif = Image.Exif()
    exif[0x0112] = tag
    buf, ref = io.BytesIO(), io.BytesIO()
    upright.transpose(stored).save(buf, "PNG", exif=exif.tobytes())
    upright.save(ref, "PNG")
    size = (60, 80)
    want = preprocess.load_bytes(ref.getvalue(), size)
    assert np.array_equal(preprocess.load_bytes(buf.getvalue(), size), want)
    assert np.array_equal(decode.to_array(buf.getvalue(), Limits(), size).array, want)
