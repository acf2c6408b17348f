"""The on-demand cost of one million requests at a memory size, billed as AWS bills it.

Prices come from bench/decide/prices.py (each with its source and the date read). A warm request bills its
duration rounded up to the next ms; a cold request of a container image bills INIT + its handler as one
duration, rounded up once. An expected cost is a mean: the mean billed ms of the warm requests and of the
cold ones (medians would ignore the slow tail that a bill does not). One computation: :func:`cost_line`
(a + b * c in the cold share c); :func:`cost_at` is its value at one share, :func:`line_draws` its bootstrap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.decide import prices, stats
from core.catalogue import DEFAULT_ARCH

PRICES_SOURCE = prices.LAMBDA_PRICING
PRICES_AS_OF = f"{prices.READ} (us-east-1, first tier; bench/decide/prices.py)"
#: USD per GB-second of billed duration, per architecture.
GB_SECOND_USD = {arch: f.value for arch, f in prices.DURATION.items()}
#: USD per request (both architectures).
REQUEST_USD = prices.REQUEST.value
ARCHITECTURES = tuple(GB_SECOND_USD)


def billed_ms(duration_ms: float) -> int:
    """Lambda bills duration rounded up to the next millisecond."""
    return max(1, math.ceil(duration_ms))


def _per_1m(memory_mb: int, mean_billed_ms: Any, architecture: str) -> Any:
    """USD per 1M requests from the mean billed ms per request (a float or a numpy array of them)."""
    gb = memory_mb / 1024
    return (REQUEST_USD + gb * (mean_billed_ms / 1000) * GB_SECOND_USD[architecture]) * 1_000_000


def cold_request_ms(
    warm_mean_billed_ms: float, init_ms: Sequence[float], duration_ms: Sequence[float]
) -> float:
    """Expected billed ms of one cold request: the mean over the cold starts of ceil(init + duration) (one
    duration, rounded once); without cold samples, the minimum 1 ms init plus a warm request."""
    if len(init_ms) and len(duration_ms):
        sums = np.asarray(init_ms, float) + np.asarray(duration_ms, float)
        return float(np.mean(_billed(sums)))
    return billed_ms(0.0) + warm_mean_billed_ms


def cost_line(
    memory_mb: int,
    warm_durations_ms: Sequence[float],
    cold_init_ms: Sequence[float],
    cold_duration_ms: Sequence[float],
    architecture: str = DEFAULT_ARCH,
) -> tuple[float, float]:
    """(a, b) with cost per 1M = a + b * c at cold share c: a = every request warm, b = what turning every
    warm request into a cold one adds. The cost is linear in c, so two numbers carry the whole traffic axis
    (tests check a + b * c against a bill computed by hand at any c)."""
    if not len(warm_durations_ms):
        raise ValueError("no warm durations")
    warm = sum(billed_ms(d) for d in warm_durations_ms) / len(warm_durations_ms)
    a = float(_per_1m(memory_mb, warm, architecture))
    b = float(_per_1m(memory_mb, cold_request_ms(warm, cold_init_ms, cold_duration_ms), architecture)) - a
    return a, b


def cost_at(
    memory_mb: int,
    warm_durations_ms: Sequence[float],
    cold_init_ms: Sequence[float],
    cold_duration_ms: Sequence[float],
    cold_fraction: float,
    architecture: str = DEFAULT_ARCH,
) -> float:
    """Expected USD per 1M requests at cold share ``cold_fraction``: :func:`cost_line`'s a + b * c, the one
    cost computation (a run row's cost columns and the verdict's lines both come from it)."""
    a, b = cost_line(memory_mb, warm_durations_ms, cold_init_ms, cold_duration_ms, architecture)
    return a + b * cold_fraction


def line_draws(
    memory_mb: int,
    warm_by_repeat: Sequence[Sequence[float]],
    cold_by_repeat: Sequence[tuple[Sequence[float], Sequence[float]]],
    reps: np.ndarray,
    rng: np.random.Generator,
    architecture: str = DEFAULT_ARCH,
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap draws of (a, b) of :func:`cost_line`, two-stage: the repeats ``reps`` (stats.repeat_indices,
    shared by every cell of a run), then the samples inside each drawn repeat (stats.resample_within).
    ``cold_by_repeat`` = (inits, durations) per repeat; a cold start's init and duration are drawn as one
    pair. Without cold samples in every repeat, cold requests bill as :func:`cold_request_ms` says."""
    (warm,) = stats.resample_within(warm_by_repeat, reps, rng)
    w = np.nanmean(np.maximum(1, np.ceil(warm)), axis=1)
    if cold_by_repeat and all(len(i) and len(d) for i, d in cold_by_repeat):
        inits = [i for i, _ in cold_by_repeat]
        init, dur = stats.resample_within(inits, reps, rng, [d for _, d in cold_by_repeat])
        cold = np.nanmean(_billed(init + dur), axis=1)
    else:
        cold = billed_ms(0.0) + w
    a = _per_1m(memory_mb, w, architecture)
    return a, _per_1m(memory_mb, cold, architecture) - a


def _billed(ms: np.ndarray) -> np.ndarray:
    return np.maximum(1, np.ceil(ms))
