"""The zip + layer form (`make package`), run the way Lambda runs zips, answers like the image.

The archives are built into a temporary directory (build/package/ is left alone), unzipped the way Lambda
does (function at /var/task, layer at /opt) into the stand-in base lambda-base:3.13 under the Runtime
Interface Emulator. The managed python runtime puts /opt/python on PYTHONPATH; the stand-in does not, so
the test sets it as Lambda does. Answers to the seed's ``{"url": ...}`` (served from the test network)
and to ``image_b64`` are compared with the TFLite image built from this worktree, and the emulator's log
lines are checked against the EMF specification (test_emf.check_emf).
"""

from __future__ import annotations

import base64
import json
import time
import zipfile
from pathlib import Path

import pytest
import requests

from core.catalogue import IMAGES
from deploy import verify
from images import build as imgbuild
from images import package as pkg
from images.specs import BASES, PRUNE_ALWAYS
from tests.support.containers import (
    SHIP_IMAGE_TAG,
    SHIP_VARIANT,
    Lambda,
    dataset_dir,
    default_model_name,
    docker,
    make_network,
    require_docker,
    run_container,
    sample_images,
    serve_test_split,
    start_lambda,
)
from tests.support.emf import INFERENCE_KEYS, emf_lines

pytestmark = [pytest.mark.docker, pytest.mark.slow]
require_docker()
require_docker()


@pytest.fixture(scope="module")
def network(request: pytest.FixtureRequest) -> tuple[str, str]:
    return make_network(request)


@pytest.fixture(scope="module")
def file_server(request: pytest.FixtureRequest, network: tuple[str, str]) -> str:
    return serve_test_split(request, network)


@pytest.fixture(scope="module")
def package_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("package")


@pytest.fixture(scope="module")
def packaged(package_out: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = package_out
    try:
        summary = pkg.package(default_model_name(), SHIP_VARIANT, ["x86_64"], out=out)
    except (pkg.PackageError, imgbuild.BuildError) as e:
        pytest.fail(str(e))
    root = tmp_path_factory.mktemp("unzipped")
    with zipfile.ZipFile(out / "function.zip") as z:
        z.extractall(root / "task")
    with zipfile.ZipFile(out / "layer-x86_64.zip") as z:
        z.extractall(root / "opt")
    return summary, root


def test_sizes_are_within_lambda_limits(packaged: tuple[dict, Path]) -> None:
    summary, root = packaged
    fn, layer = summary["function"], summary["layers"]["x86_64"]
    print(
        f"\nfunction.zip {fn['zipped_bytes'] / 2**20:.1f} MiB zipped / {fn['unzipped_bytes'] / 2**20:.1f} "
        f"MiB; layer {layer['zipped_bytes'] / 2**20:.1f} / {layer['unzipped_bytes'] / 2**20:.1f} MiB"
    )
    assert fn["zipped_bytes"] <= pkg.ZIPPED_DIRECT_LIMIT and layer["zipped_bytes"] <= pkg.ZIPPED_DIRECT_LIMIT
    assert fn["unzipped_bytes"] + layer["unzipped_bytes"] <= pkg.UNZIPPED_LIMIT
    assert all(line.startswith("ok") for line in summary["checks"]["x86_64"])
    on_disk = sum(p.stat().st_size for p in (root / "opt").rglob("*") if p.is_file())
    assert on_disk == layer["unzipped_bytes"]  # the figure checked is what unzipping gives


def test_layer_is_the_pruned_image_tree(packaged: tuple[dict, Path]) -> None:
    _, root = packaged
    site = root / "opt" / "python"
    for pkg_dir in ("ai_edge_litert", "numpy", "PIL"):
        assert (site / pkg_dir).is_dir(), pkg_dir
    left = [pat for pat in (*PRUNE_ALWAYS, *IMAGES["tflite"].prune) if list(site.glob(pat))]
    assert not left, left
    tag = "cpython-" + BASES["3.13"].python.replace(".", "")
    assert (site / "numpy" / "__pycache__" / f"__init__.{tag}.pyc").is_file()
    task = root / "task"
    assert (task / "__pycache__" / f"lambda_function.{tag}.pyc").is_file()
    assert sorted(p.name for p in (task / "model").iterdir()) == sorted(
        n
        for n in ("card.json", f"{SHIP_VARIANT}.tflite", "manifest.json")
        if (imgbuild.ROOT / "build" / "models" / "reference" / n).exists()
    )


def _start_zip(request: pytest.FixtureRequest, root: Path, net: tuple[str, str]) -> Lambda:
    cid = run_container(
        request,
        "--network",
        net[0],
        "-p",
        "127.0.0.1::8080",
        "-v",
        f"{root / 'task'}:/var/task:ro",
        "-v",
        f"{root / 'opt'}:/opt:ro",
        "-e",
        "PYTHONPATH=/opt/python",
        "-e",
        "MODEL_RUNTIME=tflite",
        "-e",
        f"MODEL_PATH=/var/task/model/{SHIP_VARIANT}.tflite",
        "-e",
        f"MODEL_VARIANT={SHIP_VARIANT}",
        "-e",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024",
        "-e",
        f"ALLOW_URL_CIDRS={net[1]}",
        BASES["3.13"].local_tag,
        "lambda_function.lambda_handler",
    )
    port = int(docker("port", cid, "8080/tcp").stdout.strip().splitlines()[0].rsplit(":", 1)[1])
    fn = Lambda("zip", cid, port)
    deadline = time.monotonic() + 60
    while True:
        try:
            out = fn.invoke({})
            assert out.get("errorType") == "MissingInput", (out, fn.logs())
            return fn
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                pytest.fail(f"zip function did not start: {fn.logs()[-2000:]}")
            time.sleep(0.3)


def test_zip_answers_like_the_image(
    request: pytest.FixtureRequest, packaged: tuple[dict, Path], network: tuple[str, str], file_server: str
) -> None:
    _, root = packaged
    try:
        imgbuild.build_one("tflite", default_model_name(), SHIP_VARIANT, measure=False, tag=SHIP_IMAGE_TAG)
    except imgbuild.BuildError as e:
        pytest.fail(str(e))
    zip_fn = _start_zip(request, root, network)
    image_fn = start_lambda(request, SHIP_IMAGE_TAG, network)
    test_root = dataset_dir() / "test"
    for p in sample_images():
        url = {"url": f"{file_server}/{p.relative_to(test_root).as_posix()}"}
        b64 = {"image_b64": base64.b64encode(p.read_bytes()).decode()}
        from_zip, from_image = zip_fn.invoke(url), image_fn.invoke(url)
        assert "errorType" not in from_zip, (from_zip, zip_fn.logs())
        assert list(from_zip) == list(from_image)
        assert from_zip == pytest.approx(from_image, abs=1e-6)  # same library, model and bytes
        assert zip_fn.invoke(b64) == pytest.approx(from_zip, abs=1e-6)
    meta = zip_fn.invoke({**b64, "meta": True})["meta"]
    assert meta["runtime"] == "tflite" and meta["library"] == "ai_edge_litert" and meta["cold"] is False
    recs = [r for r in emf_lines(zip_fn.logs()) if r.get("msg") == "inference"]
    assert recs and all(INFERENCE_KEYS <= set(r) for r in recs)
    assert {(r["runtime"], r["variant"], r["memory"]) for r in recs} == {("tflite", SHIP_VARIANT, "1024")}
    print("\nzip log line:", json.dumps(recs[-1])[:400])


def test_function_zip_is_byte_reproducible(tmp_path: Path) -> None:
    """Same inputs, same bytes (sorted entries, fixed dates, hash-based .pyc): a deploy can compare the
    archive's sha256 instead of re-uploading it."""
    digests = []
    for i in range(2):
        out = tmp_path / str(i)
        pkg.build_function(default_model_name(), SHIP_VARIANT, out / "work", out)
        digests.append((out / "function.zip").read_bytes())
    assert digests[0] == digests[1]


def test_images_carry_the_catalogue_variant(request: pytest.FixtureRequest, network: tuple[str, str]) -> None:
    """Each image sets ENV MODEL_VARIANT from the catalogue (images/build.py's build arg), so the EMF
    `variant` dimension is the catalogue's name, not the artefact's file name (the null image's artefact
    is card.json: without the variable it reported `card`)."""
    for kind, variant in (("tflite", SHIP_VARIANT), ("null", "none")):
        try:
            tag = imgbuild.build_one(kind, default_model_name(), variant, measure=False).tag
        except imgbuild.BuildError as e:
            pytest.fail(str(e))
        env = json.loads(docker("image", "inspect", "-f", "{{json .Config.Env}}", tag).stdout)
        assert f"MODEL_VARIANT={variant}" in env, (tag, env)
    fn = start_lambda(request, tag, network)  # the null image: its artefact is card.json
    answer = fn.invoke({"image_b64": base64.b64encode(sample_images()[0].read_bytes()).decode()})
    assert "errorType" not in answer, (answer, fn.logs())
    recs = [r for r in emf_lines(fn.logs()) if r.get("msg") == "inference"]
    assert recs and {r["variant"] for r in recs} == {"none"}, fn.logs()[-2000:]


def test_zip_as_a_local_image_answers_like_the_image(
    request: pytest.FixtureRequest, packaged: tuple[dict, Path], package_out: Path
) -> None:
    """images.package.local_image (deploy --package zip's local check, the zip bench cell): the archives
    unzipped into the base as Lambda lays them out, run by the same Emulator as the images."""
    tag = pkg.local_image(package_out)
    request.addfinalizer(lambda: docker("rmi", "-f", tag, check=False))  # ~100 MB of layers per package
    try:
        imgbuild.build_one("tflite", default_model_name(), SHIP_VARIANT, measure=False, tag=SHIP_IMAGE_TAG)
    except imgbuild.BuildError as e:
        pytest.fail(str(e))
    assert pkg.local_image(package_out) == tag  # same archives, same image: not rebuilt
    env = json.loads(docker("image", "inspect", "-f", "{{json .Config.Env}}", tag).stdout)
    assert "PYTHONPATH=/opt/python" in env and f"MODEL_VARIANT={SHIP_VARIANT}" in env
    for p in sample_images()[:2]:
        payload = {"image_b64": base64.b64encode(p.read_bytes()).decode()}
        from_zip = verify.local_scores(tag, payload, memory_mb=1024)
        assert from_zip == pytest.approx(
            verify.local_scores(SHIP_IMAGE_TAG, payload, memory_mb=1024), abs=1e-6
        )
