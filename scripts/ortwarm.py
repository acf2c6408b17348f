"""Warm inference of the same model loaded two ways in ONE process, runs alternated: ``.onnx`` with
ORT_ENABLE_ALL (what the images do) vs the build-time ORT-format copy with its bytes used directly.

Why one process and alternation: on a loaded machine two containers measured minutes apart differ more
than the two loads do; alternating A, B, A, B in one process gives both the same CPU weather. Run inside
an ONNX image with the ``.ort`` mounted beside the artefact (scripts/coldstart.py ortwarm); prints JSON.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import onnxruntime as ort


def session(path: str, ort_bytes: bool) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if ort_bytes:
        so.add_session_config_entry("session.use_ort_model_bytes_directly", "1")
        so.add_session_config_entry("session.use_ort_model_bytes_for_initializers", "1")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def main(path: str, rounds: int) -> dict:
    sessions = {"onnx:ALL": session(path, False), "ort:ALL": session(path + ".ort", True)}
    name = sessions["onnx:ALL"].get_inputs()[0].name
    shape = [d if isinstance(d, int) else 1 for d in sessions["onnx:ALL"].get_inputs()[0].shape]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for s in sessions.values():  # first runs (one-time costs) not counted
        s.run(None, {name: x})
    for _ in range(rounds):
        for k, s in sessions.items():
            t = time.perf_counter()
            s.run(None, {name: x})
            times[k].append((time.perf_counter() - t) * 1000)
    return {k: round(float(np.median(v)), 1) for k, v in times.items()}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10)))
