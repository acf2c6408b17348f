"""Untrusted input for the Lambda handler: event parsing, safe URL fetching, image validation.

Everything here treats the request as hostile. It turns each accepted event shape into a
:class:`Request`, fetches URLs without letting them reach private networks, and opens images only
after their header says the pixel count is within bounds. Every refusal is a typed
:class:`~runtimes.handler_errors.BadInput` so the handler can answer 4xx and keep serving.

Accepted events:

* direct invoke: ``{"url": ...}`` or ``{"image_b64": ...}`` (optionally ``"meta": true``);
* API Gateway REST (v1) proxy, HTTP API (v2) proxy and Function URL events (v2 shape): the body is
  JSON ``{"url"}``/``{"image_b64"}``, possibly base64-encoded (``isBase64Encoded``), or raw image bytes
  (``Content-Type: image/*`` or ``application/octet-stream``, or no Content-Type and image magic
  bytes). ``?meta=1`` asks for timings.

URL fetching (why each step): only http/https; the host is resolved once and *every* resolved address
must be public (or inside ``ALLOW_URL_CIDRS``); the connection goes to that validated IP while Host and
TLS SNI/certificate checks use the hostname, so DNS rebinding between check and use is impossible;
redirects are followed by hand and each hop is validated again, up to a cap; an overall deadline
(a watchdog that shuts the socket) bounds slow servers that drip bytes; both Content-Length and the
bytes actually received are capped. Environment proxies are deliberately ignored.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import io
import ipaddress
import json
import os
import re
import socket
import ssl
import struct
import threading
import time
import urllib.parse
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

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

from runtimes.handler_errors import (
    AmbiguousInput,
    BadInput,
    BodyTooLarge,
    DownloadFailed,
    DownloadTimeout,
    DownloadTooLarge,
    EmptyBody,
    ForbiddenAddress,
    ImageTooLarge,
    InvalidBase64,
    InvalidField,
    InvalidJson,
    InvalidUrl,
    MissingInput,
    NotAnImage,
    TooManyRedirects,
    TruncatedImage,
    UnsupportedUrlScheme,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Formats Pillow may try. Keeping the list short keeps rarely used (and rarely audited) decoders
#: away from untrusted bytes. (Multi-picture JPEGs from phones open through JPEG as "MPO".)
ALLOWED_FORMATS: Final = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
REDIRECT_CODES: Final = frozenset({301, 302, 303, 307, 308})
MAX_URL_CHARS: Final = 8192
USER_AGENT: Final = "clothing-classifier-lambda/1"
_CHUNK: Final = 64 * 1024
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_TRUE: Final = frozenset({"", "1", "true", "yes", "on"})
_MAGIC: Final = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\0", b"MM\0*")
_DATA_URL: Final = re.compile(r"^data:[^,]{0,200};base64,", re.IGNORECASE)


# --------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class Limits:
    """Input caps, read from the environment at call time so tests and images can set them."""

    #: Lambda's synchronous payload limit is 6 MB; a bigger body cannot arrive anyway.
    max_body_bytes: int = 6 * 1024 * 1024
    max_download_bytes: int = 10 * 1024 * 1024
    #: 40 Mpx RGB is ~120 MB decoded: generous for photos, far below Lambda's memory.
    max_image_pixels: int = 40_000_000
    #: Overall deadline for one URL (resolution + connect + every redirect + body).
    url_timeout_s: float = 10.0
    max_redirects: int = 5
    allow_cidrs: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        """Limits from MAX_BODY_BYTES, MAX_DOWNLOAD_BYTES, MAX_IMAGE_PIXELS, URL_TIMEOUT_S,
        MAX_REDIRECTS and ALLOW_URL_CIDRS; a malformed value raises ValueError (a deployment bug)."""
        env = os.environ if env is None else env
        d = cls()

        def num(name: str, default: float, kind: type, minimum: float = 1) -> Any:
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

        cidrs = []
        for part in env.get("ALLOW_URL_CIDRS", "").split(","):
            if part.strip():
                cidrs.append(ipaddress.ip_network(part.strip(), strict=False))
        return cls(
            max_body_bytes=num("MAX_BODY_BYTES", d.max_body_bytes, int),
            max_download_bytes=num("MAX_DOWNLOAD_BYTES", d.max_download_bytes, int),
            max_image_pixels=num("MAX_IMAGE_PIXELS", d.max_image_pixels, int),
            url_timeout_s=num("URL_TIMEOUT_S", d.url_timeout_s, float, 0.001),
            max_redirects=num("MAX_REDIRECTS", d.max_redirects, int, 0),
            allow_cidrs=tuple(cidrs),
        )


# --------------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class Request:
    """What one event asks for: exactly one of ``url``, ``b64`` (still encoded) or ``data`` (bytes)."""

    kind: str  # "direct" | "http"
    event_format: str  # "direct" | "apigw-v1" | "http-v2" | "function-url"
    source: str  # "url" | "image_b64" | "body"
    meta: bool
    url: str | None = None
    b64: str | None = None
    data: bytes | None = None


def is_http_event(event: Any) -> bool:
    """API Gateway v1/v2 and Function URL events all carry requestContext (and a method/route)."""
    return isinstance(event, dict) and any(
        k in event for k in ("requestContext", "httpMethod", "routeKey", "rawPath")
    )


def event_format(event: Any) -> str:
    """Which event shape this is; used in logs and meta."""
    if not is_http_event(event):
        return "direct"
    if event.get("version") == "2.0" or "rawPath" in event:
        domain = str((event.get("requestContext") or {}).get("domainName", ""))
        return "function-url" if ".lambda-url." in domain else "http-v2"
    return "apigw-v1"


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in _TRUE


def _header(event: Mapping[str, Any], name: str) -> str:
    """Case-insensitive header lookup over v1 ``headers``/``multiValueHeaders`` and v2 ``headers``."""
    name = name.lower()
    for k, v in (event.get("headers") or {}).items():
        if str(k).lower() == name and v is not None:
            return str(v)
    for k, v in (event.get("multiValueHeaders") or {}).items():
        if str(k).lower() == name and v:
            return str(v[0])
    return ""


def _query(event: Mapping[str, Any], name: str) -> str | None:
    params = event.get("queryStringParameters") or {}
    if name in params:
        return str(params[name]) if params[name] is not None else ""
    raw = event.get("rawQueryString")
    if raw:
        values = urllib.parse.parse_qs(str(raw), keep_blank_values=True).get(name)
        if values:
            return values[0]
    return None


def b64_chars(n_bytes: int) -> int:
    """Length of the base64 text for ``n_bytes`` bytes."""
    return 4 * -(-n_bytes // 3)


def decode_base64(text: str, cap: int, what: str) -> bytes:
    """Strict base64 (standard or URL-safe, padding optional, whitespace and data: prefix tolerated).

    The encoded length is checked before decoding so an oversized payload costs no memory."""
    if len(text) > b64_chars(cap) * 21 // 20 + 1024:  # 5 % slack for MIME line breaks
        raise BodyTooLarge(f"{what} is {len(text)} base64 characters, over the {cap}-byte cap")
    m = _DATA_URL.match(text)
    if m:
        text = text[m.end() :]
    compact = "".join(text.split())
    if not compact:
        raise EmptyBody(f"{what} is empty")
    altchars = b"-_" if ("-" in compact or "_" in compact) else None
    compact += "=" * (-len(compact) % 4)
    try:
        data = base64.b64decode(compact, altchars=altchars, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidBase64(f"{what} is not valid base64 ({e})") from None
    if not data:
        raise EmptyBody(f"{what} decodes to zero bytes")
    if len(data) > cap:
        raise BodyTooLarge(f"{what} decodes to {len(data)} bytes, over the {cap}-byte cap (MAX_BODY_BYTES)")
    return data


def _looks_like_image(data: bytes) -> bool:
    """Magic bytes of the allowed formats, for bodies sent without a Content-Type."""
    return data.startswith(_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _fields(obj: Any, where: str) -> tuple[str, str]:
    """Exactly one of url / image_b64, as a non-empty string -> (source, value)."""
    if not isinstance(obj, dict):
        raise InvalidJson(f'{where} must be a JSON object like {{"url": ...}} or {{"image_b64": ...}}')
    present = [k for k in ("url", "image_b64") if obj.get(k) not in (None, "")]
    if len(present) == 2:
        raise AmbiguousInput(f"{where} has both url and image_b64; send exactly one")
    if not present:
        raise MissingInput(f'{where} needs a non-empty "url" or "image_b64"')
    key = present[0]
    if not isinstance(obj[key], str):
        raise InvalidField(f"{key} must be a string, got {type(obj[key]).__name__}")
    return key, obj[key]


def _request(kind: str, fmt: str, source: str, value: str, meta: bool) -> Request:
    if source == "url":
        return Request(kind, fmt, "url", meta, url=value)
    return Request(kind, fmt, "image_b64", meta, b64=value)


def parse_event(event: Any, limits: Limits) -> Request:
    """Any accepted event -> :class:`Request`; malformed events raise a typed BadInput."""
    fmt = event_format(event)
    if fmt == "direct":
        if not isinstance(event, dict):
            raise InvalidJson(f"event must be a JSON object, got {type(event).__name__}")
        source, value = _fields(event, "event")
        return _request("direct", fmt, source, value, _truthy(event.get("meta", False)))

    flag = _query(event, "meta")
    meta = flag is not None and _truthy(flag)
    body = event.get("body")
    if isinstance(body, dict):  # console test events sometimes carry the body already parsed
        source, value = _fields(body, "body")
        return _request("http", fmt, source, value, meta)
    if body is None or body == "":
        raise EmptyBody('request body is empty; POST JSON {"url"} or {"image_b64"}, or an image')
    if not isinstance(body, str):
        raise InvalidJson(f"body must be a string, got {type(body).__name__}")
    cap = limits.max_body_bytes
    if event.get("isBase64Encoded"):
        data = decode_base64(body, cap, "request body")
    else:
        if len(body) > cap:  # a str has at most len(str) * 4 bytes; cheap pre-check on characters
            raise BodyTooLarge(f"request body is over the {cap}-byte cap (MAX_BODY_BYTES)")
        data = body.encode("utf-8", "surrogatepass")
        if len(data) > cap:
            raise BodyTooLarge(f"request body is {len(data)} bytes, over the {cap}-byte cap (MAX_BODY_BYTES)")
    if not data.strip():
        raise EmptyBody("request body is blank")

    ctype = _header(event, "content-type").split(";")[0].strip().lower()
    if (
        ctype.startswith("image/")
        or ctype == "application/octet-stream"
        or (not ctype and _looks_like_image(data))
    ):
        return Request("http", fmt, "body", meta, data=data)
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise InvalidJson(f"body is not JSON ({type(e).__name__}: {str(e)[:120]})") from None
    source, value = _fields(obj, "body")
    if isinstance(obj, dict) and _truthy(obj.get("meta", False)):
        meta = True
    return _request("http", fmt, source, value, meta)


# --------------------------------------------------------------------------------------- images
def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Validate and fully decode untrusted image bytes; the caller closes the returned image.

    The pixel cap is checked from the header (``Image.open`` reads only that) before any pixel is
    decoded; ``Image.MAX_IMAGE_PIXELS`` is set to the same cap so Pillow's own guard agrees."""
    if not data:
        raise EmptyBody("no image bytes")
    Image.MAX_IMAGE_PIXELS = max_pixels
    with warnings.catch_warnings():
        # Pillow warns between 1x and 2x its cap and raises above 2x; the explicit check right after
        # the header is read applies the same cap with a clearer message, so the warning is redundant.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except Image.DecompressionBombError as e:
            raise ImageTooLarge(f"image too large: {e} (MAX_IMAGE_PIXELS)") from None
        except UnidentifiedImageError:
            raise NotAnImage(
                f"bytes are not an image in a supported format ({', '.join(ALLOWED_FORMATS)}); "
                f"starts with {data[:8]!r}"
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError) as e:
            raise NotAnImage(f"image header is invalid ({type(e).__name__}: {e})") from None
        w, h = img.size
        if w <= 0 or h <= 0 or w * h > max_pixels:
            img.close()
            raise ImageTooLarge(
                f"image is {w}x{h} = {w * h} pixels, over the {max_pixels}-pixel cap (MAX_IMAGE_PIXELS)"
            )
        try:
            img.load()
        except Image.DecompressionBombError as e:
            img.close()
            raise ImageTooLarge(f"image too large: {e} (MAX_IMAGE_PIXELS)") from None
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, zlib.error) as e:
            img.close()
            raise TruncatedImage(
                f"{img.format} image {w}x{h} is truncated or corrupt ({type(e).__name__}: {e})"
            ) from None
    return img


# --------------------------------------------------------------------------------------- URLs
def _embedded_v4(ip: IPAddress) -> list[IPAddress]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, NAT64, Teredo) - they route there too."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    out: list[IPAddress] = []
    if ip.ipv4_mapped is not None:
        out.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        out.append(ip.sixtofour)
    if ip in _NAT64:
        out.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.teredo is not None:
        out.extend(ip.teredo)
    return out


def _not_public(ip: IPAddress) -> bool:
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def check_address(ip: IPAddress, allow: tuple[IPNetwork, ...] = ()) -> None:
    """Raise ForbiddenAddress unless ``ip`` is public or explicitly allowed by ALLOW_URL_CIDRS."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%")[0])
    candidates = [ip, *_embedded_v4(ip)]
    if any(c.version == net.version and c in net for c in candidates for net in allow):
        return
    bad = [c for c in candidates if _not_public(c)]
    if bad:
        raise ForbiddenAddress(
            f"address {ip} is not public ({bad[-1]} is loopback/private/link-local/reserved/multicast); "
            "refusing to fetch"
        )


class _Deadline:
    """One overall deadline for a URL. A timer shuts the live socket down when it passes, so no
    sequence of slow-but-not-idle reads (byte dripping) can outlast it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        #: the live socket; kept here because http.client drops conn.sock once a response owns it
        self.sock: socket.socket | None = None

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0 or self.expired:
            self.expired = True
            raise DownloadTimeout(f"download did not finish within {self.seconds:g} s (URL_TIMEOUT_S)")
        return left

    def watch(self, conn: http.client.HTTPConnection) -> threading.Timer:
        def fire() -> None:
            self.expired = True
            sock = self.sock or conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        timer = threading.Timer(max(0.0, self.end - time.monotonic()), fire)
        timer.daemon = True
        timer.start()
        return timer


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to a fixed, already validated IP; the Host header still names the URL's host."""

    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a fixed, validated IP with SNI and certificate hostname check against the URL's host."""

    def __init__(self, host: str, port: int, ip: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def ssl_context() -> ssl.SSLContext:
    """TLS context for downloads (a function so tests can trust a throwaway CA)."""
    return ssl.create_default_context()


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # IDNA/ASCII, no brackets
    port: int
    path: str  # path + query, percent-encoded


def parse_url(url: str) -> _Target:
    """Syntax and scheme checks; raises InvalidUrl / UnsupportedUrlScheme."""
    if len(url) > MAX_URL_CHARS:
        raise InvalidUrl(f"url is {len(url)} characters, over {MAX_URL_CHARS}")
    url = url.strip()
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise InvalidUrl(f"url cannot be parsed ({e})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsupportedUrlScheme(f"url scheme {scheme or '(none)'!r} is not allowed; use http or https")
    host = parts.hostname
    if not host:
        raise InvalidUrl("url has no host")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            host = host.rstrip(".").encode("idna").decode("ascii")
        except UnicodeError as e:
            raise InvalidUrl(f"url host {host!r} is not a valid hostname ({e})") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    path = urllib.parse.quote(path, safe="!#$%&'()*+,/:;=?@[]~")
    return _Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def resolve(host: str, port: int, deadline: _Deadline) -> list[IPAddress]:
    """Addresses of ``host`` (literal IPs are not looked up), within the deadline."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as e:
            box["error"] = e

    t = threading.Thread(target=work, name="resolve", daemon=True)
    t.start()
    t.join(deadline.remaining())
    if t.is_alive():
        raise DownloadTimeout(f"resolving {host} took longer than {deadline.seconds:g} s (URL_TIMEOUT_S)")
    if "error" in box:
        raise DownloadFailed(f"cannot resolve {host}: {box['error']}")
    addrs: list[IPAddress] = []
    for info in box["infos"]:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if ip not in addrs:
            addrs.append(ip)
    if not addrs:
        raise DownloadFailed(f"{host} has no address")
    return addrs


def _get_once(url: str, limits: Limits, deadline: _Deadline) -> tuple[str | None, bytes | None]:
    """One hop: validate, connect to the validated IP, GET. Returns (redirect location, None) or
    (None, body)."""
    t = parse_url(url)
    addrs = resolve(t.host, t.port, deadline)
    for ip in addrs:  # every address must pass: a name mixing public and private answers is refused
        check_address(ip, limits.allow_cidrs)
    last: Exception | None = None
    for ip in addrs:
        if t.scheme == "https":
            conn: http.client.HTTPConnection = _PinnedHTTPS(
                t.host, t.port, str(ip), deadline.remaining(), ssl_context()
            )
        else:
            conn = _PinnedHTTP(t.host, t.port, str(ip), deadline.remaining())
        timer = deadline.watch(conn)
        try:
            conn.connect()
        except (OSError, ssl.SSLError) as e:
            timer.cancel()
            conn.close()
            if deadline.expired or isinstance(e, TimeoutError):
                deadline.remaining()
                raise DownloadTimeout(f"connecting to {t.host} timed out") from None
            last = e
            continue
        deadline.sock = conn.sock
        try:
            return _exchange(conn, t, url, limits, deadline)
        finally:
            timer.cancel()
            deadline.sock = None
            conn.close()
    raise DownloadFailed(f"cannot connect to {t.host}:{t.port}: {last}")


def _exchange(
    conn: http.client.HTTPConnection, t: _Target, url: str, limits: Limits, deadline: _Deadline
) -> tuple[str | None, bytes | None]:
    cap = limits.max_download_bytes
    sock = conn.sock  # http.client sets conn.sock = None when the response takes the connection over
    assert sock is not None
    try:
        sock.settimeout(deadline.remaining())
        conn.request(
            "GET",
            t.path,
            headers={"User-Agent": USER_AGENT, "Accept": "image/*", "Accept-Encoding": "identity"},
        )
        resp = conn.getresponse()
        if resp.status in REDIRECT_CODES:
            location = resp.getheader("Location")
            if not location:
                raise DownloadFailed(f"HTTP {resp.status} from {t.host} without a Location header")
            return urllib.parse.urljoin(url, location.strip()), None
        if resp.status != 200:
            raise DownloadFailed(f"HTTP {resp.status} {resp.reason} from {t.host}")
        declared = resp.getheader("Content-Length")
        expected: int | None = None
        if declared is not None:
            try:
                expected = int(declared)
            except ValueError:
                raise DownloadFailed(f"bad Content-Length {declared!r} from {t.host}") from None
            if expected > cap:
                raise DownloadTooLarge(
                    f"Content-Length {expected} is over the {cap}-byte cap (MAX_DOWNLOAD_BYTES)"
                )
        buf = bytearray()
        # read1 does at most one recv, so the deadline is checked between reads; http.client closes
        # the socket itself once the declared length has arrived (Python 3.13), hence isclosed().
        while not resp.isclosed():
            sock.settimeout(deadline.remaining())
            chunk = resp.read1(_CHUNK)
            deadline.remaining()
            if not chunk:
                break
            buf += chunk
            if len(buf) > cap:
                raise DownloadTooLarge(f"download passed the {cap}-byte cap (MAX_DOWNLOAD_BYTES)")
        if expected is not None and len(buf) < expected:
            raise DownloadFailed(f"connection closed after {len(buf)} of {expected} bytes")
        if not buf:
            raise DownloadFailed(f"{t.host} returned an empty body")
        return None, bytes(buf)
    except BadInput:
        raise
    except (OSError, http.client.HTTPException, ssl.SSLError) as e:
        if deadline.expired or isinstance(e, TimeoutError):
            raise DownloadTimeout(
                f"download did not finish within {deadline.seconds:g} s (URL_TIMEOUT_S)"
            ) from None
        raise DownloadFailed(f"download from {t.host} failed ({type(e).__name__}: {e})") from None


def fetch_url(url: str, limits: Limits) -> bytes:
    """Download ``url`` safely (see module docstring); every hop is re-validated."""
    deadline = _Deadline(limits.url_timeout_s)
    current = url
    for _ in range(limits.max_redirects + 1):
        location, body = _get_once(current, limits, deadline)
        if body is not None:
            return body
        assert location is not None
        current = location
    raise TooManyRedirects(f"more than {limits.max_redirects} redirects starting at {url[:200]}")
