"""The handler's default thread policy (runtimes.base.threads_for) at Lambda's memory sizes."""

from __future__ import annotations

import pytest

from bench.measure.settings import Settings
from runtimes import base


@pytest.mark.parametrize(
    ("visible", "quota", "memory_mb", "expected"),
    [
        # real Lambda: 2 vCPUs visible from 128 to 3,008 MB and no quota (github.com/rwnx/lambda-cpuinfo)
        (2, None, 128, 1),
        (2, None, 1024, 1),
        (2, None, 1769, 1),
        (2, None, 1770, 2),
        (2, None, 3008, 2),
        (3, None, 5307, 3),
        (6, None, 10240, 6),
        # capped by what is visible
        (2, None, 10240, 2),
        (1, None, 3008, 1),
        # this container target: docker's --cpus quota is visible and wins
        (2, 1024 / 1769, 1024, 1),
        (2, 1.0, 1769, 1),
        (2, 3008 / 1769, 3008, 2),
        (2, 0.5, None, 1),
        # neither: every visible CPU (a laptop)
        (8, None, None, 8),
    ],
)
def test_threads_for(visible: int, quota: float | None, memory_mb: int | None, expected: int) -> None:
    assert base.threads_for(visible, quota, memory_mb) == expected


def test_container_and_lambda_branches_agree_at_bench_sizes() -> None:
    """The container shows a quota, Lambda does not: both must pick the same count at the benched sizes."""
    cfg = Settings(host_cpus=2)
    for mem in (1024, 1769, 3008):
        assert base.threads_for(2, cfg.cpus_for(mem)[0], mem) == base.threads_for(2, None, mem), mem


def test_model_threads_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(base.THREADS_ENV, "3")
    monkeypatch.setenv(base.MEMORY_ENV, "1024")
    assert base.default_threads() == 3
    monkeypatch.setenv(base.THREADS_ENV, "0")
    with pytest.raises(ValueError, match="MODEL_THREADS must be >= 1"):
        base.default_threads()


def test_threads_cells_skip_the_policy_count() -> None:
    """BENCH_THREADS=1,2 at 1024 MB adds only the count the policy does not already run (2)."""
    cfg = Settings(host_cpus=2, threads=(1, 2), threads_memory_mb=(1024,))
    assert cfg.threads_cells(1024) == (None, 2)
    assert cfg.threads_cells(1769) == (None,)
