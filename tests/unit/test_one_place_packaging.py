"""Packaging forms (image, zip + layer, ...) are declared once, in core/catalogue.py, and chosen by lookup.

An ast scan over the project's source (the modules tests/unit/test_layers.py checks) fails when code
outside the catalogue re-declares the forms or picks one by comparing its name. "image" also means other
things here (a CSV column, docker's subcommand, a MIME type), so only the shapes that decide or list a form
count as packaging by name:

* a comparison: ``x == "zip"``, ``"image" != x``, ``x in ("zip", ...)`` (a collection literal on the right);
* a re-declaration: a collection literal (tuple, list, set, a dict's keys, tuple keys included) naming two
  or more forms, as ``PACKAGES = ("image", "zip")`` or a price table keyed ``("image", arch)``,
  ``("zip", arch)``;
* a form's name given to a name that holds a form (``package``, ``packaging``, ``image_kind``, ``kind``): an
  assignment, a keyword argument or a parameter default;
* recognition by a name fragment: ``startswith``/``endswith``/``removeprefix``/``removesuffix`` with a
  literal one of whose ``-_.:`` separated parts is a form's name (``"lambda-zip"``, ``"test_zip"``).

Legitimate uses are lookups (``PACKAGING_FORMS[name]``, ``PACKAGINGS[s.package]``, a registry entry bound
once by ``PACKAGING_FORMS["zip"]``) and reading a form's fields. Property-based tests generate both and
check the scanner tells them apart.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import catalogue
from core.paths import ROOT

FORMS = frozenset(catalogue.PACKAGING_NAMES)
CATALOGUE = ROOT / "core" / "catalogue.py"
HOLDERS = re.compile(r"(?i)(^|_)(package|packaging|image_kind|kind)$")
AFFIX_METHODS = frozenset({"startswith", "endswith", "removeprefix", "removesuffix"})
COMPARE_OPS = (ast.Eq, ast.NotEq, ast.Is, ast.IsNot)


def _form(node: ast.AST | None) -> str | None:
    """The form a string literal names, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in FORMS:
        return node.value
    return None


def _named_in(node: ast.AST | None) -> set[str]:
    """Forms named by a literal or a collection literal (its elements, a dict's keys, tuple keys)."""
    if node is None:
        return set()
    if (name := _form(node)) is not None:
        return {name}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return set().union(*(_named_in(e) for e in node.elts))
    if isinstance(node, ast.Dict):
        return set().union(*(_named_in(k) for k in node.keys))
    return set()


def _target_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _compares(node: ast.Compare) -> bool:
    sides = [node.left, *node.comparators]
    for op, left, right in zip(node.ops, sides, sides[1:], strict=False):
        if isinstance(op, COMPARE_OPS) and (_form(left) or _form(right)):
            return True
        if isinstance(op, ast.In | ast.NotIn) and isinstance(right, ast.Tuple | ast.List | ast.Set):
            if _named_in(right):
                return True
    return False


def _holds_a_form(node: ast.AST) -> bool:
    """A form's name given to a name that holds a form: assignment, keyword argument, parameter default."""
    if isinstance(node, ast.Assign):
        return bool(_form(node.value)) and any(HOLDERS.search(_target_name(t)) for t in node.targets)
    if isinstance(node, ast.AnnAssign):
        return bool(_form(node.value)) and bool(HOLDERS.search(_target_name(node.target)))
    if isinstance(node, ast.keyword):
        return bool(_form(node.value)) and bool(HOLDERS.search(node.arg or ""))
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        a = node.args
        args = [*a.posonlyargs, *a.args]
        pairs = list(zip(args[len(args) - len(a.defaults) :], a.defaults, strict=True))
        pairs += [(k, d) for k, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is not None]
        return any(_form(d) and HOLDERS.search(arg.arg) for arg, d in pairs)
    return False


def _affix(node: ast.Call) -> bool:
    if not (isinstance(node.func, ast.Attribute) and node.func.attr in AFFIX_METHODS):
        return False
    for arg in node.args:
        literals = arg.elts if isinstance(arg, ast.Tuple) else [arg]
        for lit in literals:
            if isinstance(lit, ast.Constant) and isinstance(lit.value, str):
                if FORMS & set(re.split(r"[-_.:]", lit.value)):
                    return True
    return False


def findings(source: str, filename: str = "<source>") -> list[str]:
    """``file:line: what`` for every place ``source`` declares or compares a packaging form by name."""
    out: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        what = ""
        if isinstance(node, ast.Compare) and _compares(node):
            what = "compares a packaging form's name"
        elif isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict) and len(_named_in(node)) >= 2:
            what = "declares packaging forms by name"
        elif _holds_a_form(node):
            what = "sets a packaging form by its name"
        elif isinstance(node, ast.Call) and _affix(node):
            what = "recognises a packaging form by a name fragment"
        if what:
            out.append(f"{filename}:{getattr(node, 'lineno', '?')}: {what}")
    return out


def modules() -> Iterator[Path]:
    """The project's source, as tests/unit/test_layers.py reads it, but the catalogue."""
    yield ROOT / "lambda_function.py"
    for pkg in ("bench", "core", "deploy", "images", "infra", "models", "runtimes"):
        yield from (p for p in sorted((ROOT / pkg).rglob("*.py")) if p != CATALOGUE)


@pytest.mark.parametrize("path", list(modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_packaging_form_is_declared_or_compared_by_name(path: Path) -> None:
    found = findings(path.read_text(), str(path.relative_to(ROOT)))
    assert not found, "\n".join(
        [*found, "fix: read core.catalogue.PACKAGING_FORMS (a form's fields) or look a form up by name"]
    )


def test_the_catalogue_declares_each_form_once() -> None:
    """Each name is written once, in the catalogue's packaging section (every other use reads it)."""
    text = CATALOGUE.read_text()
    section = text[text.index("class PackagingForm") :]  # the section runs to the end of the file
    named = [name for n in ast.walk(ast.parse(section)) if (name := _form(n)) is not None]
    assert sorted(named) == sorted(FORMS), named


def test_every_form_is_registered_in_deploy_and_images() -> None:
    """One class per catalogue entry in each registry, bound to that entry (no registry of its own)."""
    from deploy.packaging import PACKAGINGS
    from images.forms import FORMS as BUILDS

    assert list(PACKAGINGS) == list(BUILDS) == list(catalogue.PACKAGING_FORMS)
    for name, cls in PACKAGINGS.items():
        assert cls.form is catalogue.PACKAGING_FORMS[name]
    for name, build in BUILDS.items():
        assert build.form is catalogue.PACKAGING_FORMS[name]


# -- the scanner itself, over generated code -----------------------------------------------------------
IDENT = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True).filter(lambda s: not keyword.iskeyword(s))
FORM = st.sampled_from(sorted(FORMS))
HOLDER = st.sampled_from(["package", "packaging", "image_kind", "kind", "s.package", "self.packaging"])


@st.composite
def comparisons(draw: st.DrawFn) -> str:
    x, form = draw(IDENT), draw(FORM)
    op = draw(st.sampled_from(["==", "!=", "is", "is not"]))
    left, right = (repr(form), x) if draw(st.booleans()) else (x, repr(form))
    shape = draw(st.sampled_from(["if", "ternary", "in", "assert"]))
    if shape == "in":
        others = draw(st.lists(st.text("abcxyz", min_size=1, max_size=4), max_size=3))
        items = ", ".join(repr(v) for v in draw(st.permutations([form, *others])))
        coll = draw(st.sampled_from(["({},)", "[{}]", "{{{}}}"])).format(items)
        return f"if {x} {draw(st.sampled_from(['in', 'not in']))} {coll}:\n    pass\n"
    cond = f"{left} {op} {right}"
    return {
        "if": f"if {cond}:\n    pass\n",
        "ternary": f"y = 1 if {cond} else 2\n",
        "assert": f"assert {cond}\n",
    }[shape]


@st.composite
def redeclarations(draw: st.DrawFn) -> str:
    names = draw(st.permutations(sorted(FORMS)))
    extra = draw(st.lists(st.sampled_from(["x86_64", "arm64", "other"]), max_size=2))
    shape = draw(st.sampled_from(["tuple", "list", "set", "dict", "tuple-keys"]))
    target = draw(IDENT).upper()
    if shape == "dict":
        return f"{target} = {{{', '.join(f'{n!r}: {i}' for i, n in enumerate([*names, *extra]))}}}\n"
    if shape == "tuple-keys":
        return (
            f"{target} = {{{', '.join(f'({n!r}, {a!r}): 1' for n in names for a in extra or ['x86_64'])}}}\n"
        )
    items = ", ".join(repr(v) for v in [*names, *extra])
    return f"{target} = {dict(tuple='({},)', list='[{}]', set='{{{}}}')[shape].format(items)}\n"


@st.composite
def settings_by_name(draw: st.DrawFn) -> str:
    form, holder = draw(FORM), draw(HOLDER)
    shape = draw(st.sampled_from(["assign", "annotated", "keyword", "default", "kwonly", "affix"]))
    bare = holder.rsplit(".", 1)[-1]
    if shape == "affix":
        method = draw(st.sampled_from(sorted(AFFIX_METHODS)))
        lit = draw(st.sampled_from(["{}", "lambda-{}", "test_{}", "{}-local", "x.{}"])).format(form)
        return f"y = {draw(IDENT)}.{method}({lit!r})\n"
    return {
        "assign": f"{holder} = {form!r}\n",
        "annotated": f"{bare}: str = {form!r}\n",
        "keyword": f"f({draw(IDENT)}, {bare}={form!r})\n",
        "default": f"def f(a, {bare}: str = {form!r}):\n    pass\n",
        "kwonly": f"def f(*, {bare}={form!r}):\n    pass\n",
    }[shape]


@given(comparisons())
def test_scanner_flags_a_comparison_by_name(source: str) -> None:
    assert findings(source), source


@given(redeclarations())
def test_scanner_flags_a_redeclaration_of_the_forms(source: str) -> None:
    assert findings(source), source


@given(settings_by_name())
def test_scanner_flags_a_form_set_or_recognised_by_name(source: str) -> None:
    assert findings(source), source


@st.composite
def legitimate_uses(draw: st.DrawFn) -> str:
    """One lookup or field read, or a use of a form's word that means something else ("image" the
    column, docker's subcommand, a MIME type, a key test)."""
    x, form = draw(IDENT), draw(FORM)
    return draw(
        st.sampled_from(
            [
                f"FORM = catalogue.PACKAGING_FORMS[{form!r}]\n",
                f"cls = PACKAGINGS[{x}.package]\n",
                f"f = catalogue.packaging_form({x})\nok = f is not None and f.snapstart\n",
                f"if {x}.form.from_image:\n    pass\n",
                f"y = {x}[{form!r}]\n",
                f"y = {x}.get({form!r})\n",
                f"if {form!r} in {x}:\n    pass\n",
                f"docker({form!r}, 'inspect', {x})\n",
                f"for name in ({form!r}, 'image_kind', 'model'):\n    pass\n",
                f"ok = {x}.startswith('image/')\n",
                f"{x} = {{{form!r}: 1, 'memory_mb': 2}}\n",
                f"print({form!r})\n",
            ]
        )
    )


@given(legitimate_uses())
def test_scanner_does_not_flag_a_single_legitimate_use(source: str) -> None:
    assert findings(source) == [], source
