"""The floor: no model library at all, fixed-shape zero logits.

Every benchmark subtracts this to show what the model runtime itself costs.
"""

from __future__ import annotations

import os

import numpy as np

from core.card import read_card
from core.settings import read


class Adapter:
    name = "null"
    library = "numpy"

    def __init__(self) -> None:
        self.n_classes = 10

    def version(self) -> str:
        return np.__version__

    def load(self, path: str, threads: int) -> None:
        """Reads the class count from the card the handler reads (MODEL_CARD, else the one beside ``path``)
        if there is one; loads no model."""
        beside = os.path.join(path if os.path.isdir(path) else os.path.dirname(path), "card.json")
        card: str = read("MODEL_CARD", beside)
        if os.path.exists(card):
            self.n_classes = len(read_card(card).classes)
        self.threads = threads

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.zeros((batch.shape[0], self.n_classes), np.float32)
