"""pytest wiring of the benchmarks: parametrisation, the run order, the plan and progress lines, the
session fixture. What is measured lives in bench/measure/ (cells.py: the cells and their matrix; run.py:
each test's measurement; session.py: the rows and the CSV written at session end; plan.py: the estimate).

Cells are discovered from what exists (local clothing-* images, build/models/*/manifest.json); anything
asked for but missing becomes a skipped cell with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from bench.measure import cells, plan
from bench.measure.cells import Cell
from bench.measure.env import log, shuffled_by_repeat
from bench.measure.session import Session, say
from bench.measure.settings import current
from bench.measure.targets import aws as aws_target
from bench.measure.targets import container as ct
from bench.measure.targets import inprocess as ip
from core import catalogue
from infra import docker

_TRACK: plan.Tracker | None = None
_CONFIG: pytest.Config | None = None


def _missing(what: str, reason: str) -> Any:
    """A visible skipped cell (never silently absent) saying which make target fills it."""
    return pytest.param(None, id=f"{what}-missing", marks=pytest.mark.skip(reason=reason))


def _container_params() -> list[Any]:
    reason = docker.available()
    if reason:
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-docker")]
    cfg = current()
    by_image: dict[tuple[str, str], list[Cell]] = {}
    for c in cells.matrix(cfg, cells.local_variants(ct.list_images())):
        by_image.setdefault((c.kind, c.model), []).append(c)
    params = []
    for kind, model in cells.images(cfg):
        if (kind, model) not in by_image:
            why = f"no image {catalogue.tag(kind, model, '*')} (make build-all MODEL={model})"
            params.append(_missing(f"{kind}-{model}", why))
        params += [pytest.param(c, id=c.test_id(cfg.repeats)) for c in by_image.get((kind, model), [])]
    return params


def _inprocess_params() -> list[Any]:
    params = []
    for model in current().models:
        arts = ip.artefacts(model)
        if not arts:
            why = f"no build/models/{model}/manifest.json (make models MODEL={model})"
            params.append(_missing(model, why))
        for a in arts:
            for t in current().inprocess_threads:
                params.append(pytest.param((a, t), id=f"{a.runtime}-{model}-{a.variant}-{t}t"))
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "container_cell" in metafunc.fixturenames:
        metafunc.parametrize("container_cell", _container_params())
    if "inprocess_cell" in metafunc.fixturenames:
        metafunc.parametrize("inprocess_cell", _inprocess_params())
    if "zip_memory_mb" in metafunc.fixturenames:
        metafunc.parametrize("zip_memory_mb", current().memory_mb)


def _params(item: pytest.Item) -> dict[str, Any]:
    return getattr(getattr(item, "callspec", None), "params", {})


def _unit(item: pytest.Item) -> plan.Unit | None:
    """What the plan estimates for a collected test (None: skipped at collection, or not planned)."""
    if item.get_closest_marker("skip"):
        return None
    p, nodeid = _params(item), item.nodeid
    if isinstance(c := p.get("container_cell"), Cell):
        return plan.Unit("container", nodeid, c.label(), cell=c)
    if p.get("inprocess_cell") is not None:
        a, _ = p["inprocess_cell"]
        return plan.Unit("inprocess", nodeid, f"in-process {a.runtime}/{a.model}/{a.variant}", model=a.model)
    if "zip_memory_mb" in p:
        return plan.Unit("zip", nodeid, f"zip @ {p['zip_memory_mb']} MB", memory_mb=p["zip_memory_mb"])
    if item.name == "test_soak" and current().soak:
        return plan.Unit("soak", nodeid, "soak")
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Container cells run repeat by repeat, each repeat in a fresh random order (BENCH_SEED + repeat,
    the seed recorded on every row), so a drift of the host over time is not confounded with one cell.
    Then the plan of what was collected is printed, before anything runs."""
    slots = [i for i, it in enumerate(items) if isinstance(_params(it).get("container_cell"), Cell)]
    ordered = shuffled_by_repeat(
        [items[i] for i in slots], lambda it: _params(it)["container_cell"].repeat, current().seed
    )
    for i, it in zip(slots, ordered, strict=True):
        items[i] = it
    global _TRACK
    units = [u for it in items if (u := _unit(it)) is not None]
    _TRACK = plan.Tracker.start(units, current(), plan.committed_timings(log), time.monotonic())
    for line in _TRACK.plan.lines():
        _say(config, line)


def _say(config: pytest.Config, msg: str) -> None:
    """One line on the terminal even when pytest captures output (no -s needed)."""
    plugins = config.pluginmanager
    say(plugins.getplugin("terminalreporter"), plugins.getplugin("capturemanager"), msg)


def pytest_configure(config: pytest.Config) -> None:
    global _CONFIG
    _CONFIG = config


def pytest_runtest_logstart(nodeid: str) -> None:
    if _TRACK is not None:
        _TRACK.began_at(nodeid, time.monotonic())


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid: str) -> None:
    """A line per finished cell: what it took against its estimate, elapsed time, ETA."""
    line = _TRACK.finished(nodeid, time.monotonic()) if _TRACK is not None else None
    if line is not None and _CONFIG is not None:
        _say(_CONFIG, line)


@pytest.fixture(scope="session")
def bench_session(request: pytest.FixtureRequest) -> Iterator[Session]:
    plugins = request.config.pluginmanager
    s = Session.open(current(), plugins.getplugin("terminalreporter"), plugins.getplugin("capturemanager"))
    try:
        yield s
    finally:
        s.close(_TRACK, time.monotonic())


@pytest.fixture(scope="session")
def aws_skip_reason() -> str | None:
    return aws_target.skip_reason(current().aws)


@pytest.fixture
def runner(benchmark: Any) -> Any:
    """pytest-benchmark's pedantic timing as a bench/measure/records.Runner: one call per round."""
    return lambda fn, rounds: benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)
