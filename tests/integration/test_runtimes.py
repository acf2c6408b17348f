"""Each runtime adapter on the committed model's artefacts agrees with the TensorFlow reference.

Artefacts come from ``models.convert`` into ``build/models/<model>`` (cached by source sha256, so only
the first run converts). ``CLOTHING_TEST_MODEL`` picks another model (default ``reference``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from core.paths import ROOT as REPO
from models.eval import GATES, metrics, softmax
from runtimes import base

#: the distributions each adapter's library comes from
DISTS = {
    "ai_edge_litert": ("ai-edge-litert",),
    "onnxruntime": ("onnxruntime",),
    "tensorflow": ("tensorflow-cpu", "tensorflow"),
}

if TYPE_CHECKING:
    from tests.support.converted import Converted

N_IMAGES = 20


@pytest.fixture(scope="session")
def images(converted: Converted) -> tuple[np.ndarray, np.ndarray]:
    from models.train import load_split

    return load_split("test", converted.card.size, N_IMAGES)


@pytest.fixture(scope="session")
def reference(converted: Converted, images: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    tf = base.get("tf")
    tf.load(str(converted.dir / "savedmodel"), base.default_threads())
    return tf.predict(images[0])


def _entry(converted: Converted, path: str) -> dict[str, Any]:
    return next(e for e in converted.manifest["artefacts"] if e["path"] == path)


def _predict(runtime: str, path: Path, x: np.ndarray, **kw: Any) -> tuple[Any, np.ndarray]:
    a = base.get(runtime) if not kw else __import__(f"runtimes.{runtime}", fromlist=["Adapter"]).Adapter(**kw)
    a.load(str(path), base.default_threads())
    return a, a.predict(x)


def test_reference_is_not_degenerate(reference: np.ndarray, images: tuple[np.ndarray, np.ndarray]) -> None:
    """Agreement tests mean nothing on a constant model: the reference must separate images."""
    assert reference.shape == (N_IMAGES, 10) and reference.dtype == np.float32
    assert len(set(reference.argmax(1).tolist())) >= 3
    assert np.mean(reference.argmax(1) == images[1]) > 0.3


def test_tf_keras_file_matches_savedmodel(converted: Converted, images: Any, reference: np.ndarray) -> None:
    _, out = _predict("tf", converted.dir / "model.keras", images[0])
    np.testing.assert_allclose(out, reference, atol=1e-4)


@pytest.mark.parametrize(
    ("runtime", "artefact"),
    [
        ("tflite", "float32.tflite"),
        ("tflite", "float16.tflite"),
        ("tflite", "int8.tflite"),
        ("tflite", "full-int8.tflite"),
        ("onnx", "float32.onnx"),
        ("onnx", "float32-opt.onnx"),
    ],
)
def test_runtime_agrees_with_tf(
    converted: Converted, images: Any, reference: np.ndarray, runtime: str, artefact: str
) -> None:
    adapter, out = _predict(runtime, converted.dir / artefact, images[0])
    assert out.shape == reference.shape and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    variant = _entry(converted, artefact)["variant"]
    m = metrics(out, images[1], reference, 100 * float(np.mean(reference.argmax(1) == images[1])), False)
    if variant in ("float32", "float32-opt", "float16"):
        assert np.array_equal(out.argmax(1), reference.argmax(1)), m
    if variant in ("float32", "float32-opt"):
        assert GATES[variant][1](m), m
    if variant in ("int8", "full-int8"):
        # on 20 images the 98 % gate means every top-1 agrees; the 372-image gate is make eval's job
        assert m["agreement_pct"] >= 90.0, m
        assert np.max(np.abs(softmax(out) - softmax(reference))) < 0.5, m
    # the version the handler reports from the module's __version__ (no importlib.metadata at INIT)
    # is the installed distribution's
    assert adapter.version() == base.dist_version(*DISTS[adapter.library]), adapter.library


@pytest.mark.parametrize("artefact", ["float32.tflite", "full-int8.tflite"])
def test_tflite_batch_equals_single(converted: Converted, images: Any, artefact: str) -> None:
    """Resizing the input tensor between batch sizes must not change results (incl. int8 in/out)."""
    a = base.get("tflite")
    a.load(str(converted.dir / artefact), 1)
    x = images[0][:5]
    batched = a.predict(x)
    singles = np.concatenate([a.predict(x[i : i + 1]) for i in range(len(x))])
    np.testing.assert_allclose(batched, singles, atol=1e-5)
    np.testing.assert_allclose(a.predict(x), batched, atol=1e-6)


def test_full_int8_has_int8_io_and_adapter_dequantises(converted: Converted, images: Any) -> None:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(converted.dir / "full-int8.tflite"))
    assert it.get_input_details()[0]["dtype"] == np.int8
    assert it.get_output_details()[0]["dtype"] == np.int8
    _, out = _predict("tflite", converted.dir / "full-int8.tflite", images[0][:2])
    assert out.dtype == np.float32 and len(np.unique(out)) > 2


def test_tflite_reports_library_and_falls_back(converted: Converted, images: Any) -> None:
    a, _ = _predict("tflite", converted.dir / "float32.tflite", images[0][:1])
    assert a.library == "ai_edge_litert"
    from runtimes import tflite

    with pytest.raises(ImportError, match="no TFLite interpreter"):
        tflite.Adapter(libraries=("no_such_lib",)).load(str(converted.dir / "float32.tflite"), 1)
    # tflite_runtime is not installed in the venv: the adapter skips it and says who served
    b = tflite.Adapter(libraries=("tflite_runtime", "ai_edge_litert"))
    b.load(str(converted.dir / "float32.tflite"), 2)
    assert b.library == "ai_edge_litert" and b.threads == 2
    # last resort: TensorFlow's own interpreter, same numbers
    c = tflite.Adapter(libraries=("tensorflow",))
    c.load(str(converted.dir / "float32.tflite"), 1)
    assert c.library == "tensorflow" and c.version() not in ("", "unknown")
    np.testing.assert_allclose(c.predict(images[0][:2]), b.predict(images[0][:2]), atol=1e-5)


@pytest.mark.parametrize(
    ("runtime", "artefact", "own", "forbidden"),
    [
        ("tflite", "float32.tflite", "ai_edge_litert", ("tensorflow", "onnxruntime", "keras")),
        ("onnx", "float32.onnx", "onnxruntime", ("tensorflow", "ai_edge_litert", "keras")),
        ("tf", "savedmodel", "tensorflow", ("onnxruntime", "ai_edge_litert")),
    ],
)
def test_adapter_imports_only_its_library(
    converted: Converted, runtime: str, artefact: str, own: str, forbidden: Any
) -> None:
    """Images carry one library: importing the adapter is free, loading pulls in only its own."""
    code = f"""
import sys, numpy as np
from runtimes import base
a = base.get({runtime!r})
assert {own!r} not in sys.modules, "imported at module import"
a.load({str(converted.dir / artefact)!r}, 1)
h, w = {converted.card.size}
out = a.predict(np.zeros((1, h, w, 3), np.float32))
assert out.shape == (1, 10), out.shape
assert {own!r} in sys.modules
bad = [m for m in {forbidden!r} if m in sys.modules]
assert not bad, bad
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]


def test_onnx_threads_and_errors(converted: Converted, tmp_path: Path) -> None:
    a = base.get("onnx")
    a.load(str(converted.dir / "float32.onnx"), 1)
    assert a.threads == 1 and a.library == "onnxruntime"
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(Exception):  # noqa: B017 - any load error is fine, silence is not
        base.get("onnx").load(str(bad), 1)
    with pytest.raises(RuntimeError, match="load"):
        base.get("onnx").predict(np.zeros((1, 8, 8, 3), np.float32))


@pytest.mark.parametrize("artefact", ["float32.tflite", "int8.tflite", "full-int8.tflite"])
def test_artefacts_run_on_seed_tflite_runtime(
    converted: Converted, images: Any, artefact: str, tmp_path: Path
) -> None:
    """The seed's tflite-runtime 2.14 (numpy<2, so its own venv) must run our files with the same results.

    Point TFLITE_RUNTIME_PYTHON at a python with tflite-runtime==2.14.0 installed to run this check.
    """
    py = os.environ.get("TFLITE_RUNTIME_PYTHON")
    if not py:
        pytest.skip(
            "set TFLITE_RUNTIME_PYTHON to a python with tflite-runtime 2.14 to check old-runtime support"
        )
    x = images[0][:4]
    np.save(tmp_path / "x.npy", x)
    code = f"""
import sys, numpy as np
sys.path.insert(0, {str(REPO)!r})
from runtimes import tflite
a = tflite.Adapter(libraries=("tflite_runtime",))
a.load({str(converted.dir / artefact)!r}, 1)
np.save({str(tmp_path / "y.npy")!r}, a.predict(np.load({str(tmp_path / "x.npy")!r})))
print(a.library, a.version())
"""
    res = subprocess.run([py, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split()[:2] == ["tflite_runtime", "2.14.0"]
    _, ours = _predict("tflite", converted.dir / artefact, x)
    theirs = np.load(tmp_path / "y.npy")
    if "int8" in artefact:  # int8 kernels round differently across releases: ~1 quantisation step
        assert np.max(np.abs(softmax(theirs) - softmax(ours))) < 0.05
    else:
        np.testing.assert_allclose(theirs, ours, atol=1e-5)
