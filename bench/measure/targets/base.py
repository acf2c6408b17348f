"""The one interface every benchmark target implements: in-process, container (the emulator) and aws.

As SeBS has one platform interface for its clouds, a measurement here is written once against
:class:`Target` and runs on any of them: start an instance of a cell, take a cold start (with its INIT
and first-invoke figures), invoke it warm, read the platform's REPORT figures, stop it, clean up what a
failed run left. The load measurement (bench/measure/throughput.py) starts its execution environment
through the same ``start`` (``processes`` serving processes in one instance), and the cold-start study
(bench/measure/coldstart/) is a scenario of cold starts on the container target.

What a target needs of a cell is structural (:class:`Launchable`): the image, its memory and CPU share,
a forced thread count. The benchmark's cell (bench/measure/cells.Cell) becomes one with
``cell.launch(settings)``, since its CPU share depends on the host; a study's image at a memory size is a
:class:`Launch`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from infra.awslambda import Report
from infra.docker import Answer

__all__ = ["Answer", "ColdSample", "ColdStart", "Instance", "Launch", "Launchable", "PlatformLog", "Target"]


class Launchable(Protocol):
    """What any target needs to start one instance of a cell."""

    @property
    def tag(self) -> str: ...
    @property
    def memory_mb(self) -> int: ...
    @property
    def cpus(self) -> float: ...
    @property
    def threads(self) -> int | None: ...


@dataclass(frozen=True)
class Launch:
    """A cell as a target starts it, when no bench record names it (scripts, the throughput run)."""

    tag: str
    memory_mb: int
    cpus: float
    threads: int | None = None


@dataclass(frozen=True)
class PlatformLog:
    """What the platform (or its emulator) reported about an instance so far: the INIT phase's duration
    (the emulator's ``INIT REPORT(durationMs)``; on AWS the cold REPORT line's ``Init Duration``) and one
    REPORT line per finished invocation, in order. In-process has no platform: empty."""

    init_ms: float | None = None
    reports: tuple[Report, ...] = ()


@dataclass(frozen=True)
class ColdSample:
    """One cold start: start -> the instance answers -> the first good answer (ms). ``init_report_ms``
    and ``first_report`` are the platform's figures for it when the target has them."""

    total_ms: float
    start_ms: float
    first_request_ms: float
    init_ms: float  # the handler's own INIT (its ``meta.init_ms``)
    first_inference_ms: float
    handler_ms: float
    init_report_ms: float | None = None
    first_report: Report | None = None


@dataclass
class ColdStart:
    """A cold start's outcome: the sample, or why it was rejected (not counted); and the instance, still
    running, when the caller asked to keep it (it then stops it)."""

    sample: ColdSample | None
    rejected: str | None = None
    instance: Instance | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Instance(Protocol):
    """One running instance of a cell: a container, a Lambda function's sandbox, a loaded adapter."""

    def invoke(self, event: dict[str, Any]) -> Answer:
        """One warm invocation with a direct-invoke event (``image_b64``, ``meta``)."""
        ...

    def platform_log(self) -> PlatformLog:
        """INIT and REPORT figures the platform printed for this instance so far."""
        ...

    def stop(self) -> None:
        """Remove the instance (idempotent)."""
        ...


@runtime_checkable
class Target(Protocol):
    """Where cells run. ``start`` and ``cold_start`` take any :class:`Launchable`; ``env`` is added to
    the instance's environment (MODEL_WARMUP for a study's variant), ``processes`` serving processes share
    one instance (the load measurement; 1 otherwise)."""

    name: str

    def start(
        self, cell: Launchable, env: Mapping[str, str] | None = None, processes: int = 1
    ) -> Instance: ...

    def cold_start(
        self,
        cell: Launchable,
        event: dict[str, Any],
        env: Mapping[str, str] | None = None,
        keep: bool = False,
    ) -> ColdStart: ...

    def cleanup(self) -> int:
        """Remove whatever this target's session left running; returns how many."""
        ...
