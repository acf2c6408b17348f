"""ONNX Runtime adapter (CPUExecutionProvider, sequential, ``threads`` intra-op threads).

Cold start: when the image carries ``<artefact>.ort`` (written at build time by images/build.py from
the same artefact, with ONNX Runtime's EXTENDED graph optimisations already applied), the session loads
that instead: ORT format, its bytes used directly for the graph and the initializers
(``session.use_ort_model_bytes_directly`` / ``..._for_initializers``), so the load neither parses
protobuf nor copies the weights, and the portable optimisations are not redone every cold start.
docs/coldstart.md has the measurements behind this and behind the optimisation level at load.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from runtimes.base import warm_up_at_init

#: Suffix of the build-time ORT-format copy of an artefact (images/build.py writes it).
ORT_SUFFIX = ".ort"
#: Graph optimisation level at load. ALL adds the layout (NCHWc) rewrites tuned to this CPU, which
#: cannot be saved portably (models/convert.py ORT_OFFLINE_LEVEL), so they are applied here.
LOAD_LEVEL = "ORT_ENABLE_ALL"


def artefact_to_load(path: str) -> str:
    """The build-time ``.ort`` copy beside ``path`` when there is one, else ``path`` itself."""
    ort_path = path + ORT_SUFFIX
    return ort_path if not path.endswith(ORT_SUFFIX) and os.path.isfile(ort_path) else path


class Adapter:
    name = "onnx"
    library = "onnxruntime"

    def __init__(self) -> None:
        self._sess: Any = None
        self.threads = 0
        self.stages: dict[str, float] = {}
        self.loaded_path = ""

    def version(self) -> str:
        from runtimes.base import dist_version

        if found := dist_version("onnxruntime"):
            return found
        import onnxruntime as ort

        return ort.__version__

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
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, LOAD_LEVEL)
        self.loaded_path = artefact_to_load(path)
        if self.loaded_path.endswith(ORT_SUFFIX):
            so.add_session_config_entry("session.use_ort_model_bytes_directly", "1")
            so.add_session_config_entry("session.use_ort_model_bytes_for_initializers", "1")
        self._sess = ort.InferenceSession(
            self.loaded_path, sess_options=so, providers=["CPUExecutionProvider"]
        )
        inputs, outputs = self._sess.get_inputs(), self._sess.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                f"{path}: expected one input and one output, got {len(inputs)} and {len(outputs)}"
            )
        self._input_name = inputs[0].name
        self._output_name = outputs[0].name
        self.threads = threads
        t1 = time.perf_counter()
        if warm_up_at_init(self.name):
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
