"""Throughput under load: an image's handler served by P processes per vCPU, as Managed Instances runs it.

One container is one execution environment: a CPU quota (``--cpus``) and a memory limit (``--memory``, no
swap) shared by P processes, each its own Runtime Interface Emulator + runtime (images/multiprocess/
entrypoint.sh), each serving one request at a time. bench/measure/loadgen.py drives it with real test images:
first at saturation (a closed loop, one client per process), then open-loop at set fractions of the
saturation rate it just measured. Each load level is one
:class:`bench.measure.throughput_schema.ThroughputRecord`
in results/throughput.csv (docs/throughput.md: what this stands in for and what it cannot show).

``python -m bench.measure.throughput`` (``make throughput``) runs it; the default is sized to a few minutes.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.measure import loadgen
from bench.measure import throughput_schema as ts
from bench.measure.env import cpu_model, run_id
from bench.measure.settings import Settings, current
from bench.measure.targets.base import Launch
from bench.measure.targets.container import ContainerInstance, ContainerTarget, cleanup
from core import catalogue
from core.paths import ROOT, WINNER_JSON
from core.settings import read
from infra import docker
from models import registry

#: Managed Instances' Python runtime needs 3.13 or later (docs/throughput.md): older images are skipped.
MIN_PYTHON = (3, 13)
#: the smallest memory per vCPU Managed Instances offers (GiB): the tightest environment it can run
DEFAULT_MEMORY_MB = 2048
DEFAULT_FRACTIONS = (0.5, 0.8)
N_BODIES = 64


class ThroughputError(RuntimeError):
    """The environment did not come up as P serving processes, or a load level got no answer."""


@dataclass(frozen=True)
class Load:
    """One run's environment shape and load levels, the command line's flags (docs/throughput.md); the
    timeouts are the benchmark's one settings object's (BENCH_HTTP_TIMEOUT_S, BENCH_START_TIMEOUT_S)."""

    vcpus: float = 1.0
    memory_mb: int = DEFAULT_MEMORY_MB
    processes_per_vcpu: tuple[int, ...] = ts.PROCESSES_PER_VCPU
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS
    warmup_s: float = 2.0
    window_s: float = 8.0
    repeats: int = 1
    seed: int = 0
    settings: Settings = field(default_factory=current)

    def processes(self, p: int) -> int:
        return max(1, round(p * self.vcpus))


# --------------------------------------------------------------------------------------- environment
def environment(tag: str, processes: int, cfg: Load, session: str) -> ContainerInstance:
    """One image as a Managed Instances execution environment, started by the container target: P emulator
    + runtime pairs in one container, published on 127.0.0.1 only, under one CPU quota and memory limit."""
    target = ContainerTarget(session, cfg.settings.http_timeout_s, cfg.settings.start_timeout_s)
    return target.start(Launch(tag, cfg.memory_mb, cfg.vcpus), processes=processes)


def metas(env: ContainerInstance, body: dict[str, object]) -> list[dict[str, object]]:
    """The handler's ``meta`` answering on each port (its pid, threads): who serves where."""
    found = []
    for port in env.ports:
        ans = env.invoke_on(port, {**body, "meta": True})
        if not ans.ok:
            raise ThroughputError(f"{env.tag} port {port}: {ans.error_type} {str(ans.body)[:200]}")
        found.append(ans.meta)
    return found


def serving_rss(ps_text: str) -> list[int]:
    """Bytes of each serving process with its children (the handler's decode worker), from ``ps -o
    pid,ppid,rss,args`` of the environment: a serving process is a child of an aws-lambda-rie process."""
    procs: dict[int, tuple[int, int, str]] = {}
    for line in ps_text.splitlines()[1:]:
        parts = line.split(None, 3)
        if len(parts) >= 3 and parts[0].isdigit() and parts[1].isdigit() and parts[2].isdigit():
            procs[int(parts[0])] = (int(parts[1]), int(parts[2]) * 1024, parts[3] if len(parts) > 3 else "")
    emulators = {pid for pid, (_, _, args) in procs.items() if "aws-lambda-rie" in args}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)

    def tree(pid: int) -> int:
        return procs[pid][1] + sum(tree(c) for c in children.get(pid, []))

    return [tree(pid) for pid, (ppid, _, _) in sorted(procs.items()) if ppid in emulators]


# ------------------------------------------------------------------------------------------- bodies
def request_bodies(dataset: Path, n: int = N_BODIES, seed: int = 0) -> list[bytes]:
    """``n`` test-split images (a seeded draw across classes) as direct-invoke events ``{"image_b64"}``."""
    files = sorted((dataset / "test").glob("*/*.jpg"))
    if not files:
        raise ThroughputError(f"no test images under {dataset / 'test'}; set CLOTHING_DATASET or `make data`")
    picks = random.Random(seed).sample(files, min(n, len(files)))
    return [json.dumps({"image_b64": base64.b64encode(f.read_bytes()).decode()}).encode() for f in picks]


# ------------------------------------------------------------------------------------------ measure
@dataclass(frozen=True)
class Level:
    fraction: float
    offered_rps: float | None
    summary: loadgen.Summary


def run_levels(env: ContainerInstance, bodies: Sequence[bytes], cfg: Load, seed: int) -> list[Level]:
    """Saturation first, then each fraction of the rate saturation reached (open loop)."""
    seconds = cfg.warmup_s + cfg.window_s
    sat = loadgen.summarise(
        loadgen.closed_loop(env.ports, bodies, seconds, cfg.settings.http_timeout_s), cfg.warmup_s, seconds
    )
    levels = [Level(ts.SATURATION, None, sat)]
    for k, f in enumerate(sorted(cfg.fractions)):
        rate = f * sat.achieved_rps
        samples = loadgen.open_loop(env.ports, bodies, rate, seconds, seed + k, cfg.settings.http_timeout_s)
        levels.append(Level(f, rate, loadgen.summarise(samples, cfg.warmup_s, seconds)))
    return levels


def warm(env: ContainerInstance, bodies: Sequence[bytes], per_process: int = 3) -> None:
    """Each process's cold start (INIT) and a few warm requests, outside any measured window."""
    for port in env.ports:
        client = loadgen.Client(port, env.http_timeout_s)
        for k in range(per_process):
            if not client.post(bodies[k % len(bodies)]):
                raise ThroughputError(f"{env.tag}: warm-up request on port {port} failed\n{env.logs(10)}")
        client.close()


def measure(
    tag: str, p: int, repeat: int, cfg: Load, bodies: Sequence[bytes], run: str, sha: str = ""
) -> list[ts.ThroughputRecord]:
    """One environment of ``tag`` with P processes per vCPU: its load levels as records; ``sha`` is the
    code the run started from (read once: other commits may land while it runs)."""
    t = catalogue.parse_tag(tag)
    if t is None:
        raise ThroughputError(f"{tag} is not a project image tag (clothing-<image>:<model>-<variant>)")
    n = cfg.processes(p)
    with environment(tag, n, cfg, session=run) as env:
        found = metas(env, json.loads(bodies[0]))
        pids = [m.get("pid") for m in found]
        if len(set(pids)) != n:
            raise ThroughputError(f"{tag}: {n} processes expected, answers came from pids {pids}")
        threads = max(int(str(m.get("threads", 1))) for m in found)
        warm(env, bodies)
        python = env.python_version()
        rss = serving_rss(env.process_table())
        levels = run_levels(env, bodies, cfg, cfg.seed + 1000 * repeat + 10 * p)
        rss = [max(a, b) for a, b in zip(rss, serving_rss(env.process_table()), strict=False)] or rss
        per_process = max(rss) if rss else 0
        total = max(env.peak_memory_bytes() or 0, per_process)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    return [
        ts.ThroughputRecord(
            run_id=run,
            model=t.model,
            image=tag,
            variant=t.variant,
            runtime=catalogue.runtime_of(t.kind),
            architecture=t.arch,
            python=python,
            vcpus=cfg.vcpus,
            memory_limit_mb=cfg.memory_mb,
            processes_per_vcpu=p,
            processes=n,
            threads_per_process=threads,
            repeat=repeat,
            load_fraction=lv.fraction,
            offered_rps=lv.offered_rps,
            achieved_rps=lv.summary.achieved_rps,
            rps_per_vcpu=lv.summary.achieved_rps / cfg.vcpus,
            n_requests=lv.summary.n_requests,
            n_errors=lv.summary.n_errors,
            window_s=lv.summary.window_s,
            latency_p50_ms=lv.summary.p50_ms,
            latency_p99_ms=lv.summary.p99_ms,
            memory_per_process_bytes=per_process,
            memory_total_bytes=total,
            timestamp=stamp,
            git_sha=sha or git_sha(),
            cpu_model=cpu_model(),
        )  # fmt: skip
        for lv in levels
    ]


def git_sha() -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False)
    return out.stdout.strip() or "nogit"


def python_ok(version: str) -> bool:
    parts = tuple(int(x) for x in version.split(".")[:2] if x.isdigit())
    return parts >= MIN_PYTHON


# ------------------------------------------------------------------------------------------- images
def eligible(tag: str) -> str | None:
    """Why ``tag`` cannot run on Managed Instances (None when it can): its python is older than 3.13, or it
    is the null image (no model: it never wins)."""
    t = catalogue.parse_tag(tag)
    if t is None or t.kind not in catalogue.IMAGES:
        return f"{tag}: not a project image tag"
    if t.kind == "null":
        return f"{tag}: the null image serves no model"
    spec = catalogue.IMAGES[t.kind]
    if not python_ok(spec.python):
        return f"{tag}: python {spec.python} (Managed Instances needs {'.'.join(map(str, MIN_PYTHON))}+)"
    return None


def default_images(winner: Path = WINNER_JSON, models: Sequence[str] = ("reference",)) -> list[str]:
    """The cells the decision weighs for ``models``: winner.json's tie set and each model's pick, else (no
    winner.json) each model's tflite and onnx float32 images; eligible ones, in that order, no repeats."""
    found: list[str] = []
    try:
        w = json.loads(winner.read_text())
        found += [str(c.get("image", "")) for c in w.get("tie_set") or [] if isinstance(c, dict)]
        found += [str(m.get("image", "")) for m in (w.get("per_model") or {}).values() if isinstance(m, dict)]
    except (OSError, ValueError, AttributeError):
        pass
    if not found:
        found = [catalogue.tag(k, m, "float32") for m in models for k in ("tflite", "onnx")]
    keep = [t for t in found if (pt := catalogue.parse_tag(t)) is not None and pt.model in models]
    return [t for t in dict.fromkeys(keep) if eligible(t) is None]


def chosen_images(images: str, models: str, winner: Path = WINNER_JSON) -> list[str]:
    """``--images`` when given, else :func:`default_images` of ``--models``, each named as MODEL takes it
    (reference, xception, or a path to your model, whose card gives the name its tags carry)."""
    names = [registry.model_name(m) for m in models.split(",") if m]
    return [t for t in images.split(",") if t] or default_images(winner, models=names)


# ---------------------------------------------------------------------------------------------- run
def run_all(
    images: Sequence[str], cfg: Load, dataset: Path, out: Path, log: Callable[[str], object] = print
) -> list[ts.ThroughputRecord]:
    """Every (image, repeat, P) environment in turn; records written after each one (a stopped run keeps
    what it measured). A missing image or an ineligible one is skipped with its reason."""
    run, sha, bodies, records = run_id(), git_sha(), request_bodies(dataset, seed=cfg.seed), []
    present = set(docker.list_images(f"{catalogue.TAG_PREFIX}*"))
    try:
        for tag in images:
            why = eligible(tag) or (None if tag in present else f"{tag}: not built (`make build-all`)")
            if why:
                log(f"skip {why}")
                continue
            for repeat in range(cfg.repeats):
                for p in cfg.processes_per_vcpu:
                    t0 = time.perf_counter()
                    recs = measure(tag, p, repeat, cfg, bodies, run, sha)
                    records += recs
                    ts.write(records, out)
                    log(describe(recs, time.perf_counter() - t0))
    finally:
        cleanup(run)
    return records


def describe(recs: Sequence[ts.ThroughputRecord], wall_s: float) -> str:
    r0 = recs[0]
    levels = ", ".join(
        f"{r.load_fraction:.0%}: {r.achieved_rps:.1f}/s"
        f" p50 {r.latency_p50_ms:.1f} p99 {r.latency_p99_ms:.1f} ms"
        + (f" ({r.n_errors} errors)" if r.n_errors else "")
        for r in recs
    )
    return (
        f"{r0.image} P={r0.processes_per_vcpu} on {r0.vcpus:g} vCPU / {r0.memory_limit_mb} MB: {levels}; "
        f"memory {r0.memory_per_process_bytes / 2**20:.0f} MB per process, "
        f"{r0.memory_total_bytes / 2**20:.0f} MB total [{wall_s:.0f} s]"
    )


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(",") if x.strip())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.measure.throughput", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--images", default="", help="comma-separated tags; default: the decision's cells")
    ap.add_argument(
        "--models", default="reference", help="models (names or model paths) of the default images"
    )
    ap.add_argument("--processes", default="1,2,4", help="P, processes per vCPU")
    ap.add_argument("--fractions", default=",".join(map(str, DEFAULT_FRACTIONS)), help="of saturation")
    ap.add_argument("--vcpus", type=float, default=1.0)
    ap.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB)
    ap.add_argument("--warmup-s", type=float, default=Load.warmup_s)
    ap.add_argument("--window-s", type=float, default=Load.window_s)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ts.DEFAULT_PATH)
    a = ap.parse_args(argv)
    cfg = Load(
        vcpus=a.vcpus, memory_mb=a.memory_mb, processes_per_vcpu=tuple(int(x) for x in _floats(a.processes)),
        fractions=_floats(a.fractions), warmup_s=a.warmup_s, window_s=a.window_s, repeats=a.repeats,
        seed=a.seed, settings=current(),
    )  # fmt: skip
    if not all(0 < f < 1 for f in cfg.fractions) or cfg.window_s <= 0 or cfg.repeats < 1:
        ap.error("fractions must be in (0, 1), --window-s > 0, --repeats >= 1")
    images = chosen_images(a.images, a.models)
    if not images:
        ap.error("no image to measure: build them (`make build-all`) or pass --images")
    dataset = Path(read("CLOTHING_DATASET", str(ROOT / "data" / "clothing-dataset-small")))
    print(f"throughput: {len(images)} images x P={cfg.processes_per_vcpu} x {cfg.repeats} repeats, "
          f"{cfg.vcpus:g} vCPU / {cfg.memory_mb} MB, host load {os.getloadavg()[0]:.2f} "
          f"({platform.node()})", flush=True)  # fmt: skip
    records = run_all(images, cfg, dataset, a.out, log=lambda m: print(m, flush=True))
    print(f"wrote {len(records)} records to {a.out}", flush=True)
    return 0 if records else 1


if __name__ == "__main__":
    sys.exit(main())
