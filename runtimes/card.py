"""The model card (``card.json``) and the artefact digest: one reader and one formula for everyone.

The handler reads the card to know class order, input size and preprocessing; models/, bench/ and
deploy/ read the same file through :func:`read_card`. :func:`digest` is the sha256 models/convert.py
writes into manifest.json and the handler reports as ``model_sha256``: before this module the
handler's fallback hashed a SavedModel directory with a different formula than the manifest's.
Stdlib only: this ships inside every image.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Final

#: Preprocessing ids runtimes/preprocess.py implements.
PREPROCESSING_IDS: Final = frozenset({"xception-tf-nearest"})
OUTPUTS: Final = ("logits", "probabilities")


class CardError(ValueError):
    """The card is missing, unreadable or inconsistent; the message names the file and the field."""


@dataclass(frozen=True)
class Card:
    """What every consumer relies on; ``raw`` keeps the whole card (accuracy, source hash, ...)."""

    classes: tuple[str, ...]
    size: tuple[int, int]  # (height, width)
    preprocessing: str
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
    return Card(tuple(classes), _size(path, raw.get("input_px")), prep, output, raw)


def _file_sha256(path: str) -> str:
    # hashlib is imported here: the handler reads the digest from manifest.json, so hashing (and
    # hashlib's OpenSSL import) runs only for an artefact without a manifest entry, not on every cold start.
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def digest(path: str | os.PathLike[str]) -> str:
    """sha256 of an artefact: a file's bytes; for a directory (a SavedModel), sha256 over each file in
    sorted relative-path order of ``relpath + NUL + the file's hex sha256``. Raises OSError if absent."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return _file_sha256(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(path)
    rels = [
        os.path.relpath(os.path.join(d, f), path).replace(os.sep, "/")
        for d, _, files in os.walk(path)
        for f in files
        if os.path.isfile(os.path.join(d, f))
    ]
    import hashlib

    h = hashlib.sha256()
    for rel in sorted(rels, key=lambda r: r.split("/")):
        h.update(rel.encode() + b"\0")
        h.update(_file_sha256(os.path.join(path, rel)).encode())
    return h.hexdigest()


def artefact_sha256(path: str, env: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    """What the handler reports as model_sha256: MODEL_SHA256 if baked in, else the manifest.json
    entry beside the artefact, else :func:`digest`; None when there is no artefact (the null runtime)."""
    if env.get("MODEL_SHA256"):
        return env["MODEL_SHA256"]
    folder, name = os.path.split(path)
    try:
        with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as f:
            for entry in json.load(f).get("artefacts", []):
                if entry.get("path") == name and entry.get("sha256"):
                    return str(entry["sha256"])
    except (OSError, ValueError, AttributeError):
        pass
    try:
        return digest(path)
    except OSError:
        return None
