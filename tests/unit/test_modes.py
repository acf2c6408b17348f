"""Every Lambda mode priced over the traffic axis (bench/decide/modes.py) from generated lines and generated
throughput records: Managed Instances are never priced without measured records, never below their minimum
environments, and every mode's cost follows from bench/decide/prices.py's figures."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.decide import modes, prices, traffic
from bench.measure.cells import Cell
from tests.support.throughput import record, records

IMG = "clothing-tflite:reference-full-int8"


def _line(warm_ms: float, init_ms: float, mem: int = 1024) -> traffic.CellLine:
    rng = np.random.default_rng(0)
    warm = list(rng.normal(warm_ms, warm_ms * 0.05, 200))
    inits, firsts = list(rng.normal(init_ms, 10, 12)), [2 * warm_ms] * 12
    from bench.decide import cost

    a, b = cost.cost_line(mem, warm, inits, firsts)
    cold = [i + f + 160 for i, f in zip(inits, firsts, strict=True)]
    return traffic.CellLine(
        Cell.of_tag(IMG, mem), a, b, None, None, 200, 12, 3, warm, cold, [], inits, firsts
    )


@settings(deadline=None, max_examples=20)
@given(warm=st.floats(2, 500), init=st.floats(50, 3000), rph=st.floats(0.1, 1e6))
def test_without_records_managed_instances_are_not_priced(warm, init, rph) -> None:
    lines = {Cell.of_tag(IMG, 1024): _line(warm, init)}
    m = modes.at(lines, None, rph, None, 10.0)
    assert m["mode"] != "managed instances" and m["by_mode"]["managed instances"] is None
    assert m["managed_instances_note"] == modes.NOT_PRICED
    od = m["by_mode"]["on-demand"]
    c = min(traffic.cold_share(rph, 10.0), traffic.C_MAX)
    assert math.isclose(
        od["monthly_usd"], lines[Cell.of_tag(IMG, 1024)].cost(c) * rph * modes.HOURS_PER_MONTH / 1e6
    )


@settings(deadline=None, max_examples=20)
@given(recs=records(IMG), rph=st.floats(0.1, 1e6))
def test_managed_instances_cost_at_least_the_minimum_fleet(recs, rph) -> None:
    caps = modes.capacities(recs, None)
    opt = modes.managed(caps, rph)
    assert opt is not None
    cheapest = min(i.usd_per_hour for i in prices.INSTANCES if i.architecture == "x86_64")
    floor = (
        prices.MI_MIN_ENVIRONMENTS.value
        * cheapest
        * (1 + prices.MI_MANAGEMENT_FEE.value)
        * modes.HOURS_PER_MONTH
    )
    assert opt.monthly_usd >= floor * (1 - 1e-9)
    more = modes.managed(caps, rph * 10)
    assert more is not None and more.monthly_usd >= opt.monthly_usd
    assert (
        opt.low_usd is not None
        and opt.high_usd is not None
        and opt.low_usd <= opt.monthly_usd <= opt.high_usd
    )


def test_an_slo_below_every_measured_p99_leaves_managed_instances_out() -> None:
    recs = [record(IMG, 1, 1.0, f, 20.0, 50.0, 80.0 * f + 40) for f in (0.25, 0.5, 1.0)]
    assert modes.capacities(recs, 10.0) == []
    assert modes.capacities(recs, 65.0)[0].utilisation == 0.25  # the largest load whose p99 meets 65 ms


def test_at_high_steady_traffic_measured_capacity_beats_on_demand() -> None:
    """A fast image on cheap instances wins at hundreds of requests/s, and the crossover is on the axis."""
    lines = {Cell.of_tag(IMG, 1769): _line(100.0, 500.0, 1769)}
    recs = [
        record(IMG, p, 1.0, f, 30.0, 40.0, 60.0, 200.0, rep)
        for p in (1, 2)
        for f in (0.5, 1.0)
        for rep in range(3)
    ]
    ax = modes.axis(lines, recs, None, 10.0)
    assert ax.pick(len(ax.rph) - 1).mode == "managed instances"
    assert ax.pick(0).mode == "on-demand"
    assert any(x["to"] and x["to"][0] == "managed instances" for x in ax.crossovers())


@st.composite
def axes(draw: st.DrawFn) -> modes.Axis:
    """An axis of generated options: each mode's cost and interval at each point, some points unpriced."""
    n = draw(st.integers(2, 12))
    rph = np.geomspace(0.1, 1e6, n)
    by_mode: dict[str, list[modes.Option | None]] = {}
    for m in modes.MODES:
        col: list[modes.Option | None] = []
        for i in range(n):
            if draw(st.booleans()) and draw(st.booleans()):
                col.append(None)
                continue
            usd = draw(st.floats(0.01, 1e4))
            spread = draw(st.none() | st.floats(0, 0.3))
            lo, hi = (None, None) if spread is None else (usd * (1 - spread), usd * (1 + spread))
            img = draw(st.sampled_from(["a", "b"]))
            col.append(modes.Option(m, {"image": img}, usd, lo, hi, None, requests_per_hour=float(rph[i])))
        by_mode[m] = col
    return modes.Axis(rph, by_mode, None)


@settings(deadline=None, max_examples=200)
@given(ax=axes())
def test_the_pick_is_the_simplest_mode_within_the_cheapest_interval_and_the_regions_follow_it(ax) -> None:
    prev = None
    xs = {round(float(x["requests_per_hour"]), 6): x for x in ax.crossovers()}
    for i in range(len(ax.rph)):
        b, p = ax.best(i), ax.pick(i)
        assert (b is None) == (p is None)
        if p is not None:
            reach = max(b.monthly_usd * (1 + modes.SAME_COST), b.high_usd or 0.0)
            assert p.monthly_usd <= reach
            simpler = modes.MODES[: modes.MODES.index(p.mode)]
            assert all(o is None or o.monthly_usd > reach for o in (ax.by_mode[m][i] for m in simpler))
        key = None if p is None else (p.mode, str(p.config.get("image")))
        if i:
            edge = round(float(math.sqrt(ax.rph[i - 1] * ax.rph[i])), 6)
            assert (key != prev) == (edge in xs)
            if edge in xs:
                assert xs[edge]["to"] == key and xs[edge]["from"] == prev
        prev = key
