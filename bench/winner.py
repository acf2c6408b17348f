"""The winner rule: what `deploy` ships (results/winner.json).

RULE: among container cells that pass the accuracy gate (results/accuracy.csv: the variant agrees with its
TensorFlow reference, measured on the very bytes the cell served: the accuracy row's sha256 equals the
cell's model_sha256, and the model's test top-1 is at least ``min_top1`` (bench Config's BENCH_MIN_TOP1_PCT,
default 50 %), so a
degenerate model that always answers one class cannot win by being cheap) and answered every request
without error, keep those whose warm p99 (client side) is within the latency budget; the lowest cost per
1M requests (x86_64 prices) wins. Cost is uncertain: with the raw samples (bench/samples.py) every cell
carries a 95 % bootstrap interval (bench/cost.py cost_interval), and the cells whose interval overlaps the
cheapest cell's are a statistical tie (without samples: costs within one cent per 1M). A tie is broken by
the smaller compressed image, then the lower warm p99 (TIE_BREAKS says why); winner.json names the tie set
and the criterion that decided. The 2026-11-25 run had ORT float32-opt at $0.387555 and the winner at
$0.388160: a one-cent tie won on image size. The null image (no model) never wins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from bench import cost

RULE = (
    "Among container cells that pass the accuracy gate (measured on the same sha256; "
    "top-1 >= {min_top1:g} %) and had no errors, "
    "with warm p99 <= {budget:g} ms: "
    "lowest cost per 1M requests ({arch} prices); cells whose 95 % cost intervals overlap the cheapest "
    "tie (one cent per 1M without raw samples) and go to the smaller compressed image (whole MB), then the "
    "lower point cost, then the lower p99. "
    "The null image never wins."
)
COST_TIE_USD = 0.01
#: The model-quality floor of the accuracy gate when the caller passes none (bench Config.min_top1_pct).
MIN_TOP1_PCT = 50.0


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


def eligible(df: pd.DataFrame, budget_ms: float, min_top1: float = MIN_TOP1_PCT) -> pd.DataFrame:
    """Rows the rule may choose from (see RULE); threads experiments (MODEL_THREADS forced by
    BENCH_THREADS) are measurements of a setting, not shippable cells."""
    d = df[(df["target"] == "container") & (df["image_kind"] != "null")]
    if "threads_forced" in d:
        d = d[~d["threads_forced"].fillna(False).astype(bool)]
    d = d[d["gate_passed"].fillna(False).astype(bool)]
    d = d[d["model_sha256"].notna() & (d["model_sha256"] == d["accuracy_sha256"]).fillna(False)]
    d = d[d["top1_accuracy_pct"].astype("Float64").fillna(-1.0) >= min_top1]
    d = d[d["errors"].fillna(0) == 0]
    d = d[d["warm_client_p99_ms"].notna() & (d["warm_client_p99_ms"] <= budget_ms)]
    return d


CONFIDENCE = 0.95
#: Tie-break order inside a statistical tie, and why each criterion is there (winner.json says which decided).
TIE_BREAKS = (
    (
        "image size",
        "_size",
        "the smaller compressed image (in whole MB: a few KB decide nothing): on Lambda a container image's "
        "cold start and its ECR storage grow with its size, which this host's warm page cache hides",
    ),
    ("point cost", "cost", "the lower point cost: the images are the same size to the MB"),
    ("warm p99", "warm_client_p99_ms", "the lower warm p99: the tail latency users feel"),
    ("image name", "image", "the image name, only so the choice is deterministic"),
)
#: Compressed sizes are compared in units of this many bytes. The 2026-11-25 quick run had TFLite int8
#: (79,278,580 B, $0.435) win over full-int8 (79,287,733 B, $0.422) on 9 KB; both are 79 MB.
SIZE_UNIT_BYTES = 1_000_000


def size_key(d: pd.DataFrame) -> pd.Series:
    """Compressed size in whole MB (unknown: last)."""
    b = d["image_compressed_bytes"].astype("Float64")
    return (b / SIZE_UNIT_BYTES).round().fillna(float("inf"))


@dataclass
class Decision:
    """The winner with its evidence: every eligible cell's cost interval, the tie set, the tie-break."""

    winner: pd.Series
    cells: pd.DataFrame  # eligible cells: cost, cost_low, cost_high, n_warm, n_cold (one row per cell)
    tie_set: pd.DataFrame  # cells whose interval overlaps the best cell's, in tie-break order
    decided_by: str  # "cost" (no tie) or one of TIE_BREAKS' names
    why: str
    basis: str  # how the intervals were obtained
    repeats: int = 1
    wins: dict[tuple[str, int], int] = field(default_factory=dict)


def _with_intervals(d: pd.DataFrame, col: str, arch: str, pooled: dict[Any, Any] | None) -> pd.DataFrame:
    d = d.drop_duplicates(["image", "memory_mb"]).copy()
    d["cost"], d["cost_low"], d["cost_high"], d["n_warm"], d["n_cold"] = d[col], None, None, 0, 0
    for i, r in d.iterrows():
        s = (pooled or {}).get((r["image"], int(r["memory_mb"])))
        if s is None or not s.warm_ms:
            continue
        frac = float(r["cold_fraction"]) if pd.notna(r.get("cold_fraction")) else 0.0
        pt, lo, hi = cost.cost_interval(
            int(r["memory_mb"]), s.warm_ms, s.cold_init_ms, s.cold_duration_ms, frac, arch, CONFIDENCE
        )
        d.loc[i, ["cost", "cost_low", "cost_high", "n_warm", "n_cold"]] = [
            pt,
            lo,
            hi,
            len(s.warm_ms),
            len(s.cold_init_ms),
        ]
    return d


def _tie_set(d: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    best = d.loc[d["cost"].astype(float).idxmin()]
    if d["cost_low"].notna().all():
        tied = d[d["cost_low"].astype(float) <= float(best["cost_high"])]
        basis = f"{CONFIDENCE:.0%} bootstrap intervals over the measured warm and cold samples"
    else:  # no raw samples (an old run): the one-cent band of the previous rule
        tied = d[d["cost"].astype(float) <= float(best["cost"]) + COST_TIE_USD]
        basis = f"no raw samples: costs within ${COST_TIE_USD} per 1M tie"
    tied = tied.assign(_size=size_key(tied))
    return tied.sort_values([c for _, c, _ in TIE_BREAKS]), basis


def _decided_by(tied: pd.DataFrame) -> tuple[str, str]:
    if len(tied) == 1:
        return "cost", "the only cell in its cost interval: cheapest outright"
    first, second = tied.iloc[0], tied.iloc[1]
    for name, col, why in TIE_BREAKS:
        if first[col] != second[col]:
            return name, why
    return TIE_BREAKS[-1][0], TIE_BREAKS[-1][2]


def repeat_wins(
    d: pd.DataFrame, arch: str, by_repeat: dict[Any, Any]
) -> tuple[int, dict[tuple[str, int], int]]:
    """(K, {(image, memory_mb): repeats won}): in each repeat, the eligible cell of lowest cost from that
    repeat's own samples (ties: smaller image) wins."""
    reps = sorted({k[2] for k in by_repeat})
    wins: dict[tuple[str, int], int] = {}
    for rep in reps:
        best: tuple[float, float, str, int] | None = None
        for _, r in d.iterrows():
            s = by_repeat.get((r["image"], int(r["memory_mb"]), rep))
            if s is None or not s.warm_ms:
                continue
            frac = float(r["cold_fraction"]) if pd.notna(r.get("cold_fraction")) else 0.0
            pt, _, _ = cost.cost_interval(
                int(r["memory_mb"]), s.warm_ms, s.cold_init_ms, s.cold_duration_ms, frac, arch, n_boot=1
            )
            cand = (pt, float(r["_size"]) if "_size" in r else 0.0, str(r["image"]), int(r["memory_mb"]))
            best = cand if best is None or cand < best else best
        if best is not None:
            wins[(best[2], best[3])] = wins.get((best[2], best[3]), 0) + 1
    return len(reps), wins


def decide(
    df: pd.DataFrame,
    budget_ms: float,
    architecture: str = "x86_64",
    pooled: dict[Any, Any] | None = None,
    by_repeat: dict[Any, Any] | None = None,
    min_top1: float = MIN_TOP1_PCT,
) -> Decision | None:
    """The rule (module docstring) with uncertainty: ``pooled``/``by_repeat`` are bench/samples.py reads."""
    col = f"cost_per_1m_{architecture}_usd"
    d = eligible(df, budget_ms, min_top1)
    d = d[d[col].notna()]
    if d.empty:
        return None
    d = _with_intervals(d, col, architecture, pooled)
    tied, basis = _tie_set(d)
    decided_by, why = _decided_by(tied)
    k, wins = (
        repeat_wins(
            d.assign(_size=size_key(d)),
            architecture,
            by_repeat,
        )
        if by_repeat
        else (1, {})
    )
    return Decision(tied.iloc[0], d, tied, decided_by, why, basis, max(k, 1), wins)


def pick(
    df: pd.DataFrame, budget_ms: float, architecture: str = "x86_64", min_top1: float = MIN_TOP1_PCT
) -> pd.Series | None:
    """The winning row, or None when nothing qualifies (no raw samples: the one-cent tie band)."""
    dec = decide(df, budget_ms, architecture, min_top1=min_top1)
    return None if dec is None else dec.winner


def _plain(v: Any) -> Any:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return None
    return v.item() if hasattr(v, "item") else v


def _cell(r: pd.Series) -> dict[str, Any]:
    return {
        "image": r["image"],
        "memory_mb": int(r["memory_mb"]),
        "cost_per_1m_usd": _plain(r["cost"]),
        "low": _plain(r["cost_low"]),
        "high": _plain(r["cost_high"]),
        "image_compressed_bytes": _plain(r["image_compressed_bytes"]),
    }


def evidence(dec: Decision) -> dict[str, Any]:
    """winner.json's uncertainty fields: the winner's cost interval, the tie set, tie-break, repeats."""
    w = dec.winner
    return {
        "cost_interval_usd": {
            "point": _plain(w["cost"]),
            "low": _plain(w["cost_low"]),
            "high": _plain(w["cost_high"]),
            "confidence": CONFIDENCE,
            "n_warm": int(w["n_warm"]),
            "n_cold": int(w["n_cold"]),
            "basis": dec.basis,
        },
        "tie_set": [_cell(r) for _, r in dec.tie_set.iterrows()],
        "tie_break": {"decided_by": dec.decided_by, "why": dec.why},
        "repeats": {
            "k": dec.repeats,
            "won": dec.wins.get((str(w["image"]), int(w["memory_mb"])), 0) if dec.wins else None,
            "wins": {f"{img}@{mem}": n for (img, mem), n in sorted(dec.wins.items())},
        },
    }


def to_json(
    row: pd.Series,
    budget_ms: float,
    architecture: str = "x86_64",
    dec: Decision | None = None,
    min_top1: float = MIN_TOP1_PCT,
) -> dict[str, Any]:
    """winner.json as docs/ARCHITECTURE.md fixes it (+ the evidence fields when ``dec`` is given)."""
    doc = {
        "image": row["image"],
        "image_kind": row["image_kind"],
        "runtime": row["runtime"],
        "model": row["model"],
        "variant": row["variant"],
        "memory_mb": int(row["memory_mb"]),
        "architecture": architecture,
        "threads": int(row["threads"]) if pd.notna(row["threads"]) else 1,
        "metrics": {k: _plain(row[k]) for k in METRICS if k in row.index},
        "rule": RULE.format(budget=budget_ms, arch=architecture, min_top1=min_top1),
        "run_id": row["run_id"],
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return doc | (evidence(dec) if dec is not None else {})


def write(
    df: pd.DataFrame,
    path: Path,
    budget_ms: float,
    architecture: str = "x86_64",
    samples_csv: Path | None = None,
    min_top1: float = MIN_TOP1_PCT,
) -> dict[str, Any] | None:
    """Decide and write winner.json (with the raw samples of ``samples_csv`` when it exists: intervals,
    repeat wins); with no winner, remove a stale file and return None."""
    from bench import samples

    have = samples_csv is not None and samples_csv.is_file()
    pooled = samples.read(samples_csv) if have and samples_csv else None
    by_repeat = samples.read(samples_csv, by_repeat=True) if have and samples_csv else None
    dec = decide(df, budget_ms, architecture, pooled, by_repeat, min_top1)
    return write_decision(dec, path, budget_ms, architecture, min_top1)


def write_decision(
    dec: Decision | None,
    path: Path,
    budget_ms: float,
    architecture: str = "x86_64",
    min_top1: float = MIN_TOP1_PCT,
) -> dict[str, Any] | None:
    """winner.json for a decision already made; with no winner, remove a stale file and return None."""
    if dec is None:
        if path.is_file():
            path.unlink()
        return None
    doc = to_json(dec.winner, budget_ms, architecture, dec, min_top1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return doc
