"""Join results/accuracy.csv (written by models/eval.py) onto benchmark rows, by the artefact's bytes.

Key: (model, runtime, library, variant) finds the candidate rows; the row used must also carry the
sha256 of the artefact the cell ran (``model_sha256``): a join by name alone once put cells onto
accuracy rows of other files (rebuilt artefacts), and tflite-runtime cells onto LiteRT's rows; both are
now impossible. A library never borrows another library's row. A candidate with another sha256 -> the
cell is *stale*: its accuracy figures are shown for information, ``gate_passed`` is False, the note
says so, and :func:`stale` lets the bench fail the cell. No candidate -> empty columns (never eligible
to win).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from bench.measure.env import ROOT

DEFAULT = ROOT / "results" / "accuracy.csv"
FIELDS = ("top1_accuracy_pct", "agreement_pct", "max_abs_dprob", "gate_passed")
#: first words of a stale note (bench/test_bench.py fails the cell on it, see :func:`stale`)
STALE = "stale accuracy"


def load(path: Path = DEFAULT) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    need = {"model", "runtime", "variant", *FIELDS}
    if not need <= set(df.columns):
        return None
    for col in ("library", "sha256"):  # an old file without them: every cell is missing or stale
        if col not in df.columns:
            df[col] = ""
    return df


def _num(v: str) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _fields(r: pd.Series, fresh: bool) -> dict[str, Any]:
    gate = str(r["gate_passed"]).strip().lower()
    passed = True if gate in ("true", "1") else False if gate in ("false", "0") else None
    return {
        "top1_accuracy_pct": _num(r["top1_accuracy_pct"]),
        "agreement_pct": _num(r["agreement_pct"]),
        "max_abs_dprob": _num(r["max_abs_dprob"]),
        "gate_passed": passed if fresh else False,
        "accuracy_sha256": r.get("sha256") or None,
    }


def lookup(
    acc: pd.DataFrame | None,
    model: str,
    runtime: str,
    library: str | None,
    variant: str,
    sha256: str | None,
) -> tuple[dict[str, Any], str | None]:
    """(accuracy fields, note) for one cell that ran the artefact with ``sha256``."""
    if acc is None:
        return {}, "no accuracy.csv beside the results"
    sha256 = sha256 if isinstance(sha256, str) and sha256 else None  # pandas NA/NaN -> unknown
    library = library if isinstance(library, str) else None
    rows = acc[(acc["model"] == model) & (acc["runtime"] == runtime) & (acc["variant"] == variant)]
    rows = rows[rows["library"] == (library or "")]
    if "error" in rows.columns:
        ok = rows[rows["error"].fillna("") == ""]
        rows = ok if len(ok) else rows
    if not len(rows):
        return {}, f"no accuracy row for {model}/{runtime}/{library}/{variant}"
    same = rows[rows["sha256"] == (sha256 or "")] if sha256 else rows.iloc[0:0]
    if len(same):
        return _fields(same.iloc[0], fresh=True), None
    r = rows.iloc[0]
    have = (r["sha256"] or "none")[:12]
    ran = (sha256 or "unknown")[:12]
    return _fields(r, fresh=False), (
        f"{STALE}: accuracy.csv measured sha256 {have}..., this cell ran {ran}... "
        f"(run `make eval MODEL={model}` on the artefacts you benchmark)"
    )


def stale(note: str | None) -> bool:
    """True when a row's note says its accuracy row was measured on other bytes."""
    return STALE in (note or "")
