"""pytest wiring of the benchmarks: parametrisation, the session's rows, CSV writing, cleanup.

Cells are discovered from what exists (local clothing-* images, build/models/*/manifest.json); anything
asked for but missing becomes a skipped cell with the reason. Rows are collected in a session fixture
and written once at session end (pytest-benchmark's own CSV drops extra_info): results/runs/<run_id>.csv
and results/latest.csv, in the fixed schema of bench/schema.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench import accuracy, env, samples, schema
from bench.env import Config, environment, run_id, shuffled_by_repeat
from bench.session import Session
from bench.targets import aws as aws_target
from bench.targets import container as ct
from bench.targets import inprocess as ip
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
                if parsed and parsed.kind == kind and parsed.model == model:
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Container cells run repeat by repeat, each repeat in a fresh random order (BENCH_SEED + repeat,
    the seed recorded on every row), so a drift of the host over time is not confounded with one cell."""
    slots = [i for i, it in enumerate(items) if _container_cell(it) is not None]
    ordered = shuffled_by_repeat([items[i] for i in slots], lambda it: _container_cell(it)[6], _CFG.seed)
    for i, it in zip(slots, ordered, strict=True):
        items[i] = it


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
        acc=accuracy.load(),
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
        else:
            s.progress("no benchmark rows measured; results/latest.csv left unchanged")


@pytest.fixture(scope="session")
def aws_skip_reason() -> str | None:
    return aws_target.skip_reason(_CFG.aws)
