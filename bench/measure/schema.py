"""The benchmark's measurement record (:class:`Row`) and the one CSV schema generated from it:
results/runs/<run_id>.csv and results/latest.csv.

A row is typed: identity fields, then one frozen sub-record per measurement (image size, cold start, cold
start with a cold page cache, warm latency, memory, in-process load, accuracy, container agreement, cost,
soak, environment, library versions, run settings, provenance). The CSV columns, their order and their
dtypes are generated from these types (:data:`COLUMNS`): a column is a field, named by its sub-record's
prefix + the field name unless the field says otherwise, its dtype from the field's type. Units are in the
names (``_ms``, ``_bytes``, ``_pct``, ``_usd``). Adding a column = one field here; docs/bench.md's column
table is generated from the same types (:func:`columns_doc`, checked by tests/unit/test_bench_schema.py).

The records cross the CSV at two edges only: :func:`serialise` (capture: records -> CSV) and :func:`parse`
(the report: CSV -> records). Every target (inprocess, container, aws, soak) writes the same columns; a
cell fills what it measured and leaves the rest None (empty in the CSV).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.measure.cells import Cell
from core import catalogue
from core.catalogue import HOST_LIBRARIES
from core.fileio import atomic_path

S, N, F, B = "string", "Int64", "float64", "boolean"  # N = nullable integer
_DTYPE = {str: S, int: N, float: F, bool: B}


def _col(name: str) -> Any:
    """A field whose column is ``name`` instead of its record's prefix + the field name."""
    return field(default=None, metadata={"column": name})


@dataclass(frozen=True)
class ImageSize:
    """The image as docker reports it: sizes, and the layers split at the Dockerfiles' fixed order."""

    PREFIX: ClassVar[str] = "image_"
    uncompressed_bytes: int | None = None
    compressed_bytes: int | None = None
    base_bytes: int | None = None
    runtime_layer_bytes: int | None = None
    model_bytes: int | None = None
    handler_bytes: int | None = None


@dataclass(frozen=True)
class ColdStart:
    """N fresh containers: medians with a 95 % order-statistic CI, and every total (``;``-joined)."""

    PREFIX: ClassVar[str] = "cold_"
    n: int | None = None
    rejected_n: int | None = None
    total_median_ms: float | None = None
    total_ci_low_ms: float | None = None
    total_ci_high_ms: float | None = None
    total_min_ms: float | None = None
    total_max_ms: float | None = None
    container_start_median_ms: float | None = None
    first_request_median_ms: float | None = None
    first_invoke_median_ms: float | None = None  # the handler's own duration on the cold request
    init_median_ms: float | None = None
    init_ci_low_ms: float | None = None
    init_ci_high_ms: float | None = None
    first_inference_median_ms: float | None = None
    total_samples_ms: str | None = None

    @property
    def totals(self) -> list[float]:
        """Every cold total of the row (ms)."""
        return [float(v) for v in (self.total_samples_ms or "").split(";") if v]


@dataclass(frozen=True)
class ColdStartCache:
    """Cold starts with a cold host page cache (drop_caches before each; empty when not root)."""

    PREFIX: ClassVar[str] = "cold_cache_"
    n: int | None = None
    total_median_ms: float | None = None
    total_ci_low_ms: float | None = None
    total_ci_high_ms: float | None = None
    container_start_median_ms: float | None = None
    init_median_ms: float | None = None


@dataclass(frozen=True)
class WarmLatency:
    """M invocations after warm-up; the emulator's REPORT line of each (the whole invocation, as billed)."""

    PREFIX: ClassVar[str] = "warm_"
    n: int | None = None
    client_p50_ms: float | None = None
    client_p90_ms: float | None = None
    client_p99_ms: float | None = None
    client_mean_ms: float | None = None
    handler_p50_ms: float | None = None
    handler_p90_ms: float | None = None
    handler_p99_ms: float | None = None
    handler_mean_ms: float | None = None
    inference_p50_ms: float | None = None
    billed_mean_ms: float | None = None
    report_n: int | None = None
    report_duration_p50_ms: float | None = None
    report_duration_p99_ms: float | None = None
    billed_p50_ms: float | None = None


@dataclass(frozen=True)
class Memory:
    """The container cgroup's peak usage (page cache included) and anonymous memory."""

    PREFIX: ClassVar[str] = ""
    peak_memory_bytes: int | None = None
    rss_bytes: int | None = None


@dataclass(frozen=True)
class InProcessLoad:
    """In-process model load in a fresh python process: library import + load."""

    PREFIX: ClassVar[str] = "inproc_"
    load_ms: float | None = None
    reload_ms: float | None = None


@dataclass(frozen=True)
class Accuracy:
    """Joined from results/accuracy.csv by the artefact's bytes (bench/measure/accuracy.py)."""

    PREFIX: ClassVar[str] = ""
    top1_accuracy_pct: float | None = None
    agreement_pct: float | None = None
    max_abs_dprob: float | None = None
    gate_passed: bool | None = None
    accuracy_sha256: str | None = None  # the artefact the accuracy row measured (== model_sha256 or stale)


@dataclass(frozen=True)
class ContainerAgreement:
    """The container's answers against the in-process adapter's on the same fixed images."""

    PREFIX: ClassVar[str] = "container_"
    agreement_pct: float | None = None
    max_abs_dlogit: float | None = None
    n: int | None = _col("agreement_n")


@dataclass(frozen=True)
class Cost:
    """Cost per 1M requests at the row's cold share, from this repeat's samples (bench/decide/cost.py)."""

    PREFIX: ClassVar[str] = ""
    cold_fraction: float | None = None
    init_billed_ms: float | None = None
    cost_per_1m_x86_64_usd: float | None = None
    cost_per_1m_arm64_usd: float | None = None
    cost_arm64_basis: str | None = None  # what the arm64 cost is made of (x86_64 timings at arm64 prices)

    def usd(self, architecture: str) -> float | None:
        """The cost per 1M at ``architecture``'s prices."""
        return typing.cast(float | None, getattr(self, f"cost_per_1m_{architecture}_usd"))


@dataclass(frozen=True)
class Soak:
    """A long run of good and bad requests against one container: errors and memory growth."""

    PREFIX: ClassVar[str] = "soak_"
    n: int | None = None
    bad_n: int | None = None
    unexpected_errors: int | None = None
    typed_errors_ok: int | None = None
    mem_warm_bytes: int | None = None
    mem_end_bytes: int | None = None
    mem_growth_pct: float | None = None
    peak_warm_bytes: int | None = None
    peak_end_bytes: int | None = None
    peak_growth_pct: float | None = None


@dataclass(frozen=True)
class Environment:
    """The host and the code the row was measured with (every row)."""

    PREFIX: ClassVar[str] = ""
    git_sha: str | None = None
    git_dirty: bool | None = None
    cpu_model: str | None = None
    cpu_cores: int | None = None
    docker_version: str | None = None
    storage_driver: str | None = None
    cgroup_version: str | None = None
    python: str | None = None  # the host's python (the bench's own)
    image_python: str | None = None  # the python inside the image the cell ran


#: The library version columns (every row): one column per library of the host venv (core/catalogue.py).
VERSION_COLUMNS: tuple[str, ...] = tuple(lib.name for lib in HOST_LIBRARIES)


@dataclass(frozen=True)
class RunSettings:
    """How the run was made (every row)."""

    PREFIX: ClassVar[str] = ""
    pytest_benchmark: str | None = None
    timestamp: str | None = None
    quick: bool | None = None
    cold_n_requested: int | None = None
    warm_m_requested: int | None = None


@dataclass(frozen=True)
class Provenance:
    """What else could move a figure: the cell order's seed, the host's load, the emulator's build."""

    PREFIX: ClassVar[str] = ""
    bench_seed: int | None = None
    load_avg_before: float | None = None
    load_avg_after: float | None = None
    rie_version: str | None = None
    awslambdaric_version: str | None = None
    git_diff_sha256: str | None = None


TARGETS = ("inprocess", "container", "aws", "soak")
_GROUPS = (
    ImageSize, ColdStart, ColdStartCache, WarmLatency, Memory, InProcessLoad, Accuracy,
    ContainerAgreement, Cost, Soak, Environment, RunSettings, Provenance,
)  # fmt: skip


@dataclass(frozen=True)
class Row:
    """One benchmark row: a cell (or a soak, or an in-process measurement) of one repeat of one run."""

    run_id: str | None = None
    target: str | None = None
    status: str | None = None
    note: str | None = None
    image: str | None = None
    image_kind: str | None = None
    image_id: str | None = None
    model: str | None = None
    variant: str | None = None
    artefact: str | None = None
    runtime: str | None = None
    library: str | None = None
    runtime_version: str | None = None
    model_sha256: str | None = None
    memory_mb: int | None = None
    cpus: float | None = None
    cpus_capped: bool | None = None
    threads: int | None = None
    threads_forced: bool | None = (
        None  # MODEL_THREADS set by BENCH_THREADS (a threads experiment, never wins)
    )
    repeat: int | None = None  # 0..BENCH_REPEATS-1
    size: ImageSize = field(default_factory=ImageSize)
    cold: ColdStart = field(default_factory=ColdStart)
    cold_cache: ColdStartCache = field(default_factory=ColdStartCache)
    warm: WarmLatency = field(default_factory=WarmLatency)
    memory: Memory = field(default_factory=Memory)
    inproc: InProcessLoad = field(default_factory=InProcessLoad)
    accuracy: Accuracy = field(default_factory=Accuracy)
    agreement: ContainerAgreement = field(default_factory=ContainerAgreement)
    cost: Cost = field(default_factory=Cost)
    soak: Soak = field(default_factory=Soak)
    errors: int | None = None
    env: Environment = field(default_factory=Environment)
    versions: Mapping[str, str | None] = field(default_factory=dict)  # VERSION_COLUMNS
    run: RunSettings = field(default_factory=RunSettings)
    provenance: Provenance = field(default_factory=Provenance)

    @property
    def key(self) -> tuple[str, int]:
        """(image, memory_mb): the cell the row measured, across its repeats and thread settings."""
        return str(self.image), int(self.memory_mb or 0)

    @property
    def cell(self) -> Cell:
        """The benchmark cell the row measured (bench/measure/cells.py): image, memory size, forced threads
        (None: the handler's policy) and repeat; an image the catalogue does not name (zip) by its name."""
        mem, threads, rep = int(self.memory_mb or 0), self.threads if self.forced else None, self.repeat or 0
        tag = catalogue.parse_tag(str(self.image))
        if tag is not None:
            return Cell(tag.kind, tag.model, tag.variant, mem, threads, rep, tag.arch)
        return Cell(
            str(self.image_kind), str(self.model), str(self.variant), mem, threads, rep, image=self.image
        )

    @property
    def forced(self) -> bool:
        """A threads experiment (BENCH_THREADS), never a shippable cell."""
        return bool(self.threads_forced)

    def columns(self) -> dict[str, Any]:
        """{column: value} in :data:`NAMES` order (None = empty)."""
        return dict(_values(self))

    @classmethod
    def from_columns(cls, row: Mapping[str, Any]) -> Row:
        """The record of a {column: value} mapping (a capture site's dict, a CSV line); unknown columns and
        unknown targets are an error (a typo would otherwise silently lose a metric)."""
        unknown = set(row) - set(NAMES)
        if unknown:
            raise SchemaError(f"unknown column(s) {sorted(unknown)}; add them to bench/measure/schema.py")
        if row.get("target") not in TARGETS:
            raise SchemaError(f"target must be one of {TARGETS}, got {row.get('target')!r}")
        return _build(cls, "", {k: _plain(v) for k, v in row.items()})

    def replace(self, **kw: Any) -> Row:
        return dataclasses.replace(self, **kw)

    def over(self, base: Row) -> Row:
        """This record where it has a value, ``base`` where it has none, field by field into the
        sub-records: a cell's measurement over its session's environment (run id, machine, versions)."""
        return typing.cast(Row, _over(self, base))


def _over(top: Any, base: Any) -> Any:
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(top):
        a, b = getattr(top, f.name), getattr(base, f.name)
        if dataclasses.is_dataclass(a):
            changes[f.name] = _over(a, b)
        elif isinstance(a, Mapping):
            changes[f.name] = {**b, **{k: v for k, v in a.items() if v is not None}}
        else:
            changes[f.name] = b if a is None else a
    return dataclasses.replace(top, **changes)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _prefix(record: Any) -> str:
    """A sub-record's column prefix (its PREFIX)."""
    return str(record.PREFIX)


def _scalar(tp: Any) -> type:
    """str | None -> str, and so on."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return typing.cast(type, args[0] if args else tp)


def _layout(cls: type = Row, prefix: str = "") -> Iterator[tuple[str, str, str]]:
    """(column, dtype, field path) of every column of ``cls``, in order."""
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if f.name == "versions":
            yield from ((name, S, f"versions[{name}]") for name in VERSION_COLUMNS)
        elif dataclasses.is_dataclass(tp):
            for name, dtype, path in _layout(typing.cast(type, tp), _prefix(tp)):
                yield name, dtype, f"{f.name}.{path}"
        else:
            yield f.metadata.get("column", prefix + f.name), _DTYPE[_scalar(tp)], f.name


def _values(obj: Any) -> Iterator[tuple[str, Any]]:
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if f.name == "versions":
            yield from ((name, v.get(name)) for name in VERSION_COLUMNS)
        elif dataclasses.is_dataclass(v):
            yield from _values(v)
        else:
            yield f.metadata.get("column", _prefix(obj) + f.name if hasattr(obj, "PREFIX") else f.name), v


def _build(cls: type, prefix: str, row: Mapping[str, Any]) -> Any:
    hints, kw = _hints(cls), dict[str, Any]()
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if f.name == "versions":
            kw[f.name] = {name: row.get(name) for name in VERSION_COLUMNS}
        elif dataclasses.is_dataclass(tp):
            kw[f.name] = _build(typing.cast(type, tp), _prefix(tp), row)
        else:
            kw[f.name] = row.get(f.metadata.get("column", prefix + f.name))
    return cls(**kw)


def _plain(v: Any) -> Any:
    """A pandas/numpy cell as a python value (NA/NaN -> None)."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


COLUMNS: tuple[tuple[str, str], ...] = tuple((name, dtype) for name, dtype, _ in _layout())
NAMES: tuple[str, ...] = tuple(name for name, _ in COLUMNS)
DTYPES: dict[str, str] = dict(COLUMNS)
#: Where each column lives in a :class:`Row` (``cold.total_median_ms``), for the column documentation.
FIELDS: dict[str, str] = {name: path for name, _, path in _layout()}


class SchemaError(ValueError):
    """A row or a file does not match the fixed schema."""


def to_frame(rows: Iterable[Row | Mapping[str, Any]]) -> pd.DataFrame:
    """Records (or {column: value} mappings, checked as :meth:`Row.from_columns` checks them) -> DataFrame
    with exactly COLUMNS, in order, cast to their dtypes: what the CSV holds, and what the report's tables
    and plots render from."""
    recs = [r if isinstance(r, Row) else Row.from_columns(r) for r in rows]
    df = pd.DataFrame([r.columns() for r in recs], columns=list(NAMES))
    return cast(df)


def cast(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index)
    for name, dtype in COLUMNS:
        col = df[name] if name in df else pd.Series([None] * len(df), index=df.index)
        if dtype == B:
            col = col.map(_to_bool, na_action="ignore")
        elif dtype in (N, F):
            try:
                col = pd.to_numeric(col, errors="raise")
            except (TypeError, ValueError) as e:
                raise SchemaError(f"column {name}: not numeric ({e})") from None
            if dtype == N:
                col = col.round()
        try:
            out[name] = col.astype(dtype)
        except (TypeError, ValueError) as e:
            raise SchemaError(f"column {name}: cannot cast to {dtype} ({e})") from None
    return out


def _to_bool(v: Any) -> Any:
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        if low in ("", "nan", "<na>"):
            return None
        raise SchemaError(f"not a boolean: {v!r}")
    return bool(v)


def with_late(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the LATE columns it lacks added empty, in schema order, when they are all it lacks and
    its other columns are in schema order; otherwise unchanged (validate names the problem)."""
    late = [c for c in LATE if c not in df.columns]
    present = [n for n in NAMES if n not in late]
    if late and tuple(df.columns) == tuple(present):
        return df.assign(**{c: pd.NA for c in late})[list(NAMES)]
    return df


def validate(df: pd.DataFrame) -> list[str]:
    """Problems of a frame read from CSV (empty list = matches the schema; LATE columns may be absent)."""
    problems = []
    df = with_late(df)
    if tuple(df.columns) != NAMES:
        missing = [c for c in NAMES if c not in df.columns]
        extra = [c for c in df.columns if c not in NAMES]
        problems.append(
            f"columns differ: missing {missing}, extra {extra}"
            if missing or extra
            else "columns are out of order"
        )
        return problems
    try:
        cast(df)
    except SchemaError as e:
        problems.append(str(e))
    bad_targets = set(df["target"].dropna()) - set(TARGETS)
    if bad_targets:
        problems.append(f"unknown targets {sorted(bad_targets)}")
    return problems


def write(df: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    return path


def serialise(rows: Iterable[Row], path: Path) -> Path:
    """Capture's edge: records -> the CSV (atomically; floats to 6 significant digits)."""
    return write(to_frame(rows), path)


#: Columns added after results were committed: a file without them reads with them empty (a run made
#: before a column existed did not measure it); any other missing column is an error.
LATE: frozenset[str] = frozenset({"image_python", "cold_first_invoke_median_ms"})


def read(path: Path) -> pd.DataFrame:
    """Read a results CSV and check it; raises SchemaError with every problem found."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    df = with_late(df)
    problems = validate(df)
    if problems:
        raise SchemaError(f"{path}: " + "; ".join(problems))
    return cast(df)


def records(df: pd.DataFrame) -> list[Row]:
    """The records of a frame in the schema (NA -> None, numpy scalars -> python)."""
    return [Row.from_columns(dict(zip(df.columns, r, strict=True))) for r in df.itertuples(index=False)]


def medians(rows: Iterable[Row], key: Callable[[Row], Hashable]) -> list[Row]:
    """One record per ``key`` (in the order the keys first appear): every number the median of the group's
    values (missing ones skipped; an integer field stays an integer), every other field the group's first
    record's. A cell measured over repeats is quoted by these figures, never by one repeat's."""
    groups: dict[Hashable, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r.columns())
    out = []
    for group in groups.values():
        merged = dict(group[0])
        for name, dtype in COLUMNS:
            vals = [g[name] for g in group if g[name] is not None]
            if dtype in (N, F) and len(group) > 1:
                m = float(np.median(vals)) if vals else None
                merged[name] = int(m) if dtype == N and m is not None and m.is_integer() else m
        out.append(Row.from_columns(merged))
    return out


def parse(path: Path) -> list[Row]:
    """The report's edge: a results CSV -> records (checked as :func:`read` checks it)."""
    return records(read(path))


def columns_doc() -> str:
    """docs/bench.md's column table, generated from the record types (tests/unit/test_bench_schema.py
    checks the document holds it)."""
    lines = ["| column | dtype | record field |", "| --- | --- | --- |"]
    lines += [f"| `{name}` | {dtype} | `Row.{FIELDS[name]}` |" for name, dtype in COLUMNS]
    return "\n".join(lines) + "\n"
