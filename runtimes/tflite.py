"""TFLite / LiteRT adapter. One file serves three libraries, first found wins.

``ai_edge_litert`` (LiteRT, the maintained package), then ``tflite_runtime`` (the seed's 2.14 wheel),
then ``tensorflow.lite``. ``library`` says which one actually served. Handles full-integer int8
models (quantise input, dequantise output) and any batch size (resizes the input tensor).
"""

from __future__ import annotations

import importlib
import time
from typing import Any

import numpy as np

from runtimes.base import library_version, warm_up_at_init

#: (import name, "module:attribute path" of the Interpreter class, distribution names for the version)
CANDIDATES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ai_edge_litert", "ai_edge_litert.interpreter:Interpreter", ("ai-edge-litert",)),
    ("tflite_runtime", "tflite_runtime.interpreter:Interpreter", ("tflite-runtime",)),
    ("tensorflow", "tensorflow:lite.Interpreter", ("tensorflow-cpu", "tensorflow")),
)


def _import_interpreter(libraries: tuple[str, ...]) -> tuple[str, Any]:
    errors = []
    for lib, module, _ in CANDIDATES:
        if lib not in libraries:
            continue
        mod_name, attrs = module.split(":")
        try:
            obj: Any = importlib.import_module(mod_name)
            for attr in attrs.split("."):
                obj = getattr(obj, attr)
        except (ImportError, AttributeError) as e:
            errors.append(f"{lib}: {e}")
            continue
        return lib, obj
    raise ImportError("no TFLite interpreter library found (" + "; ".join(errors) + ")")


class Adapter:
    name = "tflite"

    def __init__(self, libraries: tuple[str, ...] | None = None) -> None:
        #: which libraries may serve, in order of preference (tests narrow this)
        self.libraries = libraries or tuple(c[0] for c in CANDIDATES)
        self.library = ""
        self._interp: Any = None
        self.threads = 0
        self.stages: dict[str, float] = {}

    def version(self) -> str:
        libs = (self.library,) if self.library else self.libraries
        for lib, _, dists in CANDIDATES:
            if lib not in libs:
                continue
            if found := library_version(lib, *dists):
                return found
        return "unknown"

    def load(self, path: str, threads: int) -> None:
        """Create the interpreter with ``threads`` (LiteRT would otherwise use 1) and allocate tensors.

        ``model_path`` (not ``model_content``): the interpreter memory-maps the file (FlatBufferModel
        BuildFromFile), so the weights are paged in as used instead of read and copied up front;
        scripts/modelload.py checks the mapping in /proc/self/maps. LiteRT's Python API (2.3) exposes no
        XNNPACK weight-cache option, so the packing XNNPACK does is paid in-process (docs/coldstart.md)."""
        t0 = time.perf_counter()
        self.library, interpreter_cls = _import_interpreter(self.libraries)
        t_import = time.perf_counter()
        self._interp = interpreter_cls(model_path=path, num_threads=threads)
        self._interp.allocate_tensors()
        self.threads = threads
        inp = self._interp.get_input_details()
        out = self._interp.get_output_details()
        if len(inp) != 1 or len(out) != 1:
            raise ValueError(f"{path}: expected one input and one output, got {len(inp)} and {len(out)}")
        self._in = inp[0]
        self._out = out[0]
        t1 = time.perf_counter()
        if warm_up_at_init(self.name):
            self.predict(np.zeros((1, *self._in["shape"][1:]), np.float32))
        self.stages = {
            "library_import_ms": (t_import - t0) * 1000,
            "load_ms": (t1 - t0) * 1000,
            "warmup_ms": (time.perf_counter() - t1) * 1000,
        }

    @staticmethod
    def _qparams(detail: dict[str, Any]) -> tuple[float, int]:
        scale, zero = detail.get("quantization", (0.0, 0))
        return float(scale), int(zero)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        if self._interp is None:
            raise RuntimeError("load() first")
        x = np.asarray(batch, dtype=np.float32)
        idx = self._in["index"]
        if tuple(self._interp.get_input_details()[0]["shape"]) != x.shape:
            self._interp.resize_tensor_input(idx, list(x.shape), strict=False)
            self._interp.allocate_tensors()
        dtype = self._in["dtype"]
        if dtype in (np.int8, np.uint8):
            scale, zero = self._qparams(self._in)
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dtype)
        self._interp.set_tensor(idx, x)
        self._interp.invoke()
        y = self._interp.get_tensor(self._out["index"])
        if self._out["dtype"] in (np.int8, np.uint8):
            scale, zero = self._qparams(self._out)
            y = (y.astype(np.float32) - zero) * scale
        return np.asarray(y, dtype=np.float32)
