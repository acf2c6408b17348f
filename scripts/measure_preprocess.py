"""Measurements behind two preprocessing choices (JPEG draft mode, EXIF orientation); prints the figures.

    .venv/bin/python -m scripts.measure_preprocess            # test split, reference float32 TFLite

* JPEG draft mode (DCT scaling): top-1 agreement of drafted vs full decoding, on the test split as is
  and on copies upscaled 4x (re-encoded JPEG q95), where draft mode actually reduces the decode.
* EXIF orientation: top-1 accuracy with and without applying the tag, on the test split and on copies
  whose pixels are stored rotated with the Orientation tag that undoes it (what a phone writes).
Not a test (nothing to assert against a fixed figure); docs/handler.md quotes its output.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from runtimes import base, preprocess

REPO = Path(__file__).resolve().parent.parent
SIZE = (128, 128)
#: Orientation tag -> how the camera stored the pixels (the inverse of preprocess's upright turn).
STORED = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def test_split() -> list[tuple[Path, int]]:
    root = Path(os.environ.get("CLOTHING_DATASET", REPO / "data" / "clothing-dataset-small")) / "test"
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    return [(f, i) for i, c in enumerate(classes) for f in sorted((root / c).iterdir())]


def jpeg(img: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95, **kw)
    return buf.getvalue()


@contextmanager
def exif_ignored() -> Iterator[None]:
    real = preprocess.orientation
    preprocess.orientation = lambda img: 1
    try:
        yield
    finally:
        preprocess.orientation = real


def top1(model: base.Runtime, blobs: list[bytes], factor: int) -> np.ndarray:
    out = []
    for data in blobs:
        with Image.open(io.BytesIO(data)) as img:
            if factor:  # DCT scaling to no less than factor x the input side (what was measured)
                img.draft(None, (SIZE[1] * factor, SIZE[0] * factor))
            x = preprocess.image_to_array(img, SIZE)
        out.append(int(np.argmax(model.predict(x[None]))))
    return np.array(out)


def main() -> int:
    model = base.get("tflite")
    model.load(str(REPO / "build/models/reference/float32.tflite"), 1)
    samples = test_split()
    y = np.array([label for _, label in samples])
    raw = [p.read_bytes() for p, _ in samples]
    pct: Callable[[np.ndarray], str] = lambda m: f"{100 * float(np.mean(m)):.2f} %"  # noqa: E731
    full = top1(model, raw, 0)
    print(f"test split: {len(y)} images, full decoding top-1 {pct(full == y)}")
    for factor in (1, 2):
        d = top1(model, raw, factor)
        print(f"  draft factor {factor}: agreement {pct(d == full)}, top-1 {pct(d == y)}")
    big = []
    for data in raw:
        with Image.open(io.BytesIO(data)) as img:
            rgb = img.convert("RGB")
            big.append(jpeg(rgb.resize((rgb.width * 4, rgb.height * 4), Image.Resampling.BICUBIC)))
    big_full = top1(model, big, 0)
    print(f"4x upscaled copies: full decoding top-1 {pct(big_full == y)}")
    for factor in (1, 2, 4):
        d = top1(model, big, factor)
        print(f"  draft factor {factor}: agreement {pct(d == big_full)}, top-1 {pct(d == y)}")
    with exif_ignored():
        print(f"EXIF ignored, test split top-1 {pct(top1(model, raw, 0) == y)}")
    for tag, stored in STORED.items():
        blobs = []
        for data in raw:
            with Image.open(io.BytesIO(data)) as img:
                exif = Image.Exif()
                exif[0x0112] = tag
                blobs.append(jpeg(img.convert("RGB").transpose(stored), exif=exif.tobytes()))
        applied = top1(model, blobs, 0)
        with exif_ignored():
            ignored = top1(model, blobs, 0)
        print(
            f"orientation {tag}: top-1 applied {pct(applied == y)}, ignored {pct(ignored == y)}, "
            f"applied agrees with upright {pct(applied == full)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
