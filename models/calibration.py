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
from pathlib import Path
from typing import Any

#: Re-calibrations measured besides the artefact's own (seed 0, split order): (seed, reversed order).
#: Other image sets, not other orders: both calibrations here take min/max ranges, which no order changes
#: (measured: seed 0 reversed or shuffled gave the same agreement as in split order, for both variants).
RUNS: tuple[tuple[int, bool], ...] = ((1, False), (2, False), (3, False), (4, False))
#: Largest agreement spread (points) over the calibrations for a variant to be eligible at all.
SPREAD_BOUND_PTS = 1.0
#: The split agreement is measured on: the one models/eval.py scores the gate on (its load_test).
SPLIT = "test"
FIELD = "calibration_spread"


def measure(
    artefact: Path,
    make: Callable[[int, bool, Path], None],
    agreement: Callable[[Path], dict[str, float]],
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """The manifest field: ``agreement(path)`` (agreement_pct, top1_pct on SPLIT) of ``artefact`` and of
    each re-calibration in RUNS (``make(seed, reversed, path)`` writes one), their spread, the bound and
    whether it holds."""
    runs = [{"seed": 0, "reversed": False, **agreement(artefact)}]
    with tempfile.TemporaryDirectory(prefix="calibration-") as tmp:
        for seed, reverse in RUNS:
            path = Path(tmp) / f"seed{seed}{'-reversed' if reverse else ''}{artefact.suffix}"
            make(seed, reverse, path)
            runs.append({"seed": seed, "reversed": reverse, **agreement(path)})
            log(f"    calibration seed {seed}{' reversed' if reverse else ''}: {runs[-1]}")
    agree = [r["agreement_pct"] for r in runs]
    spread = round(max(agree) - min(agree), 3)
    return {
        "split": SPLIT,
        "images": int(runs[0].get("images", 0)),  # the split's images each calibration was scored on
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
