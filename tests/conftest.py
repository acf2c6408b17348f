"""Fixtures shared by the suites that need the converted model (test_runtimes, test_eval)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runtimes.card import Card

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Built:
    """A model's converted artefacts: ``build/models/<name>/`` with its manifest and card."""

    name: str
    dir: Path
    manifest: dict[str, Any]
    card: Card  # runtimes.card's parse of build/models/<name>/card.json (``.raw`` is the whole file)


@pytest.fixture(scope="session")
def built() -> Built:
    """Convert ``CLOTHING_TEST_MODEL`` (default ``reference``) once per session; the conversion is
    cached by source sha256, so this is 0.2 s after the first run. Skips without model or dataset."""
    from images import specs
    from models import convert, dataset, registry
    from runtimes.card import read_card

    model = os.environ.get("CLOTHING_TEST_MODEL", "reference")
    try:
        spec = registry.resolve(model)
        dataset.split("test")
    except (registry.ModelError, dataset.DatasetError) as e:
        pytest.skip(f"needs the model and the dataset: {e}")
    manifest = convert.convert(model, build=False)
    d = specs.model_dir(spec.name)
    return Built(spec.name, d, manifest, read_card(d / "card.json"))


@pytest.fixture(scope="session")
def fresh_sandbox() -> Callable[[], None]:
    """A function that makes the in-process handler a fresh sandbox again: no model, limits or settings
    loaded (they are read once, with the model), no invocation counted."""
    import lambda_function as lf

    def reset() -> None:
        lf._MODEL = None
        lf._INVOCATIONS = 0

    return reset
