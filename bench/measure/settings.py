"""The benchmark's one settings object: every BENCH_* variable (docs/bench.md), read once per process.

Every knob is an environment variable so `make bench-run`, CI and a developer's shell all use the same
code path; ``BENCH_QUICK=1`` picks the small CI sizes and is itself recorded on every row, ``BENCH_FULL=1``
the long form (``FULL``); the default (``DEFAULT``) is sized by bench/measure/plan.py's estimate. The
session, the plan, the matrix (bench/measure/cells.py), the full-split check and the soak all read
:func:`current`, so a variable cannot mean one thing at collection and another when the cell runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from core.budget import MB_PER_VCPU
from core.catalogue import IMAGE_KINDS
from core.paths import RESULTS_DIR
from core.settings import read
from models import registry
from runtimes.base import threads_for

__all__ = ["DEFAULT", "FULL", "MB_PER_VCPU", "MODELS", "QUICK", "Settings", "Sizes", "current"]
MODELS: tuple[str, ...] = ("reference", "xception")


@dataclass(frozen=True)
class Sizes:
    """The sample sizes one form picks (BENCH_QUICK / default / BENCH_FULL); each BENCH_* overrides."""

    memory_mb: tuple[int, ...]
    cold_n: int
    cold_cache_n: int
    warmup: int
    warm_m: int
    agree_n: int
    soak_n: int
    repeats: int
    models: tuple[str, ...] = MODELS


#: The default answers the question within about an hour on 2 cores (bench/measure/plan.py estimates it;
#: README states the figure): 1024 MB (where the committed run's cheapest cells are) and 1769 MB (one full
#: vCPU, where the thread policy and the cost ranking change); 3 repeats, so the first stage of the
#: bootstrap (repeats drawn with replacement) has 10 distinct outcomes instead of 2 repeats' 3; 4 cold
#: starts per repeat (12 pooled per cell, above the 6 an interval needs; a repeat alone gives none), 15 warm
#: requests (45 pooled), 6 agreement images and one cold-cache start per cell and repeat (the whole test
#: split's agreement is bench/measure/fullsplit.py's job).
DEFAULT = Sizes((1024, 1769), cold_n=4, cold_cache_n=1, warmup=3, warm_m=15, agree_n=6, soak_n=2000,
                repeats=3)  # fmt: skip
#: BENCH_FULL=1: the long form (3008 MB too, larger samples, one repeat).
FULL = Sizes((1024, 1769, 3008), cold_n=10, cold_cache_n=5, warmup=5, warm_m=100, agree_n=20, soak_n=5000,
             repeats=1)  # fmt: skip
#: BENCH_QUICK=1: CI sizes, to try the pipeline (not a result to quote), on the reference model.
QUICK = Sizes((1769,), cold_n=2, cold_cache_n=1, warmup=2, warm_m=10, agree_n=5, soak_n=200, repeats=1,
              models=("reference",))  # fmt: skip
FORMS = {"default": DEFAULT, "full": FULL, "quick": QUICK}


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
class Settings:
    """What a session measures and how (sizes, matrix filters, the winner's rule, timeouts, where results
    go). The defaults are the default form's (``DEFAULT``); :meth:`from_env` reads BENCH_*."""

    quick: bool = False
    memory_mb: tuple[int, ...] = DEFAULT.memory_mb
    cold_n: int = DEFAULT.cold_n
    warm_m: int = DEFAULT.warm_m
    warmup: int = DEFAULT.warmup
    soak: bool = True
    soak_n: int = DEFAULT.soak_n
    models: tuple[str, ...] = MODELS
    images: tuple[str, ...] = IMAGE_KINDS
    variants: tuple[str, ...] = ()  # empty = every variant whose image exists
    agree_n: int = DEFAULT.agree_n
    inprocess_threads: tuple[int, ...] = (1,)
    p99_budget_ms: float = 1000.0
    cold_fraction: float = 0.01
    http_timeout_s: float = 60.0
    start_timeout_s: float = 60.0
    aws: bool = False
    results_dir: Path = RESULTS_DIR
    repeats: int = DEFAULT.repeats
    seed: int = 0
    threads: tuple[int, ...] = ()  # forced MODEL_THREADS values (BENCH_THREADS); empty = policy only
    threads_memory_mb: tuple[int, ...] = (1024,)
    cold_cache_n: int = DEFAULT.cold_cache_n
    min_top1_pct: float = 50.0
    requests_per_hour: float | None = None  # BENCH_REQUESTS_PER_HOUR: the user's traffic (sets cold_fraction)
    keepalive_min: float = 10.0  # BENCH_KEEPALIVE_MIN: idle sandbox lifetime T of bench/decide/traffic.py
    p99_slo_ms: float | None = None  # BENCH_P99_MS: p99 of the cold + warm mix the winner must meet
    traffic_source: str = "default"  # which setting gave cold_fraction
    host_cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    full: bool = False  # BENCH_FULL=1: the long form (FULL's sizes)

    @classmethod
    def of_form(cls, form: str) -> Settings:
        """The settings a form (``FORMS``) runs with when no other BENCH_* is set: README's figures depend
        on results/ and the code alone, never on the caller's environment."""
        s = FORMS[form]
        return cls(
            quick=form == "quick", full=form == "full", memory_mb=s.memory_mb, cold_n=s.cold_n,
            cold_cache_n=s.cold_cache_n, warmup=s.warmup, warm_m=s.warm_m, agree_n=s.agree_n,
            soak_n=s.soak_n, repeats=s.repeats, models=s.models,
        )  # fmt: skip

    @classmethod
    def from_env(cls) -> Settings:
        """Read BENCH_* (see docs/bench.md); BENCH_QUICK=1 and BENCH_FULL=1 only change the defaults."""
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
            models=tuple(registry.model_name(m) for m in read("BENCH_MODELS", size.models)),
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

    @property
    def warm_requests(self) -> int:
        """Requests a container cell serves warm: warm-up + the first + measured + agreement
        (bench/measure/records.py)."""
        return self.warmup + 1 + self.warm_m + self.agree_n


@lru_cache(maxsize=1)
def current() -> Settings:
    """This process's settings, read from the environment once (BENCH_SEED's random default included)."""
    return Settings.from_env()
