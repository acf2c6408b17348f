"""Input caps and the decode budget of the Lambda handler, read once when the sandbox starts.

Every cap has an env var and a default; docs/handler.md lists them all. Decoding runs in a forked child
(runtimes/sandbox.py) held to two budgets that follow the function's memory size
(``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``):

* CPU: ``DECODE_CPU_S`` seconds of one vCPU. Lambda gives memory/1,769 of a vCPU, so the child's
  wall-clock deadline is that CPU time divided by the share (a docker ``--cpus`` quota wins when visible).
* Memory: ``DECODE_MEMORY_FRACTION`` of the function's memory minus what the process already holds.
  The child's address space is limited to it, and before any pixel is decoded the image's pixel count is
  checked against it with the worst bytes per pixel measured for its format and mode
  (:data:`BYTES_PER_PIXEL`, measured by scripts/measure_decode.py: results/decode_bpp.csv).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from core.budget import DECODE_CPU_S, URL_TIMEOUT_S, cpu_share
from core.settings import read

if TYPE_CHECKING:  # annotations only: ipaddress loads with the first {"url"} event (runtimes/fetch.py)
    import ipaddress

    IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The pixel ceiling whatever the memory: 40 Mpx, more than any phone photo a client sends.
MAX_PIXELS_CEILING: Final = 40_000_000
#: Formats a client sends; the others Pillow has are opt-in (DECODE_FORMATS) and held to the same budget.
DEFAULT_FORMATS: Final = ("JPEG", "PNG", "WEBP", "GIF")
OPTIONAL_FORMATS: Final = ("BMP", "TIFF")
#: Peak bytes the decode adds per pixel beyond DECODE_FIXED_BYTES, per (format, mode) at header time: the
#: worst measured, plus 15 % (scripts/measure_decode.py writes results/decode_bpp.csv; a test fails when
#: a measurement is above this table). ``(format, "")`` is the format's worst mode, for unlisted modes.
#: Progressive JPEGs are their own kind: libjpeg keeps every coefficient of the image until the last scan.
BYTES_PER_PIXEL: Final[Mapping[tuple[str, str], float]] = {
    ("BMP", ""): 5.5,
    ("BMP", "P"): 5.5,
    ("BMP", "RGB"): 4.0,
    ("GIF", ""): 5.5,
    ("GIF", "P"): 5.5,
    ("JPEG", ""): 9.0,
    ("JPEG", "CMYK"): 9.0,
    ("JPEG", "L"): 5.5,
    ("JPEG", "RGB"): 4.5,
    ("JPEG-progressive", ""): 13.5,
    ("JPEG-progressive", "CMYK"): 13.5,
    ("JPEG-progressive", "L"): 5.5,
    ("JPEG-progressive", "RGB"): 11.0,
    ("PNG", ""): 9.0,
    ("PNG", "I;16"): 6.5,
    ("PNG", "L"): 5.5,
    ("PNG", "LA"): 8.5,
    ("PNG", "P"): 5.5,
    ("PNG", "RGB"): 4.0,
    ("PNG", "RGBA"): 9.0,
    ("TIFF", ""): 10.5,
    ("TIFF", "CMYK"): 9.0,
    ("TIFF", "F"): 10.5,
    ("TIFF", "I;16"): 7.0,
    ("TIFF", "RGB"): 4.5,
    ("WEBP", ""): 23.5,
    ("WEBP", "RGB"): 19.0,
    ("WEBP", "RGBA"): 23.5,
}
#: What a decode adds whatever the image's size (decoder state, buffers, the resized copy).
DECODE_FIXED_BYTES: Final = 8 * 1024 * 1024
#: The decode's memory budget when the memory size is unknown (not under Lambda).
UNKNOWN_MEMORY_BUDGET: Final = 1024 * 1024 * 1024
#: The smallest decode budget: a runtime that already holds most of the memory can still read a baseline
#: JPEG of ~2 Mpx; past this floor the runtime itself, not the decode, is over the fraction.
MIN_DECODE_BUDGET: Final = 16 * 1024 * 1024
#: Added to the child's wall-clock deadline for the fork and the pipe.
WALL_SLACK_S: Final = 0.25


def bytes_per_pixel(fmt: str, mode: str) -> float:
    """The measured worst case for this format and mode (the format's worst for an unlisted mode)."""
    return BYTES_PER_PIXEL.get((fmt, mode)) or BYTES_PER_PIXEL.get((fmt, ""), max(BYTES_PER_PIXEL.values()))


def pixel_cap(budget_bytes: int, fmt: str, mode: str, ceiling: int = MAX_PIXELS_CEILING) -> int:
    """Pixels an image of this format and mode may have to decode within ``budget_bytes``."""
    return max(0, min(ceiling, int((budget_bytes - DECODE_FIXED_BYTES) / bytes_per_pixel(fmt, mode))))


#: Request bytes allowed per MB of function memory. A body is held about four times over while it is
#: answered (the runtime's event, its JSON string, the decoded bytes, the worker's copy); at 128 MB a
#: 6 MB body got the runtime itself killed (tests/integration/test_budget_images.py), so the caps on
#: bodies and downloads follow the memory size as the pixel cap does: 1 MiB at 128 MB, the full caps
#: from 768 MB (bodies) and 1,280 MB (downloads) up.
INPUT_BYTES_PER_MB: Final = 8 * 1024


def input_cap(ceiling: int, memory_mb: int | None) -> int:
    """A body or download cap for a function of ``memory_mb`` MB (None: not under Lambda)."""
    if not memory_mb:
        return ceiling
    return max(256 * 1024, min(ceiling, memory_mb * INPUT_BYTES_PER_MB))


def decode_budget(memory_mb: int | None, fraction: float, rss_bytes: int) -> int:
    """Bytes the decode may add to a process holding ``rss_bytes`` so the sandbox stays under
    ``fraction`` of its memory (never under MIN_DECODE_BUDGET)."""
    if not memory_mb:
        return UNKNOWN_MEMORY_BUDGET
    return max(MIN_DECODE_BUDGET, int(fraction * memory_mb * 1024 * 1024) - rss_bytes)


@dataclass(frozen=True)
class Limits:
    """The caps one request is held to; ``from_env`` reads them, the defaults are the documented ones."""

    #: Lambda's synchronous payload limit is 6 MB; a bigger body cannot arrive anyway.
    max_body_bytes: int = 6 * 1024 * 1024
    max_download_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = MAX_PIXELS_CEILING
    #: Libjpeg's progressive mode writes 10 scans for a colour image: a cheap early refusal of files with
    #: many more (the CPU budget is what bounds the scans it does not see).
    max_jpeg_scans: int = 32
    #: Overall deadline for one URL (resolution + connect + every redirect + body).
    url_timeout_s: float = URL_TIMEOUT_S
    max_redirects: int = 5
    allow_cidrs: tuple[IPNetwork, ...] = field(default_factory=tuple)
    formats: tuple[str, ...] = DEFAULT_FORMATS
    decode_cpu_s: float = DECODE_CPU_S
    decode_memory_fraction: float = 0.6
    memory_mb: int | None = None
    cpu_share: float = 1.0

    @property
    def decode_wall_s(self) -> float:
        """The child's deadline: its CPU budget at this sandbox's share of a vCPU."""
        return self.decode_cpu_s / self.cpu_share + WALL_SLACK_S

    def decode_bytes(self, rss_bytes: int) -> int:
        return decode_budget(self.memory_mb, self.decode_memory_fraction, rss_bytes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, quota: float | None = None) -> Limits:
        """Limits from the environment (core/settings.py parses each variable); a malformed value raises
        ValueError (a deployment bug, 500)."""
        d = cls()
        memory: int | None = read("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", None, env)
        return cls(
            max_body_bytes=read("MAX_BODY_BYTES", input_cap(d.max_body_bytes, memory), env),
            max_download_bytes=read("MAX_DOWNLOAD_BYTES", input_cap(d.max_download_bytes, memory), env),
            max_image_pixels=read("MAX_IMAGE_PIXELS", d.max_image_pixels, env),
            max_jpeg_scans=read("MAX_JPEG_SCANS", d.max_jpeg_scans, env),
            url_timeout_s=read("URL_TIMEOUT_S", d.url_timeout_s, env),
            max_redirects=read("MAX_REDIRECTS", d.max_redirects, env),
            allow_cidrs=read("ALLOW_URL_CIDRS", (), env),
            formats=_formats(read("DECODE_FORMATS", (), env)),
            decode_cpu_s=read("DECODE_CPU_S", d.decode_cpu_s, env),
            decode_memory_fraction=read("DECODE_MEMORY_FRACTION", d.decode_memory_fraction, env),
            memory_mb=memory,
            cpu_share=cpu_share(memory, quota),
        )


def _formats(names: tuple[str, ...]) -> tuple[str, ...]:
    """DECODE_FORMATS: names from DEFAULT_FORMATS + OPTIONAL_FORMATS, any case; none = the default."""
    upper = tuple(dict.fromkeys(n.upper() for n in names))
    known = DEFAULT_FORMATS + OPTIONAL_FORMATS
    if unknown := [n for n in upper if n not in known]:
        raise ValueError(f"DECODE_FORMATS: {', '.join(unknown)} not among {', '.join(known)}")
    return upper or DEFAULT_FORMATS
