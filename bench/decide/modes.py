"""Every way Lambda can run a model, priced over the whole traffic axis: on-demand, provisioned concurrency
(PC) and Lambda Managed Instances (MI), each at its cheapest configuration that meets the SLO.

* On-demand: a cell's cost line a + b * c (bench/decide/traffic.py) at the cold share the keep-alive model
  gives
  for the traffic; its p99 is the cold + warm mix's (cold = INIT + first invoke + the platform term).
* PC: enough environments for the mean concurrency (Little's law: requests/s x the mean billed duration)
  times a headroom (an assumption, bench/decide/prices.py), billed per GB-s configured all month, plus
  requests
  and duration at PC's duration price; no cold starts, so its p99 is the warm p99. Spill-over beyond the
  configured environments (on-demand cold starts) is not priced: the headroom stands for it.
* MI: from measured throughput records only (bench/measure/throughput_schema.py; never an invented rate): per
  image and P processes per vCPU, the rate per vCPU at saturation times the utilisation the fleet runs at
  (a setting, lowered to the largest measured load fraction whose p99 meets the SLO), the instance type of
  the image's architecture with the least price that holds the memory per vCPU the processes need, at
  least the minimum environments, the management fee and the request charge. No records: "not priced".

Every price is bench/decide/prices.py's. A month is 730 hours. Intervals: on-demand and PC from the cost
line's
bootstrap draws; MI from the spread of the saturation rate over the record repeats (min..max).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.decide import prices, traffic
from bench.measure.cells import Cell
from bench.measure.throughput_schema import ThroughputRecord
from core.catalogue import DEFAULT_ARCH

MODES = ("on-demand", "provisioned concurrency", "managed instances")
#: The traffic axis: a few requests a day to ~280 requests/s.
RPH = np.geomspace(0.1, 1e6, 121)
HOURS_PER_MONTH = prices.SECONDS_PER_MONTH / 3600
#: Two options within this share of each other's monthly cost count as the same price (Axis.pick), where
#: the cheaper one has no interval to say more.
SAME_COST = 0.02
NOT_PRICED = "not priced: no measured throughput records (results/throughput.csv) for these images"


@dataclass
class Option:
    """One mode's cheapest configuration at one traffic level."""

    mode: str
    config: dict[str, Any]
    monthly_usd: float
    low_usd: float | None
    high_usd: float | None
    p99_ms: float | None
    per_1m_usd: float = field(init=False)
    requests_per_hour: float = 0.0

    def __post_init__(self) -> None:
        n = self.requests_per_hour * HOURS_PER_MONTH
        self.per_1m_usd = self.monthly_usd / n * 1e6 if n > 0 else math.inf


def _gb(mem_mb: int) -> float:
    return mem_mb / 1024


def _warm_billed_ms(line: traffic.CellLine, a: Any, arch: str) -> Any:
    """Mean billed warm ms from the all-warm cost per 1M ``a`` (the inverse of cost._per_1m)."""
    gb = _gb(line.cell.memory_mb)
    return (np.asarray(a) / 1e6 - prices.REQUEST.value) / (gb * prices.DURATION[arch].value) * 1000


def _interval(x: np.ndarray | None, enough: bool) -> tuple[float | None, float | None]:
    if x is None or not enough:
        return None, None
    lo, hi = np.percentile(x, [2.5, 97.5])
    return float(lo), float(hi)


def on_demand(
    lines: Mapping[Cell, traffic.CellLine], rph: float, slo_ms: float | None, keepalive_min: float
) -> Option | None:
    """The cheapest cell on-demand at ``rph`` whose mix p99 meets the SLO (CellLine.meets)."""
    c = min(traffic.cold_share(rph, keepalive_min), traffic.C_MAX)
    ok = [v for v in lines.values() if v.meets(c, slo_ms)]
    if not ok:
        return None
    best = min(ok, key=lambda v: v.cost(c))
    n = rph * HOURS_PER_MONTH / 1e6
    lo, hi = _interval(best.draws(c), best.enough)
    p99, _ = best.quantile(c, 0.99)
    cfg = {"image": best.cell.tag, "memory_mb": best.cell.memory_mb, "cold_share": c}
    return Option(
        "on-demand", cfg, best.cost(c) * n, lo and lo * n, hi and hi * n, p99, requests_per_hour=rph
    )


def _pc_cost(line: traffic.CellLine, a: Any, rph: float, arch: str) -> tuple[Any, int]:
    warm_ms = _warm_billed_ms(line, a, arch)
    gb = _gb(line.cell.memory_mb)
    conc = rph / 3600 * float(np.mean(warm_ms)) / 1000
    k = max(1, math.ceil(conc * prices.PC_HEADROOM.current()))
    fixed = k * gb * prices.PC_PROVISIONED[arch].value * prices.SECONDS_PER_MONTH
    n = rph * HOURS_PER_MONTH
    per = prices.REQUEST.value + gb * warm_ms / 1000 * prices.PC_DURATION[arch].value
    return fixed + n * per, k


def provisioned(
    lines: Mapping[Cell, traffic.CellLine],
    rph: float,
    slo_ms: float | None,
    arch: str = DEFAULT_ARCH,
) -> Option | None:
    """The cheapest cell with provisioned concurrency at ``rph`` whose warm p99 meets the SLO."""
    best: Option | None = None
    for v in lines.values():
        p99 = float(np.percentile(v.warm_client, 99)) if v.warm_client else None
        if slo_ms is not None and (p99 is None or p99 > slo_ms):
            continue
        cost, k = _pc_cost(v, v.a, rph, arch)
        lo = hi = None
        if v.a_draws is not None and v.enough:
            draws, _ = _pc_cost(v, v.a_draws, rph, arch)
            lo, hi = (float(x) for x in np.percentile(draws, [2.5, 97.5]))
        cfg = {"image": v.cell.tag, "memory_mb": v.cell.memory_mb, "provisioned_environments": k}
        opt = Option("provisioned concurrency", cfg, float(cost), lo, hi, p99, requests_per_hour=rph)
        best = opt if best is None or opt.monthly_usd < best.monthly_usd else best
    return best


@dataclass(frozen=True)
class Capacity:
    """What one image with P processes per vCPU serves, from its throughput records."""

    image: str
    architecture: str
    processes_per_vcpu: int
    rps_per_vcpu: tuple[float, float, float]  # (mean, min, max) over repeats, at saturation
    utilisation: float  # share of saturation the fleet runs at (setting, or lower for the SLO)
    p99_ms: float | None  # p99 under that load (the record at the largest fraction <= utilisation)
    gib_per_vcpu: float  # memory the processes of one vCPU need


def capacities(records: Sequence[ThroughputRecord], slo_ms: float | None) -> list[Capacity]:
    """One Capacity per (image, architecture, P) with error-free saturation records."""
    out = []
    keys = sorted({(r.image, r.architecture, r.processes_per_vcpu) for r in records})
    target = prices.MI_TARGET_UTILISATION.current()
    for image, arch, p in keys:
        rs = [r for r in records if (r.image, r.architecture, r.processes_per_vcpu) == (image, arch, p)]
        sat = [r.rps_per_vcpu for r in rs if r.saturated and r.n_errors == 0]
        if not sat:
            continue
        loads = sorted((r.load_fraction, r.latency_p99_ms) for r in rs if r.n_errors == 0)
        fits = [(f, p99) for f, p99 in loads if f <= target and (slo_ms is None or p99 <= slo_ms)]
        if not fits:
            continue
        util, p99 = fits[-1] if slo_ms is not None else (target, fits[-1][1])
        gib = max(r.memory_total_bytes / r.vcpus for r in rs) / 2**30
        rate = (float(np.mean(sat)), float(min(sat)), float(max(sat)))
        out.append(Capacity(image, arch, p, rate, util, p99, gib))
    return out


def _mi_cost(cap: Capacity, rate: float, rph: float) -> tuple[float, dict[str, Any]] | None:
    reserved = prices.MI_RESERVED.current()
    kinds = [i for i in prices.INSTANCES if i.architecture == cap.architecture]
    fits = [i for i in kinds if i.gib_per_vcpu * (1 - reserved) >= cap.gib_per_vcpu]
    if not fits or rate <= 0:
        return None
    inst = min(fits, key=lambda i: i.usd_per_hour / i.vcpus)
    vcpus = rph / 3600 / (rate * cap.utilisation) / (1 - reserved)
    n_inst = max(math.ceil(vcpus / inst.vcpus), int(prices.MI_MIN_ENVIRONMENTS.value))
    hourly = n_inst * inst.usd_per_hour * (1 + prices.MI_MANAGEMENT_FEE.value)
    cost = hourly * HOURS_PER_MONTH + rph * HOURS_PER_MONTH * prices.MI_REQUEST.value
    cfg = {
        "image": cap.image,
        "instance": inst.name,
        "instances": n_inst,
        "processes_per_vcpu": cap.processes_per_vcpu,
        "utilisation": cap.utilisation,
        "memory_gib_per_vcpu": inst.gib_per_vcpu,
    }
    return cost, cfg


def managed(caps: Sequence[Capacity], rph: float, images: set[str] | None = None) -> Option | None:
    """The cheapest Managed Instances configuration at ``rph`` (None: no capacity measured)."""
    best: Option | None = None
    for cap in caps:
        if images is not None and cap.image not in images:
            continue
        mid = _mi_cost(cap, cap.rps_per_vcpu[0], rph)
        if mid is None:
            continue
        worst, bestcase = _mi_cost(cap, cap.rps_per_vcpu[1], rph), _mi_cost(cap, cap.rps_per_vcpu[2], rph)
        opt = Option(
            "managed instances", mid[1], mid[0], bestcase and bestcase[0], worst and worst[0], cap.p99_ms,
            requests_per_hour=rph,
        )  # fmt: skip
        best = opt if best is None or opt.monthly_usd < best.monthly_usd else best
    return best


@dataclass
class Axis:
    """Each mode's cheapest option at every traffic level of RPH, the overall pick and its crossovers."""

    rph: np.ndarray
    by_mode: dict[str, list[Option | None]]
    mi_note: str | None  # why Managed Instances are not priced (None: priced)

    def best(self, i: int) -> Option | None:
        opts = [o[i] for o in self.by_mode.values() if o[i] is not None]
        return min(opts, key=lambda o: o.monthly_usd) if opts else None  # type: ignore[union-attr]

    def pick(self, i: int) -> Option | None:
        """The overall pick at point i: the cheapest option, unless a simpler mode costs no more than the
        cheapest's 95 % interval reaches (or SAME_COST, for options without an interval). Simpler is
        MODES' order: on-demand scales to zero and commits to nothing, provisioned concurrency commits to
        environments, Managed Instances to instances. A point's pick depends on that point alone, so
        winner.json's answer at one traffic level (:func:`at`) and the regions along the axis cannot
        disagree, and integer steps of provisioned environments inside the noise do not flip the answer
        back and forth; :func:`at` states what the simpler mode costs above the cheapest."""
        b = self.best(i)
        if b is None:
            return None
        reach = max(b.monthly_usd * (1 + SAME_COST), b.high_usd or 0.0)
        return next(o for m in MODES if (o := self.by_mode[m][i]) is not None and o.monthly_usd <= reach)

    def crossovers(self) -> list[dict[str, Any]]:
        """Where the overall pick (mode + image) changes along the axis: requests/hour at the switch."""
        out: list[dict[str, Any]] = []
        prev: Option | None = None
        for i, r in enumerate(self.rph):
            b = self.pick(i)
            key = None if b is None else (b.mode, str(b.config.get("image")))
            old = None if prev is None else (prev.mode, str(prev.config.get("image")))
            if i and key != old:
                x = float(math.sqrt(self.rph[i - 1] * r))
                out.append({"requests_per_hour": x, "from": old, "to": key})
            prev = b
        return out


def axis(
    lines: Mapping[Cell, traffic.CellLine],
    records: Sequence[ThroughputRecord] | None,
    slo_ms: float | None,
    keepalive_min: float,
    arch: str = DEFAULT_ARCH,
    rph: np.ndarray = RPH,
) -> Axis:
    """Price every mode over ``rph`` for one model's eligible cells ``lines``."""
    images = {k.tag for k in lines}
    caps = [c for c in capacities(records or [], slo_ms) if c.image in images]
    mi_note = None if caps else NOT_PRICED
    by_mode: dict[str, list[Option | None]] = {
        "on-demand": [on_demand(lines, float(r), slo_ms, keepalive_min) for r in rph],
        "provisioned concurrency": [provisioned(lines, float(r), slo_ms, arch) for r in rph],
        "managed instances": [managed(caps, float(r)) if caps else None for r in rph],
    }
    return Axis(rph, by_mode, mi_note)


def at(
    lines: Mapping[Cell, traffic.CellLine],
    records: Sequence[ThroughputRecord] | None,
    rph: float,
    slo_ms: float | None,
    keepalive_min: float,
    arch: str = DEFAULT_ARCH,
) -> dict[str, Any]:
    """winner.json's ``mode`` block at the user's traffic: the pick (Axis.pick, the rule the axis's regions
    follow), what keeping a simpler mode costs over the cheapest, and every mode's own best."""
    ax = axis(lines, records, slo_ms, keepalive_min, arch, np.array([rph]))
    best, cheapest = ax.pick(0), ax.best(0)
    return {
        "requests_per_hour": rph,
        "p99_slo_ms": slo_ms,
        "mode": None if best is None else best.mode,
        "configuration": None if best is None else best.config,
        "monthly_usd": None if best is None else best.monthly_usd,
        "per_1m_usd": None if best is None else best.per_1m_usd,
        "interval_usd": None if best is None else [best.low_usd, best.high_usd],
        # a simpler mode kept inside the cheapest's interval: which one was cheaper, and by how much
        "cheapest_mode": None if cheapest is None else cheapest.mode,
        "kept_over_cheapest_usd": None
        if best is None or cheapest is None
        else best.monthly_usd - cheapest.monthly_usd,
        "by_mode": {m: _plain(o[0]) for m, o in ax.by_mode.items()},
        "managed_instances_note": ax.mi_note,
    }


def _plain(o: Option | None) -> dict[str, Any] | None:
    if o is None:
        return None
    return {
        "configuration": o.config,
        "monthly_usd": o.monthly_usd,
        "interval_usd": [o.low_usd, o.high_usd],
        "per_1m_usd": o.per_1m_usd,
        "p99_ms": o.p99_ms,
    }
