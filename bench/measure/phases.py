"""Where the time of one ``make bench`` goes, so README's duration is what a user waits for.

The plan (bench/measure/plan.py) estimates the benchmarks only; on a fresh machine the set-up before them
(training the Xception, converting, building every image, evaluating) takes about as long again, and the
load test and full-split check come after. The Makefile marks each phase as it starts
(``python -m bench.measure.phases mark <name>``) and ``end`` writes ``<results>/phases.json``: each phase's
seconds, the set-up's and the whole run's, and the benchmark session the run wrapped. A mark is one line
appended to build/bench-phases.jsonl, so a failed phase still leaves its start behind.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.paths import ROOT

__all__ = ["MARKS", "Phase", "durations", "mark", "summary", "write"]
MARKS = ROOT / "build" / "bench-phases.jsonl"
FILE = "phases.json"
#: a phase whose name starts with one of these comes before the benchmarks: the set-up
SETUP_PREFIXES = ("set-up", "package")


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float


def mark(name: str, now: float | None = None, marks: Path = MARKS) -> None:
    """Record that phase ``name`` starts now; ``start`` begins a new run (earlier marks are dropped)."""
    marks.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"phase": name, "t": time.time() if now is None else now}) + "\n"
    with marks.open("w" if name == "start" else "a") as f:
        f.write(line)


def read(marks: Path = MARKS) -> list[tuple[str, float]]:
    if not marks.is_file():
        return []
    rows = [json.loads(line) for line in marks.read_text().splitlines() if line.strip()]
    return [(str(r["phase"]), float(r["t"])) for r in rows]


def durations(marks: Sequence[tuple[str, float]], end: float) -> list[Phase]:
    """Each phase lasts until the next mark (the last until ``end``); a name marked twice (the report runs
    after the benchmarks and again at the end) is summed, in the order of its first mark. ``start``
    itself only opens the run."""
    order: list[str] = []
    total: dict[str, float] = {}
    for (name, t), nxt in zip(marks, [*(t for _, t in marks[1:]), end], strict=True):
        if name == "start":
            continue
        if name not in total:
            order.append(name)
        total[name] = total.get(name, 0.0) + max(0.0, nxt - t)
    return [Phase(n, total[n]) for n in order]


def summary(marks: Sequence[tuple[str, float]], end: float, run_id: str | None) -> dict[str, object]:
    """phases.json's document: the phases, the set-up's seconds, the whole run's, the session's id."""
    phases = durations(marks, end)
    begin = marks[0][1] if marks else end
    return {
        "run_id": run_id,
        "phases": [{"name": p.name, "seconds": round(p.seconds, 1)} for p in phases],
        "setup_s": round(sum(p.seconds for p in phases if p.name.startswith(SETUP_PREFIXES)), 1),
        "total_s": round(end - begin, 1),
    }


def session_since(results: Path, since: float) -> str | None:
    """The benchmark session this run wrapped: the newest runs/<id>.timing.json written after ``since``."""
    timings = [p for p in (results / "runs").glob("*.timing.json") if p.stat().st_mtime >= since]
    if not timings:
        return None
    return max(timings, key=lambda p: p.stat().st_mtime).name.removesuffix(".timing.json")


def write(results: Path, marks: Path = MARKS, now: float | None = None) -> Path:
    m = read(marks)
    end = time.time() if now is None else now
    doc = summary(m, end, session_since(results, m[0][1]) if m else None)
    out = results / FILE
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from bench.measure.settings import current

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("mark").add_argument("name")
    sub.add_parser("end")
    a = ap.parse_args(argv)
    if a.cmd == "mark":
        mark(a.name)
    else:
        print(f"phases: {write(current().results_dir)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
