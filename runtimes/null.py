"""The floor: no model library at all, fixed-shape zero logits.

Every benchmark subtracts this to show what the model runtime itself costs.
"""

from __future__ import annotations

import json
import os

import numpy as np


class Adapter:
    name = "null"
    library = "numpy"

    def __init__(self) -> None:
        self.n_classes = 10

    def version(self) -> str:
        return np.__version__

    def load(self, path: str, threads: int) -> None:
        """Reads the class count from the card beside ``path`` if there is one; loads no model."""
        card = os.path.join(path if os.path.isdir(path) else os.path.dirname(path), "card.json")
        if os.path.exists(card):
            with open(card) as f:
                self.n_classes = len(json.load(f)["classes"])
        self.threads = threads

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.zeros((batch.shape[0], self.n_classes), np.float32)
