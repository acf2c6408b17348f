"""TensorFlow adapter: the reference every other runtime is compared against.

Serves a SavedModel directory (its serving signature is the inference-mode forward pass models/convert.py
exports) or a ``.keras``/``.h5`` file.
TensorFlow is imported inside ``load`` so that importing this module is free.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np


class Adapter:
    name = "tf"
    library = "tensorflow"

    def __init__(self) -> None:
        self._fn: Any = None
        self._input_name: str | None = None
        self._output_name: str | None = None
        self.threads = 0

    def version(self) -> str:
        from runtimes.base import library_version

        return library_version("tensorflow", "tensorflow-cpu", "tensorflow") or "unknown"

    def load(self, path: str, threads: int) -> None:
        """Load a SavedModel dir (serving_default signature) or a Keras file; pin TF's thread pools."""
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            # The TF runtime is already initialised in this process (e.g. a second load in tests);
            # the pools keep their earlier size, which is all TF allows.
            pass
        self.threads = tf.config.threading.get_intra_op_parallelism_threads() or threads
        if os.path.isdir(path):
            loaded = tf.saved_model.load(path)
            fn = loaded.signatures["serving_default"]
            _, kwargs = fn.structured_input_signature
            if len(kwargs) != 1:
                raise ValueError(f"{path}: serving signature must take one input, has {sorted(kwargs)}")
            self._input_name = next(iter(kwargs))
            outputs = fn.structured_outputs
            if len(outputs) != 1:
                raise ValueError(f"{path}: serving signature must return one output, has {sorted(outputs)}")
            self._output_name = next(iter(outputs))
            self._keep = loaded  # the signature only holds a weak reference to its variables
            self._fn = fn
        else:
            import keras

            model = keras.models.load_model(path, compile=False)
            self._keep = model
            self._fn = model
            self._input_name = None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        if self._fn is None:
            raise RuntimeError("load() first")
        x = tf.constant(np.asarray(batch, dtype=np.float32))
        if self._input_name is not None:
            out = self._fn(**{self._input_name: x})[self._output_name]
        else:
            out = self._fn(x, training=False)
        return np.asarray(out, dtype=np.float32)
