"""The EXIF Orientation of an image, read with bounded work whatever the EXIF block holds.

Why not ``Image.getexif()``: Pillow unpacks every value of a tag when it is read, and nothing limits a
tag's count but the file's size. An Orientation tag holds one SHORT; a 1.3 MB PNG whose Orientation
holds 650,000 cost Pillow 0.6-1.7 s to read, for one number. This reader goes to IFD0's 0x0112 entry
and reads its first value only (Pillow, warning about the extra values, also keeps the first): at most
one pass over IFD0's entry table (65,535 entries at most, the count is two bytes) and one 2- or 4-byte
read, so its cost does not depend on any count the file states.

Where the EXIF block is, as Pillow finds it: ``info["exif"]`` (JPEG APP1, PNG eXIf, WebP EXIF), a PNG
text chunk "Raw profile type exif" (hex, as ImageMagick writes it), or a TIFF's own IFD0. Without an
Orientation there, XMP's ``tiff:Orientation`` is read, as Pillow does.
"""

from __future__ import annotations

import re
import struct
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # annotations only: Pillow is loaded by whoever opened the image
    from PIL import Image

ORIENTATION: Final = 0x0112
UPRIGHT: Final = 1
#: TIFF field types an Orientation value may be stored as (BYTE, SHORT, LONG and their signed forms),
#: with their sizes and struct codes.
_TYPES: Final = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i"}
_XMP: Final = re.compile(rb'tiff:Orientation(="|>)([0-9])')

Read = Callable[[int, int], bytes]


def orientation(img: Image.Image) -> int:
    """The EXIF Orientation (1..8; 1 = upright). A missing, malformed or out-of-range tag counts as
    upright: EXIF is caller data, and a broken block must not refuse the image."""
    try:
        value = _from_exif(img)
        if value is None:
            value = _from_xmp(img.info)
    except (ValueError, struct.error, OSError):
        return UPRIGHT
    return value if value is not None and 1 <= value <= 8 else UPRIGHT


def _from_exif(img: Image.Image) -> int | None:
    """The Orientation tag's first value, or None when the image has no EXIF Orientation."""
    if img.format == "PNG" and "exif" not in img.info:
        img.load()  # a PNG's eXIf chunk may follow the pixels; Pillow's getexif loads it the same way
    raw = img.info.get("exif")
    if raw is None and "Raw profile type exif" in img.info:
        text = img.info["Raw profile type exif"]
        start = _after_lines(text, 3)  # "\nexif\n   size\n" then hex; fromhex skips the line breaks
        raw = bytes.fromhex(text[start:]) if start >= 0 else None
    if isinstance(raw, bytes):
        if raw.startswith(b"Exif\0\0"):
            raw = raw[6:]
        return ifd0_tag(lambda at, n: raw[at : at + n], ORIENTATION)
    fp = getattr(img, "fp", None)
    if img.format == "TIFF" and fp is not None:
        return ifd0_tag(_file_reader(fp), ORIENTATION)
    return None


def _after_lines(text: str, n: int) -> int:
    """Index just past the ``n``-th line break of ``text`` (-1 when it has fewer)."""
    pos = -1
    for _ in range(n):
        pos = text.find("\n", pos + 1)
        if pos < 0:
            return -1
    return pos + 1


def _file_reader(fp: Any) -> Read:
    def read(at: int, n: int) -> bytes:
        fp.seek(at)
        return bytes(fp.read(n))

    return read


def _from_xmp(info: Mapping[Any, Any]) -> int | None:
    xmp = info.get("XML:com.adobe.xmp") or info.get("xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", "replace")
    match = _XMP.search(xmp) if isinstance(xmp, bytes) else None
    return int(match[2]) if match else None


def ifd0_tag(read: Read, tag: int) -> int | None:
    """The first value of integer ``tag`` in the IFD0 of the TIFF structure ``read`` gives access to
    (``read(offset, size)``; classic TIFF and BigTIFF, either byte order). None when IFD0 has no such
    entry; ValueError when the structure is malformed."""
    head = read(0, 16)
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None:
        raise ValueError("not a TIFF header")
    magic = struct.unpack_from(order + "H", head, 2)[0]
    if magic == 42:
        count_fmt, entry_fmt, inline = "H", "HHI", 4
        ifd = struct.unpack_from(order + "I", head, 4)[0]
    elif magic == 43:
        count_fmt, entry_fmt, inline = "Q", "HHQ", 8
        ifd = struct.unpack_from(order + "Q", head, 8)[0]
    else:
        raise ValueError(f"TIFF magic {magic}")
    n_size, e_size = struct.calcsize(order + count_fmt), struct.calcsize(order + entry_fmt) + inline
    n = min(struct.unpack(order + count_fmt, read(ifd, n_size))[0], 0xFFFF)
    table = read(ifd + n_size, n * e_size)
    i = _find_tag(table[: len(table) - len(table) % e_size], e_size, order, tag)
    if i < 0:
        return None
    entry = table[i * e_size : (i + 1) * e_size]
    _, kind, count = struct.unpack_from(order + entry_fmt, entry)
    return _first_value(read, order, entry, kind, count, inline)


def _find_tag(table: bytes, e_size: int, order: str, tag: int) -> int:
    """Index of the first entry of ``table`` whose tag is ``tag`` (-1: none), searched in C: the tags
    are every ``e_size // 2``-th 16-bit word of the table."""
    native = "<" if sys.byteorder == "little" else ">"
    needle = tag if order == native else int.from_bytes(tag.to_bytes(2, "little"), "big")
    tags = memoryview(table).cast("H")[:: e_size // 2].tolist()
    return tags.index(needle) if needle in tags else -1


def _first_value(read: Read, order: str, entry: bytes, kind: int, count: int, inline: int) -> int | None:
    """The first value of one IFD entry: inline when all its values fit the value field, else at the
    offset the field holds. Only one value is read, whatever ``count`` says."""
    code = _TYPES.get(kind)
    if code is None or count < 1:
        return None
    size = struct.calcsize(code)
    field = entry[len(entry) - inline :]
    if size * count > inline:
        offset = struct.unpack_from(order + ("I" if inline == 4 else "Q"), field)[0]
        field = read(offset, size)
    return int(struct.unpack_from(order + code, field)[0])
