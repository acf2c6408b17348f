"""The cost of the event path, not only its answers: generated events of every accepted shape, flooded
in every place an event can be large, up to Lambda's 6 MB payload limit, answered within the budget at
the 128 MB setting. Also the limits that sit under the decoder: the worker keeps the hard address-space
limit it was given, GIF canvases grown by frame 0 are refused before Pillow allocates them, and the EXIF
Orientation is read with bounded work.

How memory is measured here: tracemalloc, in-process. The event path is Python code (the json and
base64 modules included report their buffers to tracemalloc), and this process already holds the
generated event and pytest's state, so its resident set cannot separate what the handler added (freed
memory of an earlier example is reused). tracemalloc counts exactly the allocations made during the
call. scripts/measure_events.py measures the same cases as RSS growth, one fresh process per case, for
docs/handler.md.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

import lambda_function as lf
from core.budget import cpu_share
from runtimes import decode, events, exif
from runtimes import handler_errors as he
from runtimes.limits import pixel_cap
from tests.support import hostile

ROOT = Path(__file__).resolve().parents[2]
MEMORY_MB = 128
#: The budget every event is answered within at 128 MB: peak memory growth and wall time.
MAX_GROWTH = int(0.6 * MEMORY_MB * 2**20)
MAX_WALL_S = 3.0
EXAMPLES = int(os.environ.get("FUZZ_N", "40"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 40,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Ctx:
    aws_request_id = "event-budget"


@pytest.fixture(autouse=True)
def sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> Iterator[None]:
    """A 128 MB sandbox with the null runtime and a 10-class card."""
    card = tmp_path / "card.json"
    card.write_text(
        json.dumps({"classes": list("abcdefghij"), "input_px": 64, "preprocessing": "xception-tf-nearest"})
    )
    for name in ("MAX_BODY_BYTES", "MAX_IMAGE_PIXELS", "HANDLER_META", "AWS_LAMBDA_RUNTIME_API"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODEL_RUNTIME", "null")
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "m.null"))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", str(MEMORY_MB))
    fresh_sandbox()
    yield
    fresh_sandbox()


def answer(event: Any) -> str:
    """The handler's answer: "OK", an HTTP status and errorType, or the raised type's name."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            out = lf.lambda_handler(event, Ctx())
    except he.BadInput as e:
        return type(e).__name__
    if isinstance(out, dict) and "statusCode" in out:
        return f"{out['statusCode']} {json.loads(out['body']).get('errorType', 'OK')}"
    return "OK"


def cost(event: Any) -> tuple[str, float, float, int]:
    """(answer, wall s, CPU s, peak bytes allocated during the call); the time from a call without
    tracemalloc (it slows allocation), the memory from a second call with it."""
    t0, c0 = time.perf_counter(), time.process_time()
    got = answer(event)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        assert answer(event) == got
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return got, wall, cpu, peak


def assert_in_budget(event: Any, what: str) -> str:
    answer({"url": "http://192.0.2.1/warm.jpg"})  # the model and limits loaded: not this event's cost
    got, wall, cpu, peak = cost(event)
    assert got == "OK" or got.startswith("4") or got in {c.__name__ for c in he.ALL}, (what, got)
    assert peak < MAX_GROWTH, f"{what}: {peak / 2**20:.1f} MiB allocated answering {got}"
    assert wall < MAX_WALL_S, f"{what}: {wall:.2f} s answering {got}"
    # At 128 MB Lambda gives the sandbox 128/1769 of a vCPU: the same CPU time takes that much longer.
    assert cpu / cpu_share(MEMORY_MB) < MAX_WALL_S, f"{what}: {cpu:.3f} CPU s answering {got}"
    return got


PLACES = [(shape, place) for shape in hostile.SHAPES for place in hostile.PLACES[shape]]


@SETTINGS
@given(
    where=st.sampled_from(PLACES),
    atom=st.sampled_from(hostile.ATOMS),
    fraction=st.just(1.0) | st.floats(0.0, 1.0),
)
@example(where=("direct", "extra-list"), atom="0", fraction=1.0)
@example(where=("bare", "list"), atom="0", fraction=1.0)
@example(where=("http-v2", "cookies"), atom='"a=b"', fraction=1.0)
@example(where=("http-v2", "rawQueryString"), atom="0", fraction=1.0)
@example(where=("http-v2", "rawQueryString-list"), atom='"a=b"', fraction=1.0)
@example(where=("apigw-v1", "body-json"), atom="[]", fraction=1.0)
def test_any_event_up_to_the_payload_limit_is_answered_in_budget(
    where: tuple[str, str], atom: str, fraction: float
) -> None:
    shape, place = where
    n = int(fraction * (20_000 if place == "nested" else hostile.max_units(shape, place, atom)))
    assert len(hostile.event_json(shape, place, n, atom).encode()) <= hostile.PAYLOAD_LIMIT
    event = hostile.event(shape, place, n, atom)
    assert_in_budget(event, f"{shape} {place} x{n} of {atom}")


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (["meta=1"], he.InvalidField),
        ({"meta": "1"}, he.InvalidField),
        (7, he.InvalidField),
        ("a=b&" * (events.MAX_QUERY_CHARS // 4) + "meta=1", he.InvalidField),
        ("&".join(["a=b"] * (events.MAX_QUERY_FIELDS + 1)), he.InvalidField),
    ],
)
def test_raw_query_string_is_type_length_and_field_checked_before_parsing(raw: Any, error: type) -> None:
    event = json.loads(hostile.event_json("http-v2", "headers", 0))
    event["rawQueryString"] = raw
    assert answer(event) == f"400 {error.__name__}"


@pytest.mark.parametrize("query", ["meta=1", "a=b&meta=1", "meta"])
def test_raw_query_string_within_the_caps_is_read(query: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDLER_META", "all")
    png = hostile.encode(hostile.textured(32, 24), "PNG")
    event = json.loads(hostile.event_json("http-v2", "headers", 0))
    event.update(rawQueryString=query, body=json.dumps({"image_b64": base64.b64encode(png).decode()}))
    with contextlib.redirect_stdout(io.StringIO()):
        out = lf.lambda_handler(event, Ctx())
    assert out["statusCode"] == 200
    assert "meta" in json.loads(out["body"])


@pytest.mark.parametrize("field", ["headers", "multiValueHeaders", "queryStringParameters"])
def test_container_where_a_string_belongs_is_invalid_field(field: str) -> None:
    event = json.loads(hostile.event_json("apigw-v1", "headers", 0))
    big = ["x" * 1000] * 5000  # 5 MB once str()-ed
    event[field] = (
        {"content-type": [big]} if field == "multiValueHeaders" else {"content-type": big, "meta": big}
    )
    assert answer(event) == "400 InvalidField"


def test_check_shape_refuses_a_container_by_its_length_before_its_elements() -> None:
    """A container over the cap is refused whatever its elements are (they are never visited): the
    elements here would raise if touched."""

    class Bomb:
        def __eq__(self, other: object) -> bool:
            raise AssertionError("an element was visited")

        __hash__ = object.__hash__

    big = [Bomb()] * (events.MAX_NODES + 1)
    with pytest.raises(he.InvalidJson, match="too large"):
        events.check_shape({"x": big})
    events.check_shape([0] * (events.MAX_NODES - 1))  # at the cap: accepted
    deep: Any = []
    for _ in range(events.MAX_DEPTH - 1):
        deep = [deep]
    events.check_shape(deep)
    with pytest.raises(he.InvalidJson, match="nested"):
        events.check_shape([deep])


# ------------------------------------------------------------------------------ the worker's limits
CHILD = r"""
import base64, contextlib, io, json, os, resource, sys, tempfile
sys.path.insert(0, sys.argv[1])
d = tempfile.mkdtemp()
json.dump({"classes": list("abcdefghij"), "input_px": 64, "preprocessing": "xception-tf-nearest"},
          open(d + "/card.json", "w"))
os.environ.update(MODEL_RUNTIME="null", MODEL_PATH=d + "/m.null", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512")
import lambda_function as lf
from runtimes import decode
from tests.support import hostile
class C: aws_request_id = "limits"
png = base64.b64encode(hostile.encode(hostile.textured(64, 48), "PNG")).decode()
with contextlib.redirect_stdout(io.StringIO()):
    answers = []
    for _ in range(2):
        try:
            answers.append(sorted(lf.lambda_handler({"image_b64": png}, C())) == list("abcdefghij"))
        except Exception as e:
            answers.append(type(e).__name__)
pid = decode.WORKER.pid  # 0: the worker died (and was not restarted)
line = next(l for l in open(f"/proc/{pid}/limits") if l.startswith("Max address space")) if pid else ""
print(json.dumps({"answers": answers, "worker_hard": line.split()[4] if line else "dead"}))
"""


def test_decode_worker_keeps_a_finite_hard_address_space_limit() -> None:
    """Under a finite hard RLIMIT_AS (``ulimit -v``), images decode and the worker's hard limit is the
    one it was given. The child runs without CAP_SYS_RESOURCE (``setpriv``, where present), as a Lambda
    function does, so raising the hard limit would fail there; elsewhere the hard limit still shows it."""
    hard = 8 * 2**30

    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))

    setpriv = shutil.which("setpriv")
    drop = [setpriv, "--bounding-set", "-sys_resource"] if setpriv and os.getuid() == 0 else []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "AWS_LAMBDA"))}
    proc = subprocess.run(
        [*drop, sys.executable, "-c", CHILD, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/tmp",
        env=env,
        preexec_fn=limit,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["answers"] == [True, True], out
    assert out["worker_hard"] == str(hard), out


# ------------------------------------------------------------------------------ canvases and EXIF
@SETTINGS
@given(
    w=st.integers(1, 65535),
    h=st.integers(1, 65535),
    x0=st.integers(0, 65535),
    y0=st.integers(0, 65535),
    screen=st.tuples(st.integers(1, 65535), st.integers(1, 65535)),
    disposal=st.integers(0, 3),
    frames=st.integers(1, 3),
)
@example(w=65535, h=65535, x0=0, y0=0, screen=(1, 1), disposal=2, frames=1)
@example(w=535, h=535, x0=65000, y0=65000, screen=(1, 1), disposal=3, frames=2)
def test_gif_canvas_grown_by_frame_0_is_refused_before_pillow_allocates_it(
    w: int, h: int, x0: int, y0: int, screen: tuple[int, int], disposal: int, frames: int
) -> None:
    data = hostile.canvas_gif(w, h, x0, y0, screen, disposal, frames)
    canvas = max(screen[0], x0 + w) * max(screen[1], y0 + h)
    answer({"url": "http://192.0.2.1/warm.jpg"})
    t0 = time.perf_counter()
    got = answer({"image_b64": base64.b64encode(data).decode()})
    took = time.perf_counter() - t0
    last = decode.WORKER.last
    assert last is not None
    limits = lf._model().limits
    growth = last.peak_rss - last.start_rss
    # The budget is what 60 % of 128 MB leaves beside this process: at most decode_bytes(0).
    if canvas > pixel_cap(limits.decode_bytes(0), "GIF", ""):
        assert got == "ImageTooLarge", (canvas, got)
    if got == "ImageTooLarge":  # refused from the header, before Pillow built the canvas
        assert growth < 8 * 2**20, f"the worker grew {growth} bytes before refusing"
    assert got in ("OK", "ImageTooLarge", "TruncatedImage", "ImageTooComplex"), got
    assert growth < limits.decode_bytes(0)
    assert took < MAX_WALL_S


def test_gif_size_is_the_canvas_pillow_builds() -> None:
    for args in [(300, 200, 0, 0, (1, 1)), (10, 10, 50, 60, (40, 30)), (5, 5, 0, 0, (100, 80))]:
        data = hostile.canvas_gif(*args)
        with Image.open(io.BytesIO(data)) as img:
            assert decode.gif_size(data) == img.size


@SETTINGS
@given(
    fmt=st.sampled_from(["PNG", "WEBP", "JPEG", "TIFF"]),
    value=st.integers(0, 10),
    count=st.integers(1, 40) | st.just(1),
    big_endian=st.booleans(),
)
def test_orientation_matches_pillow_on_generated_exif(
    fmt: str, value: int, count: int, big_endian: bool
) -> None:
    data = hostile.exif_flood(count, fmt, value, big_endian)
    with Image.open(io.BytesIO(data)) as img, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about a count over 1
        theirs = img.getexif().get(0x0112, 1)
        expected = theirs if isinstance(theirs, int) and 1 <= theirs <= 8 else 1
        assert exif.orientation(img) == expected


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_orientation_of_a_flooded_tag_is_read_in_bounded_time(fmt: str) -> None:
    data = hostile.exif_flood(2_000_000, fmt, value=8)
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        t0 = time.process_time()
        got = exif.orientation(img)
        took = time.process_time() - t0
    assert got == 8  # the first value, as Pillow reads it
    assert took < 0.01, f"{took:.3f} s"


def test_orientation_from_xmp_and_broken_blocks() -> None:
    img = Image.new("RGB", (8, 8))
    img.info["XML:com.adobe.xmp"] = '<x tiff:Orientation="6"/>'
    assert exif.orientation(img) == 6
    img.info["exif"] = b"Exif\0\0II*\0\xff\xff\xff\xff"  # IFD0 offset past the end
    assert exif.orientation(img) == 1
    img.info["exif"] = b"junk"
    assert exif.orientation(img) == 1


def test_handler_answers_an_orientation_flood_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the handler (whose preprocessing reads the orientation with runtimes/exif.py): the
    decode of a small image whose Orientation holds 2 million values costs what the same image without
    them costs, plus its bytes' transfer."""
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")  # the full 6 MB body cap
    clean, flood = (hostile.exif_flood(n, "PNG", value=6) for n in (1, 2_000_000))
    cpu = []
    for data in (clean, flood, clean, flood):
        assert answer({"image_b64": base64.b64encode(data).decode()}) == "OK"
        assert decode.WORKER.last is not None
        cpu.append(decode.WORKER.last.cpu_s)
    assert min(cpu[1], cpu[3]) < min(cpu[0], cpu[2]) + 0.03, cpu


def test_pillows_own_pixel_check_is_on_at_the_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow's check runs inside ``Image.open`` (MAX_IMAGE_PIXELS is the ceiling, not None): a header
    over twice the ceiling is refused by it, before the handler's own check after the header."""
    monkeypatch.setenv("MAX_IMAGE_PIXELS", "1000")
    png = hostile.encode(hostile.textured(100, 100), "PNG")
    with pytest.raises(he.ImageTooLarge, match="twice the 1000-pixel ceiling"):
        with contextlib.redirect_stdout(io.StringIO()):
            lf.lambda_handler({"image_b64": base64.b64encode(png).decode()}, Ctx())


def test_docs_event_budget_block_is_generated_from_the_measurement() -> None:
    """docs/handler.md's event-budget block is what scripts/measure_events.py makes of the CSV."""
    from scripts import measure_events

    text = measure_events.DOC.read_text()
    assert measure_events.BEGIN in text
    assert measure_events.render(text) == text, "run: python -m scripts.measure_events docs"
