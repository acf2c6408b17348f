"""A worker process that runs one function per request on untrusted bytes, under a CPU-time and an
address-space limit per request; killed and replaced when a request overruns, crashes or bloats it.

Why another process: a decoder's work depends on how the bytes are arranged (scans, strips, RLE runs,
chunks), not only on the pixel count, so no structure check written beside the decoder can follow its
rules exactly. The kernel can: before each request the worker lowers its soft ``RLIMIT_AS`` (an
allocation past the memory budget fails inside the decoder; the hard limit it was given is kept, see
:func:`lowered`) and arms a CPU-time timer (``ITIMER_PROF``, whose signal ends the process wherever it
is, in C code included), and the parent kills it at a wall-clock deadline for when the CPU is throttled.
Whatever the input does to the decoder (spins, allocates, crashes), the parent survives and answers.

Why one long-lived worker and not a fork per request: a fork copies the parent's page tables and the
child's exit tears them down; measured on the handler it added milliseconds per request (tens with
TensorFlow's resident set), against a warm latency of a few milliseconds (docs/handler.md). The worker
costs two pipe transfers per request. It is forked when the sandbox starts, before the model is loaded,
so it shares none of the model's pages; its garbage collector is off (a collection would write to every
tracked object inherited from the parent), it imports only what its handler loads on first use (the
formats' decoders), never logs, and leaves with ``os._exit``.
Why ``os.fork`` and pipes, not multiprocessing: Lambda has no /dev/shm, so multiprocessing's Pool and
Queue fail there.
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

_REQ = struct.Struct("<QQdQ")  # header bytes, payload bytes, CPU seconds, address-space budget
_REPLY = struct.Struct("<QBddQQQ")  # body, status, CPU s used, CPU s of its life, resident: start, peak, end
_OK, _NOMEM = 0, 2
#: Bytes the worker may allocate beyond the budget before the kernel refuses (Python's own bookkeeping).
_SLACK = 8 * 1024 * 1024
#: A worker whose resident set grew this much over its lightest request (allocator arenas kept after a
#: big image) is replaced, so memory the budget allowed one request is not held for the next: at 128 MB
#: the handler, its runtime and the worker share little room (tests/integration/test_budget_images.py).
RECYCLE_BYTES = 8 * 1024 * 1024

Handler = Callable[[bytes, bytes], bytes]


class Overrun(Exception):
    """The request used more than its budget (``what``: "cpu" or "memory") or the worker died."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(detail)
        self.what = what


@dataclass(frozen=True)
class Outcome:
    """What the worker sent back and what the request cost it."""

    payload: bytes
    cpu_s: float  # user + system CPU time of the worker for this request
    peak_rss: int  # the worker's peak resident set during the request (bytes; 0 when it was killed)
    start_rss: int = 0  # its resident set when the request started (the input read)


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _statm(field: int) -> int:
    """One field of /proc/self/statm in bytes (0: the address space's size, 1: the resident set)."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[field]) * _PAGE


def resident_bytes() -> int:
    """This process's resident set (the handler's share of the decode budget's arithmetic)."""
    return _statm(1)


def _peak_and_rss() -> tuple[int, int]:
    """(VmHWM, VmRSS) in bytes, from one read of /proc/self/status."""
    with open("/proc/self/status", "rb") as f:
        text = f.read()
    hwm = text[text.index(b"VmHWM:") + 6 :].split(maxsplit=1)[0]
    rss = text[text.index(b"VmRSS:") + 6 :].split(maxsplit=1)[0]
    return int(hwm) * 1024, int(rss) * 1024


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def lowered(wanted: int, hard: int) -> int:
    """The soft limit to set for ``wanted`` bytes under the ``hard`` limit the worker was given: never
    above it. The hard limit itself is never changed: wherever it is finite (a ``ulimit -v``, a
    container runtime's default, a process supervisor) only a privileged process may raise it, so
    asking for more would fail every request."""
    return wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)


def _serve_one(handler: Handler, rfd: int, wfd: int) -> None:
    """In the worker: one request under its limits, one reply. EOFError when the parent is gone."""
    n_head, n_body, cpu_s, mem = _REQ.unpack(_read_exact(rfd, _REQ.size))
    head, body = _read_exact(rfd, n_head), _read_exact(rfd, n_body)
    try:
        with open("/proc/self/clear_refs", "w") as f:  # restart VmHWM: this request's peak only
            f.write("5")
    except OSError:
        pass
    start = _peak_and_rss()[1]
    given = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (lowered(_statm(0) + mem + _SLACK, given[1]), given[1]))
    cpu0 = time.process_time()
    signal.setitimer(signal.ITIMER_PROF, cpu_s)
    try:
        status, out = _OK, handler(head, body)
    except MemoryError:
        status, out = _NOMEM, b""
    signal.setitimer(signal.ITIMER_PROF, 0)
    resource.setrlimit(resource.RLIMIT_AS, given)
    used = time.process_time() - cpu0
    del head, body
    peak, now = _peak_and_rss()
    _write_all(wfd, _REPLY.pack(len(out), status, used, time.process_time(), start, peak, now) + out)


def _worker_main(handler: Handler, rfd: int, wfd: int) -> None:
    """The worker's whole life: serve until the parent closes the pipe. Never returns."""
    code = 0
    try:
        gc.disable()
        try:  # when the sandbox runs out of memory, the kernel ends the worker, not the handler
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")
        except OSError:
            pass
        signal.signal(signal.SIGPROF, signal.SIG_DFL)  # default action: terminate
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            _serve_one(handler, rfd, wfd)
    except EOFError:
        pass
    except BaseException:  # noqa: BLE001 - nothing may escape a forked worker into the parent's code
        code = 70
    finally:
        os._exit(code)


class Worker:
    """The parent's side: spawn on demand, one request at a time, replace after any failure."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.pid = 0
        self.base_rss = self.rss = 0
        self.last: Outcome | None = None  # the last request's cost (tests and logs read it)

    def start(self) -> None:
        if self.pid:
            return
        req_r, req_w = os.pipe()  # parent -> worker
        rep_r, rep_w = os.pipe()  # worker -> parent
        with warnings.catch_warnings():
            # Python warns when forking a process with threads (a runtime's pool): the worker only runs
            # Pillow and numpy code on its own thread and never takes a lock another thread could hold.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the worker; measured through the parent
            os.close(req_w)
            os.close(rep_r)
            _worker_main(self.handler, req_r, rep_w)
        os.close(req_r)
        os.close(rep_w)
        self.pid, self.wfd, self.rfd = pid, req_w, rep_r
        self.base_rss = self.rss = 0
        self.spent = 0.0  # the worker's CPU seconds at its last answer (a killed request's are the rest)

    def resident(self) -> int:
        """What the worker holds beyond what it had after its lightest request (its own allocations;
        the pages it shares with the parent are counted once, in the parent)."""
        return max(0, self.rss - self.base_rss) if self.pid else 0

    def stop(self) -> tuple[int, float]:
        """Kill and reap the worker: (wait status, its lifetime CPU seconds)."""
        if not self.pid:
            return 0, 0.0
        for fd in (self.wfd, self.rfd):
            os.close(fd)
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status, usage = os.wait4(self.pid, 0)
        self.pid = 0
        return status, usage.ru_utime + usage.ru_stime

    def call(self, head: bytes, body: bytes, *, cpu_s: float, wall_s: float, mem_bytes: int) -> Outcome:
        """``handler(head, body)`` in the worker within ``cpu_s`` CPU seconds and ``mem_bytes`` more
        address space, answered within ``wall_s``. Raises :class:`Overrun` when a limit stopped it or the
        worker died (it is replaced on the next call)."""
        self.start()
        request = (_REQ.pack(len(head), len(body), cpu_s, mem_bytes), head, body)  # sent as is: no copy
        t0 = time.monotonic()
        reply = _exchange(self.wfd, self.rfd, request, t0 + wall_s)
        if reply is None or reply[1] != _OK:
            raise self._failed(reply, wall_s, time.monotonic() - t0, mem_bytes)
        _, _, used, life, start, peak, rss, payload = reply
        self.last = Outcome(payload, used, peak, start)
        self.spent = life
        self.base_rss, self.rss = min(self.base_rss or rss, rss), rss
        if rss > self.base_rss + RECYCLE_BYTES:
            self.stop()
        return self.last

    def _failed(self, reply: Reply | None, wall_s: float, took: float, mem: int) -> Overrun:
        if reply is not None:  # the worker is alive and says the decoder ran out of memory
            self.last = Outcome(b"", reply[2], reply[5], reply[4])
            self.stop()
            return Overrun("memory", f"the request ran out of its {mem}-byte address-space budget")
        spent = self.spent
        status, cpu = self.stop()
        self.last = Outcome(b"", max(0.0, cpu - spent), 0)  # its peak died with it
        if took >= wall_s:
            return Overrun("cpu", f"killed at the {wall_s:.2f} s deadline")
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) not in (signal.SIGKILL,):
            sig = signal.Signals(os.WTERMSIG(status))
            what = "cpu" if sig in (signal.SIGPROF, signal.SIGXCPU) else "crash"
            return Overrun(what, f"worker ended by {sig.name}")
        return Overrun("crash", f"worker ended (status {status})")


Reply = tuple[int, int, float, float, int, int, int, bytes]


def _exchange(wfd: int, rfd: int, request: tuple[bytes, ...], deadline: float) -> Reply | None:
    """Send the ``request`` buffers and read one reply, both before ``deadline``; None when the worker
    died or the deadline passed. Non-blocking on both pipes, so a stuck worker cannot hold the parent."""
    os.set_blocking(wfd, False)
    poller = select.poll()
    poller.register(wfd, select.POLLOUT)
    poller.register(rfd, select.POLLIN)
    parts = [memoryview(b) for b in request if b]
    view, got, need = parts.pop(0), bytearray(), _REPLY.size
    while len(got) < need:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        for fd, _ in poller.poll(left * 1000):
            if fd == wfd and view:
                try:
                    view = view[os.write(wfd, view) :]
                except BlockingIOError:
                    continue
                except BrokenPipeError:
                    return None
                if not view and parts:
                    view = parts.pop(0)
                if not view:
                    poller.unregister(wfd)
            elif fd == rfd:
                chunk = os.read(rfd, 1 << 20)
                if not chunk:
                    return None
                got += chunk
                if len(got) >= _REPLY.size:
                    need = _REPLY.size + _REPLY.unpack_from(got)[0]
    n, status, used, life, start, peak, rss = _REPLY.unpack_from(got)
    return n, status, used, life, start, peak, rss, bytes(got[_REPLY.size : _REPLY.size + n])
