"""Every Lambda image under the real Runtime Interface Emulator, called over HTTP like the seed's test.py.

For each image (TF, TFLite variants, tflite-runtime, ONNX, null): the container answers the seed's
``{"url": ...}`` and the base64 form with the same top class as the same artefact run in-process on the
host; an API Gateway v2 event gets 200; every bad input gets its typed errorType and the container keeps
serving. ``url`` images come from a file-server container of our own on a docker network this module
creates; the Lambda container joins it with ALLOW_URL_CIDRS set to that network's subnet (tests only).
Traffic goes only to 127.0.0.1 published ports and to those containers. Images missing or stale are
built by the session fixture (images.build, docker layer cache), so `make build-all` first is optional.
"""

from __future__ import annotations

import base64
import csv
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.card import artefact_sha256
from core.catalogue import IMAGES
from core.paths import ROOT, model_dir
from images import build as imgbuild
from runtimes import weightcache
from tests.support.containers import (
    SESSION,
    TEST_LABEL,
    Lambda,
    dataset_dir,
    docker,
    ensure_image,
    require_docker,
    sample_images,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]
require_docker()
#: every image kind with its first variant: the probes below run on each kind the catalogue declares
EVERY_KIND = [(kind, next(iter(spec.variants))) for kind, spec in IMAGES.items()]

# --- in-process reference --------------------------------------------------------------------------------

_REF: dict[tuple[str, str], tuple[list[str], np.ndarray]] = {}


def inprocess(image: str, variant: str, model: str, paths: list[Path]) -> tuple[list[str], np.ndarray]:
    """(classes, logits) of the same artefact run on the host with the project's runtimes.

    tflite-runtime 2.14 has no host wheel for this python; its artefact is compared with the host's
    TFLite adapter (LiteRT), which must agree on the top class."""
    from core.card import read_card
    from runtimes import base, preprocess

    key = (image, variant)
    if key not in _REF:
        spec = IMAGES[image]
        folder = model_dir(model)
        card = read_card(folder / "card.json")
        adapter = base.get(spec.runtime)
        adapter.load(str(folder / spec.variants[variant]), 1)
        batch = np.stack([preprocess.load_path(str(p), card.size) for p in paths]).astype(np.float32)
        # one image per call, as the handler serves: a dynamic-int8 model's answers depend on the batch
        _REF[key] = (list(card.classes), np.concatenate([adapter.predict(b[np.newaxis]) for b in batch]))
    return _REF[key]


def top(scores: dict[str, float]) -> str:
    return max(scores, key=lambda k: scores[k])


# --- tests -------------------------------------------------------------------------------------------------


def test_url_and_base64_match_inprocess(
    lam: tuple[Lambda, str, str], file_server: str, model_name: str
) -> None:
    fn, image, variant = lam
    paths = sample_images()
    classes, logits = inprocess(image, variant, model_name, paths)
    test_root = dataset_dir() / "test"
    for i, p in enumerate(paths):
        rel = p.relative_to(test_root).as_posix()
        by_url = fn.invoke({"url": f"{file_server}/{rel}"})
        assert isinstance(by_url, dict) and "errorType" not in by_url, (by_url, fn.logs())
        by_b64 = fn.invoke({"image_b64": base64.b64encode(p.read_bytes()).decode()})
        assert list(by_url) == classes and list(by_b64) == classes  # card order
        want = classes[int(np.argmax(logits[i]))]
        assert top(by_url) == want, (rel, by_url, logits[i])
        assert top(by_b64) == want, (rel, by_b64, logits[i])
        if image != "tflite-runtime":  # same library inside and out: the scores agree too, not just the top
            np.testing.assert_allclose([by_url[c] for c in classes], logits[i], atol=0.05, rtol=0.01)
        assert by_url == pytest.approx(by_b64, abs=1e-6)  # same bytes, same answer


def test_meta_reports_the_runtime(lam: tuple[Lambda, str, str]) -> None:
    fn, image, variant = lam
    p = sample_images()[0]
    out = fn.invoke({"image_b64": base64.b64encode(p.read_bytes()).decode(), "meta": True})
    meta = out["meta"]
    assert meta["runtime"] == IMAGES[image].runtime
    assert meta["library"] == IMAGES[image].library, meta  # the catalogue's library of this image kind
    assert meta["cold"] is False  # the first test already invoked this container


def test_api_gateway_v2_event(lam: tuple[Lambda, str, str]) -> None:
    fn, _, _ = lam
    p = sample_images()[1]
    body = json.dumps({"image_b64": base64.b64encode(p.read_bytes()).decode()})
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/"}, "domainName": "localhost"},
        "body": body,
        "isBase64Encoded": False,
    }
    out = fn.invoke(event)
    assert out["statusCode"] == 200, out
    scores = json.loads(out["body"])
    assert len(scores) == 10 and all(isinstance(v, float) for v in scores.values())
    bad = fn.invoke({**event, "body": "{not json"})
    assert bad["statusCode"] == 400 and json.loads(bad["body"])["errorType"] == "InvalidJson"


def _truncated_jpeg() -> str:
    data = sample_images()[0].read_bytes()
    return base64.b64encode(data[: len(data) // 3]).decode()


BAD_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    ("missing", {}, "MissingInput"),
    ("both", {"url": "http://files:8000/x.jpg", "image_b64": "AAAA"}, "AmbiguousInput"),
    ("not-base64", {"image_b64": "!!!not base64!!!"}, "InvalidBase64"),
    ("not-an-image", {"image_b64": base64.b64encode(b"hello, not an image at all").decode()}, "NotAnImage"),
    ("scheme", {"url": "ftp://files/x.jpg"}, "UnsupportedUrlScheme"),
    ("loopback", {"url": "http://127.0.0.1:8080/x.jpg"}, "ForbiddenAddress"),
    ("metadata-ip", {"url": "http://169.254.169.254/latest/meta-data/"}, "ForbiddenAddress"),
]


def test_bad_inputs_are_typed_and_the_container_keeps_serving(
    lam: tuple[Lambda, str, str], file_server: str
) -> None:
    fn, _, _ = lam
    good = {"image_b64": base64.b64encode(sample_images()[2].read_bytes()).decode()}
    cases = [
        *BAD_INPUTS,
        ("truncated", {"image_b64": _truncated_jpeg()}, "TruncatedImage"),
        ("http-404", {"url": f"{file_server}/no/such.jpg"}, "DownloadFailed"),
    ]
    for name, event, error_type in cases:
        out = fn.invoke(event)
        assert isinstance(out, dict) and out.get("errorType") == error_type, (name, out)
        after = fn.invoke(good)
        assert "errorType" not in after and len(after) == 10, (name, after, fn.logs())


# --- image contents and sizes ----------------------------------------------------------------------------


def _python_in(tag: str, code: str) -> subprocess.CompletedProcess:
    return docker(
        "run",
        "--rm",
        "--label",
        f"{TEST_LABEL}={SESSION}",
        "--network",
        "none",
        "--entrypoint",
        "python3",
        tag,
        "-c",
        code,
        check=False,
    )


@pytest.mark.parametrize("image,variant", EVERY_KIND)
def test_only_the_tf_image_has_tensorflow(
    image: str, variant: str, image_cache: dict, model_name: str
) -> None:
    tag = ensure_image(image_cache, image, variant, model_name).tag
    proc = _python_in(tag, "import tensorflow")
    if IMAGES[image].library == "tensorflow":  # the control: the probe finds TensorFlow where it is installed
        assert proc.returncode == 0, proc.stderr[-1000:]
    else:
        assert proc.returncode != 0 and "No module named 'tensorflow'" in proc.stderr, proc.stderr[-1000:]


@pytest.mark.parametrize("image,variant", EVERY_KIND)
def test_no_wheels_caches_or_build_tools(
    image: str, variant: str, image_cache: dict, model_name: str
) -> None:
    tag = ensure_image(image_cache, image, variant, model_name).tag
    code = r"""
import glob, os, sys
bad = glob.glob('/var/task/**/*.whl', recursive=True) + glob.glob('/root/.cache/pip') \
    + [p for p in ('setuptools', 'wheel', 'pip', 'clang', 'tensorflow/include', 'bin')
       if os.path.exists('/var/task/' + p)]
py = sys.version_info
tag = f'cpython-{py[0]}{py[1]}'
missing_pyc = [m for m in ('/var/task/__pycache__/lambda_function', '/var/task/runtimes/__pycache__/base',
                           '/var/task/numpy/__pycache__/__init__')
               if not os.path.exists(f'{m}.{tag}.pyc')]
print(bad, missing_pyc)
sys.exit(1 if bad or missing_pyc else 0)
"""
    proc = _python_in(tag, code)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-1000:]


def test_env_and_layout(image_cache: dict, model_name: str) -> None:
    res = ensure_image(image_cache, "tflite", "int8", model_name)
    cfg = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", res.tag).stdout)
    env = dict(e.split("=", 1) for e in cfg["Env"])
    assert (
        env["MODEL_RUNTIME"] == "tflite"
        and env["MODEL_PATH"] == f"/var/task/model/{IMAGES['tflite'].variants['int8']}"
    )
    assert cfg["Cmd"] == ["lambda_function.lambda_handler"]
    # baked at build (images/build.py): the handler reports it without a manifest read or a hash at INIT
    host = model_dir(model_name) / "int8.tflite"
    assert env["MODEL_SHA256"] == artefact_sha256(str(host), env={})
    assert cfg["Entrypoint"] == ["/lambda-entrypoint.sh"] and cfg["WorkingDir"] == "/var/task"
    # the weight-cache sidecar of every tflite image; the cache itself only for artefacts over the size bar
    want = ["card.json", "int8.tflite", "int8.tflite" + weightcache.SIDECAR_SUFFIX]
    if host.stat().st_size >= weightcache.CACHE_MIN_BYTES:
        want.append("int8.tflite" + weightcache.CACHE_SUFFIX)
    if (ROOT / "build" / "models" / model_name / "manifest.json").exists():
        want.append("manifest.json")  # lets the handler report model_sha256 without hashing at init
    proc = _python_in(res.tag, "import os; print(sorted(os.listdir('/var/task/model')))")
    assert proc.stdout.strip() == str(sorted(want)), proc.stdout + proc.stderr


def test_sizes_are_recorded_and_tflite_is_small(image_cache: dict, model_name: str) -> None:
    tf = ensure_image(image_cache, "tf", "float32", model_name)
    tfl = ensure_image(image_cache, "tflite", "float32", model_name)
    with open(imgbuild.CSV_PATH, newline="") as f:
        rows = {r["tag"]: r for r in csv.DictReader(f)}
    for res in (tf, tfl):
        row = rows.get(res.tag)
        assert row is not None, f"{res.tag} missing from {imgbuild.CSV_PATH}"
        size = int(docker("image", "inspect", "-f", "{{.Size}}", res.tag).stdout.strip())
        assert int(row["bytes"]) == size and row["image_id"] == res.image_id
        assert 0 < int(row["gz_bytes"]) < size
    assert tfl.bytes <= 0.30 * tf.bytes, (tfl.bytes, tf.bytes)


def _layers(tag: str) -> list[str]:
    return json.loads(docker("image", "inspect", "-f", "{{json .RootFS.Layers}}", tag).stdout)


def test_variants_share_the_dependency_layers(image_cache: dict, model_name: str) -> None:
    """Layer order deps -> model -> handler: a new variant (or handler) adds only small top layers."""
    a = ensure_image(image_cache, "tflite", "float32", model_name)
    b = ensure_image(image_cache, "tflite", "int8", model_name)
    base = _layers(a.base)
    la, lb = _layers(a.tag), _layers(b.tag)
    assert la[: len(base)] == base and lb[: len(base)] == base
    shared = len(base) + 2  # COPY deps/ and its byte-code
    assert la[:shared] == lb[:shared]
    assert la[shared] != lb[shared]  # the model layer differs
    rows = docker(
        "history", "--no-trunc", "--human=false", "--format", "{{.Size}}|{{.CreatedBy}}", b.tag
    ).stdout.splitlines()  # newest first
    deps = next(i for i, r in enumerate(rows) if "compileall -q -j 0" in r)
    above = [int(r.split("|", 1)[0]) for r in rows[:deps]]
    assert above and sum(above) < 10_000_000, rows[:deps]  # model + handler layers: small
