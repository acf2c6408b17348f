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


def _exceed(v: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Share of ``v`` above each threshold in ``s`` (sorted v)."""
    return 1.0 - np.searchsorted(v, s, side="right") / v.size


def mixture_exceedance(
    warm: Sequence[float] | np.ndarray,
    cold: Sequence[float] | np.ndarray,
    cold_share: float,
    s: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """P(latency > s) of the request mix: (1 - c) * warm's share above s + c * cold's, where a cold request
    counts at least as slow as a warm one at every s (max of the two shares). Linear in c at every s, so
    every quantile of the mix grows with the cold share, and the share at which a cell stops meeting an SLO
    is one number (:func:`slo_limit`)."""
    w, c = np.sort(np.asarray(warm, float)), np.sort(np.asarray(cold, float))
    s = np.asarray(s, float)
    ew: np.ndarray = _exceed(w, s) if w.size else np.zeros_like(s)
    ec = np.maximum(_exceed(c, s), ew) if c.size else ew
    return (1 - cold_share) * ew + cold_share * ec


def mixture_quantile(
    warm: Sequence[float], cold: Sequence[float], cold_share: float, q: float
) -> tuple[float | None, bool]:
    """The q-quantile of the request mix (the smallest sample s with P(latency > s) <= 1 - q, the lower
    empirical quantile; with one kind alone numpy's ``inverted_cdf``), monotone in ``cold_share``.

    Returns (value, resolved). Not resolved: no observation lies above the estimate (the tail may be
    anywhere beyond the largest sample), or moving the mix's share above it by one standard error moves
    the quantile by more than RESOLVE_RATIO: the samples cannot tell on which side of a jump it sits (at
    1 % cold the p99 of a mix whose cold starts are all slower than its warm requests is either the warm
    tail or the fastest cold start)."""
    w, c = np.asarray(warm, float), np.asarray(cold, float)
    if not w.size and not c.size or (cold_share >= 1 and not c.size) or (cold_share <= 0 and not w.size):
        return None, False
    if not c.size:
        cold_share = 0.0
    if not w.size:
        cold_share = 1.0
    values = np.unique(np.concatenate([w, c]))
    ex = mixture_exceedance(w, c, cold_share, values)

    def at(level: float) -> float:
        return (
            float(values[int(np.argmax(ex <= level + 1e-12))]) if (ex <= level + 1e-12).any() else values[-1]
        )

    est = at(1 - q)
    se = _exceedance_se(w, c, cold_share, est)
    lo, hi = at(1 - q + se), at(max(1 - q - se, 0.0))
    resolved = est < values[-1] and hi <= RESOLVE_RATIO * max(lo, 1e-9)
    return est, bool(resolved)


#: How far (as a ratio) one standard error of the tail share may move a quantile that counts as resolved.
RESOLVE_RATIO = 1.5


def _exceedance_se(w: np.ndarray, c: np.ndarray, share: float, s: float) -> float:
    """Standard error of the mix's share above s (binomial within each kind, shares shrunk off 0 and 1)."""

    def part(v: np.ndarray) -> float:  # half a sample added each side: a share of 0 or 1 is not certain
        return (float(_exceed(np.sort(v), np.array([s]))[0]) * v.size + 0.5) / (v.size + 1) if v.size else 0.0

    pw, pc = part(w), part(c)
    var = (1 - share) ** 2 * pw * (1 - pw) / max(w.size, 1) + share**2 * pc * (1 - pc) / max(c.size, 1)
    return math.sqrt(var)


def slo_limit(warm: Sequence[float], cold: Sequence[float], slo_ms: float, q: float = 0.99) -> float:
    """The largest cold share at which the mix's q-quantile is within ``slo_ms`` (0.0: not even all warm;
    1.0: even all cold): P(latency > slo) is linear in c, so the shares that meet the SLO are [0, limit]."""
    w, c = np.asarray(warm, float), np.asarray(cold, float)
    e0 = float(mixture_exceedance(w, c, 0.0, [slo_ms])[0]) if w.size else 1.0
    e1 = float(mixture_exceedance(w, c, 1.0, [slo_ms])[0]) if c.size else e0
    if e0 > 1 - q + 1e-12:
        return 0.0
    if e1 <= 1 - q + 1e-12:
        return 1.0
    return (1 - q - e0) / (e1 - e0)
