"""Benchmark settings (environment variables) and the environment stamped on every CSV row.

Every knob is an environment variable so `make bench-run`, CI and a developer's shell all use the same
code path; ``BENCH_QUICK=1`` picks the small CI sizes and is itself recorded on every row, ``BENCH_FULL=1``
the long form (``FULL``); the default (``DEFAULT``) is sized by bench/measure/plan.py's estimate.
"""

from __future__ import annotations

import hashlib
import os
import platform
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from core.budget import MB_PER_VCPU
from core.catalogue import IMAGE_KINDS
from core.paths import RESULTS_DIR, ROOT
from core.settings import read
from infra import docker
from models import registry
from runtimes.base import dist_version, threads_for

__all__ = ["DEFAULT", "FULL", "MB_PER_VCPU", "QUICK", "Config", "Sizes", "environment", "log", "run_id"]
MODELS: tuple[str, ...] = ("reference", "xception")


def _traffic() -> tuple[float, float | None, float, str]:
    """(cold share, requests per hour, keep-alive minutes, which setting gave the share): the user names
    the traffic either as a cold share (BENCH_COLD_FRACTION) or as requests per hour
    (BENCH_REQUESTS_PER_HOUR, mapped by bench/decide/traffic.py's keep-alive model), not both."""
    from bench.decide import traffic

    keepalive: float = read("BENCH_KEEPALIVE_MIN", traffic.KEEPALIVE_MIN)
    share: float | None = read("BENCH_COLD_FRACTION", None)
    rph: float | None = read("BENCH_REQUESTS_PER_HOUR", None)
    if rph is not None and share is not None:
        raise ValueError("set BENCH_REQUESTS_PER_HOUR or BENCH_COLD_FRACTION, not both")
    if rph is not None:
        return traffic.cold_share(rph, keepalive), rph, keepalive, "BENCH_REQUESTS_PER_HOUR"
    if share is not None:
        return share, None, keepalive, "BENCH_COLD_FRACTION"
    return 0.01, None, keepalive, "default"


@dataclass(frozen=True)
class Sizes:
    """The sample sizes one setting picks (BENCH_QUICK / default / BENCH_FULL); each BENCH_* overrides."""

    memory_mb: tuple[int, ...]
    cold_n: int
    cold_cache_n: int
    warmup: int
    warm_m: int
    agree_n: int
    soak_n: int
    repeats: int


#: The default answers the question within about an hour on 2 cores (bench/measure/plan.py estimates it;
#: README
#: states the figure): 1024 MB (where the committed run's cheapest cells are) and 1769 MB (one full vCPU,
#: where the thread policy and the cost ranking change); 3 repeats, so the first stage of the bootstrap
#: (repeats drawn with replacement) has 10 distinct outcomes instead of 2 repeats' 3; 4 cold starts per
#: repeat (12 pooled per cell, above the 6 an interval needs; a repeat alone gives none), 15 warm requests
#: (45 pooled), 6 agreement images and one cold-cache start per cell and repeat (the whole test split's
#: agreement is bench/measure/fullsplit.py's job). The plan prints ~36 min from the committed run's per-sample
#: times, the same budget as the 2-repeat form it replaces (38 min).
DEFAULT = Sizes((1024, 1769), cold_n=4, cold_cache_n=1, warmup=3, warm_m=15, agree_n=6, soak_n=2000,
                repeats=3)  # fmt: skip
#: BENCH_FULL=1: the long form (3008 MB too, larger samples, one repeat).
FULL = Sizes((1024, 1769, 3008), cold_n=10, cold_cache_n=5, warmup=5, warm_m=100, agree_n=20, soak_n=5000,
             repeats=1)  # fmt: skip
#: BENCH_QUICK=1: CI sizes, to try the pipeline (not a result to quote).
QUICK = Sizes((1769,), cold_n=2, cold_cache_n=1, warmup=2, warm_m=10, agree_n=5, soak_n=200, repeats=1)


@dataclass(frozen=True)
class Config:
    quick: bool = False
    memory_mb: tuple[int, ...] = (1024, 1769)
    cold_n: int = 4
    warm_m: int = 15
    warmup: int = 3
    soak: bool = True
    soak_n: int = 2000
    models: tuple[str, ...] = MODELS
    images: tuple[str, ...] = IMAGE_KINDS
    variants: tuple[str, ...] = ()  # empty = every variant whose image exists
    agree_n: int = 6
    inprocess_threads: tuple[int, ...] = (1,)
    p99_budget_ms: float = 1000.0
    cold_fraction: float = 0.01
    http_timeout_s: float = 60.0
    start_timeout_s: float = 60.0
    aws: bool = False
    results_dir: Path = RESULTS_DIR
    repeats: int = 3
    seed: int = 0
    threads: tuple[int, ...] = ()  # forced MODEL_THREADS values (BENCH_THREADS); empty = policy only
    threads_memory_mb: tuple[int, ...] = (1024,)
    cold_cache_n: int = 1
    min_top1_pct: float = 50.0
    requests_per_hour: float | None = None  # BENCH_REQUESTS_PER_HOUR: the user's traffic (sets cold_fraction)
    keepalive_min: float = (
        10.0  # BENCH_KEEPALIVE_MIN: idle sandbox lifetime T of bench/decide/traffic.py's model
    )
    p99_slo_ms: float | None = None  # BENCH_P99_MS: p99 of the cold + warm mix the winner must meet
    traffic_source: str = "default"  # which setting gave cold_fraction
    host_cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    full: bool = False  # BENCH_FULL=1: the long form (FULL's sizes below)

    @classmethod
    def from_env(cls) -> Config:
        """Read BENCH_* (see docs/bench.md); BENCH_QUICK=1 only changes the defaults."""
        quick, full = read("BENCH_QUICK", False), read("BENCH_FULL", False)
        if quick and full:
            raise ValueError("set BENCH_QUICK=1 or BENCH_FULL=1, not both")
        size = QUICK if quick else FULL if full else DEFAULT
        fraction, rph, keepalive, source = _traffic()
        return cls(
            quick=quick,
            full=full,
            memory_mb=read("BENCH_MEMORY_MB", tuple(size.memory_mb)),
            cold_n=read("BENCH_COLD_N", size.cold_n),
            warm_m=read("BENCH_WARM_M", size.warm_m),
            warmup=read("BENCH_WARMUP", size.warmup),
            soak=read("BENCH_SOAK", True),
            soak_n=read("BENCH_SOAK_N", size.soak_n),
            models=tuple(
                registry.model_name(m) for m in read("BENCH_MODELS", ("reference",) if quick else MODELS)
            ),
            images=read("BENCH_IMAGES", IMAGE_KINDS),
            variants=read("BENCH_VARIANTS", ()),
            agree_n=read("BENCH_AGREE_N", size.agree_n),
            inprocess_threads=read("BENCH_INPROCESS_THREADS", (1,)),
            p99_budget_ms=read("BENCH_P99_BUDGET_MS", 1000.0),
            cold_fraction=fraction,
            http_timeout_s=read("BENCH_HTTP_TIMEOUT_S", 60.0),
            start_timeout_s=read("BENCH_START_TIMEOUT_S", 60.0),
            aws=read("BENCH_AWS", False),
            results_dir=Path(read("BENCH_RESULTS_DIR", str(RESULTS_DIR))),
            repeats=read("BENCH_REPEATS", size.repeats),
            seed=read("BENCH_SEED", int.from_bytes(os.urandom(4), "big")),
            threads=read("BENCH_THREADS", ()),
            threads_memory_mb=read("BENCH_THREADS_MEMORY_MB", (1024,)),
            cold_cache_n=read("BENCH_COLD_CACHE_N", size.cold_cache_n),
            min_top1_pct=read("BENCH_MIN_TOP1_PCT", 50.0),
            requests_per_hour=rph,
            keepalive_min=keepalive,
            p99_slo_ms=read("BENCH_P99_MS", 0.0) or None,
            traffic_source=source,
        )

    def cpus_for(self, memory_mb: int) -> tuple[float, bool]:
        """Lambda's CPU share for ``memory_mb`` (1 vCPU per 1,769 MB), capped at this host's cores.

        Returns (cpus, capped). ``docker run --cpus`` cannot exceed the host's core count."""
        want = round(memory_mb / MB_PER_VCPU, 3)
        return (float(self.host_cpus), True) if want > self.host_cpus else (want, False)

    def threads_cells(self, memory_mb: int) -> tuple[int | None, ...]:
        """Thread settings of the cells at ``memory_mb``: None = the handler's own policy, plus every
        BENCH_THREADS count (passed as MODEL_THREADS) that differs from what the policy picks there."""
        if memory_mb not in self.threads_memory_mb:
            return (None,)
        policy = threads_for(self.host_cpus, self.cpus_for(memory_mb)[0], memory_mb)
        return (None, *(t for t in self.threads if t != policy))


def _run(*cmd: str) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=ROOT)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(cfg: Config) -> dict[str, object]:
    """What produced a row: code version, machine, docker, library versions, sizes of the run."""
    docker_version, driver, cgroup = docker.server_info()
    return {
        "git_sha": _run("git", "rev-parse", "HEAD"),
        "git_dirty": bool(_run("git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)),
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count() or 1,
        "docker_version": docker_version,
        "storage_driver": driver,
        "cgroup_version": cgroup,
        "python": platform.python_version(),
        "numpy": dist_version("numpy"),
        "tensorflow": dist_version("tensorflow-cpu", "tensorflow"),
        "onnxruntime": dist_version("onnxruntime"),
        "ai_edge_litert": dist_version("ai-edge-litert"),
        "pytest_benchmark": dist_version("pytest-benchmark"),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": cfg.quick,
        "cold_n_requested": cfg.cold_n,
        "warm_m_requested": cfg.warm_m,
        "bench_seed": cfg.seed,
        "git_diff_sha256": git_diff_sha256(),
    }


#: What "the code" of a run is: the whole tree but results/, which `make bench` itself rewrites
#: (accuracy.csv, images.csv) before the benchmarks start.
CODE_PATHS = (".", ":(exclude)results")


def git_diff() -> bytes:
    """``git diff HEAD`` of the code (tracked changes outside results/): empty on a clean tree."""
    return subprocess.run(
        ["git", "diff", "HEAD", "--", *CODE_PATHS], capture_output=True, cwd=ROOT, timeout=60
    ).stdout


def git_diff_sha256() -> str | None:
    """sha256 of ``git diff HEAD`` (tracked changes) when the tree is dirty: which local edits produced
    a row, not only that there were some."""
    diff = git_diff()
    return hashlib.sha256(diff).hexdigest() if diff else None


def save_diff(run_csv: Path, diff: bytes | None = None) -> Path | None:
    """Keep the local changes a run was measured with beside it (``runs/<run_id>.diff``, the bytes whose
    sha256 every row carries): a hash alone cannot tell anyone later what the code was. None when clean."""
    diff = git_diff() if diff is None else diff
    if not diff:
        return None
    path = run_csv.with_suffix(".diff")
    path.write_bytes(diff)
    return path


def emulator_versions(tag: str) -> dict[str, str]:
    """The emulator and runtime client inside the image a cell ran (infra/docker.runtime_versions), not
    the pins. The emulator is named by the aws-sam-cli wheel it came from when its bytes are that wheel's
    (the local stand-in's), else by its sha256 (an AWS base, another build)."""
    from images import base

    found = docker.runtime_versions(tag)
    rie = found["rie_sha256"]
    if rie and rie == base.rie_sha256():
        name = f"aws-sam-cli {base.SAM_CLI_VERSION}"
    else:
        name = f"sha256:{rie[:12]}" if rie else ""
    return {
        "rie_version": name,
        "awslambdaric_version": found["awslambdaric"],
        "image_python": image_python(tag),
    }


#: Prints the python version of the image's own interpreter (the Lambda base's /var/lang or the system's).
_PYTHON_SCRIPT = (
    "for p in /var/lang/bin/python3 /usr/local/bin/python3 /usr/bin/python3 python3; do "
    "command -v $p >/dev/null 2>&1 && exec $p -c 'import platform; print(platform.python_version())'; done"
)


def image_python(tag: str) -> str:
    """The python version inside the image a cell ran (the run header's ``python`` is the host's), cached
    by image id beside the other facts read from inside it ('' when it cannot be read)."""
    iid = docker.image_id(tag)
    if iid is None:
        return ""
    cached = docker.load_cache().get(iid, {})
    if "python" in cached:
        return str(cached["python"])
    try:
        found = docker.out(
            "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", iid, "-c", _PYTHON_SCRIPT
        )
    except docker.DockerError:
        return ""
    version = found.strip().splitlines()[-1] if found.strip() else ""
    docker.remember(iid, python=version)
    return version


def load_average() -> float:
    """1-minute host load average: another process competing for the 2 cores shows here."""
    return round(os.getloadavg()[0], 2)


def run_id() -> str:
    """Sortable, unique enough for one machine: UTC time + short git sha."""
    sha = _run("git", "rev-parse", "--short", "HEAD") or "nogit"
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + f"-{sha}-{os.getpid()}"


def log(msg: str) -> None:
    """Fallback progress line when no pytest terminal reporter is around."""
    print(msg, file=sys.stderr, flush=True)


T = TypeVar("T")


def shuffled_by_repeat(cells: list[T], repeat_of: Callable[[T], int], seed: int) -> list[T]:
    """Repeat 0's cells, then repeat 1's, ...; each repeat shuffled with ``random.Random(seed + repeat)``."""
    by_rep: dict[int, list[T]] = {}
    for c in cells:
        by_rep.setdefault(repeat_of(c), []).append(c)
    ordered = []
    for rep in sorted(by_rep):
        group = by_rep[rep]
        random.Random(seed + rep).shuffle(group)
        ordered += group
    return ordered
