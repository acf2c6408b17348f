"""Benchmarks as a pipeline: ``measure`` (cells on a target -> records + samples) -> ``decide`` (statistics,
cost, traffic, the winner rule) -> ``report`` (tables, plots, report.md, README's block, winner.json).

Entry points: ``pytest bench --benchmark-only`` (measure -> results/runs/<run_id>.csv + results/latest.csv)
and ``python -m bench.report`` (report.md, plots, winner.json). docs/bench.md explains every column.
"""
