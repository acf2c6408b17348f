"""The plan of a benchmark session and how long it takes: cells, samples per cell, an estimate, an ETA.

A newcomer cannot plan around ``make bench`` without knowing its duration before it starts, so the session
prints this plan first and a line per finished cell (``Tracker``), and README states each form's
estimate as generated here (``python -m bench.measure.plan --readme``; tests/unit/test_plan.py fails on
drift).

Cost model of one container cell (seconds), with the settings N cold, K cold-cache, W warm-up, M warm and
A agreement requests (bench/measure/records.py takes them in this order)::

    cell = K * (cold_cache + C) + N * (cold + C) + (W + 1 + M + A) * warm

* ``cold``: mean of the cell's cold totals (``cold_total_samples_ms``: docker run -> first answer),
  ``cold_cache``: its ``cold_cache_total_median_ms``, ``warm``: its ``warm_client_mean_ms`` (round trip),
  all from the committed run CSV (results/runs/), averaged over repeats;
* ``C``: what a container costs beyond its timed part (``docker rm -f``, dropping the page cache, the
  emulator's log read): no sample times it, so it is fitted once on the committed session's wall time:
  C = (wall - what the samples time) / containers started (``fit_overhead``). The session writes its own
  wall time beside the run (``runs/<run_id>.timing.json``), so the next committed run recalibrates it.

A cell the committed run did not measure borrows the nearest measured one (same image, variant and thread
setting at the nearest memory size); for another model the inference part is scaled by the ratio of the two
models' evaluation times of that runtime and variant in results/accuracy.csv (same host, same 372 images),
and the plan says how many cells were borrowed. In-process cells cost their load, reload and warm requests;
the soak costs its requests at the warm latency of the committed soak target.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.measure import phases, schema
from bench.measure.cells import Cell, matrix
from bench.measure.schema import Row
from bench.measure.settings import Settings
from core import catalogue
from core.budget import MB_PER_VCPU
from core.paths import ROOT

#: Session wall times of committed runs that predate ``runs/<run_id>.timing.json``: pytest's own figure,
#: quoted from the commit that added the run (57f6438: "121 passed, 1 skipped ..., 1,231 s").
KNOWN_WALL_S = {"20261125T150512Z-e098081-28584": 1231.0}
#: Below this many container starts the fitted overhead would be noise; C falls back to 0.
_MIN_STARTS = 10


@dataclass(frozen=True)
class Timing:
    """Seconds per sample of one cell: a cold start, a cold-cache start, a warm request; its inference
    part (scaled when borrowed for another model); ``measured`` False when borrowed."""

    cold_s: float
    cold_cache_s: float
    warm_s: float
    inference_s: float
    measured: bool = True

    def cell_s(self, st: Settings, overhead_s: float) -> float:
        """The cost model above."""
        return (
            st.cold_cache_n * (self.cold_cache_s + overhead_s)
            + st.cold_n * (self.cold_s + overhead_s)
            + st.warm_requests * self.warm_s
        )


def _mean_samples(joined: Any) -> float | None:
    """Mean of a ``;``-joined sample column (ms), None when empty."""
    if not isinstance(joined, str) or not joined.strip():
        return None
    vals = [float(x) for x in joined.split(";") if x.strip()]
    return sum(vals) / len(vals) if vals else None


def _num(v: float | None, default: float = 0.0) -> float:
    """A record's figure as a float (missing -> default)."""
    return default if v is None else float(v)


def _row_timing(r: Row) -> Timing:
    """One run record's per-sample seconds (container or zip target)."""
    cold = _mean_samples(r.cold.total_samples_ms)
    cold_ms = cold if cold is not None else _num(r.cold.total_median_ms)
    cc_ms = _num(r.cold_cache.total_median_ms, cold_ms)
    return Timing(cold_ms / 1e3, cc_ms / 1e3, _num(r.warm.client_mean_ms) / 1e3,
                  _num(r.warm.inference_p50_ms) / 1e3)  # fmt: skip


def _row_key(r: Row) -> Cell | None:
    """The cell a run record measured (repeat 0: timings are averaged over repeats); None for a record
    that names no project image."""
    if catalogue.parse_tag(str(r.image or "")) is None or r.memory_mb is None:
        return None
    threads = int(_num(r.threads, 1)) if r.threads_forced else None
    return Cell.of_tag(str(r.image), int(r.memory_mb), threads)


def _key(c: Cell) -> Cell:
    """What a timing is kept under: the cell without its repeat."""
    return dataclasses.replace(c, repeat=0)


def _average(timings: Sequence[Timing]) -> Timing:
    """The mean over repeats of one cell."""
    n = len(timings)
    return Timing(*(sum(getattr(t, f) for t in timings) / n for f in ("cold_s", "cold_cache_s", "warm_s",
                                                                       "inference_s")))  # fmt: skip


def container_timings(records: Iterable[Row]) -> dict[Cell, Timing]:
    """{cell: Timing} of the run's successful container cells, averaged over repeats."""
    rows: dict[Cell, list[Timing]] = {}
    for r in records:
        if r.target != "container" or r.status != "ok":
            continue
        key = _row_key(r)
        if key is not None:
            rows.setdefault(key, []).append(_row_timing(r))
    return {k: _average(v) for k, v in rows.items()}


def model_ratios(acc: pd.DataFrame | None) -> dict[tuple[str, str, str], float]:
    """{(model, runtime, variant): evaluation wall time / the reference model's}, from accuracy.csv's host
    evaluations (same host, same test images): how much more compute a request of that model needs."""
    if acc is None or acc.empty:
        return {}
    host = acc[acc["eval_wall_s"].astype(float) > 0]
    host = host[host["evaluated_in"].fillna("host").isin(["host", ""]) | host["evaluated_in"].isna()]
    base = {(r.runtime, r.variant): float(r.eval_wall_s) for r in host.itertuples() if r.model == "reference"}
    out = {}
    for r in host.itertuples():
        ref = base.get((r.runtime, r.variant))
        if ref:
            out[(str(r.model), str(r.runtime), str(r.variant))] = float(r.eval_wall_s) / ref
    return out


@dataclass(frozen=True)
class Timings:
    """What the committed run measured, as seconds per sample, and the fitted per-container overhead."""

    cells: dict[Cell, Timing]  # repeat 0 (``_key``)
    ratios: dict[tuple[str, str, str], float]
    inprocess: dict[str, list[tuple[float, float]]]  # model -> [(load + reload s, warm request s)]
    zip_cells: dict[int, Timing]  # memory -> timing of the zip + layer function (bench/test_zip.py)
    soak_warm_s: float
    overhead_s: float = 0.0
    run_id: str = ""

    def ratio(self, model: str, kind: str, variant: str) -> float:
        """Compute of ``model`` relative to the reference for that runtime/variant (its median when the
        pair was not evaluated; 1 when nothing is known)."""
        if model == "reference":
            return 1.0
        exact = self.ratios.get((model, catalogue.runtime_of(kind), variant))
        if exact is not None:
            return exact
        mine = sorted(v for (m, _, _), v in self.ratios.items() if m == model)
        return mine[len(mine) // 2] if mine else 1.0

    def _nearest(self, key: Cell) -> Timing | None:
        """Same image, variant and thread setting (else any thread setting) at the nearest memory size."""
        for strict in (True, False):
            same = [
                k for k in self.cells
                if (k.kind, k.model, k.variant) == (key.kind, key.model, key.variant)
                and (k.forced == key.forced or not strict)
            ]  # fmt: skip
            if same:
                best = min(same, key=lambda k: (abs(k.memory_mb - key.memory_mb), k.memory_mb))
                return self.cells[best]
        return None

    def timing(self, cell: Cell) -> Timing:
        """The measured timing of ``cell``, else a borrowed one (``measured`` False): see the module doc."""
        key = _key(cell)
        if key in self.cells:
            return self.cells[key]
        near = self._nearest(key)
        if near is None and key.model != "reference":
            near = self._scaled(key)
        if near is None:
            kind = [t for k, t in self.cells.items() if k.kind == key.kind] or list(self.cells.values())
            near = _average(kind) if kind else Timing(0.0, 0.0, 0.0, 0.0)
        return Timing(near.cold_s, near.cold_cache_s, near.warm_s, near.inference_s, measured=False)

    def _scaled(self, key: Cell) -> Timing | None:
        """The reference model's timing of the same cell with its inference part scaled (module doc):
        the reference's inference at one vCPU (1,769 MB) times the compute ratio, stretched by Lambda's CPU
        share (memory / 1,769 MB of a vCPU; a long computation runs at that share, a 3 ms one does not)."""
        ref_key = dataclasses.replace(key, model="reference")
        ref, one_vcpu = (
            self._nearest(ref_key),
            self._nearest(dataclasses.replace(ref_key, memory_mb=MB_PER_VCPU)),
        )
        if ref is None or one_vcpu is None:
            return None
        mine = (
            one_vcpu.inference_s * self.ratio(key.model, key.kind, key.variant) * MB_PER_VCPU / key.memory_mb
        )
        extra = max(0.0, mine - ref.inference_s)
        return Timing(
            ref.cold_s + extra, ref.cold_cache_s + extra, ref.warm_s + extra, ref.inference_s + extra
        )

    def inprocess_s(self, model: str, st: Settings) -> float:
        """Mean seconds of one in-process cell of ``model`` (load + reload + warm-up + M requests)."""
        rows = self.inprocess.get(model) or self.inprocess.get("reference") or [(0.0, 0.0)]
        scale = self.ratio(model, "tflite", "float32") if model not in self.inprocess else 1.0
        return sum(load + (st.warmup + st.warm_m) * warm * scale for load, warm in rows) / len(rows)

    def zip_s(self, memory_mb: int, st: Settings) -> float:
        """One zip + layer cell: cold starts and warm requests, no cold-cache phase."""
        if not self.zip_cells:
            return 0.0
        t = self.zip_cells[min(self.zip_cells, key=lambda m: (abs(m - memory_mb), m))]
        return st.cold_n * (t.cold_s + self.overhead_s) + st.warm_requests * t.warm_s


def _timed_and_starts(records: Iterable[Row], t: Timings, warmup: int) -> tuple[float, int]:
    """(seconds the committed rows' samples time, containers they started): the inputs of the fit."""
    timed, starts = 0.0, 0
    for r in records:
        n = int(_num(r.cold.n) + _num(r.cold.rejected_n))
        k = int(_num(r.cold_cache.n))
        if r.target == "container":
            tm = _row_timing(r)
            reqs = warmup + 1 + _num(r.warm.n) + _num(r.agreement.n)
            timed += k * tm.cold_cache_s + n * tm.cold_s + reqs * tm.warm_s
            starts += n + k
        elif r.target == "inprocess":
            timed += _load_s(r) + (warmup + _num(r.warm.n)) * _num(r.warm.client_mean_ms) / 1e3
        elif r.target == "soak":
            timed += _num(r.soak.n) * t.soak_warm_s
    return timed, starts


def _load_s(r: Row) -> float:
    """An in-process record's model load and reload, in seconds."""
    return (_num(r.inproc.load_ms) + _num(r.inproc.reload_ms)) / 1e3


def fit_overhead(timed_s: float, starts: int, wall_s: float) -> float:
    """C = (wall - timed) / starts, never negative; 0 below ``_MIN_STARTS`` starts (no evidence)."""
    if starts < _MIN_STARTS or wall_s <= timed_s:
        return 0.0
    return (wall_s - timed_s) / starts


def timing_path(run_csv: Path) -> Path:
    """``runs/<run_id>.csv`` -> ``runs/<run_id>.timing.json`` (the session's wall time and estimate)."""
    return run_csv.with_suffix(".timing.json")


def session_wall_s(run_csv: Path, run_id: str) -> float | None:
    """The run's session wall time: its timing.json when written, else the quoted figure, else None."""
    p = timing_path(run_csv)
    if p.is_file():
        return float(json.loads(p.read_text())["wall_s"])
    return KNOWN_WALL_S.get(run_id)


def load(results: Path = ROOT / "results") -> Timings:
    """Timings of the committed run (``results/latest.csv``'s run), overhead fitted on its wall time."""
    rows = schema.parse(results / "latest.csv")
    run_id = next(str(r.run_id) for r in rows if r.run_id is not None)
    acc_path = results / "accuracy.csv"
    acc = pd.read_csv(acc_path) if acc_path.is_file() else None
    ok = [r for r in rows if r.status == "ok"]
    t = Timings(
        cells=container_timings(ok),
        ratios=model_ratios(acc),
        inprocess=_inprocess_rows(ok),
        zip_cells={int(_num(r.memory_mb)): _row_timing(r) for r in _zips(ok)},
        soak_warm_s=0.0,
        run_id=run_id,
    )
    t = _with_soak(t, ok)
    timed, starts = _timed_and_starts(ok, t, form_warmup(rows))
    wall = session_wall_s(results / "runs" / f"{run_id}.csv", run_id)
    overhead = fit_overhead(timed, starts, wall) if wall is not None else 0.0
    return Timings(t.cells, t.ratios, t.inprocess, t.zip_cells, t.soak_warm_s, overhead, run_id)


def form_warmup(records: Iterable[Row]) -> int:
    """The warm-up requests per cell of the form a run's rows were made with (rows do not record it)."""
    return Settings.of_form("quick" if any(bool(r.run.quick) for r in records) else "default").warmup


def _zips(records: Iterable[Row]) -> list[Row]:
    """The records of cells packaged in another form than an image (zip + layer)."""
    return [r for r in records if catalogue.packaging_form(r.image_kind) is not None]


def _inprocess_rows(records: Iterable[Row]) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for r in records:
        if r.target == "inprocess":
            out.setdefault(str(r.model), []).append((_load_s(r), _num(r.warm.client_mean_ms) / 1e3))
    return out


def _with_soak(t: Timings, records: Iterable[Row]) -> Timings:
    """The soak's per-request seconds: the warm latency of the committed soak target's cell."""
    soak = [r for r in records if r.target == "soak"]
    warm = 0.0
    if soak:
        key = _row_key(soak[0])
        warm = t.timing(key).warm_s if key is not None and t.cells else 0.0
    return Timings(t.cells, t.ratios, t.inprocess, t.zip_cells, warm, t.overhead_s, t.run_id)


@dataclass(frozen=True)
class Plan:
    """Every unit of work of a session with its estimated seconds, in run order."""

    settings: Settings
    cells: tuple[Cell, ...]  # container cells, repeats included
    cell_s: tuple[float, ...]
    borrowed: int  # container cells whose timing was borrowed (not measured by the committed run)
    inprocess_s: tuple[float, ...]
    zip_s: tuple[float, ...]
    soak_s: float
    overhead_s: float
    run_id: str

    @property
    def total_s(self) -> float:
        return sum(self.cell_s) + sum(self.inprocess_s) + sum(self.zip_s) + self.soak_s

    def lines(self) -> list[str]:
        """The plan as printed at the start of a session."""
        st, n = self.settings, len(self.cells)
        images = len({(k.kind, k.model, k.variant) for k in self.cells})
        mems = sorted({k.memory_mb for k in self.cells})
        reps = len({k.repeat for k in self.cells}) or 1
        return [
            f"plan: {n} container cells = {images} images x {len(mems)} memory sizes {mems} MB x {reps} "
            f"repeat(s) (+ forced-thread cells), {len(self.inprocess_s)} in-process cells, "
            f"{len(self.zip_s)} zip cells, soak {st.soak_n if st.soak else 0} requests",
            f"plan: per container cell {st.cold_cache_n} cold-cache + {st.cold_n} cold starts, "
            f"{st.warmup} warm-up + {st.warm_m} warm + {st.agree_n} agreement requests",
            f"plan: estimated {duration(self.total_s)} (container cells {duration(sum(self.cell_s))}, "
            f"in-process {duration(sum(self.inprocess_s))}, zip {duration(sum(self.zip_s))}, soak "
            f"{duration(self.soak_s)}); per-sample times of run {self.run_id}, {self.overhead_s:.2f} s "
            f"per container beyond its timed part; {self.borrowed} of {n} cells not in that run, "
            "borrowed (bench/measure/plan.py)",
        ]


def make_plan(
    t: Timings,
    st: Settings,
    cells: Iterable[Cell],
    inprocess_models: Iterable[str] = (),
    zip_memory: Iterable[int] = (),
) -> Plan:
    """The plan of these cells under settings ``st``: the cost model of the module doc, cell by cell."""
    cells = tuple(cells)
    timings = [t.timing(k) for k in cells]
    return Plan(
        settings=st,
        cells=cells,
        cell_s=tuple(tm.cell_s(st, t.overhead_s) for tm in timings),
        borrowed=sum(not tm.measured for tm in timings),
        inprocess_s=tuple(t.inprocess_s(m, st) for m in inprocess_models),
        zip_s=tuple(t.zip_s(m, st) for m in zip_memory),
        soak_s=st.soak_n * t.soak_warm_s if st.soak else 0.0,
        overhead_s=t.overhead_s,
        run_id=t.run_id,
    )


def duration(seconds: float) -> str:
    """``1 h 02 min``, ``14 min``, ``45 s``: minutes are what a reader plans with."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    m = round(s / 60)
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min"


def eta_s(elapsed_s: float, done_estimate_s: float, remaining_estimate_s: float) -> float:
    """Seconds left: the remaining estimate at the pace measured so far (elapsed / done estimate), so a
    host slower than the committed one stretches the ETA instead of being wrong all session."""
    if remaining_estimate_s <= 0:
        return 0.0
    if done_estimate_s <= 0 or elapsed_s <= 0:
        return remaining_estimate_s
    return remaining_estimate_s * (elapsed_s / done_estimate_s)


@dataclass
class Progress:
    """Finished work against the plan's total: one line per finished cell with elapsed time and ETA."""

    total_estimate_s: float
    started_s: float
    done_estimate_s: float = 0.0
    done_n: int = 0

    def finish(self, label: str, estimate_s: float, now_s: float, cell_s: float) -> str:
        """Count a finished unit (``estimate_s`` from the plan, ``cell_s`` what it took) -> its line."""
        self.done_n += 1
        self.done_estimate_s = min(self.total_estimate_s, self.done_estimate_s + estimate_s)
        elapsed = now_s - self.started_s
        left = eta_s(elapsed, self.done_estimate_s, self.total_estimate_s - self.done_estimate_s)
        return (
            f"[{self.done_n}] {label}: {cell_s:.0f} s (estimated {estimate_s:.0f} s); elapsed "
            f"{duration(elapsed)}, ETA {duration(left)}"
        )


def in_process_models(cfg: Settings) -> list[str]:
    """One in-process cell per host artefact and thread count, plus the null floor (bench/measure/targets)."""
    host = [v for v in catalogue.VARIANTS if v.runtime != "null"]
    return [m for m in cfg.models for _ in range((len(host) + 1) * len(cfg.inprocess_threads))]


def for_config(cfg: Settings, t: Timings | None = None) -> Plan:
    """The plan of ``cfg`` over the full default matrix (bench/measure/cells.py: what README states)."""
    t = load() if t is None else t
    zips = cfg.memory_mb if "reference" in cfg.models else ()
    return make_plan(t, cfg, matrix(cfg), in_process_models(cfg), zips)


#: The forms README states, in its order: (name, how to ask for it, the sizes it picks).
FORMS = (
    ("default", "`make bench`", "default"),
    ("long", "`BENCH_FULL=1 make bench`", "full"),
    ("quick", "`BENCH_QUICK=1 make bench MODEL=reference`", "quick"),
)
PLAN_BEGIN = (
    "<!-- plan:begin: generated by `make report` from results/ (bench/measure/plan.py); do not edit -->"
)
PLAN_END = "<!-- plan:end -->"


def _form_row(name: str, how: str, cfg: Settings, p: Plan) -> str:
    st = p.settings
    images = len({(k.kind, k.model, k.variant) for k in p.cells})
    mems = ", ".join(str(m) for m in cfg.memory_mb)
    return (
        f"| {name} | {how} | {', '.join(cfg.models)} | {len(p.cells)} = {images} images x "
        f"{len(cfg.memory_mb)} memory sizes ({mems} MB) x {cfg.repeats} repeat(s) | {st.cold_cache_n} "
        f"cold-cache + {st.cold_n} cold starts, {st.warm_m} warm requests | {st.soak_n} | "
        f"**{duration(p.total_s)}** |"
    )


def readme_block(t: Timings | None = None) -> str:
    """README's duration block: each form's estimate as this module computes it (tests/unit/test_plan.py
    fails when README's copy drifts)."""
    t = load() if t is None else t
    rows, borrowed = [], []
    for name, how, form in FORMS:
        cfg = Settings.of_form(form)
        p = for_config(cfg, t)
        rows.append(_form_row(name, how, cfg, p))
        borrowed.append(f"{p.borrowed} of {len(p.cells)} ({name})")
    return "\n".join(
        [
            PLAN_BEGIN,
            "",
            "| form | command | models | container cells | per cell | soak requests | estimated |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            "Estimated by bench/measure/plan.py from the per-sample times of the committed run "
            f"`{t.run_id}` plus "
            f"{t.overhead_s:.2f} s per container beyond its timed part (fitted on that run's wall time); "
            "benchmarks only: training the Xception, converting, building the images and evaluating come "
            "on top (the measured line below gives them). "
            f"Cells that run did not measure borrow the nearest measured one: {', '.join(borrowed)}. "
            "A session prints its own plan first and a line per finished cell with elapsed time and ETA.",
            *_measured_line(t.run_id),
            "",
            PLAN_END,
        ]
    )


def _measured_line(run_id: str, results: Path = ROOT / "results") -> list[str]:
    """What the committed run's benchmarks took, from its timing.json (absent for older runs)."""
    p = timing_path(results / "runs" / f"{run_id}.csv")
    if not p.is_file():
        return []
    doc = json.loads(p.read_text())
    return [
        "",
        f"Measured: the benchmarks of the committed run `{run_id}` took {duration(float(doc['wall_s']))} "
        f"(its own plan estimated {duration(float(doc['estimate_s']))} before it started; "
        f"`results/runs/{run_id}.timing.json`).{_whole_run(run_id, results)}",
    ]


def _whole_run(run_id: str, results: Path) -> str:
    """The whole ``make bench`` around that session, set-up included (bench/measure/phases.py), when the
    committed phases.json belongs to it."""
    p = results / phases.FILE
    doc = json.loads(p.read_text()) if p.is_file() else {}
    if doc.get("run_id") != run_id:
        return ""
    parts = ", ".join(f"{ph['name']} {duration(float(ph['seconds']))}" for ph in doc["phases"])
    return (
        f" The whole `make bench` took {duration(float(doc['total_s']))}, of which set-up (training, "
        f"conversions, images, evaluations) {duration(float(doc['setup_s']))}: {parts} "
        f"(`results/{phases.FILE}`)."
    )


def replan(records: Sequence[Row], t: Timings, warmup: int | None = None) -> Plan:
    """The plan of the work a run's records hold (its cells and sample counts): replanning a past session
    and comparing with its wall time is how the estimator is validated (``python -m bench.measure.plan
    --run``). Rows do not record the warm-up requests: unless given, the count is the run's form's (quick
    or default)."""
    ok = [r for r in records if r.status == "ok"]
    warmup = form_warmup(ok) if warmup is None else warmup
    box = [r for r in ok if r.target == "container" and str(r.image or "").startswith(catalogue.TAG_PREFIX)]
    cells = [
        dataclasses.replace(k, repeat=int(_num(r.repeat))) for r in box if (k := _row_key(r)) is not None
    ]
    soak = [r for r in ok if r.target == "soak"]

    def most(figure: Callable[[Row], int | None], among: list[Row] = box) -> int:
        return max((int(v) for r in among if (v := figure(r)) is not None), default=0)

    st = Settings(cold_n=most(lambda r: r.cold.n), cold_cache_n=most(lambda r: r.cold_cache.n), warmup=warmup,
                  warm_m=most(lambda r: r.warm.n), agree_n=most(lambda r: r.agreement.n), soak=bool(soak),
                  soak_n=max(most(lambda r: r.soak.n, soak), 10))  # fmt: skip
    zips = [int(r.memory_mb) for r in _zips(ok) if r.memory_mb is not None]
    return make_plan(t, st, cells, [str(r.model) for r in ok if r.target == "inprocess"], zips)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.measure.plan``: the plan of the current settings (BENCH_*) over the default matrix;
    ``--run CSV --wall S``: replan a past run and compare with its wall time (validation)."""
    import argparse

    from bench.measure import settings

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--run", type=Path, help="a run CSV (e.g. from git history) to replan")
    ap.add_argument("--wall", type=float, help="that session's wall time in seconds")
    args = ap.parse_args(argv)
    if args.run is None:
        print("\n".join(for_config(settings.current()).lines()))
        return 0
    past = pd.read_csv(args.run, dtype=str, keep_default_na=False, na_values=[""])
    p = replan(schema.records(schema.cast(past)), load())
    print("\n".join(p.lines()))
    if args.wall:
        ratio = p.total_s / args.wall
        print(f"actual {duration(args.wall)} ({args.wall:.0f} s): estimate / actual = {ratio:.2f}")
    return 0


def estimates(p: Plan, labels: list[tuple[str, str, str]]) -> dict[str, tuple[str, float]]:
    """nodeid -> (label, seconds): the plan's figures handed out in collection order, per kind
    (``labels``: (kind, nodeid, label) of each collected test, kind container/inprocess/zip/soak)."""
    queues = {
        "container": list(p.cell_s),
        "inprocess": list(p.inprocess_s),
        "zip": list(p.zip_s),
        "soak": [p.soak_s],
    }
    return {nodeid: (label, queues[kind].pop(0)) for kind, nodeid, label in labels}


@dataclass(frozen=True)
class Unit:
    """One collected test the plan estimates: ``kind`` container (``cell``), inprocess (``model``), zip
    (``memory_mb``) or soak; ``label`` names it on its progress line."""

    kind: str
    nodeid: str
    label: str
    cell: Cell | None = None
    model: str = ""
    memory_mb: int = 0


@dataclass
class Tracker:
    """A session's plan, the estimate of each planned test and the progress so far: the plan lines before
    anything runs, then one line per finished test with elapsed time and ETA."""

    plan: Plan
    estimates: dict[str, tuple[str, float]]  # nodeid -> (label, estimated seconds)
    progress: Progress
    began: dict[str, float] = dataclasses.field(default_factory=dict)

    @classmethod
    def start(cls, units: Sequence[Unit], st: Settings, t: Timings, now_s: float) -> Tracker:
        """Plan the collected tests (what is skipped at collection costs nothing and is not a unit)."""
        cells = [u.cell for u in units if u.cell is not None]
        inproc = [u.model for u in units if u.kind == "inprocess"]
        zips = [u.memory_mb for u in units if catalogue.packaging_form(u.kind) is not None]
        p = make_plan(t, st, cells, inproc, zips)
        if not any(u.kind == "soak" for u in units):
            p = dataclasses.replace(p, soak_s=0.0)
        labels = [(u.kind, u.nodeid, u.label) for u in units]
        return cls(p, estimates(p, labels), Progress(p.total_s, now_s))

    def began_at(self, nodeid: str, now_s: float) -> None:
        self.began[nodeid] = now_s

    def finished(self, nodeid: str, now_s: float) -> str | None:
        """The progress line of a planned test that just finished (None for anything else)."""
        if nodeid not in self.estimates:
            return None
        label, est = self.estimates[nodeid]
        took = now_s - self.began.pop(nodeid, now_s)
        return self.progress.finish(label, est, now_s, took)

    def timing_doc(self, run_id: str, now_s: float) -> dict[str, Any]:
        """What ``runs/<run_id>.timing.json`` holds: the session's wall time beside its estimate (what the
        next estimate calibrates on, and the estimator's error, said out loud)."""
        wall = now_s - self.progress.started_s
        return {"run_id": run_id, "wall_s": round(wall, 1), "estimate_s": round(self.plan.total_s, 1)}


def committed_timings(log: Callable[[str], None]) -> Timings:
    """The committed run's timings; without a readable committed run the plan has no estimate (0 s)."""
    try:
        return load()
    except (OSError, ValueError, KeyError, IndexError) as e:
        log(f"plan: no committed run to estimate from ({type(e).__name__}: {e})")
        return Timings({}, {}, {}, {}, 0.0)


if __name__ == "__main__":
    raise SystemExit(main())
