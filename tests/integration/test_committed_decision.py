"""The committed results decide what they decided: decide + report run on results/ (latest.csv, the run's raw
samples, accuracy.csv, throughput.csv, fullsplit.csv, skew.csv, coldstart.csv) into a temporary folder give
the committed winner.json and report.md.

winner.json is compared whole except ``generated_at`` (the time it was written). report.md is compared line
by line after one normalisation: the module paths it names (``bench/decide/prices.py``, ``python -m
bench.measure.fullsplit``) are compared without their sub-package, so the committed text, written when
bench/ was flat, still matches; every figure, table and sentence must be equal. No docker, no model: the
report reads only files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from bench.report import document
from core.paths import ROOT

RESULTS = ROOT / "results"
#: The files the report reads from its output folder (the rest it reads from results/ itself).
BESIDE_OUTPUT = ("throughput.csv", "fullsplit.csv")
_SUBPACKAGE = re.compile(r"bench([/.])(?:decide|report|measure)[/.]")


def _normalised(text: str) -> list[str]:
    return [_SUBPACKAGE.sub(r"bench\1", line) for line in text.splitlines()]


def _winner(path: Path) -> dict[str, object]:
    doc = json.loads(path.read_text())
    doc.pop("generated_at", None)
    return dict(doc)


@pytest.fixture(scope="module")
def decided(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """report + winner.json of the committed results in a temporary folder (BENCH_* at their defaults)."""
    out = tmp_path_factory.mktemp("decided")
    for name in BESIDE_OUTPUT:
        shutil.copy(RESULTS / name, out / name)
    argv = ["--csv", str(RESULTS / "latest.csv"), "--accuracy", str(RESULTS / "accuracy.csv")]
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("BENCH_")]:
            mp.delenv(name)
        assert document.main([*argv, "--out", str(out)]) == 0
    return out


def test_committed_winner_is_decided_again(decided: Path) -> None:
    got, want = _winner(decided / "winner.json"), _winner(RESULTS / "winner.json")
    assert got["image"] == want["image"] and got["memory_mb"] == want["memory_mb"]
    assert got == want


def test_committed_report_is_written_again(decided: Path) -> None:
    got = _normalised((decided / "report.md").read_text())
    want = _normalised((RESULTS / "report.md").read_text())
    diff = [(i + 1, w, g) for i, (w, g) in enumerate(zip(want, got, strict=False)) if w != g]
    assert not diff, f"first differing line {diff[0][0]}:\n- {diff[0][1]}\n+ {diff[0][2]}"
    assert len(got) == len(want)
