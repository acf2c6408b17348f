"""The session plan and its duration estimate (bench/measure/plan.py), README's duration block, and the root
conftest that makes ``pytest --benchmark-only`` run the benchmarks."""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.measure import plan
from bench.measure.cells import Cell
from bench.measure.settings import Settings
from bench.report import readme

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def timings() -> plan.Timings:
    return plan.load(ROOT / "results")


def _clear_bench_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for k in list(os.environ):
        if k.startswith("BENCH_"):
            monkeypatch.delenv(k)


# ------------------------------------------------------------------------------------- README block
def test_readme_duration_block_is_what_the_estimator_says(timings: plan.Timings) -> None:
    current = readme.current((ROOT / "README.md").read_text(), plan.PLAN_BEGIN, plan.PLAN_END)
    assert current == plan.readme_block(timings), "README's duration block drifted: run `make report`"


@pytest.mark.parametrize(
    ("form", "environ"),
    [("default", {}), ("full", {"BENCH_FULL": "1"}), ("quick", {"BENCH_QUICK": "1"})],
)
def test_readme_forms_are_the_configs_make_bench_runs(
    monkeypatch: pytest.MonkeyPatch, form: str, environ: dict[str, str]
) -> None:
    """The figure README states for a form is computed on the very sizes that form's session reads."""
    _clear_bench_env(monkeypatch)
    for k, v in environ.items():
        monkeypatch.setenv(k, v)
    if form != "quick":
        monkeypatch.setenv("BENCH_MODELS", "reference,xception")  # what `make bench` passes
    got, want = Settings.from_env(), Settings.of_form(form)
    for f in ("memory_mb", "cold_n", "cold_cache_n", "warmup", "warm_m", "agree_n", "soak_n", "repeats"):
        assert getattr(got, f) == getattr(want, f), f
    assert got.models == want.models and got.soak == want.soak
    assert got.inprocess_threads == want.inprocess_threads and got.warm_requests == want.warm_requests


def test_quick_and_full_together_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_bench_env(monkeypatch)
    monkeypatch.setenv("BENCH_QUICK", "1")
    monkeypatch.setenv("BENCH_FULL", "1")
    with pytest.raises(ValueError, match="not both"):
        Settings.from_env()


def test_the_default_answers_in_well_under_an_hour(timings: plan.Timings) -> None:
    """The main job answers in under 45 minutes of benchmarks on 2 cores; the long form is the slower one."""
    default = plan.for_config(Settings.of_form("default"), timings)
    full = plan.for_config(Settings.of_form("full"), timings)
    assert default.total_s < 45 * 60
    assert full.total_s > default.total_s


# ------------------------------------------------------------------------------------- calibration
def test_the_estimate_of_the_committed_run_is_its_wall_time(timings: plan.Timings) -> None:
    """The overhead is fitted on the committed session, so replanning that session reproduces its wall
    time: a check that the plan counts the same work the fit counted (cells, samples, soak, zip)."""
    p = plan.replan(plan.schema.parse(ROOT / "results" / "latest.csv"), timings)
    wall = plan.session_wall_s(ROOT / "results" / "runs" / f"{timings.run_id}.csv", timings.run_id)
    assert wall is not None
    assert p.borrowed == 0 and p.soak_s > 0 and p.zip_s
    assert p.total_s == pytest.approx(wall, rel=0.02)


def test_replanning_the_committed_run_by_its_settings_agrees(timings: plan.Timings) -> None:
    """The same session planned from settings (matrix + threads cells) as a session would plan it."""
    df = plan.schema.read(ROOT / "results" / "latest.csv")
    c = df[(df["target"] == "container") & df["image"].str.startswith("clothing-")]
    forced = c[c["threads_forced"].fillna(False).astype(bool)]
    cfg = dataclasses.replace(
        Settings.of_form("default"),
        models=tuple(sorted(set(c["model"]))),
        images=tuple(k for k in Settings.of_form("default").images if k in set(c["image_kind"])),
        memory_mb=tuple(sorted(int(m) for m in set(c["memory_mb"]))),
        repeats=int(c["repeat"].nunique()),
        cold_n=int(c["cold_n"].max()),
        cold_cache_n=int(c["cold_cache_n"].max()),
        warm_m=int(c["warm_n"].max()),
        agree_n=int(c["agreement_n"].max()),
        soak_n=int(df.loc[df["target"] == "soak", "soak_n"].max()),
        threads=(1, 2) if len(forced) else (),
        host_cpus=int(df["cpu_cores"].dropna().iloc[0]),
    )
    by_settings = plan.for_config(cfg, timings)
    by_rows = plan.replan(plan.schema.parse(ROOT / "results" / "latest.csv"), timings)
    assert len(by_settings.cells) == len(by_rows.cells)
    assert by_settings.total_s == pytest.approx(by_rows.total_s, rel=0.02)


def test_overhead_is_positive_and_plausible(timings: plan.Timings) -> None:
    """docker rm -f + page-cache drop per container: more than nothing, less than a cold start."""
    cold = min(t.cold_s for t in timings.cells.values())
    assert 0 < timings.overhead_s < cold


@given(
    timed=st.floats(0, 1e5),
    starts=st.integers(plan._MIN_STARTS, 10_000),
    c=st.floats(0, 10),
)
def test_fit_overhead_recovers_the_per_container_cost(timed: float, starts: int, c: float) -> None:
    assert plan.fit_overhead(timed, starts, timed + starts * c) == pytest.approx(c, abs=1e-6, rel=1e-6)


def test_fit_overhead_refuses_too_little_evidence() -> None:
    assert plan.fit_overhead(10.0, plan._MIN_STARTS - 1, 100.0) == 0.0
    assert plan.fit_overhead(100.0, 100, 50.0) == 0.0


# ---------------------------------------------------------------------------------------- borrowing
def test_a_cell_the_run_measured_is_not_borrowed(timings: plan.Timings) -> None:
    key = next(iter(timings.cells))
    assert timings.timing(key) == timings.cells[key] and timings.timing(key).measured


def test_another_memory_size_borrows_the_nearest(timings: plan.Timings) -> None:
    key = next(k for k in timings.cells if k.memory_mb == 1769 and not k.forced)
    got = timings.timing(dataclasses.replace(key, memory_mb=3008))
    assert not got.measured and got.cold_s == timings.cells[key].cold_s


def test_a_larger_model_costs_more_per_request(timings: plan.Timings) -> None:
    """Measured, and borrowed from the reference model's cells when a run lacks the larger model's."""
    key = Cell("tflite", "reference", "float32", 1024)
    big_key = dataclasses.replace(key, model="xception")
    ref, big = timings.timing(key), timings.timing(big_key)
    assert big.warm_s > ref.warm_s and big.cold_s > ref.cold_s
    without = dataclasses.replace(
        timings, cells={k: v for k, v in timings.cells.items() if k.model != "xception"}
    )
    borrowed = without.timing(big_key)
    assert not borrowed.measured
    assert borrowed.warm_s > ref.warm_s and borrowed.cold_s > ref.cold_s


# --------------------------------------------------------------------------------------- properties
settings = st.builds(
    Settings,
    cold_n=st.integers(0, 20),
    cold_cache_n=st.integers(0, 10),
    warmup=st.integers(0, 10),
    warm_m=st.integers(0, 200),
    agree_n=st.integers(0, 40),
    soak=st.booleans(),
    soak_n=st.integers(10, 5000),
)
timing = st.builds(
    plan.Timing,
    cold_s=st.floats(0, 10),
    cold_cache_s=st.floats(0, 10),
    warm_s=st.floats(0, 1),
    inference_s=st.floats(0, 1),
)


@given(t=timing, s=settings, c=st.floats(0, 2), field=st.sampled_from(["cold_n", "cold_cache_n", "warm_m"]))
def test_more_samples_never_take_less_time(t: plan.Timing, s: Settings, c: float, field: str) -> None:
    more = dataclasses.replace(s, **{field: getattr(s, field) + 1})
    assert t.cell_s(more, c) >= t.cell_s(s, c)


@given(s=settings, n=st.integers(0, 30), repeats=st.integers(1, 3))
def test_the_estimate_is_the_sum_of_its_cells(timings: plan.Timings, s: Settings, n: int, repeats: int):
    keys = list(timings.cells)[:n]
    cells = [dataclasses.replace(k, repeat=r) for r in range(repeats) for k in keys]
    p = plan.make_plan(timings, s, cells, ["reference"] * 3, [1024])
    parts = sum(p.cell_s) + sum(p.inprocess_s) + sum(p.zip_s) + p.soak_s
    assert p.total_s == pytest.approx(parts)
    assert len(p.cell_s) == len(cells) and all(x >= 0 for x in p.cell_s)
    assert (p.soak_s > 0) == (s.soak and timings.soak_warm_s > 0)


@given(
    estimates=st.lists(st.floats(0.1, 100), min_size=1, max_size=40),
    pace=st.floats(0.2, 5),
)
def test_eta_falls_as_cells_finish_and_ends_at_zero(estimates: list[float], pace: float) -> None:
    """At a steady pace every finished cell lowers the ETA, and the last one leaves nothing."""
    prog = plan.Progress(sum(estimates), started_s=0.0)
    now, etas = 0.0, []
    for e in estimates:
        now += e * pace
        prog.finish("cell", e, now, e * pace)
        etas.append(plan.eta_s(now, prog.done_estimate_s, prog.total_estimate_s - prog.done_estimate_s))
    assert all(b <= a + 1e-6 for a, b in zip(etas, etas[1:], strict=False))
    assert etas[-1] == pytest.approx(0.0, abs=1e-6)


@given(elapsed=st.floats(0, 1e5), done=st.floats(0, 1e5), left=st.floats(0, 1e5))
def test_eta_is_never_negative(elapsed: float, done: float, left: float) -> None:
    assert plan.eta_s(elapsed, done, left) >= 0


def test_progress_line_says_elapsed_and_eta() -> None:
    prog = plan.Progress(300.0, started_s=0.0)
    line = prog.finish("tflite:reference-int8 @ 1024 MB r0", 100.0, 120.0, 120.0)
    assert line == "[1] tflite:reference-int8 @ 1024 MB r0: 120 s (estimated 100 s); elapsed 2 min, ETA 4 min"


@pytest.mark.parametrize(("s", "text"), [(0, "0 s"), (59, "59 s"), (61, "1 min"), (3725, "1 h 02 min")])
def test_duration(s: float, text: str) -> None:
    assert plan.duration(s) == text


def test_plan_lines_name_cells_samples_and_estimate(timings: plan.Timings) -> None:
    p = plan.for_config(Settings.of_form("default"), timings)
    text = "\n".join(p.lines())
    assert f"{len(p.cells)} container cells" in text and plan.duration(p.total_s) in text
    cfg = Settings.of_form("default")
    assert f"1 cold-cache + {cfg.cold_n} cold starts" in text and f"x {cfg.repeats} repeat(s)" in text


# ------------------------------------------------------------------------ pytest --benchmark-only
def _root_conftest():
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_only_without_paths_collects_bench() -> None:
    mod = _root_conftest()
    assert mod.collection_args([str(ROOT / "tests")], True, True) == [str(ROOT / "bench")]
    assert mod.collection_args([str(ROOT / "tests")], True, False) == [str(ROOT / "tests")]
    assert mod.collection_args(["tests/test_plan.py"], False, True) == ["tests/test_plan.py"]


def _collect(*args: str) -> tuple[list[str], str]:
    """(collected node ids, the whole output) of ``pytest --collect-only -q`` at the repository root."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return [ln for ln in out.stdout.splitlines() if "::" in ln], out.stdout + out.stderr


@pytest.mark.slow
def test_pytest_at_the_root_collects_the_right_suite() -> None:
    """`pytest --benchmark-only` collects the benchmarks only, and prints the plan before anything runs;
    plain `pytest` collects the tests only."""
    bench, text = _collect("--benchmark-only")
    assert bench and all(n.startswith("bench/") for n in bench)
    assert any("test_container" in n for n in bench)
    assert "plan: " in text and "estimated" in text
    tests, _ = _collect()
    assert tests and all(n.startswith("tests/") for n in tests)


def test_each_planned_test_gets_its_own_figure(timings: plan.Timings) -> None:
    """bench/conftest.py hands the plan's figures to the collected tests in order, kind by kind."""
    keys = list(timings.cells)[:3]
    p = plan.make_plan(timings, Settings.of_form("default"), keys, ["reference"], [1024])
    labels = [("container", f"c{i}", f"cell {i}") for i in range(3)]
    labels += [("inprocess", "i0", "in"), ("zip", "z0", "zip"), ("soak", "s0", "soak")]
    got = plan.estimates(p, labels)
    assert [got[f"c{i}"][1] for i in range(3)] == list(p.cell_s)
    assert got["i0"][1] == p.inprocess_s[0] and got["z0"][1] == p.zip_s[0] and got["s0"][1] == p.soak_s
    assert sum(v for _, v in got.values()) == pytest.approx(p.total_s)


def test_the_tracker_plans_the_collected_tests_and_reports_each(timings: plan.Timings) -> None:
    """What bench/conftest.py hands over (one Unit per collected test) is what the plan estimates; a
    finished test gets its line, anything unplanned none; the timing file holds wall time and estimate."""
    keys = list(timings.cells)[:2]
    units = [plan.Unit("container", f"c{i}", k.label(), cell=k) for i, k in enumerate(keys)]
    units += [
        plan.Unit("inprocess", "i0", "in", model="reference"),
        plan.Unit("zip", "z0", "zip", memory_mb=1024),
    ]
    st = Settings.of_form("default")
    tr = plan.Tracker.start(units, st, timings, now_s=100.0)
    whole = plan.make_plan(timings, st, keys, ["reference"], [1024])
    assert tr.plan.soak_s == 0.0, "no soak test collected: no soak estimate"
    assert tr.plan.total_s == pytest.approx(whole.total_s - whole.soak_s)
    tr.began_at("c0", 100.0)
    line = tr.finished("c0", 130.0)
    assert line is not None and line.startswith(f"[1] {keys[0].label()}: 30 s")
    assert tr.finished("not-planned", 130.0) is None
    doc = tr.timing_doc("r1", 400.0)
    assert doc == {"run_id": "r1", "wall_s": 300.0, "estimate_s": round(tr.plan.total_s, 1)}
