"""The XNNPACK weight cache: written by the build, used only when it belongs to the artefact.

On the host (the converted model's artefacts copied into a temporary folder): CompiledModel with the cache
answers as the Interpreter does, for every cached variant and batch size; a cache whose sidecar does not
match the artefact (other weights, same structure: generated), the library or the CPU is refused, logged,
and the Interpreter answers. Why the sidecar is needed at all is checked too: XNNPACK alone serves a
same-structure model from another model's cache with the old weights.

In the built images, under ``docker run --read-only`` with a tmpfs /tmp as on Lambda: every tflite image
carries the sidecar, naming its artefact (sha256 and size); where it says CompiledModel the cache is there,
matching, and mapped read-only by the handler's load, and where it says Interpreter (tflite-runtime, an
artefact under CACHE_MIN_BYTES) there is no cache. The small model's images fall under the size bar, so an
image of it built with the bar at 0 (its own tag) is where a cache must exist: the handler under the
emulator serves from it with no fallback line, and logs one when told a wrong MODEL_SHA256.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.catalogue import IMAGES
from images import build as imgbuild
from runtimes import tflite, weightcache
from tests.support.containers import (
    CASES,
    default_model_name,
    docker,
    docker_ok,
    ensure_image,
    make_network,
    start_lambda,
)

if TYPE_CHECKING:
    from tests.support.converted import Converted

CACHED = sorted(weightcache.CACHED_VARIANTS)
TFLITE_CASES = [(i, v) for i, v in CASES if IMAGES[i].runtime == "tflite"]


def staged(converted: Converted, tmp: Path, variant: str) -> str:
    art = converted.dir / f"{variant}.tflite"
    if not art.exists():
        pytest.skip(f"{art.name} not produced (optional artefact)")
    dst = tmp / art.name
    shutil.copy2(art, dst)
    return str(dst)


def batch(n: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, *size, 3)).astype(np.float32)


def interpreted(path: str) -> tflite.Adapter:
    """The Interpreter on ``path`` (no sidecar beside it: the ordinary host load)."""
    a = tflite.Adapter()
    shutil.copy2(path, path + ".plain.tflite")
    a.load(path + ".plain.tflite", 1)
    assert a.engine == weightcache.INTERPRETER
    return a


# --- host ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", CACHED)
def test_cached_variant_answers_as_the_interpreter(
    converted: Converted, tmp_path: Path, variant: str
) -> None:
    path = staged(converted, tmp_path, variant)
    side = tflite.write_cache(path, variant, min_bytes=0)
    assert side["engine"] == weightcache.COMPILED and side["cache_bytes"] > 0, side
    a = tflite.Adapter()
    a.load(path, 1)
    assert (a.engine, a.engine_reason) == (weightcache.COMPILED, "cache matches")
    x = batch(3, converted.card.size)
    ref = interpreted(path).predict(x)
    np.testing.assert_allclose(a.predict(x), ref, atol=1e-5)
    singles = np.concatenate([a.predict(x[i : i + 1]) for i in range(len(x))])  # resized back to 1
    np.testing.assert_allclose(singles, ref, atol=1e-5)


def rewritten(path: str, scale: float, which: list[int]) -> None:
    """Scale float32 weight buffers of the model in place: same structure and size, other weights."""
    from ai_edge_litert import schema_py_generated as schema

    buf = bytearray(Path(path).read_bytes())
    model = schema.Model.GetRootAs(buf, 0)
    sizes = sorted(((model.Buffers(i).DataLength(), i) for i in range(model.BuffersLength())), reverse=True)
    for k in which:
        size, i = sizes[k]
        b = model.Buffers(i)
        start = b._tab.Vector(b._tab.Offset(4))
        w = np.frombuffer(bytes(buf[start : start + size]), np.float32)
        buf[start : start + size] = (w * np.float32(scale)).astype(np.float32).tobytes()
    Path(path).write_bytes(bytes(buf))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scale=st.sampled_from([-1.0, 0.5, 2.0, -3.0]),
    which=st.lists(st.integers(0, 5), min_size=1, max_size=3, unique=True),
)
def test_cache_of_other_weights_is_refused(
    converted: Converted,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: Any,
    scale: float,
    which: list[int],
) -> None:
    tmp = tmp_path_factory.mktemp("stale")
    path = staged(converted, tmp, "float32")
    tflite.write_cache(path, "float32", min_bytes=0)
    x = batch(2, converted.card.size, seed=1)
    rewritten(path, scale, which)  # the cache and sidecar still describe the old weights
    fresh = interpreted(path).predict(x)
    capsys.readouterr()
    a = tflite.Adapter()
    a.load(path, 1)
    assert a.engine == weightcache.INTERPRETER and "sha256" in a.engine_reason, a.engine_reason
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["msg"] == "weight_cache_fallback" and line["reason"] == a.engine_reason
    np.testing.assert_allclose(a.predict(x), fresh, atol=1e-5)


def test_xnnpack_alone_serves_old_weights_from_a_stale_cache(converted: Converted, tmp_path: Path) -> None:
    """Why the sidecar is checked: handed another same-structure model's cache, XNNPACK answers with the
    cached (old) weights, no error."""
    path = staged(converted, tmp_path, "float32")
    tflite.write_cache(path, "float32", min_bytes=0)
    x = batch(1, converted.card.size, seed=2)
    old = interpreted(path).predict(x)
    rewritten(path, -1.0, [0, 1])
    new = interpreted(path).predict(x)
    assert not np.allclose(old, new, atol=1e-3)
    model = tflite.compile_with_cache(path, weightcache.cache_path(path), 1)
    ins, outs = model.create_input_buffers(0), model.create_output_buffers(0)
    ins[0].write(x)
    model.run_by_index(0, ins, outs)
    np.testing.assert_allclose(outs[0].read(old.size, np.float32).reshape(old.shape), old, atol=1e-5)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("isa", ["sse2"], "another CPU"),
        ("machine", "aarch64", "another CPU"),
        ("library_version", "0.0.1", "written by"),
        ("cache_bytes", 1, "cache file size"),
        ("artefact_bytes", 1, "artefact size"),
    ],
)
def test_sidecar_mismatch_falls_back(
    converted: Converted, tmp_path: Path, capsys: Any, field: str, value: Any, reason: str
) -> None:
    path = staged(converted, tmp_path, "full-int8")
    side = tflite.write_cache(path, "full-int8", min_bytes=0)
    Path(weightcache.sidecar_path(path)).write_text(json.dumps({**side, field: value}))
    x = batch(2, converted.card.size, seed=3)
    ref = interpreted(path).predict(x)
    capsys.readouterr()
    a = tflite.Adapter()
    a.load(path, 1)
    assert a.engine == weightcache.INTERPRETER and reason in a.engine_reason, a.engine_reason
    assert '"weight_cache_fallback"' in capsys.readouterr().out
    np.testing.assert_allclose(a.predict(x), ref, atol=1e-5)
    Path(weightcache.cache_path(path)).unlink()  # and a sidecar whose cache is gone
    Path(weightcache.sidecar_path(path)).write_text(json.dumps(side))
    a.load(path, 1)
    assert a.engine == weightcache.INTERPRETER and a.engine_reason == "cache file missing"


# --- built images ----------------------------------------------------------------------------------------

PROBE = """
import hashlib, json, os, sys
sys.path.insert(0, "/var/task")
from runtimes import tflite, weightcache
path = os.environ["MODEL_PATH"]
a = tflite.Adapter()
a.load(path, 1)
side = json.load(open(weightcache.sidecar_path(path)))
cache = weightcache.cache_path(path)
maps = open("/proc/self/maps").read()
print(json.dumps({
    "engine": a.engine, "reason": a.engine_reason, "library": a.library, "side": side,
    "sha256": hashlib.sha256(open(path, "rb").read()).hexdigest(),
    "env_sha256": os.environ.get("MODEL_SHA256"),
    "artefact_bytes": os.path.getsize(path),
    "cache_bytes": os.path.getsize(cache) if os.path.exists(cache) else None,
    "cache_mapped": any(line.rstrip().endswith(cache) for line in maps.splitlines()),
}))
"""
READ_ONLY = ("--read-only", "--tmpfs", "/tmp")


FORCED_TAG = "clothing-test-wcache:{model}-{variant}"


@pytest.fixture(scope="module")
def image_cache_wc() -> dict[tuple[str, str], Any]:
    if not docker_ok():
        pytest.skip("docker is not available")
    return {}


def forced(variant: str) -> str:
    """The tflite image of ``variant`` built with the cache's size bar at 0 (a cache whatever the size)."""
    model = default_model_name()
    tag = FORCED_TAG.format(model=model, variant=variant)
    try:
        imgbuild.build_one(
            "tflite", model, variant, measure=False, extra_args={"WEIGHT_CACHE_MIN_BYTES": "0"}, tag=tag
        )
    except imgbuild.BuildError as e:
        pytest.fail(str(e))
    return tag


def probe(tag: str) -> tuple[dict[str, Any], str]:
    """Load the image's artefact through the adapter on a read-only root: what it found and mapped."""
    proc = docker("run", "--rm", *READ_ONLY, "--network", "none", "--entrypoint", "python3", tag, "-c", PROBE)
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stdout


def check_probe(r: dict[str, Any], out: str) -> None:
    side = r["side"]
    assert side["artefact_sha256"] == r["sha256"] == r["env_sha256"], r
    assert side["artefact_bytes"] == r["artefact_bytes"], r
    if side["engine"] == weightcache.COMPILED:
        assert r["cache_bytes"] is not None and r["cache_bytes"] == side["cache_bytes"], r
        assert (r["engine"], r["reason"]) == (weightcache.COMPILED, "cache matches"), r
        assert r["cache_mapped"], r
    else:
        assert side["engine"] == weightcache.INTERPRETER and r["cache_bytes"] is None, r
        assert r["engine"] == weightcache.INTERPRETER and not r["cache_mapped"], r
    assert "weight_cache_fallback" not in out, out


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize(("image", "variant"), TFLITE_CASES, ids=[f"{i}-{v}" for i, v in TFLITE_CASES])
def test_image_carries_a_matching_cache(image_cache_wc: dict, image: str, variant: str) -> None:
    res = ensure_image(image_cache_wc, image, variant, default_model_name())
    r, out = probe(res.tag)
    check_probe(r, out)
    side = r["side"]
    cacheable = variant in weightcache.CACHED_VARIANTS and side["library"] == "ai_edge_litert"
    big = side["artefact_bytes"] >= weightcache.CACHE_MIN_BYTES
    assert (side["engine"] == weightcache.COMPILED) == (cacheable and big), side


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("variant", ["float32", "full-int8"])
def test_image_built_with_the_bar_at_zero_maps_its_cache(image_cache_wc: dict, variant: str) -> None:
    r, out = probe(forced(variant))
    assert r["side"]["engine"] == weightcache.COMPILED, r
    check_probe(r, out)


@pytest.mark.docker
@pytest.mark.slow
def test_handler_maps_the_cache_under_a_read_only_root(
    request: pytest.FixtureRequest, image_cache_wc: dict, converted: Converted, tmp_path: Path
) -> None:
    """The handler under the emulator on a read-only root: it answers as the host's Interpreter does,
    with no fallback; told another artefact hash, it logs the fallback and still answers the same."""
    import base64

    from runtimes import preprocess
    from tests.support.containers import sample_images

    tag = forced("float32")
    net = make_network(request)
    pic = sample_images()[0]
    event = {"image_b64": base64.b64encode(pic.read_bytes()).decode()}
    x = preprocess.load_path(str(pic), converted.card.size)[np.newaxis].astype(np.float32)
    want = interpreted(staged(converted, tmp_path, "float32")).predict(x)[0]
    for env, fallback in (((), False), (("MODEL_SHA256=" + "0" * 64,), True)):
        fn = start_lambda(request, tag, net, *env, docker_args=READ_ONLY)
        got = fn.invoke(event)
        np.testing.assert_allclose([got[c] for c in converted.card.classes], want, atol=1e-4)
        logs = docker("logs", fn.cid, check=False)
        assert ("weight_cache_fallback" in logs.stdout + logs.stderr) == fallback, logs.stdout[-2000:]
