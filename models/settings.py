"""The models package's settings: the on-demand Xception run (``XCEPTION_*``, docs/ARCHITECTURE.md).

Read when the run is about to start (not at import), parsed and checked by core/settings.py.
Short on purpose (2 cores): at these defaults training took 483 s here plus 35 s of BatchNorm
re-estimation, and its accuracy is reported honestly on its card (test top-1 16.4 %, README).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.settings import read


@dataclass(frozen=True)
class XceptionRun:
    train_px: int = 150  # training input size
    serve_px: int = 299  # input size the card declares for serving
    epochs: int = 2
    train_limit: int = 1000  # seeded train subset
    lr: float = 1e-3
    eval_train_limit: int = 300  # train top-1 scored on a seeded subset
    bn_recalibrate: int = 640  # train images to re-estimate BatchNorm statistics on

    @classmethod
    def from_env(cls) -> XceptionRun:
        d = cls()
        return cls(
            train_px=read("XCEPTION_TRAIN_PX", d.train_px),
            serve_px=read("XCEPTION_SERVE_PX", d.serve_px),
            epochs=read("XCEPTION_EPOCHS", d.epochs),
            train_limit=read("XCEPTION_TRAIN_LIMIT", d.train_limit),
            lr=read("XCEPTION_LR", d.lr),
            eval_train_limit=read("XCEPTION_EVAL_TRAIN_LIMIT", d.eval_train_limit),
            bn_recalibrate=read("XCEPTION_BN_RECALIBRATE", d.bn_recalibrate),
        )

    def train_args(self) -> dict[str, Any]:
        """The ``python -m models.train`` options (``--size`` ... ``--bn-recalibrate``), in order."""
        return {
            "size": self.train_px,
            "serve_size": self.serve_px,
            "epochs": self.epochs,
            "train_limit": self.train_limit,
            "lr": self.lr,
            "eval_train_limit": self.eval_train_limit,
            "bn_recalibrate": self.bn_recalibrate,
        }
