"""Container target: run an image under its Lambda Runtime Interface Emulator, like Lambda would.

Each container is limited the way Lambda limits a function (``--memory M --cpus M/1769``), published
only on 127.0.0.1, and labelled so a session finalizer (or ``cleanup``) removes it even after a failed
test. Starting, invoking, peak memory and sizes come from infra/docker.py (the one docker layer); this
module adds what a benchmark needs on top: labels per session, the cold-start sample, the emulator's
log read as figures (its ``INIT REPORT`` and ``REPORT`` lines: the one parser of them), several serving
processes in one environment (the load measurement), and the events. :class:`ContainerTarget` is this
target behind the interface of bench/measure/targets/base.py; the module functions are its parts.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.measure.targets.base import ColdSample, ColdStart, Launchable, PlatformLog
from core.catalogue import LABEL, TAG_PREFIX
from core.paths import ROOT
from infra import docker
from infra.awslambda import Report, ReportLineError, parse_report_line

SESSION_LABEL = f"{LABEL}.bench-session"
ContainerError = docker.DockerError
Answer = docker.Answer
__all__ = ["ColdSample", "ContainerInstance", "ContainerTarget", "parse_log"]

#: P serving processes in one container (the load measurement): passed to ``/bin/sh -c``, not baked in
MULTIPROCESS_ENTRYPOINT = ROOT / "images" / "multiprocess" / "entrypoint.sh"
BASE_PORT = 8080


def list_images() -> dict[str, str]:
    """Local project images (clothing-*): tag -> image id."""
    return docker.list_images(f"{TAG_PREFIX}*")


def lambda_env(memory_mb: int, threads: int | None = None) -> dict[str, str]:
    """What Lambda sets for a function of ``memory_mb`` (AWS_LAMBDA_FUNCTION_MEMORY_SIZE; the emulator
    otherwise reports 3008 MB whatever --memory is, as its REPORT lines showed), plus MODEL_THREADS when a
    threads experiment forces a count."""
    env = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb)}
    return env | ({"MODEL_THREADS": str(threads)} if threads else {})


# ------------------------------------------------------------------------------------ emulator log
#: ``... (rapid) INIT REPORT(durationMs: 1234.56)``: the emulator's INIT phase, once per container
INIT_REPORT = re.compile(r"INIT REPORT[^0-9]*?durationMs:?\s*([0-9.]+)", re.S)


def parse_log(text: str) -> PlatformLog:
    """The emulator's log as figures: its first ``INIT REPORT`` (there is no second INIT per container)
    and every ``REPORT`` line, read by infra/awslambda.py's parser (the same as AWS's log tails)."""
    init = INIT_REPORT.search(text)
    reports: list[Report] = []
    for ln in text.splitlines():
        if ln.lstrip().startswith("REPORT "):
            try:
                reports.append(parse_report_line(ln))
            except ReportLineError:
                continue
    return PlatformLog(float(init.group(1)) if init else None, tuple(reports))


class ContainerInstance(docker.Emulator):
    """One image under its emulator (docker.Emulator), or P emulator + runtime pairs in one container on
    ports 8080..8080+P-1 (images/multiprocess/entrypoint.sh, as Managed Instances runs P processes)."""

    def __init__(self, tag: str, memory_mb: int, cpus: float, env: dict[str, str], labels: dict[str, str],
                 http_timeout_s: float, processes: int = 1) -> None:  # fmt: skip
        super().__init__(tag, memory_mb, cpus, env, labels, http_timeout_s)
        self.processes = processes
        self.ports: list[int] = []

    def start(self) -> None:
        if self.processes == 1:
            super().start()
            self.ports = [self.port] if self.port else []
            return
        info = docker.inspect(self.tag)
        if info is None:
            raise docker.DockerError(f"image {self.tag} does not exist")
        handler = (info.get("Config", {}).get("Cmd") or ["lambda_function.lambda_handler"])[0]
        cmd = ["run", "-d", "--entrypoint", "/bin/sh"]
        for i in range(self.processes):
            cmd += ["-p", f"127.0.0.1::{BASE_PORT + i}"]
        for k, v in self.labels.items():
            cmd += ["--label", f"{k}={v}"]
        cmd += [
            "--memory",
            f"{self.memory_mb}m",
            "--memory-swap",
            f"{self.memory_mb}m",
            "--cpus",
            f"{self.cpus}",
        ]
        for k, v in (self.env | {"THROUGHPUT_PROCESSES": str(self.processes)}).items():
            cmd += ["-e", f"{k}={v}"]
        script = MULTIPROCESS_ENTRYPOINT.read_text()
        self.cid = docker.out(*cmd, self.tag, "-c", script, "entrypoint", handler, timeout=120)
        for i in range(self.processes):
            line = docker.out("port", self.cid, f"{BASE_PORT + i}/tcp", timeout=30).splitlines()[0]
            host, _, port = line.rpartition(":")
            if host != "127.0.0.1":
                raise docker.DockerError(f"{self.tag}: port published on {host}, expected 127.0.0.1 only")
            self.ports.append(int(port))
        self.port = self.ports[0]

    def wait_all_ready(self, timeout_s: float) -> None:
        """Every serving process's emulator answers."""
        for port in self.ports:
            self.port = port
            self.wait_ready(timeout_s)
        self.port = self.ports[0]

    def invoke_on(self, port: int, event: dict[str, Any]) -> docker.Answer:
        """One invocation on one serving process."""
        self.port, ans = port, None
        try:
            ans = self.invoke(event)
        finally:
            self.port = self.ports[0]
        return ans

    def platform_log(self) -> PlatformLog:
        return parse_log(self.logs(tail=10**7))

    def process_table(self) -> str:
        assert self.cid
        return docker.out("top", self.cid, "-eo", "pid,ppid,rss,args", timeout=30)

    def python_version(self) -> str:
        assert self.cid
        code = "import platform; print(platform.python_version())"
        return docker.out("exec", self.cid, "python3", "-c", code, timeout=30)

    def stop(self) -> None:
        self.remove()

    def __enter__(self) -> ContainerInstance:
        return self


def emulator(
    tag: str, memory_mb: int, cpus: float, session: str, http_timeout_s: float, threads: int | None = None,
    env: Mapping[str, str] | None = None, processes: int = 1,
) -> ContainerInstance:  # fmt: skip
    """A container of this bench session (not started), with Lambda's environment plus ``env``."""
    labels = {LABEL: "bench", SESSION_LABEL: session}
    full = lambda_env(memory_mb, threads) | dict(env or {})
    return ContainerInstance(tag, memory_mb, cpus, full, labels, http_timeout_s, processes)


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


def run_python(
    tag: str,
    args: Sequence[str],
    script: str | None = None,
    limits: tuple[float, int] | None = None,
    mounts: Mapping[Path, str] | None = None,
    env: Mapping[str, str] | None = None,
    workdir: str | None = None,
    read_only: bool = False,
    timeout_s: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``python3 ARGS`` in a fresh container of ``tag`` (no network, removed after), ``script`` on stdin
    when given (``python3 - ...``): how a probe runs inside an image with the image's own python and
    libraries. ``limits`` is (cpus, memory MB); ``mounts`` host path -> container path, read-only."""
    cmd = ["run", "--rm", "--network", "none", *(["-i"] if script is not None else [])]
    if read_only:
        cmd += ["--read-only", "--tmpfs", "/tmp"]
    if limits:
        cmd += [f"--cpus={limits[0]}", f"--memory={limits[1]}m"]
    for host, inside in (mounts or {}).items():
        cmd += ["-v", f"{host}:{inside}:ro"]
    for k, v in (env or {}).items():
        cmd += ["-e", f"{k}={v}"]
    cmd += ["-w", workdir] if workdir else []
    return docker.run(*cmd, "--entrypoint", "python3", tag, *args, check=False, timeout=timeout_s,
                      input_text=script)  # fmt: skip


# ----------------------------------------------------------------------------------------- events
def event_for(image_bytes: bytes) -> dict[str, Any]:
    return {"image_b64": base64.b64encode(image_bytes).decode("ascii"), "meta": True}


def handler_ms(meta: dict[str, Any]) -> float:
    """The handler's timed stages for one request (fetch + preprocess + inference). Lambda bills more: the
    whole invocation, which the emulator's REPORT line gives (parse_log); the stages stay the fallback and
    the cold request's duration."""
    return (
        float(meta.get("fetch_ms", 0))
        + float(meta.get("preprocess_ms", 0))
        + float(meta.get("inference_ms", 0))
    )


# ------------------------------------------------------------------------------------- cold start
def first_answer(
    c: ContainerInstance, event: dict[str, Any], start_timeout_s: float
) -> tuple[Any, float, float]:
    """docker run -> the emulator answers -> the first answer: (answer, start ms, first request ms)."""
    t0 = time.perf_counter()
    c.start()
    c.wait_ready(start_timeout_s)
    t1 = time.perf_counter()
    ans = c.invoke(event)
    t2 = time.perf_counter()
    if not ans.ok or ans.predictions is None:
        raise ContainerError(
            f"{c.tag}: first answer failed ({ans.error_type}): {str(ans.body)[:300]}\n{c.logs()}"
        )
    return ans, (t1 - t0) * 1000, (t2 - t1) * 1000


def sample_of(meta: dict[str, Any], start_ms: float, first_ms: float, log: PlatformLog) -> ColdSample:
    return ColdSample(
        total_ms=start_ms + first_ms,
        start_ms=start_ms,
        first_request_ms=first_ms,
        init_ms=float(meta.get("init_ms", 0.0)),
        first_inference_ms=float(meta.get("inference_ms", 0.0)),
        handler_ms=handler_ms(meta),
        init_report_ms=log.init_ms,
        first_report=log.reports[0] if log.reports else None,
    )


class ContainerTarget:
    """The container target behind bench/measure/targets/base.Target, for one bench session."""

    name = "container"

    def __init__(self, session: str, http_timeout_s: float = 60.0, start_timeout_s: float = 60.0) -> None:
        self.session, self.http_timeout_s, self.start_timeout_s = session, http_timeout_s, start_timeout_s

    def instance(
        self, cell: Launchable, env: Mapping[str, str] | None = None, processes: int = 1
    ) -> ContainerInstance:
        """Not started (a context manager removes it whatever happens)."""
        return emulator(cell.tag, cell.memory_mb, cell.cpus, self.session, self.http_timeout_s, cell.threads,
                        env, processes)  # fmt: skip

    def start(
        self, cell: Launchable, env: Mapping[str, str] | None = None, processes: int = 1
    ) -> ContainerInstance:
        c = self.instance(cell, env, processes)
        try:
            c.start()
            c.wait_all_ready(self.start_timeout_s)
        except BaseException:
            c.remove()
            raise
        return c

    def cold_start(
        self,
        cell: Launchable,
        event: dict[str, Any],
        env: Mapping[str, str] | None = None,
        keep: bool = False,
    ) -> ColdStart:
        """One fresh container: docker run -> emulator answers -> first good answer. A sample is only
        valid if the handler says ``cold: true``; anything else is rejected (not counted)."""
        c: ContainerInstance | None = self.instance(cell, env)
        assert c is not None
        try:
            ans, start_ms, first_ms = first_answer(c, event, self.start_timeout_s)
            if ans.meta.get("cold") is not True:
                return ColdStart(None, f"handler reported cold={ans.meta.get('cold')!r} on a fresh container")
            sample = sample_of(ans.meta, start_ms, first_ms, c.platform_log())
            kept, c = (c, None) if keep else (None, c)
            return ColdStart(sample, None, kept, {"meta": ans.meta})
        finally:
            if c is not None:
                c.remove()

    def cleanup(self) -> int:
        return cleanup(self.session)
