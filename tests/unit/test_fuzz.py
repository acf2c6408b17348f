"""Property-based fuzzing of the handler (Hypothesis), in-process with the null runtime.

The property: whatever the input, the handler answers a typed 4xx or a normal answer,
within a per-input time budget, and the next good request still answers. Inputs are mutated real
images (bit flips, truncation, header field rewrites, duplicated or deleted runs for JPEG, PNG, GIF,
TIFF, WebP and BMP; tests/support/adversarial.py) and generated events (direct and HTTP-shaped, with fields of
every JSON type). Bounded by count: FUZZ_N examples per property (default 150, a derandomized run so
``make test`` is reproducible; set FUZZ_N=5000 for a longer, randomized run), and by time: every input
must be answered within FUZZ_BUDGET_S (default 2 s). No network: DNS answers numeric literals only and
every connect is refused, so fuzzed URLs cannot leave the machine.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lambda_function as lf
from runtimes import handler_errors as he
from tests.support import adversarial

FUZZ_N = int(os.environ.get("FUZZ_N") or 0)
BUDGET_S = float(os.environ.get("FUZZ_BUDGET_S") or 2.0)
SETTINGS = settings(
    max_examples=FUZZ_N or 150,
    derandomize=not FUZZ_N,
    deadline=None,  # the budget is asserted below, on the handler call alone
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SEEDS = adversarial.seeds()
GOOD = {"image_b64": base64.b64encode(SEEDS["jpeg"]).decode()}
TYPED = {cls.__name__ for cls in he.ALL}


class Ctx:
    aws_request_id = "fuzz"


@pytest.fixture(scope="module", autouse=True)
def sandbox(tmp_path_factory: pytest.TempPathFactory, fresh_sandbox: Callable[[], None]) -> Iterator[None]:
    """Null runtime with a 10-class card, default caps, and no way to reach the network."""
    d: Path = tmp_path_factory.mktemp("fuzz-model")
    classes = [f"c{i}" for i in range(10)]
    (d / "card.json").write_text(
        json.dumps({"classes": classes, "input_px": 64, "preprocessing": "xception-tf-nearest"})
    )
    real = socket.getaddrinfo

    def numeric_only(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        return real(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    def refuse(*args: Any, **kw: Any) -> None:
        raise ConnectionRefusedError("fuzzing: no network")

    with pytest.MonkeyPatch.context() as mp:
        for name in (
            "ALLOW_URL_CIDRS",
            "MAX_IMAGE_PIXELS",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "HANDLER_META",
        ):
            mp.delenv(name, raising=False)
        mp.setenv("MODEL_RUNTIME", "null")
        mp.setenv("MODEL_PATH", str(d / "model.null"))
        mp.setenv("URL_TIMEOUT_S", "0.5")
        mp.setattr(socket, "getaddrinfo", numeric_only)
        mp.setattr(socket, "create_connection", refuse)
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(lf, "_log", lambda record: None)  # thousands of log lines would drown the report
        fresh_sandbox()
        yield
        fresh_sandbox()


def answer(event: Any) -> tuple[str, float]:
    """Call the handler; returns ("OK" or the errorType, seconds). Anything untyped fails the test."""
    t0 = time.perf_counter()
    try:
        out = lf.lambda_handler(event, Ctx())
    except he.BadInput as e:
        return type(e).__name__, time.perf_counter() - t0
    dt = time.perf_counter() - t0
    if isinstance(out, dict) and "statusCode" in out:
        body = json.loads(out["body"])
        if out["statusCode"] == 200:
            return "OK", dt
        assert out["statusCode"] in (400, 413, 422), out
        assert body["errorType"] in TYPED, body  # a typed error, never InternalError
        return body["errorType"], dt
    assert isinstance(out, dict) and len(out) == 10, out
    return "OK", dt


def still_serves() -> None:
    assert answer(GOOD)[0] == "OK"


ops = st.tuples(
    st.sampled_from(["flip", "flip", "truncate", "field", "field", "dup", "delete"]),
    st.integers(0, 1 << 20),
    st.integers(0, 1 << 20),
    st.binary(min_size=1, max_size=4),
)


@SETTINGS
@given(
    seed=st.sampled_from(sorted(SEEDS)), mutations=st.lists(ops, min_size=1, max_size=4), http=st.booleans()
)
def test_mutated_images_get_typed_answers_in_time(
    seed: str, mutations: list[adversarial.Op], http: bool
) -> None:
    data = SEEDS[seed]
    for op in mutations:
        data = adversarial.apply(data, op)
    b64 = base64.b64encode(data).decode()
    event: dict[str, Any] = {"image_b64": b64}
    if http:
        event = {"rawPath": "/", "requestContext": {}, "body": b64, "isBase64Encoded": True,
                 "headers": {"content-type": "application/octet-stream"}}  # fmt: skip
    kind, seconds = answer(event)
    assert kind in adversarial.IMAGE_ERRORS | {"EmptyBody"}, kind
    assert seconds < BUDGET_S, f"{seed} {mutations}: {seconds:.2f} s"
    still_serves()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(
    ["url", "image_b64", "meta", "body", "headers", "multiValueHeaders", "queryStringParameters",
     "rawQueryString", "isBase64Encoded", "requestContext", "rawPath", "httpMethod", "routeKey", "version"]
)  # fmt: skip
field_values = json_values | st.sampled_from(
    ["http://127.0.0.1/x.jpg", "http://[::1]/", "ftp://x/", "data:image/png;base64,AAAA", GOOD["image_b64"],
     json.dumps(GOOD), json.dumps({"url": "http://10.0.0.1/"}), "2.0", "true", "false", "image/jpeg"]
)  # fmt: skip


@SETTINGS
@given(event=json_values | st.dictionaries(field_names, field_values, max_size=7))
def test_generated_events_get_typed_answers_in_time(event: Any) -> None:
    kind, seconds = answer(event)
    assert kind == "OK" or kind in TYPED, kind
    assert seconds < BUDGET_S, f"{event!r:.300}: {seconds:.2f} s"
    still_serves()
