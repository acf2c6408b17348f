"""Docker test network + file server for test_package.py and test_sam.py, built from test_images' helpers.

Each call makes its own network (a uuid in the name), so modules that run in one pytest session (with
test_images.py, whose session fixtures use a fixed per-session name) never collide.
"""

from __future__ import annotations

import uuid

import pytest
from test_images import MODEL, TEST_LABEL, dataset_dir, docker, ensure_image, run_container

from models import registry


def model_name() -> str:
    return registry.model_name(MODEL)


def make_network(request: pytest.FixtureRequest) -> tuple[str, str]:
    """A labelled user-defined network, removed by a finalizer: (name, subnet)."""
    name = f"clothing-test-{uuid.uuid4().hex[:10]}"
    docker("network", "create", "--label", f"{TEST_LABEL}={name}", name)
    request.addfinalizer(lambda: docker("network", "rm", name, check=False))
    subnet = docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", name).stdout.strip()
    assert "/" in subnet, subnet
    return name, subnet


def serve_test_split(request: pytest.FixtureRequest, net: tuple[str, str]) -> str:
    """Base URL of the test split, served by `python3 -m http.server` in the project's null image."""
    tag = ensure_image({}, "null", "none", model_name()).tag
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
