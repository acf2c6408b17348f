"""pytest wiring of the benchmarks: parametrisation, the session's rows, CSV writing, cleanup.

Cells are discovered from what exists (local clothing-* images, build/models/*/manifest.json); anything
asked for but missing becomes a skipped cell with the reason. Rows are collected in a session fixture
and written once at session end (pytest-benchmark's own CSV drops extra_info): results/runs/<run_id>.csv
and results/latest.csv, in the fixed schema of bench/measure/schema.py.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bench.measure import accuracy, env, plan, samples, schema
from bench.measure.env import Config, environment, log, run_id, shuffled_by_repeat
from bench.measure.plan import Plan, Progress
from bench.measure.session import Session
from bench.measure.targets import aws as aws_target
from bench.measure.targets import container as ct
from bench.measure.targets import inprocess as ip
from core import catalogue
from infra import docker

_CFG = Config.from_env()


def _docker_reason() -> str | None:
    return docker.available()


def _missing(what: str, reason: str) -> Any:
    """A visible skipped cell (never silently absent) saying which make target fills it."""
    return pytest.param(None, id=f"{what}-missing", marks=pytest.mark.skip(reason=reason))


def _container_params() -> list[Any]:
    reason = _docker_reason()
    if reason:
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-docker")]
    tags = ct.list_images()
    params = []
    for kind in _CFG.images:
        for model in _CFG.models:
            found = []
            for tag in sorted(tags):
                parsed = catalogue.parse_tag(tag)
                # x86_64 images only: arm64 ones run emulated here, and their timings are never a result
                if (
                    parsed
                    and parsed.kind == kind
                    and parsed.model == model
                    and parsed.arch == catalogue.DEFAULT_ARCH
                ):
                    if not _CFG.variants or parsed.variant in _CFG.variants:
                        found.append((tag, parsed.variant))
            if not found:
                why = f"no image {catalogue.tag(kind, model, '*')} (make build-all MODEL={model})"
                params.append(_missing(f"{kind}-{model}", why))
            for tag, variant in found:
                params += _cells(tag, kind, model, variant)
    return params


def _cells(tag: str, kind: str, model: str, variant: str) -> list[Any]:
    """One param per memory size x thread setting x repeat: (tag, kind, model, variant, mem, threads, rep)."""
    out = []
    for rep in range(_CFG.repeats):
        for mem in _CFG.memory_mb:
            for threads in _CFG.threads_cells(mem):
                cid = f"{kind}-{model}-{variant}-{mem}MB" + (f"-t{threads}" if threads else "")
                cid += f"-r{rep}" if _CFG.repeats > 1 else ""
                out.append(pytest.param((tag, kind, model, variant, mem, threads, rep), id=cid))
    return out


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Container cells run repeat by repeat, each repeat in a fresh random order (BENCH_SEED + repeat,
    the seed recorded on every row), so a drift of the host over time is not confounded with one cell.
    Then the plan of what was collected is printed, before anything runs."""
    slots = [i for i, it in enumerate(items) if _container_cell(it) is not None]
    ordered = shuffled_by_repeat([items[i] for i in slots], lambda it: _container_cell(it)[6], _CFG.seed)
    for i, it in zip(slots, ordered, strict=True):
        items[i] = it
    global _TRACK
    _TRACK = _Tracker.start(items)
    for line in _TRACK.plan.lines():
        _say(config, line)


@dataclass
class _Tracker:
    """The session's plan (bench/measure/plan.py), the estimate of each planned test and the progress so
    far."""

    plan: Plan
    estimates: dict[str, tuple[str, float]]  # nodeid -> (label, estimated seconds)
    progress: Progress
    began: dict[str, float] = field(default_factory=dict)

    @classmethod
    def start(cls, items: list[pytest.Item]) -> _Tracker:
        """Plan the collected items: what is skipped at collection (missing images) costs nothing."""
        cells, inproc, zips, labels = [], [], [], []
        soak = False
        for it in items:
            if it.get_closest_marker("skip"):
                continue
            params = getattr(getattr(it, "callspec", None), "params", {})
            if params.get("container_cell") is not None:
                _, kind, model, variant, mem, threads, rep = params["container_cell"]
                cells.append((plan.CellKey(kind, model, variant, mem, threads is not None), rep))
                labels.append(("container", it.nodeid, f"{kind}:{model}-{variant} @ {mem} MB r{rep}"))
            elif params.get("inprocess_cell") is not None:
                a, _ = params["inprocess_cell"]
                inproc.append(a.model)
                labels.append(("inprocess", it.nodeid, f"in-process {a.runtime}/{a.model}/{a.variant}"))
            elif "memory_mb" in params and it.name.startswith("test_zip"):
                zips.append(params["memory_mb"])
                labels.append(("zip", it.nodeid, f"zip @ {params['memory_mb']} MB"))
            elif it.name == "test_soak" and _CFG.soak:
                soak = True
                labels.append(("soak", it.nodeid, "soak"))
        p = plan.make_plan(_timings(), plan.Settings.of(_CFG), cells, inproc, zips)
        if not soak:
            p = dataclasses.replace(p, soak_s=0.0)
        return cls(p, plan.estimates(p, labels), plan.Progress(p.total_s, time.monotonic()))

    def finished(self, nodeid: str) -> str | None:
        """The progress line of a planned test that just finished (None for anything else)."""
        if nodeid not in self.estimates:
            return None
        label, est = self.estimates[nodeid]
        now = time.monotonic()
        took = now - self.began.pop(nodeid, now)
        return self.progress.finish(label, est, now, took)


_TRACK: _Tracker | None = None


def _timings() -> plan.Timings:
    """The committed run's timings; without a readable committed run the plan has no estimate (0 s)."""
    try:
        return plan.load()
    except (OSError, ValueError, KeyError, IndexError) as e:
        log(f"plan: no committed run to estimate from ({type(e).__name__}: {e})")
        return plan.Timings({}, {}, {}, {}, 0.0)


def _say(config: pytest.Config, msg: str) -> None:
    """One line on the terminal even when pytest captures output (no -s needed)."""
    reporter = config.pluginmanager.getplugin("terminalreporter")
    capman = config.pluginmanager.getplugin("capturemanager")
    if reporter is None:
        log(msg)
    elif capman is not None:
        with capman.global_and_fixture_disabled():
            reporter.write_line(msg, flush=True)
    else:
        reporter.write_line(msg, flush=True)


def pytest_runtest_logstart(nodeid: str) -> None:
    if _TRACK is not None:
        _TRACK.began[nodeid] = time.monotonic()


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid: str) -> None:
    """A line per finished cell: what it took against its estimate, elapsed time, ETA."""
    line = _TRACK.finished(nodeid) if _TRACK is not None else None
    if line is not None and _CONFIG is not None:
        _say(_CONFIG, line)


_CONFIG: pytest.Config | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _CONFIG
    _CONFIG = config


def _container_cell(item: pytest.Item) -> Any:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("container_cell") if callspec is not None else None


def _inprocess_params() -> list[Any]:
    params = []
    for model in _CFG.models:
        arts = ip.artefacts(model)
        if not arts:
            why = f"no build/models/{model}/manifest.json (make models MODEL={model})"
            params.append(_missing(model, why))
        for a in arts:
            for t in _CFG.inprocess_threads:
                params.append(pytest.param((a, t), id=f"{a.runtime}-{model}-{a.variant}-{t}t"))
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "container_cell" in metafunc.fixturenames:
        metafunc.parametrize("container_cell", _container_params())
    if "inprocess_cell" in metafunc.fixturenames:
        metafunc.parametrize("inprocess_cell", _inprocess_params())


@pytest.fixture(scope="session")
def bench_session(request: pytest.FixtureRequest) -> Iterator[Session]:
    rid = run_id()
    s = Session(
        _CFG,
        rid,
        environment(_CFG),
        acc=accuracy.load(_CFG.results_dir / "accuracy.csv"),  # the eval beside the results it joins
        reporter=request.config.pluginmanager.getplugin("terminalreporter"),
        capman=request.config.pluginmanager.getplugin("capturemanager"),
    )
    s.progress(
        f"bench run {rid}: memory {list(_CFG.memory_mb)} MB, cold N={_CFG.cold_n}, warm M={_CFG.warm_m}, "
        f"models {list(_CFG.models)}, quick={_CFG.quick}, repeats {_CFG.repeats} (seed {_CFG.seed}), "
        f"forced threads {list(_CFG.threads) or 'none'} at {list(_CFG.threads_memory_mb)} MB, "
        f"cold-cache N={_CFG.cold_cache_n}"
    )
    try:
        yield s
    finally:
        if _docker_reason() is None:
            removed = ct.cleanup(rid)
            if removed:
                s.progress(f"removed {removed} leftover bench container(s)")
        if s.rows:
            df = schema.to_frame(s.rows)
            runs = _CFG.results_dir / "runs" / f"{rid}.csv"
            schema.write(df, runs)
            schema.write(df, _CFG.results_dir / "latest.csv")
            s.progress(f"wrote {len(df)} rows -> {runs} and {_CFG.results_dir / 'latest.csv'}")
            diff = env.save_diff(runs)
            if diff is not None:
                s.progress(f"the tree had local changes: kept them beside the run -> {diff}")
            if s.samples:
                raw = samples.write(samples.path_for(runs), s.samples)
                s.progress(f"wrote {len(s.samples)} raw samples -> {raw}")
            _write_timing(s, runs)
        else:
            s.progress("no benchmark rows measured; results/latest.csv left unchanged")


def _write_timing(s: Session, runs: Any) -> None:
    """The session's wall time and its plan's estimate beside the run (``runs/<run_id>.timing.json``):
    what the next estimate calibrates on (bench/measure/plan.py), and the estimator's error, said out loud."""
    if _TRACK is None:
        return
    wall = time.monotonic() - _TRACK.progress.started_s
    doc = {"run_id": s.run_id, "wall_s": round(wall, 1), "estimate_s": round(_TRACK.plan.total_s, 1)}
    path = plan.timing_path(runs)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    s.progress(f"took {plan.duration(wall)}, estimated {plan.duration(_TRACK.plan.total_s)} -> {path}")


@pytest.fixture(scope="session")
def aws_skip_reason() -> str | None:
    return aws_target.skip_reason(_CFG.aws)
