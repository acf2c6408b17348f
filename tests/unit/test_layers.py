"""The import rules (docs/ARCHITECTURE.md "Layers"), checked on every project module's source with ast.

Function-level (lazy) imports count: a rule broken only at run time is still a dependency. Runs in
`make lint` and `make unit`, no imports of the checked code needed (a module that cannot import in this
venv, e.g. tflite_runtime's, is still checked).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.paths import ROOT

#: package (a top-level folder, or the handler module) -> the project packages it may import.
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset({"core"}),
    "runtimes": frozenset({"core", "runtimes"}),
    "lambda_function": frozenset({"core", "runtimes"}),
    "infra": frozenset({"core", "infra"}),
    "models": frozenset({"core", "runtimes", "infra", "models"}),
    "images": frozenset({"core", "runtimes", "infra", "models", "images"}),
    "deploy": frozenset({"core", "infra", "models", "images", "deploy"}),
    # bench's opt-in aws target measures what deploy would ship, with deploy's primitives
    "bench": frozenset({"core", "runtimes", "infra", "models", "images", "deploy", "bench"}),
}
PROJECT = frozenset(ALLOWED)
#: What ships in the images besides the stdlib and the project's core/ + runtimes/ (each runtime adapter
#: imports its own library lazily; snapstart's hook library exists only on Lambda's managed runtime).
SHIPPED_THIRD_PARTY = frozenset(
    {
        "numpy",
        "PIL",
        "tensorflow",
        "keras",
        "ai_edge_litert",
        "tflite_runtime",
        "onnxruntime",
        "snapshot_restore_py",
        "simplejpeg",  # runtimes/tfjpeg.py: images of ``dataset`` cards only (images/build.py card_extras)
    }
)


def package_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def modules() -> Iterator[Path]:
    yield ROOT / "lambda_function.py"
    for pkg in sorted(PROJECT - {"lambda_function"}):
        yield from sorted((ROOT / pkg).rglob("*.py"))


def imports(path: Path) -> set[str]:
    """Top-level names of every absolute import in ``path`` (module level and inside functions)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (the rules read absolute ones)"
            out.add(str(node.module).split(".")[0])
    return out


def graph() -> dict[str, set[str]]:
    """package -> project packages it imports (itself excluded)."""
    g: dict[str, set[str]] = {p: set() for p in PROJECT}
    for path in modules():
        pkg = package_of(path)
        g[pkg] |= (imports(path) & PROJECT) - {pkg}
    return g


@pytest.mark.parametrize("path", list(modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_imports_only_what_its_layer_allows(path: Path) -> None:
    pkg = package_of(path)
    bad = (imports(path) & PROJECT) - ALLOWED[pkg]
    assert not bad, (
        f"{path.relative_to(ROOT)} ({pkg}/) imports {sorted(bad)}; allowed: {sorted(ALLOWED[pkg])}"
    )


def test_core_is_stdlib_only() -> None:
    """core/ ships in every image and everything imports it: stdlib only, so it costs no dependency."""
    for path in (ROOT / "core").rglob("*.py"):
        third = imports(path) - sys.stdlib_module_names - {"__future__", "core"}
        assert not third, f"{path.relative_to(ROOT)} imports {sorted(third)}"


def test_shipped_code_imports_only_what_the_images_have() -> None:
    for path in [ROOT / "lambda_function.py", *(ROOT / "runtimes").rglob("*.py")]:
        third = imports(path) - sys.stdlib_module_names - {"__future__"} - PROJECT - SHIPPED_THIRD_PARTY
        assert not third, f"{path.relative_to(ROOT)} imports {sorted(third)}, which no image installs"


def test_no_cycles_between_packages() -> None:
    g = graph()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in g[start] - seen:
            if nxt == goal or reaches(nxt, goal, seen | {nxt}):
                return True
        return False

    cyclic = sorted(p for p in PROJECT if reaches(p, p, set()))
    assert not cyclic, f"packages on an import cycle: {cyclic} (graph {g})"


def test_no_cycles_between_modules_of_a_package() -> None:
    """deploy/aws.py and deploy/zipdeploy.py imported each other; no two modules may (module level)."""
    edges: dict[str, set[str]] = {}
    for path in modules():
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                deps.add(node.module)
                deps.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        edges[name] = deps
    known = set(edges)
    edges = {m: {d for d in ds if d in known and d != m} for m, ds in edges.items()}
    pairs = sorted((a, b) for a, ds in edges.items() for b in ds if a < b and a in edges.get(b, set()))
    assert not pairs, f"modules importing each other: {pairs}"


def test_the_rules_see_a_violation(tmp_path: Path) -> None:
    """The checker itself: an import of bench/ in deploy/ source is reported."""
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from bench import winner\n")
    assert imports(bad) & PROJECT - ALLOWED["deploy"] == {"bench"}


def test_no_test_module_imports_another() -> None:
    """Shared helpers live in tests/support/ and fixtures in conftest.py; a test module imported by another
    runs its fixtures and module-level code twice under two names."""
    for path in sorted((ROOT / "tests").rglob("*.py")) + sorted((ROOT / "bench").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [str(node.module)]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                last = name.rsplit(".", 1)[-1]
                assert not (last.startswith("test_") or last == "conftest"), (
                    f"{path.relative_to(ROOT)} imports {name}"
                )
