"""Small statistics: percentiles, a distribution-free CI for the median, a percentile bootstrap."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

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


def bootstrap_ci(
    samples: Sequence[Sequence[float]],
    statistic: Callable[..., np.ndarray],
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of ``statistic`` over independent groups of samples.

    Each group (e.g. a cell's warm durations, its cold inits) is resampled with replacement on its own,
    ``n_boot`` times; ``statistic`` receives one (n_boot, n_group) array per group and returns n_boot
    values. Seeded, so a report is reproducible. A group with no samples -> (None, None)."""
    arrays = [np.asarray(s, dtype=float) for s in samples]
    if not arrays or any(a.size == 0 for a in arrays):
        return None, None
    rng = np.random.default_rng(seed)
    draws = [a[rng.integers(0, a.size, size=(n_boot, a.size))] for a in arrays]
    values = np.asarray(statistic(*draws), dtype=float)
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)
