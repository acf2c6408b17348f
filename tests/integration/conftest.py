"""Session fixtures of the integration tests: the converted model (test_runtimes, test_eval, test_card) and,
for the docker tests (test_images, test_arm64, test_adversarial_images), the images built in this session,
one network of ours, one file server of the test split, a running Lambda container."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from core import paths
from core.card import read_card
from images import build as imgbuild
from models import convert, dataset, registry
from tests.support.containers import (
    CASES,
    Lambda,
    default_model_name,
    ensure_image,
    make_network,
    serve_test_split,
    start_lambda,
)
from tests.support.converted import Converted


@pytest.fixture(scope="session")
def converted() -> Converted:
    """Convert ``CLOTHING_TEST_MODEL`` (default ``reference``) once per session; the conversion is
    cached by source sha256, so this is 0.2 s after the first run. Skips without model or dataset."""
    model = os.environ.get("CLOTHING_TEST_MODEL", "reference")
    try:
        spec = registry.resolve(model)
        dataset.split("test")
    except (registry.ModelError, dataset.DatasetError) as e:
        pytest.skip(f"needs the model and the dataset: {e}")
    manifest = convert.convert(model, build=False)
    d = paths.model_dir(spec.name)
    return Converted(spec.name, d, manifest, read_card(d / "card.json"))


@pytest.fixture(scope="session")
def model_name() -> str:
    return default_model_name()


@pytest.fixture(scope="session")
def image_cache() -> dict[tuple[str, str], imgbuild.Result]:
    """Images built (or found up to date) in this session, keyed by (image, variant)."""
    return {}


@pytest.fixture(scope="session")
def network(request: pytest.FixtureRequest) -> tuple[str, str]:
    """A user-defined docker network of our own: (name, subnet)."""
    return make_network(request)


@pytest.fixture(scope="session")
def file_server(request: pytest.FixtureRequest, network: tuple[str, str]) -> str:
    """Base URL of the test split served by `python3 -m http.server` in the project's null image."""
    return serve_test_split(request, network)


@pytest.fixture(scope="module", params=CASES, ids=[f"{i}-{v}" for i, v in CASES])
def lam(
    request: pytest.FixtureRequest,
    network: tuple[str, str],
    image_cache: dict[tuple[str, str], imgbuild.Result],
    model_name: str,
    file_server: str,
) -> Iterator[tuple[Lambda, str, str]]:
    image, variant = request.param
    res = ensure_image(image_cache, image, variant, model_name)
    yield start_lambda(request, res.tag, network), image, variant
