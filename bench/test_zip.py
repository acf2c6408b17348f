"""The zip + layer cell: `make package`'s function.zip + layer run as Lambda lays them out, benchmarked
with the same Emulator, limits and measurements as the image cells (bench/test_bench.py's container cells).

The archives are unzipped into the python 3.13 base (function at /var/task, layer at /opt,
``PYTHONPATH=/opt/python``: images.package.local_image), so **locally this is the same mechanism as an
image**: one container, one process, the same handler, library and model bytes. On AWS, zip and image
cold starts differ for reasons not reproduced here (a zip is downloaded and unpacked into the sandbox,
an image is lazily loaded in chunks from a cache; lambda-perf's daily runs show zip below image for small
functions), and SnapStart applies only to the zip form. The row's sizes are the archives' (what Lambda
stores and limits: zipped = the uploads, uncompressed = unzipped function + layer), not an image's.

The row is ``target=container, image_kind=zip`` and carries no cost columns, so bench/decide/winner.py never
picks it (deploy ships images from winner.json; ``python -m deploy deploy --package zip`` ships this).
Skipped with the reason when `make package` has not run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench.measure import env
from bench.measure import records as measure
from bench.measure.env import Config
from bench.measure.images import fixed_images
from bench.measure.session import Session
from bench.measure.targets import container as ct
from bench.measure.targets import inprocess as ip
from core.contracts import PACKAGE_JSON as PACKAGE_JSON_NAME
from core.contracts import PackageSummary
from images import package as pkg
from infra import docker

PACKAGE_JSON = pkg.OUT / PACKAGE_JSON_NAME
NOTE = (
    "zip + layer run as Lambda lays them out (function /var/task, layer /opt) under the same emulator: "
    "locally the same mechanism as an image; on AWS zip and image cold starts differ for reasons not "
    "reproduced here; sizes are the archives' (zipped uploads / unzipped); no cost columns: not a winner "
    "candidate"
)


def _reference(s: Session, model: str, artefact: str, images: list[bytes]) -> np.ndarray | None:
    """In-process logits of the same artefact on the fixed set (the session's cache, as the image cells)."""
    a = ip.find_artefact(model, artefact)
    return None if a is None else s.reference_logits(a, images)


def measure_zip(s: Session, memory_mb: int, runner: measure.Runner) -> dict[str, Any]:
    """One zip cell at ``memory_mb``: cold starts, warm requests, agreement; a bench/measure/schema.py row."""
    package = PackageSummary.load(pkg.OUT)
    summary, model, variant = package.raw, package.model, package.variant
    layer = summary["layers"]["x86_64"]
    tag = pkg.local_image(pkg.OUT, "x86_64")
    cfg = s.cfg
    cpus, capped = cfg.cpus_for(memory_mb)
    cell = measure.Cell(
        tag, "zip", model, variant, memory_mb, cpus, s.run_id, cfg.http_timeout_s, cfg.start_timeout_s
    )
    images = fixed_images(cfg.agree_n)
    events = [ct.event_for(b) for b in images]
    load_before = env.load_average()
    cold, c = measure.measure_cold(cell, events[0], cfg.cold_n, s.progress)
    with c:
        warm = measure.measure_warm(c, events, cfg.warmup, cfg.warm_m, runner)
        agree = measure.agreement(c, events, _reference(s, model, f"{variant}.tflite", images))
        peak, rss = c.peak_memory_bytes(), c.rss_bytes()
    meta = warm.first_meta
    return dict(
        target="container",
        status="ok",
        note=NOTE + (f"; cpus capped at {cpus:g} (host has {cfg.host_cpus})" if capped else ""),
        image=tag,
        image_kind="zip",
        model=model,
        variant=variant,
        artefact=f"{variant}.tflite",
        runtime=meta.get("runtime"),
        library=meta.get("library"),
        runtime_version=meta.get("runtime_version"),
        model_sha256=meta.get("model_sha256"),
        memory_mb=memory_mb,
        cpus=cpus,
        cpus_capped=capped,
        threads=meta.get("threads"),
        image_id=docker.image_id(tag),
        image_compressed_bytes=summary["function"]["zipped_bytes"] + layer["zipped_bytes"],
        image_uncompressed_bytes=summary["function"]["unzipped_bytes"] + layer["unzipped_bytes"],
        **cold.columns(),
        **warm.columns(),
        peak_memory_bytes=peak,
        rss_bytes=rss,
        **agree.columns(),
        errors=warm.errors + agree.errors,
        **s.versions(tag),
        load_avg_before=load_before,
        load_avg_after=env.load_average(),
    )


@pytest.mark.skipif(not PACKAGE_JSON.is_file(), reason="no zip package: run `make package`")
@pytest.mark.skipif(docker.available() is not None, reason=str(docker.available()))
@pytest.mark.parametrize("memory_mb", Config.from_env().memory_mb)
def test_zip(benchmark: Any, bench_session: Session, memory_mb: int) -> None:
    s = bench_session
    s.progress(f"cell zip + layer ({PACKAGE_JSON.parent}) @ {memory_mb} MB")
    runner: measure.Runner = lambda fn, rounds: benchmark.pedantic(  # noqa: E731
        fn, rounds=rounds, iterations=1, warmup_rounds=0
    )
    row = s.add(**measure_zip(s, memory_mb, runner))
    benchmark.extra_info.update({k: v for k, v in row.items() if k.startswith(("cold_", "warm_"))})
    s.progress(
        f"  -> zip cold median {row['cold_total_median_ms']:.0f} ms (init {row['cold_init_median_ms']:.0f}), "
        f"warm p50 {row['warm_client_p50_ms']:.1f} ms, archives "
        f"{row['image_compressed_bytes'] / 2**20:.1f} MiB zipped / "
        f"{row['image_uncompressed_bytes'] / 2**20:.1f} MiB unzipped"
    )
    assert row["cold_n"] > 0, f"every cold sample was rejected: {row['note']}"
    assert row["errors"] == 0, f"{row['errors']} failed warm/agreement invocations"
