"""The performance bars the project holds itself to, checked as ratios *within one run* (absolute
figures depend on the machine).

One function per bar, each returning a Bar whose ``passed`` is None when a cell it needs is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from bench.report.tables import MB, containers, fmt, one_per_cell
from core.catalogue import FLOAT32_VARIANTS

#: Full-precision variants: the warm-latency bar compares runtimes at the same precision.
FLOAT32 = FLOAT32_VARIANTS


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


def cold_start_bar(model: str, mem: int, cm: pd.DataFrame, load: pd.Series | None) -> Bar:
    """TFLite cold start <= 1.5 x (null cold start + TFLite in-process load)."""
    t = _one(cm, image_kind="tflite", variant="float32", memory_mb=mem)
    n = _one(cm, image_kind="null", memory_mb=mem)
    name = f"{model} @ {int(mem)} MB: TFLite cold start <= 1.5 x (null cold + TFLite in-process load)"
    if t is None or n is None or load is None:
        return Bar(name, "missing cells (tflite float32, null, or in-process tflite)", None, "")
    limit = 1.5 * (n["cold_total_median_ms"] + load["inproc_load_ms"])
    boot = t["cold_first_request_median_ms"] - t["cold_init_median_ms"] - t["cold_first_inference_median_ms"]
    return Bar(
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


def image_size_bar(model: str, cm: pd.DataFrame) -> Bar:
    """TFLite compressed image <= 25 % of the TensorFlow one."""
    t = _one(cm, image_kind="tflite", variant="float32")
    tf = _one(cm, image_kind="tf", variant="float32")
    name = f"{model}: TFLite compressed image <= 25 % of TF"
    if t is None or tf is None or any(pd.isna(r["image_compressed_bytes"]) for r in (t, tf)):
        return Bar(name, "missing tf or tflite float32 image", None, "")
    ratio = t["image_compressed_bytes"] / tf["image_compressed_bytes"]
    base_share = (
        (t["image_base_bytes"] / t["image_uncompressed_bytes"]) if pd.notna(t["image_base_bytes"]) else None
    )
    return Bar(
        name,
        f"{t['image_compressed_bytes'] / MB:.0f} MB vs {tf['image_compressed_bytes'] / MB:.0f} MB gz "
        f"= {ratio:.0%}",
        bool(ratio <= 0.25),
        f"the shared base image is {fmt(base_share * 100 if base_share else None, 0)}% of the "
        f"TFLite image and the runtime layer {fmt(t['image_runtime_layer_bytes'] / MB, 0)} MB; "
        "the base sets the floor",
    )


def warm_latency_bar(model: str, mem: int, cm: pd.DataFrame) -> Bar:
    """TFLite float32 warm p50 <= 1.1 x the fastest float32 runtime at the same thread count."""
    at = cm[(cm["memory_mb"] == mem) & (cm["image_kind"] != "null")]
    t = _one(at, image_kind="tflite", variant="float32")
    name = f"{model} @ {int(mem)} MB: TFLite float32 warm p50 <= 1.1 x fastest float32 runtime (same threads)"
    if t is None or at.empty:
        return Bar(name, "missing tflite float32 cell", None, "")
    same = at[at["threads"] == t["threads"]]
    # Runtimes are compared at the same precision; quantised variants are another axis (reported).
    best = same.loc[same[same["variant"].isin(FLOAT32)]["warm_handler_p50_ms"].astype(float).idxmin()]
    quick = same.loc[same["warm_handler_p50_ms"].astype(float).idxmin()]
    ratio = t["warm_handler_p50_ms"] / best["warm_handler_p50_ms"]
    return Bar(
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


def agreement_bar(c: pd.DataFrame, acc: pd.DataFrame | None) -> Bar:
    """float32 conversions agree 100 % with Keras (eval) and containers 100 % with in-process."""
    f32 = acc[acc["variant"].isin(FLOAT32)] if acc is not None else None
    if f32 is None or f32.empty:
        why = "no results/accuracy.csv float32 rows (run `make eval`)"
        return Bar("float32 agreement 100 %", why, None, "")
    vals = pd.to_numeric(f32["agreement_pct"], errors="coerce")
    cf = c[c["variant"].isin(FLOAT32)]["container_agreement_pct"].astype(float)
    worst = f32.loc[vals.idxmin()]
    return Bar(
        "float32 agreement 100 % (eval vs Keras; container vs in-process)",
        f"eval min {vals.min():.2f}% ({worst['runtime']}/{worst['library']}/{worst['variant']}); "
        f"container min {fmt(cf.min() if len(cf) else None, 2)}%",
        bool((vals >= 100).all() and (cf.dropna() >= 100).all()),
        "float32 conversions differ from Keras only by kernel rounding; a disagreement means a "
        "flipped near-tie top-1 or a conversion bug",
    )


def check_bars(df: pd.DataFrame, acc: pd.DataFrame | None) -> list[Bar]:
    """Every bar, per model and memory size, in the report's order. Each side of a ratio is the cell's
    median over the repeats (policy threads): one repeat's figure against the best of several rows
    would compare a draw with a minimum."""
    c = one_per_cell(containers(df))
    inproc = df[(df["target"] == "inprocess") & (df["status"] == "ok")]
    bars: list[Bar] = []
    for model in sorted(c["model"].dropna().unique()):
        cm = c[c["model"] == model]
        mems = sorted(cm["memory_mb"].dropna().unique())
        load = _one(inproc[inproc["model"] == model], runtime="tflite", variant="float32")
        bars += [cold_start_bar(model, mem, cm, load) for mem in mems]
        bars.append(image_size_bar(model, cm))
        bars += [warm_latency_bar(model, mem, cm) for mem in mems]
    bars.append(agreement_bar(c, acc))
    return bars
