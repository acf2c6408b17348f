"""Root pytest wiring: ``pytest --benchmark-only`` at the repository root runs the benchmarks.

pyproject's ``testpaths = ["tests"]`` makes plain ``pytest`` run the test suite; users of pytest-benchmark
suites type ``pytest --benchmark-only``, which would then collect the tests and skip every one of them
(they are not benchmarks) and measure nothing. So when --benchmark-only is given and the paths came from
testpaths (no path on the command line), the session collects bench/ instead. A path on the command line
always wins.
"""

from __future__ import annotations

from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent / "bench"


def collection_args(args: list[str], from_testpaths: bool, benchmark_only: bool) -> list[str]:
    """The paths to collect: bench/ for ``--benchmark-only`` without paths, else ``args`` unchanged."""
    return [str(BENCH)] if benchmark_only and from_testpaths else args


def pytest_configure(config: pytest.Config) -> None:
    from_testpaths = config.args_source == pytest.Config.ArgsSource.TESTPATHS
    benchmark_only = bool(getattr(config.option, "benchmark_only", False))
    config.args = collection_args(list(config.args), from_testpaths, benchmark_only)
