"""arm64 images, emulated (qemu binfmt): each answers the seed's ``{"url": ...}`` event like its x86_64 twin.

Both containers of a pair run side by side under the real Runtime Interface Emulator on a docker network of
this session, fed by the same file server (tests/integration/conftest.py's fixtures). Asserted: the image
config says arm64/v8 (what Lambda checks), the container's python really runs on aarch64, the answers come
back in card order with the same top-1 class as the x86_64 image on every test image, and the softmax
probabilities differ by less than MAX_DP. The measured max |dp| and max |d logit| go to
build/arm64-agreement.json and the test output (-rP). Emulated timings are never used: qemu runs aarch64
code several times slower than a Graviton.

`make test` runs the smoke set (SMOKE, N_SMOKE images each); ARM64_FULL=1 runs every default variant of the
arm64 images on N_FULL images (docs/images.md has the figures and the time each costs).
"""

# ruff: noqa: F811  (pytest fixtures imported from test_images are parameters of the same name)
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from core.catalogue import IMAGES
from core.paths import ROOT
from images import arch as archlib
from images import build as imgbuild
from tests.support import containers as ti
from tests.support.containers import require_docker

pytestmark = [pytest.mark.docker, pytest.mark.slow]
require_docker()

FULL = os.environ.get("ARM64_FULL") == "1"
#: The smoke set: the shipped runtime (LiteRT), ONNX Runtime and the floor, float32, 2 images each.
SMOKE = [("tflite", "float32"), ("onnx", "float32"), ("null", "none")]
N_SMOKE, N_FULL = 2, 10
CASES = [(i, v) for i in archlib.ARM64_IMAGES for v in IMAGES[i].default_variants] if FULL else SMOKE
#: Same library version and model, different SIMD kernels (NEON vs AVX) and summation order: the
#: probabilities may differ in rounding only (measured <= 5e-7). Dynamic-range int8 quantizes activations
#: at run time with each CPU's hybrid kernels: measured 1.8e-3 on 10 images. docs/images.md has the table.
MAX_DP = {"int8": 1e-2}
MAX_DP_DEFAULT = 1e-3
AGREEMENT = ROOT / "build" / "arm64-agreement.json"

try:
    archlib.require_emulation("arm64")
except archlib.ArchError as e:  # not a skip: a fresh machine gets emulation from `make apt`
    pytest.fail(str(e), pytrace=False)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def spread_images(n: int) -> list[Path]:
    """n test-split images spread over the classes (the first n of a round-robin over class folders)."""
    test = ti.dataset_dir() / "test"
    per_class = [sorted(c.glob("*.jpg")) for c in sorted(p for p in test.iterdir() if p.is_dir())]
    picks = [files[k] for k in range(n) for files in per_class if k < len(files)]
    return picks[:n]


def record(key: str, entry: dict) -> None:
    data = json.loads(AGREEMENT.read_text()) if AGREEMENT.is_file() else {}
    data[key] = entry
    AGREEMENT.parent.mkdir(parents=True, exist_ok=True)
    AGREEMENT.write_text(json.dumps(data, indent=1, sort_keys=True))


@pytest.fixture(scope="module", params=CASES, ids=[f"{i}-{v}" for i, v in CASES])
def pair(
    request: pytest.FixtureRequest,
    network: tuple[str, str],
    image_cache: dict,
    model_name: str,
    file_server: str,
) -> tuple[ti.Lambda, ti.Lambda, str, str]:
    image, variant = request.param
    x86 = ti.ensure_image(image_cache, image, variant, model_name)
    try:
        arm = imgbuild.build_one(image, model_name, variant, "arm64")
    except imgbuild.BuildError as e:
        pytest.fail(str(e))
    qemu_cpu = f"QEMU_CPU={archlib.EMULATED_CPU['arm64']}"
    return (
        ti.start_lambda(request, arm.tag, network, qemu_cpu),
        ti.start_lambda(request, x86.tag, network),
        image,
        variant,
    )


def test_arm64_answers_the_seed_event_like_x86(
    pair: tuple[ti.Lambda, ti.Lambda, str, str], file_server: str, model_name: str
) -> None:
    arm, x86, image, variant = pair
    assert archlib.docker_arch(arm.tag) == ("arm64", "v8")
    assert archlib.docker_arch(x86.tag)[0] == "amd64"
    machine = ti.docker("exec", arm.cid, "python3", "-c", "import platform; print(platform.machine())")
    assert machine.stdout.strip() == "aarch64", machine.stdout + machine.stderr
    paths = spread_images(N_FULL if FULL else N_SMOKE)
    classes = json.loads((ROOT / "build" / "models" / model_name / "card.json").read_text())["classes"]
    a_logits, x_logits = [], []
    for p in paths:
        event = {"url": f"{file_server}/{p.relative_to(ti.dataset_dir() / 'test').as_posix()}"}
        a, x = arm.invoke(event, timeout=600), x86.invoke(event)
        assert "errorType" not in a, (a, arm.logs())
        assert list(a) == list(x) == classes, (a, x)
        a_logits.append([a[c] for c in classes])
        x_logits.append([x[c] for c in classes])
    a_l, x_l = np.asarray(a_logits), np.asarray(x_logits)
    top_equal = int((a_l.argmax(1) == x_l.argmax(1)).sum())
    max_dp = float(np.abs(softmax(a_l) - softmax(x_l)).max())
    max_dlogit = float(np.abs(a_l - x_l).max())
    record(
        arm.tag,
        {
            "x86": x86.tag,
            "n": len(paths),
            "top1_equal": top_equal,
            "max_abs_dp": max_dp,
            "max_abs_dlogit": max_dlogit,
        },
    )
    print(
        f"{arm.tag} vs {x86.tag}: top-1 equal {top_equal}/{len(paths)}, max |dp| {max_dp:.2e}, "
        f"max |d logit| {max_dlogit:.2e}"
    )
    assert top_equal == len(paths), (a_l.argmax(1), x_l.argmax(1))
    assert max_dp < MAX_DP.get(variant, MAX_DP_DEFAULT), max_dp
    if image == "null":  # the floor answers zeros on both: exact
        assert max_dlogit == 0.0
