"""``python -m bench.report``: results/latest.csv -> report.md, plots/*.png and winner.json in results/.

Tables per metric, plots drawn the way people read these comparisons (stacked image sizes, cold-start
strips, latency per memory size, cost and latency vs memory as AWS Lambda Power Tuning draws them), the
issue's performance bars checked as ratios *within one run* (absolute figures depend on the machine),
and the winner (bench/winner.py) written for deploy.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from bench import accuracy, cost, schema, winner  # noqa: E402
from bench.env import MB_PER_VCPU, ROOT, Config  # noqa: E402

MB = 1e6
#: Full-precision variants: the warm-latency bar compares runtimes at the same precision.
FLOAT32 = ("float32", "float32-opt")
KIND_ORDER = {k: i for i, k in enumerate(("tf", "tflite", "tflite-runtime", "onnx", "null"))}
COLORS = {
    "tf": "#e8710a",
    "tflite": "#1a73e8",
    "tflite-runtime": "#7baaf7",
    "onnx": "#188038",
    "null": "#9aa0a6",
}


# ---------------------------------------------------------------------------------------- helpers
def fmt(v: Any, digits: int = 1) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def md_table(df: pd.DataFrame, digits: dict[str, int] | None = None) -> str:
    """Plain markdown table (no tabulate dependency)."""
    if df.empty:
        return "_no data_\n"
    digits = digits or {}
    head = "| " + " | ".join(df.columns) + " |\n|" + "|".join(" --- " for _ in df.columns) + "|\n"
    body = "".join(
        "| " + " | ".join(fmt(r[c], digits.get(c, 1)) for c in df.columns) + " |\n" for _, r in df.iterrows()
    )
    return head + body


def label(r: pd.Series, models: int) -> str:
    base = f"{r['image_kind']}:{r['variant']}"
    return f"{r['model']}/{base}" if models > 1 else base


def containers(df: pd.DataFrame) -> pd.DataFrame:
    c = df[(df["target"] == "container") & (df["status"] == "ok")].copy()
    c["_order"] = c["image_kind"].map(KIND_ORDER).fillna(99)
    c = c.sort_values(["model", "_order", "variant", "memory_mb"]).drop(columns="_order")
    c["label"] = [label(r, c["model"].nunique()) for _, r in c.iterrows()]
    return c


# ------------------------------------------------------------------------------------------ plots
def plot_sizes(c: pd.DataFrame, path: Path) -> None:
    imgs = c.drop_duplicates("image")
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(imgs) + 1.6))
    y = range(len(imgs))
    left = [0.0] * len(imgs)
    for col, name, color in (
        ("image_base_bytes", "base (OS + Python + RIE)", "#bdc1c6"),
        ("image_runtime_layer_bytes", "runtime deps", "#1a73e8"),
        ("image_model_bytes", "model", "#e8710a"),
        ("image_handler_bytes", "handler", "#188038"),
    ):
        vals = (imgs[col].astype("Float64").fillna(0) / MB).tolist()
        ax.barh(list(y), vals, left=left, color=color, label=name)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    for i, (_, r) in enumerate(imgs.iterrows()):
        comp = r["image_compressed_bytes"]
        ax.text(
            left[i] + 5,
            i,
            f"{left[i]:.0f} MB, {fmt(comp / MB if pd.notna(comp) else None, 0)} MB gz",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(list(y), imgs["label"].tolist())
    ax.invert_yaxis()
    ax.set_xlabel("uncompressed image size (MB = 10^6 bytes)")
    ax.set_xlim(0, max(left + [1]) * 1.3)
    ax.set_title("Image size: base / runtime / model layers")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _per_model_panels(c: pd.DataFrame) -> tuple[Any, list[Any], float, list[tuple[Any, str, pd.DataFrame]]]:
    """One panel per model (its own y scale: a 21M-parameter model would flatten a 0.6M one), one x slot
    per image, one bar/box per memory size within it. Returns (fig, mems, width, [(ax, model, rows)])."""
    mems = sorted(c["memory_mb"].dropna().unique())
    models = list(dict.fromkeys(c["model"]))
    most = max(c[c["model"] == m]["label"].nunique() for m in models)
    fig, axes = plt.subplots(
        len(models), 1, figsize=(max(7, 1.1 * most + 2), 4.5 * len(models)), squeeze=False
    )
    panels = [(ax, m, c[c["model"] == m]) for ax, m in zip(axes[:, 0], models, strict=True)]
    return fig, mems, 0.8 / max(1, len(mems)), panels


def _finish(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_cold(c: pd.DataFrame, path: Path) -> None:
    fig, mems, width, panels = _per_model_panels(c)
    for ax, model, mc in panels:
        labels = list(dict.fromkeys(mc["label"]))
        for j, m in enumerate(mems):
            sub = mc[mc["memory_mb"] == m]
            data, pos = [], []
            for i, lab in enumerate(labels):
                row = sub[sub["label"] == lab]
                if row.empty or pd.isna(row.iloc[0]["cold_total_samples_ms"]):
                    continue
                data.append([float(v) for v in str(row.iloc[0]["cold_total_samples_ms"]).split(";") if v])
                pos.append(i + (j - (len(mems) - 1) / 2) * width)
            if not data:
                continue
            ax.boxplot(
                data,
                positions=pos,
                widths=width * 0.8,
                showfliers=False,
                medianprops={"color": "black"},
                boxprops={"color": f"C{j}"},
            )
            for p, vals in zip(pos, data, strict=True):
                ax.scatter(
                    [p] * len(vals),
                    vals,
                    s=10,
                    color=f"C{j}",
                    alpha=0.7,
                    zorder=3,
                    label=f"{int(m)} MB" if p == pos[0] else None,
                )
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_ylabel("docker run -> first good answer (ms)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"Cold start per image, model {model} (each dot one fresh container)")
        ax.legend(title="Lambda memory", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    _finish(fig, path)


def plot_warm(c: pd.DataFrame, path: Path) -> None:
    fig, mems, width, panels = _per_model_panels(c)
    for ax, model, mc in panels:
        labels = list(dict.fromkeys(mc["label"]))
        for j, m in enumerate(mems):
            sub = mc[mc["memory_mb"] == m].set_index("label")
            present = [lab for lab in labels if lab in sub.index]
            xs = [labels.index(lab) + (j - (len(mems) - 1) / 2) * width for lab in present]
            p50 = sub.loc[present, "warm_client_p50_ms"].astype(float)
            p99 = sub.loc[present, "warm_client_p99_ms"].astype(float)
            ax.bar(xs, p50, width * 0.9, color=f"C{j}", label=f"{int(m)} MB p50 ({m / MB_PER_VCPU:.2f} vCPU)")
            ax.scatter(xs, p99, marker="_", s=200, color="black", zorder=3, label="p99" if j == 0 else None)
            ax.vlines(xs, p50, p99, color="black", lw=0.8)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_ylabel("warm latency, client side (ms)")
        ax.set_title(f"Warm latency per image and memory size, model {model} (bar p50, tick p99)")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    _finish(fig, path)


def plot_cost(c: pd.DataFrame, path: Path) -> None:
    labels = [lab for lab in dict.fromkeys(c["label"]) if not lab.endswith("null:none")]
    if not labels:
        labels = list(dict.fromkeys(c["label"]))
    cols = min(3, len(labels))
    rows = math.ceil(len(labels) / cols)
    height = 3.2 * rows + 0.9  # inches; the top 0.9 in hold the title and the legend
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, height), squeeze=False)
    for ax, lab in zip(axes.flat, labels, strict=False):
        sub = c[c["label"] == lab].sort_values("memory_mb")
        ax.plot(sub["memory_mb"], sub["cost_per_1m_x86_64_usd"], "o-", color="#d93025", label="cost x86_64")
        ax.plot(sub["memory_mb"], sub["cost_per_1m_arm64_usd"], "o--", color="#f29900", label="cost arm64")
        ax.set_ylabel("USD per 1M requests", color="#d93025")
        ax.set_ylim(bottom=0)
        ax2 = ax.twinx()
        ax2.plot(sub["memory_mb"], sub["warm_handler_p50_ms"], "s-", color="#1a73e8", label="p50 duration")
        ax2.set_ylabel("warm p50 duration (ms)", color="#1a73e8")
        ax2.set_ylim(bottom=0)
        ax.set_xlabel("Lambda memory (MB)")
        ax.set_title(lab, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(labels) :]:
        ax.axis("off")
    h1, l1 = axes.flat[0].get_legend_handles_labels()
    fig.suptitle(
        "Cost and speed vs memory (as Lambda Power Tuning draws it)", y=1 - 0.12 / height, fontsize=11
    )
    fig.legend(
        h1 + [plt.Line2D([], [], color="#1a73e8", marker="s")],
        l1 + ["warm p50 duration"],
        loc="center",
        bbox_to_anchor=(0.5, 1 - 0.55 / height),
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.85 / height))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_agreement(table: pd.DataFrame, path: Path) -> None:
    t = table.dropna(subset=["top1_accuracy_pct"]) if "top1_accuracy_pct" in table else table.iloc[0:0]
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(1, len(t)) + 1.5))
    if t.empty:
        ax.text(0.5, 0.5, "no accuracy data (run `make eval`)", ha="center", va="center")
        ax.axis("off")
    else:
        names = [f"{r['model']}/{r['runtime']}:{r['variant']} ({r['library']})" for _, r in t.iterrows()]
        floor = winner.min_top1_pct()

        def color(r: pd.Series) -> str:
            if r["gate_passed"] is not True:
                return "#d93025"
            return "#188038" if float(r["top1_accuracy_pct"]) >= floor else "#f9ab00"

        colors = [color(r) for _, r in t.iterrows()]
        ax.barh(range(len(t)), t["top1_accuracy_pct"].astype(float), color=colors)
        ax.axvline(floor, color="black", lw=0.8, ls="--")
        for i, (_, r) in enumerate(t.iterrows()):
            ax.text(
                float(r["top1_accuracy_pct"]) + 0.5,
                i,
                f"{fmt(r['top1_accuracy_pct'])}% top-1, agrees {fmt(r['agreement_pct'])}%",
                va="center",
                fontsize=8,
            )
        ax.set_yticks(range(len(t)), names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 130)
        ax.set_xlabel(
            "test top-1 accuracy (%)\ngreen = passes the accuracy gate; amber = agrees with Keras but "
            f"the model is\nbelow the {floor:g} % quality floor (dashed line); red = fails its agreement gate"
        )
        ax.set_title("Accuracy and agreement with the Keras model per artefact")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------------- bars
@dataclass
class Bar:
    name: str
    figure: str
    passed: bool | None
    limits: str


def _one(c: pd.DataFrame, **kw: Any) -> pd.Series | None:
    sel = c
    for k, v in kw.items():
        sel = sel[sel[k] == v]
    return None if sel.empty else sel.iloc[0]


def check_bars(df: pd.DataFrame, acc: pd.DataFrame | None) -> list[Bar]:
    """The issue's performance bars, as ratios within one run, per model and memory size."""
    c = containers(df)
    inproc = df[(df["target"] == "inprocess") & (df["status"] == "ok")]
    bars: list[Bar] = []
    for model in sorted(c["model"].dropna().unique()):
        cm = c[c["model"] == model]
        load = _one(inproc[inproc["model"] == model], runtime="tflite", variant="float32")
        for mem in sorted(cm["memory_mb"].dropna().unique()):
            t = _one(cm, image_kind="tflite", variant="float32", memory_mb=mem)
            n = _one(cm, image_kind="null", memory_mb=mem)
            name = f"{model} @ {int(mem)} MB: TFLite cold start <= 1.5 x (null cold + TFLite in-process load)"
            if t is None or n is None or load is None:
                bars.append(Bar(name, "missing cells (tflite float32, null, or in-process tflite)", None, ""))
            else:
                limit = 1.5 * (n["cold_total_median_ms"] + load["inproc_load_ms"])
                boot = (
                    t["cold_first_request_median_ms"]
                    - t["cold_init_median_ms"]
                    - t["cold_first_inference_median_ms"]
                )
                bars.append(
                    Bar(
                        name,
                        f"{t['cold_total_median_ms']:.0f} ms vs 1.5 x ({n['cold_total_median_ms']:.0f} + "
                        f"{load['inproc_load_ms']:.0f}) = {limit:.0f} ms "
                        f"(ratio {t['cold_total_median_ms'] / limit:.2f})",
                        bool(t["cold_total_median_ms"] <= limit),
                        f"container start {t['cold_container_start_median_ms']:.0f} ms "
                        "(docker run + storage driver), "
                        f"python boot + imports {boot:.0f} ms, model init {t['cold_init_median_ms']:.0f} ms, "
                        f"first inference {t['cold_first_inference_median_ms']:.0f} ms",
                    )
                )
        t = _one(cm, image_kind="tflite", variant="float32")
        tf = _one(cm, image_kind="tf", variant="float32")
        name = f"{model}: TFLite compressed image <= 25 % of TF"
        if (
            t is None
            or tf is None
            or pd.isna(t["image_compressed_bytes"])
            or pd.isna(tf["image_compressed_bytes"])
        ):
            bars.append(Bar(name, "missing tf or tflite float32 image", None, ""))
        else:
            ratio = t["image_compressed_bytes"] / tf["image_compressed_bytes"]
            base_share = (
                (t["image_base_bytes"] / t["image_uncompressed_bytes"])
                if pd.notna(t["image_base_bytes"])
                else None
            )
            bars.append(
                Bar(
                    name,
                    f"{t['image_compressed_bytes'] / MB:.0f} MB vs "
                    f"{tf['image_compressed_bytes'] / MB:.0f} MB gz "
                    f"= {ratio:.0%}",
                    bool(ratio <= 0.25),
                    f"the shared base image is {fmt(base_share * 100 if base_share else None, 0)}% of the "
                    f"TFLite image and the runtime layer {fmt(t['image_runtime_layer_bytes'] / MB, 0)} MB; "
                    "the base sets the floor",
                )
            )
        for mem in sorted(cm["memory_mb"].dropna().unique()):
            at = cm[(cm["memory_mb"] == mem) & (cm["image_kind"] != "null")]
            t = _one(at, image_kind="tflite", variant="float32")
            name = (
                f"{model} @ {int(mem)} MB: TFLite float32 warm p50 <= 1.1 x fastest float32 runtime "
                "(same threads)"
            )
            if t is None or at.empty:
                bars.append(Bar(name, "missing tflite float32 cell", None, ""))
                continue
            same = at[at["threads"] == t["threads"]]
            # Runtimes are compared at the same precision; quantised variants are another axis (reported).
            best = same.loc[same[same["variant"].isin(FLOAT32)]["warm_handler_p50_ms"].astype(float).idxmin()]
            quick = same.loc[same["warm_handler_p50_ms"].astype(float).idxmin()]
            ratio = t["warm_handler_p50_ms"] / best["warm_handler_p50_ms"]
            bars.append(
                Bar(
                    name,
                    f"{t['warm_handler_p50_ms']:.1f} ms vs fastest float32 {best['label']} "
                    f"{best['warm_handler_p50_ms']:.1f} ms "
                    f"(x{ratio:.2f}, {int(t['threads'])} thread(s))",
                    bool(ratio <= 1.1),
                    "handler-side p50 = decode/resize "
                    f"{t['warm_handler_p50_ms'] - t['warm_inference_p50_ms']:.1f} ms + inference "
                    f"{t['warm_inference_p50_ms']:.1f} ms (the kernels: XNNPACK vs the other runtime's); "
                    f"fastest of any precision: {quick['label']} {quick['warm_handler_p50_ms']:.1f} ms",
                )
            )
    f32 = acc[acc["variant"].isin(FLOAT32)] if acc is not None else None
    if f32 is None or f32.empty:
        bars.append(
            Bar("float32 agreement 100 %", "no results/accuracy.csv float32 rows (run `make eval`)", None, "")
        )
    else:
        vals = pd.to_numeric(f32["agreement_pct"], errors="coerce")
        cf = c[c["variant"].isin(FLOAT32)]["container_agreement_pct"].astype(float)
        worst = f32.loc[vals.idxmin()]
        ok = bool((vals >= 100).all() and (cf.dropna() >= 100).all())
        bars.append(
            Bar(
                "float32 agreement 100 % (eval vs Keras; container vs in-process)",
                f"eval min {vals.min():.2f}% ({worst['runtime']}/{worst['library']}/{worst['variant']}); "
                f"container min {fmt(cf.min() if len(cf) else None, 2)}%",
                ok,
                "float32 conversions differ from Keras only by kernel rounding; a disagreement means a "
                "flipped near-tie top-1 or a conversion bug",
            )
        )
    return bars


# ------------------------------------------------------------------------------------------ report
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


def build(df: pd.DataFrame, acc: pd.DataFrame | None, out: Path, budget: float, cold_fraction: float) -> str:
    df = fill_accuracy(df, acc)
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    c = containers(df)
    atab = accuracy_table(df, acc)
    w = winner.write(df, out / "winner.json", budget)
    lines: list[str] = []
    first = df.iloc[0]
    lines += [
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
        "## Verdict\n",
        verdict(df, w, budget) + "\n",
    ]
    if w:
        lines.append(
            f"Winner ({w['rule'].rstrip('.')}): **{w['image']}** at "
            f"{w['memory_mb']} MB, {w['threads']} thread(s) -> `winner.json`.\n"
        )
    else:
        lines.append("No winner: nothing passed the rule, `winner.json` not written.\n")
    lines += [
        "## Performance bars (ratios within this run)\n",
        md_table(
            pd.DataFrame(
                [
                    {
                        "bar": b.name,
                        "figures": b.figure,
                        "result": {True: "PASS", False: "FAIL", None: "n/a"}[b.passed],
                        "what limits it": b.limits,
                    }
                    for b in check_bars(df, acc)
                ]
            )
        ),
    ]
    if not c.empty:
        sizes = c.drop_duplicates("image")
        lines += [
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
        lines += [
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
        lines += [
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
        lines += [
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
        lines += [
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
    lines += [
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
    ip = df[(df["target"] == "inprocess") & (df["status"] == "ok")]
    if not ip.empty:
        lines += [
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
    sk = df[df["target"] == "soak"]
    if not sk.empty:
        lines += [
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
    failed = df[df["status"] == "failed"]
    if not failed.empty:
        lines += ["## Failed cells\n", md_table(failed[["target", "image", "memory_mb", "note"]])]
    if not c.empty:
        plot_sizes(c, plots / "sizes.png")
        plot_cold(c, plots / "cold_start.png")
        plot_warm(c, plots / "warm_latency.png")
        plot_cost(c, plots / "cost_vs_memory.png")
    plot_agreement(atab, plots / "agreement.png")
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
    build(
        df,
        accuracy.load(args.accuracy),
        args.out,
        args.budget_ms,
        float(df["cold_fraction"].dropna().iloc[0])
        if df["cold_fraction"].notna().any()
        else cfg.cold_fraction,
    )
    rel = os.path.relpath(args.out, ROOT) if args.out.is_absolute() else str(args.out)
    print(
        f"report -> {rel}/report.md, plots -> {rel}/plots/, winner -> "
        f"{rel}/winner.json" + ("" if (args.out / "winner.json").is_file() else " (none: no cell qualified)")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
