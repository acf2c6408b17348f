"""Throughput under load (bench/measure/throughput.py, bench/measure/loadgen.py).

The load generator is checked against real HTTP servers on 127.0.0.1 whose service time and concurrency
(one request at a time per port, as a Managed Instances process) are known, so what it reports can be
compared with what the servers can do; the environment against a built image under the emulator."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.measure import loadgen, throughput
from bench.measure import throughput_schema as ts
from bench.measure.targets import container
from tests.support.containers import dataset_dir, docker_ok


def _server(service_s: float, fail: bool) -> HTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(service_s)
            body = b'{"errorType": "X"}' if fail else b'{"a": 1.0}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    Handler.protocol_version = "HTTP/1.1"  # keep-alive, as the emulator
    Handler.disable_nagle_algorithm = True  # as Go's server (the emulator): no 40 ms delayed-ACK stalls
    return HTTPServer(("127.0.0.1", 0), Handler)  # one request at a time


@contextmanager
def servers(p: int, service_s: float, fail: bool = False) -> Iterator[list[int]]:
    """P single-request-at-a-time HTTP servers on 127.0.0.1, each ``service_s`` per request."""
    made = [_server(service_s, fail) for _ in range(p)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in made]
    for t in threads:
        t.start()
    try:
        yield [s.server_address[1] for s in made]
    finally:
        for s in made:
            s.shutdown()
            s.server_close()


BODIES = [b'{"image_b64": "x"}']


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=st.integers(1, 3), service_ms=st.integers(10, 30))
def test_closed_loop_reaches_the_servers_capacity_and_no_more(p: int, service_ms: int) -> None:
    capacity = p / (service_ms / 1000)
    with servers(p, service_ms / 1000) as ports:
        s = loadgen.summarise(loadgen.closed_loop(ports, BODIES, 1.5, 5.0), 0.3, 1.5)
    assert s.n_errors == 0
    assert s.achieved_rps <= capacity * 1.05
    assert s.achieved_rps >= capacity * 0.5  # a loaded 2-core host loses some to scheduling
    assert s.p50_ms >= service_ms


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=st.integers(1, 3), fraction=st.sampled_from([0.3, 0.5]), seed=st.integers(0, 1000))
def test_open_loop_offers_its_rate_and_counts_queueing(p: int, fraction: float, seed: int) -> None:
    service_s = 0.02
    rate = fraction * p / service_s
    with servers(p, service_s) as ports:
        samples = loadgen.open_loop(ports, BODIES, rate, 2.0, seed, 5.0)
    s = loadgen.summarise(samples, 0.3, 2.0)
    expected = len([t for t in loadgen.arrivals(rate, 2.0, seed) if t >= 0.3])
    assert s.n_requests + s.n_errors == expected  # every arrival in the window is answered or counted
    assert s.n_errors == 0
    assert s.p50_ms >= service_s * 1000
    assert abs(s.achieved_rps - rate) <= 0.5 * rate + 3


def test_a_lambda_error_is_an_error_not_an_answer() -> None:
    with servers(1, 0.005, fail=True) as ports:
        samples = loadgen.closed_loop(ports, BODIES, 0.5, 5.0)
    assert samples and not any(s.ok for s in samples)
    with pytest.raises(ValueError, match="no answered request"):
        loadgen.summarise(samples, 0.0, 0.5)


@st.composite
def process_tables(draw: st.DrawFn) -> tuple[str, list[int]]:
    """``ps -o pid,ppid,rss,args`` of an environment: a shell, P emulators, each with one runtime process
    that may have a decode worker child; the expected bytes per serving process."""
    lines, expected, pid = ["PID PPID RSS COMMAND", "1 0 900 /bin/sh -c script"], [], 10
    for i in range(draw(st.integers(1, 5))):
        rie, runtime = pid, pid + 1
        rss = draw(st.integers(1000, 900_000))
        lines.append(
            f"{rie} 1 8000 /usr/local/bin/aws-lambda-rie --runtime-interface-emulator-address :{8080 + i}"
        )
        lines.append(f"{runtime} {rie} {rss} /usr/bin/python3 -m awslambdaric lambda_function.lambda_handler")
        total = rss
        if draw(st.booleans()):
            child = draw(st.integers(100, 50_000))
            lines.append(f"{pid + 2} {runtime} {child} /usr/bin/python3 -c decode worker")
            total += child
        expected.append(total * 1024)
        pid += 10
    return "\n".join(lines), expected


@given(table=process_tables())
def test_memory_per_process_counts_each_runtime_and_its_children(table: tuple[str, list[int]]) -> None:
    text, expected = table
    assert throughput.serving_rss(text) == expected


# ------------------------------------------------------------------------------- a real environment
def _image() -> str:
    found = throughput.default_images(models=("reference",))
    present = set(throughput.docker.list_images("clothing-*"))
    for tag in [*found, "clothing-tflite:reference-float32", "clothing-onnx:reference-float32"]:
        if tag in present:
            return tag
    pytest.skip("no built reference tflite/onnx image (`make build-all`)")


@pytest.mark.skipif(not docker_ok(), reason="docker is not available")
def test_an_environment_serves_with_p_processes_under_its_quota() -> None:
    tag = _image()
    cfg = throughput.Load(vcpus=1.0, memory_mb=2048, fractions=(0.5,), warmup_s=0.5, window_s=2.0)
    bodies = throughput.request_bodies(dataset_dir(), n=8)
    records = throughput.measure(tag, 2, 0, cfg, bodies, run="test-throughput")
    assert [r.load_fraction for r in records] == [ts.SATURATION, 0.5]  # saturation first, then its half
    sat = next(r for r in records if r.saturated)
    half = next(r for r in records if not r.saturated)
    assert all(r.processes == 2 and r.n_errors == 0 and r.n_requests > 0 for r in records)
    assert half.offered_rps == pytest.approx(0.5 * sat.achieved_rps)
    assert throughput.python_ok(sat.python)
    # a serving process holds the model (> 10 MB); the environment's peak covers at least one of them
    assert sat.memory_total_bytes >= sat.memory_per_process_bytes > 10 * 2**20
    label = f"{container.SESSION_LABEL}=test-throughput"
    assert not throughput.docker.out("ps", "-aq", "--filter", f"label={label}")  # the environment is gone
    assert all(set(json.loads(b)) == {"image_b64"} for b in bodies)  # real images, no meta asked
