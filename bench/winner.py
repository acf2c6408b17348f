"""The winner rule: what `deploy` ships (results/winner.json).

RULE: among container cells that pass the accuracy gate (results/accuracy.csv: the variant agrees with its
TensorFlow reference, measured on the very bytes the cell served: the accuracy row's sha256 equals the
cell's model_sha256, and the model's test top-1 is at least BENCH_MIN_TOP1_PCT, default 50 %, so a
degenerate model that always answers one class cannot win by being cheap) and answered every request
without error, keep those whose warm p99 (client side) is within the latency budget; the lowest cost per
1M requests (x86_64 prices) wins; costs within one cent per 1M are a tie, broken by the smaller compressed
image, then the lower warm p99. The null image (no model) never wins.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

RULE = (
    "Among container cells that pass the accuracy gate (measured on the same sha256; "
    "top-1 >= {min_top1:g} %) and had no errors, "
    "with warm p99 <= {budget:g} ms: "
    "lowest cost per 1M requests ({arch} prices); costs within $0.01 per 1M tie and go to the smaller "
    "compressed image, then the lower p99. The null image never wins."
)
COST_TIE_USD = 0.01
MIN_TOP1_ENV = "BENCH_MIN_TOP1_PCT"


def min_top1_pct() -> float:
    """The model-quality floor of the accuracy gate (BENCH_MIN_TOP1_PCT, default 50 %)."""
    return float(os.environ.get(MIN_TOP1_ENV) or 50.0)
METRICS = (
    "cost_per_1m_x86_64_usd",
    "cost_per_1m_arm64_usd",
    "warm_client_p50_ms",
    "warm_client_p99_ms",
    "warm_handler_p50_ms",
    "warm_handler_p99_ms",
    "cold_total_median_ms",
    "cold_init_median_ms",
    "peak_memory_bytes",
    "image_compressed_bytes",
    "image_uncompressed_bytes",
    "top1_accuracy_pct",
    "agreement_pct",
    "container_agreement_pct",
)


def eligible(df: pd.DataFrame, budget_ms: float) -> pd.DataFrame:
    """Rows the rule may choose from (see RULE)."""
    d = df[(df["target"] == "container") & (df["image_kind"] != "null")]
    d = d[d["gate_passed"].fillna(False).astype(bool)]
    d = d[d["model_sha256"].notna() & (d["model_sha256"] == d["accuracy_sha256"]).fillna(False)]
    d = d[d["top1_accuracy_pct"].astype("Float64").fillna(-1.0) >= min_top1_pct()]
    d = d[d["errors"].fillna(0) == 0]
    d = d[d["warm_client_p99_ms"].notna() & (d["warm_client_p99_ms"] <= budget_ms)]
    return d


def pick(df: pd.DataFrame, budget_ms: float, architecture: str = "x86_64") -> pd.Series | None:
    """The winning row, or None when nothing qualifies."""
    cost = f"cost_per_1m_{architecture}_usd"
    d = eligible(df, budget_ms)
    d = d[d[cost].notna()]
    if d.empty:
        return None
    best = d[cost].min()
    tied = d[d[cost] <= best + COST_TIE_USD]
    tied = tied.assign(_size=tied["image_compressed_bytes"].astype("Float64").fillna(float("inf")))
    return tied.sort_values(["_size", "warm_client_p99_ms", "image"]).drop(columns="_size").iloc[0]


def _plain(v: Any) -> Any:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return None
    return v.item() if hasattr(v, "item") else v


def to_json(row: pd.Series, budget_ms: float, architecture: str = "x86_64") -> dict[str, Any]:
    """winner.json as docs/ARCHITECTURE.md fixes it."""
    return {
        "image": row["image"],
        "image_kind": row["image_kind"],
        "runtime": row["runtime"],
        "model": row["model"],
        "variant": row["variant"],
        "memory_mb": int(row["memory_mb"]),
        "architecture": architecture,
        "threads": int(row["threads"]) if pd.notna(row["threads"]) else 1,
        "metrics": {k: _plain(row[k]) for k in METRICS if k in row.index},
        "rule": RULE.format(budget=budget_ms, arch=architecture, min_top1=min_top1_pct()),
        "run_id": row["run_id"],
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write(
    df: pd.DataFrame, path: Path, budget_ms: float, architecture: str = "x86_64"
) -> dict[str, Any] | None:
    """Pick and write winner.json; with no winner, remove a stale file and return None."""
    row = pick(df, budget_ms, architecture)
    if row is None:
        if path.is_file():
            path.unlink()
        return None
    doc = to_json(row, budget_ms, architecture)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return doc
