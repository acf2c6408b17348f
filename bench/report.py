"""``python -m bench.report``: results/latest.csv -> report.md, plots/*.png and winner.json in results/.

report.md is assembled from one function per section (tables per metric); the plots are bench/plots.py,
the performance bars bench/bars.py, the winner rule bench/winner.py. main() is the only place that
writes winner.json (for deploy).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from bench import accuracy, cost, schema, winner
from bench.bars import check_bars
from bench.env import MB_PER_VCPU, ROOT, Config
from bench.plots import plot_agreement, plot_cold, plot_cost, plot_sizes, plot_warm
from bench.tables import MB, containers, fmt, md_table


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


def verdict(df: pd.DataFrame, w: dict[str, Any] | None, budget: float) -> str:
    c = containers(df)
    tfl = winner.eligible(c, budget)
    tfl = tfl[tfl["image_kind"].isin(["tflite", "tflite-runtime"])]
    if w is None:
        return (
            "Undecided: no cell passed the accuracy gate within the p99 budget, so the data cannot yet say "
            "whether TFLite is the right shipped target (is results/accuracy.csv there? run `make eval`)."
        )
    if w["image_kind"] in ("tflite", "tflite-runtime"):
        others = winner.eligible(c, budget)
        others = others[~others["image_kind"].isin(["tflite", "tflite-runtime"])]
        best_other = others.sort_values("cost_per_1m_x86_64_usd").iloc[0] if not others.empty else None
        why = (
            f"; the best non-TFLite cell, {best_other['image']} at {int(best_other['memory_mb'])} MB, costs "
            f"${best_other['cost_per_1m_x86_64_usd']:.2f}"
            if best_other is not None
            else ""
        )
        return (
            "Yes: the data agree that TFLite is the right shipped target: "
            f"{w['image']} at {w['memory_mb']} MB "
            f"passes the accuracy gate and is the cheapest cell within the {budget:g} ms p99 budget "
            f"(${w['metrics']['cost_per_1m_x86_64_usd']:.2f} per 1M){why}, with a "
            f"{(w['metrics']['image_compressed_bytes'] or 0) / MB:.0f} MB compressed image."
        )
    best_tfl = tfl.sort_values("cost_per_1m_x86_64_usd").iloc[0] if not tfl.empty else None
    return (
        f"No: {w['image']} at {w['memory_mb']} MB wins (${w['metrics']['cost_per_1m_x86_64_usd']:.2f} per 1M)"
        + (
            f", cheaper than the best TFLite cell {best_tfl['image']} "
            f"(${best_tfl['cost_per_1m_x86_64_usd']:.2f})"
            if best_tfl is not None
            else ", and no TFLite cell qualified"
        )
        + "; on this machine TFLite is not the cheapest choice that passes the gate."
    )


def fill_accuracy(df: pd.DataFrame, acc: pd.DataFrame | None) -> pd.DataFrame:
    """Join results/accuracy.csv onto rows that had none at bench time (eval may run after the bench)."""
    if acc is None:
        return df
    df = df.copy()
    for i, r in df[df["gate_passed"].isna() & df["target"].isin(["container", "inprocess"])].iterrows():
        fields, _ = accuracy.lookup(
            acc, r["model"], r["runtime"], r["library"], r["variant"], r["model_sha256"]
        )
        for k, v in fields.items():
            if v is not None:
                df.at[i, k] = v
    return df


def _header(df: pd.DataFrame, cold_fraction: float) -> list[str]:
    first = df.iloc[0]
    return [
        "# Benchmark report\n",
        f"Run `{first['run_id']}` at {first['timestamp']} (git {str(first['git_sha'])[:10]}"
        f"{' + local changes' if first['git_dirty'] is True else ''}); "
        f"{first['cpu_model']}, {first['cpu_cores']} cores, "
        f"docker {first['docker_version']} ({first['storage_driver']}, cgroup v{first['cgroup_version']}); "
        f"python {first['python']}; quick={fmt(first['quick'])}, cold N={first['cold_n_requested']}, "
        f"warm M={first['warm_m_requested']}.\n",
        f"Lambda memory is simulated with `docker run --memory M --cpus M/{MB_PER_VCPU}`; this host has "
        f"{first['cpu_cores']} cores, so --cpus is capped there (3008 MB = 1.70 vCPU fits). Prices: "
        f"{cost.PRICES_SOURCE} ({cost.PRICES_AS_OF}): x86_64 ${cost.GB_SECOND_USD['x86_64']:.10f}/GB-s, "
        f"arm64 ${cost.GB_SECOND_USD['arm64']:.10f}/GB-s, ${cost.REQUEST_USD * 1e6:.2f} per 1M requests; "
        "billed duration = "
        f"handler time rounded up to 1 ms; {cold_fraction:.1%} of requests assumed cold, billing their init "
        "(BENCH_COLD_FRACTION). arm64 costs apply arm64 prices to durations measured on x86_64.\n",
    ]


def _verdict(df: pd.DataFrame, w: dict[str, Any] | None, budget: float) -> list[str]:
    lines = ["## Verdict\n", verdict(df, w, budget) + "\n"]
    if w:
        lines.append(
            f"Winner ({w['rule'].rstrip('.')}): **{w['image']}** at "
            f"{w['memory_mb']} MB, {w['threads']} thread(s) -> `winner.json`.\n"
        )
    else:
        lines.append("No winner: nothing passed the rule, `winner.json` not written.\n")
    return lines


def _bars(df: pd.DataFrame, acc: pd.DataFrame | None) -> list[str]:
    rows = [
        {
            "bar": b.name,
            "figures": b.figure,
            "result": {True: "PASS", False: "FAIL", None: "n/a"}[b.passed],
            "what limits it": b.limits,
        }
        for b in check_bars(df, acc)
    ]
    return ["## Performance bars (ratios within this run)\n", md_table(pd.DataFrame(rows))]


def _sizes(c: pd.DataFrame) -> list[str]:
    sizes = c.drop_duplicates("image")
    return [
        "## Image size\n",
        "![sizes](plots/sizes.png)\n",
        md_table(
            pd.DataFrame(
                {
                    "image": sizes["image"],
                    "uncompressed MB": sizes["image_uncompressed_bytes"] / MB,
                    "compressed MB": sizes["image_compressed_bytes"] / MB,
                    "base MB": sizes["image_base_bytes"] / MB,
                    "runtime layer MB": sizes["image_runtime_layer_bytes"] / MB,
                    "model MB": sizes["image_model_bytes"] / MB,
                }
            ),
            {"model MB": 2},
        ),
    ]


def _cold(c: pd.DataFrame) -> list[str]:
    return [
        "## Cold start (median, 95 % CI; ms)\n",
        "![cold](plots/cold_start.png)\n",
        md_table(
            pd.DataFrame(
                {
                    "image": c["label"],
                    "MB": c["memory_mb"],
                    "N": c["cold_n"],
                    "rejected": c["cold_rejected_n"],
                    "total": c["cold_total_median_ms"],
                    "CI low": c["cold_total_ci_low_ms"],
                    "CI high": c["cold_total_ci_high_ms"],
                    "container start": c["cold_container_start_median_ms"],
                    "first request": c["cold_first_request_median_ms"],
                    "init": c["cold_init_median_ms"],
                    "first inference": c["cold_first_inference_median_ms"],
                }
            )
        ),
        "CI columns are empty below 6 samples (an order-statistic 95 % CI needs N >= 6).\n",
    ]


def _warm(c: pd.DataFrame) -> list[str]:
    return [
        "## Warm latency (ms)\n",
        "![warm](plots/warm_latency.png)\n",
        md_table(
            pd.DataFrame(
                {
                    "image": c["label"],
                    "MB": c["memory_mb"],
                    "threads": c["threads"],
                    "M": c["warm_n"],
                    "client p50": c["warm_client_p50_ms"],
                    "client p90": c["warm_client_p90_ms"],
                    "client p99": c["warm_client_p99_ms"],
                    "handler p50": c["warm_handler_p50_ms"],
                    "handler p99": c["warm_handler_p99_ms"],
                    "inference p50": c["warm_inference_p50_ms"],
                }
            )
        ),
    ]


def _memory(c: pd.DataFrame) -> list[str]:
    return [
        "## Memory (container cgroup)\n",
        md_table(
            pd.DataFrame(
                {
                    "image": c["label"],
                    "MB": c["memory_mb"],
                    "peak MiB": c["peak_memory_bytes"] / 2**20,
                    "rss MiB": c["rss_bytes"] / 2**20,
                }
            )
        ),
        "Peak = cgroup max usage (includes page cache of the files read); rss = anonymous memory.\n",
    ]


def _cost(c: pd.DataFrame) -> list[str]:
    return [
        "## Cost per 1M requests\n",
        "![cost](plots/cost_vs_memory.png)\n",
        md_table(
            pd.DataFrame(
                {
                    "image": c["label"],
                    "MB": c["memory_mb"],
                    "mean billed ms": c["warm_billed_mean_ms"],
                    "init billed ms": c["init_billed_ms"],
                    "x86_64 USD": c["cost_per_1m_x86_64_usd"],
                    "arm64 USD": c["cost_per_1m_arm64_usd"],
                }
            ),
            {"x86_64 USD": 3, "arm64 USD": 3},
        ),
    ]


def _accuracy(atab: pd.DataFrame) -> list[str]:
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
    floor = winner.min_top1_pct()
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


def _inprocess(df: pd.DataFrame) -> list[str]:
    ip = df[(df["target"] == "inprocess") & (df["status"] == "ok")]
    if not ip.empty:
        return [
            "## In-process (no container)\n",
            md_table(
                pd.DataFrame(
                    {
                        "model": ip["model"],
                        "runtime": ip["runtime"],
                        "library": ip["library"],
                        "variant": ip["variant"],
                        "threads": ip["threads"],
                        "load ms (fresh process)": ip["inproc_load_ms"],
                        "predict p50 ms": ip["warm_inference_p50_ms"],
                        "preprocess+predict p99 ms": ip["warm_client_p99_ms"],
                    }
                )
            ),
        ]
    return []


def _soak(df: pd.DataFrame) -> list[str]:
    sk = df[df["target"] == "soak"]
    if not sk.empty:
        return [
            "## Soak\n",
            md_table(
                pd.DataFrame(
                    {
                        "image": sk["image"],
                        "MB": sk["memory_mb"],
                        "requests": sk["soak_n"],
                        "bad inputs": sk["soak_bad_n"],
                        "typed errors ok": sk["soak_typed_errors_ok"],
                        "unexpected errors": sk["soak_unexpected_errors"],
                        "peak growth %": sk["soak_peak_growth_pct"],
                        "rss growth %": sk["soak_mem_growth_pct"],
                        "result": sk["status"],
                    }
                ),
                {"peak growth %": 2, "rss growth %": 2},
            ),
        ]
    return []


def _failed(df: pd.DataFrame) -> list[str]:
    failed = df[df["status"] == "failed"]
    if not failed.empty:
        return ["## Failed cells\n", md_table(failed[["target", "image", "memory_mb", "note"]])]
    return []


def draw_plots(c: pd.DataFrame, atab: pd.DataFrame, plots: Path) -> None:
    plots.mkdir(parents=True, exist_ok=True)
    if not c.empty:
        plot_sizes(c, plots / "sizes.png")
        plot_cold(c, plots / "cold_start.png")
        plot_warm(c, plots / "warm_latency.png")
        plot_cost(c, plots / "cost_vs_memory.png")
    plot_agreement(atab, plots / "agreement.png")


def build(
    df: pd.DataFrame,
    acc: pd.DataFrame | None,
    out: Path,
    budget: float,
    cold_fraction: float,
    w: dict[str, Any] | None,
) -> str:
    """report.md and plots/ in ``out`` for rows ``df`` (accuracy filled in) and the winner ``w``."""
    c = containers(df)
    atab = accuracy_table(df, acc)
    lines = [*_header(df, cold_fraction), *_verdict(df, w, budget), *_bars(df, acc)]
    if not c.empty:
        lines += [*_sizes(c), *_cold(c), *_warm(c), *_memory(c), *_cost(c)]
    lines += [*_accuracy(atab), *_inprocess(df), *_soak(df), *_failed(df)]
    draw_plots(c, atab, out / "plots")
    text = "\n".join(lines)
    (out / "report.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    cfg = Config.from_env()
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
    df = schema.read(args.csv)
    if df.empty:
        print(f"{args.csv} has no rows", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    acc = accuracy.load(args.accuracy)
    df = fill_accuracy(df, acc)
    w = winner.write(df, args.out / "winner.json", args.budget_ms)
    fractions = df["cold_fraction"].dropna()
    cold_fraction = float(fractions.iloc[0]) if len(fractions) else cfg.cold_fraction
    build(df, acc, args.out, args.budget_ms, cold_fraction, w)
    rel = os.path.relpath(args.out, ROOT) if args.out.is_absolute() else str(args.out)
    print(
        f"report -> {rel}/report.md, plots -> {rel}/plots/, winner -> "
        f"{rel}/winner.json" + ("" if (args.out / "winner.json").is_file() else " (none: no cell qualified)")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
