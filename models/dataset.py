"""Locate the dataset through one setting and fail with one clear message.

The dataset is read from ``$DATASET`` (``$CLOTHING_DATASET`` is the same setting under its first name;
default ``data/clothing-dataset-small``, which ``make data`` clones at a pinned commit). It is a folder of
class folders, with or without ``train/ validation/ test/`` splits: without splits every split is the
folder itself (a trained model's labelled images are its test set). Classes are the class folders,
sorted, as ``keras.utils.image_dataset_from_directory`` orders them. Images are never committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.paths import DATASET_DIR
from core.settings import read

ENV_VAR = "DATASET"
ALIAS = "CLOTHING_DATASET"
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
    """``$DATASET``, else ``$CLOTHING_DATASET``, else the default clone."""
    return Path(read(ENV_VAR, "") or read(ALIAS, str(DEFAULT_DIR))).expanduser()


def has_splits(base: Path) -> bool:
    return any((base / s).is_dir() for s in EXPECTED)


def split_dir(name: str, base: Path | None = None) -> Path:
    """The folder of class folders for split ``name`` (the dataset itself when it has no splits)."""
    base = base or root()
    return base / name if has_splits(base) else base


def class_dir(base: Path) -> Path:
    """Where the class names are read: the train split, or the folder itself."""
    return split_dir("train", base)


def classes(d: Path) -> list[str]:
    """The class folders of ``d``, sorted (image_dataset_from_directory's order)."""
    return (
        sorted(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")) if d.is_dir() else []
    )


def _how_to_fix(where: Path) -> str:
    return (
        f"Set {ENV_VAR} to your dataset (class folders, optionally under train/ validation/ test/), "
        f"or run `make data` to clone {SOURCE_URL} into {DEFAULT_DIR} (looked in {where})."
    )


def split(name: str, data_root: Path | None = None) -> list[Sample]:
    """All images of one split, sorted, labelled by the class folder's index among the sorted folders."""
    base = data_root or root()
    d = split_dir(name, base)
    names = classes(d)
    if not names:
        raise DatasetError(f"Dataset split '{name}' not found (no class folders in {d}). {_how_to_fix(base)}")
    clothing = tuple(names) == CLASSES
    if not clothing and set(names) < set(CLASSES):
        missing = sorted(set(CLASSES) - set(names))
        raise DatasetError(
            f"Class folders {missing} are missing from {d}: partial dataset. {_how_to_fix(base)}"
        )
    out: list[Sample] = []
    for label, cls in enumerate(names):
        cdir = d / cls
        out += [Sample(p, label) for p in sorted(cdir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    want = EXPECTED.get(name) if clothing else None
    if want is not None and len(out) != want:
        raise DatasetError(
            f"Split '{name}' has {len(out)} images, expected {want}: partial dataset. {_how_to_fix(base)}"
        )
    return out
