"""The models package's settings: the on-demand Xception run (``XCEPTION_*``, docs/ARCHITECTURE.md).

Read when the run is about to start (not at import), typed and validated by pydantic-settings.
Short on purpose (2 cores): at these defaults training took 483 s here plus 35 s of BatchNorm
re-estimation, and its accuracy is reported honestly on its card (test top-1 16.4 %, README).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class XceptionRun(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XCEPTION_", extra="ignore")

    train_px: int = Field(150, gt=0)  # training input size
    serve_px: int = Field(299, gt=0)  # input size the card declares for serving
    epochs: int = Field(2, gt=0)
    train_limit: int = Field(1000, gt=0)  # seeded train subset
    lr: float = Field(1e-3, gt=0)
    eval_train_limit: int = Field(300, gt=0)  # train top-1 scored on a seeded subset
    bn_recalibrate: int = Field(640, ge=0)  # train images to re-estimate BatchNorm statistics on

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
