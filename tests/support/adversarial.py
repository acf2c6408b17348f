"""The adversarial corpus for the handler, generated (no committed binaries): hostile images and events.

Used by tests/unit/test_handler.py (in-process, the hostile-input regressions), tests/unit/test_fuzz.py
(Hypothesis mutations of the same seeds) and tests/integration/test_adversarial_images.py's per-image corpus
test (over HTTP through the Lambda emulator). ``python -m tests.support.adversarial OUT_DIR`` writes the
corpus to disk.

Each image case names the errorTypes it may get: ``OK`` means a normal answer is acceptable too.
"""

from __future__ import annotations

import io
import json
import random
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

OK = "OK"
IMAGE_ERRORS = frozenset({"NotAnImage", "TruncatedImage", "ImageTooLarge", "ImageTooComplex", OK})
FORMATS = ("JPEG", "PNG", "GIF", "TIFF", "WEBP", "BMP")


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    allowed: frozenset[str]  # errorTypes accepted (OK = a normal answer)


def photo(w: int = 64, h: int = 48, seed: int = 0) -> Image.Image:
    """A small deterministic RGB image with edges and gradients (something worth compressing)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x ^ y) & 255], -1)
    noise = rng.integers(0, 40, size=(h, w, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")


def encode(img: Image.Image, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def seeds() -> dict[str, bytes]:
    """One valid small file per allowed format (and variants: progressive JPEG, palette PNG, ...)."""
    img = photo()
    return {
        "jpeg": encode(img, "JPEG", quality=85),
        "jpeg-progressive": encode(img, "JPEG", quality=85, progressive=True),
        "png": encode(img, "PNG"),
        "png-palette": encode(img.convert("P"), "PNG"),
        "gif": encode(img.convert("P"), "GIF"),
        "tiff": encode(img, "TIFF"),
        "tiff-lzw": encode(img, "TIFF", compression="tiff_lzw"),
        "webp": encode(img, "WEBP", quality=80),
        "webp-lossless": encode(img, "WEBP", lossless=True),
        "bmp": encode(img, "BMP"),
    }


def jpeg_segments(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each marker segment up to the first SOS, then each scan (SOS + its entropy
    data) up to EOI; enough structure to repeat scans."""
    out, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] != 0xD9:
        marker = data[pos + 1]
        end = pos + 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker == 0xDA:  # entropy-coded data runs to the next marker that is not RSTn or stuffing
            while end + 1 < len(data) and not (
                data[end] == 0xFF and data[end + 1] not in (0x00, *range(0xD0, 0xD8))
            ):
                end += 1
        out.append((pos, min(end, len(data))))
        pos = end
    return out


def scan_bomb(side: int = 2048, repeats: int = 300) -> bytes:
    """A progressive JPEG whose last scan is repeated: every repeat is one more full decoding pass
    (measured: 6324 px, 300 repeats, 262 KB took 8.2 s to decode without the scan limit)."""
    img = Image.new("RGB", (side, side), (120, 80, 200))
    data = encode(img, "JPEG", quality=50, progressive=True)
    segs = jpeg_segments(data)
    start, end = segs[-1]
    return data[:end] + data[start:end] * repeats + data[end:]


def tiff_bad_strip_offsets(field_type: int = 11) -> bytes:
    """A tiny grey TIFF whose StripOffsets tag has the wrong type (11 FLOAT, 1 BYTE, 5 RATIONAL):
    Pillow raises TypeError on it (unguarded, a handler answers 500 with a stack trace)."""
    w = h = 4
    pixels = bytes(range(16))
    entries = [
        (256, 3, 1, w),  # ImageWidth SHORT
        (257, 3, 1, h),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression none
        (262, 3, 1, 1),  # Photometric BlackIsZero
        (273, field_type, 1, 0),  # StripOffsets, patched below
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 3, 1, h),  # RowsPerStrip
        (279, 4, 1, len(pixels)),  # StripByteCounts LONG
    ]
    ifd_at = 8
    data_at = ifd_at + 2 + 12 * len(entries) + 4
    extra = b""
    body = b""
    for tag, typ, count, value in entries:
        if tag == 273:
            if typ == 11:
                raw = struct.pack("<f", float(data_at + 8))
            elif typ == 5:
                raw = struct.pack("<I", data_at)  # points at the rational below
                extra = struct.pack("<II", data_at + 8, 1)
            else:
                raw = struct.pack("<BBBB", (data_at + 8) & 0xFF, 0, 0, 0)
        elif typ == 3:
            raw = struct.pack("<HH", value, 0)
        else:
            raw = struct.pack("<I", value)
        body += struct.pack("<HHI", tag, typ, count) + raw
    header = b"II*\0" + struct.pack("<I", ifd_at)
    ifd = struct.pack("<H", len(entries)) + body + struct.pack("<I", 0)
    return header + ifd + extra.ljust(8, b"\0") + pixels


def block_flood(fmt: str, n_bytes: int = 300_000) -> bytes:
    """A valid small image padded with ``n_bytes`` of 1-byte metadata blocks that Pillow parses one by
    one in Python: JPEG COM segments, PNG tEXt chunks, GIF comment sub-blocks (6 MB: 2.3-3.5 s)."""
    if fmt == "JPEG":
        good = seeds()["jpeg"]
        return good[:2] + b"\xff\xfe\x00\x03a" * (n_bytes // 5) + good[2:]
    if fmt == "PNG":
        import zlib

        good = seeds()["png"]
        chunk = struct.pack(">I", 1) + b"tEXt" + b"a" + struct.pack(">I", zlib.crc32(b"tEXta"))
        return good[:33] + chunk * (n_bytes // len(chunk)) + good[33:]
    good = seeds()["gif"]
    at = good.index(b",", 13 + (3 << ((good[10] & 7) + 1)))  # the image descriptor
    return good[:at] + b"!\xfe" + b"\x01a" * (n_bytes // 2) + b"\x00" + good[at:]


def huge_header(fmt: str) -> bytes:
    """A valid-looking header announcing 100,000 x 100,000 pixels (10 Gpx) with almost no data."""
    data = bytearray(seeds()["png" if fmt == "PNG" else "bmp" if fmt == "BMP" else "gif"])
    if fmt == "PNG":
        import zlib

        ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
        data[16:29] = ihdr
        data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    elif fmt == "BMP":
        data[18:26] = struct.pack("<ii", 100_000, 100_000)
    else:
        data[6:10] = struct.pack("<HH", 65535, 65535)
    return bytes(data)


def specials() -> list[Case]:
    """Named hostile files: each reproduces a finding or probes a decoder edge."""
    bad = frozenset(IMAGE_ERRORS - {OK})
    cases = [
        Case("scan-bomb", scan_bomb(1024, 300), frozenset({"ImageTooComplex"})),
        *[Case(f"tiff-strip-offsets-type{t}", tiff_bad_strip_offsets(t), bad | {OK}) for t in (1, 5, 11)],
        *[
            Case(f"{f.lower()}-block-flood", block_flood(f), frozenset({"ImageTooComplex"}))
            for f in ("JPEG", "PNG", "GIF")
        ],
        Case("png-10gpx-header", huge_header("PNG"), frozenset({"ImageTooLarge"})),
        # BMP is opt-in (DECODE_FORMATS): refused as a format by default, by its size when enabled
        Case("bmp-10gpx-header", huge_header("BMP"), frozenset({"ImageTooLarge", "NotAnImage"})),
        Case("gif-65535-screen", huge_header("GIF"), frozenset({"ImageTooLarge", OK})),
        Case("empty-ish", b"\xff\xd8\xff", bad),
        Case("text", b"hello, not an image", frozenset({"NotAnImage"})),
        Case("html", b"<html><body>x</body></html>", frozenset({"NotAnImage"})),
        Case("svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', frozenset({"NotAnImage"})),
    ]
    for name, data in seeds().items():
        cases.append(Case(f"{name}-half", data[: len(data) // 2], bad | {OK}))
        cases.append(Case(f"{name}-header-only", data[:40], bad | {OK}))
    return cases


def header_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of the header fields a decoder trusts most: dimensions, bit depths, colour
    types, TIFF tag types/counts/offsets, JPEG segment lengths. Format found from the magic bytes."""
    if data.startswith(b"\x89PNG"):
        return [(16, 4), (20, 4), (24, 1), (25, 1), (26, 1), (28, 1), (8, 4)]
    if data.startswith(b"GIF"):
        return [(6, 2), (8, 2), (10, 1), (13, 1)]
    if data.startswith(b"BM"):
        return [(2, 4), (10, 4), (14, 4), (18, 4), (22, 4), (28, 2), (30, 4), (46, 4)]
    if data.startswith(b"RIFF"):
        return [(4, 4), (12, 4), (16, 4), (20, 10), (26, 4)]
    if data[:4] in (b"II*\0", b"MM\0*"):
        ifd = struct.unpack("<I" if data[:2] == b"II" else ">I", data[4:8])[0]
        entries = [(ifd + 2 + 12 * k, 12) for k in range(12)]
        return [(4, 4), (ifd, 2)] + [(o + d, n) for o, _ in entries for d, n in ((2, 2), (4, 4), (8, 4))]
    segments = jpeg_segments(data) if data.startswith(b"\xff\xd8") else []
    sof = [(a + 5, 4) for a, _ in segments if data[a + 1] in (0xC0, 0xC2)]
    return [(a + 2, 2) for a, _ in segments] + sof or [(0, 8)]


#: A mutation: (kind, a, b, payload) - kinds "flip", "truncate", "field", "dup", "delete".
Op = tuple[str, int, int, bytes]


def apply(data: bytes, op: Op) -> bytes:
    """One mutation. Positions are taken modulo the data length, so any drawn numbers are valid."""
    kind, a, b, payload = op
    out = bytearray(data)
    n = max(len(out), 1)
    if kind == "flip":
        out[a % n] ^= 1 << (b % 8)
    elif kind == "truncate":
        del out[max(a % n, 1) :]
    elif kind == "field":
        fields = header_fields(data)
        off, size = fields[a % len(fields)]
        out[off : off + size] = (payload * size)[:size].ljust(size, b"\0")
    elif kind == "dup":
        i, j = sorted((a % n, b % n))
        out[j:j] = out[i:j][:4096]
    else:
        i, j = sorted((a % n, b % n))
        del out[i:j]
    return bytes(out)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """1-4 random mutations (the seeded, Hypothesis-free variant for the corpus script and images)."""
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(("flip", "flip", "truncate", "field", "field", "dup", "delete"))
        payload = rng.choice([b"\xff", b"\x00", b"\x7f", b"\x80", bytes([rng.randrange(256)])])
        data = apply(data, (kind, rng.randrange(1 << 20), rng.randrange(1 << 20), payload))
    return data


def mutants(n: int, seed: int = 0) -> Iterator[Case]:
    rng = random.Random(seed)
    items = sorted(seeds().items())
    for k in range(n):
        name, data = items[k % len(items)]
        yield Case(f"{name}-mutant{k}", mutate(data, rng), IMAGE_ERRORS)


def hostile_events(good_b64: str) -> list[tuple[str, Any, frozenset[str]]]:
    """Malformed event shapes (wrong types, missing or empty fields, and neighbours): (name, event, allowed
    errorTypes)."""
    inv = frozenset({"InvalidField", "InvalidJson", "EmptyBody", "MissingInput"})
    body = json.dumps({"image_b64": good_b64})
    return [
        ("requestContext-string", {"rawPath": "/", "requestContext": "x"}, inv),
        ("requestContext-list", {"requestContext": [1], "body": body}, inv),
        ("headers-list", {"httpMethod": "POST", "headers": ["a"], "body": body}, inv),
        ("multiValueHeaders-string", {"httpMethod": "POST", "multiValueHeaders": "x", "body": body}, inv),
        ("query-list", {"httpMethod": "POST", "queryStringParameters": [1], "body": body}, inv),
        ("body-number", {"httpMethod": "POST", "body": 5}, inv),
        ("isBase64Encoded-object", {"httpMethod": "POST", "body": body, "isBase64Encoded": {}}, inv),
        ("isBase64Encoded-string-false", {"httpMethod": "POST", "body": body, "isBase64Encoded": "false"},
         frozenset({OK})),
        ("deep-json", {"httpMethod": "POST", "body": "[" * 100_000}, frozenset({"InvalidJson"})),
        ("url-number", {"url": 5}, frozenset({"InvalidField"})),
        ("event-list", [1, 2], frozenset({"InvalidJson"})),
    ]  # fmt: skip


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "build/adversarial")
    out.mkdir(parents=True, exist_ok=True)
    cases = [*specials(), *mutants(int(argv[1]) if len(argv) > 1 else 200)]
    for c in cases:
        (out / f"{c.name}.bin").write_bytes(c.data)
    print(f"{len(cases)} files in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
