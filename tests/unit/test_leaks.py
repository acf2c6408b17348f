"""The session-end check (tests/conftest.py) sees a child process a test left running, and removes it."""

from __future__ import annotations

import subprocess
import sys

from tests.support import leaks


def test_a_leftover_child_process_is_found_and_removed() -> None:
    before = leaks.child_processes()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        found = leaks.find(ignore_pids=before)
        assert proc.pid in found.processes and found
        assert any(f"process {proc.pid}" in d for d in found.describe())
        leaks.remove(leaks.Leftovers(processes={proc.pid: found.processes[proc.pid]}))
        assert proc.wait(timeout=10) != 0  # killed
        assert proc.pid not in leaks.find(ignore_pids=before).processes
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
