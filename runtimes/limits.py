"""Input caps of the Lambda handler, read from the environment at call time (tests and images set them).

Every cap has an env var and a default; docs/handler.md lists them all. The pixel cap follows the
function's memory size (Lambda sets ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``). Measured with
tests/measure_limits.py, a 40 Mpx image adds 153 MB to the process's peak as a baseline JPEG or PNG and
268 MB as a progressive JPEG (libjpeg keeps every coefficient), so the fixed 40 Mpx cap was fine at
1769 MB but an out-of-memory risk at 256-512 MB next to a runtime and a model. 40,000 pixels per MB keeps
the decode's peak at or under ~27 % of the function's memory (6.7 bytes per pixel, worst case).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Pixels allowed per MB of function memory (see the module docstring).
PIXELS_PER_MB = 40_000
#: The pixel cap when the memory size is unknown (not under Lambda) or large: 40 Mpx RGB is ~120 MB.
MAX_PIXELS_CEILING = 40_000_000


def pixel_cap(memory_mb: int | None) -> int:
    """Default MAX_IMAGE_PIXELS for a function of ``memory_mb`` MB (None: not under Lambda)."""
    if memory_mb is None:
        return MAX_PIXELS_CEILING
    return max(1_000_000, min(MAX_PIXELS_CEILING, memory_mb * PIXELS_PER_MB))


@dataclass(frozen=True)
class Limits:
    """The caps one request is held to; ``from_env`` reads them, the defaults are the documented ones."""

    #: Lambda's synchronous payload limit is 6 MB; a bigger body cannot arrive anyway.
    max_body_bytes: int = 6 * 1024 * 1024
    max_download_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = MAX_PIXELS_CEILING
    #: Libjpeg's progressive mode writes 10 scans for a colour image; each scan is one more full pass.
    max_jpeg_scans: int = 32
    #: Overall deadline for one URL (resolution + connect + every redirect + body).
    url_timeout_s: float = 10.0
    max_redirects: int = 5
    allow_cidrs: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        """Limits from the environment; a malformed value raises ValueError (a deployment bug, 500)."""
        env = os.environ if env is None else env
        d = cls()
        memory = _num(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", None, int)
        parts = [p.strip() for p in env.get("ALLOW_URL_CIDRS", "").split(",")]
        cidrs = [ipaddress.ip_network(p, strict=False) for p in parts if p]
        return cls(
            max_body_bytes=_num(env, "MAX_BODY_BYTES", d.max_body_bytes, int),
            max_download_bytes=_num(env, "MAX_DOWNLOAD_BYTES", d.max_download_bytes, int),
            max_image_pixels=_num(env, "MAX_IMAGE_PIXELS", pixel_cap(memory), int),
            max_jpeg_scans=_num(env, "MAX_JPEG_SCANS", d.max_jpeg_scans, int),
            url_timeout_s=_num(env, "URL_TIMEOUT_S", d.url_timeout_s, float, 0.001),
            max_redirects=_num(env, "MAX_REDIRECTS", d.max_redirects, int, 0),
            allow_cidrs=tuple(cidrs),
        )


def _num(env: Mapping[str, str], name: str, default: Any, kind: type, minimum: float = 1) -> Any:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a {kind.__name__}") from None
    if not value >= minimum:  # also rejects NaN
        raise ValueError(f"{name}={raw!r} must be >= {minimum}")
    return value
