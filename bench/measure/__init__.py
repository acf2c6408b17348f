"""Measure: run cells on a target (in-process, container, aws) and capture typed records and samples.

``settings`` (the BENCH_* settings, read once) -> ``cells`` (the one Cell type and the matrix) -> ``run``
(what each benchmark test measures, through ``records`` and ``targets``) -> ``session`` (the rows, written
to CSV at session end); ``plan`` estimates a session before it starts. bench/conftest.py and the
bench/test_*.py files only parametrise and call these.
"""
