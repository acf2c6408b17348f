"""``python -m bench.report``: results/latest.csv -> report.md, plots/*.png and winner.json in results/.

report.md is assembled from one function per section (tables per metric); the plots are bench/report/plots.py,
the performance bars bench/decide/bars.py, the winner rule bench/decide/winner.py. main() is the only place
that
writes winner.json (for deploy).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.decide import cost, modes, prices, stats, traffic, verdict, winner
from bench.decide.bars import Labelled, check_bars
from bench.measure import accuracy, fullsplit, samples, schema, throughput_schema
from bench.measure.env import MB_PER_VCPU, MODELS, ROOT
from bench.measure.records import ARM64_BASIS
from bench.measure.schema import ImageSize, Row
from bench.measure.settings import Settings
from bench.measure.throughput_schema import ThroughputRecord
from bench.report.plots import (
    plot_agreement,
    plot_cold,
    plot_cost,
    plot_modes,
    plot_sizes,
    plot_traffic,
    plot_warm,
)
from bench.report.plots import short as plot_short
from bench.report.tables import MB, containers, fmt, labelled, md_table, pooled_cold, render
from models import skew


def accuracy_table(df: pd.DataFrame, acc: pd.DataFrame | None) -> pd.DataFrame:
    c = containers(df)
    agree = c.groupby(["model", "runtime", "library", "variant"], dropna=False)[
        "container_agreement_pct"
    ].min()
    if acc is None:
        t = agree.reset_index()
        for col in ("top1_accuracy_pct", "agreement_pct", "max_abs_dprob", "gate_passed"):
            t[col] = None
        return t
    t = acc[
        [
            "model",
            "runtime",
            "library",
            "variant",
            "top1_accuracy_pct",
            "agreement_pct",
            "max_abs_dprob",
            "gate_passed",
        ]
    ].copy()
    for col in ("top1_accuracy_pct", "agreement_pct", "max_abs_dprob"):
        t[col] = pd.to_numeric(t[col], errors="coerce")
    t["gate_passed"] = t["gate_passed"].map(
        lambda v: {"true": True, "false": False}.get(str(v).strip().lower())
    )
    t = t.merge(agree.reset_index(), on=["model", "runtime", "library", "variant"], how="left")
    return t


def fill_accuracy(rows: Sequence[Row], acc: pd.DataFrame | None) -> list[Row]:
    """Join results/accuracy.csv onto the rows (eval may run after the bench, or again): accuracy.csv is
    the one source of a cell's gate. A row whose artefact's bytes it measured takes that row's figures and
    gate (a gate re-judged on the same bytes decides the verdict); a row that ran other bytes than the
    artefacts accuracy.csv describes is stale (bench/measure/accuracy.py): shown, never eligible, since a
    user converting today cannot reproduce what it ran."""
    if acc is None:
        return list(rows)
    out = []
    for r in rows:
        if r.target in ("container", "inprocess"):
            fields, _ = accuracy.lookup(
                acc, str(r.model), str(r.runtime), r.library, str(r.variant), r.model_sha256
            )
            known = {k: v for k, v in fields.items() if v is not None}
            r = r.replace(accuracy=dataclasses.replace(r.accuracy, **known))
        out.append(r)
    return out


def skew_section(models: list[str], path: Path | None = None) -> list[str]:
    """The train/serve skew check of the benchmarked models (models/skew.py): a model whose check failed
    cannot win (bench/decide/winner.py eligible)."""
    path = path or skew.SKEW_CSV
    head = "## Train/serve skew check\n"
    rows = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=["model"])
    rows = rows[rows["model"].isin(models)]
    if rows.empty:
        return [head, "Not run for these models (`python -m models.skew --model M`; `make bench` runs it).\n"]
    lines = [
        head,
        "The handler's tensors against Keras's own loader + `preprocess_input` on the model's test images, "
        "and the Keras model under every preset (models/skew.py, `results/skew.csv`). A model whose check "
        "failed cannot win.\n",
        "| model | preprocessing | loader, resize | images | max pixel levels | top-1 agreement % "
        "| top-1 % as carded | best preset | check |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows.itertuples():
        check = "ok" if bool(r.ok) else f"**failed**: {r.message}"
        lines.append(
            f"| {r.model} | `{r.preprocessing}` | {r.loader}, {r.resize} | {r.images} | {r.max_levels:.2f} "
            f"| {r.agreement_pct:.1f} | {r.declared_top1_pct:.1f} "
            f"| `{r.best_preset}` ({r.best_top1_pct:.1f} %) | {check} |"
        )
    return [*lines, ""]


def flag(v: Any) -> bool:
    """A boolean CSV cell (numpy, pandas or python bool, or missing) as a python bool."""
    return False if v is None or pd.isna(v) else bool(v)


def _word(v: Any) -> str:
    """A recorded value as the header quotes it ('–' when it was not recorded)."""
    return fmt(None) if v is None else str(v)


def _header(rows: Sequence[Row], cold_fraction: float) -> list[str]:
    first = rows[0]
    env, run = first.env, first.run
    return [
        "# Benchmark report\n",
        f"Run `{first.run_id}` at {run.timestamp} (git {str(env.git_sha)[:10]}"
        f"{' + local changes' if env.git_dirty else ''}); "
        f"{env.cpu_model}, {env.cpu_cores} cores, "
        f"docker {env.docker_version} ({env.storage_driver}, cgroup v{env.cgroup_version}); "
        f"python {env.python}; quick={_word(run.quick)}, cold N={run.cold_n_requested}, "
        f"warm M={run.warm_m_requested}.\n",
        f"Lambda memory is simulated with `docker run --memory M --cpus M/{MB_PER_VCPU}`; this host has "
        f"{env.cpu_cores} cores, so --cpus is capped there (3008 MB = 1.70 vCPU fits). Prices: "
        f"{cost.PRICES_SOURCE} ({cost.PRICES_AS_OF}): x86_64 ${cost.GB_SECOND_USD['x86_64']:.10f}/GB-s, "
        f"arm64 ${cost.GB_SECOND_USD['arm64']:.10f}/GB-s, ${cost.REQUEST_USD * 1e6:.2f} per 1M requests; "
        "billed duration = the emulator's REPORT `Duration` of each warm invocation (the whole invocation, "
        "as Lambda bills it) rounded up to 1 ms; "
        f"the verdict is at {cold_fraction:.3g} cold requests (cold requests bill their init); the "
        "per-repeat cost table further down is at the share each row was measured with. "
        f"**arm64 costs are {ARM64_BASIS}**: arm64 prices applied to durations measured on x86_64, never a "
        "measured arm64 figure.\n",
        *_provenance(rows),
    ]


def _distinct(values: Sequence[str | None]) -> str:
    """The values a field took over the container cells ('-' when none was recorded)."""
    vals = sorted({str(v) for v in values if v is not None and str(v)})
    return " / ".join(vals) if vals else fmt(None)


def _provenance(rows: Sequence[Row]) -> list[str]:
    first, c = rows[0], [r.provenance for r in rows if r.target == "container"]
    before = [p.load_avg_before for p in c if p.load_avg_before is not None]
    after = [p.load_avg_after for p in c if p.load_avg_after is not None]
    load = (
        f"host 1-min load average {min(before):.2f} to {max(max(before), max(after)):.2f} around the cells; "
        if before and after
        else ""
    )
    diff = first.provenance.git_diff_sha256
    return [
        f"Provenance (read inside the images run): emulator {_distinct([p.rie_version for p in c])}, "
        f"awslambdaric {_distinct([p.awslambdaric_version for p in c])}; {load}cell order seed "
        f"{fmt(first.provenance.bench_seed)}"
        + (f"; local changes sha256 {diff[:12]}" if diff is not None else "")
        + ".\n"
    ]


def _mb(size_bytes: int | None) -> float | None:
    return None if size_bytes is None else size_bytes / MB


def _tie_set(dec: winner.Decision | None) -> list[str]:
    """The cells the verdict calls a tie, with their intervals, and in how many repeats each cell won."""
    if dec is None:
        return []
    t = dec.tie_set
    out = [
        f"Tie set at {verdict.pct(dec.cold_share)} cold ({len(t)} cell(s) not cheaper or dearer than the "
        f"cheapest beyond the noise; {dec.basis}); "
        f"tie-break: {dec.decided_by} ({dec.why}):\n",
        md_table(
            pd.DataFrame(
                [
                    {
                        "image": x.image,
                        "MB": x.memory_mb,
                        "USD per 1M": x.cost,
                        "low": x.low,
                        "high": x.high,
                        "minus cheapest, low": x.diff_low,
                        "minus cheapest, high": x.diff_high,
                        "P(cheapest)": x.p_cheapest,
                        "compressed MB": _mb(x.row.size.compressed_bytes),
                        "warm p99 ms": x.row.warm.client_p99_ms,
                    }
                    for x in t
                ]
            ),
            {
                "USD per 1M": 6,
                "low": 6,
                "high": 6,
                "minus cheapest, low": 4,
                "minus cheapest, high": 4,
                "P(cheapest)": 3,
            },
        ),
    ]
    if dec.repeats > 1 and dec.wins:
        wins = pd.DataFrame(
            [{"image": k.tag, "MB": k.memory_mb, "repeats won": n} for k, n in dec.wins.items()]
        ).sort_values("repeats won", ascending=False)
        out += [f"Repeat wins (cheapest eligible cell of each of {dec.repeats} repeats):\n", md_table(wins)]
    return out


def _verdict(dec: winner.Decision | None, w: dict[str, Any] | None, budget: float) -> list[str]:
    lines = ["## Verdict\n", verdict.paragraph(dec, budget) + "\n", *_tie_set(dec)]
    if w:
        lines.append(
            f"Winner ({w['rule'].rstrip('.')}): **{w['image']}** at "
            f"{w['memory_mb']} MB, {w['threads']} thread(s) -> `winner.json`.\n"
        )
    else:
        lines.append("No winner: nothing passed the rule, `winner.json` not written.\n")
    return lines


#: The cold shares the traffic tables quote (the plots draw the whole axis, traffic.GRID).
SHARES = (0.001, 0.01, 0.05)


def _p(v: Any) -> str:
    return fmt(None if v is None or pd.isna(v) else 100 * float(v), 0) + " %"


def per_model_table(verdicts: list[winner.ModelVerdict], keepalive_min: float) -> str:
    """The models side by side: each one's pick at the traffic and where the pick changes."""
    rows = []
    for v in verdicts:
        d = v.decision
        w = d.winner if d is not None else None
        picks = "; ".join(
            f"{verdict.pct(r.from_cold_share)}-{verdict.pct(r.to_cold_share)}: "
            f"{(r.image or 'none').removeprefix('clothing-')}" + (f" @ {r.memory_mb}" if r.image else "")
            for r in (d.regions if d is not None else [])
        )
        rows.append(
            {
                "model": v.model,
                "float top-1 %": v.top1,
                "verdict": winner.verdict_label(v),
                "pick": "none" if w is None else f"{w.image} @ {w.memory_mb} MB",
                "USD per 1M": None if w is None else w.cost,
                "95 % interval": "–" if w is None or w.low is None else f"{w.low:.3f}-{w.high:.3f}",
                "P(cheapest)": _p(None if w is None else w.p_cheapest),
                "tie set": None if d is None else len(d.tie_set),
                "pick by cold share": picks or "–",
            }
        )
    return md_table(pd.DataFrame(rows), {"USD per 1M": 3})


def traffic_table(dec: winner.Decision) -> str:
    """Every eligible cell's cost line a + b * c (with intervals), its cost and p99 of the cold + warm
    mix at a few shares, and p99.9 and P(cheapest) at the decision's share."""
    rows = []
    p_cheapest = {x.cell: x.p_cheapest for x in dec.cells}
    for key, ln in sorted(dec.lines.items(), key=lambda kv: kv[1].cost(dec.cold_share)):
        a_iv, b_iv = winner.intervals(ln)
        row: dict[str, Any] = {
            "cell": f"{key.tag.removeprefix('clothing-')} @ {key.memory_mb}",
            "a (all warm)": ln.a,
            "a 95 %": "–" if a_iv is None else "{:.3f}-{:.3f}".format(*a_iv),
            "b (all cold)": ln.b,
            "b 95 %": "–" if b_iv is None else "{:.2f}-{:.2f}".format(*b_iv),
        }
        for c in SHARES:
            q, ok = ln.quantile(c, 0.99)
            row[f"USD @{verdict.pct(c)}"] = ln.cost(c)
            row[f"p99 ms @{verdict.pct(c)}"] = "–" if q is None else f"{q:.0f}" + ("" if ok else "+")
        q, ok = ln.quantile(dec.cold_share, 0.999)
        row[f"p99.9 ms @{verdict.pct(dec.cold_share)}"] = (
            "–" if q is None else f"{q:.0f}" + ("" if ok else "+")
        )
        p = p_cheapest.get(key)
        row[f"P(cheapest) @{verdict.pct(dec.cold_share)}"] = _p(p)
        rows.append(row)
    digits = {k: 3 for k in rows[0] if k.startswith("USD") or k.startswith("a (")} if rows else {}
    return md_table(pd.DataFrame(rows), digits | {"b (all cold)": 2})


def not_in_run(verdicts: list[winner.ModelVerdict]) -> str | None:
    """A sentence naming the default models (bench.measure.env.MODELS) this run did not benchmark."""
    missing = [m for m in MODELS if m not in {v.model for v in verdicts}]
    if not missing:
        return None
    return (
        f"Not in this run: {', '.join(missing)} (in `make bench`'s default BENCH_MODELS); its verdict "
        "appears beside the others once a run includes it."
    )


def _traffic(verdicts: list[winner.ModelVerdict], cfg_doc: dict[str, Any]) -> list[str]:
    t = cfg_doc["keepalive_min"]
    out = [
        "## Verdict per model and traffic\n",
        f"Traffic: {verdict.pct(cfg_doc['cold_share'])} cold requests ({cfg_doc['source']}"
        + (f", {cfg_doc['requests_per_hour']:g} requests/hour" if cfg_doc.get("requests_per_hour") else "")
        + f"); p99 SLO of the cold + warm mix: {fmt(cfg_doc.get('p99_slo_ms'), 0)} ms (BENCH_P99_MS). "
        f"Requests per hour are mapped to the cold share by an assumed keep-alive model: "
        f"{traffic.KEEPALIVE_MODEL.format(t=t)}.\n",
        per_model_table(verdicts, t),
        *([f"{not_in_run(verdicts)}\n"] if not_in_run(verdicts) else []),
    ]
    for v in verdicts:
        out.append(f"### Model {v.model}\n")
        if v.accurate is False:
            out.append(f"**{winner.COST_LATENCY_ONLY}** (float test top-1 {fmt(v.top1)} %).\n")
        if v.decision is None:
            out.append("No cell of this model qualified (accuracy gate, errors, latency budget or SLO).\n")
            continue
        out += [
            verdict.paragraph(v.decision, 0) + "\n",
            f"![traffic {v.model}](plots/traffic_{v.model}.png)\n",
            traffic_table(v.decision),
            "Cost per 1M = a + b x cold share: a = every request warm, b = what a cold request adds "
            "(the mean of each cold start's billed INIT + duration, rounded once, minus a warm one). p99 = "
            "the 99th percentile of the request mix: warm = client round trip, cold = INIT + first invoke + "
            f"the platform term ({prices.platform_init_ms():g} ms, bench/decide/prices.py; "
            "the local container "
            "start is not in it, the cold-start table shows it apart); p99.9 likewise; `+` = not resolved "
            "(beyond the largest sample, or one standard error of the tail share moves it across a jump). "
            "Intervals: two-stage bootstrap "
            f"(repeats, then samples), none below {stats.MIN_SAMPLES} samples.\n",
        ]
    return out


def _bars(rows: Sequence[Row], acc: pd.DataFrame | None) -> list[str]:
    table = [
        {
            "bar": b.name,
            "figures": b.figure,
            "result": {True: "PASS", False: "FAIL", None: "n/a"}[b.passed],
            "what limits it": b.limits,
        }
        for b in check_bars(rows, acc)
    ]
    return ["## Performance bars (ratios within this run)\n", md_table(pd.DataFrame(table))]


SIZES_HEADER = ("image", "uncompressed MB", "compressed MB", "base MB", "runtime layer MB", "model MB")


def _sizes(c: Sequence[Labelled]) -> list[str]:
    first: dict[str | None, ImageSize] = {}
    for x in c:  # each image once, as its first record gives it
        first.setdefault(x.row.image, x.row.size)
    values = (
        (image, _mb(s.uncompressed_bytes), _mb(s.compressed_bytes), _mb(s.base_bytes),
         _mb(s.runtime_layer_bytes), _mb(s.model_bytes))
        for image, s in first.items()
    )  # fmt: skip
    return [
        "## Image size\n",
        "![sizes](plots/sizes.png)\n",
        render(SIZES_HEADER, values, {"model MB": 2}),
    ]


COLD_HEADER = (
    "image", "MB", "N (all repeats)", "total", "CI low", "CI high", "container start", "first request",
    "handler model load", "billed init", "first inference", "cold-cache total",
)  # fmt: skip


def _cold(rows: Sequence[Row]) -> list[str]:
    values = []
    for x, t in pooled_cold(rows):
        lo, hi = stats.median_ci(t) if len(t) >= stats.MIN_SAMPLES else (None, None)
        cold, r = x.row.cold, x.row
        values.append(
            (x.label, r.memory_mb, len(t), stats.median(t), lo, hi, cold.container_start_median_ms,
             cold.first_request_median_ms, cold.init_median_ms, r.cost.init_billed_ms,
             cold.first_inference_median_ms, r.cold_cache.total_median_ms)
        )  # fmt: skip
    return [
        "## Cold start (median, 95 % CI; ms)\n",
        "![cold](plots/cold_start.png)\n",
        render(COLD_HEADER, values),
        f"`total` pools every repeat's cold starts of the cell; the CI is empty below {stats.MIN_SAMPLES} "
        "samples (an order-statistic 95 % CI needs them), the other columns are medians over the repeats. "
        "`handler model load` is the handler's own `init_ms` (card + model load); `billed init` is what a "
        "container image's INIT bills: the first round trip minus the handler's time (python start, "
        "imports, model load; the emulator's own REPORT `Init Duration` covers only its lazy start, so it "
        "is not used). `total` is a cold start with this host's page cache warm; `cold-cache` drops the "
        "page cache before each sample (root only; empty otherwise).\n",
    ]


WARM_HEADER = (
    "image", "MB", "threads", "M", "client p50", "client p90", "client p99", "handler p50", "handler p99",
    "inference p50",
)  # fmt: skip


def _warm(c: Sequence[Labelled]) -> list[str]:
    values = (
        (x.label, x.row.memory_mb, x.row.threads, w.n, w.client_p50_ms, w.client_p90_ms, w.client_p99_ms,
         w.handler_p50_ms, w.handler_p99_ms, w.inference_p50_ms)
        for x in c
        for w in (x.row.warm,)
    )  # fmt: skip
    return ["## Warm latency (ms)\n", "![warm](plots/warm_latency.png)\n", render(WARM_HEADER, values)]


def _mib(size_bytes: int | None) -> float | None:
    return None if size_bytes is None else size_bytes / 2**20


def _memory(c: Sequence[Labelled]) -> list[str]:
    values = (
        (x.label, x.row.memory_mb, _mib(x.row.memory.peak_memory_bytes), _mib(x.row.memory.rss_bytes))
        for x in c
    )
    return [
        "## Memory (container cgroup)\n",
        render(("image", "MB", "peak MiB", "rss MiB"), values),
        "Peak = cgroup max usage (includes page cache of the files read); rss = anonymous memory.\n",
    ]


COST_HEADER = (
    "image", "MB", "handler p50 ms", "REPORT Duration p50 ms", "Billed Duration p50 ms", "mean billed ms",
    "init billed ms", "x86_64 USD", "arm64 USD (x86 timings)",
)  # fmt: skip


def _cost(c: Sequence[Labelled]) -> list[str]:
    values = (
        (x.label, x.row.memory_mb, w.handler_p50_ms, w.report_duration_p50_ms, w.billed_p50_ms,
         w.billed_mean_ms, x.row.cost.init_billed_ms, x.row.cost.cost_per_1m_x86_64_usd,
         x.row.cost.cost_per_1m_arm64_usd)
        for x in c
        for w in (x.row.warm,)
    )  # fmt: skip
    return [
        "## Cost per 1M requests\n",
        "![cost](plots/cost_vs_memory.png)\n",
        render(COST_HEADER, values, {"x86_64 USD": 3, "arm64 USD (x86 timings)": 3}),
        "Billed = the emulator's REPORT Duration (whole invocation: event parsing, the handler, "
        "serialising the answer, logging), not only the handler's timed stages (handler p50). "
        f"The arm64 column is {ARM64_BASIS}.\n",
    ]


THREADS_HEADER = (
    "image", "MB", "repeat", "policy threads", "policy p50 ms", "policy p99 ms", "policy USD",
    "forced threads", "forced p50 ms", "forced p99 ms", "forced USD",
)  # fmt: skip


def _threads(c: Sequence[Labelled]) -> list[str]:
    """Threads experiments (BENCH_THREADS): each forced count beside the policy's cell of the same image,
    memory and repeat (every such policy record; none: an empty half)."""
    forced = [x.row for x in c if x.row.threads_forced]
    if not forced:
        return []
    policy = [x.row for x in c if not x.row.threads_forced]

    def same(f: Row, p: Row) -> bool:
        return (f.image, f.memory_mb, f.repeat) == (p.image, p.memory_mb, p.repeat)

    pairs = [(f, p) for f in forced for p in [q for q in policy if same(f, q)] or [Row()]]
    values = (
        (f.image, f.memory_mb, f.repeat, p.threads, p.warm.client_p50_ms, p.warm.client_p99_ms,
         p.cost.cost_per_1m_x86_64_usd, f.threads, f.warm.client_p50_ms, f.warm.client_p99_ms,
         f.cost.cost_per_1m_x86_64_usd)
        for f, p in pairs
    )  # fmt: skip
    return [
        "## Threads (BENCH_THREADS)\n",
        render(THREADS_HEADER, values, {"policy USD": 3, "forced USD": 3}),
        "Forced = MODEL_THREADS set in the container; policy = runtimes.base.threads_for (what ships). "
        "Forced cells never win (a measurement of a setting).\n",
    ]


def _accuracy(atab: pd.DataFrame, floor: float) -> list[str]:
    lines = [
        "## Accuracy and agreement\n",
        "![agreement](plots/agreement.png)\n",
        md_table(
            atab.rename(columns={"container_agreement_pct": "container = in-process (%)"}),
            {"max_abs_dprob": 4},
        ),
        "Accuracy, agreement with Keras and the gate come from results/accuracy.csv (models/eval.py); "
        "the container column compares each container's answers with the in-process adapter on fixed "
        "test images.\n",
    ]
    top1 = pd.to_numeric(atab["top1_accuracy_pct"], errors="coerce")
    weak = sorted(set(atab.loc[top1 < floor, "model"]))
    if weak:
        lines.append(
            f"Below the winner's model-quality floor (test top-1 < {floor:g} %): {', '.join(weak)}. "
            "Its cells are measured for size, speed, memory and cost and cannot win; its agreement still "
            "judges the conversions as long as its outputs vary (a model that answers one class agrees "
            "trivially: check max |dp|).\n"
        )
    return lines


INPROCESS_HEADER = (
    "model", "runtime", "library", "variant", "threads",
    "load ms (fresh process)", "predict p50 ms", "preprocess+predict p99 ms",
)  # fmt: skip


def _inprocess(rows: Sequence[Row]) -> list[str]:
    ip = [r for r in rows if r.target == "inprocess" and r.status == "ok"]
    if not ip:
        return []
    values = (
        (r.model, r.runtime, r.library, r.variant, r.threads, r.inproc.load_ms, r.warm.inference_p50_ms,
         r.warm.client_p99_ms)
        for r in ip
    )  # fmt: skip
    return ["## In-process (no container)\n", render(INPROCESS_HEADER, values)]


SOAK_HEADER = (
    "image", "MB", "requests", "bad inputs", "typed errors ok", "unexpected errors", "peak growth %",
    "rss growth %", "result",
)  # fmt: skip


def _soak(rows: Sequence[Row]) -> list[str]:
    sk = [r for r in rows if r.target == "soak"]
    if not sk:
        return []
    values = (
        (r.image, r.memory_mb, r.soak.n, r.soak.bad_n, r.soak.typed_errors_ok, r.soak.unexpected_errors,
         r.soak.peak_growth_pct, r.soak.mem_growth_pct, r.status)
        for r in sk
    )  # fmt: skip
    return ["## Soak\n", render(SOAK_HEADER, values, {"peak growth %": 2, "rss growth %": 2})]


def _failed(rows: Sequence[Row]) -> list[str]:
    failed = [(r.target, r.image, r.memory_mb, r.note) for r in rows if r.status == "failed"]
    if not failed:
        return []
    return ["## Failed cells\n", render(("target", "image", "memory_mb", "note"), failed)]


def draw_plots(rows: Sequence[Row], atab: pd.DataFrame, plots: Path, floor: float) -> None:
    plots.mkdir(parents=True, exist_ok=True)
    pooled = pooled_cold(rows)
    if pooled:
        cells = [x for x, _ in pooled]
        plot_sizes(cells, plots / "sizes.png")
        plot_cold(pooled, plots / "cold_start.png")
        plot_warm(cells, plots / "warm_latency.png")
        plot_cost(cells, plots / "cost_vs_memory.png")
    plot_agreement(atab, plots / "agreement.png", floor)


def draw_traffic(verdicts: list[winner.ModelVerdict], plots: Path, keepalive_min: float) -> None:
    plots.mkdir(parents=True, exist_ok=True)
    for v in verdicts:
        if v.decision is not None:
            label = f" ({winner.COST_LATENCY_ONLY})" if v.accurate is False else ""
            title = f"Model {v.model}{label}: cost and p99 against the cold share; shading = the rule's pick"
            plot_traffic(v.decision, plots / f"traffic_{v.model}.png", title, keepalive_min)


QUOTED_RPH = (10.0, 1_000.0, 100_000.0, 1_000_000.0)


def _mode_text(m: dict[str, Any]) -> str:
    """The picked mode, and when a simpler one was kept inside the cheapest's interval, at what price."""
    if not m["mode"]:
        return "nothing meets the SLO"
    extra = m.get("kept_over_cheapest_usd") or 0.0
    if extra <= 0 or m.get("cheapest_mode") == m["mode"]:
        return str(m["mode"])
    return f"{m['mode']} (kept: {m['cheapest_mode']} is ${extra:,.2f}/month less, within its 95 % interval)"


def modes_section(
    verdicts: list[winner.ModelVerdict], records: list[Any] | None, tdoc: dict[str, Any], plots: Path
) -> list[str]:
    """Every mode over the traffic axis: the log-log plot, each model's pick at the quoted traffic levels
    and the user's, the crossovers, and the prices and assumptions it rests on."""
    slo, keep = tdoc.get("p99_slo_ms"), tdoc["keepalive_min"]
    user = tdoc.get("requests_per_hour") or 1.0
    axes = {v.model: modes.axis(v.decision.lines, records, slo, keep) for v in verdicts if v.decision}
    if not axes:
        return []
    plots.mkdir(parents=True, exist_ok=True)
    plot_modes(axes, user, slo, plots / "modes.png")
    rows = []
    for v in verdicts:
        if v.decision is None:
            continue
        for r in sorted({*QUOTED_RPH, float(user)}):
            m = modes.at(v.decision.lines, records, r, slo, keep)
            lo, hi = m["interval_usd"] or (None, None)
            rows.append({
                "model": v.model, "requests/hour": f"{r:,.4g}" + (" (yours)" if r == user else ""),
                "mode": _mode_text(m),
                "configuration": plot_short(m["configuration"]) if m["configuration"] else "",
                "USD/month": m["monthly_usd"], "95 % interval": _range(lo, hi), "USD per 1M": m["per_1m_usd"],
                **{f"{k} USD/month": _mode_cost(m["by_mode"][k]) for k in modes.MODES},
            })  # fmt: skip
    out = ["", "## Every way to run it, over the traffic axis", "", "![modes](plots/modes.png)", ""]
    out += [
        "On-demand, provisioned concurrency and Managed Instances, each at its cheapest configuration that "
        "meets the SLO " + (f"(p99 {slo:g} ms" if slo is not None else "(none set") + "; on-demand's p99 "
        "includes cold starts as INIT + first invoke + the platform term, the others have none). "
        "bench/decide/modes.py says how each is priced.",
        "",
        md_table(pd.DataFrame(rows), {"USD/month": 2, "USD per 1M": 3}),
    ]
    for model, a in axes.items():
        xs = "; ".join(
            f"{x['requests_per_hour']:.3g}/h: {x['from'][0] if x['from'] else 'nothing'} "
            f"({_img(x['from'])}) -> {x['to'][0] if x['to'] else 'nothing'} ({_img(x['to'])})"
            for x in a.crossovers()
        )
        out += ["", f"**{model}** crossovers of the overall pick: {xs or 'none on this axis'}."]
        if a.mi_note:
            out += [f"Managed Instances for {model}: {a.mi_note}."]
    return out + ["", *prices_section()]


def _mode_cost(o: dict[str, Any] | None) -> str:
    """One mode's own cheapest option at a traffic level: its monthly cost and configuration."""
    return "n/a" if o is None else f"{o['monthly_usd']:,.2f} ({plot_short(o['configuration'])})"


def _img(k: Any) -> str:
    return "" if not k else str(k[1]).removeprefix("clothing-")


def _range(lo: Any, hi: Any) -> str:
    return "" if lo is None or hi is None else f"{lo:.2f} to {hi:.2f}"


def prices_section() -> list[str]:
    """The figures the costs rest on, with sources and dates; assumptions marked with their setting."""
    rows = [
        {
            "figure": f.name, "value": f"{f.current():g}", "unit": f.unit,
            "kind": f"assumption ({f.setting})" if f.assumption else "published",
            "source": f.source, "read": f.read,
        }
        for f in prices.all_figures()
    ]  # fmt: skip
    rows += [
        {"figure": f"EC2 {i.name} ({i.architecture}, {i.vcpus} vCPU, {i.memory_gib:g} GiB)",
         "value": f"{i.usd_per_hour:g}", "unit": "USD per hour, on-demand",
         "kind": "published" if i.verified else "unverified: not read off AWS's page; check before quoting",
         "source": i.source, "read": i.read}
        for i in prices.INSTANCES
    ]  # fmt: skip
    return ["### Prices and rules (bench/decide/prices.py)", "", md_table(pd.DataFrame(rows))]


@dataclass(frozen=True)
class ReportInput:
    """Everything report.md and its plots are made from: the run's records (accuracy joined), the accuracy
    rows, the decision's input and what it decided (the overall winner, its winner.json, each model's own
    decision), the traffic the decision is at, the throughput records the modes are priced from, and the
    folder written to."""

    rows: Sequence[Row]
    acc: pd.DataFrame | None
    decision: winner.DecisionInput
    dec: winner.Decision | None
    verdicts: Sequence[winner.ModelVerdict]
    winner_json: dict[str, Any] | None
    traffic: dict[str, Any]
    throughput: Sequence[ThroughputRecord] | None
    out: Path


def build(inp: ReportInput) -> str:
    """report.md and plots/ in ``inp.out``. The tables render from a frame of the records (one place,
    here); the verdict, header and provenance read the records and the decision."""
    rule, tdoc, out = inp.decision.rule, inp.traffic, inp.out
    df = schema.to_frame(inp.rows)
    atab = accuracy_table(df, inp.acc)
    verdicts = list(inp.verdicts)
    lines = [*_header(inp.rows, tdoc["cold_share"]), *_verdict(inp.dec, inp.winner_json, rule.budget_ms)]
    if verdicts:
        lines += _traffic(verdicts, tdoc)
        draw_traffic(verdicts, out / "plots", tdoc["keepalive_min"])
        lines += modes_section(
            verdicts, list(inp.throughput) if inp.throughput else None, tdoc, out / "plots"
        )
    lines += _bars(inp.rows, inp.acc)
    cr = labelled(inp.rows)
    if cr:
        lines += [*_sizes(cr), *_cold(inp.rows), *_warm(cr), *_memory(cr), *_cost(cr), *_threads(cr)]
    models = sorted({r.model for r in inp.rows if r.model is not None})
    lines += [*_accuracy(atab, rule.min_top1), *skew_section(models)]
    lines += fullsplit.section(out / "fullsplit.csv", str(inp.rows[0].run_id))
    lines += [*_inprocess(inp.rows), *_soak(inp.rows), *_failed(inp.rows), *_coldstart(out / "plots")]
    draw_plots(inp.rows, atab, out / "plots", rule.min_top1)
    text = "\n".join(lines)
    (out / "report.md").write_text(text)
    return text


def traffic_settings(cfg: Settings, run_share: float | None) -> dict[str, Any]:
    """The traffic the decision is made at: the user's setting, else the share the run was costed at."""
    share = cfg.cold_fraction if cfg.traffic_source != "default" or run_share is None else run_share
    return {
        "cold_share": share,
        "requests_per_hour": cfg.requests_per_hour
        or (traffic.requests_per_hour(share, cfg.keepalive_min) if 0 < share < 1 else None),
        "source": cfg.traffic_source if cfg.traffic_source != "default" else "the run's BENCH_COLD_FRACTION",
        "keepalive_min": cfg.keepalive_min,
        "keepalive_model": traffic.KEEPALIVE_MODEL.format(t=cfg.keepalive_min),
        "p99_slo_ms": cfg.p99_slo_ms,
    }


def _coldstart(plots: Path) -> list[str]:
    """The cold-start decomposition of the last interleaved cold-start run (bench/report/coldstart.py): its
    own
    measurement (scripts/coldstart.py), not this run's cells, so it says which run it shows."""
    from bench.report import coldstart

    if not coldstart.CSV.is_file():
        return []
    plots.mkdir(parents=True, exist_ok=True)
    coldstart.plot(coldstart.medians(coldstart.read(coldstart.CSV)), plots / "coldstart.png")
    head = "## Cold start, stage by stage (results/coldstart.csv, its own run: scripts/coldstart.py)"
    return ["", head, "", coldstart.section(plot_link="plots/coldstart.png"), ""]


def samples_csv(csv: Path, rows: Sequence[Row]) -> Path | None:
    """The raw samples of the run in ``csv`` (results/samples/<run_id>.csv beside runs/), if any."""
    rid = next((r.run_id for r in rows if r.run_id is not None), None)
    if rid is None:
        return None
    path = samples.path_for(csv.parent / "runs" / f"{rid}.csv")
    return path if path.is_file() else None


def decide(
    rows: Sequence[Row], csv: Path, cfg: Settings, budget_ms: float
) -> tuple[winner.DecisionInput, dict[str, Any]]:
    """The decision's input for the run ``rows`` of ``csv`` (its raw samples beside it) under the settings
    ``cfg``, and the traffic it is made at."""
    raw = samples_csv(csv, rows)
    fractions = [r.cost.cold_fraction for r in rows if r.cost.cold_fraction is not None]
    tdoc = traffic_settings(cfg, float(fractions[0]) if fractions else None)
    rule = winner.Rule(budget_ms, cfg.min_top1_pct, tdoc["cold_share"], cfg.p99_slo_ms, cfg.keepalive_min)
    return winner.DecisionInput(rows, rule, samples.read(raw, by_repeat=True) if raw else None), tdoc


def main(argv: list[str] | None = None) -> int:
    cfg = Settings.from_env()
    ap = argparse.ArgumentParser(description="Benchmark CSV -> report.md + plots + winner.json")
    ap.add_argument("--csv", type=Path, default=cfg.results_dir / "latest.csv")
    ap.add_argument("--accuracy", type=Path, default=accuracy.DEFAULT)
    ap.add_argument("--out", type=Path, default=cfg.results_dir)
    ap.add_argument(
        "--budget-ms", type=float, default=cfg.p99_budget_ms, help="p99 budget (BENCH_P99_BUDGET_MS)"
    )
    args = ap.parse_args(argv)
    if not args.csv.is_file():
        print(f"no {args.csv}: run `make bench-run` (pytest bench --benchmark-only) first", file=sys.stderr)
        return 2
    rows = schema.parse(args.csv)
    if not rows:
        print(f"{args.csv} has no rows", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    acc = accuracy.load(args.accuracy)
    inp, tdoc = decide(fill_accuracy(rows, acc), args.csv, cfg, args.budget_ms)
    dec, verdicts = winner.decide(inp), winner.decide_models(inp)
    tp = args.out / throughput_schema.DEFAULT_PATH.name
    records = throughput_schema.read(tp) if tp.is_file() else None
    per_model = {v.model: winner.model_summary(v) for v in verdicts}
    rph = tdoc.get("requests_per_hour") or 1.0
    for v in verdicts:
        if v.decision is not None:
            per_model[v.model]["at_traffic"] = modes.at(
                v.decision.lines, records, rph, cfg.p99_slo_ms, cfg.keepalive_min
            )
    mode = per_model.get(str(dec.winner.row.model), {}).get("at_traffic") if dec is not None else None
    w = winner.write_decision(dec, args.out / "winner.json", inp.rule, tdoc, per_model, mode)
    build(ReportInput(inp.rows, acc, inp, dec, verdicts, w, tdoc, records, args.out))
    rel = os.path.relpath(args.out, ROOT) if args.out.is_absolute() else str(args.out)
    print(
        f"report -> {rel}/report.md, plots -> {rel}/plots/, winner -> "
        f"{rel}/winner.json" + ("" if (args.out / "winner.json").is_file() else " (none: no cell qualified)")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
