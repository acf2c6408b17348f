"""The report's plots (matplotlib, Agg): drawn the way people read these comparisons: stacked image sizes,
cold-start strips, latency per memory size, cost and latency vs memory as AWS Lambda Power Tuning draws
them, accuracy against the quality floor."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.colors
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.decide import traffic, winner  # noqa: E402
from bench.decide.bars import Labelled  # noqa: E402
from bench.measure.cells import Cell  # noqa: E402
from bench.measure.env import MB_PER_VCPU  # noqa: E402
from bench.report.tables import MB, fmt  # noqa: E402


def _num(v: float | int | None) -> float:
    """A figure to draw: a missing one is NaN (matplotlib leaves it out)."""
    return math.nan if v is None else float(v)


def plot_sizes(cells: Sequence[Labelled], path: Path) -> None:
    imgs: dict[str | None, Labelled] = {}
    for x in cells:  # each image once, by its first cell
        imgs.setdefault(x.row.image, x)
    shown = list(imgs.values())
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(shown) + 1.6))
    y = range(len(shown))
    left = [0.0] * len(shown)
    for field, name, color in (
        ("base_bytes", "base (OS + Python + RIE)", "#bdc1c6"),
        ("runtime_layer_bytes", "runtime deps", "#1a73e8"),
        ("model_bytes", "model", "#e8710a"),
        ("handler_bytes", "handler", "#188038"),
    ):
        vals = [(getattr(x.row.size, field) or 0) / MB for x in shown]
        ax.barh(list(y), vals, left=left, color=color, label=name)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    for i, x in enumerate(shown):
        comp = x.row.size.compressed_bytes
        ax.text(
            left[i] + 5,
            i,
            f"{left[i]:.0f} MB, {fmt(comp / MB if comp is not None else None, 0)} MB gz",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(list(y), [x.label for x in shown])
    ax.invert_yaxis()
    ax.set_xlabel("uncompressed image size (MB = 10^6 bytes)")
    ax.set_xlim(0, max(left + [1]) * 1.3)
    ax.set_title("Image size: base / runtime / model layers")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _per_model_panels(
    cells: Sequence[Labelled],
) -> tuple[Any, list[int], float, list[tuple[Any, str | None, list[Labelled]]]]:
    """One panel per model (its own y scale: a 21M-parameter model would flatten a 0.6M one), one x slot
    per image, one bar/box per memory size within it. Returns (fig, mems, width, [(ax, model, cells)])."""
    mems = sorted({x.row.memory_mb for x in cells if x.row.memory_mb is not None})
    models = list(dict.fromkeys(x.row.model for x in cells))
    most = max(len({x.label for x in cells if x.row.model == m}) for m in models)
    fig, axes = plt.subplots(
        len(models), 1, figsize=(max(7, 1.1 * most + 2), 4.5 * len(models)), squeeze=False
    )
    panels = [
        (ax, m, [x for x in cells if x.row.model == m]) for ax, m in zip(axes[:, 0], models, strict=True)
    ]
    return fig, mems, 0.8 / max(1, len(mems)), panels


def _finish(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _cache_marks(ax: Any, pos: list[float], cache: list[float | None], first: bool) -> None:
    """The cold-page-cache median (drop_caches before each sample) as a black x above each box."""
    pts = [(p, float(v)) for p, v in zip(pos, cache, strict=True) if v is not None]
    if pts:
        ax.scatter(
            [p for p, _ in pts], [v for _, v in pts], marker="x", s=40, color="black", zorder=4,
            label="cold page cache (median)" if first else None,
        )  # fmt: skip


def _at(cells: Sequence[Labelled], label: str, memory_mb: int) -> Labelled | None:
    """The first cell of ``label`` at ``memory_mb``."""
    return next((x for x in cells if x.label == label and x.row.memory_mb == memory_mb), None)


def plot_cold(pooled: Sequence[tuple[Labelled, list[float]]], path: Path) -> None:
    """Every cell's cold starts (pooled over its repeats: tables.pooled_cold) as a box and dots."""
    samples = {id(x): t for x, t in pooled}
    fig, mems, width, panels = _per_model_panels([x for x, _ in pooled])
    for ax, model, mc in panels:
        labels = list(dict.fromkeys(x.label for x in mc))
        for j, m in enumerate(mems):
            data, pos, cache = [], [], []
            for i, lab in enumerate(labels):
                x = _at(mc, lab, m)
                if x is None:
                    continue
                data.append(samples[id(x)])
                pos.append(i + (j - (len(mems) - 1) / 2) * width)
                cache.append(x.row.cold_cache.total_median_ms)
            if not data:
                continue
            _cache_marks(ax, pos, cache, first=j == 0)
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
        ax.set_title(f"Cold start per image, model {model} (dots: fresh containers, warm page cache)")
        ax.legend(title="Lambda memory", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    _finish(fig, path)


def plot_warm(cells: Sequence[Labelled], path: Path) -> None:
    fig, mems, width, panels = _per_model_panels(cells)
    for ax, model, mc in panels:
        labels = list(dict.fromkeys(x.label for x in mc))
        for j, m in enumerate(mems):
            present = [(lab, x) for lab in labels if (x := _at(mc, lab, m)) is not None]
            xs = [labels.index(lab) + (j - (len(mems) - 1) / 2) * width for lab, _ in present]
            p50 = [_num(x.row.warm.client_p50_ms) for _, x in present]
            p99 = [_num(x.row.warm.client_p99_ms) for _, x in present]
            ax.bar(xs, p50, width * 0.9, color=f"C{j}", label=f"{int(m)} MB p50 ({m / MB_PER_VCPU:.2f} vCPU)")
            ax.scatter(xs, p99, marker="_", s=200, color="black", zorder=3, label="p99" if j == 0 else None)
            ax.vlines(xs, p50, p99, color="black", lw=0.8)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_ylabel("warm latency, client side (ms)")
        ax.set_title(f"Warm latency per image and memory size, model {model} (bar p50, tick p99)")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    _finish(fig, path)


def plot_cost(cells: Sequence[Labelled], path: Path) -> None:
    labels = [lab for lab in dict.fromkeys(x.label for x in cells) if not lab.endswith("null:none")]
    if not labels:
        labels = list(dict.fromkeys(x.label for x in cells))
    cols = min(3, len(labels))
    rows = math.ceil(len(labels) / cols)
    height = 3.2 * rows + 0.9  # inches; the top 0.9 in hold the title and the legend
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, height), squeeze=False)
    for ax, lab in zip(axes.flat, labels, strict=False):
        sub = sorted((x.row for x in cells if x.label == lab), key=lambda r: _num(r.memory_mb))
        mem = [_num(r.memory_mb) for r in sub]
        ax.plot(
            mem,
            [_num(r.cost.cost_per_1m_x86_64_usd) for r in sub],
            "o-",
            color="#d93025",
            label="cost x86_64",
        )
        ax.plot(
            mem,
            [_num(r.cost.cost_per_1m_arm64_usd) for r in sub],
            "o--",
            color="#f29900",
            label="cost arm64 prices (x86_64 timings)",
        )
        ax.set_ylabel("USD per 1M requests", color="#d93025")
        ax.set_ylim(bottom=0)
        ax2 = ax.twinx()
        ax2.plot(mem, [_num(r.warm.handler_p50_ms) for r in sub], "s-", color="#1a73e8", label="p50 duration")
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


def plot_agreement(table: pd.DataFrame, path: Path, floor: float = winner.MIN_TOP1_PCT) -> None:
    t = table.dropna(subset=["top1_accuracy_pct"]) if "top1_accuracy_pct" in table else table.iloc[0:0]
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(1, len(t)) + 1.5))
    if t.empty:
        ax.text(0.5, 0.5, "no accuracy data (run `make eval`)", ha="center", va="center")
        ax.axis("off")
    else:
        names = [f"{r['model']}/{r['runtime']}:{r['variant']} ({r['library']})" for _, r in t.iterrows()]

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


def _shade_regions(ax: Any, regions: list[traffic.Region], colors: dict[Cell, str]) -> None:
    """The rule's pick along the axis: one shaded band per region, a dashed line at each crossover."""
    for i, r in enumerate(regions):
        col = colors.get(r.winner, "#dddddd") if r.winner is not None else "#dddddd"
        ax.axvspan(r.from_cold_share, r.to_cold_share, color=col, alpha=0.12)
        if i:
            ax.axvline(r.from_cold_share, color="black", lw=0.8, ls="--")


def plot_traffic(dec: winner.Decision, path: Path, title: str, keepalive_min: float) -> None:
    """Cost per 1M and p99 of the cold + warm mix against the cold share (log axis, 0.01 %..50 %), the
    cells the rule picks somewhere, the tie set at the user's share and every cell that is the cheapest
    somewhere, in colour and labelled; the rest grey; the
    shaded bands are where each pick wins, the dotted line is the user's traffic."""
    grid = traffic.GRID
    picks = list(dict.fromkeys(r.winner for r in dec.regions if r.winner is not None))
    ties = [x.cell for x in dec.tie_set]
    cheapest = [min(dec.lines, key=lambda k, c=c: dec.lines[k].cost(c)) for c in grid]  # type: ignore[misc]
    shown = list(dict.fromkeys(picks + ties + cheapest))
    palette = [f"C{i}" for i in range(10)]
    if len(shown) > 10:  # tab20 as hex strings, so every colour is one type
        palette = [matplotlib.colors.to_hex(plt.get_cmap("tab20")(i)) for i in range(20)]
    colors = {k: palette[i % len(palette)] for i, k in enumerate(shown)}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5.5))
    for key, line in dec.lines.items():
        col, lw = colors.get(key, "#bbbbbb"), 1.8 if key in colors else 0.6
        name = f"{key.tag.removeprefix('clothing-')} @ {key.memory_mb} MB" if key in colors else None
        ax1.plot(grid, [line.cost(c) for c in grid], color=col, lw=lw, label=name, zorder=3 if name else 1)
        d = [x for c in grid if (x := line.draws(c)) is not None] if key in picks and line.enough else []
        if len(d) == len(grid):
            lo, hi = zip(*[np.percentile(x, [2.5, 97.5]) for x in d], strict=True)
            ax1.fill_between(grid, lo, hi, color=col, alpha=0.15)
        p99 = [line.quantile(c, 0.99)[0] for c in grid]
        ax2.plot(grid, [np.nan if v is None else v for v in p99], color=col, lw=lw, label=name)
    for ax in (ax1, ax2):
        _shade_regions(ax, dec.regions, colors)
        ax.axvline(dec.cold_share, color="black", lw=1.2, ls=":")
        ax.set_xscale("log")
        ax.set_xlim(grid[0], grid[-1])
        ax.set_xlabel("share of cold requests (log); dotted: the traffic of winner.json")
        ax.grid(alpha=0.3, which="both")
        top = ax.secondary_xaxis(
            "top",
            functions=(
                lambda c: -np.log(np.clip(c, 1e-12, 1 - 1e-12)) * 60 / keepalive_min,
                lambda r: np.exp(-np.asarray(r) * keepalive_min / 60),
            ),
        )
        lo_r, hi_r = (-math.log(x) * 60 / keepalive_min for x in (grid[-1], grid[0]))
        top.set_xticks([r for r in (5, 10, 15, 20, 25, 30, 40, 50, 60) if lo_r <= r <= hi_r])
        top.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        top.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        top.set_xlabel(f"requests per hour (Poisson, {keepalive_min:g} min keep-alive: an assumption)")
    if dec.slo_ms is not None:
        ax2.axhline(dec.slo_ms, color="#d93025", lw=1, label=f"SLO {dec.slo_ms:g} ms")
    ax1.set_ylabel("USD per 1M requests (band: 95 % interval of each pick)")
    ax2.set_ylabel("p99 latency of the cold + warm mix, client side (ms)")
    if any(ln.warm_client for ln in dec.lines.values()):  # no raw samples: no latency mix to draw
        ax2.set_yscale("log")
    else:
        ax2.text(0.5, 0.5, "no raw samples: no latency mix", transform=ax2.transAxes, ha="center")
    ax1.set_yscale("log")
    ax1.legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=10)
    _finish(fig, path)


MODE_COLORS = {"on-demand": "C0", "provisioned concurrency": "C1", "managed instances": "C2"}


def plot_modes(axes: dict[str, Any], user_rph: float, slo_ms: float | None, path: Path) -> None:
    """Cost per month against requests per hour (log-log), one panel per model: each mode's cheapest
    configuration meeting the SLO (band: its 95 % interval), a dot where a mode's pick changes cell, a
    dashed line at each crossover of the overall pick, the dotted line at the user's traffic."""
    fig, panels = plt.subplots(1, max(1, len(axes)), figsize=(7 * max(1, len(axes)), 5.5), squeeze=False)
    for ax, (model, a) in zip(panels[0], axes.items(), strict=False):
        for mode, opts in a.by_mode.items():
            xs = [r for r, o in zip(a.rph, opts, strict=True) if o is not None]
            ys = [o.monthly_usd for o in opts if o is not None]
            if not xs:
                continue
            col = MODE_COLORS[mode]
            ax.plot(xs, ys, color=col, lw=1.8, label=mode)
            band = [(r, o.low_usd, o.high_usd) for r, o in zip(a.rph, opts, strict=True) if o and o.low_usd]
            if band:
                bx, lo, hi = zip(*band, strict=True)
                ax.fill_between(bx, lo, hi, color=col, alpha=0.15, lw=0)
            cells = [(r, o) for r, o in zip(a.rph, opts, strict=True) if o is not None]
            labelled = 0.0  # labels at least half a decade apart: provisioned steps come every few points
            for (_, p), (r, o) in zip(cells, cells[1:], strict=False):
                if o.config.get("image") != p.config.get("image") or o.config.get(
                    "memory_mb"
                ) != p.config.get("memory_mb"):
                    ax.plot([r], [o.monthly_usd], "o", color=col, ms=4)
                    if r >= labelled * 10**0.5:
                        labelled = float(r)
                        ax.annotate(short(o.config), (r, o.monthly_usd), fontsize=6, color=col,
                                    xytext=(3, -9), textcoords="offset points")  # fmt: skip
        for x in a.crossovers():
            ax.axvline(x["requests_per_hour"], color="black", lw=0.8, ls="--")
            to = f"{x['to'][0]}" if x["to"] else "nothing"
            ax.annotate(f"{x['requests_per_hour']:.3g}/h -> {to}", (x["requests_per_hour"], 0.02),
                        xycoords=("data", "axes fraction"), rotation=90, fontsize=7, va="bottom")  # fmt: skip
        ax.axvline(user_rph, color="black", lw=1.2, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("requests per hour (log); dotted: the traffic of winner.json")
        ax.set_ylabel("USD per month (log; band: 95 % interval)")
        first = next((o for o in a.by_mode["on-demand"] if o is not None), None)
        start = f"; on-demand starts at {short(first.config)}" if first else ""
        note = f"\nManaged Instances {a.mi_note}" if a.mi_note else ""
        slo = f", p99 SLO {slo_ms:g} ms" if slo_ms is not None else ", no SLO"
        ax.set_title(f"{model}{slo}{start}{note}", fontsize=8)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("Monthly cost of each Lambda mode's cheapest configuration meeting the SLO", fontsize=10)
    _finish(fig, path)


def short(cfg: dict[str, Any]) -> str:
    img = str(cfg.get("image", "")).removeprefix("clothing-")
    if "instance" in cfg:
        return f"{img} on {cfg['instances']} x {cfg['instance']} (P={cfg['processes_per_vcpu']})"
    mem = f" @ {cfg['memory_mb']} MB" if "memory_mb" in cfg else ""
    pc = f", {cfg['provisioned_environments']} env" if "provisioned_environments" in cfg else ""
    return f"{img}{mem}{pc}"
