"""README's generated blocks (and docs/models.md's accuracy table) are what the committed results/ produce
(bench/report/readme.py), figure for figure, and README opens with the answer."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from bench.report import readme

ROOT = Path(__file__).resolve().parents[2]


@cache
def committed() -> tuple[readme.Block, ...]:
    run = readme.load(ROOT / "results" / "latest.csv", ROOT / "results" / "accuracy.csv")
    assert run.by_repeat is not None, "the committed run has no raw samples in results/samples/"
    return tuple(readme.blocks(run, ROOT / "README.md", ROOT / "docs" / "models.md"))


@pytest.mark.parametrize("name", ["answer", "results", "duration", "accuracy"])
def test_each_block_is_what_the_committed_results_produce(name: str) -> None:
    b = next(b for b in committed() if b.name == name)
    current = readme.current(b.path.read_text(), b.begin, b.end)
    assert current == b.text, f"{b.path.name}'s {name} block drifted from results/: run `make report`"


def test_readme_opens_with_the_answer() -> None:
    """The answer comes before everything but the title and one paragraph: no reference material first."""
    text = (ROOT / "README.md").read_text()
    before = text[: text.index(readme.ANSWER_BEGIN)]
    assert before.count("\n## ") == 0 and len(before.splitlines()) <= 8, before
    after = text[text.index(readme.ANSWER_END) + len(readme.ANSWER_END) :]
    assert after.lstrip("\n").startswith("## The two commands"), "the two commands follow the answer"
    assert after.index("make bench") < after.index("make test")


def test_the_answer_names_what_deploy_ships() -> None:
    """The opening answer and results/winner.json (what `make deploy` reads) name the same image, memory
    size, mode and cost: one decision, written twice."""
    w = json.loads((ROOT / "results" / "winner.json").read_text())
    answer = next(b for b in committed() if b.name == "answer").text
    first = answer.splitlines()[2]
    assert first.startswith(f"**Ship `{w['image']}`**"), first
    assert f"**{w['memory_mb']} MB, {w['architecture']}, {w['mode']['mode']}**" in first
    assert f"**${w['cost_interval_usd']['point']:.3f} per 1M requests**" in first
    for r in w["regions"]:
        assert f"`{r['image']}` at {r['memory_mb']} MB" in answer, r


def test_the_block_says_the_run_was_made_on_a_modified_tree() -> None:
    """The committed rows say git_dirty: the block names the diff hash, not a clean sha."""
    run = readme.load(ROOT / "results" / "latest.csv", ROOT / "results" / "accuracy.csv")
    dirty = run.df["git_dirty"].iloc[0]
    line = next(b for b in committed() if b.name == "results").text.splitlines()[2]
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
