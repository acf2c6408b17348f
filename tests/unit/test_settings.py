"""core/settings.py: one parser per environment variable, one set of true-words, the docs' table in sync."""

from __future__ import annotations

import ast
import ipaddress
import re
from pathlib import Path

import pytest

from core import settings
from core.paths import ROOT
from core.settings import SettingError, read

#: Read by boto3 / the AWS chain or set by the platform for its own use, not project settings.
NOT_OURS = re.compile(r"^(AWS_(?!LAMBDA_FUNCTION_MEMORY_SIZE$)|DOCKER_|SAM_|PATH$|HOME$|TF_CPP|CUDA_)")
ENV_CALLS = {"get", "getenv", "read", "_num", "setdefault", "pop"}
#: Set by the project on a function, never read from ours (bench/measure/targets/aws.py forces cold starts
#: with it).
WRITTEN_NOT_READ = {"BENCH_COLD_TOKEN"}


def env_names_read_by_the_project() -> set[str]:
    """Upper-case string constants passed to an environment read (os.environ.get/[...], getenv, read,
    env.get, limits' _num) or assigned to a *_ENV / ENV_VAR constant, in every shipped and tool module."""
    names: set[str] = set()
    files = [ROOT / "lambda_function.py"]
    for pkg in ("core", "runtimes", "models", "images", "bench", "deploy", "infra"):
        files += sorted((ROOT / pkg).rglob("*.py"))
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            consts: list[ast.expr] = []
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                if name in ENV_CALLS:
                    consts = list(node.args[:2])
            elif isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value):
                consts = [node.slice]
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and (t.id.endswith("_ENV") or t.id == "ENV_VAR") for t in node.targets
            ):
                consts = [node.value]
            for c in consts:
                if (
                    isinstance(c, ast.Constant)
                    and isinstance(c.value, str)
                    and re.fullmatch(r"[A-Z][A-Z0-9_]+", c.value)
                ):
                    names.add(c.value)
    return {n for n in names if not NOT_OURS.match(n)} - WRITTEN_NOT_READ


def test_every_variable_the_code_reads_is_registered() -> None:
    missing = env_names_read_by_the_project() - set(settings.VARS)
    assert not missing, f"read but not in core/settings.py VARS (no parser, no docs row): {sorted(missing)}"


def test_docs_table_is_generated_from_the_registry() -> None:
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    assert settings.TABLE_START in doc, "docs/ARCHITECTURE.md lost its settings table markers"
    assert settings.with_table(doc) == doc, (
        "settings table drifted: run `python -m core.settings --write docs/ARCHITECTURE.md`"
    )


def test_one_set_of_true_words() -> None:
    for word in ("1", "true", "YES", "On"):
        assert read("BENCH_AWS", False, {"BENCH_AWS": word}) is True
    for word in ("0", "false", "No", "OFF"):
        assert read("BENCH_SOAK", True, {"BENCH_SOAK": word}) is False
    with pytest.raises(SettingError, match="BENCH_AWS must be one of"):
        read("BENCH_AWS", False, {"BENCH_AWS": "maybe"})


def test_parsers_default_and_errors_name_the_variable() -> None:
    assert read("BENCH_COLD_N", 10, {}) == 10 and read("BENCH_COLD_N", 10, {"BENCH_COLD_N": "  "}) == 10
    assert read("BENCH_WARMUP", 5, {"BENCH_WARMUP": "0"}) == 0
    with pytest.raises(SettingError, match="BENCH_REPEATS must be >= 1, got '0'"):
        read("BENCH_REPEATS", 1, {"BENCH_REPEATS": "0"})
    with pytest.raises(SettingError, match="MAX_BODY_BYTES must be an integer"):
        read("MAX_BODY_BYTES", 1, {"MAX_BODY_BYTES": "6MB"})
    assert read("BENCH_MEMORY_MB", (), {"BENCH_MEMORY_MB": "1024, 1769,"}) == (1024, 1769)
    with pytest.raises(SettingError, match="BENCH_MEMORY_MB"):
        read("BENCH_MEMORY_MB", (), {"BENCH_MEMORY_MB": "64"})
    with pytest.raises(SettingError, match="BENCH_COLD_FRACTION"):
        read("BENCH_COLD_FRACTION", 0.01, {"BENCH_COLD_FRACTION": "nan"})
    assert read("ALLOW_URL_CIDRS", (), {"ALLOW_URL_CIDRS": "10.0.0.0/8,::1"}) == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1"),
    )
    assert read("HANDLER_META", "direct", {"HANDLER_META": "ALL"}) == "all"
    with pytest.raises(KeyError):
        read("NOT_A_SETTING", 1, {})


def test_bench_config_reads_through_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.measure.settings import Settings

    monkeypatch.setenv("BENCH_QUICK", "yes")
    monkeypatch.setenv("BENCH_THREADS", "2,4")
    cfg = Settings.from_env()
    assert cfg.quick and cfg.cold_n == 2 and cfg.memory_mb == (1769,) and cfg.threads == (2, 4)


def test_null_runtime_reads_the_card_the_handler_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MODEL_CARD elsewhere than beside MODEL_PATH: the null adapter's class count follows it too."""
    import json

    from runtimes import null

    card = tmp_path / "elsewhere.json"
    card.write_text(
        json.dumps({"classes": ["a", "b", "c"], "input_px": 8, "preprocessing": "xception-tf-nearest"})
    )
    monkeypatch.setenv("MODEL_CARD", str(card))
    adapter = null.Adapter()
    adapter.load(str(tmp_path / "model"), 1)
    assert adapter.n_classes == 3


def test_model_runtime_choices_are_the_catalogue_s() -> None:
    """MODEL_RUNTIME accepts exactly core/catalogue.py's runtimes."""
    from core import catalogue

    var = settings.VARS["MODEL_RUNTIME"]
    for name in catalogue.RUNTIMES:
        assert var.get(None, {"MODEL_RUNTIME": name.upper()}) == name
    with pytest.raises(SettingError, match="MODEL_RUNTIME"):
        var.get(None, {"MODEL_RUNTIME": "tflite-runtime"})  # an image kind, not a runtime
