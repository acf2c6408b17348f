"""Join results/accuracy.csv (written by models/eval.py) onto benchmark rows.

Key: (model, runtime, library, variant); when the library has no row of its own (e.g. the tflite-runtime
image serves with tflite_runtime but eval only ran LiteRT) the (model, runtime, variant) row is used and
the note says so. No accuracy row -> empty columns and gate_passed empty (never eligible to win).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from bench.env import ROOT

DEFAULT = ROOT / "results" / "accuracy.csv"
FIELDS = ("top1_accuracy_pct", "agreement_pct", "max_abs_dprob", "gate_passed")


def load(path: Path = DEFAULT) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    need = {"model", "runtime", "variant", *FIELDS}
    return df if need <= set(df.columns) else None


def lookup(
    acc: pd.DataFrame | None, model: str, runtime: str, library: str | None, variant: str
) -> tuple[dict[str, Any], str | None]:
    """(accuracy fields, note) for one cell."""
    if acc is None:
        return {}, "no results/accuracy.csv"
    rows = acc[(acc["model"] == model) & (acc["runtime"] == runtime) & (acc["variant"] == variant)]
    if "error" in rows.columns:
        ok = rows[rows["error"].fillna("") == ""]
        rows = ok if len(ok) else rows
    note = None
    if library and "library" in rows.columns and (rows["library"] == library).any():
        rows = rows[rows["library"] == library]
    elif len(rows):
        note = f"accuracy from library {rows.iloc[0].get('library', '?')} (no {library} row)"
    if not len(rows):
        return {}, f"no accuracy row for {model}/{runtime}/{variant}"
    r = rows.iloc[0]

    def num(v: str) -> float | None:
        try:
            return float(v)
        except (TypeError, ValueError):
            return None

    gate = str(r["gate_passed"]).strip().lower()
    return {
        "top1_accuracy_pct": num(r["top1_accuracy_pct"]),
        "agreement_pct": num(r["agreement_pct"]),
        "max_abs_dprob": num(r["max_abs_dprob"]),
        "gate_passed": True if gate in ("true", "1") else False if gate in ("false", "0") else None,
    }, note
