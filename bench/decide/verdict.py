"""Every sentence of the verdict ("ship X"), generated from the decision's data, nothing typed by hand.

Each sentence reads only the row it talks about (a rival is described by its own image size, not the
winner's), a tie is always called a tie, and "cheapest outright" needs enough samples for the difference
to every other cell to exclude zero (tests/unit/test_verdict.py).
"""

from __future__ import annotations

from bench.decide.winner import CONFIDENCE, CellCost, Decision


def usd(v: float | None) -> str:
    return "n/a" if v is None else f"${float(v):.6f}"


def mb(v: float | None) -> str:
    return "unmeasured" if v is None else f"{float(v) / 1e6:.0f} MB"


def cell_name(r: CellCost) -> str:
    return f"{r.image} at {r.memory_mb} MB"


def interval(r: CellCost) -> str:
    """'$a (95 % interval $lo to $hi)', or the point alone when no raw samples gave an interval."""
    if r.low is None or r.high is None:
        why = "no raw samples" if not r.n_cold else f"{r.n_cold} cold starts: too few"
        return f"{usd(r.cost)} per 1M requests ({why}, so no interval)"
    return f"{usd(r.cost)} per 1M requests ({CONFIDENCE:.0%} interval {usd(r.low)} to {usd(r.high)})"


def pct(c: float) -> str:
    return f"{100 * c:.3g} %"


def traffic(dec: Decision) -> str:
    slo = f" and a p99 SLO of {dec.slo_ms:g} ms on the cold + warm mix" if dec.slo_ms is not None else ""
    return f"At {pct(dec.cold_share)} cold requests{slo}"


def p_cheapest(r: CellCost) -> str:
    p = r.p_cheapest
    return "" if p is None else f", cheapest in {p:.0%} of the bootstrap draws"


def headline(dec: Decision) -> str:
    w = dec.winner
    if dec.decided_by == "cost":
        alone = (
            "the only eligible cell"
            if len(dec.cells) == 1
            else ("the cheapest cell outright" if "outright" in dec.why else "the cheapest cell")
        )
        return (
            f"{traffic(dec)}: ship {cell_name(w)}, {interval(w)}{p_cheapest(w)}; it is {alone} ({dec.basis})."
        )
    others = [cell_name(r) for r in dec.tie_set[1:]]
    return (
        f"{traffic(dec)}: ship {cell_name(w)}, {interval(w)}{p_cheapest(w)}; it is not cheaper beyond the "
        f"noise: {len(dec.tie_set)} of {len(dec.cells)} eligible cells tie for the lowest cost "
        f"({dec.basis}), "
        f"it and {', '.join(others)}. The tie-break decided on {dec.decided_by}: {dec.why}."
    )


def regions(dec: Decision) -> str | None:
    """'Below X % cold pick A; from X % to Y % pick B; ...' over the report's traffic axis."""
    if len(dec.regions) < 2:
        return (
            None
            if not dec.regions
            else (
                f"The same rule picks {dec.regions[0].image or 'nothing'} everywhere from "
                f"{pct(dec.regions[0].from_cold_share)} to {pct(dec.regions[0].to_cold_share)} cold."
            )
        )
    parts = []
    for r in dec.regions:
        what = f"{r.image} at {r.memory_mb} MB" if r.image else "nothing (no cell meets the SLO)"
        parts.append(
            f"{pct(r.from_cold_share)} to {pct(r.to_cold_share)} cold "
            f"({r.from_requests_per_hour:.3g} to {r.to_requests_per_hour:.3g} requests/hour): {what}"
        )
    return "Along the traffic axis the rule picks: " + "; ".join(parts) + "."


def rival(dec: Decision) -> str | None:
    """The cheapest eligible cell of another runtime, described from its own row."""
    w = dec.winner
    others = [r for r in dec.cells if r.row.runtime != w.row.runtime]
    if not others:
        return None
    r = min(others, key=lambda x: x.cost)
    tied = any(t.cell == r.cell for t in dec.tie_set)
    return (
        f"The closest rival on another runtime is {cell_name(r)} ({r.row.runtime}, {r.row.variant}), "
        f"{interval(r)}{p_cheapest(r)}; its compressed image is {mb(r.row.size.compressed_bytes)}, "
        "the winner's "
        f"{mb(w.row.size.compressed_bytes)}"
        + ("; it is inside the tie." if tied else "; it is outside the tie.")
    )


def accuracy(dec: Decision) -> str:
    w, acc = dec.winner.row, dec.winner.row.accuracy
    sha = str(w.model_sha256 or "")[:12]
    return (
        f"Its accuracy was measured on the bytes it serves (sha256 {sha}...): test top-1 "
        f"{acc.top1_accuracy_pct:.1f} %, top-1 agreement with the Keras model {acc.agreement_pct:.1f} %."
        if acc.top1_accuracy_pct is not None and acc.agreement_pct is not None
        else f"Its accuracy row (sha256 {sha}...) has no top-1/agreement figures."
    )


def repeats(dec: Decision) -> str:
    if dec.repeats <= 1 or not dec.wins:
        return "The matrix ran once (BENCH_REPEATS=1), so there is no count of repeats won."
    key = dec.winner.cell
    rest = [
        f"{k.tag} at {k.memory_mb} MB {n}"
        for k, n in sorted(dec.wins.items(), key=lambda kv: -kv[1])
        if k != key
    ]
    return (
        f"Over {dec.repeats} repeats of the matrix in fresh random orders (cost at the same cold share from "
        f"each repeat's own samples) it won {dec.wins.get(key, 0)}"
        + (f"; the other repeat winners: {', '.join(rest)}." if rest else ", every one of them.")
    )


def sentences(dec: Decision | None, budget_ms: float) -> list[str]:
    if dec is None:
        return [
            f"No cell qualified: none passed its accuracy gate on the bytes it served, answered without "
            f"errors and kept its warm p99 within {budget_ms:g} ms, so nothing is recommended."
        ]
    out = [headline(dec), regions(dec), rival(dec), accuracy(dec), repeats(dec)]
    return [s for s in out if s]


def paragraph(dec: Decision | None, budget_ms: float) -> str:
    return " ".join(sentences(dec, budget_ms))
