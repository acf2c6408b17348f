"""The one CSV schema of results/runs/<run_id>.csv and results/latest.csv: ordered columns + dtypes.

Every target (inprocess, container, aws, soak) writes the same columns; a cell fills what it measured
and leaves the rest empty. Units are in the names (``_ms``, ``_bytes``, ``_pct``, ``_usd``). Adding a
column = one line here (tests/unit/test_bench_schema.py checks written files against this list).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from core.fileio import atomic_path

S, N, F, B = "string", "Int64", "float64", "boolean"  # N = nullable integer

COLUMNS: tuple[tuple[str, str], ...] = (
    # identity of the cell
    ("run_id", S),
    ("target", S),
    ("status", S),
    ("note", S),
    ("image", S),
    ("image_kind", S),
    ("image_id", S),
    ("model", S),
    ("variant", S),
    ("artefact", S),
    ("runtime", S),
    ("library", S),
    ("runtime_version", S),
    ("model_sha256", S),
    ("memory_mb", N),
    ("cpus", F),
    ("cpus_capped", B),
    ("threads", N),
    ("threads_forced", B),  # MODEL_THREADS set by BENCH_THREADS (a threads experiment, never the winner)
    ("repeat", N),  # 0..BENCH_REPEATS-1
    # image size
    ("image_uncompressed_bytes", N),
    ("image_compressed_bytes", N),
    ("image_base_bytes", N),
    ("image_runtime_layer_bytes", N),
    ("image_model_bytes", N),
    ("image_handler_bytes", N),
    # cold start (N fresh containers; medians with a 95 % order-statistic CI)
    ("cold_n", N),
    ("cold_rejected_n", N),
    ("cold_total_median_ms", F),
    ("cold_total_ci_low_ms", F),
    ("cold_total_ci_high_ms", F),
    ("cold_total_min_ms", F),
    ("cold_total_max_ms", F),
    ("cold_container_start_median_ms", F),
    ("cold_first_request_median_ms", F),
    ("cold_first_invoke_median_ms", F),  # the handler's own duration on the cold request
    ("cold_init_median_ms", F),
    ("cold_init_ci_low_ms", F),
    ("cold_init_ci_high_ms", F),
    ("cold_first_inference_median_ms", F),
    ("cold_total_samples_ms", S),
    # cold start with a cold host page cache (drop_caches before each sample; empty when not root)
    ("cold_cache_n", N),
    ("cold_cache_total_median_ms", F),
    ("cold_cache_total_ci_low_ms", F),
    ("cold_cache_total_ci_high_ms", F),
    ("cold_cache_container_start_median_ms", F),
    ("cold_cache_init_median_ms", F),
    # warm latency (M invocations after warm-up)
    ("warm_n", N),
    ("warm_client_p50_ms", F),
    ("warm_client_p90_ms", F),
    ("warm_client_p99_ms", F),
    ("warm_client_mean_ms", F),
    ("warm_handler_p50_ms", F),
    ("warm_handler_p90_ms", F),
    ("warm_handler_p99_ms", F),
    ("warm_handler_mean_ms", F),
    ("warm_inference_p50_ms", F),
    ("warm_billed_mean_ms", F),
    # the emulator's REPORT line per measured warm invocation (whole invocation, as Lambda bills it)
    ("warm_report_n", N),
    ("warm_report_duration_p50_ms", F),
    ("warm_report_duration_p99_ms", F),
    ("warm_billed_p50_ms", F),
    # memory (container cgroup)
    ("peak_memory_bytes", N),
    ("rss_bytes", N),
    # in-process model load (fresh python process: library import + load)
    ("inproc_load_ms", F),
    ("inproc_reload_ms", F),
    # accuracy (joined from results/accuracy.csv) and container-vs-in-process agreement
    ("top1_accuracy_pct", F),
    ("agreement_pct", F),
    ("max_abs_dprob", F),
    ("gate_passed", B),
    ("accuracy_sha256", S),  # sha256 of the artefact the accuracy row measured (== model_sha256 or stale)
    ("container_agreement_pct", F),
    ("container_max_abs_dlogit", F),
    ("agreement_n", N),
    # cost per 1M requests (bench/decide/cost.py)
    ("cold_fraction", F),
    ("init_billed_ms", F),
    ("cost_per_1m_x86_64_usd", F),
    ("cost_per_1m_arm64_usd", F),
    ("cost_arm64_basis", S),  # what the arm64 cost is made of (x86_64 timings at arm64 prices)
    # soak
    ("soak_n", N),
    ("soak_bad_n", N),
    ("soak_unexpected_errors", N),
    ("soak_typed_errors_ok", N),
    ("soak_mem_warm_bytes", N),
    ("soak_mem_end_bytes", N),
    ("soak_mem_growth_pct", F),
    ("soak_peak_warm_bytes", N),
    ("soak_peak_end_bytes", N),
    ("soak_peak_growth_pct", F),
    ("errors", N),
    # environment (every row)
    ("git_sha", S),
    ("git_dirty", B),
    ("cpu_model", S),
    ("cpu_cores", N),
    ("docker_version", S),
    ("storage_driver", S),
    ("cgroup_version", S),
    ("python", S),  # the host's python (the bench's own)
    ("image_python", S),  # the python inside the image the cell ran
    ("numpy", S),
    ("tensorflow", S),
    ("onnxruntime", S),
    ("ai_edge_litert", S),
    ("pytest_benchmark", S),
    ("timestamp", S),
    ("quick", B),
    ("cold_n_requested", N),
    ("warm_m_requested", N),
    # provenance (every row)
    ("bench_seed", N),
    ("load_avg_before", F),
    ("load_avg_after", F),
    ("rie_version", S),
    ("awslambdaric_version", S),
    ("git_diff_sha256", S),
)
NAMES: tuple[str, ...] = tuple(name for name, _ in COLUMNS)
DTYPES: dict[str, str] = dict(COLUMNS)
TARGETS = ("inprocess", "container", "aws", "soak")


class SchemaError(ValueError):
    """A row or a file does not match the fixed schema."""


def to_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows (dicts) -> DataFrame with exactly COLUMNS, in order, cast to their dtypes.

    Unknown keys are an error (a typo would otherwise silently lose a metric)."""
    rows = list(rows)
    for row in rows:
        unknown = set(row) - set(NAMES)
        if unknown:
            raise SchemaError(f"unknown column(s) {sorted(unknown)}; add them to bench/measure/schema.py")
        if row.get("target") not in TARGETS:
            raise SchemaError(f"target must be one of {TARGETS}, got {row.get('target')!r}")
    df = pd.DataFrame([{name: row.get(name) for name in NAMES} for row in rows], columns=list(NAMES))
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
