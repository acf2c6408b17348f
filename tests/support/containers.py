"""Docker helpers of the integration tests: images built on demand, labelled containers and networks removed
by finalizers, a running Lambda emulator container, the test split served over HTTP on a network of ours.

Every container and network carries TEST_LABEL=SESSION, so tests/conftest.py's session-end check can find
what a test left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from core import catalogue
from core.catalogue import IMAGES, LABEL
from core.paths import ROOT, model_dir
from images import build as imgbuild
from models import registry

TEST_LABEL = f"{LABEL}.test"
SESSION = uuid.uuid4().hex[:8]
MODEL = os.environ.get("IMAGES_MODEL") or os.environ.get("MODEL") or "reference"
SHIP_VARIANT = "float32"
#: The image the zip is compared with (test_package, test_sam): built from this worktree under its own
#: tag, so the handler inside
#: is this checkout's (the clothing-*:reference-* tags are shared with other worktrees).
SHIP_IMAGE_TAG = "clothing-tflite:ship-float32"
INVOKE = "/2015-03-31/functions/function/invocations"
N_IMAGES = 4  # test-split images per image, one per class (several classes, deterministic choice)
#: (image, variant) of `make build-all`; full-int8 is skipped when its optional artefact is absent.
CASES = [(s.name, v) for s in IMAGES.values() for v in s.default_variants]


def docker_ok() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def require_docker() -> None:
    """Skip the calling test module when there is no docker daemon (call at module level)."""
    if not docker_ok():
        pytest.skip("docker is not available", allow_module_level=True)


def docker(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout)


def dataset_dir() -> Path:
    d = Path(os.environ.get("CLOTHING_DATASET") or ROOT / "data" / "clothing-dataset-small")
    if not (d / "test").is_dir():
        pytest.fail(f"no test split under {d}: set CLOTHING_DATASET or run `make data`")
    return d


def sample_images() -> list[Path]:
    test = dataset_dir() / "test"
    classes = sorted(p for p in test.iterdir() if p.is_dir())
    picks = []
    for c in classes[:: max(1, len(classes) // N_IMAGES)][:N_IMAGES]:
        picks.append(sorted(c.glob("*.jpg"))[0])
    return picks


def ensure_image(cache: dict, image: str, variant: str, model: str) -> imgbuild.Result:
    """The image of (image, variant) for ``model``, built when missing or stale; once per ``cache``."""
    key = (image, variant)
    if key not in cache:
        spec = IMAGES[image]
        art = model_dir(model) / spec.variants[variant]
        entry = catalogue.variant(spec.runtime, variant)
        if entry is not None and entry.optional and not art.exists():
            pytest.skip(f"{art.relative_to(ROOT)} not produced (optional artefact)")
        try:
            cache[key] = imgbuild.build_one(image, model, variant)
        except imgbuild.BuildError as e:
            pytest.fail(str(e))
        imgbuild.write_csv([cache[key]])
    return cache[key]


def run_container(request: pytest.FixtureRequest, *args: str) -> str:
    """docker run -d with our label; removed by a finalizer even when the test fails."""
    cid = docker("run", "-d", "--label", f"{TEST_LABEL}={SESSION}", *args).stdout.strip()
    request.addfinalizer(lambda: docker("rm", "-f", cid, check=False))
    return cid


# --- a running Lambda container ------------------------------------------------------------------------


@dataclass
class Lambda:
    tag: str
    cid: str
    port: int

    def invoke(self, event: Any, timeout: float = 180) -> Any:
        r = requests.post(f"http://127.0.0.1:{self.port}{INVOKE}", data=json.dumps(event), timeout=timeout)
        assert r.status_code == 200, (r.status_code, r.text[:500])  # the emulator answers 200 even for errors
        return r.json()

    def logs(self) -> str:
        out = docker("logs", "--tail", "60", self.cid, check=False)
        return out.stdout + out.stderr


def start_lambda(
    request: pytest.FixtureRequest,
    tag: str,
    network: tuple[str, str],
    *env: str,
    docker_args: tuple[str, ...] = (),
) -> Lambda:
    """`env`: extra NAME=value for the container (test_arm64: the emulated CPU model); `docker_args`:
    more `docker run` options (test_budget_images: --memory)."""
    cid = run_container(
        request,
        *docker_args,
        "--network",
        network[0],
        "-p",
        "127.0.0.1::8080",
        "-e",
        f"ALLOW_URL_CIDRS={network[1]}",
        *(f"--env={e}" for e in env),
        tag,
    )
    port = int(docker("port", cid, "8080/tcp").stdout.strip().splitlines()[0].rsplit(":", 1)[1])
    fn = Lambda(tag, cid, port)
    deadline = time.monotonic() + 60
    while True:  # docker-proxy accepts at once; only an answer from the emulator means it is up
        try:
            out = fn.invoke({})  # an empty event: the handler answers MissingInput without the model
            assert out.get("errorType") == "MissingInput", out
            return fn
        except requests.ConnectionError:
            state = docker("inspect", "-f", "{{.State.Running}}", cid).stdout.strip()
            if state != "true" or time.monotonic() > deadline:
                pytest.fail(f"{tag} did not start: {fn.logs()[-2000:]}")
            time.sleep(0.3)


def default_model_name() -> str:
    """MODEL (or IMAGES_MODEL) as the name in tags."""
    return registry.model_name(MODEL)


def remove_strangers(network: str) -> list[str]:
    """Remove the containers on ``network`` that do not carry our label (what `sam local` started on it,
    which outlive a stopped `start-lambda --warm-containers`); returns their ids."""
    fmt = '{{.ID}} {{.Label "' + TEST_LABEL + '"}}'
    rows = docker("ps", "-a", "--filter", f"network={network}", "--format", fmt, check=False).stdout
    strangers = [line.split()[0] for line in rows.splitlines() if len(line.split()) == 1]
    if strangers:
        docker("rm", "-f", *strangers, check=False)
    return strangers


def remove_network(name: str) -> None:
    """Remove ``name`` with whatever is still attached to it (a container sam started on it, say): a
    network with a container attached cannot be removed, and both would outlive the session."""
    attached = docker("ps", "-aq", "--filter", f"network={name}", check=False).stdout.split()
    if attached:
        docker("rm", "-f", *attached, check=False)
    docker("network", "rm", name, check=False)


def make_network(request: pytest.FixtureRequest) -> tuple[str, str]:
    """A labelled user-defined network of this session, removed by a finalizer: (name, subnet)."""
    name = f"clothing-test-{SESSION}-{uuid.uuid4().hex[:6]}"
    docker("network", "create", "--label", f"{TEST_LABEL}={SESSION}", name)
    request.addfinalizer(lambda: remove_network(name))
    subnet = docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", name).stdout.strip()
    assert "/" in subnet, subnet
    return name, subnet


def serve_test_split(request: pytest.FixtureRequest, net: tuple[str, str]) -> str:
    """Base URL of the test split, served by `python3 -m http.server` in the project's null image."""
    tag = ensure_image({}, "null", "none", default_model_name()).tag
    alias = f"files-{uuid.uuid4().hex[:6]}"
    run_container(
        request,
        "--network",
        net[0],
        "--network-alias",
        alias,
        "-v",
        f"{dataset_dir() / 'test'}:/srv:ro",
        "--entrypoint",
        "python3",
        tag,
        "-m",
        "http.server",
        "8000",
        "--bind",
        "0.0.0.0",
        "--directory",
        "/srv",
    )
    return f"http://{alias}:8000"
