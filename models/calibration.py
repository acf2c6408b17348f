"""How far a calibrated int8 variant's agreement moves when its calibration changes, and the gate that
makes an unstable one ineligible.

A full-integer artefact (``full-int8.tflite``, ``int8-qdq.onnx``) stores activation ranges measured on
calibration images. Those ranges depend on which images were drawn, in which order (for histogram
methods), and on the float rounding of the kernels of the machine that ran the calibration, so its bytes
cannot be promised on another machine. What is promised is the gate outcome: models/convert.py
re-calibrates each such variant with :data:`RUNS` other seeded image sets, measures top-1 agreement with
the TensorFlow reference on the test split the gate is scored on (nothing is chosen by it: every
calibration but the artefact's own is thrown away), and records the spread (max - min agreement, in
points) in the artefact's manifest entry. The gate
(:func:`gated`, applied by models/eval.py) then passes only when

* the spread was measured and is at most :data:`SPREAD_BOUND_PTS` (the variant is *stable*), and
* the variant's own gate still passes with its agreement lowered by the spread,

so a machine whose calibration lands anywhere in the measured spread reaches the same outcome.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.card import Card

#: Re-calibrations measured besides the artefact's own (seed 0, split order): (seed, reversed order).
#: Other image sets, not other orders: both calibrations here take min/max ranges, which no order changes
#: (measured: seed 0 reversed or shuffled gave the same agreement as in split order, for both variants).
RUNS: tuple[tuple[int, bool], ...] = ((1, False), (2, False), (3, False), (4, False))
#: Largest agreement spread (points) over the calibrations for a variant to be eligible at all.
SPREAD_BOUND_PTS = 1.0
#: The split agreement is measured on: the one models/eval.py scores the gate on (its load_test).
SPLIT = "test"
FIELD = "calibration_spread"


@dataclass
class GateImages:
    """The gate's split and the TensorFlow reference's logits on it, computed once per conversion."""

    x: np.ndarray
    y: np.ndarray
    ref: np.ndarray

    @classmethod
    def load(cls, model_dir: Path, card: Card, threads: int) -> GateImages:
        from models import eval as evallib
        from models.train import load_split
        from runtimes import base

        x, y = load_split(SPLIT, card.pipeline)
        keep, y = evallib.own_classes(y, card.classes)
        x = x[keep]
        ref, _ = evallib.run(base.get("tf"), model_dir / "savedmodel", x, threads)
        return cls(x, y, ref)

    def agreement(self, runtime: str, path: Path, threads: int) -> dict[str, float]:
        from models import eval as evallib
        from runtimes import base

        logits, _ = evallib.run(base.get(runtime), path, self.x, threads)
        if logits.shape != self.ref.shape or not np.all(np.isfinite(logits)):
            raise ValueError(
                f"{path.name}: output {logits.shape} unusable against the reference {self.ref.shape}"
            )
        return {
            "agreement_pct": round(100.0 * float(np.mean(logits.argmax(1) == self.ref.argmax(1))), 3),
            "top1_pct": round(100.0 * float(np.mean(logits.argmax(1) == self.y)), 3),
        }


def measure(
    artefact: Path,
    runtime: str,
    make: Callable[[int, bool, Path], None],
    images: GateImages,
    threads: int,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """The manifest field: agreement and top-1 of ``artefact`` and of each re-calibration in RUNS
    (``make(seed, reversed, path)`` writes one), their spread, the bound and whether it holds."""
    runs = [{"seed": 0, "reversed": False, **images.agreement(runtime, artefact, threads)}]
    with tempfile.TemporaryDirectory(prefix="calibration-") as tmp:
        for seed, reverse in RUNS:
            path = Path(tmp) / f"seed{seed}{'-reversed' if reverse else ''}{artefact.suffix}"
            make(seed, reverse, path)
            runs.append({"seed": seed, "reversed": reverse, **images.agreement(runtime, path, threads)})
            log(f"    calibration seed {seed}{' reversed' if reverse else ''}: {runs[-1]}")
    agree = [r["agreement_pct"] for r in runs]
    spread = round(max(agree) - min(agree), 3)
    return {
        "split": SPLIT,
        "images": len(images.y),
        "runs": runs,
        "spread_pts": spread,
        "bound_pts": SPREAD_BOUND_PTS,
        "stable": spread <= SPREAD_BOUND_PTS,
    }


def calibrated(entry: dict[str, Any]) -> bool:
    """Whether a manifest entry's bytes depend on a calibration (its recipe has calibration params)."""
    return "calibration" in (entry.get("params") or {})


def gated(
    entry: dict[str, Any], text: str, gate: Callable[[dict[str, float]], bool]
) -> tuple[str, Callable[[dict[str, float]], bool]]:
    """A calibrated entry's gate: its own, with agreement lowered by the measured spread, and only when
    the spread was measured within its bound; any other entry's gate unchanged."""
    if not calibrated(entry):
        return text, gate
    spread = entry.get(FIELD) or {}
    stable, pts = spread.get("stable") is True, float(spread.get("spread_pts", 0.0))

    def robust(m: dict[str, float]) -> bool:
        return stable and gate({**m, "agreement_pct": m["agreement_pct"] - pts})

    note = (
        f"agreement lowered by the calibration spread {pts:g} pts (bound {SPREAD_BOUND_PTS:g})"
        if spread
        else "calibration spread not measured: ineligible"
    )
    if spread and not stable:
        note = f"calibration spread {pts:g} pts over the bound {SPREAD_BOUND_PTS:g}: unstable, ineligible"
    return f"{text}; {note}", robust
