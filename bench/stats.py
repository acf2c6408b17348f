"""Small statistics: percentiles, a distribution-free CI for the median, a two-stage (repeats, then samples)
bootstrap, and quantiles of a cold + warm request mix."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default); None for no data."""
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else None


def median_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float | None, float | None]:
    """Order-statistic (binomial) confidence interval for the median.

    Chooses the narrowest symmetric ranks (j, n+1-j) whose coverage P(X_(j) <= median <= X_(n+1-j)) is
    at least ``confidence`` under Binomial(n, 1/2). Needs no distribution assumption, which suits
    skewed cold-start times. With fewer than 6 samples no such ranks exist: (None, None)."""
    xs = sorted(float(v) for v in values)
    n = len(xs)
    best: tuple[float, float] | None = None
    for j in range(1, n // 2 + 1):
        # coverage of [X_(j), X_(n+1-j)] = 1 - 2 * P(B <= j-1)
        tail = sum(math.comb(n, k) for k in range(j)) / 2**n
        if 1 - 2 * tail >= confidence:
            best = (xs[j - 1], xs[n - j])
        else:
            break
    return best if best else (None, None)


def median(values: Sequence[float]) -> float | None:
    return float(np.median(np.asarray(values, dtype=float))) if len(values) else None


#: Below this many samples an interval is not drawn: the order-statistic median CI needs 6 (at n = 5 the
#: widest ranks cover only 94 %), and a bootstrap over fewer cold starts reshuffles the same few values
#: and looks far more certain than it is.
MIN_SAMPLES = 6


def repeat_indices(k: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, k) repeats drawn with replacement: the first stage of the two-stage bootstrap. A repeat is
    one pass over the whole matrix, so a slow repeat (host load) moves every cell; drawing repeats first
    lets run-to-run variation count, not only the spread inside one run."""
    return rng.integers(0, k, size=(n_boot, k))


def _padded(groups: Sequence[Sequence[float]], longest: int) -> np.ndarray:
    out = np.full((len(groups), longest), np.nan)
    for i, g in enumerate(groups):
        out[i, : len(g)] = np.asarray(g, dtype=float)
    return out


def resample_within(
    groups: Sequence[Sequence[float]],
    reps: np.ndarray,
    rng: np.random.Generator,
    *paired: Sequence[Sequence[float]],
) -> list[np.ndarray]:
    """Second stage: inside every drawn repeat, resample its own samples with replacement.

    ``groups`` = the samples of each repeat (lengths may differ), ``reps`` = :func:`repeat_indices`;
    each of ``paired`` has the same lengths as ``groups`` and is drawn at the same positions (a cold
    start's init and its duration stay one pair). Returns one (n_boot, k * longest) array per input, NaN
    where a drawn repeat has fewer samples than the longest (reduce with nanmean/nanmedian)."""
    lengths = np.array([len(g) for g in groups])
    longest = max(1, int(lengths.max(initial=0)))
    n = lengths[reps][..., None]  # (n_boot, k, 1)
    pos = np.floor(rng.random((*reps.shape, longest)) * np.maximum(n, 1)).astype(int)
    pad = np.broadcast_to(np.arange(longest) >= n, pos.shape)
    out = []
    for g in (groups, *paired):
        vals = _padded(g, longest)[reps[..., None], pos]
        vals[pad] = np.nan
        out.append(vals.reshape(len(reps), -1))
    return out


def mixture_quantile(
    warm: Sequence[float], cold: Sequence[float], cold_share: float, q: float
) -> tuple[float | None, bool]:
    """The q-quantile of the request mix: a share ``cold_share`` of requests drawn from the cold samples,
    the rest from the warm ones (each sample weighted 1/n within its kind); the lower empirical quantile
    (inverse CDF), so with one kind alone it is numpy's ``inverted_cdf``.

    Returns (value, resolved): ``resolved`` is False when no observation lies above the estimate, i.e. the
    quantile is the largest sample seen and the true tail may be anywhere beyond it (too few samples for
    that quantile at that share)."""
    parts = [(np.asarray(warm, float), 1 - cold_share), (np.asarray(cold, float), cold_share)]
    parts = [(v, w / v.size) for v, w in parts if v.size and w > 0]
    if not parts:
        return None, False
    values = np.concatenate([v for v, _ in parts])
    weights = np.concatenate([np.full(v.size, w) for v, w in parts])
    order = np.argsort(values, kind="stable")
    values, cum = values[order], np.cumsum(weights[order])
    i = min(int(np.searchsorted(cum, q * cum[-1] - 1e-12, side="left")), values.size - 1)
    return float(values[i]), bool(values[i] < values[-1])
