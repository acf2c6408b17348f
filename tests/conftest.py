"""Fixtures shared by the suites that need the converted model (test_runtimes, test_eval)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.card import Card

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Built:
    """A model's converted artefacts: ``build/models/<name>/`` with its manifest and card."""

    name: str
    dir: Path
    manifest: dict[str, Any]
    card: Card  # core.card's parse of build/models/<name>/card.json (``.raw`` is the whole file)


@pytest.fixture(scope="session")
def built() -> Built:
    """Convert ``CLOTHING_TEST_MODEL`` (default ``reference``) once per session; the conversion is
    cached by source sha256, so this is 0.2 s after the first run. Skips without model or dataset."""
    from core import paths
    from core.card import read_card
    from models import convert, dataset, registry

    model = os.environ.get("CLOTHING_TEST_MODEL", "reference")
    try:
        spec = registry.resolve(model)
        dataset.split("test")
    except (registry.ModelError, dataset.DatasetError) as e:
        pytest.skip(f"needs the model and the dataset: {e}")
    manifest = convert.convert(model, build=False)
    d = paths.model_dir(spec.name)
    return Built(spec.name, d, manifest, read_card(d / "card.json"))
