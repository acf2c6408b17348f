"""Untrusted image bytes -> model input, within a CPU and memory budget whatever the bytes, or a typed 4xx.

Two cheap checks run first in the handler's process (runtimes/structure.py: too many JPEG scans or
metadata blocks for the file's size). Then everything Pillow does runs in the decode worker process
(runtimes/sandbox.py), held per request to the budgets of runtimes/limits.py: identify the format among
the allowed ones (DECODE_FORMATS), read the header, refuse a pixel count over what the memory budget
allows for that format and mode, decode and run the card's pipeline (core/pipeline.py: convert, resize,
value scale; the pipeline crosses the worker's JSON head as a list and is checked again there). The
decoder is the pipeline loader's: Pillow, or for a ``dataset`` pipeline's JPEG TensorFlow's libjpeg
settings (runtimes/tfjpeg.py, which first checks that libjpeg reads the size the header check approved);
either decoder's failure is the same TruncatedImage. The worker sends back the model input as float32
(a few hundred KB). A request that runs out of CPU time or memory, or crashes the worker, is the caller's
bad input, never the sandbox's end (the worker is replaced). Library exception text goes to the log line only.
"""

from __future__ import annotations

import importlib
import io
import json
import struct
import warnings
from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.pipeline import Pipeline, coerce
from runtimes import handler_errors, preprocess, sandbox, structure
from runtimes.handler_errors import (
    BadInput,
    EmptyBody,
    ImageTooComplex,
    ImageTooLarge,
    NotAnImage,
    TruncatedImage,
)
from runtimes.limits import Limits, bytes_per_pixel, pixel_cap

#: The Pillow plugin of each allowed format, imported by the decode worker at its first request
#: (:func:`_import_plugins`), once per worker life, so that ``Image.open(formats=...)`` finds every allowed
#: format registered and never falls back to importing all of Pillow's plugins. What only some files need
#: Pillow imports itself, in the worker, when such a file comes: MPO (JpegImagePlugin's factory, for
#: multi-picture JPEGs) and TIFF's directory parser (``Image.Exif``, for EXIF).
_PLUGINS: Final = {
    "JPEG": "JpegImagePlugin",
    "PNG": "PngImagePlugin",
    "WEBP": "WebPImagePlugin",
    "GIF": "GifImagePlugin",
    "BMP": "BmpImagePlugin",
    "TIFF": "TiffImagePlugin",
}
_HEAD: Final = struct.Struct("<IIII")  # stored width, height; sent width, height
#: The decode worker (runtimes/sandbox.py), started by :func:`prepare`, replaced after any failure.
WORKER: Final = sandbox.Worker(lambda head, body: _decode(head, body))


@dataclass(frozen=True)
class Decoded:
    """The model input and what the decode cost (for the log line)."""

    array: np.ndarray  # float32 (H, W, C): the card pipeline's height, width and channels
    wh: tuple[int, int]  # the stored image's (width, height)
    cpu_ms: float
    peak_mb: (
        float  # the worker's peak resident set during the request (pages shared with the parent included)
    )


def prepare() -> None:
    """At sandbox start, before the model loads: start the decode worker (so it shares none of the
    model's pages). The handler's INIT imports no Pillow plugin: only the worker opens images, and the
    allowed formats travel with each request (the worker imports their plugins on first use)."""
    WORKER.start()


def _import_plugins(formats: tuple[str, ...]) -> None:
    """In the worker: the allowed formats' Pillow plugins, loaded at its first request (later requests
    find them in ``sys.modules``), where a plain handler's first ``Image.open`` would import them too
    (docs/coldstart.md). Explicitly, because ``Image.open(formats=...)`` would otherwise import every
    plugin Pillow has to find one."""
    for fmt in formats:
        importlib.import_module(f"PIL.{_PLUGINS[fmt]}")


def to_array(data: bytes, limits: Limits, size: Pipeline | tuple[int, int]) -> Decoded:
    """Validate, decode and preprocess untrusted bytes within the decode budget. ``size`` is the card's
    pipeline (a bare (height, width) means the first cards' one, core.pipeline.coerce)."""
    if not data:
        raise EmptyBody("no image bytes")
    _check_work(data, limits)
    budget = limits.decode_bytes(sandbox.resident_bytes() + WORKER.resident())
    pipeline = coerce(size)
    head = json.dumps(
        {
            "formats": limits.formats,
            "max_pixels": limits.max_image_pixels,
            "pipeline": pipeline,
            "budget": budget,
        }
    ).encode()
    try:
        out = WORKER.call(
            head, data, cpu_s=limits.decode_cpu_s, wall_s=limits.decode_wall_s, mem_bytes=budget
        )
    except sandbox.Overrun as e:
        raise _overrun(e, limits, budget) from None
    return _unpack(out)


def _overrun(e: sandbox.Overrun, limits: Limits, budget: int) -> BadInput:
    if e.what == "cpu":
        msg = f"decoding the image needs more than the {limits.decode_cpu_s:g} s CPU budget (DECODE_CPU_S)"
        return ImageTooComplex(msg, detail=str(e))
    if e.what == "memory":
        msg = f"decoding the image needs more than its {budget // 2**20} MB memory budget"
        return ImageTooComplex(msg, detail=str(e))
    return TruncatedImage("the image could not be decoded", detail=str(e))


def _unpack(out: sandbox.Outcome) -> Decoded:
    """The child's message: b"K" + sizes + float32 model input, b"E" + a typed error as JSON, or b"X" +
    why the image's own code cannot decode (a deployment fault, never the caller's)."""
    kind, body = out.payload[:1], out.payload[1:]
    if kind == b"X":
        raise RuntimeError(f"decode worker: {body.decode(errors='replace')}")
    if kind == b"E":
        err = json.loads(body)
        cls = {c.__name__: c for c in handler_errors.ALL}[err["type"]]
        raise cls(err["message"], detail=err["detail"])
    w, h, sw, sh = _HEAD.unpack_from(body)
    x = preprocess.from_worker(body, _HEAD.size, sw, sh)
    return Decoded(x, (w, h), round(out.cpu_s * 1000, 3), round(out.peak_rss / 2**20, 1))


def _decode(head: bytes, data: bytes) -> bytes:
    """In the worker: the whole Pillow side, every outcome encoded as bytes."""
    req = json.loads(head)
    _import_plugins(tuple(req["formats"]))
    try:
        pipeline = coerce(req["pipeline"])  # the JSON list back to a checked Pipeline
        w, h, x = _pixels(data, tuple(req["formats"]), req["max_pixels"], pipeline, req["budget"])
    except BadInput as e:
        err = {"type": type(e).__name__, "message": str(e), "detail": e.detail}
        return b"E" + json.dumps(err).encode()
    except ImportError as e:  # a decoder the pipeline needs is not in the image: the build's fault
        return b"X" + f"{type(e).__name__}: {e}".encode()
    return b"K" + _HEAD.pack(w, h, *x.size) + x.tobytes()


def _pixels(
    data: bytes, formats: tuple[str, ...], max_pixels: int, size: Pipeline, budget: int
) -> tuple[int, int, preprocess.Served]:
    with warnings.catch_warnings():
        # Pillow warns on big images and odd metadata: caller data, and the caps in _open are ours.
        warnings.simplefilter("ignore")
        with _open(data, formats, max_pixels, budget) as img:
            fmt, (w, h) = img.format, img.size
            try:  # the header passed _open's checks: now the pixels, by the pipeline's decoder
                return w, h, preprocess.served(img, size, data)
            except (MemoryError, ImportError):
                raise
            except Exception as e:  # noqa: BLE001 - any decoder failure on caller bytes is a bad input
                msg = f"{fmt} image {w}x{h} is truncated or corrupt"
                raise TruncatedImage(msg, detail=f"{type(e).__name__}: {e}") from None


def webp_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a WebP's first chunk (VP8X canvas, VP8 key frame or VP8L header); None when
    the bytes are not a WebP this walk reads (Pillow then decides)."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    kind = data[12:16]
    if kind == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if kind == b"VP8 ":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    if kind == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def gif_size(data: bytes) -> tuple[int, int] | None:
    """The canvas Pillow builds when it opens a GIF: the logical screen, grown to hold frame 0 when that
    frame reaches past it (Pillow also allocates a disposal buffer of the frame's size there). None when
    the bytes are not a GIF, have no frame 0 (Pillow refuses them) or the walk to frame 0 passes the
    metadata block budget (Pillow's own pixel check, at MAX_IMAGE_PIXELS, then decides). Walked as
    Pillow does: extensions and their sub-blocks, any other byte skipped, up to the first image
    descriptor or the trailer."""
    if len(data) < 13 or data[:6] not in (b"GIF87a", b"GIF89a"):
        return None
    w, h = struct.unpack_from("<HH", data, 6)
    pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    budget = structure.block_budget(len(data))
    steps = 0
    while pos < len(data) and data[pos] != 0x3B and steps <= budget:
        steps += 1
        if data[pos] == 0x2C:
            if pos + 9 > len(data):
                return None
            x0, y0, fw, fh = struct.unpack_from("<HHHH", data, pos + 1)
            return max(w, x0 + fw), max(h, y0 + fh)
        if data[pos] != 0x21:
            pos += 1
            continue
        pos += 2  # introducer, label; then sub-blocks up to an empty one
        while pos < len(data) and data[pos] and steps <= budget:
            steps += 1
            pos += 1 + data[pos]
        pos += 1
    return None  # no frame 0: Pillow refuses the file


def _check_canvas(data: bytes, formats: tuple[str, ...], max_pixels: int, budget: int) -> None:
    """Refuse, before Pillow sees the bytes, a WebP or GIF whose canvas is over its cap: Pillow's WebP
    reader allocates the whole canvas when it opens a file, and its GIF reader grows the canvas (and
    allocates a disposal buffer) for a frame 0 that reaches past the logical screen."""
    for fmt, size in (("WEBP", webp_size), ("GIF", gif_size)):
        wh = size(data) if fmt in formats else None
        if wh is not None and wh[0] * wh[1] > (cap := pixel_cap(budget, fmt, "", max_pixels)):
            raise _too_large(wh, cap, fmt, f"{budget} bytes budget, read from the {fmt} header")


def _open(data: bytes, formats: tuple[str, ...], max_pixels: int, budget: int) -> Image.Image:
    """Identify the format and read the header only; refuse an image over its pixel cap. Pillow's own
    pixel check stays on at the ceiling as a second line: wherever Pillow sizes a canvas, in readers the
    checks here do not follow, it refuses one over twice MAX_IMAGE_PIXELS before allocating it (its
    error threshold; below that it only warns, and the cap check after the header refuses)."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    _check_canvas(data, formats, max_pixels, budget)
    try:
        img = Image.open(io.BytesIO(data), formats=formats)
    except Image.DecompressionBombError as e:
        msg = f"image is over twice the {max_pixels}-pixel ceiling (MAX_IMAGE_PIXELS)"
        raise ImageTooLarge(msg, detail=f"Pillow: {e}") from None
    except UnidentifiedImageError:
        names = ", ".join(formats)
        raise NotAnImage(
            f"bytes are not an image in an accepted format ({names})", detail=repr(data[:8])
        ) from None
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - any header parser failure on caller bytes is a bad input
        raise NotAnImage("image header is invalid", detail=f"{type(e).__name__}: {e}") from None
    w, h = img.size
    fmt = "JPEG" if img.format == "MPO" else img.format or ""
    if fmt == "JPEG" and img.info.get("progressive"):
        fmt = "JPEG-progressive"
    cap = pixel_cap(budget, fmt, img.mode, max_pixels)
    if w <= 0 or h <= 0 or w * h > cap:
        img.close()
        bpp = bytes_per_pixel(fmt, img.mode)
        raise _too_large(
            (w, h), cap, f"{img.format} {img.mode}", f"{budget} bytes budget / {bpp} bytes per pixel"
        )
    return img


def _too_large(wh: tuple[int, int], cap: int, what: str, detail: str) -> ImageTooLarge:
    w, h = wh
    return ImageTooLarge(
        f"image is {w}x{h} = {w * h} pixels, over the {cap}-pixel cap for {what}", detail=detail
    )


def _check_work(data: bytes, limits: Limits) -> None:
    """Refuse, before forking, files whose structure already shows more work than any real file asks
    (runtimes/structure.py). A cheap early answer only: the budget bounds what these walks miss."""
    budget = structure.block_budget(len(data))
    if structure.metadata_blocks(data, budget) > budget:
        raise ImageTooComplex(f"image has more than {budget} metadata blocks for its {len(data)} bytes")
    if data.startswith(b"\xff\xd8\xff") and (scans := structure.jpeg_scans(data)) > limits.max_jpeg_scans:
        cap = limits.max_jpeg_scans
        raise ImageTooComplex(f"JPEG has {scans} scans, over the cap of {cap} (MAX_JPEG_SCANS)")
