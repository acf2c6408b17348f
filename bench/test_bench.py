"""The benchmark cells. Run: ``pytest bench --benchmark-only`` (see docs/bench.md for settings).

Parametrised by bench/conftest.py; each test calls its measurement in bench/measure/run.py and asserts on
the row it returns.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.measure import records, run
from bench.measure.cells import Cell
from bench.measure.session import Session
from bench.measure.targets import inprocess as ip


def test_inprocess(
    benchmark: Any, runner: records.Runner, bench_session: Session, inprocess_cell: tuple[ip.Artefact, int]
) -> None:
    row = run.inprocess(bench_session, *inprocess_cell, runner)
    benchmark.extra_info.update(
        {k: v for k, v in row.columns().items() if k.startswith(("warm_", "inproc_"))}
    )
    problems = run.inprocess_problems(bench_session, row)
    assert not problems, "; ".join(problems)


def test_container(
    benchmark: Any, runner: records.Runner, bench_session: Session, container_cell: Cell
) -> None:
    row = run.container(bench_session, container_cell, runner)
    benchmark.extra_info.update(
        {
            k: v
            for k, v in row.columns().items()
            if k.startswith(("cold_", "warm_", "cost_", "peak_")) and not k.endswith("samples_ms")
        }
    )
    problems = run.container_problems(bench_session, row, container_cell)
    assert not problems, "; ".join(problems)


def test_aws(runner: records.Runner, bench_session: Session, aws_skip_reason: str | None) -> None:
    if aws_skip_reason:
        pytest.skip(aws_skip_reason)
    images = run.aws_images(bench_session)
    if not images:
        pytest.skip("no local images were benchmarked, nothing to push")
    rows = run.aws(bench_session, images, runner)
    assert rows, "the AWS target returned no rows"


def test_soak(benchmark: Any, runner: records.Runner, bench_session: Session) -> None:
    if not bench_session.cfg.soak:
        pytest.skip("BENCH_SOAK=0")
    target = run.soak_target(bench_session)
    if target is None:
        pytest.skip("no container cell succeeded in this run: nothing to soak")
    row, problems = run.soak_run(bench_session, *target, runner)
    benchmark.extra_info.update({k: v for k, v in row.columns().items() if k.startswith("soak_")})
    assert not problems, "; ".join(problems)
