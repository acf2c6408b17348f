"""Lambda events -> :class:`Request`: which event shape arrived and what it asks for.

Accepted events:

* direct invoke: ``{"url": ...}`` or ``{"image_b64": ...}`` (optionally ``"meta": true``);
* API Gateway REST (v1) proxy, HTTP API (v2) proxy and Function URL events (v2 shape): the body is
  JSON ``{"url"}``/``{"image_b64"}``, possibly base64-encoded (``isBase64Encoded``), or raw image bytes
  (``Content-Type: image/*`` or ``application/octet-stream``, or no Content-Type and image magic
  bytes). ``?meta=1`` asks for timings (honoured only where HANDLER_META allows, see lambda_function).

Every field of an HTTP-shaped event is checked for its JSON type before use: the adversarial review
found ``{"rawPath": "/", "requestContext": "x"}`` raising a bare AttributeError and list-valued
``headers`` answering 500. Any malformed event is a typed 400. Before any field is read, the event's
shape is bounded (:func:`check_shape`: nesting depth and node count, walked without recursion), so no
field of any depth can make a later ``str()`` or ``repr()`` recurse; a JSON body gets the same check.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from runtimes.handler_errors import (
    AmbiguousInput,
    BodyTooLarge,
    EmptyBody,
    InvalidBase64,
    InvalidField,
    InvalidJson,
    MissingInput,
)
from runtimes.limits import Limits

_TRUE: Final = frozenset({"", "1", "true", "yes", "on"})
_MAGIC: Final = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\0", b"MM\0*")
_WHITESPACE: Final = b" \t\n\r\x0b\x0c"
_URLSAFE: Final = bytes.maketrans(b"-_", b"+/")
_DATA_URL: Final = re.compile(r"^data:[^,]{0,200};base64,", re.IGNORECASE)
_HTTP_KEYS: Final = ("requestContext", "httpMethod", "routeKey", "rawPath")
#: Nesting depth of any accepted event (API Gateway's deepest, ``requestContext.authorizer.jwt.claims``,
#: is 5) with room for custom authorizer context.
MAX_DEPTH: Final = 32
#: JSON values (objects, arrays, scalars) in one event: a 6 MB payload of ``[]`` holds 3 million.
MAX_NODES: Final = 100_000
#: rawQueryString characters: API Gateway passes at most 10,240 bytes of request line and headers
#: together, so a longer query string is not a request a client of this service sends.
MAX_QUERY_CHARS: Final = 16_384
#: Fields parsed from rawQueryString (the handler reads one, ``meta``).
MAX_QUERY_FIELDS: Final = 256
#: Characters of a header value read (a Content-Type's media type is far shorter) and of a flag's value.
MAX_HEADER_CHARS: Final = 256
MAX_FLAG_CHARS: Final = 8
_END: Final = object()


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


def check_shape(value: Any, where: str = "event") -> None:
    """Refuse (400) a value nested deeper than MAX_DEPTH or holding more than MAX_NODES values.

    A container's size is counted (``len``, O(1)) before any of its elements is visited, so the walk
    stops at the first container that would pass the cap without touching its elements: a 6 MB event of
    3 million ``[]`` costs one ``len``, not 3 million stack entries. The stack holds one iterator per
    open level (at most MAX_DEPTH), so the walk allocates nothing proportional to the value's size and
    costs at most MAX_NODES steps."""
    nodes = 1 + _size(value, 1, 1, where)
    stack: list[Iterator[Any]] = [_children(value)] if isinstance(value, dict | list | tuple) else []
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
            continue
        if isinstance(item, dict | list | tuple):
            nodes += _size(item, len(stack) + 1, nodes, where)
            stack.append(_children(item))


def _children(value: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> Iterator[Any]:
    return iter(value.values()) if isinstance(value, dict) else iter(value)


def _size(value: Any, depth: int, nodes: int, where: str) -> int:
    """Values ``value`` adds to a walk that has counted ``nodes`` (a dict's keys count too), checked
    against the caps before anything is visited."""
    if not isinstance(value, dict | list | tuple):
        return 0
    deepest = depth + (1 if len(value) else 0)  # its elements' depth
    if deepest > MAX_DEPTH:
        raise InvalidJson(f"{where} is nested deeper than {MAX_DEPTH} levels", detail=f"depth {deepest}")
    added = len(value) * (2 if isinstance(value, dict) else 1)
    if nodes + added > MAX_NODES:
        detail = f"a {type(value).__name__} of {len(value)} at depth {depth} after {nodes} values"
        raise InvalidJson(f"{where} is too large (over {MAX_NODES} values)", detail=detail)
    return added


def is_http_event(event: Any) -> bool:
    """API Gateway v1/v2 and Function URL events all carry requestContext (and a method/route)."""
    return isinstance(event, dict) and any(k in event for k in _HTTP_KEYS)


def event_format(event: Any) -> str:
    """Which event shape this is (for logs and meta); never raises, whatever the event holds."""
    if not is_http_event(event):
        return "direct"
    if event.get("version") == "2.0" or "rawPath" in event:
        ctx = event.get("requestContext")
        domain = ctx.get("domainName") if isinstance(ctx, dict) else ""
        domain = domain if isinstance(domain, str) else ""
        return "function-url" if ".lambda-url." in domain else "http-v2"
    return "apigw-v1"


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    return isinstance(value, str) and len(value) <= MAX_FLAG_CHARS and value.strip().lower() in _TRUE


def _mapping(event: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """An optional object-valued field: absent/null -> {}, any other non-object is a 400."""
    value = event.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidField(f"{key} must be an object, got {type(value).__name__}")
    return value


def _header(event: Mapping[str, Any], name: str) -> str:
    """Case-insensitive header lookup over v1 ``headers``/``multiValueHeaders`` and v2 ``headers``:
    the first MAX_HEADER_CHARS characters of its value. Only keys of the name's length are lowercased
    and nothing else is copied, so the lookup costs one pass over the keys (bounded by check_shape)."""
    name = name.lower()
    for k, v in _mapping(event, "headers").items():
        if isinstance(k, str) and len(k) == len(name) and k.lower() == name and v is not None:
            return _text(v, f"header {name}")[:MAX_HEADER_CHARS]
    for k, v in _mapping(event, "multiValueHeaders").items():
        if isinstance(k, str) and len(k) == len(name) and k.lower() == name and v:
            first = v[0] if isinstance(v, list) else v
            return _text(first, f"multiValueHeaders {name}")[:MAX_HEADER_CHARS]
    return ""


def _text(value: Any, what: str) -> str:
    """A field that must be a JSON string (a container would be copied whole by ``str()``)."""
    if not isinstance(value, str):
        raise InvalidField(f"{what} must be a string, got {type(value).__name__}")
    return value


def _query(event: Mapping[str, Any], name: str) -> str | None:
    """A query parameter from ``queryStringParameters``, else from ``rawQueryString``. The raw string is
    type- and length-checked before anything is parsed, and parsed into at most MAX_QUERY_FIELDS
    fields, so any query string costs at most MAX_QUERY_CHARS characters of work."""
    raw = event.get("rawQueryString")
    if raw is not None:
        raw = _text(raw, "rawQueryString")
        if len(raw) > MAX_QUERY_CHARS:
            raise InvalidField(f"rawQueryString is {len(raw)} characters, over {MAX_QUERY_CHARS}")
    params = _mapping(event, "queryStringParameters")
    if name in params:
        return "" if params[name] is None else _text(params[name], f"query parameter {name}")
    if not raw:
        return None
    import urllib.parse  # only a raw query string needs it (off the cold path of the rest)

    try:
        pairs = urllib.parse.parse_qsl(raw, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:
        raise InvalidField(f"rawQueryString has more than {MAX_QUERY_FIELDS} fields") from None
    return next((v for k, v in pairs if k == name), None)


def _is_base64(event: Mapping[str, Any]) -> bool:
    """``isBase64Encoded`` is a JSON boolean; the strings "true"/"false" are tolerated (a string
    "false" used to count as true), anything else is a 400."""
    value = event.get("isBase64Encoded", False)
    if isinstance(value, bool) or value is None:
        return bool(value)
    if isinstance(value, str) and len(value) <= MAX_FLAG_CHARS and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidField(f"isBase64Encoded must be a boolean, got {type(value).__name__}")


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
    # Base64 is ASCII: as bytes, whitespace goes in one C pass (``bytes.translate``; a regex over a
    # 6 MB str took 0.4 s, ``str.split`` built a list of every run between spaces). At 128 MB the
    # handler, its runtime and the decode worker share little room: two copies of the text at most.
    if not text.isascii():
        raise InvalidBase64(f"{what} is not valid base64", detail="non-ASCII characters")
    compact = text.encode("ascii").translate(None, _WHITESPACE)
    if not compact:
        raise EmptyBody(f"{what} is empty")
    if b"-" in compact or b"_" in compact:  # URL-safe alphabet
        compact = compact.translate(_URLSAFE)
    if len(compact) % 4:
        compact += b"=" * (-len(compact) % 4)
    try:  # strict mode validates in C (b64decode's validate=True runs a regex: 0.2 s on 6 MB)
        data = binascii.a2b_base64(compact, strict_mode=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidBase64(f"{what} is not valid base64", detail=str(e)) from None
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
    _mapping(event, "requestContext")
    flag = _query(event, "meta")
    meta = flag is not None and _truthy(flag)
    body = event.get("body")
    if isinstance(body, dict):  # console test events sometimes carry the body already parsed
        source, value = _fields(body, "body")
        return _request("http", fmt, source, value, meta)
    data = _body_bytes(event, body, limits.max_body_bytes)
    ctype = _header(event, "content-type").partition(";")[0].strip().lower()
    if (
        ctype.startswith("image/")
        or ctype == "application/octet-stream"
        or (not ctype and _looks_like_image(data))
    ):
        return Request("http", fmt, "body", meta, data=data)
    obj = _json_body(data)
    source, value = _fields(obj, "body")
    if isinstance(obj, dict) and _truthy(obj.get("meta", False)):
        meta = True
    return _request("http", fmt, source, value, meta)


def _json_body(data: bytes) -> Any:
    """The body parsed as JSON, its size bounded before parsing: every JSON value but the first follows
    one of ``[ { , :``, so their count bounds the values (and keys) ``json.loads`` would build (strings
    holding those characters only over-count). The parsed value then gets check_shape's walk."""
    bound = 1 + sum(data.count(c) for c in (b"[", b"{", b",", b":"))
    if bound > MAX_NODES:
        raise InvalidJson(f"body is too large (over {MAX_NODES} values)", detail=f"up to {bound} values")
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise InvalidJson("body is not JSON", detail=f"{type(e).__name__}: {str(e)[:120]}") from None
    check_shape(obj, "body")
    return obj


def _body_bytes(event: Mapping[str, Any], body: Any, cap: int) -> bytes:
    """The HTTP body as bytes, within MAX_BODY_BYTES, base64-decoded when the event says so."""
    if body is None or body == "":
        raise EmptyBody('request body is empty; POST JSON {"url"} or {"image_b64"}, or an image')
    if not isinstance(body, str):
        raise InvalidJson(f"body must be a string, got {type(body).__name__}")
    if _is_base64(event):
        data = decode_base64(body, cap, "request body")
    else:
        if len(body) > cap:  # a str has at most len(str) * 4 bytes; cheap pre-check on characters
            raise BodyTooLarge(f"request body is over the {cap}-byte cap (MAX_BODY_BYTES)")
        data = body.encode("utf-8", "surrogatepass")
        if len(data) > cap:
            raise BodyTooLarge(f"request body is {len(data)} bytes, over the {cap}-byte cap (MAX_BODY_BYTES)")
    if data.isspace():  # no copy (strip() would make one)
        raise EmptyBody("request body is blank")
    return data
