"""bench/measure/phases.py: where a `make bench` spends its time, from generated mark sequences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.measure import phases, plan

NAMES = st.sampled_from(
    ["set-up reference", "set-up xception", "package", "benchmarks", "report", "load test"]
)


@st.composite
def runs(draw: st.DrawFn) -> tuple[list[tuple[str, float]], float]:
    """A start mark, then phases at increasing times, then the end."""
    names = draw(st.lists(NAMES, min_size=1, max_size=12))
    gaps = draw(st.lists(st.floats(0, 5000), min_size=len(names) + 1, max_size=len(names) + 1))
    t = draw(st.floats(1e9, 2e9))
    marks = [("start", t)]
    for name, gap in zip(names, gaps, strict=False):
        t += gap
        marks.append((name, t))
    return marks, t + gaps[-1]


@given(runs())
def test_phases_add_up_to_the_run(run: tuple[list[tuple[str, float]], float]) -> None:
    marks, end = run
    got = phases.durations(marks, end)
    assert len({p.name for p in got}) == len(got)
    assert [p.name for p in got] == list(dict.fromkeys(n for n, _ in marks[1:]))
    assert sum(p.seconds for p in got) == pytest.approx(end - marks[1][1], abs=1e-6)
    doc = phases.summary(marks, end, "r")
    setup = sum(p.seconds for p in got if p.name.startswith(phases.SETUP_PREFIXES))
    assert doc["setup_s"] == pytest.approx(setup, abs=0.1)
    assert doc["total_s"] == pytest.approx(end - marks[0][1], abs=0.1)


def test_a_name_marked_twice_is_summed() -> None:
    marks = [("start", 0.0), ("benchmarks", 10.0), ("report", 70.0), ("load test", 75.0), ("report", 95.0)]
    got = {p.name: p.seconds for p in phases.durations(marks, 100.0)}
    assert got == {"benchmarks": 60.0, "report": 10.0, "load test": 20.0}


def test_marks_and_the_written_file(tmp_path: Path) -> None:
    log = tmp_path / "marks.jsonl"
    for name, t in [("start", 0.0), ("set-up reference", 1.0), ("package", 601.0), ("benchmarks", 661.0)]:
        phases.mark(name, now=t, marks=log)
    phases.mark("start", now=5.0, marks=log)  # a new run drops the earlier marks
    assert phases.read(log) == [("start", 5.0)]
    for name, t in [("set-up reference", 6.0), ("benchmarks", 606.0)]:
        phases.mark(name, now=t, marks=log)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "R1.timing.json").write_text(json.dumps({"wall_s": 1800.0, "estimate_s": 1500.0}))
    out = phases.write(tmp_path, marks=log, now=2406.0)
    doc = json.loads(out.read_text())
    assert doc["run_id"] == "R1"
    assert doc["setup_s"] == 600.0 and doc["total_s"] == 2401.0
    line = plan._measured_line("R1", tmp_path)[1]
    assert "took 30 min" in line and "The whole `make bench` took 40 min" in line
    assert "set-up reference 10 min" in line
    (tmp_path / "runs" / "R2.timing.json").write_text(json.dumps({"wall_s": 60.0, "estimate_s": 60.0}))
    assert "The whole" not in plan._measured_line("R2", tmp_path)[1]  # phases.json belongs to another run
