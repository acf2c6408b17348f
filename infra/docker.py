"""The one module that runs the docker CLI: images (build, inspect, sizes), registries, and the emulator.

Through the CLI (no docker SDK) because it is what users already have configured (contexts, credential
helpers, insecure registries). images/, bench/ and deploy/ all come here, so a container is started,
limited, waited for, invoked and removed the same way by the benchmark and by deploy's local check.

Sizes: ``docker save | gzip -6`` (pigz when present) approximates what a registry stores; it takes
~10 s for the 1.5 GB TensorFlow image on 2 cores, so it is cached by image id in ONE file,
build/images-sizes.json, shared by `make build-all` and the benchmark.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from core.fileio import atomic_write_text
from core.paths import ROOT

SIZE_CACHE = ROOT / "build" / "images-sizes.json"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
EMULATOR_PORT = "8080/tcp"


class DockerError(RuntimeError):
    """docker failed, timed out or is missing, or the emulator never answered properly."""


def run(
    *args: str, check: bool = True, timeout: float | None = None, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``docker *args`` with captured text output; DockerError when it cannot run or (check) fails."""
    try:
        proc = subprocess.run(
            ["docker", *args], input=input_text, capture_output=True, text=True, timeout=timeout
        )
    except FileNotFoundError as e:
        raise DockerError("docker CLI not found: install Docker and make sure `docker` is on PATH.") from e
    except subprocess.TimeoutExpired as e:
        raise DockerError(f"docker {' '.join(args[:3])} timed out after {timeout}s") from e
    if check and proc.returncode != 0:
        raise DockerError(f"docker {' '.join(args[:4])} failed: {proc.stderr.strip()[-500:]}")
    return proc


def out(*args: str, timeout: float | None = 120) -> str:
    """stdout of a docker command that must succeed."""
    return run(*args, timeout=timeout).stdout.strip()


def available() -> str | None:
    """None when the daemon answers, else why not (used as a skip reason)."""
    if not shutil.which("docker"):
        return "docker CLI not found"
    try:
        out("info", "--format", "{{.ServerVersion}}", timeout=20)
    except DockerError as e:
        return f"docker daemon not usable: {e}"
    return None


def server_info() -> tuple[str, str, str]:
    """(server version, storage driver, cgroup version), empty strings when docker is unusable."""
    try:
        info = out("info", "--format", "{{.ServerVersion}}|{{.Driver}}|{{.CgroupVersion}}", timeout=30)
    except DockerError:
        return "", "", ""
    version, driver, cgroup = (info.split("|") + ["", "", ""])[:3]
    return version, driver, cgroup


# -------------------------------------------------------------------------------------------- images
def inspect(ref: str) -> dict[str, Any] | None:
    """``docker image inspect`` of one image, None when it does not exist."""
    proc = run("image", "inspect", ref, check=False)
    return json.loads(proc.stdout)[0] if proc.returncode == 0 else None


def image_id(ref: str) -> str | None:
    info = inspect(ref)
    return str(info["Id"]) if info else None


def image_label(ref: str, label: str) -> str | None:
    """A label of an image ("" when unset), None when the image does not exist."""
    info = inspect(ref)
    return None if info is None else str((info.get("Config", {}).get("Labels") or {}).get(label, ""))


def build(context: Path, tag: str, labels: dict[str, str], build_args: dict[str, str]) -> None:
    """``docker build -q`` with the legacy builder; another architecture builds FROM a base of that
    architecture under emulation (images/arch.py), so no --platform and no buildx."""
    cmd = ["build", "-q", "-t", tag]
    for k, v in labels.items():
        cmd += ["--label", f"{k}={v}"]
    for k, v in build_args.items():
        cmd += ["--build-arg", f"{k}={v}"]
    proc = run(*cmd, str(context), check=False)
    if proc.returncode != 0:
        raise DockerError(f"docker build {tag} failed:\n{proc.stdout}{proc.stderr}")


def import_tar(tar: Path, tag: str) -> None:
    run("import", str(tar), tag)


def _rewrite(member: tarfile.TarInfo, data: bytes, dst: tarfile.TarFile) -> None:
    member.size = len(data)
    dst.addfile(member, io.BytesIO(data))


def set_architecture(tag: str, oci: str, variant: str) -> str:
    """Give `tag` the config architecture (and variant) of `arch`: docker save | edit | docker load,
    streamed (no temporary copy). The config's file name is its sha256, renamed with it in manifest.json.
    Returns the new image id; the old one is removed when nothing else uses it."""
    old = image_id(tag)
    save = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
    load = subprocess.Popen(
        ["docker", "load", "-q"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert save.stdout is not None and load.stdin is not None and load.stdout is not None
    renamed: dict[str, str] = {}
    with (
        tarfile.open(fileobj=save.stdout, mode="r|") as src,
        tarfile.open(fileobj=load.stdin, mode="w|") as dst,
    ):
        for m in src:
            f = src.extractfile(m) if m.isfile() else None
            if f is not None and re.fullmatch(r"[0-9a-f]{64}\.json", m.name):
                cfg = json.load(f)
                cfg["architecture"] = oci
                cfg.pop("variant", None)
                if variant:
                    cfg["variant"] = variant
                data = json.dumps(cfg, separators=(",", ":")).encode()
                renamed[m.name] = m.name = hashlib.sha256(data).hexdigest() + ".json"
                _rewrite(m, data, dst)
            elif f is not None and m.name == "manifest.json":
                manifest = json.load(f)
                for entry in manifest:
                    entry["Config"] = renamed.get(entry["Config"], entry["Config"])
                _rewrite(m, json.dumps(manifest).encode(), dst)
            else:
                dst.addfile(m, f)
    load.stdin.close()
    said = load.stdout.read().decode()
    if save.wait() != 0 or load.wait() != 0 or not renamed:
        raise DockerError(f"rewriting {tag}'s architecture failed: {said[-500:]}")
    new = "sha256:" + next(iter(renamed.values()))[: -len(".json")]
    if old is not None and new != old:
        run("rmi", old, check=False)  # dangling now; kept if still used
    return new


def pull(ref: str, timeout_s: float = 60) -> bool:
    try:
        return run("pull", ref, check=False, timeout=timeout_s).returncode == 0
    except DockerError:
        return False


def list_images(reference: str) -> dict[str, str]:
    """Local images matching ``reference`` (e.g. clothing-*): tag -> short image id."""
    lines = out(
        "images", "--format", "{{.Repository}}:{{.Tag}}\t{{.ID}}", "--filter", f"reference={reference}"
    )
    tags = {}
    for line in lines.splitlines():
        tag, _, iid = line.partition("\t")
        if not tag.endswith(":<none>"):
            tags[tag] = iid
    return tags


# ----------------------------------------------------------------------------------------- registries
def login(registry: str, username: str, password: str) -> None:
    """`docker login --password-stdin` so the password never appears in the process list."""
    proc = run(
        "login", "--username", username, "--password-stdin", registry, input_text=password, check=False
    )
    if proc.returncode != 0:
        raise DockerError(
            f"docker login to {registry} failed: {proc.stderr.strip().splitlines()[-1:] or ['?']}"
        )


def tag(source: str, target: str) -> None:
    run("tag", source, target)


def remove_tag(ref: str) -> None:
    """Drop a tag (the image itself stays while other tags name it)."""
    run("rmi", ref, check=False)


def push(target: str, progress: TextIO | None = None) -> list[str]:
    """`docker push`, streaming its lines to ``progress``; returns them (DockerError with the last one)."""
    progress = progress or sys.stderr
    try:
        proc = subprocess.Popen(
            ["docker", "push", target], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
    except FileNotFoundError as e:
        raise DockerError("docker CLI not found: install Docker and make sure `docker` is on PATH.") from e
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        progress.write(f"  push: {line}")
        progress.flush()
    if proc.wait() != 0:
        raise DockerError(f"docker push {target} failed ({lines[-1] if lines else 'no output'})")
    return lines


# ---------------------------------------------------------------------------------------------- sizes
def load_cache() -> dict[str, dict[str, Any]]:
    """build/images-sizes.json: image id -> {"gz_bytes": ..., "build_s": ...}."""
    try:
        return json.loads(SIZE_CACHE.read_text())
    except (OSError, ValueError):
        return {}


def remember(iid: str, **fields: Any) -> None:
    """Merge fields into the cache entry of ``iid`` (re-read first: another build may have written)."""
    merged = load_cache()
    merged.setdefault(iid, {}).update(fields)
    atomic_write_text(SIZE_CACHE, json.dumps(merged, indent=1, sort_keys=True))


def compressed_bytes(iid: str) -> int:
    """Bytes of `docker save | gzip -6`, cached by image id (an unchanged image is not re-measured)."""
    cached = load_cache().get(iid, {})
    if "gz_bytes" in cached:
        return int(cached["gz_bytes"])
    gz = ["pigz", "-6", "-c"] if shutil.which("pigz") else ["gzip", "-6", "-c"]
    save = subprocess.Popen(["docker", "save", iid], stdout=subprocess.PIPE)
    comp = subprocess.Popen(gz, stdin=save.stdout, stdout=subprocess.PIPE)
    assert save.stdout is not None and comp.stdout is not None
    save.stdout.close()
    n = 0
    while block := comp.stdout.read(1 << 20):
        n += len(block)
    if comp.wait() != 0 or save.wait() != 0:
        raise DockerError(f"docker save {iid} | gzip failed")
    remember(iid, gz_bytes=n)
    return n


def history(ref: str) -> list[tuple[int, str]]:
    """(bytes, created_by) per layer, oldest first."""
    lines = out("history", "--no-trunc", "--human=false", "--format", "{{.Size}}\t{{.CreatedBy}}", ref)
    rows = []
    for line in lines.splitlines():
        size, _, created = line.partition("\t")
        rows.append((int(size or 0), created))
    return rows[::-1]


def split_layers(layers: list[tuple[int, str]]) -> dict[str, int] | None:
    """Split an image's layers into base / runtime (deps + their byte-code) / model / handler.

    Relies on the Dockerfiles' fixed order: COPY deps/ -> /var/task/ (+ compileall RUN), COPY model/ ->
    /var/task/model/, then runtimes/ and the handler. None if that COPY is not found."""
    deps = next(
        (i for i, (_, c) in enumerate(layers) if "COPY dir:" in c and c.rstrip().endswith(" in /var/task/")),
        None,
    )
    model = next((i for i, (_, c) in enumerate(layers) if c.rstrip().endswith(" in /var/task/model/")), None)
    if deps is None or model is None or model < deps:
        return None
    return {
        "base": sum(s for s, _ in layers[:deps]),
        "runtime": sum(s for s, _ in layers[deps:model]),
        "model": layers[model][0],
        "handler": sum(s for s, _ in layers[model + 1 :]),
    }


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


def image_sizes(ref: str, compressed: bool = True) -> ImageSizes:
    """Uncompressed, compressed (cached) and per-layer sizes of a local image, plus its environment."""
    raw = inspect(ref)
    if raw is None:
        raise DockerError(f"image {ref} does not exist")
    env = dict(e.split("=", 1) for e in raw["Config"].get("Env") or [] if "=" in e)
    parts = split_layers(history(ref)) or {}
    return ImageSizes(
        image_id=raw["Id"],
        uncompressed=int(raw["Size"]),
        compressed=compressed_bytes(raw["Id"]) if compressed else None,
        base=parts.get("base"),
        runtime_layer=parts.get("runtime"),
        model=parts.get("model"),
        handler=parts.get("handler"),
        env=env,
    )


#: where an image keeps its Lambda runtime client and emulator: the AWS base (/var/runtime, /var/lang)
#: and the local stand-in (images/base.py) alike
_VERSIONS_SCRIPT = (
    "find /var/runtime /var/lang /usr /opt -maxdepth 6 -type d -name 'awslambdaric-*.dist-info' "
    "2>/dev/null | head -n 1; sha256sum /usr/local/bin/aws-lambda-rie 2>/dev/null"
)


def parse_runtime_versions(text: str) -> dict[str, str]:
    """{"awslambdaric": version, "rie_sha256": hex} from _VERSIONS_SCRIPT's output ('' for what is absent)."""
    ric, rie = "", ""
    for line in text.splitlines():
        line = line.strip()
        name = line.rsplit("/", 1)[-1]
        if name.startswith("awslambdaric-") and name.endswith(".dist-info"):
            ric = name[len("awslambdaric-") : -len(".dist-info")]
        elif line.endswith("aws-lambda-rie") and len(line.split()[0]) == 64:
            rie = line.split()[0]
    return {"awslambdaric": ric, "rie_sha256": rie}


def runtime_versions(ref: str) -> dict[str, str]:
    """awslambdaric's version and the emulator binary's sha256 read inside the image (what a benchmark ran,
    not what the pins say), cached by image id."""
    iid = image_id(ref)
    if iid is None:
        raise DockerError(f"image {ref} does not exist")
    cached = load_cache().get(iid, {})
    if "runtime_versions" in cached:
        return dict(cached["runtime_versions"])
    text = out("run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", iid, "-c", _VERSIONS_SCRIPT)
    found = parse_runtime_versions(text)
    remember(iid, runtime_versions=found)
    return found


# ------------------------------------------------------------------------------------------- emulator
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


class Emulator:
    """One image running under its Lambda Runtime Interface Emulator on a 127.0.0.1 port.

    Limited the way Lambda limits a function when ``memory_mb``/``cpus`` are given (``--memory M
    --memory-swap M --cpus C``: Lambda has no swap) and labelled so a cleanup finds it after a failure.
    Use as a context manager: the container is removed whatever happens."""

    def __init__(
        self,
        tag: str,
        memory_mb: int | None = None,
        cpus: float | None = None,
        env: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        http_timeout_s: float = 60.0,
    ) -> None:
        self.tag, self.memory_mb, self.cpus = tag, memory_mb, cpus
        self.env, self.labels = dict(env or {}), dict(labels or {})
        self.http_timeout_s = http_timeout_s
        self.cid: str | None = None
        self.port: int | None = None

    def start(self) -> None:
        cmd = ["run", "-d", "-p", "127.0.0.1::8080"]
        for k, v in self.labels.items():
            cmd += ["--label", f"{k}={v}"]
        if self.memory_mb:
            cmd += ["--memory", f"{self.memory_mb}m", "--memory-swap", f"{self.memory_mb}m"]
        if self.cpus:
            cmd += ["--cpus", f"{self.cpus}"]
        for k, v in self.env.items():
            cmd += ["-e", f"{k}={v}"]
        self.cid = out(*cmd, self.tag, timeout=120)
        ports = out("port", self.cid, EMULATOR_PORT, timeout=30).splitlines()
        host, _, p = (ports[0] if ports else "").rpartition(":")
        if host != "127.0.0.1":
            raise DockerError(f"{self.tag}: port published on {host or 'nothing'}, expected 127.0.0.1 only")
        self.port = int(p)

    def running(self) -> bool:
        if not self.cid:
            return False
        return run("inspect", "-f", "{{.State.Running}}", self.cid, check=False).stdout.strip() == "true"

    def wait_ready(self, timeout_s: float) -> None:
        """Poll until the emulator answers HTTP (any status: it 404s unknown paths without starting
        the runtime). A bare TCP connect is not enough: docker-proxy accepts before the emulator listens.
        A container that exited meanwhile fails with its last log lines; that check (a `docker inspect`)
        starts after 2 s and runs once a second, so it does not load the host during a measured cold start
        (docker run -> emulator answering is well under that: results/latest.csv, column
        ``cold_container_start_median_ms``)."""
        deadline = time.perf_counter() + timeout_s
        next_check = time.perf_counter() + 2.0
        url = f"http://127.0.0.1:{self.port}/ready-probe"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1.0):
                    return
            except urllib.error.HTTPError:
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                now = time.perf_counter()
                if now > next_check:
                    next_check = now + 1.0
                    if not self.running():
                        raise DockerError(f"{self.tag} exited before answering ({self.logs(3)})") from None
                if now > deadline:
                    raise DockerError(f"{self.tag}: emulator did not answer within {timeout_s}s") from None
                time.sleep(0.005)

    def invoke(self, event: dict[str, Any], timeout_s: float | None = None) -> Answer:
        """POST one direct-invoke event; a handler exception comes back as errorType in the body."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{INVOKE_PATH}",
            data=json.dumps(event).encode(),
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

    def _cgroup_file(self, name_v1: str, name_v2: str) -> str | None:
        """A memory cgroup file of the container, read on the host, else with ``docker exec cat``."""
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
        script = f"cat /sys/fs/cgroup/memory/{name_v1} 2>/dev/null || cat /sys/fs/cgroup/{name_v2}"
        try:
            return out("exec", self.cid, "sh", "-c", script, timeout=20)
        except DockerError:
            return None

    def peak_memory_bytes(self) -> int | None:
        """cgroup v1 ``memory.max_usage_in_bytes`` / v2 ``memory.peak`` (the emulator's "Max Memory
        Used" is a placeholder and is never used)."""
        raw = self._cgroup_file("memory.max_usage_in_bytes", "memory.peak")
        return int(raw.strip()) if raw and raw.strip().isdigit() else None

    def rss_bytes(self) -> int | None:
        """Anonymous memory (the process heap, model weights): total_rss (v1) / anon (v2)."""
        st: dict[str, int] = {}
        for line in (self._cgroup_file("memory.stat", "memory.stat") or "").splitlines():
            k, _, v = line.partition(" ")
            if v.strip().isdigit():
                st[k] = int(v)
        return st.get("total_rss", st.get("anon"))

    def logs(self, tail: int = 40) -> str:
        if not self.cid:
            return ""
        try:
            proc = run("logs", "--tail", str(tail), self.cid, timeout=30, check=False)
        except DockerError:
            return ""
        return (proc.stdout + proc.stderr).strip()

    def remove(self) -> None:
        if self.cid:
            try:
                run("rm", "-f", self.cid, timeout=60, check=False)
            except DockerError:
                pass
            self.cid = None

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def remove_labelled(label: str) -> int:
    """Remove every container carrying ``label`` (``key`` or ``key=value``); returns how many."""
    try:
        ids = out("ps", "-aq", "--filter", f"label={label}", timeout=30).split()
        if ids:
            run("rm", "-f", *ids, timeout=120, check=False)
        return len(ids)
    except DockerError:
        return 0
