"""The manifest contract: ``build/models/<model>/manifest.json``, written by models/convert.py and read by
images, eval, bench and the handler (the artefact's sha256). Its own module so that what ships in the images
imports only this, not the rest of core/contracts.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from core.fileio import ContractError, atomic_write_json, read_object

MANIFEST: Final = "manifest.json"
MANIFEST_VERSION: Final = 1


@dataclass(frozen=True)
class ManifestEntry:
    """One artefact models/convert.py made: where, for which runtime/variant, and its digest."""

    path: str
    runtime: str
    variant: str
    sha256: str
    bytes: int
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, e: Mapping[str, Any]) -> ManifestEntry:
        sha, size = str(e.get("sha256") or ""), int(e.get("bytes") or 0)
        return cls(str(e["path"]), str(e["runtime"]), str(e["variant"]), sha, size, dict(e))


@dataclass(frozen=True)
class Manifest:
    """build/models/<model>/manifest.json: the model's source and every artefact made from it."""

    model: str
    source_sha256: str
    entries: tuple[ManifestEntry, ...]
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Manifest:
        """Parse ``<folder>/manifest.json``; FileNotFoundError when absent, ContractError when malformed."""
        path = os.path.join(folder, MANIFEST)
        raw = read_object(path)
        try:
            entries = tuple(ManifestEntry.from_dict(e) for e in raw.get("artefacts", []))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ContractError(f"{path}: malformed artefact entry ({e!r})") from None
        return cls(str(raw.get("model", "")), str(raw.get("source_sha256", "")), entries, raw)

    def entry(self, path: str) -> ManifestEntry | None:
        """The entry of one artefact path (``float32.tflite``, ``savedmodel``); None when not made."""
        return next((e for e in self.entries if e.path == path), None)

    @staticmethod
    def save(folder: str | os.PathLike[str], manifest: Mapping[str, Any]) -> None:
        atomic_write_json(os.path.join(folder, MANIFEST), dict(manifest))
