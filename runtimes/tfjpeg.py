"""JPEG pixels as ``tf.io.decode_image`` gives them, without TensorFlow: the decoder of ``dataset`` pipelines.

``keras.utils.image_dataset_from_directory`` decodes with TensorFlow's libjpeg-turbo set to the fast
integer IDCT (JDCT_IFAST) with fancy (smooth) chroma upsampling; Pillow always decodes with the accurate
IDCT (JDCT_ISLOW), and its only switch to the fast one (draft mode) also turns fancy upsampling off, so
Pillow's pixels are a few levels off what a model trained on that loader saw. simplejpeg (a small
libjpeg-turbo binding, libjpeg-turbo linked in, manylinux wheels for x86_64 and aarch64) exposes both
settings separately: ``fastdct=True, fastupsample=False`` is TensorFlow's decode. Measured against
tf.io.decode_image (TensorFlow 2.21, simplejpeg 1.9.0): bit-identical on all 372 test JPEGs of the
clothing split (3 and 1 channels) and on generated baseline, progressive, restart-interval,
4:4:4 / 4:2:2 / 4:2:0, odd-sized, grayscale and CMYK JPEGs; Pillow is up to 4 levels off on the split
and up to 21 on the generated ones.

What TensorFlow does beyond libjpeg is done here too: a CMYK (or YCCK) JPEG is decoded to CMYK and turned
into RGB with TensorFlow's integer formula (Adobe files store CMYK inverted). TensorFlow refuses a file
whose data ends early (libjpeg's "Premature end of JPEG file") and decodes through libjpeg's other
warnings ("Corrupt JPEG data: ..."), whose recovery is deterministic; :func:`decode` does the same.

The caller keeps Pillow's decode where this module cannot give TensorFlow's pixels: a CMYK JPEG for one
channel, which TensorFlow refuses (:func:`handles`), and a component layout TurboJPEG (simplejpeg's API
into libjpeg-turbo) does not classify (:class:`Unsupported`; a CMYK file with only its first component
subsampled, say, where Pillow is up to 12 levels off TensorFlow on generated ones).

Memory: the decode holds the (height, width, channels) uint8 output, under Pillow's 4 bytes a pixel for
RGB, so the pixel caps of runtimes/limits.py (measured on Pillow's decode) still bound it; on 12 Mpx
baseline, progressive, grayscale and CMYK files the worker's peak stayed at or under Pillow's.

simplejpeg is imported at the first decode: only images that serve a ``dataset`` pipeline carry it
(images/build.py), and ``load_img`` pipelines never reach this module.
"""

from __future__ import annotations

from typing import Final

import numpy as np

#: libjpeg's warning when the data runs out before the image does: TensorFlow's decode fails then.
_EOF: Final = "Premature end of JPEG file"
#: TurboJPEG's refusal of a component layout outside its subsampling levels (4:4:4, 4:2:2, 4:2:0, 4:4:0,
#: 4:1:1, 4:4:1, gray), e.g. a CMYK file whose first component alone is subsampled; libjpeg itself,
#: hence TensorFlow, decodes those.
_LAYOUT: Final = "Could not determine subsampling level"


class Unsupported(ValueError):
    """A valid JPEG whose component layout simplejpeg cannot decode: the caller decodes it with Pillow."""


#: Rows converted from CMYK at a time: the integer temporaries stay small whatever the image's size.
_ROWS: Final = 256


def handles(mode: str, channels: int) -> bool:
    """Whether :func:`decode` gives TensorFlow's pixels for a JPEG Pillow opened in ``mode``: every JPEG
    except CMYK for one channel (TensorFlow refuses that conversion)."""
    return mode in ("L", "RGB") or (mode == "CMYK" and channels == 3)


def decode(data: bytes, channels: int, size: tuple[int, int], cmyk: bool, adobe: bool) -> np.ndarray:
    """``data`` -> uint8 (height, width, channels), tf.io.decode_image(channels=...)'s pixels;
    :class:`Unsupported` for a layout simplejpeg cannot take.

    ``size`` is the (width, height) the caller's header check approved: a file whose libjpeg header says
    otherwise is refused (ValueError) before any pixel is decoded. ``cmyk`` and ``adobe`` say what the
    header holds (Pillow's mode CMYK, an APP14 Adobe marker)."""
    import simplejpeg  # lazily: a dependency of dataset pipelines' images only

    try:
        h, w, _, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError as e:
        if _LAYOUT in str(e):
            raise Unsupported(str(e)) from None
        raise
    if (w, h) != size:
        raise ValueError(f"libjpeg reads {w}x{h} where the header check read {size[0]}x{size[1]}")
    space = "CMYK" if cmyk else "GRAY" if channels == 1 else "RGB"
    try:
        a = simplejpeg.decode_jpeg(data, space, fastdct=True, fastupsample=False, strict=True)
    except ValueError as e:
        if _EOF in str(e):
            raise
        a = simplejpeg.decode_jpeg(data, space, fastdct=True, fastupsample=False, strict=False)
    a = np.asarray(a).reshape(h, w, -1)
    return _cmyk_to_rgb(a, adobe) if cmyk else a


def _cmyk_to_rgb(a: np.ndarray, adobe: bool) -> np.ndarray:
    """TensorFlow's CMYK -> RGB (jpeg_mem.cc): r = k * c / 255 on Adobe's inverted values, else
    (255 - k) * (255 - c) / 255, in integers (truncating), a block of rows at a time."""
    out = np.empty((*a.shape[:2], 3), np.uint8)
    for top in range(0, a.shape[0], _ROWS):
        block = a[top : top + _ROWS].astype(np.uint16)
        if not adobe:
            block = np.uint16(255) - block
        out[top : top + _ROWS] = (block[..., :3] * block[..., 3:4]) // np.uint16(255)
    return out
