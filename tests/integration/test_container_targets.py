"""The target interface against real emulators: the container target's cold start reads the emulator's
INIT REPORT and REPORT lines, the in-process target answers what the container answers, and the cold-start
study's variants (an environment variable, a floor built from Dockerfile.floor) run through the same
container start.

Needs the reference images (``make build-all``, clothing-*:reference-*); skips those absent.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from bench.measure.coldstart import study
from bench.measure.targets import container as ct
from bench.measure.targets.base import Launch
from bench.measure.targets.inprocess import InProcessTarget
from infra import docker
from tests.support.containers import SESSION, require_docker, sample_images

pytestmark = [pytest.mark.docker]
require_docker()

NULL = "clothing-null:reference-none"
TFLITE = "clothing-tflite:reference-float32"


def present(tag: str) -> str:
    if docker.image_id(tag) is None:
        pytest.skip(f"{tag} is not built (make build-all)")
    return tag


@pytest.fixture
def target() -> Iterator[ct.ContainerTarget]:
    t = ct.ContainerTarget(f"test-targets-{SESSION}", http_timeout_s=120, start_timeout_s=120)
    yield t
    t.cleanup()


def test_cold_start_reads_init_and_report_from_the_emulator(target: ct.ContainerTarget) -> None:
    """A cold start's INIT is the emulator's INIT REPORT and its first REPORT line is the first invoke;
    a warm invoke adds exactly one REPORT line and no second INIT."""
    event = ct.event_for(sample_images()[0].read_bytes())
    got = target.cold_start(Launch(present(NULL), 1024, 0.58), event, keep=True)
    assert got.sample is not None, got.rejected
    c = got.instance
    assert isinstance(c, ct.ContainerInstance)
    with c:
        s = got.sample
        assert s.init_report_ms is not None and 0 < s.init_report_ms < s.first_request_ms
        assert abs(s.total_ms - (s.start_ms + s.first_request_ms)) < 1e-6
        before = c.platform_log()
        assert before.reports and s.first_report == before.reports[0]
        ans = c.invoke(event)
        assert ans.ok and ans.meta.get("cold") is False
        after = c.platform_log()
        assert len(after.reports) == len(before.reports) + 1 and after.init_ms == before.init_ms
        assert all(r.duration_ms > 0 for r in after.reports)
    assert not docker.out("ps", "-aq", "--filter", f"label={ct.SESSION_LABEL}={target.session}")


def test_inprocess_answers_what_the_container_answers(target: ct.ContainerTarget) -> None:
    """The same cell on two targets through the one interface: same top class per image, logits close
    (the container runs the same artefact through the same preprocessing)."""
    cell = Launch(present(TFLITE), 1769, 1.0, threads=1)
    try:
        local = InProcessTarget().start(cell)
    except FileNotFoundError as e:
        pytest.skip(str(e))
    events = [ct.event_for(p.read_bytes()) for p in sample_images()]
    with target.start(cell) as c:
        remote = [c.invoke(e) for e in events]
    here = [local.invoke(e) for e in events]
    local.stop()
    assert all(a.ok for a in remote + here)
    for r, h in zip(remote, here, strict=True):
        assert r.predictions is not None and h.predictions is not None
        assert max(r.predictions, key=r.predictions.__getitem__) == max(
            h.predictions, key=h.predictions.__getitem__
        )
        diff = np.abs(
            np.array(list(r.predictions.values())) - np.array([h.predictions[k] for k in r.predictions])
        )
        assert float(diff.max()) < 1e-3
    assert local.platform_log().reports == ()


def test_study_variants_run_through_the_container_target() -> None:
    """The study's warm-up variant is an environment variable of the same image, its boot floor an image
    built from Dockerfile.floor on top of it; both are cold-started by the container target and give
    the emulator's INIT."""
    src = present(NULL)
    floor = f"coldstart-floor-boot:test-{SESSION}"
    study.build_variant("Dockerfile.floor", floor, (study.ROOT / "scripts" / "floor_function.py",),
                        {"SOURCE": src, "FLOOR": "boot"}, "floor")  # fmt: skip
    t = study.target()
    ev = ct.event_for(sample_images()[0].read_bytes())
    try:
        cells = (
            study.StudyImage("floor", "boot", "", "", floor),
            study.StudyImage("after+warmup", "null", "reference", "none", src, study.WARMUP_ENV),
        )
        rows = [study.measure_one(t, cell, 1.0, 1769, ev) for cell in cells]
    finally:
        docker.remove_tag(floor)
        t.cleanup()
    for row in rows:
        assert not row.get("error"), row
        assert row["init_report_ms"] > 0 and row["cold_total_ms"] >= row["first_request_ms"]
    assert rows[0]["handler_init_ms"] in (0, 0.0, None)  # the floor's handler imports nothing
