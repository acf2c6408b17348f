"""The decode budget in every image under the Lambda emulator, at small memory sizes (docker --memory).

A sample of generated hostile structure (tests/support/hostile.py, parameters drawn from a seeded generator:
JPEG scans, BMP runs, PNG chunks, TIFF strips, canvases at and past the pixel cap) goes to each image
at 128 MB and 512 MB (TF, whose library alone needs more than 128 MB, at 512 and 1024 MB), every
format enabled so the opt-in ones are held to the same budget. Each answer must be typed and arrive
within the budget, the container must not be killed for memory, and the next good request must answer.
Inputs are at most the body cap at that memory (runtimes/limits.input_cap): larger bodies are refused by
size, and at 128 MB a body of a few MB can end the Lambda runtime while it parses the event, before the
handler runs (docs/handler.md).
BUDGET_SAMPLE sets the inputs per class (default 3).
"""

from __future__ import annotations

import base64
import os
import random
import time
from collections.abc import Callable, Iterator

import pytest

from core.catalogue import IMAGES
from images import build as imgbuild
from runtimes import limits as lim
from tests.support import hostile
from tests.support.containers import Lambda, docker, ensure_image, require_docker, sample_images, start_lambda

pytestmark = [pytest.mark.docker, pytest.mark.slow]
require_docker()

SAMPLE = int(os.environ.get("BUDGET_SAMPLE") or 3)
CPU_S = 0.5
#: Everything but the decode: the emulator round trip, base64, the structure walks, the fork.
OUTSIDE_S = 2.0
MEMORIES = {"tf": (512, 1024)}
DEFAULT_MEMORIES = (128, 512)
CASES = [
    (spec.name, spec.default_variants[0], memory)
    for spec in IMAGES.values()
    for memory in MEMORIES.get(spec.name, DEFAULT_MEMORIES)
]
TYPED = {"NotAnImage", "TruncatedImage", "ImageTooLarge", "ImageTooComplex", "BodyTooLarge"}


def _classes(memory: int) -> dict[str, Callable[[random.Random], bytes]]:
    """One generator per class; image sides reach past the pixel cap at this memory size."""
    side = int(lim.MAX_PIXELS_CEILING**0.5) if memory >= 1000 else int((memory * 40_000) ** 0.5)
    return {
        "jpeg-scans": lambda r: hostile.jpeg_scans(
            r.randint(256, side), r.randint(50, 1200), r.randint(0, 8)
        ),
        "bmp-rle": lambda r: hostile.bmp_rle(r.randint(100, side), r.randint(100, side), r.randint(1, 3)),
        "png-chunks": lambda r: hostile.png_chunks(
            r.randint(100, 1500), 1 << 20, b"iCCP", r.randint(0, 1500)
        ),
        "tiff-strips": lambda r: hostile.tiff_strips(r.randint(1, 8), r.randint(10_000, 200_000)),
        "webp-canvas": lambda r: hostile.canvas(
            "WEBP", r.randint(side // 2, side), r.randint(side // 2, side)
        ),
        "jpeg-canvas": lambda r: hostile.canvas(
            "JPEG", r.randint(side // 2, side), side, "RGB", progressive=True, subsampling=0
        ),
    }


@pytest.fixture(scope="module", params=CASES, ids=[f"{i}-{v}-{m}mb" for i, v, m in CASES])
def small_lambda(
    request: pytest.FixtureRequest,
    network: tuple[str, str],
    image_cache: dict[tuple[str, str], imgbuild.Result],
    model_name: str,
) -> Iterator[tuple[Lambda, int]]:
    image, variant, memory = request.param
    res = ensure_image(image_cache, image, variant, model_name)
    env = [
        f"AWS_LAMBDA_FUNCTION_MEMORY_SIZE={memory}",
        f"DECODE_CPU_S={CPU_S}",
        f"DECODE_FORMATS={','.join(lim.DEFAULT_FORMATS + lim.OPTIONAL_FORMATS)}",
        "MAX_JPEG_SCANS=1000000",
    ]
    limits = ("--memory", f"{memory}m", "--memory-swap", f"{memory}m")
    yield start_lambda(request, res.tag, network, *env, docker_args=limits), memory


def _oom_killed(cid: str) -> bool:
    return docker("inspect", "-f", "{{.State.OOMKilled}}", cid).stdout.strip() == "true"


def test_hostile_sample_within_budget_at_small_memory(small_lambda: tuple[Lambda, int]) -> None:
    fn, memory = small_lambda
    good = {"image_b64": base64.b64encode(sample_images()[0].read_bytes()).decode()}
    rng = random.Random(memory)
    cap = lim.input_cap(lim.Limits().max_body_bytes, memory)
    sent = 0
    for name, make in _classes(memory).items():
        for i in range(SAMPLE):
            data = make(rng)
            if len(data) > cap:
                continue
            sent += 1
            t0 = time.perf_counter()
            out = fn.invoke({"image_b64": base64.b64encode(data).decode()}, timeout=60)
            seconds = time.perf_counter() - t0
            kind = out.get("errorType", "OK") if isinstance(out, dict) else repr(out)
            where = f"{name} #{i} ({len(data)} bytes) at {memory} MB"
            assert kind in TYPED | {"OK"}, (where, out, fn.logs()[-1500:])
            assert seconds < CPU_S + OUTSIDE_S, (where, seconds)
            assert not _oom_killed(fn.cid), (where, fn.logs()[-1500:])
            assert "errorType" not in fn.invoke(good, timeout=60), (where, fn.logs()[-1500:])
    assert sent >= len(_classes(memory)), f"only {sent} inputs under the {cap}-byte body cap"
