"""The one runtime interface every adapter implements, the registry, and thread defaults.

An adapter is a tiny module ``runtimes/<name>.py`` exposing ``Adapter`` (a class with
``name``, ``version()``, ``load(path, threads)``, ``predict(batch) -> logits``). It imports
its own library lazily inside ``load`` so that importing the module costs nothing and an
image only needs the one library it serves.
"""

from __future__ import annotations

import importlib
import math
import os
from typing import Protocol

import numpy as np

#: Runtimes known to the project. Adding one = one adapter file + one Dockerfile.
RUNTIMES: tuple[str, ...] = ("tf", "tflite", "onnx", "null")
THREADS_ENV = "MODEL_THREADS"


class Runtime(Protocol):
    name: str
    #: which library actually served (e.g. "ai_edge_litert" or "tflite_runtime"); set by load()
    library: str

    def version(self) -> str: ...

    def load(self, path: str, threads: int) -> None: ...

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) float32 -> (N, n_classes) float32 model outputs (logits)."""
        ...


def dist_version(*dists: str) -> str:
    """Version of the first installed distribution among ``dists`` ("" if none): one helper for the
    adapters, the manifests and every result row, so they all name versions the same way."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in dists:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return ""


def get(name: str) -> Runtime:
    """Instantiate the adapter called ``name`` (its library is not imported yet)."""
    if name not in RUNTIMES:
        raise ValueError(f"unknown runtime {name!r}; choose one of {', '.join(RUNTIMES)}")
    module = importlib.import_module(f"runtimes.{name}")
    return module.Adapter()


def _cgroup_cpu_limit() -> float | None:
    """CPU quota of this cgroup (v2 cpu.max or v1 cfs quota/period), None if unlimited."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()
            if quota != "max":
                return int(quota) / int(period)
            return None
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period = int(f.read())
        return quota / period if quota > 0 else None
    except (OSError, ValueError):
        return None


def default_threads() -> int:
    """Threads = $MODEL_THREADS if set, else CPUs this process may use (affinity and cgroup quota)."""
    env = os.environ.get(THREADS_ENV)
    if env:
        n = int(env)
        if n < 1:
            raise ValueError(f"{THREADS_ENV} must be >= 1, got {env}")
        return n
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_limit()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)
