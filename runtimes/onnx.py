"""ONNX Runtime adapter (CPUExecutionProvider, sequential, ``threads`` intra-op threads)."""

from __future__ import annotations

from typing import Any

import numpy as np


class Adapter:
    name = "onnx"
    library = "onnxruntime"

    def __init__(self) -> None:
        self._sess: Any = None
        self.threads = 0

    def version(self) -> str:
        from runtimes.base import dist_version

        if found := dist_version("onnxruntime"):
            return found
        import onnxruntime as ort

        return str(ort.__version__)

    def load(self, path: str, threads: int) -> None:
        """One intra-op pool of ``threads``; inter-op 1 and sequential execution (a CNN is a chain)."""
        import onnxruntime as ort

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

    def predict(self, batch: np.ndarray) -> np.ndarray:
        if self._sess is None:
            raise RuntimeError("load() first")
        x = np.asarray(batch, dtype=np.float32)
        (y,) = self._sess.run([self._output_name], {self._input_name: x})
        return np.asarray(y, dtype=np.float32)
