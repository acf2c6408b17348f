"""A small HTTP load generator for the emulator's invoke endpoint (stdlib only, 127.0.0.1 only).

One worker thread per serving process, each with its own keep-alive connection to that process's port,
so a process never holds more than one request: what Lambda Managed Instances' Python runtime does (each
process serves one request at a time). Two loads:

* :func:`closed_loop` (saturation): every worker sends its next request as soon as the last one answered,
  so every process is always busy; the rate it reaches is the environment's capacity.
* :func:`open_loop` (a set rate): requests arrive as a seeded Poisson process, wait in one FIFO queue and
  go to whichever process is free. Latency runs from the request's arrival, not from when a process took
  it, so time spent queueing counts (no coordinated omission).

Both return :class:`Sample` s with times relative to the start; :func:`summarise` cuts the warm-up off.
"""

from __future__ import annotations

import http.client
import queue
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from infra.docker import INVOKE_PATH

HOST = "127.0.0.1"  # the network rule: load goes to this machine's published ports only
HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Sample:
    due_s: float  # when the request arrived (open loop) or was sent (closed loop), from the start
    done_s: float  # when its answer was read
    ok: bool  # HTTP 200 with a body that is not a Lambda error

    @property
    def latency_ms(self) -> float:
        return (self.done_s - self.due_s) * 1000


class Client:
    """One keep-alive connection to one process's emulator; reconnects after a transport error."""

    def __init__(self, port: int, timeout_s: float) -> None:
        self.port, self.timeout_s = port, timeout_s
        self.conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes) -> bool:
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout_s)
            self.conn.request("POST", INVOKE_PATH, body, HEADERS)
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            self.close()
            return False
        return resp.status == 200 and data.startswith(b"{") and b'"errorType"' not in data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _run(workers: list[threading.Thread]) -> None:
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def closed_loop(
    ports: Sequence[int], bodies: Sequence[bytes], seconds: float, timeout_s: float
) -> list[Sample]:
    """Every process kept busy for ``seconds``: one client per port, next request on the last answer."""
    samples: list[Sample] = []
    lock = threading.Lock()
    t0 = time.perf_counter()
    stop = t0 + seconds

    def work(i: int) -> None:
        client, k, mine = Client(ports[i], timeout_s), i, []
        while (sent := time.perf_counter()) < stop:
            ok = client.post(bodies[k % len(bodies)])
            mine.append(Sample(sent - t0, time.perf_counter() - t0, ok))
            k += len(ports)
        client.close()
        with lock:
            samples.extend(mine)

    _run([threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(ports))])
    return sorted(samples, key=lambda s: s.due_s)


def arrivals(rate: float, seconds: float, seed: int) -> list[float]:
    """Poisson arrival times (s) at ``rate`` per second in [0, seconds), reproducible from ``seed``."""
    rng, t, out = random.Random(seed), 0.0, []
    while (t := t + rng.expovariate(rate)) < seconds:
        out.append(t)
    return out


def open_loop(
    ports: Sequence[int],
    bodies: Sequence[bytes],
    rate: float,
    seconds: float,
    seed: int,
    timeout_s: float,
    drain_s: float = 10.0,
) -> list[Sample]:
    """Requests arriving at ``rate`` per second for ``seconds``, served by whichever process is free.

    A request still queued ``drain_s`` after the last arrival is counted as failed (the environment
    could not keep up with that rate), not silently dropped."""
    due = arrivals(rate, seconds, seed)
    pending: queue.Queue[tuple[float, int] | None] = queue.Queue()
    samples: list[Sample] = []
    lock = threading.Lock()
    t0 = time.perf_counter()
    give_up = t0 + seconds + drain_s

    def work(i: int) -> None:
        client, mine = Client(ports[i], timeout_s), []
        while (item := pending.get()) is not None:
            at, k = item
            if time.perf_counter() > give_up:
                mine.append(Sample(at, time.perf_counter() - t0, False))
                continue
            ok = client.post(bodies[k % len(bodies)])
            mine.append(Sample(at, time.perf_counter() - t0, ok))
        client.close()
        with lock:
            samples.extend(mine)

    workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(ports))]
    for w in workers:
        w.start()
    for k, at in enumerate(due):
        wait = t0 + at - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        pending.put((at, k))
    for _ in workers:
        pending.put(None)
    for w in workers:
        w.join()
    return sorted(samples, key=lambda s: s.due_s)


@dataclass(frozen=True)
class Summary:
    achieved_rps: float  # good answers completed inside the window, per second
    n_requests: int  # good answers to requests that arrived inside the window
    n_errors: int  # failed requests that arrived inside the window
    window_s: float
    p50_ms: float
    p99_ms: float


def summarise(samples: Sequence[Sample], warmup_s: float, seconds: float) -> Summary:
    """Figures of the window [warmup_s, seconds): requests that arrived in it (latency, errors) and answers
    completed in it (rate). Raises ValueError when no request in the window was answered."""
    window = seconds - warmup_s
    inside = [s for s in samples if warmup_s <= s.due_s < seconds]
    good = [s.latency_ms for s in inside if s.ok]
    if window <= 0 or not good:
        raise ValueError(f"no answered request in the {window:.1f} s window ({len(inside)} sent)")
    done = sum(1 for s in samples if s.ok and warmup_s <= s.done_s < seconds)
    p50, p99 = (float(x) for x in np.percentile(good, [50, 99]))
    return Summary(done / window, len(good), len(inside) - len(good), window, p50, p99)
