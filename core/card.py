"""The model card contract (``card.json``): one reader for the handler and every tool.

The handler reads the card to know class order, input size and preprocessing (a
core.pipeline.Pipeline: preset, colour order, channels, resize, value scale); models/, bench/ and
deploy/ read the same file through :func:`read_card`. :func:`artefact_sha256` is what the handler reports
as ``model_sha256``: the manifest's entry (core.contracts) or the one digest formula (core.fileio).
Stdlib only: this ships inside every image.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Final

from core.fileio import ContractError, digest
from core.pipeline import Pipeline, PipelineError, from_card, names

#: Preprocessing names a card may hold (core/pipeline.py's presets; runtimes/preprocess.py runs them).
PREPROCESSING_IDS: Final = frozenset(names())
#: logits: raw scores (softmax gives probabilities); probabilities: a softmax (one class per image);
#: sigmoid: independent probabilities, one per class (multi-label), answered for every class.
OUTPUTS: Final = ("logits", "probabilities", "sigmoid")


class CardError(ValueError):
    """The card is missing, unreadable or inconsistent; the message names the file and the field."""


@dataclass(frozen=True)
class Card:
    """What every consumer relies on; ``raw`` keeps the whole card (accuracy, source hash, ...)."""

    classes: tuple[str, ...]
    size: tuple[int, int]  # (height, width)
    preprocessing: str
    pipeline: Pipeline
    output: str = "logits"
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _size(path: str, px: Any) -> tuple[int, int]:
    if isinstance(px, int) and not isinstance(px, bool):
        size = (px, px)
    elif isinstance(px, list) and len(px) == 2 and all(isinstance(v, int) for v in px):
        size = (px[0], px[1])
    else:
        raise CardError(f"{path}: 'input_px' must be an int or [height, width], got {px!r}")
    if min(size) < 1:
        raise CardError(f"{path}: 'input_px' must be positive, got {px!r}")
    return size


def read_card(path: str | os.PathLike[str]) -> Card:
    """Parse and check card.json; nothing may serve or evaluate a model its card cannot describe."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, ValueError) as e:
        raise CardError(f"cannot read model card {path}: {e}") from None
    if not isinstance(raw, dict):
        raise CardError(f"{path}: a model card must be a JSON object")
    classes = raw.get("classes")
    if (
        not isinstance(classes, list)
        or not classes
        or not all(isinstance(c, str) and c for c in classes)
        or len(set(classes)) != len(classes)
    ):
        raise CardError(f"{path}: 'classes' must be a list of unique non-empty names in output order")
    prep = raw.get("preprocessing")
    if prep not in PREPROCESSING_IDS:
        known = ", ".join(sorted(PREPROCESSING_IDS))
        raise CardError(f"{path}: preprocessing {prep!r} is not implemented here ({known})")
    output = raw.get("output", "logits")
    if output not in OUTPUTS:
        raise CardError(f"{path}: 'output' must be one of {', '.join(OUTPUTS)}, got {output!r}")
    size = _size(path, raw.get("input_px"))
    try:
        pipeline = from_card(prep, size, raw.get("pipeline"))
    except PipelineError as e:
        raise CardError(f"{path}: {e}") from None
    return Card(tuple(classes), size, prep, pipeline, output, raw)


def artefact_sha256(path: str, env: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    """What the handler reports as model_sha256: MODEL_SHA256 (images/build.py bakes it in), else the
    manifest.json entry beside the artefact, else :func:`digest`; None when there is no artefact."""
    if env.get("MODEL_SHA256"):
        return env["MODEL_SHA256"]
    from core.manifest import Manifest  # only without MODEL_SHA256 (images bake it in: no parse at INIT)

    folder, name = os.path.split(path)
    try:
        entry = Manifest.load(folder).entry(name)
        if entry is not None and entry.sha256:
            return entry.sha256
    except (OSError, ContractError):
        pass
    try:
        return digest(path)
    except OSError:
        return None
