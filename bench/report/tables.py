"""The benchmark CSV as the report reads it: container rows in display order, labels, number formatting."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from bench.decide import bars
from bench.decide.bars import Labelled
from bench.measure.schema import Row
from core.catalogue import IMAGE_KINDS

MB = 1e6
KIND_ORDER = {k: i for i, k in enumerate(IMAGE_KINDS)}


def fmt(v: Any, digits: int = 1) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def render(header: Sequence[str], rows: Iterable[Sequence[Any]], digits: dict[str, int] | None = None) -> str:
    """The report's one table renderer: plain markdown (no tabulate dependency), a cell per value formatted
    by :func:`fmt` with ``digits[column]`` decimals (default 1)."""
    rows = list(rows)
    if not rows:
        return "_no data_\n"
    places = [(digits or {}).get(h, 1) for h in header]
    head = "| " + " | ".join(header) + " |\n|" + "|".join(" --- " for _ in header) + "|\n"
    body = "".join(
        "| " + " | ".join(fmt(v, d) for v, d in zip(r, places, strict=True)) + " |\n" for r in rows
    )
    return head + body


def md_table(df: pd.DataFrame, digits: dict[str, int] | None = None) -> str:
    """A frame through :func:`render` (its columns the header, its rows the values)."""
    return render(list(df.columns), ([r[c] for c in df.columns] for _, r in df.iterrows()), digits)


def label(r: pd.Series, models: int, repeats: int = 1) -> str:
    """kind:variant (model/ when several), `t=N forced` for a BENCH_THREADS cell, `rK` when repeated."""
    base = f"{r['image_kind']}:{r['variant']}"
    base = f"{r['model']}/{base}" if models > 1 else base
    forced = r.get("threads_forced")
    if forced is not None and pd.notna(forced) and bool(forced):  # numpy's True is not `True`
        base += f" t={r['threads']} forced"
    return base + (f" r{r['repeat']}" if repeats > 1 and pd.notna(r.get("repeat")) else "")


def _last(v: Any) -> tuple[bool, Any]:
    """A sort key that puts a missing value last (as a frame's sort does)."""
    return (v is None, v if v is not None else 0)


def labelled(rows: Sequence[Row]) -> list[Labelled]:
    """The run's good container records, every repeat and thread setting, in the report's order (model,
    image kind, variant, memory, threads, repeat), each with its :func:`label` (the rows of
    :func:`containers`, as records)."""
    c = [r for r in rows if r.target == "container" and r.status == "ok"]
    c.sort(
        key=lambda r: (
            _last(r.model), KIND_ORDER.get(str(r.image_kind), 99), _last(r.variant), _last(r.memory_mb),
            _last(r.threads), _last(r.repeat),
        )
    )  # fmt: skip
    models = len({r.model for r in c if r.model is not None})
    reps = len({r.repeat for r in c if r.repeat is not None})
    return [Labelled(label_of(r, models, reps), r) for r in c]


def label_of(r: Row, models: int, repeats: int = 1) -> str:
    """:func:`label` of a record."""
    base = f"{r.image_kind}:{r.variant}"
    base = f"{r.model}/{base}" if models > 1 else base
    if r.threads_forced:
        base += f" t={r.threads} forced"
    return base + (f" r{r.repeat}" if repeats > 1 and r.repeat is not None else "")


def _cell_of(r: Row) -> tuple[Any, ...]:
    """The cell a record belongs to over its repeats (bench/decide/bars.py ``cells`` groups by it too)."""
    return (r.model, r.image, r.image_kind, r.variant, r.memory_mb)


def pooled_cold(rows: Sequence[Row]) -> list[tuple[Labelled, list[float]]]:
    """One entry per cell (policy threads, bars.cells: medians over the repeats) with the cold starts of
    every repeat pooled (a repeat alone has too few for an interval)."""
    pooled: dict[tuple[Any, ...], list[float]] = {}
    for r in rows:
        if r.target == "container" and r.status == "ok" and not r.forced:
            got = [float(v) for v in (r.cold.total_samples_ms or "").split(";") if v]
            pooled.setdefault(_cell_of(r), []).extend(got)
    return [(x, pooled.get(_cell_of(x.row), [])) for x in bars.cells(rows)]


def containers(df: pd.DataFrame) -> pd.DataFrame:
    c = df[(df["target"] == "container") & (df["status"] == "ok")].copy()
    c["_order"] = c["image_kind"].map(KIND_ORDER).fillna(99)
    keys = ["model", "_order", "variant", "memory_mb", *(k for k in ("threads", "repeat") if k in c)]
    c = c.sort_values(keys).drop(columns="_order")
    reps = c["repeat"].nunique() if "repeat" in c else 1
    c["label"] = [label(r, c["model"].nunique(), reps) for _, r in c.iterrows()]
    return c
