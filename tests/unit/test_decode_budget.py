"""The decode budget holds for generated hostile structure, in-process with the null runtime.

Hypothesis builds files per decoder behaviour (tests/support/hostile.py): JPEG scan counts, their encoding and
fill bytes; BMP run-length rows; PNG ancillary chunk counts, sizes and padding; TIFF strip layouts and
sample formats; canvases of every format and mode up to and past the pixel cap. The property, per input:
a normal answer or a typed 4xx; the decode's CPU time and wall time within DECODE_CPU_S (plus the fork
and the pipe); the decode child's peak resident set within the memory budget; the next request served.

Every format is enabled (DECODE_FORMATS) so the opt-in ones are held to the same budget, and the JPEG
scan pre-check is switched off (MAX_JPEG_SCANS) so the budget itself is what is tested. FUZZ_N sets the
examples per property (default a derandomized 25 each, so ``make test`` is reproducible).
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lambda_function as lf
from runtimes import decode, events
from runtimes import handler_errors as he
from runtimes import limits as lim
from runtimes.sandbox import resident_bytes
from tests.support import hostile

FUZZ_N = int(os.environ.get("FUZZ_N") or 0)
SETTINGS = settings(
    max_examples=FUZZ_N or 25,
    derandomize=not FUZZ_N,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CPU_S = 0.5
MEMORY_MB = 512
#: Work outside the child per request (base64, the structure walks, the fork, the answer).
OUTSIDE_S = 0.5
#: Page-table and allocator bookkeeping of the child beyond what the budget counts.
RSS_SLACK = 24 * 1024 * 1024
TYPED = {cls.__name__ for cls in he.ALL}
GOOD = {"image_b64": base64.b64encode(hostile.encode(hostile.textured(64, 48), "JPEG")).decode()}


class Ctx:
    aws_request_id = "budget"


@pytest.fixture(scope="module", autouse=True)
def sandbox(tmp_path_factory: pytest.TempPathFactory, fresh_sandbox: Callable[[], None]) -> Iterator[None]:
    d: Path = tmp_path_factory.mktemp("budget-model")
    card = {"classes": [f"c{i}" for i in range(10)], "input_px": 64, "preprocessing": "xception-tf-nearest"}
    (d / "card.json").write_text(json.dumps(card))
    with pytest.MonkeyPatch.context() as mp:
        for name in ("MAX_IMAGE_PIXELS", "HANDLER_META", "DECODE_MEMORY_FRACTION"):
            mp.delenv(name, raising=False)
        mp.setenv("MODEL_RUNTIME", "null")
        mp.setenv("MODEL_PATH", str(d / "model.null"))
        mp.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", str(MEMORY_MB))
        mp.setenv("DECODE_CPU_S", str(CPU_S))
        mp.setenv("DECODE_FORMATS", ",".join(lim.DEFAULT_FORMATS + lim.OPTIONAL_FORMATS))
        mp.setenv("MAX_JPEG_SCANS", "1000000")
        mp.setattr(lf, "_log", lambda record: None)
        fresh_sandbox()
        yield
        fresh_sandbox()


def answer(data: bytes) -> str:
    """The handler's answer to ``data`` as ("OK" or the errorType), after checking the budget held."""
    event = {"image_b64": base64.b64encode(data).decode()}
    rss = resident_bytes() + decode.WORKER.resident()
    t0 = time.perf_counter()
    try:
        out = lf.lambda_handler(event, Ctx())
        kind = "OK" if isinstance(out, dict) and len(out) == 10 else f"untyped {out!r:.80}"
    except he.BadInput as e:
        kind = type(e).__name__
    wall = time.perf_counter() - t0
    model, cost = lf._MODEL, decode.WORKER.last
    assert model is not None and cost is not None
    assert cost.cpu_s <= CPU_S + 0.1, f"decode used {cost.cpu_s:.2f} s CPU"
    assert wall <= model.limits.decode_wall_s + OUTSIDE_S, f"answered after {wall:.2f} s"
    if cost.peak_rss:  # a worker killed for its CPU took its peak with it; RLIMIT_AS bounded it anyway
        assert cost.peak_rss - cost.start_rss <= model.limits.decode_bytes(rss) + RSS_SLACK, cost
    return kind


def check(data: bytes, ok_allowed: bool = True) -> None:
    kind = answer(data)
    assert kind in TYPED or (ok_allowed and kind == "OK"), kind
    assert answer(base64.b64decode(GOOD["image_b64"])) == "OK"


@SETTINGS
@given(
    side=st.integers(64, 6000),
    repeats=st.integers(0, 1200),
    fill=st.integers(0, 16),
    which=st.integers(-3, 2),
    flat=st.booleans(),
)
def test_jpeg_scans_within_budget(side: int, repeats: int, fill: int, which: int, flat: bool) -> None:
    check(hostile.jpeg_scans(side, repeats, fill, which, flat))


@SETTINGS
@given(
    width=st.integers(1, 6000),
    height=st.integers(1, 20000),
    runs=st.integers(1, 4),
    bits=st.sampled_from([4, 8]),
    rows=st.none() | st.integers(0, 20000),
)
def test_bmp_rle_within_budget(width: int, height: int, runs: int, bits: int, rows: int | None) -> None:
    check(hostile.bmp_rle(width, height, runs, bits, rows))


@SETTINGS
@given(
    n_chunks=st.integers(1, 1500),
    inflated=st.integers(1, 1 << 20),
    kind=st.sampled_from([b"iCCP", b"zTXt", b"iTXt"]),
    pad=st.integers(0, 3000),
)
def test_png_chunks_within_budget(n_chunks: int, inflated: int, kind: bytes, pad: int) -> None:
    check(hostile.png_chunks(n_chunks, inflated, kind, pad))


@SETTINGS
@given(
    width=st.integers(1, 400),
    height=st.integers(1, 400_000),
    rows_per_strip=st.integers(1, 64),
    mode=st.sampled_from(["RGB", "L", "F"]),
)
def test_tiff_strips_within_budget(width: int, height: int, rows_per_strip: int, mode: str) -> None:
    if width * height * (4 if mode == "F" else 3) > 6 * 1024 * 1024:  # over MAX_BODY_BYTES: not an input
        height = 6 * 1024 * 1024 // (width * 4)
    check(hostile.tiff_strips(width, height, rows_per_strip, mode))


CANVASES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "JPEG": [("RGB", {}), ("L", {}), ("CMYK", {}), ("RGB", {"progressive": True, "subsampling": 0})],
    "PNG": [("RGB", {}), ("RGBA", {}), ("L", {}), ("I;16", {}), ("P", {})],
    "WEBP": [("RGB", {}), ("RGBA", {}), ("RGB", {"lossless": True})],
    "GIF": [("P", {}), ("L", {})],
    "BMP": [("RGB", {}), ("P", {})],
    "TIFF": [("RGB", {}), ("F", {}), ("CMYK", {}), ("RGB", {"compression": "tiff_deflate"})],
}


@SETTINGS
@given(
    fmt=st.sampled_from(sorted(CANVASES)),
    variant=st.integers(0, 4),
    width=st.integers(1, 9000),
    height=st.integers(1, 9000),
)
def test_canvases_within_budget(fmt: str, variant: int, width: int, height: int) -> None:
    mode, kw = CANVASES[fmt][variant % len(CANVASES[fmt])]
    check(hostile.canvas(fmt, width, height, mode, **kw))


@pytest.mark.parametrize("where", ["requestContext", "headers", "queryStringParameters", "body"])
@given(depth=st.integers(0, 20_000))
@settings(max_examples=10, deadline=None, derandomize=True, database=None)
def test_nested_events_are_typed(where: str, depth: int) -> None:
    """A list nested ``depth`` deep anywhere in an HTTP event: a typed 400 past MAX_DEPTH (checked
    before any field is read), a typed answer below it; never a bare RecursionError or a 500."""
    if where == "body":
        event = hostile.nested(0)
        event["body"] = '{"url": "http://127.0.0.1/", "x": ' + "[" * depth + "]" * depth + "}"
    else:
        event = hostile.nested(depth, where)
    out = lf.lambda_handler(event, Ctx())
    body = json.loads(out["body"])
    assert out["statusCode"] in (400, 413, 422) and body["errorType"] in TYPED, body
    if depth > events.MAX_DEPTH:
        assert body["errorType"] == "InvalidJson", body


@settings(max_examples=20, deadline=None, derandomize=True, database=None)
@given(
    width=st.integers(1, 3000),
    height=st.integers(1, 3000),
    mode=st.sampled_from(["RGB", "RGBA"]),
    lossless=st.booleans(),
)
def test_webp_size_is_pillows(width: int, height: int, mode: str, lossless: bool) -> None:
    """The WebP size read before Pillow opens the file (Pillow allocates the canvas on open) is Pillow's."""
    import io

    from PIL import Image

    data = hostile.canvas("WEBP", width, height, mode, lossless=lossless)
    assert decode.webp_size(data) == Image.open(io.BytesIO(data)).size == (width, height)
