"""Benchmarks: the same artefacts in-process, in local Lambda-emulator containers and (opt-in) on AWS.

Entry points: ``pytest bench --benchmark-only`` (measure -> results/runs/<run_id>.csv + results/latest.csv)
and ``python -m bench.report`` (report.md, plots, winner.json). docs/bench.md explains every column.
"""
