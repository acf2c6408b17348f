"""The cold path of an ``image_b64`` invoke imports only what that request needs, each with a reason.

Why a fresh interpreter: the test process has imported pytest, PIL, numpy and more, which would hide
exactly the modules this test is about. The probe (scripts/coldpath_probe.py) snapshots ``sys.modules``
before ``import lambda_function`` and after one null-runtime invoke; the difference is the cold path.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.support import coldpath_allowlist as allow

HERE = Path(__file__).resolve().parents[2]
PROBE = HERE / "scripts" / "coldpath_probe.py"
#: the handler tree under test; COLDPATH_REPO points it at another checkout (main's, to see it fail)
REPO = Path(os.environ.get("COLDPATH_REPO") or HERE)


def _jpeg_b64() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def cold_path(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    d = tmp_path_factory.mktemp("coldpath")
    (d / "card.json").write_text((REPO / "models" / "reference" / "card.json").read_text())
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MODEL_", "AWS_LAMBDA", "HANDLER_", "PYTHON"))
    }
    env.update(
        MODEL_RUNTIME="null",
        MODEL_PATH=str(d / "card.json"),
        MODEL_SHA256="0" * 64,  # as every image has it (images/build.py bakes it in)
        COLDPATH_IMAGE_B64=_jpeg_b64(),
        COLDPATH_ROOT=str(REPO),
    )
    proc = subprocess.run(
        [sys.executable, str(PROBE)], cwd=d, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["top"] is not None  # the invoke answered
    return out["new"]


def test_every_cold_path_module_has_a_reason(cold_path: list[str]) -> None:
    unexplained = [m for m in cold_path if allow.reason(m) is None]
    assert not unexplained, (
        "modules on the image_b64 cold path without a reason in tests/support/coldpath_allowlist.py "
        f"(import them where they are used, or record why every request needs them): {unexplained}"
    )


def test_forbidden_modules_stay_off_the_cold_path(cold_path: list[str]) -> None:
    hits = [m for m in cold_path if any(allow.matches(m, p) for p in allow.FORBIDDEN)]
    assert not hits, f"the image_b64 cold path loaded {hits} (URL fetch stack, test/CLI-only code)"


def test_every_allowlist_entry_is_still_on_the_cold_path(cold_path: list[str]) -> None:
    """A reason that no longer holds is an entry to delete: the list stays what the path is."""
    stale = [
        p
        for p in allow.ALLOWED
        if p not in allow.OTHER_PYTHON and not any(allow.matches(m, p) for m in cold_path)
    ]
    assert not stale, f"allowlisted but not on the cold path any more (delete them): {stale}"


@pytest.mark.parametrize(
    ("runtime", "module"), [("tflite", "ai_edge_litert.interpreter"), ("onnx", "onnxruntime")]
)
def test_adapter_version_reads_no_package_metadata(runtime: str, module: str) -> None:
    """The handler asks its adapter for the library's version at INIT; importlib.metadata (email,
    zipfile, pathlib and a scan of sys.path) would cost more there than a small model's load."""
    pytest.importorskip(module)
    code = (
        "import sys, importlib; sys.path.insert(0, sys.argv[1]); "
        f"importlib.import_module({module!r}); from runtimes import base; "
        f"a = base.get({runtime!r}); a.library = {module.split('.')[0]!r}; v = a.version(); "
        "print(v, 'importlib.metadata' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(REPO)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    version, loaded = proc.stdout.split()[-2:]
    assert loaded == "False", f"{runtime}.version() imported importlib.metadata"
    from runtimes.base import dist_version

    assert version == dist_version(module.split(".")[0].replace("_", "-")), version


def test_allowlist_does_not_open_what_is_forbidden() -> None:
    for pattern in allow.ALLOWED:
        name = pattern.removesuffix(".*")
        assert not any(allow.matches(name, p) for p in allow.FORBIDDEN), pattern
    assert all(why.strip() for why in allow.ALLOWED.values())


def test_url_stack_loads_on_first_use() -> None:
    """The lazily imported fetch stack still works: parsing a URL needs only the light part of it."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from runtimes import fetch; "
        "assert 'http.client' not in sys.modules and 'ssl' not in sys.modules; "
        "fetch._pinned_classes(); assert 'http.client' in sys.modules; "
        "print(fetch.parse_url('https://example.com/a b.jpg').path)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(REPO)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "/a%20b.jpg"
