"""TFLite / LiteRT adapter. One file serves three libraries, first found wins.

``ai_edge_litert`` (LiteRT, the maintained package), then ``tflite_runtime`` (the seed's 2.14 wheel),
then ``tensorflow.lite``. ``library`` says which one actually served. Handles full-integer int8
models (quantise input, dequantise output) and any batch size (resizes the input tensor).

Two engines: LiteRT's ``CompiledModel`` mapping the XNNPACK weight cache the image build wrote beside
the artefact (no weight packing at load), when the sidecar says the cache belongs to this artefact,
library and CPU (runtimes/weightcache.py); otherwise the classic ``Interpreter``, which packs at load
(and is all tflite_runtime 2.14 and tensorflow.lite have). ``engine`` says which one served.
"""

from __future__ import annotations

import importlib
import os
import time
from typing import Any

import numpy as np

from runtimes import weightcache
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


def has_compiled_model(library: str) -> bool:
    """Whether ``library`` ships LiteRT's CompiledModel (ai_edge_litert 2.x does; tflite_runtime 2.14 and
    tensorflow.lite do not)."""
    if library != "ai_edge_litert":
        return False
    try:
        importlib.import_module("ai_edge_litert.compiled_model")
    except ImportError:
        return False
    return True


def compile_with_cache(path: str, cache: str, threads: int) -> Any:
    """A CompiledModel on XNNPACK (CPU) with ``threads`` threads and the weight cache file ``cache``:
    mapped when it is there and valid, written there otherwise (the build's first load)."""
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.options import CpuOptions, Options

    cpu = CpuOptions(num_threads=threads, xnnpack_weight_cache_path=cache)
    return CompiledModel.from_file(path, options=Options(cpu_options=cpu))


def _qparams(detail: dict[str, Any]) -> tuple[float, int]:
    scale, zero = detail.get("quantization", (0.0, 0))
    return float(scale), int(zero)


class _Interpreted:
    """The classic Interpreter (XNNPACK packs the weights while it loads)."""

    def __init__(self, interpreter_cls: Any, path: str, threads: int) -> None:
        self.interp = interpreter_cls(model_path=path, num_threads=threads)
        self.interp.allocate_tensors()
        inp, out = self.interp.get_input_details(), self.interp.get_output_details()
        if len(inp) != 1 or len(out) != 1:
            raise ValueError(f"{path}: expected one input and one output, got {len(inp)} and {len(out)}")
        self.inp, self.out = inp[0], out[0]
        self.in_dtype, self.out_dtype = np.dtype(self.inp["dtype"]), np.dtype(self.out["dtype"])
        self.in_q, self.out_q = _qparams(self.inp), _qparams(self.out)
        self.in_shape = tuple(int(d) for d in self.inp["shape"])

    def run(self, x: np.ndarray) -> np.ndarray:
        idx = self.inp["index"]
        if tuple(self.interp.get_input_details()[0]["shape"]) != x.shape:
            self.interp.resize_tensor_input(idx, list(x.shape), strict=False)
            self.interp.allocate_tensors()
        self.interp.set_tensor(idx, x)
        self.interp.invoke()
        return np.asarray(self.interp.get_tensor(self.out["index"]))


class _Compiled:
    """LiteRT's CompiledModel mapping the build-time weight cache; the quantisation comes from the
    sidecar (CompiledModel's tensor details carry dtype and shape only)."""

    def __init__(self, path: str, cache: str, io: dict[str, Any], threads: int) -> None:
        self.model = compile_with_cache(path, cache, threads)
        sig = self.model.get_signature_list()
        if len(sig) != 1:
            raise ValueError(f"{path}: expected one signature, got {len(sig)}")
        key = next(iter(sig))
        inputs = list(self.model.get_input_tensor_details(key).values())
        outputs = list(self.model.get_output_tensor_details(key).values())
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                f"{path}: expected one input and one output, got {len(inputs)} and {len(outputs)}"
            )
        self.in_dtype, self.out_dtype = np.dtype(inputs[0]["dtype"]), np.dtype(outputs[0]["dtype"])
        self.in_q = (float(io["input"]["scale"]), int(io["input"]["zero_point"]))
        self.out_q = (float(io["output"]["scale"]), int(io["output"]["zero_point"]))
        self.in_shape = tuple(int(d) for d in inputs[0]["shape"])
        self._sized(self.in_shape, int(np.prod(outputs[0]["shape"][1:])))

    def _sized(self, shape: tuple[int, ...], per_item: int) -> None:
        self.shape, self.per_item = shape, per_item
        self.ins, self.outs = self.model.create_input_buffers(0), self.model.create_output_buffers(0)

    def run(self, x: np.ndarray) -> np.ndarray:
        if x.shape != self.shape:  # another batch size: resize, then buffers of the new size
            self.model.resize_input_tensor(0, list(x.shape), strict=False)
            self._sized(x.shape, self.per_item)
        self.ins[0].write(x)
        self.model.run_by_index(0, self.ins, self.outs)
        y = self.outs[0].read(x.shape[0] * self.per_item, self.out_dtype)
        return np.asarray(y).reshape(x.shape[0], -1)


class Adapter:
    name = "tflite"
    #: one blank inference at the end of load (runtimes.base.warm_up_at_init): off, from the interleaved
    #: run in docs/coldstart.md
    warmup_at_init = False

    def __init__(self, libraries: tuple[str, ...] | None = None) -> None:
        #: which libraries may serve, in order of preference (tests narrow this)
        self.libraries = libraries or tuple(c[0] for c in CANDIDATES)
        self.library = ""
        #: "compiled" (CompiledModel + the build's weight cache) or "interpreter"; set by load()
        self.engine = ""
        #: why that engine (the sidecar check's verdict)
        self.engine_reason = ""
        self._run: Any = None
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
        """Map the build's weight cache through CompiledModel when the sidecar vouches for it, else
        create the Interpreter (packing at load; logged when an image meant to use a cache); both with
        ``threads`` (LiteRT would otherwise use 1).

        ``model_path`` (not ``model_content``) for both: the file is memory-mapped (FlatBufferModel
        BuildFromFile), so the weights are paged in as used instead of read and copied up front;
        scripts/modelload.py checks the mapping in /proc/self/maps."""
        t0 = time.perf_counter()
        self.library, interpreter_cls = _import_interpreter(self.libraries)
        t_import = time.perf_counter()
        p = weightcache.Plan(weightcache.INTERPRETER, reason=f"{self.library} has no CompiledModel")
        if self.library == "ai_edge_litert":  # the sidecar first: CompiledModel's import only when used
            p = weightcache.plan(path, self.library, self.version())
        if p.fallback and (p.reason != "no sidecar" or os.environ.get("AWS_LAMBDA_RUNTIME_API")):
            weightcache.log_fallback(path, p)  # a host load without a sidecar is the ordinary case
        if p.engine == weightcache.COMPILED:
            self._run = _Compiled(path, p.cache, p.io, threads)
        else:
            self._run = _Interpreted(interpreter_cls, path, threads)
        self.engine, self.engine_reason, self.threads = p.engine, p.reason, threads
        t1 = time.perf_counter()
        if warm_up_at_init(self):
            self.predict(np.zeros((1, *self._run.in_shape[1:]), np.float32))
        self.stages = {
            "library_import_ms": (t_import - t0) * 1000,
            "load_ms": (t1 - t0) * 1000,
            "warmup_ms": (time.perf_counter() - t1) * 1000,
        }

    def io_quantisation(self) -> dict[str, dict[str, Any]]:
        """Input and output dtype and (scale, zero point) of the loaded model (the build's sidecar)."""
        r = self._run
        if r is None:
            raise RuntimeError("load() first")
        return {
            side: {"dtype": dtype.name, "scale": q[0], "zero_point": q[1]}
            for side, dtype, q in (("input", r.in_dtype, r.in_q), ("output", r.out_dtype, r.out_q))
        }

    def predict(self, batch: np.ndarray) -> np.ndarray:
        if self._run is None:
            raise RuntimeError("load() first")
        r = self._run
        x = np.asarray(batch, dtype=np.float32)
        if r.in_dtype in (np.int8, np.uint8):
            scale, zero = r.in_q
            info = np.iinfo(r.in_dtype)
            x = np.clip(np.round(x / scale) + zero, info.min, info.max).astype(r.in_dtype)
        y = r.run(x)
        if r.out_dtype in (np.int8, np.uint8):
            scale, zero = r.out_q
            y = (y.astype(np.float32) - zero) * scale
        return np.asarray(y, dtype=np.float32)


# --- build time: `python -m runtimes.tflite ARTEFACT --variant V` (Dockerfile.tflite) ----------------------


def write_cache(artefact: str, variant: str, min_bytes: int = weightcache.CACHE_MIN_BYTES) -> dict[str, Any]:
    """Write the sidecar beside ``artefact`` (and, for a cached variant of at least ``min_bytes`` on a
    library with CompiledModel, the weight cache) by loading it here, on the build host's CPU; returns
    the sidecar."""
    from core.fileio import file_sha256  # build time only: the handler reads MODEL_SHA256

    weightcache.clear(artefact)
    sha = file_sha256(artefact)
    if os.environ.get("MODEL_SHA256") and os.environ["MODEL_SHA256"] != sha:
        raise weightcache.WeightCacheError(f"{artefact}: sha256 {sha} is not MODEL_SHA256")
    probe = Adapter()
    probe.load(artefact, 1)  # the Interpreter (no sidecar yet): the library and the quantisation
    side: dict[str, Any] = {
        "artefact": os.path.basename(artefact),
        "artefact_sha256": sha,
        "artefact_bytes": os.path.getsize(artefact),
        "library": probe.library,
        "library_version": probe.version(),
        **weightcache.cpu_signature(),
        "io": probe.io_quantisation(),
        "engine": weightcache.INTERPRETER,
    }
    if variant not in weightcache.CACHED_VARIANTS:
        side["reason"] = f"variant {variant!r} is served by the Interpreter"
    elif side["artefact_bytes"] < min_bytes:
        side["reason"] = f"artefact under {min_bytes} bytes: the Interpreter is faster there"
    elif not has_compiled_model(probe.library):
        side["reason"] = f"{probe.library} has no CompiledModel"
    else:
        compile_with_cache(artefact, weightcache.cache_path(artefact), 1)  # writes the cache
        side["engine"] = weightcache.COMPILED
    weightcache.save(artefact, side)
    return side


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import sys

    ap = argparse.ArgumentParser(description="Write the XNNPACK weight cache + sidecar beside an artefact.")
    ap.add_argument("artefact")
    ap.add_argument("--variant", default=os.environ.get("MODEL_VARIANT", ""))
    ap.add_argument("--min-bytes", type=int, default=weightcache.CACHE_MIN_BYTES)
    args = ap.parse_args(argv)
    try:
        side = write_cache(args.artefact, args.variant, args.min_bytes)
    except weightcache.WeightCacheError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in side.items() if k != "isa"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
