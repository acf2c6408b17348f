"""Run one function on untrusted bytes in a forked child, under a CPU-time and an address-space limit.

Why a child: a decoder's work depends on how the bytes are arranged (scans, strips, RLE runs, chunks),
not only on the pixel count, so no structure check written beside the decoder can follow its rules
exactly. The kernel can: the child gets ``RLIMIT_AS`` (every allocation past the memory budget fails
inside the decoder) and a CPU-time timer (``ITIMER_PROF``, whose signal ends the process wherever it
is, in C code included; ``RLIMIT_CPU`` is a coarser backstop), and the parent kills it at a wall-clock
deadline for when the CPU is throttled. Whatever the
input does to the decoder (spins, allocates, crashes), the parent survives and answers.

Why ``os.fork`` and not multiprocessing: Lambda has no /dev/shm, so multiprocessing's Pool and Queue fail
there; a fork with one pipe needs neither. The child inherits the parent's memory copy-on-write; it
disables the garbage collector (a collection would write to every tracked object's header and copy the
parent's pages, model included), never imports, never logs, and leaves with ``os._exit``.
The per-request cost of the fork is measured in docs/handler.md (decode budget).
"""

from __future__ import annotations

import gc
import os
import resource
import select
import signal
import struct
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

_LEN = struct.Struct("<Q")
#: Bytes the child may allocate beyond the budget before the kernel refuses (Python's own bookkeeping).
_SLACK = 8 * 1024 * 1024


class Overrun(Exception):
    """The child used more than its budget (``what``: "cpu" or "memory") or died by a signal."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(detail)
        self.what = what


@dataclass(frozen=True)
class Outcome:
    """What the child sent back and what it cost."""

    payload: bytes
    cpu_s: float  # user + system CPU time of the child
    max_rss_kb: int  # the child's peak resident set (its inherited pages included)


def _vm_bytes() -> int:
    """This process's current virtual size (the base the child's address-space limit adds to)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _child(fn: Callable[[], bytes], w: int, cpu_s: float, mem_bytes: int) -> None:
    """In the child: limits, run, one length-prefixed message, exit. Never returns."""
    code = 0
    try:
        gc.disable()
        signal.signal(signal.SIGXCPU, signal.SIG_DFL)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)  # default action: terminate
        signal.setitimer(signal.ITIMER_PROF, cpu_s)
        limit = _vm_bytes() + mem_bytes + _SLACK
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        secs = max(1, int(cpu_s + 0.999))
        resource.setrlimit(resource.RLIMIT_CPU, (secs, secs + 1))
        try:
            out = b"\x00" + fn()
        except MemoryError:
            out = b"\x02"
        view = memoryview(_LEN.pack(len(out)) + out)
        while view:
            view = view[os.write(w, view) :]
    except BaseException:  # noqa: BLE001 - nothing may escape a forked child into the parent's code
        code = 70
    finally:
        os._exit(code)


def _fork() -> int:
    with warnings.catch_warnings():
        # Python warns when forking a process with threads (a runtime's pool): the child only runs
        # Pillow and numpy code on its own thread and never takes a lock another thread could hold.
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def run(fn: Callable[[], bytes], *, cpu_s: float, wall_s: float, mem_bytes: int) -> Outcome:
    """``fn()`` in a child limited to ``mem_bytes`` more address space and ``cpu_s`` CPU seconds, killed
    after ``wall_s``. ``fn`` returns bytes (its result, or an encoded error of its own). Raises
    :class:`Overrun` when a limit stopped it or it died."""
    r, w = os.pipe()
    pid = _fork()
    if pid == 0:  # pragma: no cover - the child; measured through the parent
        os.close(r)
        _child(fn, w, cpu_s, mem_bytes)
    os.close(w)
    try:
        data, timed_out = _read_all(r, time.monotonic() + wall_s)
    finally:
        os.close(r)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    cpu = usage.ru_utime + usage.ru_stime
    _check(status, data, timed_out, cpu, wall_s)
    if data[_LEN.size] == 2:
        raise Overrun("memory", f"child ran out of its {mem_bytes}-byte address-space budget")
    return Outcome(data[_LEN.size + 1 :], cpu, usage.ru_maxrss)


def _check(status: int, data: bytes, timed_out: bool, cpu: float, wall_s: float) -> None:
    if timed_out:
        raise Overrun("cpu", f"killed at the {wall_s:.2f} s deadline after {cpu:.2f} s CPU")
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        what = "cpu" if sig in (signal.SIGPROF, signal.SIGXCPU, signal.SIGKILL) else "crash"
        raise Overrun(what, f"child killed by {signal.Signals(sig).name} after {cpu:.2f} s CPU")
    complete = len(data) >= _LEN.size and len(data) == _LEN.size + _LEN.unpack_from(data)[0]
    if os.WEXITSTATUS(status) != 0 or not complete or len(data) == _LEN.size:
        raise Overrun("crash", f"child exited {os.WEXITSTATUS(status)} with {len(data)} bytes")


def _read_all(fd: int, deadline: float) -> tuple[bytes, bool]:
    """Everything the child writes until it closes the pipe, or (what came, True) at the deadline."""
    chunks: list[bytes] = []
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            return b"".join(chunks), True
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
