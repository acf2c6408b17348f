"""Model load options, one fresh process per trial: import, load, first and second inference, mapping.

Why a fresh process per trial: what a cold start pays (library import, file reads, kernel packing) is paid
once per process, so a loop in one process would measure the warm case. Runs on the host or inside an
image (``docker run -i --entrypoint python3 <tag> - RUNTIME PATH OPTION < scripts/modelload.py``); prints
one JSON line. It is the evidence behind the per-runtime choices in runtimes/onnx.py and runtimes/tflite.py
(docs/coldstart.md); the figures live in that generated doc, not here.

Options: tflite ``default``; onnx ``FORMAT[:LEVEL]`` with FORMAT ``onnx`` (the artefact; ``default`` is
``onnx:ALL``, what main loaded), ``ort`` (the build-time ``<artefact>.ort``, its bytes used directly) or
``ort-copy`` (the same, copied), LEVEL the graph optimisation at load: ALL, EXT, BASIC, NONE.
scripts/coldstart.py makes the ``.ort`` on the host and mounts it (no image ships one: docs/coldstart.md).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable

#: warm inferences per trial after the second: their median is the option's warm speed
WARM_N = int(os.environ.get("MODELLOAD_WARM_N", "15"))


def _maps(path: str) -> bool:
    """Whether ``path`` is memory-mapped in this process (TFLite's FlatBufferModel maps its file)."""
    real = os.path.realpath(path)
    with open("/proc/self/maps") as f:
        return any(line.rstrip().endswith(real) for line in f)


def _memory_mb() -> dict[str, float]:
    """Resident memory now and at its peak, and the part of it backed by files (a mapped weight cache
    or model) versus anonymous (private copies, arenas): the kernel can drop file pages under pressure."""
    fields = {"VmRSS": "rss_mb", "VmHWM": "peak_rss_mb", "RssFile": "rss_file_mb", "RssAnon": "rss_anon_mb"}
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in fields:
                out[fields[key]] = int(line.split()[1]) / 1024
    return out


def _compiled(path: str, cache: str, threads: int) -> tuple[Callable[[], None], float, float]:
    """LiteRT's CompiledModel on XNNPACK, with the weight cache file ``cache`` ("" = none): (run, t1, t2)."""
    import numpy as np
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.options import CpuOptions, Options

    if cache and not os.path.isfile(cache):  # XNNPACK would write one here: a build's work, not a load's
        raise SystemExit(f"no weight cache at {cache} (the image's build writes it for large artefacts)")
    t1 = time.perf_counter()
    cpu = CpuOptions(num_threads=threads, xnnpack_weight_cache_path=cache)
    model = CompiledModel.from_file(path, options=Options(cpu_options=cpu))
    ins, outs = model.create_input_buffers(0), model.create_output_buffers(0)
    sig = next(iter(model.get_signature_list()))
    (detail,) = model.get_input_tensor_details(sig).values()
    (out,) = model.get_output_tensor_details(sig).values()
    n_out = int(np.prod(out["shape"]))
    t2 = time.perf_counter()

    def run() -> None:
        ins[0].write(np.zeros(detail["shape"], detail["dtype"]))
        model.run_by_index(0, ins, outs)
        outs[0].read(n_out, np.dtype(out["dtype"]))

    return run, t1, t2


def main(runtime: str, path: str, option: str = "default", threads: int = 1) -> dict:
    t0 = time.perf_counter()
    import numpy as np

    if runtime == "tflite" and option.startswith("compiled"):
        run, t1, t2 = _compiled(path, option.partition(":")[2], threads)
    elif runtime == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        t1 = time.perf_counter()
        interp = Interpreter(model_path=path, num_threads=threads)
        interp.allocate_tensors()
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
        t2 = time.perf_counter()

        def run() -> None:
            interp.set_tensor(inp["index"], np.zeros(inp["shape"], inp["dtype"]))
            interp.invoke()
            interp.get_tensor(out["index"])

    else:
        import onnxruntime as ort

        t1 = time.perf_counter()
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        fmt, _, level = option.partition(":")  # e.g. "ort:ALL", "onnx:NONE"; "default" = "onnx:ALL"
        levels = {
            "ALL": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            "EXT": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "BASIC": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "NONE": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        }
        so.graph_optimization_level = levels[level or "ALL"]
        if fmt.startswith("ort"):
            path = path if path.endswith(".ort") else path + ".ort"
            if fmt == "ort":  # "ort-copy": the same file, ORT copies its bytes
                so.add_session_config_entry("session.use_ort_model_bytes_directly", "1")
                so.add_session_config_entry("session.use_ort_model_bytes_for_initializers", "1")
        sess = ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])
        i = sess.get_inputs()[0]
        shape = [1 if not isinstance(d, int) else d for d in i.shape]
        t2 = time.perf_counter()

        def run() -> None:
            sess.run(None, {i.name: np.zeros(shape, np.float32)})

    run()
    t3 = time.perf_counter()
    run()
    t4 = time.perf_counter()
    warm = []
    for _ in range(WARM_N):  # the steady state, to compare options' warm speed (one run is too noisy)
        w0 = time.perf_counter()
        run()
        warm.append((time.perf_counter() - w0) * 1000)
    return {
        "runtime": runtime,
        "path": os.path.basename(path),
        "option": option,
        "import_ms": round((t1 - t0) * 1000, 1),
        "load_ms": round((t2 - t1) * 1000, 1),
        "first_ms": round((t3 - t2) * 1000, 1),
        "second_ms": round((t4 - t3) * 1000, 1),
        "warm_ms": round(sorted(warm)[len(warm) // 2], 2),
        "mapped": _maps(path),
        **{k: round(v, 1) for k, v in _memory_mb().items()},
    }


if __name__ == "__main__":
    a = sys.argv[1:]
    print(json.dumps(main(a[0], a[1], a[2] if len(a) > 2 else "default", int(a[3]) if len(a) > 3 else 1)))
