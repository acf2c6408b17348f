"""Generated throughput records (bench/measure/throughput_schema.py) for tests that must not invent
measurements."""

from __future__ import annotations

from hypothesis import strategies as st

from bench.measure.throughput_schema import PROCESSES_PER_VCPU, SATURATION, ThroughputRecord


def record(
    image: str = "clothing-tflite:reference-full-int8",
    p: int = 1,
    vcpus: float = 1.0,
    fraction: float = SATURATION,
    rps_per_vcpu: float = 10.0,
    p50_ms: float = 50.0,
    p99_ms: float = 80.0,
    per_process_mb: float = 300.0,
    repeat: int = 0,
    architecture: str = "x86_64",
    n_errors: int = 0,
) -> ThroughputRecord:
    """One valid record; the rate at a fraction below saturation is that fraction of ``rps_per_vcpu``."""
    procs = max(1, round(p * vcpus))
    rate = rps_per_vcpu * vcpus * fraction
    per = int(per_process_mb * 2**20)
    return ThroughputRecord(
        run_id="t", model=image.split(":")[1].split("-")[0], image=image, variant="v", runtime="tflite",
        architecture=architecture, python="3.13.1", vcpus=vcpus, memory_limit_mb=4096,
        processes_per_vcpu=p, processes=procs, threads_per_process=1, repeat=repeat,
        load_fraction=fraction, offered_rps=None if fraction == SATURATION else rate, achieved_rps=rate,
        rps_per_vcpu=rate / vcpus, n_requests=int(rate * 30), n_errors=n_errors, window_s=30.0,
        latency_p50_ms=p50_ms, latency_p99_ms=p99_ms, memory_per_process_bytes=per,
        memory_total_bytes=per * procs + 50 * 2**20, timestamp="2026-12-06T00:00:00+00:00",
        git_sha="0" * 40, cpu_model="test",
    )  # fmt: skip


@st.composite
def records(draw: st.DrawFn, image: str = "clothing-tflite:reference-full-int8") -> list[ThroughputRecord]:
    """A generated measurement set of one image: per P and repeat a saturation row and rows at fractions,
    p99 growing with the load (queueing)."""
    out = []
    repeats = draw(st.integers(1, 3))
    for p in draw(st.lists(st.sampled_from(PROCESSES_PER_VCPU), min_size=1, max_size=3, unique=True)):
        rate = draw(st.floats(0.5, 200.0))
        p50 = draw(st.floats(2.0, 500.0))
        mem = draw(st.floats(60.0, 1500.0))
        for rep in range(repeats):
            jitter = draw(st.floats(0.9, 1.1))
            for f in (0.25, 0.5, 0.75, SATURATION):
                p99 = p50 * (1.2 + 3 * f**3)
                out.append(record(image, p, 1.0, f, rate * jitter, p50, p99, mem, rep))
    return out
