"""Container target: run an image under its Lambda Runtime Interface Emulator, like Lambda would.

Each container is limited the way Lambda limits a function (``--memory M --cpus M/1769``), published
only on 127.0.0.1, and labelled so a session finalizer (or ``cleanup``) removes it even after a failed
test. Peak memory comes from the container's cgroup on the host (cgroup v1 ``memory.max_usage_in_bytes``,
v2 ``memory.peak``), falling back to ``docker exec cat`` inside the container; the emulator's own
"Max Memory Used" is a placeholder and is never used.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.env import LABEL, ROOT

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
SESSION_LABEL = f"{LABEL}.bench-session"


class ContainerError(RuntimeError):
    """docker failed, the emulator never answered, or an answer was malformed."""


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    try:
        proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise ContainerError(f"docker {' '.join(args[:3])} timed out after {timeout}s") from e
    if check and proc.returncode != 0:
        raise ContainerError(f"docker {' '.join(args[:4])} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout.strip()


def docker_available() -> str | None:
    """None when the daemon answers, else why not (used as a skip reason)."""
    if not shutil.which("docker"):
        return "docker CLI not found"
    try:
        docker("info", "--format", "{{.ServerVersion}}", timeout=20)
    except ContainerError as e:
        return f"docker daemon not usable: {e}"
    return None


def list_images() -> dict[str, str]:
    """Local images named clothing-*: tag -> image id."""
    out = docker(
        "images", "--format", "{{.Repository}}:{{.Tag}}\t{{.ID}}", "--filter", "reference=clothing-*"
    )
    tags = {}
    for line in out.splitlines():
        tag, _, iid = line.partition("\t")
        if not tag.endswith(":<none>"):
            tags[tag] = iid
    return tags


def parse_tag(tag: str) -> tuple[str, str, str] | None:
    """clothing-<image>:<model>-<variant> -> (image, model, variant). Variants: see ARCHITECTURE.md."""
    repo, _, rest = tag.partition(":")
    if not repo.startswith("clothing-") or not rest:
        return None
    kind = repo[len("clothing-") :]
    variants = ("full-int8", "float32-opt", "int8-dynamic", "int8-qdq", "float32", "float16", "int8", "none")
    for variant in variants:
        if rest.endswith("-" + variant) and len(rest) > len(variant) + 1:
            return kind, rest[: -len(variant) - 1], variant
    model, _, variant = rest.rpartition("-")
    return (kind, model, variant) if model else None


# ------------------------------------------------------------------------------------ image sizes
@dataclass
class ImageSizes:
    image_id: str
    uncompressed: int
    compressed: int | None
    base: int | None
    runtime_layer: int | None
    model: int | None
    handler: int | None
    env: dict[str, str] = field(default_factory=dict)


def _history(tag: str) -> list[tuple[int, str]]:
    """(bytes, created_by) per layer, oldest first."""
    out = docker("history", "--no-trunc", "--human=false", "--format", "{{.Size}}\t{{.CreatedBy}}", tag)
    rows = []
    for line in out.splitlines():
        size, _, created = line.partition("\t")
        rows.append((int(size or 0), created))
    return rows[::-1]


def split_layers(history: list[tuple[int, str]]) -> dict[str, int] | None:
    """Split an image's layers into base / runtime (deps + their byte-code) / model / handler.

    Relies on the Dockerfiles' fixed order: COPY deps/ -> /var/task/ (+ compileall RUN), COPY model/ ->
    /var/task/model/, then runtimes/ and the handler. None if that COPY is not found."""
    deps = next(
        (i for i, (_, c) in enumerate(history) if "COPY dir:" in c and c.rstrip().endswith(" in /var/task/")),
        None,
    )
    model = next((i for i, (_, c) in enumerate(history) if c.rstrip().endswith(" in /var/task/model/")), None)
    if deps is None or model is None or model < deps:
        return None
    return {
        "base": sum(s for s, _ in history[:deps]),
        "runtime": sum(s for s, _ in history[deps:model]),
        "model": history[model][0],
        "handler": sum(s for s, _ in history[model + 1 :]),
    }


def _known_compressed(image_id: str) -> int | None:
    """The images build tool's figure for this exact image id, if it wrote one."""
    import csv

    for path in (ROOT / "results" / "images.csv", ROOT / "build" / "images.csv"):
        try:
            with open(path, newline="") as f:
                for row in csv.DictReader(f):
                    if (
                        row.get("image_id", "").removeprefix("sha256:")[:12]
                        == image_id.removeprefix("sha256:")[:12]
                    ):
                        value = row.get("compressed_bytes") or row.get("gz_bytes")
                        if value:
                            return int(value)
        except (OSError, ValueError):
            continue
    return None


def compressed_bytes(image_id: str, cache: Path = ROOT / "build" / "bench" / "compressed.json") -> int:
    """`docker save | gzip` size (what a registry stores, roughly); cached per image id."""
    known = _known_compressed(image_id)
    if known:
        return known
    data = json.loads(cache.read_text()) if cache.is_file() else {}
    if image_id in data:
        return int(data[image_id])
    gz = ["pigz", "-6", "-c"] if shutil.which("pigz") else ["gzip", "-6", "-c"]
    save = subprocess.Popen(["docker", "save", image_id], stdout=subprocess.PIPE)
    try:
        comp = subprocess.run(gz, stdin=save.stdout, capture_output=True, timeout=1800, check=True)
    finally:
        if save.stdout:
            save.stdout.close()
        save.wait(timeout=60)
    if save.returncode != 0:
        raise ContainerError(f"docker save {image_id} failed")
    size = len(comp.stdout)
    data[image_id] = size
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(data, indent=1))
    return size


def image_sizes(tag: str) -> ImageSizes:
    raw = json.loads(docker("image", "inspect", tag))[0]
    env = dict(e.split("=", 1) for e in raw["Config"].get("Env") or [] if "=" in e)
    parts = split_layers(_history(tag)) or {}
    return ImageSizes(
        image_id=raw["Id"],
        uncompressed=int(raw["Size"]),
        compressed=compressed_bytes(raw["Id"]),
        base=parts.get("base"),
        runtime_layer=parts.get("runtime"),
        model=parts.get("model"),
        handler=parts.get("handler"),
        env=env,
    )


# ------------------------------------------------------------------------------------- containers
@dataclass
class Answer:
    ok: bool
    client_ms: float
    body: Any
    error_type: str | None = None

    @property
    def meta(self) -> dict[str, Any]:
        return self.body.get("meta", {}) if isinstance(self.body, dict) else {}

    @property
    def predictions(self) -> dict[str, float] | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("predictions"), dict):
            return self.body["predictions"]
        return None


class Container:
    """One running emulator container; use as a context manager so it is always removed."""

    def __init__(self, tag: str, memory_mb: int, cpus: float, session: str, http_timeout_s: float = 60.0):
        self.tag, self.memory_mb, self.cpus, self.session = tag, memory_mb, cpus, session
        self.http_timeout_s = http_timeout_s
        self.cid: str | None = None
        self.port: int | None = None

    def start(self) -> None:
        self.cid = docker(
            "run",
            "-d",
            "--label",
            f"{LABEL}=bench",
            "--label",
            f"{SESSION_LABEL}={self.session}",
            "--memory",
            f"{self.memory_mb}m",
            "--memory-swap",
            f"{self.memory_mb}m",
            "--cpus",
            f"{self.cpus}",
            "-p",
            "127.0.0.1::8080",
            self.tag,
            timeout=120,
        )
        port = docker("port", self.cid, "8080/tcp", timeout=30).splitlines()[0]
        host, _, p = port.rpartition(":")
        if host not in ("127.0.0.1",):
            raise ContainerError(f"port published on {host}, expected 127.0.0.1 only")
        self.port = int(p)

    def wait_ready(self, timeout_s: float) -> None:
        """Poll until the emulator answers HTTP (any status: it 404s unknown paths without starting
        the runtime). A bare TCP connect is not enough: docker-proxy accepts before the emulator listens."""
        deadline = time.perf_counter() + timeout_s
        url = f"http://127.0.0.1:{self.port}/ready-probe"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1.0):
                    return
            except urllib.error.HTTPError:
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                if time.perf_counter() > deadline:
                    raise ContainerError(f"{self.tag}: emulator did not answer within {timeout_s}s") from None
                time.sleep(0.005)

    def invoke(self, event: dict[str, Any], timeout_s: float | None = None) -> Answer:
        """POST one direct-invoke event; a handler exception comes back as errorType in the body."""
        data = json.dumps(event).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{INVOKE_PATH}",
            data=data,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=timeout_s or self.http_timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
            return Answer(False, (time.perf_counter() - t0) * 1000, None, f"transport:{type(e).__name__}")
        ms = (time.perf_counter() - t0) * 1000
        try:
            body = json.loads(raw)
        except ValueError:
            return Answer(False, ms, raw[:200], "transport:NotJson")
        if isinstance(body, dict) and "errorType" in body:
            return Answer(False, ms, body, str(body["errorType"]))
        return Answer(isinstance(body, dict), ms, body)

    # cgroup ---------------------------------------------------------------------------------
    def _cgroup_file(self, name_v1: str, name_v2: str) -> str | None:
        assert self.cid
        for path in (
            Path(f"/sys/fs/cgroup/memory/docker/{self.cid}/{name_v1}"),
            Path(f"/sys/fs/cgroup/system.slice/docker-{self.cid}.scope/{name_v2}"),
            Path(f"/sys/fs/cgroup/docker/{self.cid}/{name_v2}"),
        ):
            try:
                return path.read_text()
            except OSError:
                continue
        try:
            return docker(
                "exec",
                self.cid,
                "sh",
                "-c",
                f"cat /sys/fs/cgroup/memory/{name_v1} 2>/dev/null || cat /sys/fs/cgroup/{name_v2}",
                timeout=20,
            )
        except ContainerError:
            return None

    def peak_memory_bytes(self) -> int | None:
        raw = self._cgroup_file("memory.max_usage_in_bytes", "memory.peak")
        return int(raw.strip()) if raw and raw.strip().isdigit() else None

    def memory_stat(self) -> dict[str, int]:
        raw = self._cgroup_file("memory.stat", "memory.stat") or ""
        out = {}
        for line in raw.splitlines():
            k, _, v = line.partition(" ")
            if v.strip().isdigit():
                out[k] = int(v)
        return out

    def rss_bytes(self) -> int | None:
        """Anonymous memory (the process heap, model weights): total_rss (v1) / anon (v2)."""
        st = self.memory_stat()
        return st.get("total_rss", st.get("anon"))

    def logs(self, tail: int = 40) -> str:
        if not self.cid:
            return ""
        try:
            return docker("logs", "--tail", str(tail), self.cid, timeout=30, check=False)
        except ContainerError:
            return ""

    def remove(self) -> None:
        if self.cid:
            docker("rm", "-f", self.cid, timeout=60, check=False)
            self.cid = None

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def cleanup(session: str | None = None) -> int:
    """Remove bench containers (of one session, or every bench container); returns how many."""
    label = f"{SESSION_LABEL}={session}" if session else f"{LABEL}=bench"
    try:
        ids = docker("ps", "-aq", "--filter", f"label={label}", timeout=30).split()
        if ids:
            docker("rm", "-f", *ids, timeout=120, check=False)
        return len(ids)
    except ContainerError:
        return 0


# ----------------------------------------------------------------------------------------- events
def event_for(image_bytes: bytes) -> dict[str, Any]:
    return {"image_b64": base64.b64encode(image_bytes).decode("ascii"), "meta": True}


def handler_ms(meta: dict[str, Any]) -> float:
    """The handler's own time for one request (what Lambda's Duration approximately bills)."""
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
) -> tuple[ColdSample | None, str | None, Container | None]:
    """One fresh container: docker run -> emulator answers -> first good answer.

    Returns (sample, rejection reason, container if keep). A sample is only valid if the handler says
    ``cold: true``; anything else is rejected (not counted)."""
    c = Container(tag, memory_mb, cpus, session, http_timeout_s)
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
