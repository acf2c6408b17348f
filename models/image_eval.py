"""Predict the test split inside a serving image, for libraries the host venv cannot import.

tflite-runtime 2.14 has wheels for python <= 3.11 with numpy < 2 only, so its accuracy rows used to be
borrowed from LiteRT's. Here the image itself (its python, its library, its baked artefact) answers the
whole test split: the preprocessed batch goes in through a mounted folder, logits and the sha256 of the
artefact bytes inside the image come back (models/image_predict.py runs in the container).
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.catalogue import IN_IMAGE_LIBRARIES
from infra import docker
from models import registry

#: image (core/catalogue.py name) -> library evaluated inside it: those the host venv cannot import
IN_IMAGE = IN_IMAGE_LIBRARIES
SCRIPT = Path(__file__).with_name("image_predict.py")


@dataclass(frozen=True)
class Target:
    image: str  # core/catalogue.py name
    tag: str
    variant: str
    artefact: str
    library: str
    runtime: str


def targets(model: str) -> list[Target]:
    """Every default variant of every image whose library is evaluated in-image."""
    from core.catalogue import IMAGES

    out = []
    for name, library in IN_IMAGE.items():
        spec = IMAGES[name]
        for v in spec.default_variants:
            out.append(Target(name, spec.tag(model, v), v, spec.variants[v], library, spec.runtime))
    return out


def image_exists(tag: str) -> bool:
    return docker.image_id(tag) is not None


def predict(
    t: Target, x: np.ndarray, threads: int, batch: int = 32, timeout_s: float = 1800
) -> tuple[np.ndarray, dict[str, Any]]:
    """(logits, meta) from the image: meta has library, library_version, sha256, bytes, python, wall_s."""
    if not image_exists(t.tag):
        raise FileNotFoundError(
            f"image {t.tag} is not built: run `make build-all MODEL=...` before `make eval` "
            "(tflite-runtime is evaluated inside its image)"
        )
    with tempfile.TemporaryDirectory(prefix="eval-", dir=registry.REPO / "build") as d:
        Path(d).chmod(0o777)  # the image may run as a non-root user
        np.save(Path(d) / "x.npy", x)
        cmd = [
            "run", "--rm", "--network", "none", "--entrypoint", "python3",
            "-e", "PYTHONPATH=/var/task", "-w", "/var/task",
            "-v", f"{d}:/eval", "-v", f"{SCRIPT}:/eval-src/image_predict.py:ro",
            t.tag, "/eval-src/image_predict.py", "/eval/x.npy", "/eval", str(threads), t.library, str(batch),
        ]  # fmt: skip
        t0 = time.time()
        res = docker.run(*cmd, check=False, timeout=timeout_s)
        wall = time.time() - t0
        if res.returncode != 0:
            tail = " | ".join(res.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"{t.tag}: in-image prediction failed (exit {res.returncode}): {tail[:300]}")
        meta = json.loads((Path(d) / "meta.json").read_text())
        logits = np.load(Path(d) / "logits.npy")
    meta["wall_s"] = round(wall, 2)
    return logits, meta
