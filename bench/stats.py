"""Small, dependency-free statistics: percentiles and a distribution-free CI for the median."""

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
