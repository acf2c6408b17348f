"""How much work a file asks of the decoder, counted before decoding (cheap walks, bounded themselves).

Two kinds of decode work are not bounded by the pixel cap:

* JPEG scans: every scan is another full pass over the image in libjpeg; 300 repeats of the last scan
  of a 6324 px progressive JPEG (373 KB) took 29 s on this machine (MAX_JPEG_SCANS bounds them).
* Metadata blocks parsed one by one in Python by Pillow: a 6 MB body of 1-byte JPEG COM segments, PNG
  tEXt chunks or GIF comment sub-blocks took 2.3-3.5 s to open (measured on the shared 2-core machine;
  tests/unit/test_handler.py keeps the regressions). Real files have a few dozen blocks plus their pixel
  data's (libpng writes 8 KB IDAT chunks), so the budget is 1,024 blocks plus one per 4 KB of file.
"""

from __future__ import annotations

from typing import Final

_SOS: Final = b"\xff\xda"
#: JPEG markers without a length field (SOI, EOI, RSTn, TEM).
_STANDALONE: Final = frozenset({0x01, 0xD8, 0xD9, *range(0xD0, 0xD8)})
BLOCKS_BASE: Final = 1024
BYTES_PER_BLOCK: Final = 4096


def block_budget(n_bytes: int) -> int:
    """Metadata blocks a file of ``n_bytes`` may have (see the module docstring)."""
    return BLOCKS_BASE + n_bytes // BYTES_PER_BLOCK


def _jpeg_header_end(data: bytes, budget: int) -> tuple[int, int]:
    """(position of the first SOS or of the first malformed segment, segments walked <= budget + 1)."""
    pos, n = 2, 0
    while pos + 4 <= len(data) and data[pos] == 0xFF and n <= budget:
        marker = data[pos + 1]
        n += 1
        if marker == _SOS[1]:
            break
        if marker == 0xFF:  # a fill byte
            pos += 1
        elif marker in _STANDALONE:
            pos += 2
        else:
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return pos, n


def jpeg_scans(data: bytes) -> int:
    """An upper bound on the scans libjpeg would decode: SOS markers after the header segments (an
    EXIF thumbnail's scans do not count), counted byte-wise so no padding between scans hides one."""
    pos, _ = _jpeg_header_end(data, block_budget(len(data)))
    return data.count(_SOS, min(pos, len(data)))


def _png_chunks(data: bytes, budget: int) -> int:
    pos, n = 8, 0
    while pos + 8 <= len(data) and n <= budget:
        n += 1
        if data[pos + 4 : pos + 8] == b"IEND":
            break
        pos += 12 + int.from_bytes(data[pos : pos + 4], "big")
    return n


def _gif_blocks(data: bytes, budget: int) -> int:
    """Extension blocks and their sub-blocks before the first image descriptor."""
    pos = 13 + (3 << ((data[10] & 7) + 1) if len(data) > 10 and data[10] & 0x80 else 0)
    n = 0
    while pos < len(data) and data[pos] == 0x21 and n <= budget:  # an extension: label, sub-blocks
        pos += 2
        while pos < len(data) and data[pos] and n <= budget:
            n += 1
            pos += 1 + data[pos]
        pos += 1
        n += 1
    return n


def metadata_blocks(data: bytes, budget: int) -> int:
    """Blocks Pillow would parse in Python (JPEG segments, PNG chunks, GIF extension sub-blocks); the
    count stops just past ``budget``, so the walk costs at most budget steps."""
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg_header_end(data, budget)[1]
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png_chunks(data, budget)
    if data.startswith((b"GIF87a", b"GIF89a")):
        return _gif_blocks(data, budget)
    return 0
