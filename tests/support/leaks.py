"""Find what a test session left behind: its labelled containers and networks, containers attached to
those networks (what `sam local` started on them), and child processes of this pytest process.

Only this session's resources are looked at (TEST_LABEL=SESSION): other worktrees' sessions may be running
on the same docker daemon at the same time.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field

from tests.support.containers import SESSION, TEST_LABEL


@dataclass
class Leftovers:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    processes: dict[int, str] = field(default_factory=dict)  # pid -> command line

    def __bool__(self) -> bool:
        return bool(self.containers or self.networks or self.processes)

    def describe(self) -> list[str]:
        out = [f"container {c}" for c in self.containers] + [f"network {n}" for n in self.networks]
        return out + [f"process {pid} ({cmd[:120]})" for pid, cmd in self.processes.items()]


def _docker(*args: str) -> list[str]:
    if shutil.which("docker") is None:
        return []
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    return res.stdout.split() if res.returncode == 0 else []


def child_processes() -> dict[int, str]:
    """Live (not zombie) processes whose parent is this process: pid -> command line."""
    me, out = os.getpid(), {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == me and state != "Z":
            out[int(entry)] = cmd
    return out


def find(ignore_pids: dict[int, str] | None = None) -> Leftovers:
    label = f"label={TEST_LABEL}={SESSION}"
    networks = _docker("network", "ls", "-q", "--filter", label)
    containers = set(_docker("ps", "-aq", "--filter", label))
    for net in networks:
        containers |= set(_docker("ps", "-aq", "--filter", f"network={net}"))
    procs = {p: c for p, c in child_processes().items() if p not in (ignore_pids or {})}
    return Leftovers(sorted(containers), networks, procs)


def remove(found: Leftovers) -> None:
    for pid in found.processes:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if found.containers:
        _docker("rm", "-f", *found.containers)
    for net in found.networks:
        _docker("network", "rm", net)
