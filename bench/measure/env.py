"""The environment stamped on every CSV row (code version, machine, docker, library versions, the run's
sizes), run ids, progress lines and the repeat order. The settings are bench/measure/settings.py's.
"""

from __future__ import annotations

import hashlib
import os
import platform
import random
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from bench.measure import schema
from bench.measure.settings import DEFAULT, FULL, MB_PER_VCPU, MODELS, QUICK, Settings, Sizes
from core.catalogue import HOST_LIBRARIES
from core.paths import ROOT
from infra import docker
from runtimes.base import dist_version

__all__ = [
    "DEFAULT",
    "FULL",
    "MB_PER_VCPU",
    "MODELS",
    "QUICK",
    "Sizes",
    "environment",
    "log",
    "run_id",
]


def _run(*cmd: str) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=ROOT)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(cfg: Settings, run_id: str) -> schema.Row:
    """What produced a row: code version, machine, docker, library versions, sizes of the run (the part
    of every row of the session that the session, not the cell, knows)."""
    docker_version, driver, cgroup = docker.server_info()
    return schema.Row(
        run_id=run_id,
        env=schema.Environment(
            git_sha=_run("git", "rev-parse", "HEAD"),
            git_dirty=bool(_run("git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)),
            cpu_model=cpu_model(),
            cpu_cores=os.cpu_count() or 1,
            docker_version=docker_version,
            storage_driver=driver,
            cgroup_version=cgroup,
            python=platform.python_version(),
        ),
        versions={lib.name: dist_version(*lib.dists) for lib in HOST_LIBRARIES},
        run=schema.RunSettings(
            pytest_benchmark=dist_version("pytest-benchmark"),
            timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
            quick=cfg.quick,
            cold_n_requested=cfg.cold_n,
            warm_m_requested=cfg.warm_m,
        ),
        cost=schema.Cost(cold_fraction=cfg.cold_fraction),
        provenance=schema.Provenance(bench_seed=cfg.seed, git_diff_sha256=git_diff_sha256()),
    )


#: What "the code" of a run is: the whole tree but results/, which `make bench` itself rewrites
#: (accuracy.csv, images.csv) before the benchmarks start.
CODE_PATHS = (".", ":(exclude)results")


def git_diff() -> bytes:
    """``git diff HEAD`` of the code (tracked changes outside results/): empty on a clean tree."""
    return subprocess.run(
        ["git", "diff", "HEAD", "--", *CODE_PATHS], capture_output=True, cwd=ROOT, timeout=60
    ).stdout


def git_diff_sha256() -> str | None:
    """sha256 of ``git diff HEAD`` (tracked changes) when the tree is dirty: which local edits produced
    a row, not only that there were some."""
    diff = git_diff()
    return hashlib.sha256(diff).hexdigest() if diff else None


def save_diff(run_csv: Path, diff: bytes | None = None) -> Path | None:
    """Keep the local changes a run was measured with beside it (``runs/<run_id>.diff``, the bytes whose
    sha256 every row carries): a hash alone cannot tell anyone later what the code was. None when clean."""
    diff = git_diff() if diff is None else diff
    if not diff:
        return None
    path = run_csv.with_suffix(".diff")
    path.write_bytes(diff)
    return path


def emulator_versions(tag: str) -> dict[str, str]:
    """The emulator and runtime client inside the image a cell ran (infra/docker.runtime_versions), not
    the pins. The emulator is named by the aws-sam-cli wheel it came from when its bytes are that wheel's
    (the local stand-in's), else by its sha256 (an AWS base, another build)."""
    from images import base

    found = docker.runtime_versions(tag)
    rie = found["rie_sha256"]
    if rie and rie == base.rie_sha256():
        name = f"aws-sam-cli {base.SAM_CLI_VERSION}"
    else:
        name = f"sha256:{rie[:12]}" if rie else ""
    return {
        "rie_version": name,
        "awslambdaric_version": found["awslambdaric"],
        "image_python": image_python(tag),
    }


#: Prints the python version of the image's own interpreter (the Lambda base's /var/lang or the system's).
_PYTHON_SCRIPT = (
    "for p in /var/lang/bin/python3 /usr/local/bin/python3 /usr/bin/python3 python3; do "
    "command -v $p >/dev/null 2>&1 && exec $p -c 'import platform; print(platform.python_version())'; done"
)


def image_python(tag: str) -> str:
    """The python version inside the image a cell ran (the run header's ``python`` is the host's), cached
    by image id beside the other facts read from inside it ('' when it cannot be read)."""
    iid = docker.image_id(tag)
    if iid is None:
        return ""
    cached = docker.load_cache().get(iid, {})
    if "python" in cached:
        return str(cached["python"])
    try:
        found = docker.out(
            "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", iid, "-c", _PYTHON_SCRIPT
        )
    except docker.DockerError:
        return ""
    version = found.strip().splitlines()[-1] if found.strip() else ""
    docker.remember(iid, python=version)
    return version


def load_average() -> float:
    """1-minute host load average: another process competing for the 2 cores shows here."""
    return round(os.getloadavg()[0], 2)


def run_id() -> str:
    """Sortable, unique enough for one machine: UTC time + short git sha."""
    sha = _run("git", "rev-parse", "--short", "HEAD") or "nogit"
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + f"-{sha}-{os.getpid()}"


def log(msg: str) -> None:
    """Fallback progress line when no pytest terminal reporter is around."""
    print(msg, file=sys.stderr, flush=True)


T = TypeVar("T")


def shuffled_by_repeat(cells: list[T], repeat_of: Callable[[T], int], seed: int) -> list[T]:
    """Repeat 0's cells, then repeat 1's, ...; each repeat shuffled with ``random.Random(seed + repeat)``."""
    by_rep: dict[int, list[T]] = {}
    for c in cells:
        by_rep.setdefault(repeat_of(c), []).append(c)
    ordered = []
    for rep in sorted(by_rep):
        group = by_rep[rep]
        random.Random(seed + rep).shuffle(group)
        ordered += group
    return ordered
