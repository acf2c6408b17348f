"""The one runtime interface every adapter implements, the registry, and thread defaults.

An adapter is a tiny module ``runtimes/<name>.py`` exposing ``Adapter`` (a class with
``name``, ``version()``, ``load(path, threads)``, ``predict(batch) -> logits``). It imports
its own library lazily inside ``load`` so that importing the module costs nothing and an
image only needs the one library it serves.

The runtimes are the catalogue's (core/catalogue.py RUNTIMES): :func:`get` finds an adapter by its module,
and reads the catalogue only to name the choices in an error, so the handler's cold path does not import
it (tests/unit/test_catalogue_one_place.py checks every adapter against the catalogue instead).
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from typing import Protocol

import numpy as np

from core.budget import MB_PER_VCPU
from core.settings import read

THREADS_ENV = "MODEL_THREADS"
WARMUP_ENV = "MODEL_WARMUP"


class Runtime(Protocol):
    name: str
    #: which library actually served (e.g. "ai_edge_litert" or "tflite_runtime"); set by load()
    library: str
    #: the intra-op thread count load() gave the library (what it reports, when it says)
    threads: int

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


def library_version(module: str, *dists: str) -> str:
    """Version of an imported library: its own ``__version__`` when it has one, else :func:`dist_version`.
    The adapters report it once per sandbox, at INIT, where ``importlib.metadata`` alone (email, zipfile,
    pathlib and a scan of sys.path) would cost more than the adapter's own load (docs/coldstart.md)."""
    found = getattr(sys.modules.get(module), "__version__", None)
    return found if isinstance(found, str) and found else dist_version(*dists)


def warm_up_at_init(adapter: object) -> bool:
    """Whether ``load`` runs one inference on a blank input (during INIT, under a Lambda runtime):
    $MODEL_WARMUP (a core.settings flag) if set, else the adapter's own ``warmup_at_init`` (False when it
    has none). A warm-up moves the first request's one-time costs (XNNPACK / MLAS weight packing, arena
    allocation) into INIT; it does not remove them, so it only pays when INIT is cheaper than the request
    (not under the emulator, nor on Lambda since INIT is billed) or when a snapshot keeps its result
    (SnapStart, lambda_function._prime). Each adapter's choice comes from the interleaved run in
    docs/coldstart.md; MODEL_WARMUP=1/0 overrides it (the measurement flips it without a rebuild)."""
    forced: bool | None = read(WARMUP_ENV, None)
    return bool(getattr(adapter, "warmup_at_init", False)) if forced is None else forced


def known() -> tuple[str, ...]:
    """The catalogue's runtimes, for messages (imported here, off the handler's cold path)."""
    from core.catalogue import RUNTIMES

    return RUNTIMES


def init_stages(adapter: object) -> dict[str, float]:
    """The adapter's own split of its load, for the handler's meta and the cold-start decomposition
    (bench/report/coldstart.py): ``library_import_ms`` (the runtime library, imported lazily by ``load``),
    ``load_ms`` (that import + model read + allocation) and ``warmup_ms`` (the blank inference, 0 when
    none). Empty for an adapter that does not time itself."""
    return dict(getattr(adapter, "stages", None) or {})


def get(name: str) -> Runtime:
    """Instantiate the adapter called ``name``, runtimes/<name>.py's ``Adapter`` (its library is not
    imported yet); ValueError naming the catalogue's runtimes for any other name."""
    module = None
    if name.isidentifier() and name.islower():
        try:
            module = importlib.import_module(f"runtimes.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"runtimes.{name}":
                raise
    factory = getattr(module, "Adapter", None)
    if factory is None:
        raise ValueError(f"unknown runtime {name!r}; choose one of {', '.join(known())}")
    adapter: Runtime = factory()
    return adapter


def cgroup_cpu_limit() -> float | None:
    """CPU quota of this cgroup (v2 cpu.max or v1 cfs quota/period), None if unlimited."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            limit, every = f.read().split()
            if limit != "max":
                return int(limit) / int(every)
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


MEMORY_ENV = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"


def threads_for(visible_cpus: int, quota: float | None, memory_mb: int | None) -> int:
    """The thread policy as a pure function (tested without a container).

    A visible cgroup quota (docker --cpus) wins: ceil(quota). Real Lambda shows no quota: it shows 2 vCPUs
    from 128 to 3,008 MB (public /proc/cpuinfo measurements, docs/bench.md) and throttles to memory/1,769
    vCPU, so there the share comes from AWS_LAMBDA_FUNCTION_MEMORY_SIZE: ceil(memory / 1769), capped by
    the visible CPUs. Both give 1 thread at 1,024 and 1,769 MB and 2 at 3,008 MB. At 1,024 MB (0.58 vCPU)
    a second thread oversubscribes the quota and billed more for most runtimes in the forced-threads
    experiment (`BENCH_THREADS`, its table in results/report.md; docs/bench.md): 1 it is."""
    cpus = max(1, visible_cpus)
    if quota is not None:
        return min(cpus, max(1, math.ceil(quota)))
    if memory_mb:
        return min(cpus, max(1, math.ceil(memory_mb / MB_PER_VCPU)))
    return cpus


def default_threads() -> int:
    """Threads = $MODEL_THREADS if set, else :func:`threads_for` (affinity, cgroup quota, Lambda memory)."""
    forced: int | None = read(THREADS_ENV, None)
    if forced is not None:
        return forced
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        cpus = os.cpu_count() or 1
    return threads_for(cpus, cgroup_cpu_limit(), read(MEMORY_ENV, None))
