"""Untrusted image bytes -> model input, within bounded time and memory, or a typed 4xx.

Order matters: the format is identified and the header read (``Image.open`` decodes no pixel), then
the pixel cap (MAX_IMAGE_PIXELS, which follows the function's memory, runtimes/limits.py) is checked,
and only then are pixels decoded. Before Pillow parses anything, the decode work the pixel cap does not
bound is counted (runtimes/structure.py: JPEG scans, metadata blocks). Any failure of a
decoder on caller bytes is the caller's bad input (422), whatever exception Pillow raises: a 186-byte
TIFF whose StripOffsets tag had type FLOAT made Pillow raise TypeError, which answered 500 and made
Lambda count (and retry) a function error. Library exception text goes to the log line only.
"""

from __future__ import annotations

import io
import warnings
from typing import Final

import numpy as np
from PIL import Image, UnidentifiedImageError

# Register exactly the allowed decoders now (import/init time) rather than letting the first request
# pay for Pillow loading every plugin it has.
from PIL import (  # noqa: F401  isort: skip
    BmpImagePlugin,
    GifImagePlugin,
    JpegImagePlugin,
    MpoImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)

from runtimes import preprocess, structure
from runtimes.handler_errors import EmptyBody, ImageTooComplex, ImageTooLarge, NotAnImage, TruncatedImage
from runtimes.limits import Limits

#: Formats Pillow may try. Keeping the list short keeps rarely used (and rarely audited) decoders
#: away from untrusted bytes. (Multi-picture JPEGs from phones open through JPEG as "MPO".)
ALLOWED_FORMATS: Final = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")


def _over_cap(limits: Limits, what: str = "image") -> str:
    return f"{what} is over the {limits.max_image_pixels}-pixel cap (MAX_IMAGE_PIXELS)"


def _open(data: bytes, limits: Limits) -> Image.Image:
    """Identify the format and read the header only; refuse over-cap images before any decoding."""
    _check_work(data, limits)
    Image.MAX_IMAGE_PIXELS = limits.max_image_pixels
    try:
        img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(_over_cap(limits), detail=str(e)) from None
    except UnidentifiedImageError:
        raise NotAnImage(
            f"bytes are not an image in a supported format ({', '.join(ALLOWED_FORMATS)})",
            detail=f"starts with {data[:8]!r}",
        ) from None
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - any header parser failure on caller bytes is a bad input
        raise NotAnImage("image header is invalid", detail=f"{type(e).__name__}: {e}") from None
    w, h = img.size
    if w <= 0 or h <= 0 or w * h > limits.max_image_pixels:
        img.close()
        raise ImageTooLarge(_over_cap(limits, f"image is {w}x{h} = {w * h} pixels"))
    return img


def _check_work(data: bytes, limits: Limits) -> None:
    """Refuse, before Pillow parses anything, files whose decoding work the pixel cap does not bound
    (runtimes/structure.py): too many JPEG scans, too many metadata blocks."""
    budget = structure.block_budget(len(data))
    if structure.metadata_blocks(data, budget) > budget:
        raise ImageTooComplex(f"image has more than {budget} metadata blocks for its {len(data)} bytes")
    if data.startswith(b"\xff\xd8\xff") and (scans := structure.jpeg_scans(data)) > limits.max_jpeg_scans:
        cap = limits.max_jpeg_scans
        raise ImageTooComplex(f"JPEG has {scans} scans, over the cap of {cap} (MAX_JPEG_SCANS)")


def to_array(data: bytes, limits: Limits, size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """Validate, decode and preprocess untrusted bytes -> (float32 (H, W, 3), stored (width, height))."""
    if not data:
        raise EmptyBody("no image bytes")
    with warnings.catch_warnings():
        # Pillow warns between 1x and 2x its cap and raises above 2x; _open applies the same cap with a
        # clearer message. Other decoder warnings (truncated EXIF, ...) are about caller data too.
        warnings.simplefilter("ignore")
        with _open(data, limits) as img:
            fmt, wh = img.format, img.size
            try:
                img.load()
                return preprocess.image_to_array(img, size), wh
            except Image.DecompressionBombError as e:
                raise ImageTooLarge(_over_cap(limits), detail=str(e)) from None
            except MemoryError:
                raise
            except Exception as e:  # noqa: BLE001 - any decoder failure on caller bytes is a bad input
                raise TruncatedImage(
                    f"{fmt} image {wh[0]}x{wh[1]} is truncated or corrupt", detail=f"{type(e).__name__}: {e}"
                ) from None
