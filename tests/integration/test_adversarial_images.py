"""The adversarial corpus (tests/support/adversarial.py) sent over HTTP to every built image under the Lambda
emulator, each followed by a good request (the next request must still be served).

Per image: the named hostile files (scan bomb, malformed TIFFs, 10 Gpx headers, truncations, ...),
CORPUS_MUTANTS seeded mutants (default 12; more with CORPUS_MUTANTS=...) and the malformed event shapes,
as direct invokes and as API Gateway v2 events. Every answer must be typed (a listed errorType, or a
normal answer where the case allows one), a direct-invoke error's ``stackTrace`` must stop at the
handler entry and name no library path, and the good request after it must still answer. The containers
are the ones tests/integration/conftest.py's fixtures start, on its docker network; no other traffic.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

import pytest

from tests.support import adversarial
from tests.support.containers import Lambda, require_docker, sample_images

pytestmark = [pytest.mark.docker, pytest.mark.slow]
require_docker()

N_MUTANTS = int(os.environ.get("CORPUS_MUTANTS") or 12)
#: Seconds for any single answer; the emulator round trip is included.
BUDGET_S = 5.0


@pytest.fixture(scope="module")
def file_server() -> str:
    """tests/integration/conftest.py's ``lam`` asks for the file server; the corpus needs none."""
    return "http://unused.invalid"


def v2(body: str, b64: bool, ctype: str) -> dict[str, Any]:
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
        "headers": {"content-type": ctype},
        "requestContext": {"http": {"method": "POST", "path": "/"}, "domainName": "localhost"},
        "body": body, "isBase64Encoded": b64,
    }  # fmt: skip


def kind_of(out: Any) -> str:
    """ "OK" or the errorType of one emulator answer (direct or HTTP-shaped)."""
    if isinstance(out, dict) and "statusCode" in out:
        if out["statusCode"] == 200:
            return "OK"
        assert out["statusCode"] in (400, 413, 422), out
        return json.loads(out["body"])["errorType"]
    if isinstance(out, dict) and "errorType" in out:
        trace = out.get("stackTrace") or []
        assert len(trace) <= 1 and "site-packages" not in json.dumps(out), out
        return out["errorType"]
    assert isinstance(out, dict) and len(out) == 10 and all(isinstance(v, float) for v in out.values()), out
    return "OK"


def send(fn: Lambda, event: Any, allowed: frozenset[str], name: str, good: dict[str, str]) -> None:
    t0 = time.perf_counter()
    out = fn.invoke(event, timeout=60)
    seconds = time.perf_counter() - t0
    kind = kind_of(out)
    assert kind in allowed, (name, kind, out, fn.logs()[-1500:])
    assert seconds < BUDGET_S, (name, seconds)
    assert kind_of(fn.invoke(good, timeout=60)) == "OK", (name, fn.logs()[-1500:])


def test_adversarial_corpus_gets_typed_answers(lam: tuple[Lambda, str, str]) -> None:
    fn, image, variant = lam
    good_b64 = base64.b64encode(sample_images()[0].read_bytes()).decode()
    good = {"image_b64": good_b64}
    cases = [*adversarial.specials(), *adversarial.mutants(N_MUTANTS, seed=7)]
    for i, case in enumerate(cases):
        b64 = base64.b64encode(case.data).decode()
        allowed = case.allowed | {"EmptyBody"}
        if i % 2:
            send(fn, v2(b64, True, "application/octet-stream"), allowed, case.name, good)
        else:
            send(fn, {"image_b64": b64}, allowed, case.name, good)
    for name, event, allowed in adversarial.hostile_events(good_b64):
        send(fn, event, allowed, name, good)
