"""ONNX Runtime adapter (CPUExecutionProvider, sequential, ``threads`` intra-op threads).

Cold start: the session loads the ``.onnx`` with ORT_ENABLE_ALL (the plain load). An ORT-format copy
made at build time (EXTENDED optimisations saved, bytes used directly) halved the Xception-size load and
its memory, but the CPU-specific layout (NCHWc) rewrites of ALL cannot be saved portably and were not
applied to it at load, so every warm inference ran 2-3x slower: refuted, warm requests are what a
function mostly bills (docs/coldstart.md, model-load table).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from runtimes.base import warm_up_at_init


class Adapter:
    name = "onnx"
    library = "onnxruntime"
    #: one blank inference at the end of load (runtimes.base.warm_up_at_init): off, from the interleaved
    #: run in docs/coldstart.md
    warmup_at_init = False

    def __init__(self) -> None:
        self._sess: Any = None
        self.threads = 0
        self.stages: dict[str, float] = {}

    def version(self) -> str:
        from runtimes.base import library_version

        return library_version("onnxruntime", "onnxruntime") or "unknown"

    def load(self, path: str, threads: int) -> None:
        """One intra-op pool of ``threads``; inter-op 1 and sequential execution (a CNN is a chain)."""
        t0 = time.perf_counter()
        import onnxruntime as ort

        t_import = time.perf_counter()
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        self._sess = ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])
        inputs, outputs = self._sess.get_inputs(), self._sess.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                f"{path}: expected one input and one output, got {len(inputs)} and {len(outputs)}"
            )
        self._input_name = inputs[0].name
        self._output_name = outputs[0].name
        self.threads = threads
        t1 = time.perf_counter()
        if warm_up_at_init(self):
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in inputs[0].shape]
            self.predict(np.zeros(shape, np.float32))
        self.stages = {
            "library_import_ms": (t_import - t0) * 1000,
            "load_ms": (t1 - t0) * 1000,
            "warmup_ms": (time.perf_counter() - t1) * 1000,
        }

    def predict(self, batch: np.ndarray) -> np.ndarray:
        if self._sess is None:
            raise RuntimeError("load() first")
        x = np.asarray(batch, dtype=np.float32)
        (y,) = self._sess.run([self._output_name], {self._input_name: x})
        return np.asarray(y, dtype=np.float32)
