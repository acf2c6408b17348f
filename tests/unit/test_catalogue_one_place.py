"""Runtimes, image kinds, variants and architectures are declared once, in core/catalogue.py.

An ast scan over the project's source fails when a module outside the catalogue enumerates them by name:

* a collection literal (tuple, list, set, a dict's keys, tuple keys and ``Literal[...]`` included) naming
  two or more of one kind, as ``RUNTIMES = ("tf", "tflite")`` or ``{"tf": "tensorflow", "onnx": ...}``;
* a comparison chain doing the same, ``kind == "tf" or kind == "onnx"``, or a ``match`` with two such cases;
* the default architecture written as a default (a parameter default, ``default=``, a class field, the
  fallback of ``.get``/``getattr``) instead of ``core.catalogue.DEFAULT_ARCH``.

One name used once is legitimate (a test choosing an image, the tflite adapter's own ``name``, a recipe
reading the tf float32 artefact): it declares nothing. The files a runtime brings (its adapter with the
distribution names it reads versions from, Dockerfile and requirements) are checked against the catalogue
too, and the catalogue against what its docstring promises. tests/ are scanned by their own rule (they
choose cells, they do not re-declare the catalogue's mappings, pairs or full lists), and the files that
cannot import the catalogue (Makefile, Dockerfile.*, *.sh, template.yaml) by a line scan: a catalogue name
there is the catalogue's content rendered or a variable a test checks. Property-based tests generate
declarations in every shape the scanners know and single uses, and check they tell them apart.
"""

from __future__ import annotations

import ast
import importlib
import keyword
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import catalogue
from core.paths import ROOT
from images.specs import BASES

CATALOGUE = ROOT / "core" / "catalogue.py"
#: kind of name -> the catalogue's names of that kind
KINDS: dict[str, frozenset[str]] = {
    "runtime or image kind": frozenset(catalogue.RUNTIMES) | frozenset(catalogue.IMAGE_KINDS),
    "variant": frozenset(catalogue.VARIANT_NAMES),
    "architecture": frozenset(catalogue.ARCH_NAMES),
}
#: the packages scanned: the project's code (tests/unit/test_layers.py's modules) and scripts/
PACKAGES = ("bench", "core", "deploy", "images", "infra", "models", "runtimes", "scripts")
_STUDY = "an experiment's choice of cells among the catalogue's (what it compares), not what exists"
#: Enumerations that stay, by (file, top-level name), each with the reason it declares nothing.
ALLOWED: dict[tuple[str, str], str] = {
    ("bench/decide/prices.py", "DURATION"): "AWS's published price per architecture, each with its source",
    (
        "bench/decide/prices.py",
        "PC_PROVISIONED",
    ): "AWS's published price per architecture, each with its source",
    ("bench/decide/prices.py", "PC_DURATION"): "AWS's published price per architecture, each with its source",
    (
        "models/eval.py",
        "GATES_BY_PRECISION",
    ): "keyed by Variant.precision, words three variants share as names",
    (
        "runtimes/weightcache.py",
        "CACHED_VARIANTS",
    ): "the tflite adapter's measured engine choice per variant, in "
    "shipped code that does not import the catalogue (checked against it below)",
    ("bench/measure/coldstart/probes.py", "LOAD_OPTIONS"): _STUDY,
    ("bench/measure/coldstart/study.py", "CELLS"): _STUDY,
    ("bench/measure/coldstart/study.py", "WARMUP_KINDS"): _STUDY,
    ("bench/report/coldstart.py", "NAMES"): _STUDY + ": the study's labels",
    ("bench/report/coldstart.py", "goals"): _STUDY + ": its goals",
    ("bench/report/coldstart.py", "_seed_goals"): _STUDY + ": its goals",
    ("bench/measure/throughput.py", "default_images"): _STUDY + ": the load test's fallback images",
    ("scripts/measure_decode.py", "main"): _STUDY + ": the decode-overhead measurement",
}


def _names(node: ast.AST | None) -> set[str]:
    """Catalogue names a string literal or a collection literal holds (elements, a dict's keys, nested)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return set().union(*(_names(e) for e in node.elts))
    if isinstance(node, ast.Dict):
        return set().union(*(_names(k) for k in node.keys))
    return set()


def _enumerates(names: set[str]) -> str | None:
    """The kind of which ``names`` holds two or more, else None."""
    return next((kind for kind, known in KINDS.items() if len(names & known) >= 2), None)


def _compared(node: ast.AST) -> set[str]:
    """String literals a comparison (or a chain of them under and/or) compares with."""
    if isinstance(node, ast.BoolOp):
        return set().union(*(_compared(v) for v in node.values))
    if isinstance(node, ast.Compare):
        return set().union(*(_names(side) for side in (node.left, *node.comparators)))
    return set()


def _is_default_arch(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value == catalogue.DEFAULT_ARCH


def _defaults(node: ast.AST) -> list[ast.expr | None]:
    """What ``node`` gives as a default: parameter defaults, ``default=``, a class field's value, the
    fallback argument of ``.get``/``getattr``/``setdefault``."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        return [*node.args.defaults, *node.args.kw_defaults]
    if isinstance(node, ast.keyword) and node.arg == "default":
        return [node.value]
    if isinstance(node, ast.ClassDef):
        return [s.value for s in node.body if isinstance(s, ast.AnnAssign | ast.Assign)]
    if isinstance(node, ast.Call):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        at = {"get": 1, "setdefault": 1, "getattr": 2}.get(name)
        return [node.args[at]] if at is not None and len(node.args) > at else []
    return []


def _owner(statement: ast.stmt) -> str:
    """A top-level statement's name: what it assigns or defines (the ALLOWED key)."""
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return statement.name
    targets = statement.targets if isinstance(statement, ast.Assign) else [getattr(statement, "target", None)]
    return ",".join(ast.unparse(t) for t in targets if t is not None) or type(statement).__name__


def _what(node: ast.AST, reported: set[int]) -> str:
    if isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict) and id(node) not in reported:
        if kind := _enumerates(_names(node)):
            reported.update(id(n) for n in ast.walk(node))  # its nested literals are the same finding
            return f"declares {kind} names"
    elif isinstance(node, ast.BoolOp) and (kind := _enumerates(_compared(node))):
        return f"enumerates {kind} names by comparison"
    elif isinstance(node, ast.Match):
        values = [c.pattern.value for c in node.cases if isinstance(c.pattern, ast.MatchValue)]
        if kind := _enumerates(set().union(*(_names(v) for v in values))):
            return f"matches {kind} names case by case"
    if any(_is_default_arch(d) for d in _defaults(node)):
        return f"writes {catalogue.DEFAULT_ARCH!r} as a default (core.catalogue.DEFAULT_ARCH)"
    return ""


def findings(source: str, filename: str = "<source>") -> list[tuple[str, int, str]]:
    """(top-level name, line, what) for every place ``source`` declares catalogue names or writes the
    default architecture as a default."""
    out: list[tuple[str, int, str]] = []
    reported: set[int] = set()
    for statement in ast.parse(source, filename).body:
        for node in ast.walk(statement):
            if what := _what(node, reported):
                out.append((_owner(statement), getattr(node, "lineno", statement.lineno), what))
    return out


def modules() -> Iterator[Path]:
    yield ROOT / "lambda_function.py"
    for pkg in PACKAGES:
        yield from (p for p in sorted((ROOT / pkg).rglob("*.py")) if p != CATALOGUE)


@pytest.mark.parametrize("path", list(modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_but_the_catalogue_declares_its_names(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    found = [f"{rel}:{line}: {what} ({owner})" for owner, line, what in findings(path.read_text(), rel)
             if (rel, owner) not in ALLOWED]  # fmt: skip
    assert not found, "\n".join(
        [*found, "fix: read core.catalogue (RUNTIMES, IMAGES, VARIANTS, ARCHS, DEFAULT_ARCH, LIBRARIES)"]
    )


def test_every_allowance_is_still_needed() -> None:
    for (rel, owner), reason in ALLOWED.items():
        assert reason, rel
        owners = {o for o, _, _ in findings((ROOT / rel).read_text(), rel)}
        assert owner in owners, f"{rel} {owner} is allowed but declares nothing: delete its ALLOWED entry"


# ------------------------------------------------------------------ the files a runtime brings with it
def _adapter_modules() -> set[str]:
    """runtimes/<name>.py that define an ``Adapter`` class (read with ast: the library need not import)."""
    out = set()
    for path in (ROOT / "runtimes").glob("*.py"):
        tree = ast.parse(path.read_text())
        if any(isinstance(n, ast.ClassDef) and n.name == "Adapter" for n in tree.body):
            out.add(path.stem)
    return out


def test_every_adapter_dockerfile_and_requirements_file_has_a_catalogue_entry() -> None:
    specs = catalogue.IMAGES.values()
    assert _adapter_modules() == set(catalogue.RUNTIMES), "runtimes/<name>.py adapters vs the catalogue"
    dockerfiles = {p.name for p in ROOT.glob("Dockerfile.*")}
    assert dockerfiles == {s.dockerfile for s in specs}, "Dockerfile.* without (or missing for) an ImageSpec"
    reqs = {str(p.relative_to(ROOT)) for p in (ROOT / "requirements").glob("image-*.txt")}
    assert reqs == {s.requirements for s in specs}, "requirements/image-*.txt vs ImageSpec.requirements"


def test_every_adapter_says_what_the_catalogue_says() -> None:
    """An adapter's ``name`` is its module's; the library it reports serves the images of its runtime."""
    from runtimes import base

    for name in catalogue.RUNTIMES:
        adapter = base.get(name)
        assert adapter.name == name
        assert isinstance(getattr(type(adapter), "warmup_at_init", False), bool)
        libraries = {s.library for s in catalogue.IMAGES.values() if s.runtime == name}
        assert libraries, f"runtime {name} has no image"
        served = getattr(adapter, "libraries", None) or (adapter.library,)
        assert libraries <= set(served), f"{name} adapter serves {served}, its images need {libraries}"
    weightcache = importlib.import_module("runtimes.weightcache")
    assert weightcache.CACHED_VARIANTS <= set(catalogue.variants_of("tflite"))


def _distributions(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(library, distribution names) an adapter module writes: its ``library_version(module, *dists)``
    calls and its ``CANDIDATES`` entries ``(library, import path, dists)`` (read with ast: the adapter
    ships without the catalogue and its library need not be installed here)."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        name = getattr(node.func, "id", getattr(node.func, "attr", "")) if isinstance(node, ast.Call) else ""
        if name == "library_version" and isinstance(node, ast.Call):
            if all(isinstance(a, ast.Constant) for a in node.args):  # else it reads them from CANDIDATES
                module, *dists = (str(a.value) for a in node.args if isinstance(a, ast.Constant))
                out.append((module, tuple(dists)))
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "CANDIDATES" for t in node.targets):
            out += [(lib, tuple(dists)) for lib, _, dists in ast.literal_eval(node.value)]
    return out


@pytest.mark.parametrize("runtime", catalogue.RUNTIMES)
def test_every_adapter_names_its_libraries_distributions_as_the_catalogue_does(runtime: str) -> None:
    """The distribution names an adapter reads its library's version from are the catalogue's Library.dists
    (every library it names); an adapter that asks for a version by distribution names every library its
    images serve with."""
    named = _distributions(ROOT / "runtimes" / f"{runtime}.py")
    for lib, dists in named:
        assert lib in catalogue.LIBRARIES, f"runtimes/{runtime}.py names library {lib!r}, not in LIBRARIES"
        assert dists == catalogue.LIBRARIES[lib].dists, f"runtimes/{runtime}.py: {lib} {dists}"
    served = {s.library for s in catalogue.IMAGES.values() if s.runtime == runtime}
    if named:
        assert served <= {lib for lib, _ in named}, (
            f"runtimes/{runtime}.py: no distribution names for {served}"
        )


def test_every_image_names_known_runtime_library_architectures_and_base() -> None:
    for s in catalogue.IMAGES.values():
        assert s.runtime in catalogue.RUNTIMES and s.library in catalogue.LIBRARIES, s.name
        assert catalogue.DEFAULT_ARCH in s.archs and set(s.archs) <= set(catalogue.ARCH_NAMES), s.name
        assert s.python in BASES, f"{s.name}: no Lambda base for python {s.python} (images/specs.py)"
        assert s.variants, f"{s.name}: its runtime has no Variant"


def _dockerfile_defaults(path: Path, instruction: str) -> dict[str, str]:
    """``ARG`` defaults or ``ENV`` assignments of a Dockerfile (continuation lines joined)."""
    out: dict[str, str] = {}
    for line in path.read_text().replace("\\\n", " ").splitlines():
        if line.startswith(instruction + " "):
            out.update(re.findall(r"(\w+)=(\S*)", line))
    return out


@pytest.mark.parametrize("dockerfile", sorted({s.dockerfile for s in catalogue.IMAGES.values()}))
def test_dockerfile_defaults_are_its_first_image_s(dockerfile: str) -> None:
    """The Dockerfile's defaults (base, artefact, variant) build its first ImageSpec as is and its runtime
    is that of every image sharing it (images/build.py passes the base, artefact and variant)."""
    specs = [s for s in catalogue.IMAGES.values() if s.dockerfile == dockerfile]
    first = specs[0]
    args, env = _dockerfile_defaults(ROOT / dockerfile, "ARG"), _dockerfile_defaults(ROOT / dockerfile, "ENV")
    assert args["BASE_IMAGE"] == BASES[first.python].aws_image
    assert {s.runtime for s in specs} == {env["MODEL_RUNTIME"]}
    variant = next(iter(first.variants))
    assert (args["MODEL_FILE"], args["MODEL_VARIANT"]) == (first.variants[variant], variant)
    # an adapter module the Dockerfile runs (``python3 -m runtimes.<name>``) is its own runtime's
    code = "\n".join(c for _, c in _code_lines((ROOT / dockerfile).read_text(), "docker"))
    assert set(re.findall(r"\bruntimes\.(\w+)", code)) & set(catalogue.RUNTIMES) <= {first.runtime}


def test_the_docstring_states_the_places_a_runtime_touches() -> None:
    """The count the catalogue's docstring states is the count of the numbered places it lists."""
    doc = catalogue.__doc__ or ""
    stated = re.search(r"Adding a runtime touches exactly (\d+) files", doc)
    assert stated, "core/catalogue.py's docstring states how many files adding a runtime touches"
    listed = re.findall(r"^(\d+)\. ", doc, re.M)
    assert listed == [str(i) for i in range(1, int(stated[1]) + 1)]


# ----------------------------------------------------------------------- the scanner sees a declaration
KIND = st.sampled_from(sorted(KINDS))
IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True).filter(
    lambda s: not keyword.iskeyword(s) and not keyword.issoftkeyword(s)
)


def _pick(kind: str, n: int) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(sorted(KINDS[kind])), min_size=n, max_size=n + 2, unique=True)


def _declaration(shape: str, target: str, names: list[str], other: str) -> str:
    """Module source declaring ``names`` in ``shape`` (with ``other``, a non-catalogue word, mixed in)."""
    items = ", ".join(repr(n) for n in [*names, other])
    if shape in ("tuple", "list", "set"):
        return f"{target} = {dict(tuple='({},)', list='[{}]', set='{{{}}}')[shape].format(items)}\n"
    if shape == "dict":
        return f"{target} = {{{', '.join(f'{n!r}: {i}' for i, n in enumerate(names))}}}\n"
    if shape == "tuple-keys":
        return f"{target} = {{{', '.join(f'({n!r}, {other!r}): 1' for n in names)}}}\n"
    if shape == "literal":
        return f"from typing import Literal\n{target}: Literal[{items}]\n"
    if shape == "in":
        return f"def f({target}):\n    return {target} in ({items})\n"
    if shape == "or-chain":
        return f"def f({target}):\n    return {' or '.join(f'{target} == {n!r}' for n in names)}\n"
    if shape == "match":
        cases = "".join(f"        case {n!r}:\n            return {i}\n" for i, n in enumerate(names))
        return f"def f({target}):\n    match {target}:\n{cases}"
    if shape == "nested":
        return f"def f():\n    return [{{'x': {names!r}}}]\n"
    raise AssertionError(shape)


SHAPES = ("tuple", "list", "set", "dict", "tuple-keys", "literal", "in", "or-chain", "match", "nested")


@given(kind=KIND, shape=st.sampled_from(SHAPES), target=IDENT, data=st.data())
def test_the_scanner_flags_every_shape_of_declaration(
    kind: str, shape: str, target: str, data: st.DataObject
) -> None:
    names = data.draw(_pick(kind, 2))
    source = _declaration(shape, target, names, "not-a-catalogue-name")
    assert findings(source), source


@given(target=IDENT, arch_in=st.sampled_from(("param", "kwonly", "keyword", "field", "get", "getattr")))
def test_the_scanner_flags_the_default_architecture_written_as_a_default(target: str, arch_in: str) -> None:
    a = repr(catalogue.DEFAULT_ARCH)
    source = {
        "param": f"def f({target}={a}):\n    return {target}\n",
        "kwonly": f"def f(*, {target}: str = {a}):\n    return {target}\n",
        "keyword": f"ap.add_argument('--{target}', default={a})\n",
        "field": f"class C:\n    {target}: str = {a}\n",
        "get": f"x = d.get({target!r}, {a})\n",
        "getattr": f"x = getattr(o, {target!r}, {a})\n",
    }[arch_in]
    assert findings(source), source


@given(
    kind=KIND,
    target=IDENT,
    use=st.sampled_from(("assign", "call", "compare", "default", "pair")),
    data=st.data(),
)
def test_a_single_use_is_not_flagged(kind: str, target: str, use: str, data: st.DataObject) -> None:
    """One name, used once (a test choosing an image, an adapter's own name), declares nothing; nor does a
    collection mixing one catalogue name with other words."""
    name = data.draw(st.sampled_from(sorted(KINDS[kind])))
    others = set().union(*(known for k, known in KINDS.items() if k != kind)) | {"x", "other"}
    other = data.draw(st.sampled_from(sorted(others)))
    source = {
        "assign": f"{target} = {name!r}\n",
        "call": f"build({name!r}, model={target!r})\n",
        "compare": f"def f({target}):\n    return {target} == {name!r} or {target} == {other!r}\n",
        "default": f"def f({target}={name!r}):\n    return {target}\n"
        if name != catalogue.DEFAULT_ARCH
        else f"{target} = catalogue.DEFAULT_ARCH\n",
        "pair": f"{target} = ({name!r}, {other!r}, 'x')\n",
    }[use]
    assert not findings(source), source


# --------------------------------------------------------------------------------------- template.yaml
def test_template_per_kind_blocks_are_the_catalogue_s() -> None:
    """template.yaml's per-kind blocks are what images/template.py writes from IMAGES (regenerate them
    with `python -m images.template --write`), and its architectures are the catalogue's."""
    from images import template

    text = template.TEMPLATE.read_text()
    assert template.render(text) == text, "template.yaml: run `python -m images.template --write`"
    arch = text[text.index("\n  Architecture:\n") :].split("\n  Threads:")[0]
    assert f"Default: {catalogue.DEFAULT_ARCH}\n" in arch
    assert f"AllowedValues: [{', '.join(catalogue.ARCH_NAMES)}]" in arch


@given(kinds=st.lists(st.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,5})?", fullmatch=True), unique=True))
def test_template_blocks_follow_the_kinds(kinds: list[str]) -> None:
    """Every kind gets its parameter, conditions, function, URL, permissions and outputs, and no other."""
    from images import template
    from images.sam import logical_prefix

    specs = [catalogue.ImageSpec(k, f"Dockerfile.{k}", "r.txt", "3.13", "null", "numpy") for k in kinds]
    prefixes = {logical_prefix(k) for k in kinds}
    if len(prefixes) < len(kinds):  # two kinds would write the same resources (a0, a-0)
        with pytest.raises(ValueError, match="share template.yaml's name stem"):
            template.blocks(template.SECTIONS[0], specs)
        return
    text = "".join(template.blocks(section, specs) for section in template.SECTIONS)
    for p in prefixes:
        for name in ("ImageTag", "Function", "FunctionUrl", "PublicUrlPermission", "FunctionArn"):
            assert f"  {p}{name}:\n" in text
        assert f"  Has{p}: " in text and f"  {p}PublicUrl: " in text
    assert text.count("Type: AWS::Serverless::Function\n") == len(prefixes)


# --------------------------------------------------------------------------------------------- tests/
# Tests choose cells: a parametrize list of (image, variant) pairs, a comparison, one name per call are
# choices among the catalogue's names. They may not re-declare what the catalogue holds, which would go
# stale (or pass vacuously) when an entry is added:
#
# * a mapping keyed by its names (a dict literal with two or more names of one kind as keys);
# * one of its pairs written out: a name beside the value the catalogue gives it (an image kind and its
#   library, runtime or Dockerfile; a runtime and its library or a variant's path; a variant and its path;
#   a library and a distribution; an architecture and its dpkg/uname/OCI name) in one tuple, list or dict
#   entry;
# * one of its lists in full: every image kind, every runtime or every architecture in one literal.
def _pairs() -> frozenset[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for s in catalogue.IMAGES.values():
        out |= {(s.name, s.library), (s.name, s.dockerfile), (s.name, s.requirements), (s.runtime, s.library)}
        out |= {(s.name, s.runtime)} if s.name != s.runtime else set()
    for v in catalogue.VARIANTS:
        out |= {(v.runtime, v.path), (v.name, v.path)} if v.path != v.name else set()
    for lib in catalogue.LIBRARIES.values():
        out |= {(lib.name, d) for d in lib.dists if d != lib.name}
    for a in catalogue.ARCHS.values():
        out |= {(a.name, x) for x in (a.debian, a.machine, a.oci) if x != a.name}
    return frozenset(out)


PAIRS = _pairs()
#: the catalogue's lists a test may not write out in full
FULL_LISTS = {
    "image kind": frozenset(catalogue.IMAGE_KINDS),
    "runtime": frozenset(catalogue.RUNTIMES),
    "architecture": frozenset(catalogue.ARCH_NAMES),
}
ALL_NAMES = frozenset().union(*KINDS.values())


def _strings(nodes: Sequence[ast.expr | None]) -> list[str]:
    return [n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _test_what(node: ast.AST) -> str:
    if isinstance(node, ast.Dict) and (kind := _enumerates(set(_strings(node.keys)))):
        return f"maps {kind} names (the catalogue holds that mapping)"
    groups: list[list[str]] = []
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        groups.append(_strings(node.elts))
    if isinstance(node, ast.Dict):
        groups += [_strings([k, v]) for k, v in zip(node.keys, node.values, strict=True)]
    for words in groups:
        pair = next(((a, b) for a in words for b in words if (a, b) in PAIRS), None)
        if pair:
            return f"writes the catalogue's pair {pair[0]!r} -> {pair[1]!r} (read it from core.catalogue)"
    words = _strings(node.elts) if isinstance(node, ast.Tuple | ast.List | ast.Set) else []
    if len(words) == len(getattr(node, "elts", ())) > 1 and set(words) <= ALL_NAMES:  # names only, no record
        full = next((k for k, known in FULL_LISTS.items() if known <= set(words)), None)
        if full:
            return f"lists every {full} (iterate the catalogue's)"
    return ""


def test_findings(source: str, filename: str = "<test>") -> list[tuple[str, int, str]]:
    """(top-level name, line, what) for every place a test re-declares a mapping or list of the catalogue."""
    out: list[tuple[str, int, str]] = []
    for statement in ast.parse(source, filename).body:
        for node in ast.walk(statement):
            if what := _test_what(node):
                out.append((_owner(statement), getattr(node, "lineno", statement.lineno), what))
    return out


test_findings.__test__ = False  # type: ignore[attr-defined]  # a scanner, not a test


_FIXTURE = "fixture rows in the catalogue's shape, written out; to read the catalogue (its owner's change)"
#: Test code that stays, by (file, top-level name), each with the reason.
TESTS_ALLOWED: dict[tuple[str, str], str] = {
    ("tests/unit/test_catalogue.py", "test_catalogue_drives_images_and_defaults"): "the catalogue's own "
    "test: it states an expected entry to check what the catalogue derives from its declarations",
    (
        "tests/integration/test_deploy.py",
        "test_managed_instances_requests_pass_the_sdks_validation",
    ): _FIXTURE,
    ("tests/integration/test_eval.py", "test_int8_onnx_artefacts_pass_their_gate"): _FIXTURE,
    ("tests/integration/test_report.py", "KINDS"): _FIXTURE,
    ("tests/integration/test_report.py", "write_accuracy"): _FIXTURE,
    ("tests/integration/test_runtimes.py", "DISTS"): _FIXTURE,
    ("tests/integration/test_runtimes.py", "test_runtime_agrees_with_tf"): _FIXTURE,
    ("tests/integration/test_runtimes.py", "test_adapter_imports_only_its_library"): _FIXTURE,
    ("tests/unit/test_accuracy_join.py", "_acc"): _FIXTURE,
    ("tests/unit/test_accuracy_join.py", "test_a_gate_re_judged_on_the_same_bytes_decides"): _FIXTURE,
    ("tests/unit/test_coldpath.py", "test_adapter_version_reads_no_package_metadata"): _FIXTURE,
}


def test_modules() -> Iterator[Path]:
    yield from sorted((ROOT / "tests").rglob("*.py"))


test_modules.__test__ = False  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", list(test_modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_test_re_declares_a_mapping_or_list_of_the_catalogue(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    found = [f"{rel}:{line}: {what} ({owner})" for owner, line, what in test_findings(path.read_text(), rel)
             if (rel, owner) not in TESTS_ALLOWED]  # fmt: skip
    assert not found, "\n".join([*found, "tests choose cells; the catalogue's mappings and lists are read"])


def test_every_test_allowance_is_still_needed() -> None:
    for (rel, owner), reason in TESTS_ALLOWED.items():
        owners = {o for o, _, _ in test_findings((ROOT / rel).read_text(), rel)}
        assert reason and owner in owners, f"{rel} {owner} is allowed but re-declares nothing: delete it"


@given(kind=st.sampled_from(sorted(FULL_LISTS)), shape=st.sampled_from(["mapping", "pair", "full"]))
def test_the_tests_scanner_flags_a_mapping_a_pair_and_a_full_list(kind: str, shape: str) -> None:
    """Its three shapes are flagged; a choice of cells (a subset, (kind, variant) pairs, one name) is not."""
    names = sorted(FULL_LISTS[kind])
    a, b = sorted(PAIRS)[len(names) % len(PAIRS)]
    source = {
        "mapping": f"M = {{{', '.join(f'{n!r}: {i}' for i, n in enumerate(names))}}}\n",
        "pair": f"@pytest.mark.parametrize('x,y', [({a!r}, {b!r})])\ndef test_f(x, y):\n    pass\n",
        "full": f"CASES = {names!r}\n",
    }[shape]
    assert test_findings(source), source
    cells = [(s.name, next(iter(s.variants))) for s in catalogue.IMAGES.values()][:1]
    chosen = f"@pytest.mark.parametrize('image,variant', {cells!r})\ndef test_f(image, variant):\n    pass\n"
    assert not test_findings(chosen + f"x = {names[0]!r}\nT = ('x', 'm', {names[0]!r}, {names[-1]!r})\n")


# ------------------------------------------------------------------------------ files that are not Python
# The Makefile, the Dockerfiles, the shell scripts and template.yaml cannot import the catalogue. On their
# code lines (comments, template.yaml's generated blocks and its Description prose left out) a catalogue
# name may appear only where a check ties it to the catalogue:
#
# * a line that is the catalogue's own content rendered (``CHECKED``: the line changes when the catalogue
#   does, so a stale one is flagged), or
# * a variable set to a catalogue name (``IMAGE ?= tflite``, ``ARG MODEL_VARIANT=float32``, ``MODEL_RUNTIME:
#   tflite``) that ``BINDINGS`` checks against the catalogue.
#
# Anything else is a finding: two or more names of one kind on one line (an enumeration), the default
# architecture written by hand, or a variable given a catalogue name that nothing checks.
TEXT_SKIP_DIRS = frozenset({".git", ".venv", "build", "node_modules", "__pycache__"})


def text_files() -> Iterator[Path]:
    yield ROOT / "Makefile"
    yield ROOT / "template.yaml"
    yield from sorted(ROOT.glob("Dockerfile.*"))
    yield from sorted(p for p in ROOT.rglob("*.sh") if not TEXT_SKIP_DIRS & set(p.relative_to(ROOT).parts))


def _template_checked() -> set[str]:
    from images import template

    out = {f"Default: {catalogue.DEFAULT_ARCH}", f"AllowedValues: [{', '.join(catalogue.ARCH_NAMES)}]"}
    out |= {f"CompatibleArchitectures: [{a}]" for a in catalogue.ARCH_NAMES}  # test_sam_params._layer
    forms = [f for f in catalogue.PACKAGING_FORMS.values() if not f.from_image]
    out |= {f"MODEL_RUNTIME: {catalogue.runtime_of(k)}" for f in forms for k in f.kinds}  # test_sam_params
    assert template.FORM_SECTIONS  # its generated blocks are skipped: render() == text is their check
    return out


def _bindings() -> dict[tuple[str, str], str]:
    """(file, variable) -> the test that checks its value against the catalogue."""
    docker = "test_dockerfile_defaults_are_its_first_image_s"
    out = {("Makefile", v): "test_makefile_defaults_are_the_catalogue_s" for v in MAKE_DEFAULTS}
    for d in {s.dockerfile for s in catalogue.IMAGES.values()}:
        out |= {(d, "MODEL_VARIANT"): docker, (d, "MODEL_RUNTIME"): docker}
    return out


#: the Makefile's variables that hold a catalogue name, and what the catalogue says they may be
MAKE_DEFAULTS = ("DEFAULT_ARCH", "IMAGE", "VARIANT")
_ASSIGN = {
    "make": re.compile(r"^(?:export\s+)?([A-Za-z_]\w*)\s*[?:+]?=\s*(\S+)\s*$"),
    "docker": re.compile(r"(?:^(?:ARG|ENV)\s+|\s)([A-Za-z_]\w*)=(\S+)"),
    "sh": re.compile(r"(?:^|[\s;{])([A-Za-z_]\w*)(?:=|:?-)([\w.-]+)"),
    "yaml": re.compile(r"^\s*([A-Za-z_]\w*):\s*([^\s\[{!]\S*)\s*$"),
}
_TOKEN = re.compile(r"(?<![\w./$-])[a-z0-9_]+(?:-[a-z0-9_]+)*(?![\w./-])")


def _syntax(path: Path) -> str:
    name = path.name
    return "make" if name == "Makefile" else "docker" if name.startswith("Dockerfile") else path.suffix[1:]


def _code_lines(text: str, syntax: str) -> Iterator[tuple[int, str]]:
    """(line number, code) with comments, template.yaml's generated blocks and its Description prose out."""
    generated, prose = False, -1
    for n, line in enumerate(text.replace("\\\n", "  \n").splitlines(), 1):
        if syntax == "yaml":
            if "# --- " in line and ": generated by `python -m images.template" in line:
                generated = True
            elif "# --- end of " in line:
                generated = False
                continue
            indent = len(line) - len(line.lstrip())
            if prose >= 0 and (indent > prose or not line.strip()):
                continue
            prose = indent if line.lstrip().startswith("Description:") else -1
            if generated or prose >= 0:
                continue
        code = re.sub(r"(^|\s)#.*", "", line).rstrip()
        if code.strip():
            yield n, code


def text_findings(text: str, rel: str) -> list[str]:
    """``file:line: what`` for every catalogue name on a code line of a non-Python file no check covers."""
    syntax = _syntax(Path(rel))
    checked = _template_checked() if rel == "template.yaml" else set()
    bindings = _bindings()
    out = []
    for n, code in _code_lines(text, syntax):
        if code.strip() in checked:
            continue
        bound = {var for var, value in _ASSIGN[syntax].findall(code) if value in ALL_NAMES}
        for var in sorted(bound - {v for f, v in bindings if f == rel}):
            out.append(f"{rel}:{n}: sets {var} to a catalogue name that no test checks (add it to BINDINGS)")
        if bound:
            continue
        names = set(_TOKEN.findall(code)) & ALL_NAMES
        if kind := _enumerates(names):
            out.append(f"{rel}:{n}: enumerates {kind} names ({code.strip()})")
        elif catalogue.DEFAULT_ARCH in names:
            out.append(f"{rel}:{n}: writes {catalogue.DEFAULT_ARCH} by hand ({code.strip()})")
    return out


@pytest.mark.parametrize("path", list(text_files()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_makefile_dockerfile_script_or_template_line_declares_catalogue_names(path: Path) -> None:
    found = text_findings(path.read_text(), str(path.relative_to(ROOT)))
    assert not found, "\n".join([*found, "fix: derive it (a generated block, a make variable) or check it"])


def _make_vars() -> dict[str, str]:
    text = (ROOT / "Makefile").read_text()
    return {m[1]: m[2] for line in text.splitlines() if (m := _ASSIGN["make"].match(line))}


def test_makefile_defaults_are_the_catalogue_s() -> None:
    """`make build`'s defaults build a cell the catalogue declares, on its default architecture."""
    v = _make_vars()
    assert v["DEFAULT_ARCH"] == catalogue.DEFAULT_ARCH and v["ARCH"] == "$(DEFAULT_ARCH)"
    assert v["IMAGE"] in catalogue.IMAGES, v["IMAGE"]
    assert v["VARIANT"] in catalogue.IMAGES[v["IMAGE"]].default_variants, v["VARIANT"]


def test_every_binding_is_still_set() -> None:
    """Each BINDINGS entry names a variable its file still sets to a catalogue name."""
    for rel, var in _bindings():
        text = (ROOT / rel).read_text()
        syntax = _syntax(Path(rel))
        values = {
            v for _, code in _code_lines(text, syntax) for k, v in _ASSIGN[syntax].findall(code) if k == var
        }
        assert values & ALL_NAMES, f"{rel} no longer sets {var} to a catalogue name: delete its binding"


@given(
    syntax=st.sampled_from(["Makefile", "Dockerfile.x", "x.sh", "template.yaml"]),
    kind=KIND,
    data=st.data(),
)
def test_the_text_scanner_flags_enumerations_defaults_and_unchecked_bindings(
    syntax: str, kind: str, data: st.DataObject
) -> None:
    names = data.draw(_pick(kind, 2))
    line = {
        "Makefile": f"\tfor k in {' '.join(names)}; do echo $$k; done\n",
        "Dockerfile.x": f"RUN for k in {' '.join(names)}; do echo $k; done\n",
        "x.sh": f'for k in {" ".join(names)}; do echo "$k"; done\n',
        "template.yaml": f"  Key: !Equals [{', '.join(names)}]\n",
    }[syntax]
    assert text_findings(line, syntax), line
    var = data.draw(st.from_regex(r"[A-Z][A-Z_]{0,8}", fullmatch=True))
    bound = {
        "Makefile": f"{var} ?= {names[0]}\n",
        "Dockerfile.x": f"ARG {var}={names[0]}\n",
        "x.sh": f"{var}=${{{var}:-{names[0]}}}\n",
        "template.yaml": f"  {var}: {names[0]}\n",
    }[syntax]
    assert text_findings(bound, syntax), bound
    quiet = f"# {' '.join(names)}\n" + ("  Description: " if syntax == "template.yaml" else "# ") + names[0]
    assert not text_findings(quiet + "\n", syntax)
