"""The contract of results/throughput.csv: one record per (image, processes per vCPU, load level, repeat).

A record is what pricing Lambda Managed Instances needs from a load test of one image (bench/decide/traffic.py
reads it, bench/measure/throughput.py writes it): how many requests per second one vCPU serves at saturation
with
P processes per vCPU (Managed Instances' Python runtime runs several processes per execution environment,
each serving one request at a time), the latency under load at set fractions of that saturation rate
(queueing included), and the memory each process and the whole environment need (which fixes the
instance's memory-per-vCPU ratio). Nothing here is priced or guessed: a cell without records is "not
priced" in the report.

Rows at ``load_fraction`` 1.0 are the saturation run (``offered_rps`` empty: a closed loop of clients as
many as the processes, each sending its next request when the last answered); rows below 1.0 are open-loop
runs at that fraction of the same repeat's saturation rate. One CSV, ordered columns, checked fields:
:func:`read` raises :class:`ThroughputSchemaError` naming every bad row.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from core.catalogue import ARCH_NAMES
from core.fileio import atomic_path
from core.paths import ROOT

#: Where the throughput run writes its records and the report reads them.
DEFAULT_PATH = ROOT / "results" / "throughput.csv"
#: Processes per vCPU the load test measures (Managed Instances' Python runtime: several per vCPU).
PROCESSES_PER_VCPU = (1, 2, 4)
#: The saturation row's load fraction.
SATURATION = 1.0


class ThroughputSchemaError(ValueError):
    """A throughput record or file breaks the contract of this module."""


@dataclass(frozen=True)
class ThroughputRecord:
    """One load level of one image served by ``processes`` processes on ``vcpus`` vCPUs."""

    run_id: str
    model: str  # the model name of the image (reference, xception)
    image: str  # the image tag, as in the run CSV's ``image`` column (clothing-tflite:xception-int8)
    variant: str
    runtime: str
    architecture: str  # x86_64 | arm64 (core.catalogue.ARCH_NAMES) the image was built for and ran on
    python: str  # the image's own python version (x.y.z)
    vcpus: float  # CPU quota of the environment (docker --cpus)
    memory_limit_mb: int  # memory limit of the environment (docker --memory)
    processes_per_vcpu: int  # P: processes per vCPU, each serving one request at a time
    processes: int  # processes in the environment = round(P * vcpus)
    threads_per_process: int  # MODEL_THREADS inside each process
    repeat: int  # 0..K-1: independent repeats of the whole load sequence
    load_fraction: float  # 1.0 = saturation (closed loop); < 1.0 = open loop at that share of it
    offered_rps: float | None  # the open loop's arrival rate; None at saturation
    achieved_rps: float  # answered requests per second over the measured window
    rps_per_vcpu: float  # achieved_rps / vcpus
    n_requests: int  # requests answered in the measured window
    n_errors: int  # requests that failed or timed out (a record with errors is not priced)
    window_s: float  # length of the measured window (after warm-up)
    latency_p50_ms: float  # client-side latency under this load, queueing included
    latency_p99_ms: float
    memory_per_process_bytes: int  # the largest steady RSS of one serving process
    memory_total_bytes: int  # peak memory of the whole environment (cgroup)
    timestamp: str  # ISO 8601, UTC
    git_sha: str
    cpu_model: str  # the host CPU the rates were measured on

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ThroughputSchemaError(f"{self.image} P={self.processes_per_vcpu}: " + "; ".join(problems))

    @property
    def saturated(self) -> bool:
        return self.load_fraction == SATURATION


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ThroughputRecord))
_INT = {"memory_limit_mb", "processes_per_vcpu", "processes", "threads_per_process", "repeat"}
_INT |= {"n_requests", "n_errors", "memory_per_process_bytes", "memory_total_bytes"}
_FLOAT = {"vcpus", "load_fraction", "achieved_rps", "rps_per_vcpu", "window_s"}
_FLOAT |= {"latency_p50_ms", "latency_p99_ms"}
_OPTIONAL_FLOAT = {"offered_rps"}


def _problems(r: ThroughputRecord) -> list[str]:
    """Every broken field of a record (empty = valid)."""
    out = []
    for name in ("run_id", "model", "image", "variant", "runtime", "python", "timestamp"):
        if not getattr(r, name):
            out.append(f"{name} is empty")
    if r.architecture not in ARCH_NAMES:
        out.append(f"architecture {r.architecture!r} not in {ARCH_NAMES}")
    if not (math.isfinite(r.vcpus) and r.vcpus > 0):
        out.append(f"vcpus must be > 0, got {r.vcpus}")
    if r.memory_limit_mb <= 0 or r.processes_per_vcpu < 1 or r.threads_per_process < 1 or r.repeat < 0:
        out.append("memory_limit_mb, processes_per_vcpu, threads_per_process >= 1 and repeat >= 0 required")
    if r.processes != max(1, round(r.processes_per_vcpu * r.vcpus)):
        out.append(f"processes {r.processes} != P * vcpus = {r.processes_per_vcpu} * {r.vcpus}")
    if not 0 < r.load_fraction <= SATURATION:
        out.append(f"load_fraction must be in (0, 1], got {r.load_fraction}")
    if (r.offered_rps is None) != (r.load_fraction == SATURATION):
        out.append("offered_rps is set exactly when load_fraction < 1 (open loop)")
    if r.achieved_rps < 0 or r.window_s <= 0 or r.n_requests < 0 or r.n_errors < 0:
        out.append("achieved_rps, n_requests, n_errors >= 0 and window_s > 0 required")
    if r.vcpus > 0 and not math.isclose(r.rps_per_vcpu, r.achieved_rps / r.vcpus, rel_tol=1e-3, abs_tol=1e-6):
        out.append(f"rps_per_vcpu {r.rps_per_vcpu} != achieved_rps / vcpus")
    if not 0 <= r.latency_p50_ms <= r.latency_p99_ms:
        out.append(f"need 0 <= p50 <= p99, got {r.latency_p50_ms} / {r.latency_p99_ms}")
    if not 0 < r.memory_per_process_bytes <= r.memory_total_bytes:
        out.append("need 0 < memory_per_process_bytes <= memory_total_bytes")
    return out


def _parse(line: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in COLUMNS:
        v = line[name]
        if name in _INT:
            out[name] = int(float(v))
        elif name in _FLOAT:
            out[name] = float(v)
        elif name in _OPTIONAL_FLOAT:
            out[name] = float(v) if v.strip() else None
        else:
            out[name] = v
    return out


def read(path: Path = DEFAULT_PATH) -> list[ThroughputRecord]:
    """Every record of a throughput CSV; raises ThroughputSchemaError naming each bad line."""
    records, problems = [], []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ThroughputSchemaError(f"{path}: columns {reader.fieldnames} differ from {COLUMNS}")
        for i, line in enumerate(reader, start=2):
            try:
                records.append(ThroughputRecord(**_parse(line)))
            except (ValueError, TypeError) as e:
                problems.append(f"line {i}: {e}")
    if problems:
        raise ThroughputSchemaError(f"{path}: " + "; ".join(problems))
    return records


def write(records: Iterable[ThroughputRecord], path: Path = DEFAULT_PATH) -> Path:
    """Write (replace) a throughput CSV atomically, columns in COLUMNS order."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in records:
            row = asdict(r)
            w.writerow({k: "" if row[k] is None else row[k] for k in COLUMNS})
    return path


def saturation(records: Sequence[ThroughputRecord]) -> list[ThroughputRecord]:
    """The saturation rows (load_fraction 1.0) without errors: what a rate per vCPU is read from."""
    return [r for r in records if r.saturated and r.n_errors == 0]
