"""Code, comments, tags and docs describe the code as it is: no issue numbers, pull-request voice or
branch talk.

"issue 17 owns bench/report.py", "main before issue 19", "this branch" or a ``cs19-*`` tag mean something
only to whoever followed the tracker that week; a reader of the checkout needs what the code does and why.
Every tracked text file is scanned (source, tests, docs, Makefile, Dockerfiles, requirements), except
results/ (measured data, whose run ids and notes are records of a run) and this file's own pattern list.
A link to an upstream project's tracker (``https://github.com/<org>/<repo>/issues/106``) is a citation,
not history, and is not flagged.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.paths import ROOT

#: What reads as tracker history or pull-request voice, each with why a reader cannot use it.
PATTERNS: dict[str, re.Pattern[str]] = {
    "an issue number": re.compile(r"\bissues?\s*#?\s*\d+", re.I),
    "a tracker number (#N)": re.compile(r"(?<![\w&#/])#\d{1,4}\b(?![\w-])"),
    "pull-request voice": re.compile(r"\bpull[- ]requests?\b|\bmerge requests?\b", re.I),
    "a PR": re.compile(r"\bPRs?\b"),  # upper case only: ``pr`` is a fine variable name
    "branch talk": re.compile(
        r"\bthis branch\b|\b(?:on|of|from|against)\s+(?:main|master)\b|\b(?:main|master)\s+(?:before|after)\b"
        r"|\b(?:main|master)\s+[0-9a-f]{7,40}\b|\bmerged\s+(?:in)?to\s+(?:main|master)\b",
        re.I,
    ),
    "the tracker's wording": re.compile(r"\b(?:the|this|that)\s+issue(?:'s|\b)|\bclosing\s+note\b", re.I),
    "a tag named after a ticket": re.compile(r"\bcs\d+\b", re.I),
    "who, not what": re.compile(
        r"\bthe lead (?:may|will|should|can|decides?|wants?|asked|said)\b|\b(?:a|the) reviewer\b", re.I
    ),
}
SELF = Path(__file__).resolve()
#: Files no pattern applies to: measured data, and binary artefacts.
SKIP_DIRS = ("results/",)
BINARY = (".png", ".jpg", ".keras", ".tflite", ".onnx", ".h5", ".zip", ".gz", ".pb")


def flagged(text: str) -> list[tuple[str, str]]:
    """Every (pattern name, matched text) of ``text``."""
    return [(name, m.group(0)) for name, p in PATTERNS.items() for m in p.finditer(text)]


def tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    files = [ROOT / f for f in out.splitlines() if not f.startswith(SKIP_DIRS) and not f.endswith(BINARY)]
    return [f for f in files if f.is_file() and f.resolve() != SELF]


def test_no_tracked_file_talks_history() -> None:
    files = tracked()
    assert len(files) > 100, "git ls-files listed almost nothing: the scan would prove nothing"
    hits = []
    for path in files:
        try:
            lines = path.read_text().splitlines()
        except UnicodeDecodeError:
            continue
        for n, line in enumerate(lines, 1):
            hits += [f"{path.relative_to(ROOT)}:{n}: {what} {text!r}" for what, text in flagged(line)]
    assert not hits, "say what the code does and why instead:\n" + "\n".join(hits)


# ------------------------------------------------------------------------- the patterns, on generated text
WORDS = st.sampled_from(
    "the handler loads the model once per sandbox and answers every event with a typed error "
    "cold start warm latency memory cost image runtime variant bench report winner deploy".split()
)
PROSE = st.lists(WORDS, min_size=0, max_size=8).map(" ".join)
NUM = st.integers(min_value=1, max_value=9999)


def _cased(s: str) -> st.SearchStrategy[str]:
    return st.sampled_from([s, s.lower(), s.upper(), s.capitalize()])


@st.composite
def history(draw: st.DrawFn) -> str:
    """A phrase that refers to the tracker, a pull request or a branch, in one of its generated forms."""
    n, m = draw(NUM), draw(NUM)
    form = draw(
        st.sampled_from(
            [
                f"issue {n}", f"issue #{n}", f"issue#{n}", f"issues {n}-{m}", f"issues {n} and {m}",
                f"Issue {n}'s", f"(#{n})", f"see #{n}", f"PR #{n}", f"PR {n}", f"PRs {n}",
                f"pull request {n}", f"pull-request {n}", f"merge request {n}", "this branch",
                f"main before issue {n}", f"checked against main {n:07x}", f"on main {n:07x}",
                "merged into main", f"cs{n}-seed:reference-float32", "the issue's bars",
                "this issue", "for the closing note", "the lead may decide", "a reviewer showed",
            ]
        )
    )  # fmt: skip
    case = draw(st.booleans())
    return form.upper() if case and "PR" not in form and "#" not in form and "main" not in form else form


@given(before=PROSE, ref=history(), after=PROSE)
def test_a_sentence_with_history_in_it_is_flagged(before: str, ref: str, after: str) -> None:
    sentence = f"{before} {ref} {after}".strip()
    assert flagged(sentence), sentence


@st.composite
def technical(draw: st.DrawFn) -> str:
    """An ordinary technical phrase: numbers, units, HTTP status codes, versions, `#` in code, citations."""
    n, v = draw(NUM), draw(st.tuples(NUM, NUM, NUM))
    code = draw(st.sampled_from([400, 403, 404, 413, 415, 500, 502, 504]))
    form = draw(
        st.sampled_from(
            [
                f"took {n} ms", f"{n} MB", f"HTTP {code}", f"answers {code} with a JSON body",
                f"status {code}", f"tensorflow {v[0]}.{v[1]}.{v[2]}", f"python 3.{v[0] % 20}",
                f"v{v[0]}.{v[1]}", f"x = {n}  # {n} s budget", f"## {n}. Heading", f"color '#{n:06d}'",
                f"'#{n:x}f0a0b'", f"&#{n};", f"top-1 {n % 100} %", f"p99 {n} ms at {n} requests/hour",
                f"https://github.com/aws/repo/issues/{n}", f"tissue {n}", "the main job",
                "main memory", "a resize branch", f"processes {n}", "the domain", f"focus {n}",
                f"p, pr = logits, ref  # {n}", "the lead time of a build", "leading zeros",
            ]
        )
    )  # fmt: skip
    return form


@given(before=PROSE, phrase=technical(), after=PROSE)
def test_an_ordinary_technical_sentence_is_not_flagged(before: str, phrase: str, after: str) -> None:
    sentence = f"{before} {phrase} {after}".strip()
    assert not flagged(sentence), (sentence, flagged(sentence))


@pytest.mark.parametrize(
    "line",
    [
        "For the report (issue 17 owns bench/report/document.py): section() returns the markdown",
        "*before* is main before issue 19's changes were merged",
        "python scripts/coldstart.py build      # before (main) and after (this branch) images",
        "Images are tagged `cs19-<kind>:<model>-<variant>`",
        "Every bound is above the issue's 0.6x / 0.5x",
    ],
)
def test_the_wording_found_in_this_checkout_is_flagged(line: str) -> None:
    assert flagged(line)
