"""Locate the clothing dataset through one setting and fail with one clear message.

The dataset is read from ``$CLOTHING_DATASET`` (default ``data/clothing-dataset-small``,
which ``make data`` clones at a pinned commit). Images are never committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.paths import DATASET_DIR
from core.settings import read

ENV_VAR = "CLOTHING_DATASET"
DEFAULT_DIR = DATASET_DIR
SOURCE_URL = "https://github.com/alexeygrigorev/clothing-dataset-small"
SOURCE_COMMIT = "11961516512414bf9f6c150a832cfd21b54a6b54"  # pinned; `make data` checks it out
CLASSES: tuple[str, ...] = (
    "dress",
    "hat",
    "longsleeve",
    "outwear",
    "pants",
    "shirt",
    "shoes",
    "shorts",
    "skirt",
    "t-shirt",
)
#: Image counts of the published dataset; fewer means a partial copy.
EXPECTED = {"train": 3068, "validation": 341, "test": 372}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class DatasetError(RuntimeError):
    """The dataset is missing or incomplete; the message says how to get it."""


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int


def root() -> Path:
    return Path(read(ENV_VAR, str(DEFAULT_DIR))).expanduser()


def _how_to_fix(where: Path) -> str:
    return (
        f"Set {ENV_VAR} to a copy of clothing-dataset-small, or run `make data` to clone "
        f"{SOURCE_URL} into {DEFAULT_DIR} (looked in {where})."
    )


def split(name: str, data_root: Path | None = None) -> list[Sample]:
    """All images of one split, sorted, labelled by the class folder's index in CLASSES."""
    base = data_root or root()
    d = base / name
    if not d.is_dir():
        raise DatasetError(f"Clothing dataset split '{name}' not found. {_how_to_fix(base)}")
    out: list[Sample] = []
    for label, cls in enumerate(CLASSES):
        cdir = d / cls
        if not cdir.is_dir():
            raise DatasetError(f"Class folder {cdir} is missing: partial dataset. {_how_to_fix(base)}")
        out += [Sample(p, label) for p in sorted(cdir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    want = EXPECTED.get(name)
    if want is not None and len(out) != want:
        raise DatasetError(
            f"Split '{name}' has {len(out)} images, expected {want}: partial dataset. {_how_to_fix(base)}"
        )
    return out
