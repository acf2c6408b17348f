"""In-process target: the runtime adapters called directly on the same artefacts, no docker.

It gives the floor the containers are compared with: the model's own load time (measured in a fresh
python process, so the library import is included exactly as a cold sandbox pays it) and the pure
predict latency. It is also the reference the containers' answers must equal (container_agreement_pct).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.measure.env import ROOT
from bench.measure.targets.base import Answer, ColdSample, ColdStart, Launchable, PlatformLog
from core.card import read_card
from core.catalogue import RUNTIMES, parse_tag, runtime_of
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
        if e.runtime in RUNTIMES and (d / e.path).exists():
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


@dataclass(frozen=True)
class Fresh:
    """What a fresh python process left: its exit code (None: killed at the timeout) and output."""

    returncode: int | None
    stdout: str = ""
    stderr: str = ""

    def last_json(self, prefixes: tuple[str, ...] = ("{",)) -> dict[str, Any] | None:
        """The last stdout line starting with one of ``prefixes``, as JSON (None when there is none)."""
        lines = [ln for ln in self.stdout.splitlines() if ln.startswith(prefixes)]
        return dict(json.loads(lines[-1])) if lines else None


def fresh_python(
    args: Sequence[str],
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    pythonpath: Sequence[Path] | None = None,
    timeout_s: float = 300,
) -> Fresh:
    """``python ARGS`` in a new interpreter of this one's python: what a cold sandbox's interpreter pays
    (imports, first allocations, its own peak memory), with nothing this process imported hiding it.
    ``pythonpath`` replaces PYTHONPATH when given; ``env`` is added to this process's environment."""
    full = {**os.environ, **(env or {})}
    if pythonpath is not None:
        full["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    try:
        proc = subprocess.run(
            [sys.executable, *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return Fresh(None)
    return Fresh(proc.returncode, proc.stdout, proc.stderr)


def fresh_load_ms(artefact: Artefact, threads: int, timeout_s: float = 300) -> dict[str, Any]:
    """Load time in a new python process (library import + model load), as a cold sandbox pays it."""
    module = ["-m", "bench.measure.targets.inprocess"]
    args = [*module, "--runtime", artefact.runtime, "--path", str(artefact.path), "--threads", str(threads)]
    got = fresh_python(args, env={"TF_CPP_MIN_LOG_LEVEL": "2"}, pythonpath=[ROOT], timeout_s=timeout_s)
    found = got.last_json() if got.returncode == 0 else None
    if found is None:
        raise RuntimeError(f"fresh load of {artefact.path} failed: {got.stderr.strip()[-800:]}")
    return found


def predict_logits(adapter: Any, batch: np.ndarray) -> np.ndarray:
    """One image at a time, exactly as the handler calls the runtime."""
    return np.concatenate([np.asarray(adapter.predict(x[np.newaxis]), np.float32) for x in batch])


def preprocess_bytes(images: list[bytes], pipeline: Pipeline) -> np.ndarray:
    return np.stack([preprocess.load_bytes(b, pipeline) for b in images])


class InProcessInstance:
    """An adapter loaded in this process, answering the handler's events (``image_b64``) as the handler
    would, with its timed stages in ``meta``; there is no platform around it (an empty platform log)."""

    def __init__(self, adapter: Any, pipeline: Pipeline, classes: Sequence[str]) -> None:
        self.adapter, self.pipeline, self.classes = adapter, pipeline, list(classes)
        self.answered = 0

    def invoke(self, event: dict[str, Any]) -> Answer:
        t0 = time.perf_counter()
        try:
            x = preprocess_bytes([base64.b64decode(event["image_b64"])], self.pipeline)
            t1 = time.perf_counter()
            logits = np.asarray(self.adapter.predict(x), np.float32).ravel()
        except Exception as e:  # an answer, as the handler gives one
            ms = (time.perf_counter() - t0) * 1000
            return Answer(
                False, ms, {"errorType": type(e).__name__, "errorMessage": str(e)}, type(e).__name__
            )
        t2 = time.perf_counter()
        meta = {
            "cold": self.answered == 0,
            "preprocess_ms": (t1 - t0) * 1000,
            "inference_ms": (t2 - t1) * 1000,
        }
        self.answered += 1
        body = {"predictions": dict(zip(self.classes, map(float, logits), strict=False)), "meta": meta}
        return Answer(True, (t2 - t0) * 1000, body)

    def platform_log(self) -> PlatformLog:
        return PlatformLog()

    def stop(self) -> None:
        self.adapter = None


class InProcessTarget:
    """The in-process target behind bench/measure/targets/base.Target: a cell's image tag names the
    artefact it ships (model, variant, runtime); ``start`` loads it here, ``cold_start`` measures the load
    in a fresh python process (the library import included, as a cold sandbox pays it)."""

    name = "inprocess"

    def __init__(self, models_dir: Path = MODELS_DIR) -> None:
        self.models_dir = models_dir

    def artefact(self, cell: Launchable) -> Artefact:
        tag = parse_tag(cell.tag)
        if tag is None:
            raise ValueError(f"{cell.tag}: not a project image tag")
        runtime = runtime_of(tag.kind)
        found = [a for a in artefacts(tag.model, self.models_dir) if a.runtime == runtime]
        match = next(
            (a for a in found if a.variant == tag.variant), found[0] if runtime == "null" and found else None
        )
        if match is None:
            raise FileNotFoundError(
                f"{cell.tag}: no {runtime} artefact {tag.variant} under {self.models_dir / tag.model}"
            )
        return match

    def start(
        self, cell: Launchable, env: Mapping[str, str] | None = None, processes: int = 1
    ) -> InProcessInstance:
        a = self.artefact(cell)
        adapter, _ = load(a, cell.threads or 1)
        card = read_card(self.models_dir / a.model / "card.json")
        return InProcessInstance(adapter, card.pipeline, card.classes)

    def cold_start(
        self,
        cell: Launchable,
        event: dict[str, Any],
        env: Mapping[str, str] | None = None,
        keep: bool = False,
    ) -> ColdStart:
        """The fresh-process load as the cold start's INIT; the first answer of a kept instance is its
        first request."""
        fresh = fresh_load_ms(self.artefact(cell), cell.threads or 1)
        load_ms = float(fresh["load_ms"])
        inst = self.start(cell) if keep else None
        sample = ColdSample(total_ms=load_ms, start_ms=0.0, first_request_ms=load_ms, init_ms=load_ms,
                            first_inference_ms=0.0, handler_ms=0.0)  # fmt: skip
        return ColdStart(sample, None, inst, {"fresh": fresh})

    def cleanup(self) -> int:
        return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.measure.targets.inprocess --runtime R --path P``: fresh-process load time as JSON."""
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--runtime", required=True, choices=RUNTIMES)
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
