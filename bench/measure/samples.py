"""Raw per-cell samples beside a run CSV: what the cost interval and the repeat wins are computed from.

``results/samples/<run_id>.csv`` (long format, one line per measured request; its own folder, so the
run-CSV globs of results/runs/ never meet it)::

    run_id, repeat, image, memory_mb, kind, handler_ms, init_ms, client_ms

* ``kind`` = ``warm`` (one warm invocation: ``handler_ms`` = its billed duration source, ``client_ms``
  = round trip) or ``cold`` (one accepted cold start: ``init_ms`` = the init Lambda bills for a container
  image, ``handler_ms`` = that first request's own duration, ``client_ms`` = the cold total);
* ``repeat`` = 0..K-1 with ``BENCH_REPEATS=K`` (the matrix run K times in fresh random orders).

The run CSV keeps one row per cell with medians/percentiles; this file keeps every sample, so a report
can bootstrap over them (repeats, then samples: bench/decide/cost.py ``line_draws``) and say in how many
repeats
each cell won.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure.cells import Cell
from core.fileio import atomic_path

COLUMNS = ("run_id", "repeat", "image", "memory_mb", "kind", "handler_ms", "init_ms", "client_ms")
KINDS = ("warm", "cold")


@dataclass
class CellSamples:
    """Every sample of one (image, memory) cell, optionally of one repeat only."""

    warm_ms: list[float] = field(default_factory=list)  # warm billed-duration sources (handler)
    warm_client_ms: list[float] = field(default_factory=list)
    cold_init_ms: list[float] = field(default_factory=list)
    cold_duration_ms: list[float] = field(default_factory=list)
    cold_client_ms: list[float] = field(default_factory=list)  # cold total: docker run -> first answer


def path_for(run_csv: Path) -> Path:
    """``results/runs/<run_id>.csv`` -> ``results/samples/<run_id>.csv``."""
    return run_csv.parent.parent / "samples" / run_csv.name


def rows_for_cell(
    run_id: str,
    repeat: int,
    image: str,
    memory_mb: int,
    warm: Iterable[tuple[float, float]],
    cold: Iterable[tuple[float, float, float]],
) -> list[dict[str, Any]]:
    """Lines for one cell: warm = (handler_ms, client_ms) pairs, cold = (init_ms, handler_ms, total_ms)."""
    base = {"run_id": run_id, "repeat": repeat, "image": image, "memory_mb": memory_mb}
    out = [dict(base, kind="warm", handler_ms=h, init_ms="", client_ms=c) for h, c in warm]
    out += [dict(base, kind="cold", handler_ms=h, init_ms=i, client_ms=t) for i, h, t in cold]
    return out


def write(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write (replace) a samples file; unknown kinds and missing columns are an error."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="raise")
        w.writeheader()
        for r in rows:
            if r.get("kind") not in KINDS:
                raise ValueError(f"sample kind must be one of {KINDS}, got {r.get('kind')!r}")
            w.writerow({c: r[c] for c in COLUMNS})
    return path


def _f(v: str) -> float | None:
    return float(v) if v not in ("", None) else None


def read(path: Path, by_repeat: bool = False) -> dict[Cell, CellSamples]:
    """{cell: CellSamples} pooled over repeats (the cell at repeat 0), or per repeat (the cell of each
    repeat). Only the catalogue's images have samples (bench/measure/run.py's container cells): a line
    naming another image is skipped."""
    out: dict[Cell, CellSamples] = {}
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        if tuple(r.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path}: columns {r.fieldnames} differ from {COLUMNS}")
        for line in r:
            try:
                key = Cell.of_tag(
                    line["image"], int(line["memory_mb"]), repeat=int(line["repeat"]) if by_repeat else 0
                )
            except ValueError:
                continue
            cell = out.setdefault(key, CellSamples())
            h, c = _f(line["handler_ms"]), _f(line["client_ms"])
            if line["kind"] == "warm" and h is not None:
                cell.warm_ms.append(h)
                if c is not None:
                    cell.warm_client_ms.append(c)
            elif line["kind"] == "cold" and h is not None and _f(line["init_ms"]) is not None:
                cell.cold_init_ms.append(float(line["init_ms"]))
                cell.cold_duration_ms.append(h)
                if c is not None:
                    cell.cold_client_ms.append(c)
    return out
