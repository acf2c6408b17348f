"""Generators of hostile image structure, one per decoder behaviour, for the decode-budget tests and
scripts/measure_decode.py. Each builds a file from parameters (sizes, counts, layouts, padding), so a
Hypothesis strategy can vary the structure rather than replay fixed files.

The classes: JPEG scans (each another pass over the image), BMP run-length rows that end early (the
decoder pads every row), PNG ancillary chunks that inflate (ICC profiles, compressed text), TIFF strips
of one row (one decoder call per strip), and large canvases of every format (memory per pixel).
"""

from __future__ import annotations

import io
import itertools
import json
import struct
import zlib
from typing import Any

import numpy as np
from PIL import Image


def encode(img: Image.Image, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def textured(w: int, h: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    """A cheap image with detail (a gradient XOR pattern plus noise tiles), so encoders keep real data."""
    y, x = np.ogrid[0:h, 0:w]
    base = ((x * 7) ^ (y * 3)) & 255
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 32, size=(min(h, 64), min(w, 64)), dtype=np.int64)
    tile = np.tile(noise, (-(-h // noise.shape[0]), -(-w // noise.shape[1])))[:h, :w]
    grey = ((base + tile) & 255).astype(np.uint8)
    return Image.fromarray(np.stack([grey, grey[::-1], 255 - grey], -1), "RGB").convert(mode)


def _jpeg_segments(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every scan (SOS segment and its entropy-coded data) of a JPEG."""
    scans, pos = [], 2
    while pos + 4 <= len(data):
        marker = data[pos + 1]
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDA:
            end = pos + 2 + length
            while end + 1 < len(data) and not (
                data[end] == 0xFF and data[end + 1] not in (0, *range(0xD0, 0xD8))
            ):
                end += 1
            scans.append((pos, end))
            pos = end
        elif marker == 0xD9:
            break
        else:
            pos += 2 + length
    return scans


def jpeg_scans(
    side: int, repeats: int, fill: int = 0, which: int = -1, flat: bool = True, quality: int = 50
) -> bytes:
    """A progressive JPEG whose scan ``which`` is repeated ``repeats`` times, with ``fill`` 0xFF fill
    bytes before each repeat (legal between markers). Every repeat is one more pass over every block of
    the image; on a ``flat`` image an AC scan is a few bytes (one end-of-band run), so the file stays
    tiny while the work grows with side x side x repeats."""
    img = Image.new("RGB", (side, side), (120, 80, 200)) if flat else textured(side, side)
    data = encode(img, "JPEG", quality=quality, progressive=True)
    scans = _jpeg_segments(data)
    start, end = scans[which % len(scans)]
    repeat = b"\xff" * fill + data[start:end]
    return data[:end] + repeat * repeats + data[end:]


def bmp_rle(width: int, height: int, runs_per_row: int = 1, bits: int = 8, rows: int | None = None) -> bytes:
    """A run-length BMP (RLE8 or RLE4) whose rows hold ``runs_per_row`` 2-pixel runs then end early
    (end-of-line): the decoder pads every row to the full width. ``rows``: rows written (default all)."""
    palette = bytes(b for i in range(1 << bits) for b in (i, i, i, 0))
    row = b"\x02\x01" * runs_per_row + b"\x00\x00"
    pixels = row * (height if rows is None else rows) + b"\x00\x01"
    offset = 14 + 40 + len(palette)
    compression = 1 if bits == 8 else 2
    info = struct.pack(
        "<IiiHHIIiiII", 40, width, height, 1, bits, compression, len(pixels), 2835, 2835, 1 << bits, 0
    )
    head = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
    return head + info + palette + pixels


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def png_chunks(n_chunks: int, inflated: int, kind: bytes = b"iCCP", pad: int = 0, side: int = 32) -> bytes:
    """A small valid PNG with ``n_chunks`` compressed ancillary chunks (iCCP, zTXt or iTXt) before its
    pixels, each inflating to ``inflated`` bytes, padded with ``pad`` bytes after the zlib stream."""
    png = encode(textured(side, side), "PNG")
    stream = zlib.compress(b"\0" * inflated, 9) + b"\x5a" * pad
    body = {
        b"iCCP": b"icc\0\0" + stream,
        b"zTXt": b"Comment\0\0" + stream,
        b"iTXt": b"Comment\0\1\0\0\0" + stream,
    }[kind]
    chunks = b"".join(_png_chunk(kind, body) for _ in range(n_chunks))
    ihdr_end = 8 + 25
    return png[:ihdr_end] + chunks + png[ihdr_end:]


def tiff_strips(width: int, height: int, rows_per_strip: int = 1, mode: str = "RGB") -> bytes:
    """An uncompressed little-endian TIFF (RGB 8-bit, L 8-bit or F 32-bit float) cut into strips of
    ``rows_per_strip`` rows: the decoder is called once per strip."""
    spp, bps, fmt, photometric = {"RGB": (3, 8, 1, 2), "L": (1, 8, 1, 1), "F": (1, 32, 3, 1)}[mode]
    row_bytes = width * spp * bps // 8
    n = -(-height // rows_per_strip)
    counts = [row_bytes * min(rows_per_strip, height - i * rows_per_strip) for i in range(n)]
    n_entries = 11
    ifd_size = 2 + 12 * n_entries + 4
    arrays_at = 8 + ifd_size
    bps_at, fmt_at, offsets_at = arrays_at, arrays_at + 6, arrays_at + 12
    counts_at = offsets_at + 4 * n
    pixels_at = counts_at + 4 * n
    offsets = [pixels_at + c for c in itertools.accumulate(counts, initial=0)][:n]
    entries = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, spp, bps_at if spp > 2 else bps),
        (259, 3, 1, 1),
        (262, 3, 1, photometric),
        (273, 4, n, offsets_at if n > 1 else offsets[0]),
        (277, 3, 1, spp),
        (278, 4, 1, rows_per_strip),
        (279, 4, n, counts_at if n > 1 else counts[0]),
        (284, 3, 1, 1),
        (339, 3, spp, fmt if spp == 1 else fmt_at),
    ]
    ifd = struct.pack("<H", n_entries) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0\0\0\0"
    arrays = struct.pack("<6H", bps, bps, bps, fmt, fmt, fmt) + struct.pack(f"<{n}I", *offsets)
    arrays += struct.pack(f"<{n}I", *counts)
    pixels = bytes(sum(counts))
    return b"II*\0" + struct.pack("<I", 8) + ifd + arrays + pixels


def canvas(fmt: str, width: int, height: int, mode: str = "RGB", **kw: Any) -> bytes:
    """A large image of one colour in ``fmt`` (tiny file, full-size decode): the memory-per-pixel case."""
    colour: Any = {"RGB": (90, 160, 30), "RGBA": (90, 160, 30, 200), "CMYK": (10, 80, 20, 5)}.get(mode, 100)
    return encode(Image.new(mode, (width, height), colour), fmt, **kw)


def nested(depth: int, where: str = "requestContext") -> dict[str, Any]:
    """An HTTP-API event with a list nested ``depth`` deep in one field."""
    value: Any = []
    for _ in range(depth):
        value = [value]
    event: dict[str, Any] = {"version": "2.0", "rawPath": "/", "requestContext": {"http": {"method": "POST"}}}
    if where == "requestContext":
        event["requestContext"]["domainName"] = value
    else:
        event[where] = {"x": value}
    event["body"] = "{}"
    return event


# ------------------------------------------------------------------------------------------- events
#: Lambda's synchronous invoke payload limit: no event a function receives is larger.
PAYLOAD_LIMIT = 6 * 1024 * 1024
#: Event shapes the handler accepts ("bare": the flood is the whole event, not an object).
SHAPES = ("direct", "apigw-v1", "http-v2", "function-url", "bare")
#: Where a flood goes, per shape: a field holding a container of ``n`` atoms, a string of ``n`` units, or
#: ``n`` levels of nesting. Each is a place an event can be large within the payload limit.
PLACES: dict[str, tuple[str, ...]] = {
    "direct": (
        "extra-list",
        "extra-dict",
        "url-list",
        "meta-list",
        "image_b64",
        "image_b64-spaced",
        "nested",
    ),
    "apigw-v1": (
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "requestContext",
        "body-json",
        "body-json-string",
        "body-b64",
        "body-raw",
        "nested",
    ),
    "http-v2": (
        "cookies",
        "headers",
        "rawQueryString",
        "rawQueryString-list",
        "queryStringParameters",
        "body-json",
        "body-b64",
        "nested",
    ),
    "function-url": ("cookies", "headers", "rawQueryString", "rawQueryString-list", "body-json", "nested"),
    "bare": ("list", "nested"),
}
#: JSON atoms a container is filled with (the runtime builds one object per atom).
ATOMS = ("0", "[]", "{}", '"a=b"', "null", '"content-type"')


def _http_base(shape: str) -> dict[str, Any]:
    if shape == "apigw-v1":
        return {
            "resource": "/predict",
            "path": "/predict",
            "httpMethod": "POST",
            "headers": {"Content-Type": "application/json"},
            "requestContext": {"stage": "prod", "requestId": "r-1"},
            "isBase64Encoded": False,
            "body": '{"url": "http://192.0.2.1/x.jpg"}',
        }
    domain = "abc.lambda-url.eu-west-1.on.aws" if shape == "function-url" else "abc.execute-api.amazonaws.com"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"domainName": domain, "http": {"method": "POST"}},
        "isBase64Encoded": False,
        "body": '{"url": "http://192.0.2.1/x.jpg"}',
    }


def _units(n: int, atom: str) -> str:
    return ",".join([atom] * n)


def _keys(n: int, atom: str) -> str:
    return ",".join(f'"k{i:07d}":{atom}' for i in range(n))  # fixed width: the text grows linearly


def _flood_value(place: str, n: int, atom: str) -> str:
    """The JSON text of the flooded field's value."""
    if place == "nested":
        return "[" * n + "]" * n
    if place in ("extra-dict", "headers", "queryStringParameters", "requestContext"):
        return "{" + _keys(n, atom) + "}"
    if place in ("multiValueHeaders", "multiValueQueryStringParameters"):
        return '{"content-type":[' + _units(n, atom) + "]}"
    if place == "rawQueryString":
        return '"' + "&".join(["a=b"] * n) + '&meta=1"'
    if place in ("image_b64", "body-b64", "body-raw"):
        return '"' + "QUJD" * n + '"'
    if place == "image_b64-spaced":
        return '"' + "Q U J D " * n + '"'
    if place == "body-json":
        return json.dumps("[" + _units(n, atom) + "]")
    if place == "body-json-string":
        return json.dumps(json.dumps({"url": "x" * n}))
    return "[" + _units(n, atom) + "]"  # lists: extra-list, url-list, meta-list, cookies, rawQueryString-list


_FIELD = {
    "extra-list": "x",
    "extra-dict": "x",
    "url-list": "url",
    "meta-list": "meta",
    "rawQueryString-list": "rawQueryString",
    "body-json": "body",
    "body-json-string": "body",
    "body-b64": "body",
    "body-raw": "body",
    "image_b64-spaced": "image_b64",
}


def event_json(shape: str, place: str, n: int, atom: str = "0") -> str:
    """The JSON text of an event of ``shape`` flooded at ``place`` with ``n`` units (``atom``s, query
    fields, base64 quads or nesting levels): what the Lambda runtime parses before the handler runs."""
    value = _flood_value(place, n, atom)
    if shape == "bare":
        return value
    if shape == "direct":
        base: dict[str, Any] = {"url": "http://192.0.2.1/x.jpg"}
        if place in ("image_b64", "image_b64-spaced"):
            base = {}
    else:
        base = _http_base(shape)
        if place == "body-b64":
            base["isBase64Encoded"] = True
        if place == "body-raw":
            base["headers"] = {"content-type": "application/octet-stream"}
            base["isBase64Encoded"] = True
    field = _field(shape, place)
    base.pop(field, None)
    head = json.dumps(base)
    return head[:-1] + (", " if base else "") + json.dumps(field) + ": " + value + "}"


def _field(shape: str, place: str) -> str:
    if place == "nested":
        return "x" if shape == "direct" else "requestContext"
    return _FIELD.get(place, place)


def event(shape: str, place: str, n: int, atom: str = "0") -> Any:
    """The event as the runtime hands it over (``json.loads`` of :func:`event_json`). Nesting is built
    in Python: json's parser stops at about a thousand levels, the handler is tested far deeper."""
    if place != "nested":
        return json.loads(event_json(shape, place, n, atom))
    value: Any = []
    for _ in range(max(0, n - 1)):
        value = [value]
    if shape == "bare":
        return value
    out = json.loads(event_json(shape, place, 1, atom))
    out[_field(shape, place)] = value
    return out


def max_units(shape: str, place: str, atom: str = "0", limit: int = PAYLOAD_LIMIT) -> int:
    """The largest ``n`` whose event text fits in ``limit`` bytes (the text grows linearly with n)."""
    one, two = (len(event_json(shape, place, k, atom).encode()) for k in (1, 2))
    return max(0, (limit - one) // max(1, two - one) + 1)


# ------------------------------------------------------------------------------------ header tricks
def canvas_gif(
    width: int,
    height: int,
    x0: int = 0,
    y0: int = 0,
    screen: tuple[int, int] = (1, 1),
    disposal: int = 2,
    frames: int = 1,
) -> bytes:
    """A tiny GIF whose logical screen is ``screen`` but whose frame 0 (at ``x0, y0``, ``width`` x
    ``height``) reaches past it: Pillow grows the canvas to hold the frame when it opens the file, and
    with ``disposal`` 2 or 3 allocates a disposal buffer of the frame's size too. ``frames`` repeats the
    frame (later frames are never decoded by the handler)."""
    head = b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    gce = b"\x21\xf9\x04" + bytes([(disposal & 7) << 2, 0, 0, 0]) + b"\0"
    desc = b"\x2c" + struct.pack("<HHHHB", x0 & 0xFFFF, y0 & 0xFFFF, width, height, 0)
    data = b"\x02\x02\x4c\x01\x00"  # LZW minimum code size 2; clear, one pixel, end
    return head + (gce + desc + data) * frames + b"\x3b"


def tiff_ifd(entries: list[tuple[int, int, int, bytes]], big_endian: bool = False) -> bytes:
    """A TIFF/EXIF block: header and one IFD of ``(tag, type, count, value bytes)`` entries; values
    over 4 bytes are placed after the IFD and pointed to."""
    e = ">" if big_endian else "<"
    out = (b"MM\0*" if big_endian else b"II*\0") + struct.pack(e + "I", 8)
    ifd_end = 8 + 2 + 12 * len(entries) + 4
    table, extra = struct.pack(e + "H", len(entries)), b""
    for tag, kind, count, value in entries:
        if len(value) <= 4:
            table += struct.pack(e + "HHI", tag, kind, count) + value.ljust(4, b"\0")
        else:
            table += struct.pack(e + "HHII", tag, kind, count, ifd_end + len(extra))
            extra += value
    return out + table + b"\0\0\0\0" + extra


def exif_flood(n_values: int, fmt: str = "PNG", value: int = 6, big_endian: bool = False) -> bytes:
    """A 64x64 image whose EXIF Orientation tag holds ``n_values`` SHORT values (a real one holds one):
    a reader that unpacks every value of a tag pays for all of them."""
    e = ">" if big_endian else "<"
    raw = tiff_ifd([(0x0112, 3, n_values, struct.pack(e + "H", value) * n_values)], big_endian)
    return encode(textured(64, 64), fmt, exif=b"Exif\0\0" + raw)
