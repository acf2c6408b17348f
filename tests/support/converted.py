"""The converted model the integration tests share (tests/integration/conftest.py's ``converted``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.card import Card


@dataclass
class Converted:
    """A model's converted artefacts: ``build/models/<name>/`` with its manifest and card."""

    name: str
    dir: Path
    manifest: dict[str, Any]
    card: Card  # core.card's parse of build/models/<name>/card.json (``.raw`` is the whole file)
