"""Synthetic benchmark rows (bench/measure/schema.py's columns) for the winner and verdict tests."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.decide import winner
from bench.measure import schema


def cell(
    image: str,
    cost: float,
    p99: float = 100.0,
    gate: bool | None = True,
    size: int = 100_000_000,
    mem: int = 1769,
    errors: int = 0,
    target: str = "container",
    top1: float = 77.0,
    sha: str = "a" * 64,
    acc_sha: str | None = None,
) -> dict[str, object]:
    kind, _, rest = image.removeprefix("clothing-").partition(":")
    model, _, variant = rest.partition("-")
    return {
        "run_id": "run-1",
        "target": target,
        "status": "ok",
        "image": image,
        "image_kind": kind,
        "model": model,
        "variant": variant,
        "runtime": kind.split("-")[0],
        "memory_mb": mem,
        "threads": 1,
        "cost_per_1m_x86_64_usd": cost,
        "cost_per_1m_arm64_usd": cost * 0.8,
        "warm_client_p99_ms": p99,
        "gate_passed": gate,
        "model_sha256": sha,
        "accuracy_sha256": sha if acc_sha is None else acc_sha,
        "image_compressed_bytes": size,
        "errors": errors,
        "top1_accuracy_pct": top1,
    }


def frame(*cells: dict[str, object]) -> pd.DataFrame:
    return schema.to_frame(cells)


def records(df: pd.DataFrame) -> list[schema.Row]:
    """The typed records of a frame of synthetic rows (what decide reads)."""
    return schema.records(df)


def inp(
    df: pd.DataFrame, budget_ms: float, by_repeat: winner.BySample | None = None, **rule: Any
) -> winner.DecisionInput:
    """The decision's input for the rows of ``df`` under a rule of ``budget_ms`` (``rule``: the Rule's other
    fields)."""
    return winner.DecisionInput(records(df), winner.Rule(budget_ms, **rule), by_repeat)
