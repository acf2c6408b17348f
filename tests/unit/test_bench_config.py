"""bench settings (bench/measure/settings.py), cells and their matrix (bench/measure/cells.py), the repeat
order, and which durations bill (no docker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.decide import cost
from bench.measure import cells, settings
from bench.measure import records as measure
from bench.measure.cells import Cell
from bench.measure.env import shuffled_by_repeat
from bench.measure.settings import Settings
from core import catalogue


def test_repeat_threads_seed_and_floor_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {
        "BENCH_REPEATS": "3",
        "BENCH_SEED": "42",
        "BENCH_THREADS": "1,2",
        "BENCH_THREADS_MEMORY_MB": "1024,1769",
        "BENCH_MIN_TOP1_PCT": "10",
        "BENCH_COLD_CACHE_N": "0",
    }.items():
        monkeypatch.setenv(k, v)
    cfg = Settings.from_env()
    assert (cfg.repeats, cfg.seed, cfg.threads, cfg.threads_memory_mb) == (3, 42, (1, 2), (1024, 1769))
    assert cfg.min_top1_pct == 10.0 and cfg.cold_cache_n == 0
    monkeypatch.setenv("BENCH_REPEATS", "0")
    with pytest.raises(ValueError, match="BENCH_REPEATS must be >= 1"):
        Settings.from_env()


def test_quick_mode_takes_one_cold_cache_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_QUICK", "1")
    monkeypatch.delenv("BENCH_COLD_CACHE_N", raising=False)
    assert Settings.from_env().cold_cache_n == 1


def test_repeats_run_in_order_each_shuffled_reproducibly() -> None:
    cells = [(name, rep) for rep in range(3) for name in "abcdefgh"]
    first = shuffled_by_repeat(list(cells), lambda c: c[1], seed=7)
    assert [c[1] for c in first] == [0] * 8 + [1] * 8 + [2] * 8
    assert first == shuffled_by_repeat(list(cells), lambda c: c[1], seed=7)
    orders = [[c[0] for c in first[i * 8 : (i + 1) * 8]] for i in range(3)]
    assert len({tuple(o) for o in orders}) == 3, "each repeat gets its own order"
    assert shuffled_by_repeat(list(cells), lambda c: c[1], seed=8) != first


def test_report_duration_bills_and_arm64_is_labelled() -> None:
    warm = measure.Warm(client=[12.0, 13.0], handler=[5.0, 5.2], report_ms=[9.4, 9.6])
    assert warm.billed_source == [9.4, 9.6]
    cold = measure.Cold()
    got = measure.costs(1024, warm, cold, 0.0)
    assert got.cost_per_1m_x86_64_usd == pytest.approx(cost.cost_at(1024, [9.4, 9.6], [], [], 0.0))
    assert str(got.cost_arm64_basis).startswith("x86_64 timings at arm64 prices")
    # a missing REPORT line: the handler's stages bill, never a mix of the two
    partial = measure.Warm(client=[12.0, 13.0], handler=[5.0, 5.2], report_ms=[9.4])
    assert partial.billed_source == [5.0, 5.2]


def test_a_dirty_run_keeps_its_diff_beside_it(tmp_path: Path) -> None:
    from bench.measure import env

    run = tmp_path / "runs" / "r1.csv"
    run.parent.mkdir()
    assert env.save_diff(run, b"") is None and not run.with_suffix(".diff").exists()
    assert env.save_diff(run, b"--- a\n+++ b\n") == run.with_suffix(".diff")
    assert run.with_suffix(".diff").read_bytes() == b"--- a\n+++ b\n"


# ------------------------------------------------------------------------------------ cells, matrix
image_cells = st.builds(
    lambda kind, i, model, mem, threads, rep, arch: Cell(
        kind,
        model,
        catalogue.IMAGES[kind].default_variants[i % len(catalogue.IMAGES[kind].default_variants)],
        mem,
        threads,
        rep,
        arch,
    ),
    kind=st.sampled_from(catalogue.IMAGE_KINDS),
    i=st.integers(0, 20),
    model=st.sampled_from(["reference", "xception", "my_model"]),
    mem=st.integers(128, 10240),
    threads=st.none() | st.integers(1, 8),
    rep=st.integers(0, 5),
    arch=st.sampled_from(catalogue.ARCH_NAMES),
)


@given(cell=image_cells)
def test_a_cell_is_named_by_its_image_tag(cell: Cell) -> None:
    """A run row (image, memory_mb, threads, repeat) gives back the cell it measured."""
    assert Cell.of_tag(cell.tag, cell.memory_mb, cell.threads, cell.repeat) == cell
    assert cell.forced == (cell.threads is not None)
    assert cell.launch(Settings(host_cpus=2)).cpus == Settings(host_cpus=2).cpus_for(cell.memory_mb)[0]


@given(
    repeats=st.integers(1, 3),
    memory=st.lists(st.sampled_from([512, 1024, 1769, 3008]), min_size=1, max_size=3, unique=True),
    threads=st.lists(st.integers(1, 4), max_size=3, unique=True),
    kinds=st.lists(st.sampled_from(catalogue.IMAGE_KINDS), min_size=1, max_size=3, unique=True),
)
def test_the_matrix_is_every_image_memory_thread_and_repeat(
    repeats: int, memory: list[int], threads: list[int], kinds: list[str]
) -> None:
    s = Settings(repeats=repeats, memory_mb=tuple(memory), threads=tuple(threads), images=tuple(kinds),
               models=("reference", "xception"), host_cpus=2)  # fmt: skip
    got = cells.matrix(s)
    per_image = repeats * sum(len(s.threads_cells(m)) for m in memory)
    variants = sum(len(catalogue.IMAGES[k].default_variants) for k in kinds)
    assert len(got) == len(set(got)) == 2 * variants * per_image
    assert len({c.test_id(repeats) for c in got}) == len(got), "every cell has its own pytest id"
    assert {(c.kind, c.model) for c in got} == set(cells.images(s))
    only = cells.matrix(s, cells.local_variants([catalogue.tag(kinds[0], "reference", "float32")]))
    assert {(c.kind, c.model, c.variant) for c in only} <= {(kinds[0], "reference", "float32")}


def test_settings_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    settings.current.cache_clear()
    monkeypatch.setenv("BENCH_COLD_N", "7")
    first = settings.current()
    monkeypatch.setenv("BENCH_COLD_N", "9")
    assert settings.current() is first and first.cold_n == 7
    settings.current.cache_clear()
