"""AWS target (opt-in, costs money): the same cells on real Lambda, via ``deploy.aws_bench``.

Never runs by accident: it needs ``BENCH_AWS=1`` *and* credentials boto3 can find; otherwise every cell
skips with the reason. deploy/aws_bench.py (owned by the deploy helper) does the deploying and measuring;
this module only maps its rows onto bench/schema.py.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

#: deploy.aws_bench row key -> bench/schema.py column
COLUMN_MAP = {
    "image": "image",
    "image_kind": "image_kind",
    "runtime": "runtime",
    "model": "model",
    "variant": "variant",
    "memory_mb": "memory_mb",
    "threads": "threads",
    "cold_n": "cold_n",
    "cold_missed": "cold_rejected_n",
    "cold_start_p50_ms": "cold_total_median_ms",
    "init_ms": "cold_init_median_ms",
    "warm_n": "warm_n",
    "warm_p50_ms": "warm_handler_p50_ms",
    "warm_p90_ms": "warm_handler_p90_ms",
    "warm_p99_ms": "warm_handler_p99_ms",
    "warm_mean_ms": "warm_handler_mean_ms",
    "warm_client_p50_ms": "warm_client_p50_ms",
    "warm_billed_ms": "warm_billed_mean_ms",
    "errors": "errors",
}


def skip_reason() -> str | None:
    """None when the AWS target may run; else why not (checked without any network call first)."""
    if os.environ.get("BENCH_AWS", "").strip() != "1":
        return "real-AWS benchmark is opt-in (costs money): set BENCH_AWS=1 with AWS credentials"
    try:
        import boto3
    except ImportError:
        return "boto3 not installed"
    if boto3.Session().get_credentials() is None:
        return "no AWS credentials found (env, ~/.aws, or instance role)"
    try:
        from deploy import aws_bench
    except ImportError as e:
        return f"deploy.aws_bench not available: {e}"
    return aws_bench.skip_reason()  # verifies the credentials with STS


def run_cells(
    images: Sequence[str], memories: Sequence[int], cold_n: int, warm_m: int, architecture: str = "x86_64"
) -> list[dict[str, Any]]:
    """Deploy + measure every image x memory on AWS; rows in bench/schema.py columns, target=aws.

    The interface deploy.aws_bench fills: ``run(BenchConfig(images, memories, architecture, cold_starts,
    warm_invocations)) -> list[dict]`` with the keys of COLUMN_MAP (extra keys are dropped)."""
    from deploy import aws_bench

    cfg = aws_bench.BenchConfig(
        images=list(images),
        memories=list(memories),
        architecture=architecture,
        cold_starts=cold_n,
        warm_invocations=warm_m,
    )
    rows = []
    for r in aws_bench.run(cfg):
        row = {col: r.get(key) for key, col in COLUMN_MAP.items() if key in r}
        row.update(target="aws", status="ok", note=f"region {r.get('region')}; max memory from REPORT line")
        rows.append(row)
    return rows
