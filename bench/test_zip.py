"""The zip + layer cell: `make package`'s function.zip + layer run as Lambda lays them out, benchmarked
with the same emulator, limits and measurements as the image cells (bench/measure/run.py).

The archives are unzipped into the python 3.13 base (function at /var/task, layer at /opt,
``PYTHONPATH=/opt/python``: images.package.local_image), so **locally this is the same mechanism as an
image**: one container, one process, the same handler, library and model bytes. On AWS, zip and image
cold starts differ for reasons not reproduced here (a zip is downloaded and unpacked into the sandbox,
an image is lazily loaded in chunks from a cache; lambda-perf's daily runs show zip below image for small
functions), and SnapStart applies only to the zip form. The row's sizes are the archives' (what Lambda
stores and limits: zipped = the uploads, uncompressed = unzipped function + layer), not an image's.

The row is ``target=container, image_kind=zip`` and carries no cost columns, so bench/decide/winner.py never
picks it (deploy ships images from winner.json; ``python -m deploy deploy --package zip`` ships this).
Skipped with the reason when `make package` has not run. Parametrised over the memory sizes by
bench/conftest.py (``zip_memory_mb``).
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.measure import records, run
from bench.measure.session import Session
from core.contracts import PACKAGE_JSON as PACKAGE_JSON_NAME
from images import package as pkg
from infra import docker

PACKAGE_JSON = pkg.OUT / PACKAGE_JSON_NAME


@pytest.mark.skipif(not PACKAGE_JSON.is_file(), reason="no zip package: run `make package`")
@pytest.mark.skipif(docker.available() is not None, reason=str(docker.available()))
def test_zip(benchmark: Any, runner: records.Runner, bench_session: Session, zip_memory_mb: int) -> None:
    s = bench_session
    s.progress(f"cell zip + layer ({PACKAGE_JSON.parent}) @ {zip_memory_mb} MB")
    row = run.zip_package(s, run.zip_cell(s, zip_memory_mb), runner)
    benchmark.extra_info.update({k: v for k, v in row.columns().items() if k.startswith(("cold_", "warm_"))})
    assert (row.cold.n or 0) > 0, f"every cold sample was rejected: {row.note}"
    assert row.errors == 0, f"{row.errors} failed warm/agreement invocations"
