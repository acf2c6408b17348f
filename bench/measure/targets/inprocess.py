"""In-process target: the runtime adapters called directly on the same artefacts, no docker.

It gives the floor the containers are compared with: the model's own load time (measured in a fresh
python process, so the library import is included exactly as a cold sandbox pays it) and the pure
predict latency. It is also the reference the containers' answers must equal (container_agreement_pct).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.measure.env import ROOT
from core.card import read_card
from core.manifest import Manifest
from core.paths import MODELS_DIR
from core.pipeline import Pipeline
from runtimes import base, preprocess


@dataclass(frozen=True)
class Artefact:
    model: str
    runtime: str
    variant: str
    path: Path  # file or SavedModel dir
    sha256: str | None

    @property
    def name(self) -> str:
        return self.path.name


def input_size(model_dir: Path) -> Pipeline:
    """The model card's preprocessing pipeline (size, channels, resize, values), parsed as the handler
    parses it, so in-process answers are built from the tensor the handler builds."""
    return read_card(model_dir / "card.json").pipeline


def artefacts(model: str, models_dir: Path = MODELS_DIR) -> list[Artefact]:
    """Every artefact of build/models/<model>/manifest.json, plus the null floor (card only)."""
    d = models_dir / model
    try:
        manifest = Manifest.load(d)
    except FileNotFoundError:
        return []
    out = []
    for e in manifest.entries:
        if e.runtime in base.RUNTIMES and (d / e.path).exists():
            out.append(Artefact(model, e.runtime, e.variant, d / e.path, e.sha256 or None))
    out.append(Artefact(model, "null", "none", d / "card.json", None))
    return out


def find_artefact(model: str, artefact_name: str, models_dir: Path = MODELS_DIR) -> Artefact | None:
    """The local copy of what an image ships (matched by file name, i.e. basename of MODEL_PATH)."""
    return next((a for a in artefacts(model, models_dir) if a.name == artefact_name), None)


def load(artefact: Artefact, threads: int) -> tuple[Any, float]:
    """Adapter loaded in this process; returns (adapter, load ms)."""
    adapter = base.get(artefact.runtime)
    t0 = time.perf_counter()
    adapter.load(str(artefact.path), threads)
    return adapter, (time.perf_counter() - t0) * 1000


def fresh_load_ms(artefact: Artefact, threads: int, timeout_s: float = 300) -> dict[str, Any]:
    """Load time in a new python process (library import + model load), as a cold sandbox pays it."""
    cmd = [
        sys.executable,
        "-m",
        "bench.measure.targets.inprocess",
        "--runtime",
        artefact.runtime,
        "--path",
        str(artefact.path),
        "--threads",
        str(threads),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=ROOT, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"fresh load of {artefact.path} failed: {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def predict_logits(adapter: Any, batch: np.ndarray) -> np.ndarray:
    """One image at a time, exactly as the handler calls the runtime."""
    return np.concatenate([np.asarray(adapter.predict(x[np.newaxis]), np.float32) for x in batch])


def preprocess_bytes(images: list[bytes], pipeline: Pipeline) -> np.ndarray:
    return np.stack([preprocess.load_bytes(b, pipeline) for b in images])


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.measure.targets.inprocess --runtime R --path P``: fresh-process load time as JSON."""
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--runtime", required=True, choices=base.RUNTIMES)
    ap.add_argument("--path", required=True)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    adapter = base.get(args.runtime)
    adapter.load(args.path, args.threads)
    load_ms = (time.perf_counter() - t0) * 1000
    t1 = time.perf_counter()
    adapter.load(args.path, args.threads)
    reload_ms = (time.perf_counter() - t1) * 1000
    print(
        json.dumps(
            {
                "load_ms": load_ms,
                "reload_ms": reload_ms,
                "library": getattr(adapter, "library", ""),
                "version": adapter.version(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
