"""README's results block is what the committed results/ produce (bench/report/readme.py), figure for
figure."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.measure import accuracy, samples, schema
from bench.measure.env import Config
from bench.report import document as report
from bench.report import readme

ROOT = Path(__file__).resolve().parents[2]


def generated() -> str:
    cfg = Config()
    csv = ROOT / "results" / "latest.csv"
    df = schema.read(csv)
    acc = accuracy.load(ROOT / "results" / "accuracy.csv")
    df = report.fill_accuracy(df, acc)
    raw = report.samples_csv(csv, df)
    assert raw is not None, "the committed run has no raw samples in results/samples/"
    return readme.block(df, acc, samples.read(raw, by_repeat=True), cfg.p99_budget_ms, cfg.min_top1_pct)


def test_readme_block_matches_the_committed_results() -> None:
    current = readme.current((ROOT / "README.md").read_text())
    assert current == generated(), "README's results block drifted from results/: run `make report`"


def test_readme_accuracy_table_is_results_accuracy_csv() -> None:
    acc = accuracy.load(ROOT / "results" / "accuracy.csv")
    text = (ROOT / "README.md").read_text()
    assert readme.current(text, readme.ACC_BEGIN, readme.ACC_END) == readme.accuracy_block(acc), (
        "README's accuracy table drifted from results/accuracy.csv: run `make report`"
    )


def test_the_block_says_the_run_was_made_on_a_modified_tree() -> None:
    """The committed rows say git_dirty (numpy booleans): the block names the diff hash, not a clean sha."""
    df = schema.read(ROOT / "results" / "latest.csv")
    dirty = df["git_dirty"].iloc[0]
    line = generated().splitlines()[2]
    assert ("with local changes" in line) == bool(dirty)


def test_update_rewrites_only_the_block(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text(f"intro\n{readme.BEGIN}\nold figure 0.388\n{readme.END}\noutro\n")
    assert readme.update(path, f"{readme.BEGIN}\nnew\n{readme.END}")
    assert path.read_text() == f"intro\n{readme.BEGIN}\nnew\n{readme.END}\noutro\n"
    assert not readme.update(path, f"{readme.BEGIN}\nnew\n{readme.END}")
    path.write_text("no markers")
    with pytest.raises(readme.MarkerError):
        readme.update(path, "x")
