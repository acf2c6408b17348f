"""The files the packages exchange, each with one reader and one atomic writer.

* ``build/models/<model>/manifest.json`` (models/convert.py -> images, eval, bench, the handler):
  core/manifest.py (it ships in every image, without the rest of this module).
* ``results/accuracy.csv`` (models/eval.py -> bench): :data:`ACCURACY_COLUMNS`, :class:`AccuracyRow`.
* ``results/winner.json`` (bench/report -> deploy, images/package, images/sam): :class:`Winner`.
* ``build/package/package.json`` (images/package -> deploy/zipdeploy, images/sam): :class:`PackageSummary`.
* ``card.json`` has its own module, core/card.py (it ships in every image and validates more).

Each type keeps ``raw`` (the whole parsed object) so a reader that needs a field this module does not
name still reads it from the one parse; the writers take plain dicts (what the producers assemble).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypedDict

from core.catalogue import DEFAULT_ARCH, VERSION_COLUMNS
from core.fileio import ContractError as ContractError
from core.fileio import atomic_path, atomic_write_json, atomic_write_text, read_object

PACKAGE_JSON: Final = "package.json"


# ------------------------------------------------------------------------------------------ accuracy
#: results/accuracy.csv's columns, in order (models/eval.py writes them, bench/measure/accuracy.py joins
#: them); one version column per library of the catalogue.
ACCURACY_COLUMNS: Final[tuple[str, ...]] = (
    "model", "runtime", "library", "library_version", "variant", "artefact", "bytes", "sha256",
    "n_images", "top1_accuracy_pct", "ref_top1_accuracy_pct", "accuracy_drop_pts", "agreement_pct",
    "max_abs_dprob", "gate", "gate_passed", "error", "evaluated_in", "threads", "load_s", "eval_wall_s",
    "git_sha", "dirty", "python", *VERSION_COLUMNS, "machine", "timestamp",
)  # fmt: skip


class AccuracyRow(TypedDict, total=False):
    """The fields of an accuracy row other code keys on (a row may carry every ACCURACY_COLUMNS field)."""

    model: str
    runtime: str
    library: str
    variant: str
    artefact: str
    sha256: str
    top1_accuracy_pct: float | str
    agreement_pct: float | str
    max_abs_dprob: float | str
    gate_passed: bool | str
    error: str


def load_accuracy(path: Path) -> list[dict[str, str]]:
    """Every row of an accuracy CSV as strings (empty list when the file is absent)."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def save_accuracy(path: Path, model: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Replace ``model``'s rows, keep every other model's, always write the fixed columns (atomically)."""
    kept: list[Mapping[str, Any]] = [r for r in load_accuracy(path) if r.get("model") != model]
    allrows = sorted([*kept, *rows], key=lambda r: (str(r.get("model")),))  # stable: keeps artefact order
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=ACCURACY_COLUMNS, extrasaction="ignore", restval="")
        w.writeheader()
        w.writerows(allrows)


# -------------------------------------------------------------------------------------------- winner
#: How the shipped function runs, as template.yaml's DeployMode and deploy's --mode spell it.
DEPLOY_MODES: Final = ("on-demand", "provisioned", "managed-instances")


def deploy_mode(name: object) -> str:
    """A mode's canonical name: bench spells them "provisioned concurrency" / "managed instances";
    None or "" is on-demand; anything unknown is returned as given, for the caller to refuse."""
    text = str(name or DEPLOY_MODES[0]).strip().lower().replace("_", "-").replace(" ", "-")
    return {"provisioned-concurrency": "provisioned", "managed-instance": "managed-instances"}.get(text, text)


@dataclass(frozen=True)
class Winner:
    """results/winner.json (docs/ARCHITECTURE.md): the cell `make deploy` ships."""

    image: str
    image_kind: str
    runtime: str
    model: str
    variant: str
    memory_mb: int
    architecture: str
    threads: int
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, path: Path, default_memory_mb: int = 1769) -> Winner:
        """Parse winner.json; OSError when absent, ContractError when it lacks ``image`` or is malformed."""
        w = read_object(path)
        try:
            return cls(
                str(w["image"]), str(w.get("image_kind", "")), str(w.get("runtime", "")),
                str(w.get("model", "")), str(w.get("variant", "")),
                int(w.get("memory_mb", default_memory_mb)), str(w.get("architecture", DEFAULT_ARCH)),
                int(w.get("threads", 1)), w,
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as e:
            raise ContractError(f"{path} is not a valid winner.json ({e!r})") from None

    @property
    def mode(self) -> tuple[str, dict[str, Any]]:
        """(deploy mode, its configuration) from the ``mode`` block bench/decide/modes.py writes: the mode at
        the
        user's traffic and the cell it chose; on-demand with no configuration when absent or empty."""
        block = self.raw.get("mode")
        if not isinstance(block, Mapping):
            return deploy_mode(block), {}
        cfg = block.get("configuration")
        return deploy_mode(block.get("mode")), dict(cfg) if isinstance(cfg, Mapping) else {}

    @staticmethod
    def save(path: Path, winner: Mapping[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, dict(winner), indent=2)


# ------------------------------------------------------------------------------------------- package
@dataclass(frozen=True)
class PackageSummary:
    """build/package/package.json: what `make package` put in function.zip and the layers."""

    runtime: str  # the Lambda managed runtime, "python3.13"
    model: str
    variant: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, folder: Path) -> PackageSummary:
        path = folder / PACKAGE_JSON
        s = read_object(path)
        try:
            return cls(str(s["runtime"]), str(s["model"]), str(s["variant"]), s)
        except KeyError as e:
            raise ContractError(f"{path}: missing {e}; re-run `make package`") from None

    @staticmethod
    def save(folder: Path, summary: Mapping[str, Any]) -> None:
        atomic_write_text(folder / PACKAGE_JSON, json.dumps(dict(summary), indent=1))
