"""The winner rule: what `deploy` ships (results/winner.json), at the user's traffic.

RULE: among container cells that pass the accuracy gate (results/accuracy.csv: the variant agrees with its
TensorFlow reference, measured on the very bytes the cell served: the accuracy row's sha256 equals the
cell's model_sha256, and the model's test top-1 is at least ``min_top1`` (BENCH_MIN_TOP1_PCT),
so a degenerate model that always answers one class cannot win by being cheap) and answered every request
without error, keep those whose warm p99 (client side) is within the latency budget and, with a p99 SLO
(BENCH_P99_MS), whose p99 of the cold + warm request mix meets it; the lowest cost per 1M requests at the
user's cold share (x86_64 prices) wins.

Cost depends on traffic: every cell's cost is a line a + b * c in the cold share c (bench/decide/traffic.py),
so
the same samples give the pick at any c, and winner.json names the cells picked elsewhere on the axis.
Cost is uncertain: every cell gets a bootstrap interval of its cost *minus* the cheapest's (resampling
repeats, then samples) and P(cheapest). A cell ties with the cheapest only when the tie is real: that whole
interval lies within TIE_MARGIN of the cheapest's cost (an equivalence, not a failure to tell apart). Only
then may the smaller compressed image, then the lower cost, then the lower warm p99 decide (TIE_BREAKS
says why), and the decision states what it costs ("picked for a 12 MB smaller image, at $0.22 per 1M more
than the cheapest"). Where the samples cannot tell two cells apart but cannot show them equal either
(too few samples, or an interval wider than the margin) the lower expected cost decides and the report
says how sure that is (P(cheapest)). The regions along the traffic axis apply this same rule at every
share, the user's own share included. The null image (no model) never wins.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.decide import cost, stats, traffic
from bench.measure import schema
from bench.measure.cells import Cell
from bench.measure.samples import CellSamples
from bench.measure.schema import Row
from core.catalogue import ARCH_NAMES, DEFAULT_ARCH
from core.contracts import Winner
from models import skew

RULE = (
    "Among container cells that pass the accuracy gate (measured on the same sha256; "
    "top-1 >= {min_top1:g} %) and had no errors, "
    "with warm p99 <= {budget:g} ms (and the cold + warm mix's p99 within BENCH_P99_MS when set): "
    "lowest cost per 1M requests ({arch} prices) at the cold share of winner.json's traffic; cells whose "
    "95 % bootstrap interval of the cost difference to the cheapest lies within {margin:.0%} of the "
    "cheapest's cost (one cent per 1M without raw samples) tie and go to the smaller compressed image (whole "
    "MB), then the lower cost, then the lower p99; otherwise the lower expected cost wins. "
    "The null image never wins."
)
COST_TIE_USD = 0.01
#: A tie is real when the interval of the cost difference to the cheapest lies within this share of the
#: cheapest's cost: a difference that small is not worth a larger image (the margin is the rule's, not a
#: price; 2 % of a cost per 1M is a few cents at these sizes).
TIE_MARGIN = 0.02
#: The cold share when neither the run nor the caller gives one (the settings' BENCH_COLD_FRACTION default).
DEFAULT_COLD_SHARE = traffic.DEFAULT_SHARE
#: The model-quality floor of the accuracy gate when the caller passes none (Settings.min_top1_pct).
MIN_TOP1_PCT = 50.0


METRICS = (
    "cost_per_1m_x86_64_usd",
    "cost_per_1m_arm64_usd",
    "init_billed_ms",
    "warm_client_p50_ms",
    "warm_client_p99_ms",
    "warm_handler_p50_ms",
    "warm_handler_p99_ms",
    "cold_total_median_ms",
    "cold_container_start_median_ms",
    "cold_init_median_ms",
    "cold_init_mean_ms",
    "cold_first_invoke_median_ms",
    "cold_billed_mean_ms",
    "cold_lambda_median_ms",
    "peak_memory_bytes",
    "image_compressed_bytes",
    "image_uncompressed_bytes",
    "top1_accuracy_pct",
    "agreement_pct",
    "container_agreement_pct",
)


@dataclass(frozen=True)
class Rule:
    """The settings the rule is applied with (the bench settings: BENCH_P99_BUDGET_MS, BENCH_MIN_TOP1_PCT, the
    traffic's cold share, BENCH_P99_MS, BENCH_KEEPALIVE_MIN) and the architecture whose prices decide."""

    budget_ms: float
    min_top1: float = MIN_TOP1_PCT
    cold_share: float | None = None  # None: the run's BENCH_COLD_FRACTION
    slo_ms: float | None = None
    keepalive_min: float = traffic.KEEPALIVE_MIN
    architecture: str = DEFAULT_ARCH

    def text(self) -> str:
        """The rule as winner.json states it."""
        return RULE.format(
            budget=self.budget_ms, arch=self.architecture, min_top1=self.min_top1, margin=TIE_MARGIN
        )


#: Raw samples per cell and repeat (bench/measure/samples.py ``read(by_repeat=True)``).
BySample = Mapping[Cell, CellSamples]


@dataclass(frozen=True)
class DecisionInput:
    """What a decision is made from: the run's records (accuracy joined), its raw samples per repeat (None:
    an older run without them, the one-cent band decides) and the rule's settings."""

    rows: Sequence[Row]
    rule: Rule
    by_repeat: BySample | None = None

    def only(self, rows: Sequence[Row], **rule: Any) -> DecisionInput:
        """The same input for ``rows`` (and the rule with ``rule``'s fields changed)."""
        return DecisionInput(rows, Rule(**{**self.rule.__dict__, **rule}), self.by_repeat)


def eligible(rows: Sequence[Row], budget_ms: float, min_top1: float = MIN_TOP1_PCT) -> list[Row]:
    """Rows the rule may choose from (see RULE); threads experiments (MODEL_THREADS forced by
    BENCH_THREADS) are measurements of a setting, not shippable cells."""
    failed = set(skew.failed())  # train/serve skew gate (models/skew.py): a model that failed cannot win

    def ok(r: Row) -> bool:
        acc, p99 = r.accuracy, r.warm.client_p99_ms
        return (
            r.target == "container"
            and r.image_kind != "null"
            and not r.forced
            and bool(acc.gate_passed)
            and r.model_sha256 is not None
            and r.model_sha256 == acc.accuracy_sha256
            and (acc.top1_accuracy_pct if acc.top1_accuracy_pct is not None else -1.0) >= min_top1
            and r.model not in failed
            and not r.errors
            and p99 is not None
            and p99 <= budget_ms
        )

    return [r for r in rows if ok(r)]


CONFIDENCE = 0.95
#: Tie-break order inside a statistical tie, and why each criterion is there (winner.json says which decided).
TIE_BREAKS: tuple[tuple[str, Callable[[CellCost], Any], str], ...] = (
    (
        "image size",
        lambda c: c.size_mb,
        "the smaller compressed image (in whole MB: a few KB decide nothing): on Lambda a container image's "
        "cold start and its ECR storage grow with its size, which this host's warm page cache hides",
    ),
    ("lower cost", lambda c: c.cost, "the lower expected cost: the images are the same size to the MB"),
    ("warm p99", lambda c: c.row.warm.client_p99_ms, "the lower warm p99: the tail latency users feel"),
    ("image name", lambda c: c.image, "the image name, only so the choice is deterministic"),
)
#: Compressed sizes are compared in units of this many bytes: two variants of one runtime differ by a few KB
#: (their model files), which says nothing about the cold start, and must not outrank the point cost.
SIZE_UNIT_BYTES = 1_000_000


def size_mb(row: Row) -> float:
    """Compressed size in whole MB (unknown: last)."""
    b = row.size.compressed_bytes
    return float("inf") if b is None else float(round(b / SIZE_UNIT_BYTES))


@dataclass(frozen=True)
class CellCost:
    """One eligible cell at a cold share: its record (numbers are medians over the repeats), the cold figures
    of its pooled samples (traffic.figures: what winner.json quotes), its cost with the interval, the
    interval of its difference to the cheapest, P(cheapest), whether it ties, and its request mix's tail."""

    row: Row
    figures: Mapping[str, float]
    cost: float
    low: float | None
    high: float | None
    diff_low: float | None
    diff_high: float | None
    p_cheapest: float | None
    tied: bool
    distinct: bool  # its difference to the cheapest excludes zero
    n_warm: int
    n_cold: int
    mix_p99_ms: float | None
    mix_p999_ms: float | None

    @property
    def cell(self) -> Cell:
        """The cell this cost prices (traffic.identity of its row): the key of the decision's lines."""
        return traffic.identity(self.row)

    @property
    def image(self) -> str:
        return str(self.row.image)

    @property
    def memory_mb(self) -> int:
        return int(self.row.memory_mb or 0)

    @property
    def size_mb(self) -> float:
        return size_mb(self.row)


@dataclass
class Decision:
    """The winner at one cold share with its evidence: every eligible cell's cost at that share with its
    interval, its difference to the cheapest and P(cheapest), the tie set, the tie-break, and the cells
    the same rule picks elsewhere on the traffic axis (``regions``)."""

    winner: CellCost
    cells: list[CellCost]  # the eligible cells that meet the SLO at cold_share, in the run's order
    tie_set: list[CellCost]  # tied cells in tie-break order (the winner first)
    decided_by: str  # "cost" (no tie) or one of TIE_BREAKS' names
    why: str
    basis: str  # how the intervals were obtained
    repeats: int = 1
    wins: dict[Cell, int] = field(default_factory=dict)
    cold_share: float = DEFAULT_COLD_SHARE
    slo_ms: float | None = None
    regions: list[traffic.Region] = field(default_factory=list)
    lines: dict[Cell, traffic.CellLine] = field(default_factory=dict)


def cells_of(rows: Sequence[Row]) -> list[Row]:
    """One record per cell (traffic.identity): numbers are medians over the repeats (the same figure
    everywhere a cell is quoted, never repeat 0's), the rest from the cell's first row."""
    return schema.medians(rows, traffic.identity)


def _basis(ls: dict[Cell, traffic.CellLine], confidence: float) -> str:
    if not any(v.a_draws is not None for v in ls.values()):
        return f"no raw samples: costs within ${COST_TIE_USD} per 1M tie"
    if not all(v.enough for v in ls.values()):
        few = min(ls.values(), key=lambda v: min(v.n_cold, v.n_warm))
        return (
            f"too few samples for an interval (fewest: {few.n_cold} cold starts and {few.n_warm} warm "
            f"requests in a cell; an interval needs {stats.MIN_SAMPLES} of each), so cells short of it "
            "cannot be told apart and count as tied"
        )
    k = max(v.repeats for v in ls.values())
    return (
        f"{confidence:.0%} bootstrap interval of each cell's cost minus the cheapest's, resampling the "
        f"{k} repeat(s) and then the samples within each ({traffic.N_BOOT} draws)"
    )


def at_share(
    cells: Sequence[Row],
    ls: Mapping[Cell, traffic.CellLine],
    c: float,
    slo_ms: float | None = None,
    confidence: float = CONFIDENCE,
) -> list[CellCost]:
    """The eligible ``cells`` at cold share c: cost, interval, difference to the cheapest, P(cheapest),
    tied, the mix's p99/p99.9; cells that do not meet ``slo_ms`` there (CellLine.meets, the test the
    regions use too) are dropped first."""
    keep = (
        [r for r in cells if ls[traffic.identity(r)].meets(c, slo_ms)] if slo_ms is not None else list(cells)
    )
    if not keep:
        return []
    keys = [traffic.identity(r) for r in keep]
    t = traffic.compare({k: ls[k] for k in keys}, c, confidence, TIE_MARGIN)
    out = [
        CellCost(
            r,
            traffic.figures(ls[k]),
            t[k].cost,
            t[k].low,
            t[k].high,
            t[k].diff_low,
            t[k].diff_high,
            t[k].p_cheapest,
            t[k].tied,
            t[k].distinct,
            ls[k].n_warm,
            ls[k].n_cold,
            ls[k].quantile(c, 0.99)[0],
            ls[k].quantile(c, 0.999)[0],
        )  # fmt: skip
        for r, k in zip(keep, keys, strict=True)
    ]
    if not any(ls[k].a_draws is not None for k in keys):  # no raw samples: the one-cent band
        floor = min(x.cost for x in out) + COST_TIE_USD
        out = [dataclasses.replace(x, tied=x.cost <= floor) for x in out]
    return out


def _tie_set(cells: Sequence[CellCost]) -> list[CellCost]:
    return sorted((x for x in cells if x.tied), key=lambda x: tuple(f(x) for _, f, _ in TIE_BREAKS))


def _decided_by(tied: Sequence[CellCost], cells: Sequence[CellCost]) -> tuple[str, str]:
    """Which criterion picked the winner, and the sentence that says what it cost."""
    if len(cells) == 1:
        return "cost", "the only eligible cell"
    if len(tied) == 1 and not any(x.n_cold for x in cells):
        return "cost", f"the only cell within ${COST_TIE_USD} per 1M of the cheapest (no raw samples)"
    if len(tied) == 1:
        sure = sum(x.distinct for x in cells) == len(cells) - 1
        return "cost", (
            "the lowest expected cost, its difference to every other cell excluding zero: cheapest outright"
            if sure
            else "the lowest expected cost; no other cell's difference to it lies within "
            f"{TIE_MARGIN:.0%} of its cost, so no tie-break applies (see P(cheapest) for how sure)"
        )
    first, second = tied[0], tied[1]
    extra = first.cost - min(x.cost for x in cells)
    for i, (name, f, why) in enumerate(TIE_BREAKS):
        if f(first) != f(second):
            cheapest = min(tied, key=lambda x: x.cost)
            mb = cheapest.size_mb - first.size_mb
            if i == 0 and extra > 0:
                why = (
                    f"picked for a {mb:.0f} MB smaller image, at ${extra:.2f} per 1M more than the "
                    f"cheapest ({why})"
                )
            else:
                why = f"{why}; ${extra:.2f} per 1M more than the cheapest"
            return name, why
    return TIE_BREAKS[-1][0], TIE_BREAKS[-1][2]


def winner_at(
    cells: Sequence[Row], ls: Mapping[Cell, traffic.CellLine], c: float, slo_ms: float | None
) -> Cell | None:
    """The cell the rule picks at cold share c (None: nothing meets the SLO there)."""
    d = at_share(cells, ls, c, slo_ms)
    return _tie_set(d)[0].cell if d else None


def axis(ls: dict[Cell, traffic.CellLine], slo_ms: float | None, extra: tuple[float, ...] = ()) -> np.ndarray:
    """The cold shares the regions are evaluated at: traffic.GRID, the decision's own share(s) and, with an
    SLO, each cell's limit and the next share above it (where the same rule's answer can change)."""
    pts = [*traffic.GRID, *extra]
    if slo_ms is not None:
        for v in ls.values():
            lim = v.slo_limit(slo_ms)
            pts += [lim, lim * (1 + 1e-9)]
    return np.unique([p for p in pts if traffic.C_MIN <= p <= traffic.C_MAX])


def regions(
    cells: Sequence[Row],
    ls: dict[Cell, traffic.CellLine],
    slo_ms: float | None,
    keepalive_min: float,
    at: tuple[float, ...] = (),
) -> list[traffic.Region]:
    """Where on the traffic axis each cell is the rule's pick (winner_at, the verdict's own rule), with
    requests per hour. The axis holds the shares in ``at`` (the decision's), so a region never contradicts
    the decision made there; a boundary is an SLO limit where one lies between two points, else the exact
    crossing of two cost lines, else the geometric midpoint."""
    grid = axis(ls, slo_ms, at)
    runs = traffic.crossovers([winner_at(cells, ls, float(c), slo_ms) for c in grid], grid, keepalive_min)
    limits = sorted(v.slo_limit(slo_ms) for v in ls.values()) if slo_ms is not None else []
    for j in range(1, len(runs)):
        prev, r = runs[j - 1], runs[j]
        i = int(np.searchsorted(grid, r.from_cold_share))
        lo, hi = float(grid[max(i - 1, 0)]), float(grid[min(i, len(grid) - 1)])
        lim = [x for x in limits if lo <= x < hi]
        x = lim[0] if lim else None
        if x is None and prev.winner in ls and r.winner in ls:
            x = traffic.crossing(ls[prev.winner], ls[r.winner], lo, hi)
        if x is not None:
            runs[j - 1] = dataclasses.replace(prev, to_cold_share=x)
            runs[j] = dataclasses.replace(r, from_cold_share=x)
    return runs


def repeat_wins(
    cells: Sequence[Row], arch: str, by_repeat: BySample, c: float
) -> tuple[int, dict[Cell, int]]:
    """(K, {cell: repeats won}): in each repeat, the eligible cell of lowest cost at cold share c from that
    repeat's own samples (ties: smaller image) wins."""
    reps = sorted({k.repeat for k in by_repeat})
    wins: dict[Cell, int] = {}
    for rep in reps:
        best: tuple[tuple[float, float, str, int], Row] | None = None
        for r in cells:
            image, mem = r.key
            s = by_repeat.get(dataclasses.replace(traffic.identity(r), repeat=rep))
            if s is None or not s.warm_ms:
                continue
            a, b = cost.cost_line(mem, s.warm_ms, s.cold_init_ms, s.cold_duration_ms, arch)
            cand = (a + b * c, size_mb(r), image, mem)
            best = (cand, r) if best is None or cand < best[0] else best
        if best is not None:
            won = traffic.identity(best[1])
            wins[won] = wins.get(won, 0) + 1
    return len(reps), wins


def decide(inp: DecisionInput) -> Decision | None:
    """The rule (module docstring) over ``inp``'s rows at the rule's cold share (default: the run's
    BENCH_COLD_FRACTION) and optional p99 SLO of the request mix, from the raw samples per repeat."""
    rule, arch = inp.rule, inp.rule.architecture
    d = [r for r in eligible(inp.rows, rule.budget_ms, rule.min_top1) if r.cost.usd(arch) is not None]
    if not d:
        return None
    cold_share = rule.cold_share
    if cold_share is None:
        fr = [r.cost.cold_fraction for r in d if r.cost.cold_fraction is not None]
        cold_share = float(fr[0]) if fr else DEFAULT_COLD_SHARE
    cells = cells_of(d)
    ls = traffic.lines(cells, inp.by_repeat, arch)
    at = at_share(cells, ls, cold_share, rule.slo_ms)
    if not at:
        return None
    tied = _tie_set(at)
    decided_by, why = _decided_by(tied, at)
    k, wins = repeat_wins(cells, arch, inp.by_repeat, cold_share) if inp.by_repeat else (1, {})
    return Decision(
        tied[0], at, tied, decided_by, why, _basis(ls, CONFIDENCE), max(k, 1), wins,
        cold_share, rule.slo_ms, regions(cells, ls, rule.slo_ms, rule.keepalive_min, (cold_share,)), ls,
    )  # fmt: skip


#: How a verdict is labelled when the model's own float accuracy is below the quality floor: its cells are
#: still compared on cost and latency (a user with a better model of that size wants that answer), but
#: nothing says the model is worth shipping.
COST_LATENCY_ONLY = "cost/latency only: the model itself is not accurate"


@dataclass
class ModelVerdict:
    """One model's decision; ``accurate`` False = below the floor (the decision ignores the floor and is
    labelled COST_LATENCY_ONLY), None = no accuracy figure for its float reference."""

    model: str
    top1: float | None
    accurate: bool | None
    decision: Decision | None


def reference_top1(rows: Sequence[Row], model: str) -> float | None:
    """The model's own test top-1: its float32 cells' accuracy (a conversion is judged separately, by its
    agreement gate against this float reference)."""
    got = [
        r.accuracy.top1_accuracy_pct
        for r in rows
        if r.model == model and r.variant == "float32" and r.accuracy.top1_accuracy_pct is not None
    ]
    return float(np.median(got)) if got else None


def decide_models(inp: DecisionInput) -> list[ModelVerdict]:
    """A decision per model of the run's container cells; a model below the rule's quality floor is still
    decided on cost and latency, labelled (:data:`COST_LATENCY_ONLY`)."""
    out = []
    models = {r.model for r in inp.rows if r.target == "container" and r.model is not None}
    for model in sorted(models):
        top1 = reference_top1(inp.rows, model)
        accurate = None if top1 is None else top1 >= inp.rule.min_top1
        floor = inp.rule.min_top1 if accurate is not False else float("-inf")
        dec = decide(inp.only([r for r in inp.rows if r.model == model], min_top1=floor))
        out.append(ModelVerdict(model, top1, accurate, dec))
    return out


def verdict_label(v: ModelVerdict) -> str:
    """What a model's verdict says of the model itself: ship it, cost/latency only, or no figure."""
    return "ship" if v.accurate else (COST_LATENCY_ONLY if v.accurate is False else "no accuracy figure")


def model_summary(v: ModelVerdict) -> dict[str, Any]:
    """winner.json's per_model entry: the model's pick at the traffic, its cost and where others win."""
    d = v.decision
    w = d.winner if d is not None else None
    return {
        "top1_accuracy_pct": v.top1,
        "verdict": verdict_label(v),
        "image": None if w is None else w.image,
        "memory_mb": None if w is None else w.memory_mb,
        "cost_per_1m_usd": None if w is None else w.cost,
        "low": None if w is None else w.low,
        "high": None if w is None else w.high,
        "p_cheapest": None if w is None else w.p_cheapest,
        "tie_set_size": None if d is None else len(d.tie_set),
        "regions": [] if d is None else [r.to_json() for r in d.regions],
    }


def pick(rows: Sequence[Row], rule: Rule) -> CellCost | None:
    """The winning cell, or None when nothing qualifies (no raw samples: the one-cent tie band)."""
    dec = decide(DecisionInput(rows, rule))
    return None if dec is None else dec.winner


def _cell(r: CellCost) -> dict[str, Any]:
    return {
        "image": r.image,
        "memory_mb": r.memory_mb,
        "cost_per_1m_usd": r.cost,
        "low": r.low,
        "high": r.high,
        "diff_to_cheapest_low": r.diff_low,
        "diff_to_cheapest_high": r.diff_high,
        "p_cheapest": r.p_cheapest,
        "image_compressed_bytes": r.row.size.compressed_bytes,
    }


def by_name(item: tuple[Cell, Any]) -> tuple[str, int]:
    """Sort key of a (cell, value) pair: the cell's image tag, then its memory (how every listing of
    cells is ordered)."""
    return item[0].tag, item[0].memory_mb


def intervals(v: traffic.CellLine) -> tuple[list[float] | None, list[float] | None]:
    """The 95 % bootstrap intervals of a cell's cost line coefficients a and b (None: too few samples)."""
    tail = (1 - CONFIDENCE) / 2 * 100

    def ci(x: Any) -> list[float] | None:
        return None if x is None or not v.enough else [float(q) for q in np.percentile(x, [tail, 100 - tail])]

    return ci(v.a_draws), ci(v.b_draws)


def _line(v: traffic.CellLine) -> dict[str, Any]:
    """The cost line a + b * c of one cell as winner.json states it, each coefficient with its interval."""
    a, b = intervals(v)
    return {"a_usd": v.a, "a_interval": a, "b_usd": v.b, "b_interval": b}


def evidence(dec: Decision) -> dict[str, Any]:
    """winner.json's uncertainty fields: the winner's cost interval at the cold share, its cost line, the
    tie set, P(cheapest) of every cell, the tie-break, repeats and the regions of the traffic axis."""
    w = dec.winner
    key = w.cell
    return {
        "cost_interval_usd": {
            "point": w.cost,
            "low": w.low,
            "high": w.high,
            "confidence": CONFIDENCE,
            "n_warm": w.n_warm,
            "n_cold": w.n_cold,
            "basis": dec.basis,
        },
        "cost_line_usd": _line(dec.lines[key]) if key in dec.lines else None,
        "tie_set": [_cell(r) for r in dec.tie_set],
        "p_cheapest": {f"{r.image}@{r.memory_mb}": r.p_cheapest for r in dec.cells},
        "tie_break": {"decided_by": dec.decided_by, "why": dec.why},
        "repeats": {
            "k": dec.repeats,
            "won": dec.wins.get(key, 0) if dec.wins else None,
            "wins": {f"{k.tag}@{k.memory_mb}": n for k, n in sorted(dec.wins.items(), key=by_name)},
        },
        "regions": [r.to_json() for r in dec.regions],
    }


#: winner.json's metrics: medians over the repeats; the init fields say which init they are.
METRIC_NAMES = {
    "cold_init_median_ms": "handler_model_load_median_ms",
    "init_billed_ms": "billed_cold_request_mean_ms",
}


def metrics(cell: CellCost, dec: Decision | None) -> dict[str, Any]:
    """winner.json's metrics of ``cell``, named by the CSV columns they come from (METRIC_NAMES renames the
    init fields): its record's figures, the cold ones from its pooled samples. A figure only samples give
    (``cold_init_mean_ms``, ...) is listed when any cell of the decision has samples."""
    cols, figs = cell.row.columns(), dict(cell.figures)
    sampled = set(figs) | {k for v in (dec.lines.values() if dec else ()) for k in traffic.figures(v)}
    return {METRIC_NAMES.get(k, k): figs.get(k, cols.get(k)) for k in METRICS if k in cols or k in sampled}


def to_json(
    cell: CellCost, rule: Rule, dec: Decision | None = None, traffic_doc: dict[str, Any] | None = None
) -> dict[str, Any]:
    """winner.json as docs/ARCHITECTURE.md fixes it (+ the evidence fields when ``dec`` is given). The
    cost metrics are the decision's one pooled cost at its cold share, never a single repeat's."""
    architecture, row = rule.architecture, cell.row
    m = metrics(cell, dec)
    if dec is not None:
        m[f"cost_per_1m_{architecture}_usd"] = cell.cost
        for other in ARCH_NAMES:  # only the decided architecture's cost: the others were not decided on
            if other != architecture:
                m.pop(f"cost_per_1m_{other}_usd", None)
        m["mix_p99_ms"] = cell.mix_p99_ms
        m["mix_p999_ms"] = cell.mix_p999_ms
    doc = {
        "image": row.image,
        "image_kind": row.image_kind,
        "runtime": row.runtime,
        "model": row.model,
        "variant": row.variant,
        "memory_mb": cell.memory_mb,
        "architecture": architecture,
        "threads": row.threads if row.threads is not None else 1,
        "metrics": m,
        "rule": rule.text(),
        "run_id": row.run_id,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if dec is not None:
        doc["traffic"] = (traffic_doc or {}) | {"cold_share": dec.cold_share, "p99_slo_ms": dec.slo_ms}
    return doc | (evidence(dec) if dec is not None else {})


def write(inp: DecisionInput, path: Path) -> dict[str, Any] | None:
    """Decide and write winner.json; with no winner, remove a stale file and return None."""
    return write_decision(decide(inp), path, inp.rule)


def write_decision(
    dec: Decision | None,
    path: Path,
    rule: Rule,
    traffic_doc: dict[str, Any] | None = None,
    per_model: dict[str, Any] | None = None,
    mode: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """winner.json (atomically, core.contracts.Winner.save) for a decision already made (``traffic_doc``:
    how the cold share was obtained; ``per_model``: every model's own decision; ``mode``: the Lambda mode at
    the user's traffic); with no winner, remove a stale file and return None."""
    if dec is None:
        if path.is_file():
            path.unlink()
        return None
    doc = to_json(dec.winner, rule, dec, traffic_doc)
    if per_model is not None:
        doc["per_model"] = per_model
    if mode is not None:  # the Lambda mode + configuration at the user's traffic (bench/decide/modes.py)
        doc["mode"] = mode
    Winner.save(path, doc)
    return doc
