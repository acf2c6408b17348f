"""Where things live, computed once: the project root and the folders and files the tools exchange.

Inside an image this module sits at /var/task/core, so ROOT is /var/task; only the tools use the
build/ and results/ paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
BUILD: Final = ROOT / "build"
#: build/models/<model>/: what models.convert writes and the images copy from.
MODELS_DIR: Final = BUILD / "models"
#: build/package/: `make package`'s function.zip, layer-<arch>.zip and package.json.
PACKAGE_DIR: Final = BUILD / "package"
RESULTS_DIR: Final = ROOT / "results"
#: models/eval.py -> bench: accuracy and agreement of every artefact (core.contracts.ACCURACY_COLUMNS).
ACCURACY_CSV: Final = RESULTS_DIR / "accuracy.csv"
#: bench -> deploy: the decision `make report` writes and `make deploy` ships.
WINNER_JSON: Final = RESULTS_DIR / "winner.json"
DATASET_DIR: Final = ROOT / "data" / "clothing-dataset-small"


def model_dir(name: str) -> Path:
    """build/models/<name>/ of one model (its artefacts, card.json, manifest.json)."""
    return MODELS_DIR / name
