"""The user's traffic: cost and tail latency of every cell as functions of the cold share c.

A cell's cost per 1M requests is a line in c (bench/decide/cost.py ``cost_line``: a + b * c) and its tail
latency
is a quantile of the mix of its cold and warm samples (bench/decide/stats.py ``mixture_quantile``), so one
set of
measurements answers every traffic level; only the rule's input c changes. c comes from the user
(BENCH_COLD_FRACTION) or from requests per hour through the keep-alive model below.

Keep-alive model (an assumption, replaceable by setting the cold share directly): requests arrive as a
Poisson process of rate r per hour on one sandbox, which stays warm for T minutes after each request; a
request is cold when the gap before it exceeds T, so c = exp(-r * T / 60). T defaults to 10 minutes:
Mikhail Shilkov measured AWS Lambda recycling every idle instance exactly 10 minutes after its last request
(``KEEPALIVE_SOURCE``, August 2019). AWS documents no figure and may change it; concurrency (several
sandboxes at once) adds cold starts this model ignores.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.decide import cost, prices, stats
from bench.measure.cells import Cell
from bench.measure.schema import Row
from core.catalogue import DEFAULT_ARCH

KEEPALIVE_MIN = 10.0
KEEPALIVE_SOURCE = "https://mikhail.io/2019/08/aws-lambda-cold-starts-after-10-minutes/"
KEEPALIVE_MODEL = (
    "Poisson arrivals on one sandbox kept warm T minutes after each request: cold share = "
    "exp(-requests_per_hour * T / 60); T = {t:g} min (BENCH_KEEPALIVE_MIN; default from a public "
    f"measurement, {KEEPALIVE_SOURCE}); an assumption, not measured here; concurrency adds cold starts "
    "it ignores"
)
#: The traffic axis of the report and of winner.json's regions: 0.01 % .. 50 % cold.
C_MIN, C_MAX = 1e-4, 0.5
GRID = np.geomspace(C_MIN, C_MAX, 97)
N_BOOT = 2000
SEED = 0
#: The cold share of a run row that does not say its own (bench Settings' BENCH_COLD_FRACTION default).
DEFAULT_SHARE = 0.01


def cold_share(requests_per_hour: float, keepalive_min: float = KEEPALIVE_MIN) -> float:
    """Share of cold requests at ``requests_per_hour`` (keep-alive model of the module docstring)."""
    if requests_per_hour <= 0 or keepalive_min <= 0:
        raise ValueError("requests per hour and the keep-alive time must be > 0")
    return math.exp(-requests_per_hour * keepalive_min / 60.0)


def requests_per_hour(share: float, keepalive_min: float = KEEPALIVE_MIN) -> float:
    """The inverse of :func:`cold_share`: the traffic at which a share ``share`` of requests is cold."""
    if not 0 < share < 1:
        raise ValueError(f"cold share must be in (0, 1), got {share}")
    return -math.log(share) * 60.0 / keepalive_min


@dataclass
class CellLine:
    """One cell's cost line a + b * c with its bootstrap draws, and its client latency samples. ``cell`` is
    the cell it prices over all its repeats (bench/measure/cells.py; repeat 0, the handler's threads)."""

    cell: Cell
    a: float
    b: float
    a_draws: np.ndarray | None
    b_draws: np.ndarray | None
    n_warm: int
    n_cold: int
    repeats: int
    warm_client: list[float]
    cold_client: list[float]  # the cold latency Lambda would see: INIT + first invoke + the platform term
    cold_local: list[float] = field(default_factory=list)  # the local cold total (docker run -> answer)
    init_ms: list[float] = field(default_factory=list)  # each cold start's INIT (the emulator's REPORT)
    first_ms: list[float] = field(default_factory=list)  # each cold start's first invoke (handler duration)

    @property
    def enough(self) -> bool:
        """Enough samples for an interval (stats.MIN_SAMPLES cold starts and warm requests)."""
        return self.a_draws is not None and min(self.n_warm, self.n_cold) >= stats.MIN_SAMPLES

    def cost(self, c: float) -> float:
        return self.a + self.b * c

    def draws(self, c: float) -> np.ndarray | None:
        return None if self.a_draws is None or self.b_draws is None else self.a_draws + self.b_draws * c

    def quantile(self, c: float, q: float) -> tuple[float | None, bool]:
        """Latency quantile of the request mix at cold share c: warm = client round trip; cold = INIT + first
        invoke + the platform's cold term (bench/decide/prices.py), not the local container start."""
        return stats.mixture_quantile(self.warm_client, self.cold_client, c, q)

    def slo_limit(self, slo_ms: float, q: float = 0.99) -> float:
        """The largest cold share at which the mix's q-quantile meets ``slo_ms`` (stats.slo_limit); a line
        without latency samples meets no SLO."""
        if not self.warm_client and not self.cold_client:
            return 0.0
        return stats.slo_limit(self.warm_client, self.cold_client, slo_ms, q)

    def meets(self, c: float, slo_ms: float | None, q: float = 0.99) -> bool:
        """The SLO test every decision and every region uses: the cold share is within the line's limit."""
        return slo_ms is None or c <= self.slo_limit(slo_ms, q)


def figures(v: CellLine) -> dict[str, float]:
    """The cold figures of a cell, from the same pooled samples its cost and latency use: the one set the
    report, winner.json and README quote (empty without raw samples: the run row's figures stand)."""
    if not v.init_ms:
        return {}
    billed = cost.cold_request_ms(0.0, v.init_ms, v.first_ms)
    out = {
        "cold_init_mean_ms": float(np.mean(v.init_ms)),
        "cold_init_median_ms": float(np.median(v.init_ms)),
        "cold_first_invoke_median_ms": float(np.median(v.first_ms)),
        "cold_billed_mean_ms": billed,
        "init_billed_ms": billed,
        "cold_lambda_median_ms": float(np.median(v.cold_client)),
    }
    if v.cold_local:
        out["cold_total_median_ms"] = float(np.median(v.cold_local))
        sums = np.asarray(v.init_ms) + np.asarray(v.first_ms)
        if len(v.cold_local) == len(sums):
            out["cold_container_start_median_ms"] = float(np.median(np.asarray(v.cold_local) - sums))
    return out


def _row_line(r: Row, arch: str) -> CellLine:
    """A cell without raw samples (an older run): the line through the row's own cost at its cold share,
    with the slope of its billed init over a warm request; no draws, no latency mix."""
    mem = int(r.memory_mb or 0)
    w = r.warm.billed_mean_ms if r.warm.billed_mean_ms is not None else 1.0
    init = r.cost.init_billed_ms if r.cost.init_billed_ms is not None else 0.0
    b = float(cost._per_1m(mem, cost.billed_ms(init) + w, arch) - cost._per_1m(mem, w, arch))
    c_row = r.cost.cold_fraction if r.cost.cold_fraction is not None else DEFAULT_SHARE
    a = float(r.cost.usd(arch) or 0.0) - b * c_row
    return CellLine(identity(r), a, b, None, None, 0, 0, 0, [], [])


def identity(r: Row) -> Cell:
    """The cell a record's line prices, over all its repeats: repeat 0, the handler's thread policy."""
    return dataclasses.replace(r.cell, repeat=0, threads=None)


def lines(
    cells: Sequence[Row],
    by_repeat: Mapping[Any, Any] | None,
    arch: str = DEFAULT_ARCH,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    platform_ms: float | None = None,
) -> dict[Cell, CellLine]:
    """A :class:`CellLine` per row of ``cells`` (one row per cell, keyed by :func:`identity`) from
    bench/measure/samples.py's per-repeat samples (indexed by the samples file's image, memory_mb, repeat).
    Point estimates use every sample pooled over the repeats (one cost per cell); the draws resample
    repeats (the same draw of repeats for every cell: a repeat is one pass of the matrix), then samples
    within them. Seeded: a report is reproducible. A cold start's latency is its INIT + first
    invoke + ``platform_ms`` (default: bench/decide/prices.py's platform term for a container image)."""
    plat = prices.platform_init_ms(architecture=arch) if platform_ms is None else platform_ms
    reps_of: dict[int, np.ndarray] = {}
    rng = np.random.default_rng(seed)
    out: dict[Cell, CellLine] = {}
    for r in sorted(cells, key=lambda r: r.key):
        cell, mem = identity(r), int(r.memory_mb or 0)
        per = sorted(
            (k.repeat, s)
            for k, s in (by_repeat or {}).items()
            if dataclasses.replace(k, repeat=0) == cell and s.warm_ms
        )
        if not per:
            out[cell] = _row_line(r, arch)
            continue
        reps = [s for _, s in per]
        warm = [x for s in reps for x in s.warm_ms]
        inits = [x for s in reps for x in s.cold_init_ms]
        durs = [x for s in reps for x in s.cold_duration_ms]
        a, b = cost.cost_line(mem, warm, inits, durs, arch)
        k = len(reps)
        if k not in reps_of:
            reps_of[k] = stats.repeat_indices(k, n_boot, np.random.default_rng([seed, k]))
        cold = [(s.cold_init_ms, s.cold_duration_ms) for s in reps]
        ad, bd = cost.line_draws(mem, [s.warm_ms for s in reps], cold, reps_of[k], rng, arch)
        wc = [x for s in reps for x in s.warm_client_ms]
        cc = [i + d + plat for i, d in zip(inits, durs, strict=True)]
        local = [x for s in reps for x in s.cold_client_ms]
        out[cell] = CellLine(cell, a, b, ad, bd, len(warm), len(inits), k, wc, cc, local, inits, durs)
    return out


@dataclass(frozen=True)
class Comparison:
    """One cell against the cheapest at a cold share (:func:`compare`). ``cost`` the point; ``low``/``high``
    its interval; ``diff_low``/``diff_high`` the interval of its cost minus the cheapest cell's, over the
    same bootstrap draws; ``p_cheapest`` the share of draws in which the cell is the cheapest. Intervals and
    P(cheapest) are None where the samples are too few for them: the report then says so instead of drawing
    one. ``tied`` when the tie is real: that whole interval lies within +-margin x the cheapest's cost (the
    cheapest ties with itself); ``distinct`` when the difference excludes zero (diff_low > 0)."""

    cell: Cell
    cost: float
    low: float | None
    high: float | None
    diff_low: float | None
    diff_high: float | None
    p_cheapest: float | None
    enough: bool  # stats.MIN_SAMPLES or more of both kinds (CellLine.enough)
    tied: bool
    distinct: bool


def _opt(x: float) -> float | None:
    """A statistic, or None where it is undefined (NaN: too few samples)."""
    return None if x != x else float(x)


def compare(
    ls: Mapping[Cell, CellLine], c: float, confidence: float = 0.95, margin: float = 0.02
) -> dict[Cell, Comparison]:
    """Every cell of ``ls`` against the cheapest at cold share c (:class:`Comparison`), in ``ls``'s order.
    Intervals need stats.MIN_SAMPLES in the cell (a difference: in the cheapest too); P(cheapest) compares
    every cell, so it needs them in all."""
    keys = list(ls)
    pts = np.array([ls[k].cost(c) for k in keys])
    best = int(np.argmin(pts))
    ok = np.array([ls[k].enough for k in keys], dtype=bool)
    draws = [ls[k].draws(c) for k in keys]
    tail = (1 - confidence) / 2 * 100
    nan = np.full(len(keys), np.nan)
    low, high, dlow, dhigh, pc = nan.copy(), nan.copy(), nan.copy(), nan.copy(), nan.copy()
    present = [d for d in draws if d is not None]
    if draws and len(present) == len(draws):
        m = np.vstack(present)  # (cells, n_boot)
        lo, hi = np.percentile(m, [tail, 100 - tail], axis=1)
        low, high = np.where(ok, lo, np.nan), np.where(ok, hi, np.nan)
        dlo, dhi = np.percentile(m - m[best], [tail, 100 - tail], axis=1)
        dlow, dhigh = np.where(ok & ok[best], dlo, np.nan), np.where(ok & ok[best], dhi, np.nan)
        if ok.all():
            pc = np.bincount(np.argmin(m, axis=0), minlength=len(keys)) / m.shape[1]
    band = margin * abs(float(pts[best]))
    return {
        k: Comparison(
            k,
            float(pts[i]),
            _opt(low[i]),
            _opt(high[i]),
            _opt(dlow[i]),
            _opt(dhigh[i]),
            _opt(pc[i]),
            bool(ok[i]),
            i == best or bool(dlow[i] >= -band and dhigh[i] <= band),
            bool(dlow[i] > 0),
        )  # fmt: skip
        for i, k in enumerate(keys)
    }


@dataclass(frozen=True)
class Region:
    """A stretch of the traffic axis where the rule picks one cell (None: no cell meets the SLO there),
    from one cold share to another; the requests per hour follow from the keep-alive model."""

    winner: Cell | None
    from_cold_share: float
    to_cold_share: float
    keepalive_min: float = KEEPALIVE_MIN

    @property
    def image(self) -> str | None:
        return None if self.winner is None else self.winner.tag

    @property
    def memory_mb(self) -> int | None:
        return None if self.winner is None else self.winner.memory_mb

    @property
    def from_requests_per_hour(self) -> float:
        return requests_per_hour(self.from_cold_share, self.keepalive_min)

    @property
    def to_requests_per_hour(self) -> float:
        return requests_per_hour(self.to_cold_share, self.keepalive_min)

    def holds(self, c: float) -> bool:
        return self.from_cold_share <= c <= self.to_cold_share

    def to_json(self) -> dict[str, Any]:
        """The region as winner.json states it (its one serialisation)."""
        return {
            "image": self.image,
            "memory_mb": self.memory_mb,
            "from_cold_share": self.from_cold_share,
            "to_cold_share": self.to_cold_share,
            "from_requests_per_hour": self.from_requests_per_hour,
            "to_requests_per_hour": self.to_requests_per_hour,
        }


def crossovers(
    winners: Sequence[Cell | None], grid: np.ndarray = GRID, keepalive_min: float = KEEPALIVE_MIN
) -> list[Region]:
    """Runs of the same winner along ``grid`` -> :class:`Region` s, boundaries at the geometric midpoint
    between the last c of one run and the first of the next."""
    out: list[Region] = []
    for i, w in enumerate(winners):
        if out and out[-1].winner == w:
            continue
        lo = float(grid[0]) if i == 0 else float(math.sqrt(grid[i - 1] * grid[i]))
        if out:
            out[-1] = dataclasses.replace(out[-1], to_cold_share=lo)
        out.append(Region(w, lo, float(grid[-1]), keepalive_min))
    return out


def crossing(left: CellLine, right: CellLine, lo: float, hi: float) -> float | None:
    """The cold share where two cost lines cross, if it lies in (lo, hi): the exact boundary between two
    regions whose picks differ by cost alone (a region boundary set by a tie-break or an SLO is not a
    crossing, and the grid's midpoint stands)."""
    if left.b == right.b:
        return None
    x = (right.a - left.a) / (left.b - right.b)
    return x if lo < x < hi else None
