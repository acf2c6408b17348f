"""Container target: run an image under its Lambda Runtime Interface Emulator, like Lambda would.

Each container is limited the way Lambda limits a function (``--memory M --cpus M/1769``), published
only on 127.0.0.1, and labelled so a session finalizer (or ``cleanup``) removes it even after a failed
test. Starting, invoking, peak memory and sizes come from infra/docker.py (the one docker layer); this
module adds what a benchmark needs on top: labels per session, the cold-start sample and the events.
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.catalogue import LABEL, TAG_PREFIX
from infra import docker

SESSION_LABEL = f"{LABEL}.bench-session"
ContainerError = docker.DockerError
Answer = docker.Answer


def list_images() -> dict[str, str]:
    """Local project images (clothing-*): tag -> image id."""
    return docker.list_images(f"{TAG_PREFIX}*")


def lambda_env(memory_mb: int, threads: int | None = None) -> dict[str, str]:
    """What Lambda sets for a function of ``memory_mb`` (AWS_LAMBDA_FUNCTION_MEMORY_SIZE; the emulator
    otherwise reports 3008 MB whatever --memory is, as its REPORT lines showed), plus MODEL_THREADS when a
    threads experiment forces a count."""
    env = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb)}
    return env | ({"MODEL_THREADS": str(threads)} if threads else {})


def emulator(
    tag: str, memory_mb: int, cpus: float, session: str, http_timeout_s: float, threads: int | None = None
) -> docker.Emulator:
    """An Emulator labelled as this bench session's (not started), with Lambda's environment."""
    labels = {LABEL: "bench", SESSION_LABEL: session}
    return docker.Emulator(
        tag, memory_mb, cpus, env=lambda_env(memory_mb, threads), labels=labels, http_timeout_s=http_timeout_s
    )


DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def drop_caches() -> str | None:
    """Empty the host page cache (sync, then ``echo 3 > /proc/sys/vm/drop_caches``) so that the next
    container reads its image layers from disk, as a Lambda worker that never ran the image does.
    Returns why it could not (not root, read-only /proc), else None."""
    if os.geteuid() != 0:
        return "not root: cannot drop the host page cache"
    try:
        os.sync()
        DROP_CACHES.write_text("3\n")
    except OSError as e:
        return f"cannot write {DROP_CACHES}: {e}"
    return None


def cleanup(session: str | None = None) -> int:
    """Remove bench containers (of one session, or every bench container); returns how many."""
    return docker.remove_labelled(f"{SESSION_LABEL}={session}" if session else f"{LABEL}=bench")


# ----------------------------------------------------------------------------------------- events
def event_for(image_bytes: bytes) -> dict[str, Any]:
    return {"image_b64": base64.b64encode(image_bytes).decode("ascii"), "meta": True}


def handler_ms(meta: dict[str, Any]) -> float:
    """The handler's timed stages for one request (fetch + preprocess + inference). Lambda bills more: the
    whole invocation, which the emulator's REPORT line gives (bench/measure/records.py reads it); the stages
    stay
    the fallback and the cold request's duration."""
    return (
        float(meta.get("fetch_ms", 0))
        + float(meta.get("preprocess_ms", 0))
        + float(meta.get("inference_ms", 0))
    )


@dataclass
class ColdSample:
    total_ms: float
    start_ms: float
    first_request_ms: float
    init_ms: float
    first_inference_ms: float
    handler_ms: float


def cold_start(
    tag: str,
    memory_mb: int,
    cpus: float,
    session: str,
    event: dict[str, Any],
    start_timeout_s: float,
    http_timeout_s: float,
    keep: bool = False,
    threads: int | None = None,
) -> tuple[ColdSample | None, str | None, docker.Emulator | None]:
    """One fresh container: docker run -> emulator answers -> first good answer.

    Returns (sample, rejection reason, container if keep). A sample is only valid if the handler says
    ``cold: true``; anything else is rejected (not counted)."""
    c: docker.Emulator | None = emulator(tag, memory_mb, cpus, session, http_timeout_s, threads)
    assert c is not None
    try:
        t0 = time.perf_counter()
        c.start()
        c.wait_ready(start_timeout_s)
        t1 = time.perf_counter()
        ans = c.invoke(event)
        t2 = time.perf_counter()
        if not ans.ok or ans.predictions is None:
            raise ContainerError(
                f"{tag}: first answer failed ({ans.error_type}): {str(ans.body)[:300]}\n{c.logs()}"
            )
        meta = ans.meta
        if meta.get("cold") is not True:
            return None, f"handler reported cold={meta.get('cold')!r} on a fresh container", None
        sample = ColdSample(
            total_ms=(t2 - t0) * 1000,
            start_ms=(t1 - t0) * 1000,
            first_request_ms=(t2 - t1) * 1000,
            init_ms=float(meta.get("init_ms", 0.0)),
            first_inference_ms=float(meta.get("inference_ms", 0.0)),
            handler_ms=handler_ms(meta),
        )
        if keep:
            kept, c = c, None
            return sample, None, kept
        return sample, None, None
    finally:
        if c is not None:
            c.remove()
