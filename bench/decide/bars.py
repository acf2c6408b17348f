"""The performance bars the project holds itself to, checked as ratios *within one run* (absolute
figures depend on the machine).

One function per bar, each returning a Bar whose ``passed`` is None when a cell it needs is missing. The bars
read the run's records: each container cell (policy threads) as the median of its repeats
(bench/measure/schema.py ``medians``), in the report's display order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bench.measure import schema
from bench.measure.schema import Row
from core.catalogue import FLOAT32_VARIANTS, IMAGE_KINDS

#: Full-precision variants: the warm-latency bar compares runtimes at the same precision.
FLOAT32 = FLOAT32_VARIANTS
MB = 1e6
_KIND_ORDER = {k: i for i, k in enumerate(IMAGE_KINDS)}


@dataclass
class Bar:
    name: str
    figure: str
    passed: bool | None
    limits: str


@dataclass(frozen=True)
class Labelled:
    """A container cell's record (medians over its repeats) with the label the report shows it by."""

    label: str
    row: Row


def _f(v: float | int | None) -> float:
    """A figure for a ratio: a missing one is NaN (the bar then reads 'nan' and fails)."""
    return math.nan if v is None else float(v)


def _last(v: Any) -> tuple[bool, Any]:
    return (v is None, v if v is not None else 0)


def cells(rows: Sequence[Row]) -> list[Labelled]:
    """The run's good container cells at the handler's thread policy, one per (model, image, variant,
    memory) with the median of every figure over the repeats, in the report's order (model, image kind,
    variant, memory)."""
    ok = [r for r in rows if r.target == "container" and r.status == "ok" and not r.forced]
    ok.sort(
        key=lambda r: (
            _last(r.model), _KIND_ORDER.get(str(r.image_kind), 99), _last(r.variant), _last(r.memory_mb),
            _last(r.threads), _last(r.repeat),
        )
    )  # fmt: skip
    per = schema.medians(ok, lambda r: (r.model, r.image, r.image_kind, r.variant, r.memory_mb))
    several = len({r.model for r in per}) > 1
    return [Labelled(f"{f'{r.model}/' if several else ''}{r.image_kind}:{r.variant}", r) for r in per]


def _one(cs: Sequence[Labelled], **kw: Any) -> Labelled | None:
    return next((c for c in cs if all(getattr(c.row, k) == v for k, v in kw.items())), None)


def cold_start_bar(model: str, mem: int, cm: Sequence[Labelled], load: Row | None) -> Bar:
    """TFLite cold start <= 1.5 x (null cold start + TFLite in-process load)."""
    tc = _one(cm, image_kind="tflite", variant="float32", memory_mb=mem)
    nc = _one(cm, image_kind="null", memory_mb=mem)
    name = f"{model} @ {int(mem)} MB: TFLite cold start <= 1.5 x (null cold + TFLite in-process load)"
    if tc is None or nc is None or load is None:
        return Bar(name, "missing cells (tflite float32, null, or in-process tflite)", None, "")
    t, n, inproc = tc.row.cold, nc.row.cold, _f(load.inproc.load_ms)
    total = _f(t.total_median_ms)
    limit = 1.5 * (_f(n.total_median_ms) + inproc)
    boot = _f(t.first_request_median_ms) - _f(t.init_median_ms) - _f(t.first_inference_median_ms)
    return Bar(
        name,
        f"{total:.0f} ms vs 1.5 x ({_f(n.total_median_ms):.0f} + {inproc:.0f}) = {limit:.0f} ms "
        f"(ratio {total / limit:.2f})",
        bool(total <= limit),
        f"container start {_f(t.container_start_median_ms):.0f} ms (docker run + storage driver), "
        f"python boot + imports {boot:.0f} ms, model init {_f(t.init_median_ms):.0f} ms, "
        f"first inference {_f(t.first_inference_median_ms):.0f} ms",
    )


def image_size_bar(model: str, cm: Sequence[Labelled]) -> Bar:
    """TFLite compressed image <= 25 % of the TensorFlow one."""
    tc = _one(cm, image_kind="tflite", variant="float32")
    tfc = _one(cm, image_kind="tf", variant="float32")
    name = f"{model}: TFLite compressed image <= 25 % of TF"
    if (
        tc is None
        or tfc is None
        or tc.row.size.compressed_bytes is None
        or tfc.row.size.compressed_bytes is None
    ):
        return Bar(name, "missing tf or tflite float32 image", None, "")
    t, tf = tc.row.size, tfc.row.size
    ratio = _f(t.compressed_bytes) / _f(tf.compressed_bytes)
    base_share = _f(t.base_bytes) / _f(t.uncompressed_bytes) if t.base_bytes is not None else None
    layer = None if t.runtime_layer_bytes is None else t.runtime_layer_bytes / MB
    return Bar(
        name,
        f"{_f(t.compressed_bytes) / MB:.0f} MB vs {_f(tf.compressed_bytes) / MB:.0f} MB gz = {ratio:.0%}",
        bool(ratio <= 0.25),
        f"the shared base image is {_fmt(base_share * 100 if base_share else None, 0)}% of the "
        f"TFLite image and the runtime layer {_fmt(layer, 0)} MB; "
        "the base sets the floor",
    )


def warm_latency_bar(model: str, mem: int, cm: Sequence[Labelled]) -> Bar:
    """TFLite float32 warm p50 <= 1.1 x the fastest float32 runtime at the same thread count."""
    at = [c for c in cm if c.row.memory_mb == mem and c.row.image_kind != "null"]
    tc = _one(at, image_kind="tflite", variant="float32")
    name = f"{model} @ {int(mem)} MB: TFLite float32 warm p50 <= 1.1 x fastest float32 runtime (same threads)"
    if tc is None or not at:
        return Bar(name, "missing tflite float32 cell", None, "")
    t = tc.row
    same = [c for c in at if c.row.threads == t.threads and c.row.warm.handler_p50_ms is not None]
    # Runtimes are compared at the same precision; quantised variants are another axis (reported).
    best = min((c for c in same if c.row.variant in FLOAT32), key=lambda c: _f(c.row.warm.handler_p50_ms))
    quick = min(same, key=lambda c: _f(c.row.warm.handler_p50_ms))
    p50, best_p50 = _f(t.warm.handler_p50_ms), _f(best.row.warm.handler_p50_ms)
    ratio = p50 / best_p50
    return Bar(
        name,
        f"{p50:.1f} ms vs fastest float32 {best.label} {best_p50:.1f} ms "
        f"(x{ratio:.2f}, {int(_f(t.threads))} thread(s))",
        bool(ratio <= 1.1),
        "handler-side p50 = decode/resize "
        f"{p50 - _f(t.warm.inference_p50_ms):.1f} ms + inference "
        f"{_f(t.warm.inference_p50_ms):.1f} ms (the kernels: XNNPACK vs the other runtime's); "
        f"fastest of any precision: {quick.label} {_f(quick.row.warm.handler_p50_ms):.1f} ms",
    )


def agreement_bar(cs: Sequence[Labelled], acc: pd.DataFrame | None) -> Bar:
    """float32 conversions agree 100 % with Keras (eval) and containers 100 % with in-process."""
    f32 = acc[acc["variant"].isin(FLOAT32)] if acc is not None else None
    if f32 is None or f32.empty:
        why = "no results/accuracy.csv float32 rows (run `make eval`)"
        return Bar("float32 agreement 100 %", why, None, "")
    vals = pd.to_numeric(f32["agreement_pct"], errors="coerce")
    cf = [c.row.agreement.agreement_pct for c in cs if c.row.variant in FLOAT32]
    measured = [v for v in cf if v is not None]
    worst = f32.loc[vals.idxmin()]
    return Bar(
        "float32 agreement 100 % (eval vs Keras; container vs in-process)",
        f"eval min {vals.min():.2f}% ({worst['runtime']}/{worst['library']}/{worst['variant']}); "
        f"container min {_fmt(min(measured) if measured else None, 2)}%",
        bool((vals >= 100).all() and all(v >= 100 for v in measured)),
        "float32 conversions differ from Keras only by kernel rounding; a disagreement means a "
        "flipped near-tie top-1 or a conversion bug",
    )


def _fmt(v: float | None, digits: int) -> str:
    return "–" if v is None or math.isnan(v) else f"{v:,.{digits}f}"


def check_bars(rows: Sequence[Row], acc: pd.DataFrame | None) -> list[Bar]:
    """Every bar, per model and memory size, in the report's order. Each side of a ratio is the cell's
    median over the repeats (policy threads): one repeat's figure against the best of several rows
    would compare a draw with a minimum. ``acc``: results/accuracy.csv (models/eval.py's file)."""
    cs = cells(rows)
    inproc = [r for r in rows if r.target == "inprocess" and r.status == "ok"]
    bars: list[Bar] = []
    for model in sorted({c.row.model for c in cs if c.row.model is not None}):
        cm = [c for c in cs if c.row.model == model]
        mems = sorted({c.row.memory_mb for c in cm if c.row.memory_mb is not None})
        load = next(
            (r for r in inproc if r.model == model and r.runtime == "tflite" and r.variant == "float32"), None
        )
        bars += [cold_start_bar(model, mem, cm, load) for mem in mems]
        bars.append(image_size_bar(model, cm))
        bars += [warm_latency_bar(model, mem, cm) for mem in mems]
    bars.append(agreement_bar(cs, acc))
    return bars
