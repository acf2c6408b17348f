"""Typed measurements of one container cell: cold starts, warm latency, agreement, each a dataclass.

bench/measure/run.py orchestrates these for each benchmark test; each result builds its own sub-record of
the run row (bench/measure/schema.py: ``ColdStart``, ``WarmLatency``...), so a statistic is spelled once
(``Summary.columns``, named as the records' fields) for every target. Warm
invocations bill their emulator REPORT ``Duration`` (the whole invocation, as Lambda bills: it runs above the
handler's timed stages, by how much the report's cost table shows per cell); cold starts
are also sampled after dropping the host page cache (``measure_cold_cache``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.decide import cost, stats
from bench.measure import schema
from bench.measure.targets import container as ct
from bench.measure.targets import inprocess as ip
from bench.measure.targets.base import Launchable
from core.pipeline import Pipeline
from infra import docker

#: Runs ``fn`` ``rounds`` times (pytest-benchmark's pedantic in the tests, a plain loop elsewhere).
Runner = Callable[[Callable[[], None], int], None]


def plain_runner(fn: Callable[[], None], rounds: int) -> None:
    for _ in range(rounds):
        fn()


@dataclass(frozen=True)
class Summary:
    """Percentiles and mean of one sample set (ms); every field None when there is no sample."""

    n: int
    p50: float | None
    p90: float | None
    p99: float | None
    mean: float | None

    @classmethod
    def from_values(cls, values: Sequence[float]) -> Summary:
        return cls(
            n=len(values),
            p50=stats.percentile(values, 50),
            p90=stats.percentile(values, 90),
            p99=stats.percentile(values, 99),
            mean=float(np.mean(values)) if len(values) else None,
        )

    def columns(self, prefix: str, which: Sequence[str] = ("p50", "p90", "p99", "mean")) -> dict[str, Any]:
        """``{prefix}_{stat}_ms`` for each stat in ``which``."""
        return {f"{prefix}_{w}_ms": getattr(self, w) for w in which}


# ------------------------------------------------------------------------------------ in-process
@dataclass
class InProcess:
    """Warm predictions in this process: preprocess + predict (``total``) and predict alone (ms)."""

    total: list[float] = field(default_factory=list)
    inference: list[float] = field(default_factory=list)

    def record(self) -> schema.WarmLatency:
        """No container and no handler here: client and handler time are both preprocess + predict."""
        total = Summary.from_values(self.total)
        return schema.WarmLatency(
            n=len(self.total),
            **total.columns("client"),
            **total.columns("handler"),
            **Summary.from_values(self.inference).columns("inference", ("p50",)),
        )


def measure_inprocess(
    adapter: Any,
    images: list[bytes],
    size: Pipeline,  # the card's (bench.measure.targets.inprocess.input_size)
    warmup: int,
    m: int,
    runner: Runner = plain_runner,
) -> InProcess:
    """``warmup`` unmeasured predictions, then ``m`` measured decode/resize + predict calls, one image
    each (as the handler calls the runtime)."""
    batch = ip.preprocess_bytes(images, size)
    for i in range(warmup):
        adapter.predict(batch[i % len(batch)][np.newaxis])
    res, state = InProcess(), {"i": 0}

    def one() -> None:
        i = state["i"] = state["i"] + 1
        t0 = time.perf_counter()
        x = ip.preprocess_bytes([images[i % len(images)]], size)
        t1 = time.perf_counter()
        adapter.predict(x)
        t2 = time.perf_counter()
        res.inference.append((t2 - t1) * 1000)
        res.total.append((t2 - t0) * 1000)

    runner(one, m)
    return res


# ------------------------------------------------------------------------------------------ cold
@dataclass
class Cold:
    samples: list[ct.ColdSample] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    skipped: str | None = None  # why no sample was taken (cold-cache samples when not root)

    def cache_record(self) -> schema.ColdStartCache:
        """The same cold start after dropping the host page cache (image size shows)."""
        totals = [x.total_ms for x in self.samples]
        lo, hi = stats.median_ci(totals)
        return schema.ColdStartCache(
            n=len(self.samples) if self.skipped is None else None,
            total_median_ms=stats.median(totals),
            total_ci_low_ms=lo,
            total_ci_high_ms=hi,
            container_start_median_ms=stats.median([x.start_ms for x in self.samples]),
            init_median_ms=stats.median([x.init_ms for x in self.samples]),
        )

    def sample_tuples(self) -> list[tuple[float, float, float]]:
        """(init billed, handler, total) per accepted cold start, for bench/measure/samples.py."""
        return [(x.first_request_ms - x.handler_ms, x.handler_ms, x.total_ms) for x in self.samples]

    @property
    def init_billed_ms(self) -> float | None:
        """Median of (first request - handler time): what Lambda bills as Init on a cold start."""
        return stats.median([x.first_request_ms - x.handler_ms for x in self.samples])

    @property
    def duration_ms(self) -> float | None:
        return stats.median([x.handler_ms for x in self.samples])

    def record(self) -> schema.ColdStart:
        totals = [x.total_ms for x in self.samples]
        inits = [x.init_ms for x in self.samples]
        lo, hi = stats.median_ci(totals)
        ilo, ihi = stats.median_ci(inits)
        return schema.ColdStart(
            n=len(self.samples),
            rejected_n=len(self.rejected),
            total_median_ms=stats.median(totals),
            total_ci_low_ms=lo,
            total_ci_high_ms=hi,
            total_min_ms=min(totals, default=None),
            total_max_ms=max(totals, default=None),
            container_start_median_ms=stats.median([x.start_ms for x in self.samples]),
            first_request_median_ms=stats.median([x.first_request_ms for x in self.samples]),
            # the cold total split: container start + INIT (first request - handler) + first invoke
            first_invoke_median_ms=self.duration_ms,
            init_median_ms=stats.median(inits),
            init_ci_low_ms=ilo,
            init_ci_high_ms=ihi,
            first_inference_median_ms=stats.median([x.first_inference_ms for x in self.samples]),
            total_samples_ms=";".join(f"{t:.1f}" for t in totals),
        )


def measure_cold_cache(
    target: ct.ContainerTarget,
    cell: Launchable,
    event: dict[str, Any],
    n: int,
    progress: Callable[[str], None],
) -> Cold:
    """``n`` cold starts, each after emptying the host page cache (ct.drop_caches); none when that is
    impossible (``Cold.skipped`` says why)."""
    cold = Cold()
    for i in range(n):
        why = ct.drop_caches()
        if why:
            cold.skipped = why
            return cold
        got = target.cold_start(cell, event)
        if got.sample is None:
            cold.rejected.append(str(got.rejected))
            continue
        sample = got.sample
        cold.samples.append(sample)
        progress(f"  {cell.tag} @{cell.memory_mb}MB cold-cache {i + 1}/{n}: total {sample.total_ms:.0f} ms")
    return cold


def measure_cold(
    target: ct.ContainerTarget,
    cell: Launchable,
    event: dict[str, Any],
    n: int,
    progress: Callable[[str], None],
) -> tuple[Cold, ct.ContainerInstance]:
    """``n`` fresh containers; returns the samples and a started container for the warm phase (the
    last cold one when it was valid, else a new one). The caller removes it."""
    cold: Cold = Cold()
    kept: ct.ContainerInstance | None = None
    try:
        for i in range(n):
            got = target.cold_start(cell, event, keep=i == n - 1)
            if got.sample is None:
                cold.rejected.append(str(got.rejected))
                continue
            sample = got.sample
            cold.samples.append(sample)
            if isinstance(got.instance, ct.ContainerInstance):
                kept = got.instance
            progress(
                f"  {cell.tag} @{cell.memory_mb}MB cold {i + 1}/{n}: total {sample.total_ms:.0f} ms "
                f"(start {sample.start_ms:.0f}, init {sample.init_ms:.0f}, "
                f"first inference {sample.first_inference_ms:.0f})"
            )
        if kept is None:  # the last one was rejected: still need a warm container
            kept = target.start(cell)
    except BaseException:
        if kept is not None:
            kept.remove()
        raise
    return cold, kept


# ------------------------------------------------------------------------------------------ warm
@dataclass
class Warm:
    client: list[float] = field(default_factory=list)
    handler: list[float] = field(default_factory=list)
    inference: list[float] = field(default_factory=list)
    errors: int = 0
    first_meta: dict[str, Any] = field(default_factory=dict)
    #: the emulator's REPORT ``Duration`` / ``Billed Duration`` of each good measured invocation
    report_ms: list[float] = field(default_factory=list)
    report_billed_ms: list[float] = field(default_factory=list)

    @property
    def billed_source(self) -> list[float]:
        """Durations that bill: the REPORT Duration (whole invocation, as Lambda bills) when every good
        invocation has one, else the handler's timed stages (fetch + preprocess + inference)."""
        return self.report_ms if self.report_ms and len(self.report_ms) == len(self.handler) else self.handler

    def record(self) -> schema.WarmLatency:
        billed = [cost.billed_ms(h) for h in self.billed_source]
        return schema.WarmLatency(
            n=len(self.client),
            **Summary.from_values(self.client).columns("client"),
            **Summary.from_values(self.handler).columns("handler"),
            **Summary.from_values(self.inference).columns("inference", ("p50",)),
            billed_mean_ms=float(np.mean(billed)) if billed else None,
            report_n=len(self.report_ms),
            **Summary.from_values(self.report_ms).columns("report_duration", ("p50", "p99")),
            billed_p50_ms=stats.percentile(self.report_billed_ms, 50),
        )

    def sample_pairs(self) -> list[tuple[float, float]]:
        """(billed-duration source, client round trip) per good measured invocation
        (bench/measure/samples.py)."""
        return list(zip(self.billed_source, self.client, strict=True))


def measure_warm(
    c: ct.ContainerInstance, events: list[dict[str, Any]], warmup: int, m: int, runner: Runner = plain_runner
) -> Warm:
    """``warmup + 1`` unmeasured requests, then ``m`` measured ones; a failed or cold answer is an error."""
    warm = Warm()
    for i in range(warmup + 1):
        ans = c.invoke(events[i % len(events)])
        if not ans.ok:
            raise ct.ContainerError(f"warm-up failed: {ans.error_type} {str(ans.body)[:300]}\n{c.logs()}")
        warm.first_meta = ans.meta
    before, good = len(c.platform_log().reports), []
    state = {"i": 0}

    def one() -> None:
        i = state["i"] = state["i"] + 1
        ans = c.invoke(events[i % len(events)])
        good.append(ans.ok and ans.meta.get("cold") is False)
        if not good[-1]:
            warm.errors += 1
            return
        warm.client.append(ans.client_ms)
        warm.handler.append(ct.handler_ms(ans.meta))
        warm.inference.append(float(ans.meta.get("inference_ms", 0.0)))

    runner(one, m)
    reports = c.platform_log().reports[before:]
    if len(reports) == len(good):  # one REPORT per measured invocation, in order
        warm.report_ms = [r.duration_ms for r, ok in zip(reports, good, strict=True) if ok]
        warm.report_billed_ms = [r.billed_ms for r, ok in zip(reports, good, strict=True) if ok]
    return warm


# ------------------------------------------------------------------------------------- agreement
@dataclass(frozen=True)
class Agreement:
    pct: float | None
    max_abs_dlogit: float | None
    n: int | None
    errors: int = 0

    def record(self) -> schema.ContainerAgreement:
        return schema.ContainerAgreement(agreement_pct=self.pct, max_abs_dlogit=self.max_abs_dlogit, n=self.n)


def agreement(
    c: ct.ContainerInstance, events: list[dict[str, Any]], reference: np.ndarray | None
) -> Agreement:
    """Top-1 agreement and max |logit difference| of the container's answers vs the in-process ones."""
    if reference is None:
        return Agreement(None, None, None)
    got, errors = [], 0
    for e in events:
        ans = c.invoke(e)
        if ans.predictions is None:
            errors += 1
            got.append(np.full(reference.shape[1], np.nan, np.float32))
        else:
            got.append(np.asarray(list(ans.predictions.values()), np.float32))
    arr = np.stack(got)
    pct = float(np.mean(np.argmax(arr, 1) == np.argmax(reference, 1)) * 100)
    return Agreement(pct, float(np.nanmax(np.abs(arr - reference))), len(events), errors)


ARM64_BASIS = "x86_64 timings at arm64 prices (arm64 not measured)"


def costs(memory_mb: int, warm: Warm, cold: Cold, cold_fraction: float) -> schema.Cost:
    """cost_per_1m_<arch>_usd for every architecture bench/decide/cost.py prices, from the REPORT durations
    (Warm.billed_source), and the billed init of the cold starts; the arm64 figure is named for what it is
    (ARM64_BASIS) on every row."""
    src, starts = warm.billed_source, cold.sample_tuples()
    init, dur = [i for i, _, _ in starts], [d for _, d, _ in starts]
    return schema.Cost(
        cold_fraction=cold_fraction,
        init_billed_ms=cold.init_billed_ms,
        cost_arm64_basis=ARM64_BASIS,
        **{
            f"cost_per_1m_{arch}_usd": (
                cost.cost_at(memory_mb, src, init, dur, cold_fraction, arch) if src else None
            )
            for arch in cost.ARCHITECTURES
        },
    )


def size_record(sz: docker.ImageSizes) -> schema.ImageSize:
    return schema.ImageSize(
        uncompressed_bytes=sz.uncompressed,
        compressed_bytes=sz.compressed,
        base_bytes=sz.base,
        runtime_layer_bytes=sz.runtime_layer,
        model_bytes=sz.model,
        handler_bytes=sz.handler,
    )
