"""Every file, module, name and make target README.md and docs/*.md refer to exists.

Docs name paths (`bench/report/readme.py`), commands (`python -m bench.measure.throughput`), names in
modules (`images.package.local_image`, `runtimes/decode._import_plugins`) and targets (`make bench`); code
moves and the docs are read after it. A reader who copies a command naming a module that is not there
gets an error the docs never mention, so the references are checked here: paths against the checkout,
``python -m`` modules by the file Python would run, dotted names by the module's top-level definitions,
targets against the Makefile.

What counts as a reference: a path or a dotted name anywhere in the text, prose included; commands in
inline code spans and lines of fenced code blocks (a `` #`` comment dropped); relative markdown link
targets (resolved against the document's folder, as markdown does; a ``#heading`` must be one of the
target's headings as GitHub names them). Paths are checked when their first
folder is a folder of the checkout other than build/, data/ and .venv/ (outputs of a run, absent from a
clean clone); words with placeholders (``<run>``, ``{a,b}``, ``$X``,
``...``) are skipped, and a glob (``results/plots/*.png``) must match a file. Modules and dotted names are
checked when their top package is a folder (or module) of the checkout: ``python -m pytest`` is not ours.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.paths import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Top-level folders whose contents a clean checkout does not hold: a run writes them.
OUTPUT_DIRS = frozenset({"build", "data", ".venv"})
SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")
PATH = re.compile(r"(?<![\w./-])((?:\.?[\w-]+/)+(?:[\w.*-]+)?)(?![\w/])")
MODULE = re.compile(r"\bpython3?\s+-m\s+([A-Za-z_][\w.]*)")
MAKE = re.compile(r"(?:^|[\s;&|(`])make\s+((?:[a-z][\w-]*\s*)+)")
DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
PROSE_DOTTED = re.compile(r"(?<![\w./:-])([a-z_]\w*(?:\.[A-Za-z_]\w*)+)(?![\w/(-])")
PLACEHOLDER = re.compile(r"[<>{}$]|\.\.\.")


@dataclass(frozen=True)
class Ref:
    kind: str  # "path", "link", "module", "dotted" or "make"
    name: str


def _top_dirs() -> frozenset[str]:
    return frozenset(p.name for p in ROOT.iterdir() if p.is_dir() and p.name not in OUTPUT_DIRS)


def code_texts(text: str) -> list[str]:
    """The inline code spans and the lines of fenced code blocks of a markdown text."""
    fenced = FENCE.findall(text)
    rest = FENCE.sub("", text)
    lines = [line.split(" #", 1)[0] for block in fenced for line in block.splitlines()]
    return [*SPAN.findall(rest), *lines]


def _word_around(text: str, i: int, j: int) -> str:
    """The whitespace-delimited word holding ``text[i:j]`` (a placeholder may sit just outside it)."""
    a = max(text.rfind(c, 0, i) for c in " \n\t") + 1
    b = min([k for k in (text.find(c, j) for c in " \n\t") if k >= 0] or [len(text)])
    return text[a:b]


def references(text: str) -> set[Ref]:
    """The path, link, module, dotted-name and make-target references of a markdown text."""
    refs: set[Ref] = set()
    codes = code_texts(text)
    for code in codes:
        refs |= {Ref("module", m) for m in MODULE.findall(code)}
        refs |= {Ref("make", t) for group in MAKE.findall(code) for t in group.split()}
        if DOTTED.fullmatch(code.strip("()")):
            refs.add(Ref("dotted", code.strip("()")))
    for m in PROSE_DOTTED.finditer(text):  # runtimes.base.threads_for in prose, too
        refs.add(Ref("dotted", m.group(1).rstrip(".")))
    for m in PATH.finditer(text):  # paths in prose too: "its own event parsing (runtimes/events.py)"
        if not PLACEHOLDER.search(_word_around(text, m.start(), m.end())):
            refs.add(Ref("path", m.group(1).rstrip(".*")))  # a sentence's dot, markdown's bold
    for target in LINK.findall(text):
        if "://" not in target and not target.startswith("mailto:"):
            refs.add(Ref("link", target))
    return refs


def slugs(markdown: str) -> set[str]:
    """The anchors GitHub gives a document's headings: lower case, punctuation dropped, spaces to hyphens,
    a repeated heading suffixed -1, -2, ..."""
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", FENCE.sub("", markdown), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def make_targets() -> frozenset[str]:
    text = (ROOT / "Makefile").read_text()
    return frozenset(re.findall(r"^([a-z][\w-]*)\s*:(?!=)", text, re.M))


def defined(module: Path) -> set[str]:
    """The names a module defines or imports at its top level (also under ``if`` / ``try``)."""
    names: set[str] = set()
    body = list(ast.parse(module.read_text()).body)
    while body:
        node = body.pop()
        if isinstance(node, (ast.If, ast.Try)):
            body += [*node.body, *node.orelse, *getattr(node, "finalbody", [])]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for tgt in targets for n in ast.walk(tgt) if isinstance(n, ast.Name)}
    return names


def resolves(dotted: str) -> bool:
    """``a.b.c`` is a module of the checkout, or ``c`` is defined at the top of module ``a.b`` (a class's
    attribute after that is not checked)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:i])
        file = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if file.is_file():
            return i == len(parts) or parts[i] in defined(file) or (base / f"{parts[i]}.py").is_file()
    return False


def ours(dotted: str, tops: frozenset[str]) -> bool:
    top = dotted.split(".")[0]
    return top in tops or (ROOT / f"{top}.py").is_file()


def _path_missing(name: str, doc: Path, tops: frozenset[str]) -> bool:
    name = name.removeprefix("./")
    if name.split("/", 1)[0] not in tops:
        return False
    for root in (ROOT, doc.parent):
        if (
            (root / name).exists()
            or (root / f"{name}.py").is_file()
            or ("*" in name and "**" not in name and any(root.glob(name)))
        ):
            return False
    folder, _, leaf = name.rpartition("/")  # runtimes/decode._import_plugins: a name in runtimes/decode.py
    return "." not in leaf or not resolves(f"{folder}/{leaf}".replace("/", "."))


def missing(ref: Ref, doc: Path, tops: frozenset[str], targets: frozenset[str]) -> bool:
    """True when ``ref`` names something this checkout lacks (False for what is not checked)."""
    if ref.kind == "make":
        return ref.name not in targets
    if ref.kind == "module":
        base = ROOT.joinpath(*ref.name.split("."))
        runnable = base.with_suffix(".py").is_file() or (base / "__main__.py").is_file()
        return ours(ref.name, tops) and not runnable
    if ref.kind == "dotted":  # a file name (`lambda_function.py`) is a path, not a dotted name
        is_file = (ROOT / ref.name).exists() or (doc.parent / ref.name).exists()
        return ours(ref.name, tops) and not resolves(ref.name) and not is_file
    if ref.kind == "link":
        name, _, anchor = ref.name.partition("#")
        target = (doc.parent / name).resolve() if name else doc
        if target.relative_to(ROOT).parts[0] in OUTPUT_DIRS:
            return False
        if not target.exists():
            return True
        return bool(anchor) and target.suffix == ".md" and anchor not in slugs(target.read_text())
    return _path_missing(ref.name, doc, tops)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_reference_in_the_docs_exists(doc: Path) -> None:
    tops, targets = _top_dirs(), make_targets()
    refs = references(doc.read_text())
    assert len(refs) > 3, f"{doc.relative_to(ROOT)}: the extractor found almost nothing to check"
    bad = sorted(f"{r.kind} {r.name}" for r in refs if missing(r, doc, tops, targets))
    assert not bad, f"{doc.relative_to(ROOT)} names what does not exist: {bad}"


def test_the_extractor_finds_each_kind_and_skips_placeholders() -> None:
    text = (
        "Run `make bench` or `BENCH_QUICK=1 make bench-run report MODEL=x`; see `bench/report/readme.py`,\n"
        "[the guide](docs/ship.md#zip), `results/runs/<run>.csv`, `https://example.com/a/b.py` and\n"
        "`images.package.local_image`; its own parsing (runtimes/events.py).\n\n"
        "```bash\n.venv/bin/python -m bench.report.readme --csv x   # regenerate: python -m nope.not\n"
        "python scripts/coldstart.py build\n```\n"
    )
    assert references(text) == {
        Ref("make", "bench"),
        Ref("make", "bench-run"),
        Ref("make", "report"),
        Ref("path", "bench/report/readme.py"),
        Ref("link", "docs/ship.md#zip"),
        Ref("dotted", "images.package.local_image"),
        Ref("path", ".venv/bin/python"),
        Ref("module", "bench.report.readme"),
        Ref("dotted", "bench.report.readme"),
        Ref("dotted", "nope.not"),  # found, and not checked: no folder of the checkout is named nope
        Ref("path", "scripts/coldstart.py"),
        Ref("path", "runtimes/events.py"),
        Ref("path", "docs/ship.md"),
    }


def test_a_moved_module_a_missing_name_and_an_unknown_target_are_caught() -> None:
    tops, targets = _top_dirs(), make_targets()
    doc = ROOT / "docs" / "bench.md"

    def gone(kind: str, name: str, where: Path = doc) -> bool:
        return missing(Ref(kind, name), where, tops, targets)

    assert gone("module", "bench.coldstart") and not gone("module", "bench.report.readme")
    assert not gone("module", "bench.report")  # a package with __main__
    assert not gone("module", "pytest")  # an installed tool: not ours
    assert gone("path", "bench/coldstart.py") and not gone("path", "bench/report/coldstart.py")
    assert not gone("path", "build/models/reference/")  # a run's output
    assert gone("make", "benchmark") and not gone("make", "bench")
    assert gone("dotted", "images.package.no_such_function") and not gone(
        "dotted", "images.package.local_image"
    )
    assert not gone("dotted", "numpy.float32")
    assert gone("path", "runtimes/limits.function_timeout_s")  # it lives in core/budget.py
    assert not gone("path", "core/budget.function_timeout_s")
    assert not gone("link", "images.md")  # a link resolves against the document's folder: docs/
    assert not gone("link", "handler.md#limits") and gone("link", "handler.md#no-such-heading")
    assert not gone("link", "#the-event-paths-budget", ROOT / "docs" / "handler.md")  # the same document
    assert gone("link", "bench.md", ROOT / "README.md")  # ... and README's against the root
