"""The cold-start study's rows, typed: one dataclass per CSV, its columns the dataclass's fields.

Written by bench/measure/coldstart/study.py, read by bench/report/coldstart.py; the CSV is only the edge
(``write``/``read``), so a column is spelled once, here. Files written before a field existed read back
with that field None (results/coldstart-modelload.csv predates the anonymous/file-backed split).
"""

from __future__ import annotations

import csv
import dataclasses
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from core.paths import RESULTS_DIR

SAMPLES_CSV = RESULTS_DIR / "coldstart.csv"
MODELLOAD_CSV = RESULTS_DIR / "coldstart-modelload.csv"
IMPORTS_CSV = RESULTS_DIR / "coldstart-imports.csv"
ORTWARM_CSV = RESULTS_DIR / "coldstart-ortwarm.csv"


@dataclass(frozen=True)
class ColdSampleRow:
    """One cold start of one study cell: container start, the emulator's INIT REPORT and first REPORT,
    the handler's INIT split (``meta``), the first and warm inference, peak memory (ms, MB)."""

    run_id: str
    round: int
    order: int
    label: str  # before, after, after+warmup, floor, seed
    kind: str  # image kind, or boot / seed
    model: str
    variant: str
    tag: str
    cpus: float
    memory_mb: int
    env: str  # KEY=VALUE added to the container's environment ("" for none)
    container_ms: float | None = None
    init_report_ms: float | None = None
    first_request_ms: float | None = None
    first_report_ms: float | None = None
    cold_total_ms: float | None = None
    handler_init_ms: float | None = None
    library_import_ms: float | None = None
    load_ms: float | None = None
    warmup_ms: float | None = None
    first_preprocess_ms: float | None = None
    first_inference_ms: float | None = None
    warm_inference_ms: float | None = None
    warm_client_ms: float | None = None
    peak_mb: float | None = None
    loadavg1: float | None = None
    error: str = ""


@dataclass(frozen=True)
class ModelLoadRow:
    """One fresh process loading one artefact with one option inside an after image (scripts/modelload.py)."""

    model: str
    runtime: str
    artefact: str
    option: str
    cpus: float
    memory_mb: int
    import_ms: float | None = None
    load_ms: float | None = None
    first_ms: float | None = None
    second_ms: float | None = None
    warm_ms: float | None = None
    mapped: bool | None = None
    rss_mb: float | None = None
    peak_rss_mb: float | None = None
    rss_anon_mb: float | None = None
    rss_file_mb: float | None = None
    loadavg1: float | None = None


@dataclass(frozen=True)
class ImportRow:
    """``python3 -X importtime -c 'import lambda_function'`` in one fresh null container."""

    label: str
    trial: int
    cpus: float
    memory_mb: int
    handler_import_ms: float | None = None
    fetch_import_ms: float | None = None
    modules: int | None = None
    loadavg1: float | None = None


@dataclass(frozen=True)
class OrtWarmRow:
    """Warm inference of .onnx (ALL) and its ORT-format copy, runs alternated in one process
    (scripts/ortwarm.py)."""

    model: str
    trial: int
    cpus: float
    onnx_all_ms: float | None = None
    ort_all_ms: float | None = None
    loadavg1: float | None = None


R = TypeVar("R")


def columns(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def kinds(cls: type) -> dict[str, type]:
    """Each field's base type (float for ``float | None``)."""
    return {f.name: _kind(cls, f.name) for f in fields(cls)}


def _kind(cls: type, name: str) -> type:
    """The field's base type (float for ``float | None``)."""
    hint = typing.get_type_hints(cls)[name]
    if isinstance(hint, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def _parse(kind: type, raw: str) -> Any:
    if raw == "":
        return "" if kind is str else None
    if kind is bool:
        return raw == "True"
    if kind is int:
        return int(float(raw))
    return kind(raw)


def read(path: Path, cls: type[R]) -> list[R]:
    """Every row of ``path`` as ``cls``; columns the file lacks are None, columns the class lacks ignored."""
    assert dataclasses.is_dataclass(cls)
    found = kinds(cls)
    with open(path, newline="") as f:
        return [
            cls(**{k: _parse(found[k], v) for k, v in row.items() if k in found}) for row in csv.DictReader(f)
        ]


def _cell(v: object, digits: int | None) -> object:
    if isinstance(v, float) and digits is not None:
        return round(v, digits)
    return "" if v is None else v


def write(path: Path, cls: type, rows: Iterable[Any], digits: int | None = None) -> None:
    """``rows`` (all of ``cls``) as ``path``; floats rounded to ``digits`` when given."""
    with Appender(path, cls, digits) as out:
        for r in rows:
            out.add(r)


class Appender:
    """A CSV written row by row (a stopped run keeps what it measured)."""

    def __init__(self, path: Path, cls: type, digits: int | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.cls, self.digits = cls, digits
        self.f = open(path, "w", newline="")  # noqa: SIM115 (closed by close())
        self.w = csv.writer(self.f)
        self.w.writerow(columns(cls))

    def add(self, row: Any) -> None:
        self.w.writerow([_cell(getattr(row, k), self.digits) for k in columns(self.cls)])
        self.f.flush()

    def close(self) -> None:
        self.f.close()

    def __enter__(self) -> Appender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def as_dicts(rows: Sequence[Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(r) for r in rows]
