"""Fetching an image URL without letting the caller reach private networks (SSRF guard).

Why each step: only http/https; the host is resolved once and *every* resolved address must be public
(or the address itself inside ``ALLOW_URL_CIDRS``); the connection goes to that validated IP while Host
and TLS SNI/certificate checks use the hostname, so DNS rebinding between check and use is impossible;
redirects are followed by hand and each hop is validated again, up to a cap; an overall deadline (a
watchdog that shuts the socket) bounds slow servers that drip bytes; both Content-Length and the bytes
actually received are capped. Environment proxies are deliberately ignored.

Errors carry a stable message per type; resolved addresses, network error text and the remote status
reason go to ``detail`` (the log line only), so a caller cannot map private DNS names to addresses.

Why the network modules are imported inside the functions: only ``{"url"}`` events download, yet
``http.client`` drags in ``email``, ``ssl``, ``socket``, ``calendar``... (the largest block of the
handler's own imports after numpy and Pillow, docs/coldstart.md). Imported at module level they were paid
by every cold start, ``image_b64`` ones included; imported here the first URL event pays them once and
every other event never does. tests/unit/test_coldpath.py fails if they come back on the ``image_b64`` path.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from runtimes.handler_errors import (
    BadInput,
    DownloadFailed,
    DownloadTimeout,
    DownloadTooLarge,
    ForbiddenAddress,
    InvalidUrl,
    TooManyRedirects,
    UnsupportedUrlScheme,
)
from runtimes.limits import Limits

if TYPE_CHECKING:  # annotations only (postponed): no import at run time
    import http.client
    import ipaddress
    import socket
    import ssl

    from runtimes.limits import IPNetwork

    IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

REDIRECT_CODES: Final = frozenset({301, 302, 303, 307, 308})
MAX_URL_CHARS: Final = 8192
USER_AGENT: Final = "clothing-classifier-lambda/1"
_CHUNK: Final = 64 * 1024
_NAT64_PREFIX: Final = "64:ff9b::/96"
#: The one message each network failure shows the caller.
FORBIDDEN: Final = "url points to an address that is not allowed (not public); refusing to fetch"
FAILED: Final = "the image could not be downloaded from the url"


def _embedded_v4(ip: IPAddress) -> list[IPAddress]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, NAT64, Teredo) - they route there too."""
    import ipaddress

    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    out: list[IPAddress] = []
    if ip.ipv4_mapped is not None:
        out.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        out.append(ip.sixtofour)
    if ip in ipaddress.ip_network(_NAT64_PREFIX):
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
    import ipaddress

    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%")[0])
    # The allow list opens the address itself (and its v4-mapped form, which the kernel routes as
    # IPv4), never the IPv4 a 6to4/NAT64/Teredo address embeds: 127.0.0.1/32 used to open 2002:7f00:1::1.
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    own = [ip] if mapped is None else [ip, mapped]
    if any(c.version == net.version and c in net for c in own for net in allow):
        return
    bad = [c for c in [ip, *_embedded_v4(ip)] if _not_public(c)]
    if bad:
        raise ForbiddenAddress(FORBIDDEN, detail=f"address {ip} is not public ({bad[-1]})")


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
            raise self.timeout()
        return left

    def timeout(self, detail: str | None = None) -> DownloadTimeout:
        """The one DownloadTimeout message; which step ran out (resolve, connect, body) is detail."""
        return DownloadTimeout(f"download did not finish within {self.seconds:g} s (URL_TIMEOUT_S)", detail)

    def watch(self, conn: http.client.HTTPConnection) -> threading.Timer:
        import socket

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


@functools.cache
def _pinned_classes() -> tuple[
    Callable[..., http.client.HTTPConnection], Callable[..., http.client.HTTPSConnection]
]:
    """The two connection classes, defined on the first download (they subclass http.client's, whose
    import is what this module keeps off the cold path)."""
    import http.client
    import socket

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
            self._ip, self._tls = ip, context

        def connect(self) -> None:
            sock = socket.create_connection((self._ip, self.port), self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)

    return _PinnedHTTP, _PinnedHTTPS


def ssl_context() -> ssl.SSLContext:
    """TLS context for downloads (a function so tests can trust a throwaway CA)."""
    import ssl

    return ssl.create_default_context()


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # IDNA/ASCII, no brackets
    port: int
    path: str  # path + query, percent-encoded


def parse_url(url: str) -> _Target:
    """Syntax and scheme checks; raises InvalidUrl / UnsupportedUrlScheme."""
    import ipaddress
    import urllib.parse

    if len(url) > MAX_URL_CHARS:
        raise InvalidUrl(f"url is {len(url)} characters, over {MAX_URL_CHARS}")
    url = url.strip()
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise InvalidUrl("url cannot be parsed", detail=str(e)) from None
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
            raise InvalidUrl("url host is not a valid hostname", detail=f"{host!r}: {e}") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    path = urllib.parse.quote(path, safe="!#$%&'()*+,/:;=?@[]~")
    return _Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def resolve(host: str, port: int, deadline: _Deadline) -> list[IPAddress]:
    """Addresses of ``host`` (literal IPs are not looked up), within the deadline."""
    import ipaddress
    import socket

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
        raise deadline.timeout(f"resolving {host}")
    if "error" in box:
        raise DownloadFailed(FAILED, detail=f"cannot resolve {host}: {box['error']}")
    addrs: list[IPAddress] = []
    for info in box["infos"]:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if ip not in addrs:
            addrs.append(ip)
    if not addrs:
        raise DownloadFailed(FAILED, detail=f"{host} has no address")
    return addrs


def _get_once(url: str, limits: Limits, deadline: _Deadline) -> tuple[str | None, bytes | None]:
    """One hop: validate, connect to the validated IP, GET. Returns (redirect location, None) or
    (None, body)."""
    import ssl

    pinned_http, pinned_https = _pinned_classes()
    t = parse_url(url)
    addrs = resolve(t.host, t.port, deadline)
    for ip in addrs:  # every address must pass: a name mixing public and private answers is refused
        check_address(ip, limits.allow_cidrs)
    last: Exception | None = None
    for ip in addrs:
        if t.scheme == "https":
            conn: http.client.HTTPConnection = pinned_https(
                t.host, t.port, str(ip), deadline.remaining(), ssl_context()
            )
        else:
            conn = pinned_http(t.host, t.port, str(ip), deadline.remaining())
        timer = deadline.watch(conn)
        try:
            conn.connect()
        except (OSError, ssl.SSLError) as e:
            timer.cancel()
            conn.close()
            if deadline.expired or isinstance(e, TimeoutError):
                deadline.remaining()
                raise deadline.timeout(f"connecting to {t.host} ({ip})") from None
            last = e
            continue
        deadline.sock = conn.sock
        try:
            return _exchange(conn, t, url, limits, deadline)
        finally:
            timer.cancel()
            deadline.sock = None
            conn.close()
    raise DownloadFailed(FAILED, detail=f"cannot connect to {t.host}:{t.port}: {last}")


def _exchange(
    conn: http.client.HTTPConnection, t: _Target, url: str, limits: Limits, deadline: _Deadline
) -> tuple[str | None, bytes | None]:
    import http.client
    import ssl
    import urllib.parse

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
                raise DownloadFailed(FAILED, detail=f"HTTP {resp.status} from {t.host} without a Location")
            return urllib.parse.urljoin(url, location.strip()), None
        if resp.status != 200:
            raise DownloadFailed(FAILED, detail=f"HTTP {resp.status} {resp.reason} from {t.host}")
        declared = resp.getheader("Content-Length")
        expected: int | None = None
        if declared is not None:
            try:
                expected = int(declared)
            except ValueError:
                raise DownloadFailed(FAILED, f"bad Content-Length {declared!r} from {t.host}") from None
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
            raise DownloadFailed(FAILED, detail=f"connection closed after {len(buf)} of {expected} bytes")
        if not buf:
            raise DownloadFailed(FAILED, detail=f"{t.host} returned an empty body")
        return None, bytes(buf)
    except BadInput:
        raise
    except (OSError, http.client.HTTPException, ssl.SSLError) as e:
        if deadline.expired or isinstance(e, TimeoutError):
            raise deadline.timeout(f"reading from {t.host}") from None
        raise DownloadFailed(FAILED, f"download from {t.host} failed ({type(e).__name__}: {e})") from None


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
