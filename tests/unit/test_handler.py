"""The Lambda handler on every accepted event shape and every kind of bad input, with the null runtime.

No model is needed (MODEL_RUNTIME=null + a card in tmp). URL tests talk only to an http(s) server this
module starts on 127.0.0.1 (allowed through ALLOW_URL_CIDRS=127.0.0.1/32); forbidden-address tests
install a guard that fails the test if any socket connects anywhere, and hostnames are resolved by a
monkeypatched getaddrinfo, so no traffic leaves the machine. After each bad input a valid request must
still succeed: one bad request must never poison the sandbox.
"""

from __future__ import annotations

import base64
import http.server
import io
import ipaddress
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from awslambdaric.bootstrap import build_fault_result  # what the Lambda runtime answers with
from PIL import Image

import lambda_function as lf
from core.paths import ROOT as REPO
from runtimes import fetch, null, preprocess
from runtimes import handler_errors as he
from tests.support import adversarial

CLASSES = ["dress", "hat", "longsleeve", "outwear", "pants", "shirt", "shoes", "shorts", "skirt", "t-shirt"]
META_KEYS = {
    "cold",
    "init_ms",
    "fetch_ms",
    "preprocess_ms",
    "inference_ms",
    "runtime",
    "library",
    "runtime_version",
    "threads",
    "model_sha256",
    "pid",
}
CONFIG_ENV = (
    "MODEL_CARD",
    "MODEL_THREADS",
    "MODEL_SHA256",
    "ALLOW_URL_CIDRS",
    "MAX_BODY_BYTES",
    "MAX_DOWNLOAD_BYTES",
    "MAX_IMAGE_PIXELS",
    "URL_TIMEOUT_S",
    "MAX_REDIRECTS",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "MAX_JPEG_SCANS",
    "HANDLER_META",
)
ALLOW_LOCAL = "127.0.0.1/32"
_real_getaddrinfo = socket.getaddrinfo


# ------------------------------------------------------------------------------------------ images
def _photo(w: int = 96, h: int = 72, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def _encode(img: Image.Image, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


JPEG = _encode(_photo(), "JPEG", quality=90)
PNG = _encode(_photo(80, 60, seed=1), "PNG")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height but carries almost no data (a decompression bomb's header)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


# ------------------------------------------------------------------------------------------ events
def _v1(
    body: str | None,
    *,
    b64: bool = False,
    ctype: str | None = "application/json",
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """API Gateway REST API (v1) proxy event, as Lambda receives it."""
    return {
        "resource": "/predict",
        "path": "/predict",
        "httpMethod": "POST",
        "headers": {"Content-Type": ctype} if ctype else None,
        "multiValueHeaders": {"Content-Type": [ctype]} if ctype else None,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/predict",
            "httpMethod": "POST",
            "stage": "prod",
            "requestId": "r-1",
            "identity": {"sourceIp": "198.51.100.7"},
        },
        "body": body,
        "isBase64Encoded": b64,
    }


def _v2(
    body: str | None,
    *,
    b64: bool = False,
    ctype: str | None = "application/json",
    raw_query: str = "",
    function_url: bool = False,
) -> dict[str, Any]:
    """HTTP API (v2) proxy event; a Function URL event is the same shape with a lambda-url domain."""
    domain = (
        "abc123.lambda-url.eu-west-1.on.aws" if function_url else "abc123.execute-api.eu-west-1.amazonaws.com"
    )
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default" if function_url else "POST /predict",
        "rawPath": "/" if function_url else "/predict",
        "rawQueryString": raw_query,
        "headers": {"content-type": ctype} if ctype else {},
        "requestContext": {
            "domainName": domain,
            "http": {"method": "POST", "path": "/predict"},
            "requestId": "r-2",
            "stage": "$default",
        },
        "isBase64Encoded": b64,
    }
    if raw_query:
        event["queryStringParameters"] = dict(
            (p.split("=", 1)[0], p.split("=", 1)[1]) if "=" in p else (p, "") for p in raw_query.split("&")
        )
    if body is not None:
        event["body"] = body
    return event


class Ctx:
    aws_request_id = "test-request-id"


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(autouse=True)
def handler_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> Iterator[Path]:
    """A fresh sandbox: null runtime, a 10-class card, default caps, no model loaded."""
    for name in CONFIG_ENV:
        monkeypatch.delenv(name, raising=False)
    card = tmp_path / "model" / "card.json"
    card.parent.mkdir()
    card.write_text(json.dumps({"classes": CLASSES, "input_px": 128, "preprocessing": "xception-tf-nearest"}))
    monkeypatch.setenv("MODEL_RUNTIME", "null")
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "model" / "model.null"))
    fresh_sandbox()
    yield card
    fresh_sandbox()


@dataclass
class Seen:
    batches: list[np.ndarray] = field(default_factory=list)


@pytest.fixture
def model_spy(monkeypatch: pytest.MonkeyPatch) -> Seen:
    """Null runtime whose logits depend on the input (class i scores mean(x) * (i + 1)) and that records
    what it was fed, so tests can check the handler passes the right tensor and reports model output."""
    seen = Seen()

    def predict(self: null.Adapter, batch: np.ndarray) -> np.ndarray:
        seen.batches.append(batch.copy())
        means = batch.reshape(batch.shape[0], -1).mean(axis=1, dtype=np.float64).astype(np.float32)
        return means[:, None] * np.arange(1, self.n_classes + 1, dtype=np.float32)[None, :]

    monkeypatch.setattr(null.Adapter, "predict", predict)
    return seen


Route = Callable[[http.server.BaseHTTPRequestHandler], None]


@dataclass
class LocalServer:
    base: str
    routes: dict[str, Route]
    requests: list[tuple[str, str | None]]  # (path, Host header)

    def url(self, path: str) -> str:
        return self.base + path


def _serve(tls: ssl.SSLContext | None = None) -> tuple[http.server.ThreadingHTTPServer, LocalServer]:
    routes: dict[str, Route] = {}
    requests: list[tuple[str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            requests.append((self.path, self.headers.get("Host")))
            route = routes.get(self.path.split("?")[0])
            if route is None:
                self.send_error(404)
                return
            try:
                route(self)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass  # the client gave up (deadline, cap): expected in several tests

        def log_message(self, *args: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if tls is not None:
        srv.socket = tls.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    scheme = "https" if tls else "http"
    return srv, LocalServer(f"{scheme}://127.0.0.1:{srv.server_address[1]}", routes, requests)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv, info = _serve()
    yield info
    srv.shutdown()
    srv.server_close()


def send_bytes(data: bytes, ctype: str = "image/jpeg") -> Route:
    def route(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    return route


def redirect(location: str, code: int = 302) -> Route:
    def route(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(code)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return route


@pytest.fixture
def no_traffic(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fail on any connect and any DNS query that is not a numeric literal."""
    attempts: list[Any] = []

    def refuse_connect(address: Any, *args: Any, **kw: Any) -> None:
        attempts.append(address)
        raise AssertionError(f"the handler tried to connect to {address}")

    def refuse_socket_connect(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise AssertionError(f"the handler tried to connect to {address}")

    def numeric_only(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        return _real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    monkeypatch.setattr(socket, "create_connection", refuse_connect)
    monkeypatch.setattr(socket.socket, "connect", refuse_socket_connect)
    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
    return attempts


def _numeric(host: Any, port: Any, type: int = 0) -> Any:
    """getaddrinfo for IP literals only (socket.create_connection looks the validated IP up again)."""
    return _real_getaddrinfo(host, port, 0, type, 0, socket.AI_NUMERICHOST)


def _is_literal(host: Any) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def fake_dns(
    monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]], calls: list[str] | None = None
) -> None:
    """Resolve names from ``table`` (no DNS traffic); anything else is an error."""

    def getaddrinfo(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        if _is_literal(host):
            return _numeric(host, port, type)
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, f"test DNS has no {host}")
        out = []
        for ip in table[host]:
            fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
            addr = (ip, port, 0, 0) if fam == socket.AF_INET6 else (ip, port)
            out.append((fam, socket.SOCK_STREAM, 6, "", addr))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


# ------------------------------------------------------------------------------------------ helpers
def call(event: Any) -> Any:
    return lf.lambda_handler(event, Ctx())


def assert_predictions(result: Any) -> None:
    assert isinstance(result, dict)
    assert list(result) == CLASSES
    assert all(type(v) is float for v in result.values())


def assert_still_serves() -> None:
    """The sandbox answers a valid request after whatever came before."""
    assert_predictions(call({"image_b64": _b64(JPEG)}))


def assert_direct_error(event: Any, error: type[he.BadInput]) -> he.BadInput:
    with pytest.raises(he.BadInput) as info:
        call(event)
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    assert type(info.value).__name__ == error.__name__  # what Lambda reports as errorType
    assert str(info.value)
    assert_still_serves()
    return info.value


def assert_http_error(event: dict[str, Any], error: type[he.BadInput], status: int) -> dict[str, Any]:
    resp = call(event)
    assert resp["statusCode"] == status, resp
    assert resp["headers"]["Content-Type"] == "application/json"
    body = json.loads(resp["body"])
    assert body["errorType"] == error.__name__, body
    assert body["errorMessage"]
    assert_still_serves()
    return body


def last_log(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    assert lines, "no JSON log line"
    return json.loads(lines[-1])


# ================================================================================ input forms
def test_direct_image_b64_reports_model_output_for_preprocessed_image(model_spy: Seen) -> None:
    result = call({"image_b64": _b64(JPEG)})
    assert_predictions(result)
    expected_x = preprocess.load_bytes(JPEG, (128, 128))
    assert len(model_spy.batches) == 1
    np.testing.assert_array_equal(model_spy.batches[0], expected_x[None])
    m = np.float32(expected_x.astype(np.float64).mean())
    assert result == {c: float(m * np.float32(i + 1)) for i, c in enumerate(CLASSES)}


def test_direct_url(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, model_spy: Seen, fresh_sandbox: Callable[[], None]
) -> None:
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    fresh_sandbox()
    server.routes["/shirt.png"] = send_bytes(PNG, "image/png")
    result = call({"url": server.url("/shirt.png")})
    assert_predictions(result)
    np.testing.assert_array_equal(model_spy.batches[0], preprocess.load_bytes(PNG, (128, 128))[None])
    assert [p for p, _ in server.requests] == ["/shirt.png"]


def test_direct_meta_and_cold_flag(
    capsys: pytest.CaptureFixture[str], fresh_sandbox: Callable[[], None]
) -> None:
    first = call({"image_b64": _b64(JPEG), "meta": True})
    assert set(first) == {"predictions", "meta"}
    assert_predictions(first["predictions"])
    meta = first["meta"]
    assert set(meta) == META_KEYS
    assert meta["cold"] is True
    assert meta["runtime"] == "null" and meta["library"] == "numpy"
    assert meta["runtime_version"] == np.__version__
    assert meta["pid"] == os.getpid()
    assert meta["threads"] >= 1
    assert meta["init_ms"] > 0 and meta["preprocess_ms"] > 0 and meta["fetch_ms"] >= 0
    assert meta["inference_ms"] >= 0
    log = last_log(capsys)
    assert log["msg"] == "inference" and log["request_id"] == "test-request-id"
    assert {k: log[k] for k in META_KEYS} == meta

    second = call({"image_b64": _b64(JPEG), "meta": True})
    assert second["meta"]["cold"] is False
    assert second["meta"]["init_ms"] == meta["init_ms"]  # the sandbox's one init, not re-measured
    assert last_log(capsys)["cold"] is False

    fresh_sandbox()
    assert call({"image_b64": _b64(JPEG), "meta": True})["meta"]["cold"] is True


def test_without_meta_answer_is_only_predictions_but_log_line_has_timings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert_predictions(call({"image_b64": _b64(JPEG)}))
    log = last_log(capsys)
    assert log["msg"] == "inference" and META_KEYS <= set(log)
    assert log["input"] == "image_b64" and log["bytes"] == len(JPEG) and log["image_wh"] == [96, 72]


def test_eager_init_under_lambda_runtime(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fresh_sandbox: Callable[[], None]
) -> None:
    """With AWS_LAMBDA_RUNTIME_API set the model loads at import; the first invoke is still cold."""
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    fresh_sandbox()
    lf._eager_init()
    assert lf._MODEL is not None and lf._MODEL.init_at == "import"
    assert call({"image_b64": _b64(JPEG), "meta": True})["meta"]["cold"] is True
    assert last_log(capsys)["init_at"] == "import"
    assert call({"image_b64": _b64(JPEG), "meta": True})["meta"]["cold"] is False


def test_model_sha256_from_env_and_from_file(
    handler_env: Path, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    artefact = handler_env.parent / "model.null"
    artefact.write_bytes(b"weights")
    import hashlib

    meta = call({"image_b64": _b64(JPEG), "meta": True})["meta"]
    assert meta["model_sha256"] == hashlib.sha256(b"weights").hexdigest()
    monkeypatch.setenv("MODEL_SHA256", "abc")
    fresh_sandbox()
    assert call({"image_b64": _b64(JPEG), "meta": True})["meta"]["model_sha256"] == "abc"


def test_base64_variants_are_accepted(model_spy: Seen) -> None:
    """Standard, URL-safe, unpadded, line-wrapped and data: URL forms all decode to the same image."""
    std = _b64(PNG)
    variants = [
        std,
        base64.urlsafe_b64encode(PNG).decode().rstrip("="),
        "\n".join(std[i : i + 76] for i in range(0, len(std), 76)),
        "data:image/png;base64," + std,
    ]
    for v in variants:
        assert_predictions(call({"image_b64": v}))
    for batch in model_spy.batches[1:]:
        np.testing.assert_array_equal(batch, model_spy.batches[0])


def test_apigw_v1_json_url(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    fresh_sandbox()
    server.routes["/x.jpg"] = send_bytes(JPEG)
    resp = call(_v1(json.dumps({"url": server.url("/x.jpg")})))
    assert resp["statusCode"] == 200
    assert resp["headers"]["Content-Type"] == "application/json"
    assert resp["isBase64Encoded"] is False
    assert_predictions(json.loads(resp["body"]))


def test_apigw_v1_json_image_b64_with_meta_query(
    monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    monkeypatch.setenv("HANDLER_META", "all")
    fresh_sandbox()
    resp = call(_v1(json.dumps({"image_b64": _b64(JPEG)}), query={"meta": "1"}))
    assert resp["statusCode"] == 200
    body = json.loads(resp["body"])
    assert_predictions(body["predictions"])
    assert set(body["meta"]) == META_KEYS and body["meta"]["cold"] is True


def test_apigw_v1_base64_encoded_json_body() -> None:
    body = base64.b64encode(json.dumps({"image_b64": _b64(JPEG)}).encode()).decode()
    resp = call(_v1(body, b64=True))
    assert resp["statusCode"] == 200
    assert_predictions(json.loads(resp["body"]))


def test_apigw_v1_raw_image_body(model_spy: Seen, capsys: pytest.CaptureFixture[str]) -> None:
    resp = call(_v1(_b64(JPEG), b64=True, ctype="image/jpeg"))
    assert resp["statusCode"] == 200
    assert_predictions(json.loads(resp["body"]))
    np.testing.assert_array_equal(model_spy.batches[0], preprocess.load_bytes(JPEG, (128, 128))[None])
    log = last_log(capsys)
    assert log["event"] == "apigw-v1" and log["input"] == "body"


def test_http_v2_json_url_with_meta(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    monkeypatch.setenv("HANDLER_META", "all")
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    fresh_sandbox()
    server.routes["/y.png"] = send_bytes(PNG, "image/png")
    resp = call(_v2(json.dumps({"url": server.url("/y.png")}), raw_query="meta=1"))
    assert resp["statusCode"] == 200
    body = json.loads(resp["body"])
    assert_predictions(body["predictions"])
    assert body["meta"]["fetch_ms"] > 0


def test_http_v2_raw_png_body(capsys: pytest.CaptureFixture[str]) -> None:
    resp = call(_v2(_b64(PNG), b64=True, ctype="image/png"))
    assert resp["statusCode"] == 200
    assert_predictions(json.loads(resp["body"]))
    assert last_log(capsys)["event"] == "http-v2"


def test_http_v2_plain_json_image_b64_without_meta() -> None:
    resp = call(_v2(json.dumps({"image_b64": _b64(PNG)}), raw_query="meta=0"))
    assert resp["statusCode"] == 200
    assert_predictions(json.loads(resp["body"]))


def test_function_url_raw_body(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    monkeypatch.setenv("HANDLER_META", "all")
    fresh_sandbox()
    resp = call(
        _v2(_b64(JPEG), b64=True, ctype="application/octet-stream", function_url=True, raw_query="meta")
    )
    assert resp["statusCode"] == 200
    assert set(json.loads(resp["body"])) == {"predictions", "meta"}
    assert last_log(capsys)["event"] == "function-url"


def test_function_url_raw_body_without_content_type_is_sniffed() -> None:
    resp = call(_v2(_b64(PNG), b64=True, ctype=None, function_url=True))
    assert resp["statusCode"] == 200
    assert_predictions(json.loads(resp["body"]))


def test_function_url_base64_json_body() -> None:
    body = base64.b64encode(json.dumps({"image_b64": _b64(JPEG)}).encode()).decode()
    resp = call(_v2(body, b64=True, function_url=True))
    assert resp["statusCode"] == 200
    assert_predictions(json.loads(resp["body"]))


def test_redirect_is_followed(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    fresh_sandbox()
    server.routes["/old"] = redirect("/new", 301)
    server.routes["/new"] = redirect(server.url("/img.jpg"), 307)
    server.routes["/img.jpg"] = send_bytes(JPEG)
    assert_predictions(call({"url": server.url("/old")}))
    assert [p for p, _ in server.requests] == ["/old", "/new", "/img.jpg"]


def test_connects_to_validated_ip_with_hostname_as_host(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    """DNS rebinding: the name is resolved once per hop; a later answer cannot redirect the connection."""
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    fresh_sandbox()
    server.routes["/a.jpg"] = send_bytes(JPEG)
    answers = iter([["127.0.0.1"]] + [["169.254.169.254"]] * 10)
    calls: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if _is_literal(host):
            return _numeric(host, port, socket.SOCK_STREAM)
        calls.append(host)
        assert host == "images.example"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in next(answers)]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    port = server.base.rsplit(":", 1)[1]
    assert_predictions(call({"url": f"http://images.example:{port}/a.jpg"}))
    assert calls == ["images.example"]
    assert server.requests == [("/a.jpg", f"images.example:{port}")]


# --- https: SNI and certificate are checked against the hostname while connecting to the IP
def _self_signed(tmp: Path, name: str) -> tuple[Path, Path]:
    cert, key = tmp / f"{name}.crt", tmp / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalServer, list[str]]]:
    if not shutil.which("openssl"):
        pytest.skip("openssl CLI not available to make a throwaway certificate")
    cert, key = _self_signed(tmp_path, "images.example")
    sni: list[str] = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.sni_callback = lambda sock, name, c: sni.append(name)
    srv, info = _serve(ctx)
    monkeypatch.setattr(fetch, "ssl_context", lambda: ssl.create_default_context(cafile=str(cert)))
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    yield info, sni
    srv.shutdown()
    srv.server_close()


def test_https_uses_hostname_for_sni_host_and_certificate(
    tls_server: tuple[LocalServer, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, sni = tls_server
    server.routes["/s.jpg"] = send_bytes(JPEG)
    fake_dns(monkeypatch, {"images.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    port = server.base.rsplit(":", 1)[1]
    assert_predictions(call({"url": f"https://images.example:{port}/s.jpg"}))
    assert sni == ["images.example"]
    assert server.requests == [("/s.jpg", f"images.example:{port}")]
    # same IP, but the certificate does not name other.example: verification must fail
    err = assert_direct_error({"url": f"https://other.example:{port}/s.jpg"}, he.DownloadFailed)
    assert str(err) == fetch.FAILED and "other.example" in str(err.detail)  # the detail is for the log


# ================================================================================ bad input
@pytest.mark.parametrize("event", [["url"], "just a string", 42, None])
def test_direct_event_not_an_object_is_invalid_json(event: Any) -> None:
    assert_direct_error(event, he.InvalidJson)


@pytest.mark.parametrize("body", ["not json", '{"url": ', "[" * 100_000, '"a string"'])
def test_http_non_json_body(body: str) -> None:
    assert_http_error(_v1(body), he.InvalidJson, 400)


@pytest.mark.parametrize("event", [{}, {"meta": True}, {"image": "x"}, {"url": None}, {"url": ""}])
def test_direct_missing_input(event: dict[str, Any]) -> None:
    assert_direct_error(event, he.MissingInput)


def test_http_missing_input() -> None:
    assert_http_error(_v2(json.dumps({"picture": "x"})), he.MissingInput, 400)


def test_direct_both_fields_is_ambiguous() -> None:
    assert_direct_error({"url": "https://example.com/a.jpg", "image_b64": _b64(JPEG)}, he.AmbiguousInput)


def test_http_both_fields_is_ambiguous() -> None:
    assert_http_error(
        _v1(json.dumps({"url": "https://example.com/a.jpg", "image_b64": "AAAA"})), he.AmbiguousInput, 400
    )


@pytest.mark.parametrize("event", [{"url": 5}, {"image_b64": ["AAAA"]}])
def test_direct_wrong_field_type(event: dict[str, Any]) -> None:
    assert_direct_error(event, he.InvalidField)


@pytest.mark.parametrize("text", ["@@@@", "AAAA*AAA", "A", "ü" * 8])
def test_direct_bad_base64(text: str) -> None:
    assert_direct_error({"image_b64": text}, he.InvalidBase64)


def test_http_bad_base64_body() -> None:
    assert_http_error(_v2("%%%not-base64%%%", b64=True, ctype="image/jpeg"), he.InvalidBase64, 400)


@pytest.mark.parametrize("data", [b"hello world, not an image", b"\x00" * 1000, b"%PDF-1.4\n" + b"x" * 100])
def test_direct_not_an_image(data: bytes) -> None:
    assert_direct_error({"image_b64": _b64(data)}, he.NotAnImage)


def test_http_not_an_image_is_422() -> None:
    assert_http_error(_v1(_b64(b"GIF89a-but-not-really"), b64=True, ctype="image/gif"), he.NotAnImage, 422)


def test_disallowed_format_is_not_an_image() -> None:
    """Pillow can read ICO, but the handler keeps rarely used decoders away from untrusted bytes."""
    assert_direct_error({"image_b64": _b64(_encode(_photo(32, 32), "ICO"))}, he.NotAnImage)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_direct_truncated_image(fmt: str) -> None:
    data = _encode(_photo(200, 150, seed=3), fmt)
    assert_direct_error({"image_b64": _b64(data[: len(data) // 2])}, he.TruncatedImage)


def test_http_truncated_image_is_422() -> None:
    assert_http_error(_v2(_b64(JPEG[: len(JPEG) // 2]), b64=True, ctype="image/jpeg"), he.TruncatedImage, 422)


@pytest.mark.parametrize("body", [None, "", "   \n"])
def test_http_empty_body(body: str | None) -> None:
    assert_http_error(_v1(body), he.EmptyBody, 400)


def test_http_empty_base64_body() -> None:
    assert_http_error(_v2("", b64=True, ctype="image/png"), he.EmptyBody, 400)


def test_direct_blank_image_b64() -> None:
    assert_direct_error({"image_b64": " \n "}, he.EmptyBody)


def test_decompression_bomb_header_is_refused_before_decoding() -> None:
    bomb = _png_header_only(100_000, 100_000)  # 10 Gpx claimed by a ~100-byte file
    assert len(bomb) < 200
    err = assert_direct_error({"image_b64": _b64(bomb)}, he.ImageTooLarge)
    assert "pixel" in str(err)
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's global is left alone: the cap is the child's


def test_image_over_configured_pixel_cap(
    monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    big = _encode(_photo(200, 150, seed=4), "PNG")
    monkeypatch.setenv("MAX_IMAGE_PIXELS", str(200 * 150 - 1))
    fresh_sandbox()
    err = assert_direct_error({"image_b64": _b64(big)}, he.ImageTooLarge)  # the 96x72 JPEG still passes
    assert "200x150" in str(err)
    monkeypatch.setenv("MAX_IMAGE_PIXELS", str(200 * 150))
    fresh_sandbox()
    assert_predictions(call({"image_b64": _b64(big)}))  # exactly at the cap is fine


def test_http_huge_dimensions_are_413() -> None:
    assert_http_error(
        _v2(_b64(_png_header_only(50_000, 1_000)), b64=True, ctype="image/png"), he.ImageTooLarge, 413
    )


def test_default_body_cap_is_lambda_payload_limit() -> None:
    cap = 6 * 1024 * 1024
    # decodes to one byte over the cap (checked after decoding) ...
    assert_direct_error({"image_b64": _b64(b"\0" * (cap + 1))}, he.BodyTooLarge)
    # ... and text far over the cap is refused without decoding it
    assert_direct_error({"image_b64": "A" * (3 * cap)}, he.BodyTooLarge)
    # exactly at the cap passes the size check (and then is not an image)
    assert_direct_error({"image_b64": _b64(b"\0" * cap)}, he.NotAnImage)


def test_http_body_over_configured_cap(
    monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    monkeypatch.setenv("MAX_BODY_BYTES", str(len(JPEG) + 200))
    fresh_sandbox()
    assert_http_error(_v1(_b64(PNG + b"\0" * len(JPEG)), b64=True, ctype="image/png"), he.BodyTooLarge, 413)
    assert_http_error(_v1(json.dumps({"image_b64": _b64(JPEG)})), he.BodyTooLarge, 413)  # 4/3 of JPEG
    assert_http_error(
        _v1(json.dumps({"url": "http://x.example/" + "a" * 2 * len(JPEG)})), he.BodyTooLarge, 413
    )


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.jpg",
        "gopher://example.com/",
        "javascript:alert(1)",
        "example.com/a.jpg",
        "data:image/png;base64,AAAA",
        "HTTPX://example.com/",
    ],
)
def test_unsupported_url_scheme(url: str, no_traffic: list[Any]) -> None:
    assert_direct_error({"url": url}, he.UnsupportedUrlScheme)
    assert no_traffic == []


def test_http_unsupported_url_scheme(no_traffic: list[Any]) -> None:
    assert_http_error(_v2(json.dumps({"url": "file:///proc/self/environ"})), he.UnsupportedUrlScheme, 400)


@pytest.mark.parametrize(
    "url", ["http:///a.jpg", "http://example.com:99999/a.jpg", "https://[::1/", "http://" + "a" * 9000]
)
def test_invalid_url(url: str, no_traffic: list[Any]) -> None:
    assert_direct_error({"url": url}, he.InvalidUrl)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a.jpg",  # loopback (not allowed without ALLOW_URL_CIDRS)
        "http://127.8.9.10:8080/",
        "http://10.1.2.3/a.jpg",
        "http://172.16.5.4/",
        "http://192.168.1.1/",  # private
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://0.0.0.0:80/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
        "http://255.255.255.255/",
        "http://[::1]/a.jpg",
        "http://[::]/",
        "http://[fc00::1]/",
        "http://[fd12:3456::1]/",
        "http://[fe80::1]/",
        "http://[ff02::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",  # v4-mapped
        "http://[2002:a9fe:a9fe::1]/",  # 6to4 around 169.254.169.254
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 around 169.254.169.254
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://017700000001/",  # numeric spellings of 127.0.0.1
    ],
)
def test_forbidden_address_literal_without_traffic(url: str, no_traffic: list[Any]) -> None:
    assert_direct_error({"url": url}, he.ForbiddenAddress)
    assert no_traffic == []


@pytest.mark.parametrize(
    "host,ips",
    [
        ("metadata.example", ["169.254.169.254"]),
        ("internal.example", ["10.0.0.5"]),
        ("v6-loopback.example", ["::1"]),
        ("mapped.example", ["::ffff:169.254.169.254"]),
        ("ula.example", ["fd00::5"]),
        ("mixed.example", ["93.184.216.34", "10.0.0.1"]),  # one private answer is enough to refuse
    ],
)
def test_forbidden_address_via_dns_without_traffic(
    host: str, ips: list[str], monkeypatch: pytest.MonkeyPatch, no_traffic: list[Any]
) -> None:
    calls: list[str] = []
    fake_dns(monkeypatch, {host: ips}, calls)
    assert_direct_error({"url": f"http://{host}/img.jpg"}, he.ForbiddenAddress)
    assert calls == [host]
    assert no_traffic == []


def test_http_forbidden_address_is_400(no_traffic: list[Any]) -> None:
    assert_http_error(
        _v1(json.dumps({"url": "http://169.254.169.254/latest/meta-data/"})), he.ForbiddenAddress, 400
    )


def test_allow_list_is_exact(
    monkeypatch: pytest.MonkeyPatch, no_traffic: list[Any], fresh_sandbox: Callable[[], None]
) -> None:
    """ALLOW_URL_CIDRS=127.0.0.1/32 opens that one address, not loopback or private space at large."""
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    fresh_sandbox()
    for url in ("http://127.0.0.2/", "http://[::1]/", "http://169.254.169.254/"):
        assert_direct_error({"url": url}, he.ForbiddenAddress)


def test_redirect_to_metadata_address_is_refused(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    fresh_sandbox()
    server.routes["/go"] = redirect("http://169.254.169.254/latest/meta-data/iam/")
    connects: list[Any] = []
    real = socket.create_connection

    def only_localhost(address: Any, *args: Any, **kw: Any) -> socket.socket:
        connects.append(address)
        assert address[0] == "127.0.0.1", f"connected to {address}"
        return real(address, *args, **kw)

    monkeypatch.setattr(socket, "create_connection", only_localhost)
    assert_direct_error({"url": server.url("/go")}, he.ForbiddenAddress)
    assert [p for p, _ in server.requests] == ["/go"]
    assert all(a[0] == "127.0.0.1" for a in connects)


def test_redirect_to_other_scheme_is_refused(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    fresh_sandbox()
    server.routes["/go"] = redirect("file:///etc/passwd")
    assert_direct_error({"url": server.url("/go")}, he.UnsupportedUrlScheme)


def test_too_many_redirects(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    fresh_sandbox()
    server.routes["/loop"] = redirect("/loop")
    assert_direct_error({"url": server.url("/loop")}, he.TooManyRedirects)
    assert len(server.requests) == 6  # the first request + the 5 redirects allowed by default
    server.requests.clear()
    monkeypatch.setenv("MAX_REDIRECTS", "1")
    fresh_sandbox()
    assert_http_error(_v2(json.dumps({"url": server.url("/loop")})), he.TooManyRedirects, 422)
    assert len(server.requests) == 2


def _drip_body(h: http.server.BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Length", "100000")
    h.end_headers()
    h.wfile.flush()
    for _ in range(200):  # one byte every 20 ms: never idle long enough for a per-read timeout
        h.wfile.write(b"\xff")
        h.wfile.flush()
        time.sleep(0.02)


def _drip_headers(h: http.server.BaseHTTPRequestHandler) -> None:
    h.wfile.write(b"HTTP/1.0 200 OK\r\n")
    for _ in range(200):
        h.wfile.write(b"X")
        h.wfile.flush()
        time.sleep(0.02)


def _stall(h: http.server.BaseHTTPRequestHandler) -> None:
    time.sleep(3)


@pytest.mark.parametrize(
    "route", [_drip_body, _drip_headers, _stall], ids=["drip-body", "drip-headers", "stall"]
)
def test_slow_download_hits_overall_deadline(
    route: Route, server: LocalServer, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    monkeypatch.setenv("URL_TIMEOUT_S", "0.5")
    fresh_sandbox()
    server.routes["/slow"] = route
    t0 = time.monotonic()
    with pytest.raises(he.DownloadTimeout):
        call({"url": server.url("/slow")})
    elapsed = time.monotonic() - t0
    assert 0.45 <= elapsed < 2.0, elapsed  # the server would drip or stall for 3-4 s
    assert_still_serves()


def test_http_slow_download_is_422(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    monkeypatch.setenv("URL_TIMEOUT_S", "0.3")
    fresh_sandbox()
    server.routes["/slow"] = _drip_body
    assert_http_error(_v1(json.dumps({"url": server.url("/slow")})), he.DownloadTimeout, 422)


def test_download_over_cap_by_content_length(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    monkeypatch.setenv("MAX_DOWNLOAD_BYTES", str(len(JPEG) - 1))
    fresh_sandbox()
    server.routes["/big"] = send_bytes(JPEG)
    err = assert_direct_error({"url": server.url("/big")}, he.DownloadTooLarge)
    assert "Content-Length" in str(err)
    monkeypatch.setenv("MAX_DOWNLOAD_BYTES", str(len(JPEG)))
    fresh_sandbox()
    assert_predictions(call({"url": server.url("/big")}))  # exactly at the cap is fine


def test_download_over_cap_by_streamed_count(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    """No Content-Length (HTTP/1.0, body until close): the bytes received are counted."""
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    monkeypatch.setenv("MAX_DOWNLOAD_BYTES", "10000")
    fresh_sandbox()

    def endless(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.end_headers()
        for _ in range(1000):
            h.wfile.write(b"\xff" * 1000)

    server.routes["/endless"] = endless
    err = assert_direct_error({"url": server.url("/endless")}, he.DownloadTooLarge)
    assert "10000" in str(err)
    assert_http_error(_v2(json.dumps({"url": server.url("/endless")})), he.DownloadTooLarge, 413)


def test_download_failures(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    fresh_sandbox()

    def short(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(JPEG)))
        h.end_headers()
        h.wfile.write(JPEG[:100])

    server.routes["/short"] = short
    assert "404" in str(assert_direct_error({"url": server.url("/missing.jpg")}, he.DownloadFailed).detail)
    assert "100 of" in str(assert_direct_error({"url": server.url("/short")}, he.DownloadFailed).detail)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    assert_direct_error({"url": f"http://127.0.0.1:{closed_port}/a.jpg"}, he.DownloadFailed)
    assert_http_error(_v1(json.dumps({"url": server.url("/missing.jpg")})), he.DownloadFailed, 422)


def test_unresolvable_host(monkeypatch: pytest.MonkeyPatch, no_traffic: list[Any]) -> None:
    fake_dns(monkeypatch, {})
    assert_direct_error({"url": "http://nowhere.example/a.jpg"}, he.DownloadFailed)


def test_downloaded_bytes_are_validated_like_uploads(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    fresh_sandbox()
    server.routes["/page.html"] = send_bytes(b"<html>not an image</html>", "text/html")
    server.routes["/bomb.png"] = send_bytes(_png_header_only(100_000, 100_000), "image/png")
    assert_direct_error({"url": server.url("/page.html")}, he.NotAnImage)
    assert_direct_error({"url": server.url("/bomb.png")}, he.ImageTooLarge)


# ================================================================================ internal errors
def test_internal_error_is_500_and_logged(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = {"n": 0}
    real = null.Adapter.predict

    def flaky(self: null.Adapter, batch: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("runtime exploded")
        return real(self, batch)

    monkeypatch.setattr(null.Adapter, "predict", flaky)
    resp = call(_v2(json.dumps({"image_b64": _b64(JPEG)})))
    assert resp["statusCode"] == 500
    body = json.loads(resp["body"])
    assert body["errorType"] == "InternalError" and "test-request-id" in body["errorMessage"]
    assert "exploded" not in resp["body"]  # internals go to the log, not to the client
    log = last_log(capsys)
    assert log["msg"] == "error" and log["errorType"] == "RuntimeError" and "exploded" in log["traceback"]
    assert_still_serves()


def test_direct_internal_error_is_generic_and_logged_with_request_id(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(null.Adapter, "predict", lambda self, batch: np.zeros((1, 3), np.float32))
    with pytest.raises(he.InternalError) as info:
        call({"image_b64": _b64(JPEG)})
    assert str(info.value) == "internal error (request test-request-id); see logs"
    assert info.value.__cause__ is None and info.value.__context__ is None
    log = last_log(capsys)
    assert log["request_id"] == "test-request-id" and log["errorType"] == "RuntimeError"
    assert "shape" in log["errorMessage"] and "Traceback" in log["traceback"]


@pytest.mark.parametrize(
    "env,value",
    [
        ("MODEL_RUNTIME", ""),
        ("MODEL_RUNTIME", "caffe"),
        ("MODEL_CARD", "/nonexistent/card.json"),
        ("URL_TIMEOUT_S", "soon"),
        ("MAX_BODY_BYTES", "-1"),
    ],
)
def test_misconfiguration_is_500_not_4xx(
    env: str, value: str, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    monkeypatch.setenv(env, value)
    fresh_sandbox()
    resp = call(_v1(json.dumps({"image_b64": _b64(JPEG)})))
    assert resp["statusCode"] == 500
    with pytest.raises(Exception) as info:
        call({"image_b64": _b64(JPEG)})
    assert not isinstance(info.value, he.BadInput)


@pytest.mark.parametrize(
    "card",
    [
        {"classes": CLASSES, "input_px": 128, "preprocessing": "torchvision-bilinear"},
        {"classes": [], "input_px": 128, "preprocessing": "xception-tf-nearest"},
        {"classes": ["a", "a"], "input_px": 128, "preprocessing": "xception-tf-nearest"},
        {"classes": CLASSES, "input_px": "128", "preprocessing": "xception-tf-nearest"},
    ],
)
def test_bad_card_is_refused(card: dict[str, Any], handler_env: Path) -> None:
    handler_env.write_text(json.dumps(card))
    with pytest.raises(he.InternalError):
        call({"image_b64": _b64(JPEG)})
    with pytest.raises(lf.ModelConfigError):
        lf._init("invoke")


def test_card_with_height_width_and_class_count(handler_env: Path, model_spy: Seen) -> None:
    handler_env.write_text(
        json.dumps(
            {"classes": ["a", "b", "c"], "input_px": [150, 100], "preprocessing": "xception-tf-nearest"}
        )
    )
    result = call({"image_b64": _b64(JPEG)})
    assert list(result) == ["a", "b", "c"]
    assert model_spy.batches[0].shape == (1, 150, 100, 3)


# ================================================================================ command line
def test_command_line_smoke(handler_env: Path, tmp_path: Path) -> None:
    image = tmp_path / "x.jpg"
    image.write_bytes(JPEG)
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_RUNTIME", "MODEL_PATH")}
    model = str(handler_env.parent / "model.null")
    cmd = [sys.executable, "-m", "scripts.classify", "--runtime", "null", "--model", model]
    ok = subprocess.run([*cmd, str(image)], capture_output=True, text=True, env=env, timeout=60, cwd=REPO)
    assert ok.returncode == 0, ok.stderr
    assert_predictions(json.loads(ok.stdout))
    assert "top:" in ok.stderr
    bad = subprocess.run(
        [*cmd, str(handler_env)], capture_output=True, text=True, env=env, timeout=60, cwd=REPO
    )
    assert bad.returncode == 2 and "NotAnImage" in bad.stderr


# ================================================================================ contracts
def test_error_types_share_one_base_and_map_to_4xx() -> None:
    names = {cls.__name__ for cls in he.ALL}
    assert {
        "InvalidJson", "MissingInput", "AmbiguousInput", "InvalidBase64", "NotAnImage", "TruncatedImage",
        "EmptyBody", "ImageTooLarge", "BodyTooLarge", "UnsupportedUrlScheme", "ForbiddenAddress",
        "TooManyRedirects", "DownloadTimeout", "DownloadTooLarge", "DownloadFailed",
    } <= names  # fmt: skip
    for cls in he.ALL:
        assert issubclass(cls, he.BadInput) and cls.status in (400, 413, 422), cls
    assert {c.__name__ for c in he.ALL if c.status == 413} == {
        "BodyTooLarge",
        "ImageTooLarge",
        "DownloadTooLarge",
    }


def test_handler_imports_only_stdlib_numpy_pillow_and_runtimes() -> None:
    """What ships in every image must not pull TensorFlow (or models/, bench/, deploy/) in."""
    code = (
        "import sys, lambda_function\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'tensorflow', 'keras', 'onnxruntime', 'ai_edge_litert', 'models', 'bench', 'deploy'})\n"
        "print(','.join(bad))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def _awslambdaric_style_call(event: Any) -> BaseException:
    """What awslambdaric's ``handle_event_request`` does with a handler's exception: ``sys.exc_info()``
    into locals of a frame the traceback reaches, i.e. a reference cycle only a full GC frees."""
    try:
        call(event)
    except Exception:
        _, value, tb = sys.exc_info()
        assert value is not None and tb is not None
        return value
    raise AssertionError("no exception")


@pytest.mark.parametrize("kind", ["truncated", "bad_base64", "not_an_image"])
def test_direct_bad_input_is_detached_from_request_frames(kind: str) -> None:
    """The soak's memory creep: a bad input's traceback held the request's bytes and pixels in that
    cycle. The raised error now carries no chained cause and no frame below the handler."""
    data = {
        "truncated": JPEG[: len(JPEG) // 2],
        "not_an_image": b"plain text, not pixels " * 8,
    }.get(kind)
    event = {"image_b64": _b64(data) if data is not None else "!!not*base64@@" * 4}
    err = _awslambdaric_style_call(event)
    assert isinstance(err, he.BadInput)
    assert err.__context__ is None and err.__cause__ is None
    frames = []
    tb = err.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    names = [f.f_code.co_name for f in frames]
    assert names[-1] == "lambda_handler", names  # raised by the handler itself, nothing deeper
    assert all(v is not err for v in frames[-1].f_locals.values()), "handler frame still holds the error"


# ============================================================================ hostile-input regressions
# Each test below fails on a handler without the limit or guard it names.


def _fault(event: Any) -> dict[str, Any]:
    """The invoke response awslambdaric builds for the exception a direct invoke raises, without the
    frames of this test (awslambdaric drops its own bootstrap.py frames the same way)."""
    try:
        lf.lambda_handler(event, Ctx())
    except Exception:
        fault = build_fault_result(sys.exc_info(), None)
        fault["stackTrace"] = [f for f in fault["stackTrace"] if __file__ not in f]
        return fault
    raise AssertionError("no exception")


def test_scan_bomb_is_refused_before_decoding() -> None:
    """Item 1: 300 repeated scans; before: decoded (216 ms at 1024 px, 8.2 s at 6324 px), now 422."""
    t0 = time.perf_counter()
    err = assert_direct_error({"image_b64": _b64(adversarial.scan_bomb(1024, 300))}, he.ImageTooComplex)
    assert time.perf_counter() - t0 < 1.0
    assert "MAX_JPEG_SCANS" in str(err)
    event = _v2(_b64(adversarial.scan_bomb(256, 40)), b64=True, ctype="image/jpeg")
    assert_http_error(event, he.ImageTooComplex, 422)


def test_scan_cap_follows_env_and_allows_normal_progressive(
    monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    progressive = adversarial.seeds()["jpeg-progressive"]
    assert_predictions(call({"image_b64": _b64(progressive)}))
    monkeypatch.setenv("MAX_JPEG_SCANS", "3")
    fresh_sandbox()
    assert_direct_error({"image_b64": _b64(progressive)}, he.ImageTooComplex)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF"])
def test_metadata_block_flood_is_refused_before_parsing(fmt: str) -> None:
    """Found while fixing item 1: 6 MB of 1-byte blocks that Pillow parses one by one in Python took
    2.3-3.5 s to open (answered 200); now refused by a count that stops at its budget."""
    data = adversarial.block_flood(fmt, 4_000_000)
    t0 = time.perf_counter()
    assert_direct_error({"image_b64": _b64(data)}, he.ImageTooComplex)
    assert time.perf_counter() - t0 < 0.5
    for name in ("jpeg", "png", "gif", "png-palette"):  # the normal files are far under the budget
        assert_predictions(call({"image_b64": _b64(adversarial.seeds()[name])}))


@pytest.mark.parametrize("field_type", [5, 11])  # RATIONAL, FLOAT StripOffsets
def test_malformed_tiff_is_422_with_no_library_frames(
    field_type: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 2: before, TypeError -> HTTP 500 and a direct-invoke stackTrace through site-packages/PIL.
    TIFF is opt-in (DECODE_FORMATS); by default the same bytes are NotAnImage."""
    data = adversarial.tiff_bad_strip_offsets(field_type)
    assert_direct_error({"image_b64": _b64(data)}, he.NotAnImage)
    monkeypatch.setenv("DECODE_FORMATS", "JPEG,TIFF")
    lf._MODEL = None
    assert_http_error(_v2(_b64(data), b64=True, ctype="image/tiff"), he.TruncatedImage, 422)
    fault = _fault({"image_b64": _b64(data)})
    assert fault["errorType"] == "TruncatedImage"
    assert len(fault["stackTrace"]) == 1 and "lambda_function.py" in fault["stackTrace"][0]
    assert "site-packages" not in json.dumps(fault) and "TypeError" not in json.dumps(fault)


def test_unhandled_error_stack_trace_is_the_handler_entry_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(null.Adapter, "predict", lambda self, batch: np.zeros((1, 3), np.float32))
    fault = _fault({"image_b64": _b64(JPEG)})
    assert fault["errorType"] == "InternalError" and "test-request-id" in fault["errorMessage"]
    assert len(fault["stackTrace"]) == 1 and "in lambda_handler" in fault["stackTrace"][0]
    assert "shape" not in json.dumps(fault)


def test_forbidden_address_message_does_not_name_the_resolved_address(
    monkeypatch: pytest.MonkeyPatch, no_traffic: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 3: before, "address 10.0.0.5 is not public" told a caller what a private name resolves to."""
    fake_dns(monkeypatch, {"db.internal.example": ["10.0.0.5"]})
    err = assert_direct_error({"url": "http://db.internal.example/x.jpg"}, he.ForbiddenAddress)
    assert "10.0.0.5" not in str(err) and str(err) == fetch.FORBIDDEN
    event = _v1(json.dumps({"url": "http://db.internal.example/"}))
    body = assert_http_error(event, he.ForbiddenAddress, 400)
    assert "10.0.0.5" not in json.dumps(body)
    assert any("10.0.0.5" in str(json.loads(ln).get("detail")) for ln in capsys.readouterr().out.splitlines())


def test_download_failures_share_one_message(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    """Item 3: refused, unresolvable and HTTP 404 looked different to the caller; now one message each."""
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    fresh_sandbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    refused = assert_direct_error({"url": f"http://127.0.0.1:{closed}/a.jpg"}, he.DownloadFailed)
    missing = assert_direct_error({"url": server.url("/missing.jpg")}, he.DownloadFailed)
    fake_dns(monkeypatch, {})
    unknown = assert_direct_error({"url": "http://nowhere.example/a.jpg"}, he.DownloadFailed)
    assert str(refused) == str(missing) == str(unknown) == fetch.FAILED
    assert "refused" in str(refused.detail).lower() and "404" in str(missing.detail)


@pytest.mark.parametrize(
    "event",
    [
        {"rawPath": "/", "requestContext": "x"},
        {"requestContext": [1], "body": "{}"},
        {"httpMethod": "POST", "headers": ["content-type"], "body": '{"url": "http://x/"}'},
        {"httpMethod": "POST", "multiValueHeaders": "x", "body": '{"url": "http://x/"}'},
        {"httpMethod": "POST", "queryStringParameters": ["meta"], "body": '{"url": "http://x/"}'},
        {"httpMethod": "POST", "isBase64Encoded": {}, "body": '{"url": "http://x/"}'},
    ],
)
def test_malformed_http_shaped_events_are_typed_400(event: dict[str, Any], no_traffic: list[Any]) -> None:
    """Item 4: before, an AttributeError escaped before the try block, or the answer was 500."""
    resp = call(event)
    assert resp["statusCode"] == 400, resp
    assert json.loads(resp["body"])["errorType"] == "InvalidField"
    assert_still_serves()


def test_is_base64_encoded_string_false_is_false() -> None:
    """Item 5: a string "false" used to count as true (the JSON body then failed base64 decoding)."""
    event = _v1(json.dumps({"image_b64": _b64(JPEG)}))
    event["isBase64Encoded"] = "false"
    assert_predictions(json.loads(call(event)["body"]))


@pytest.mark.parametrize("url", ["http://[2002:7f00:1::1]/", "http://[64:ff9b::7f00:1]/"])
def test_allow_list_does_not_open_ipv6_forms_embedding_an_allowed_ipv4(
    url: str, monkeypatch: pytest.MonkeyPatch, no_traffic: list[Any], fresh_sandbox: Callable[[], None]
) -> None:
    """Item 5: ALLOW_URL_CIDRS=127.0.0.1/32 used to let 6to4/NAT64 addresses around 127.0.0.1 through."""
    monkeypatch.setenv("ALLOW_URL_CIDRS", ALLOW_LOCAL)
    fresh_sandbox()
    assert_direct_error({"url": url}, he.ForbiddenAddress)
    assert no_traffic == []


def test_meta_is_opt_in_per_deployment(
    monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    """Item 5: ``?meta=1`` showed any HTTP caller the pid, library versions and model hash."""
    event = _v1(json.dumps({"image_b64": _b64(JPEG)}), query={"meta": "1"})
    assert_predictions(json.loads(call(event)["body"]))  # default: HTTP callers get no meta
    assert set(call({"image_b64": _b64(JPEG), "meta": True})) == {"predictions", "meta"}  # direct: yes
    monkeypatch.setenv("HANDLER_META", "all")
    fresh_sandbox()
    assert set(json.loads(call(event)["body"])["meta"]) == META_KEYS
    monkeypatch.setenv("HANDLER_META", "off")
    fresh_sandbox()
    assert_predictions(call({"image_b64": _b64(JPEG), "meta": True}))
    monkeypatch.setenv("HANDLER_META", "sometimes")
    fresh_sandbox()
    assert call(event)["statusCode"] == 500


def test_pixel_cap_follows_function_memory(
    monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> None:
    """The cap is the decode's memory budget (a fraction of the function's memory minus what the process
    holds) over the measured bytes per pixel of the image's format and mode."""
    header = _png_header_only(5000, 5000)  # 25 Mpx RGB, no pixel data
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")  # the budget's floor: ~2 Mpx of PNG RGB
    fresh_sandbox()
    err = assert_direct_error({"image_b64": _b64(header)}, he.ImageTooLarge)
    assert "for PNG RGB" in str(err)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3008")
    fresh_sandbox()
    assert_direct_error({"image_b64": _b64(header)}, he.TruncatedImage)  # under the cap: decoding starts
    monkeypatch.setenv("MAX_IMAGE_PIXELS", "20000000")  # an explicit ceiling wins
    fresh_sandbox()
    assert "20000000-pixel cap" in str(assert_direct_error({"image_b64": _b64(header)}, he.ImageTooLarge))


def test_jpeg_exif_and_multi_picture_files_decode(handler_env: Path, model_spy: Seen) -> None:
    """The worker imports only each format's own plugin; Pillow loads MPO's reader and TIFF's EXIF parser
    itself when a file needs them: a JPEG stored sideways with Orientation=6 reaches the model upright,
    and a two-picture MPO (a phone's stereo/depth JPEG) is read as its first picture."""
    handler_env.write_text(
        json.dumps({"classes": CLASSES, "input_px": [96, 128], "preprocessing": "xception-tf-nearest"})
    )
    upright = Image.new("RGB", (128, 96), (20, 20, 20))
    upright.paste((230, 230, 230), (0, 0, 64, 48))  # a bright quadrant: where it lands shows the rotation
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    call({"image_b64": _b64(_encode(sideways, "JPEG", quality=95, exif=exif.tobytes()))})
    call({"image_b64": _b64(_encode(upright, "JPEG", quality=95))})
    other = Image.new("RGB", (128, 96), (0, 0, 255))
    call({"image_b64": _b64(_encode(upright, "MPO", quality=95, save_all=True, append_images=[other]))})
    rotated, plain, mpo = (b[0] for b in model_spy.batches)
    assert rotated.shape == plain.shape == mpo.shape == (96, 128, 3)
    assert np.abs(rotated - plain).mean() < 0.05 * np.abs(plain).max()  # upright, up to JPEG's loss
    assert np.abs(mpo - plain).mean() < 0.05 * np.abs(plain).max()  # the first picture, not the blue one


def test_exif_orientation_is_applied(handler_env: Path, model_spy: Seen) -> None:
    """Item 7: a phone photo stored sideways with Orientation=6 reaches the model upright."""
    handler_env.write_text(
        json.dumps({"classes": CLASSES, "input_px": [96, 128], "preprocessing": "xception-tf-nearest"})
    )
    upright = _photo(128, 96, seed=3)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = _encode(upright.transpose(Image.Transpose.ROTATE_90), "PNG", exif=exif.tobytes())
    call({"image_b64": _b64(stored)})
    call({"image_b64": _b64(_encode(upright, "PNG"))})
    assert model_spy.batches[0].shape == (1, 96, 128, 3)
    assert np.array_equal(model_spy.batches[0], model_spy.batches[1])
