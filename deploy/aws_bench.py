"""Real-AWS benchmark (bench target ``aws``): cold start, Init Duration, memory and warm latency.

For each image x memory size a function ``<prefix>-<image tag>-<memory>`` is deployed with the same
code path as ``deploy`` (ECR push pinned by digest, tagged role). A cold start is forced the way
lambda-perf and SeBS do it: changing an environment variable makes Lambda discard every warm sandbox,
so the next invoke initialises a new one. Each invoke uses ``LogType="Tail"``; the platform's REPORT
line gives Init Duration, Duration, Billed Duration and Max Memory Used (see report_line.py).

Rows are plain dicts; bench/targets/aws.py writes them in the common CSV schema with target=aws.
Without credentials :func:`skip_reason` says why and nothing is attempted. Costs money: every
function is deleted at the end unless ``keep=True``; ``python -m deploy undeploy --function-name
<prefix>`` removes the shared role and ECR repository.
"""

from __future__ import annotations

import copy
import json
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import boto3
import numpy as np
from botocore.exceptions import ClientError

from deploy import DeployError, aws, dockercli, report_line, settings, verify

COLD_ENV = "BENCH_COLD_TOKEN"
DEFAULT_PREFIX = "lmb-bench"


@dataclass(frozen=True)
class Sample:
    """One invocation: client round trip + the platform's REPORT line + the answer's top class."""

    client_ms: float
    report: report_line.Report
    top_class: str | None
    error: str | None = None


@dataclass
class BenchConfig:
    images: Sequence[str]
    memories: Sequence[int]
    architecture: str = "x86_64"
    cold_starts: int = 5
    warm_invocations: int = 30
    threads: int = 1
    prefix: str = DEFAULT_PREFIX
    registry: str | None = None
    role_arn: str | None = None
    region: str | None = None
    test_image: Path | None = None
    keep: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)


def skip_reason(region: str | None = None) -> str | None:
    """None when real AWS is usable; else the one-line reason (no credentials, rejected credentials...)."""
    try:
        aws.identity(aws.session(region))
    except DeployError as e:
        return str(e)
    return None


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else None


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def summarize(meta: dict[str, Any], cold: Sequence[Sample], warm: Sequence[Sample]) -> dict[str, Any]:
    """Samples of one (image, memory) -> one CSV row (times in ms, memory in MB)."""
    true_cold = [s for s in cold if s.report.init_ms is not None]
    reports = [s.report for s in (*cold, *warm)]
    tops = {s.top_class for s in (*cold, *warm) if s.top_class}
    row: dict[str, Any] = {
        "target": "aws",
        **meta,
        "cold_n": len(true_cold),
        "cold_missed": len(cold) - len(true_cold),  # forced cold starts that still reused a sandbox
        "cold_start_p50_ms": _median([s.client_ms for s in true_cold]),
        "cold_start_p90_ms": percentile([s.client_ms for s in true_cold], 90),
        "init_ms": _median([s.report.init_ms for s in true_cold if s.report.init_ms is not None]),
        "init_p90_ms": percentile([s.report.init_ms for s in true_cold if s.report.init_ms is not None], 90),
        "cold_duration_ms": _median([s.report.duration_ms for s in true_cold]),
        "cold_billed_ms": _median([s.report.billed_ms for s in true_cold]),
        "max_memory_mb": max((r.max_memory_mb for r in reports), default=None),
        "warm_n": len(warm),
        "warm_p50_ms": percentile([s.report.duration_ms for s in warm], 50),
        "warm_p90_ms": percentile([s.report.duration_ms for s in warm], 90),
        "warm_p99_ms": percentile([s.report.duration_ms for s in warm], 99),
        "warm_mean_ms": statistics.fmean([s.report.duration_ms for s in warm]) if warm else None,
        "warm_client_p50_ms": percentile([s.client_ms for s in warm], 50),
        "warm_billed_ms": _median([s.report.billed_ms for s in warm]),
        "errors": sum(1 for s in (*cold, *warm) if s.error or s.report.status),
        "top_class": tops.pop() if len(tops) == 1 else ("|".join(sorted(tops)) or None),
    }
    return row


def force_cold_start(lam: Any, name: str) -> str:
    """Change an env var (keeping the others) so the next invoke gets a fresh sandbox; returns the token."""
    cfg = lam.get_function_configuration(FunctionName=name)
    env = dict((cfg.get("Environment") or {}).get("Variables") or {})
    env[COLD_ENV] = token = uuid.uuid4().hex
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": env})
    aws.wait_ready(lam, name, "function_updated_v2")
    return token


def invoke_once(lam: Any, name: str, payload: bytes) -> Sample:
    """Synchronous invoke with the log tail; timing is the client's wall clock around the call."""
    t0 = time.perf_counter()
    resp = lam.invoke(FunctionName=name, InvocationType="RequestResponse", LogType="Tail", Payload=payload)
    body = resp["Payload"].read()
    client_ms = (time.perf_counter() - t0) * 1000.0
    report = report_line.find_report(report_line.decode_log_result(resp.get("LogResult", "")))
    top, error = None, resp.get("FunctionError")
    try:
        top = verify.top_class(verify.scores_of(json.loads(body), name))
    except (ValueError, DeployError) as e:
        error = error or str(e)
    return Sample(client_ms=client_ms, report=report, top_class=top, error=error)


def function_name(prefix: str, image: str, memory_mb: int) -> str:
    tag = settings.Settings(image=image).remote_tag
    return f"{prefix}-{tag}"[: 64 - len(str(memory_mb)) - 1] + f"-{memory_mb}"


def run(
    cfg: BenchConfig, sess: boto3.Session | None = None, out: TextIO | None = None
) -> list[dict[str, Any]]:
    """Deploy every image at every memory size, measure, delete the functions; one row per pair."""
    out = out or sys.stderr
    reason = skip_reason(cfg.region) if sess is None else None
    if reason:
        raise DeployError(f"aws bench skipped: {reason}")
    sess = sess or aws.session(cfg.region)
    ident = aws.identity(sess)
    lam = sess.client("lambda")
    payload = json.dumps(verify.payload_for(verify.pick_test_image(cfg.test_image))).encode()
    rows: list[dict[str, Any]] = []
    created: list[str] = []
    try:
        for image in cfg.images:
            local = dockercli.inspect_image(image)
            dockercli.check_architecture(local, cfg.architecture)
            base = settings.load(
                overrides={
                    "image": image,
                    "function_name": cfg.prefix,
                    "repository": cfg.prefix,
                    "architecture": cfg.architecture,
                    "threads": cfg.threads,
                    "registry": cfg.registry,
                    "role_arn": cfg.role_arn,
                },
                use_winner=False,
            )
            base.extra = dict(cfg.extra_env)
            shared = aws.Deployer(base, sess, out=out, progress=out)
            repo_uri = shared.ensure_repository(ident)
            image_uri = f"{repo_uri}@{shared.ensure_image(local, repo_uri)}"
            role_arn = shared.ensure_role(ident)
            for memory in cfg.memories:
                s = copy.copy(base)
                s.function_name, s.memory_mb = function_name(cfg.prefix, image, memory), int(memory)
                aws.Deployer(s, sess, out=out).ensure_function(image_uri, role_arn)
                created.append(s.function_name)
                cold = []
                for i in range(cfg.cold_starts):
                    force_cold_start(lam, s.function_name)
                    cold.append(invoke_once(lam, s.function_name, payload))
                    out.write(
                        f"  {s.function_name} cold {i + 1}/{cfg.cold_starts}: "
                        f"init {cold[-1].report.init_ms} ms, total {cold[-1].client_ms:.0f} ms\n"
                    )
                warm = [invoke_once(lam, s.function_name, payload) for _ in range(cfg.warm_invocations)]
                meta = {
                    "image": image,
                    "image_kind": s.image_kind,
                    "runtime": s.runtime,
                    "model": s.model,
                    "variant": s.variant,
                    "memory_mb": s.memory_mb,
                    "architecture": cfg.architecture,
                    "threads": cfg.threads,
                    "region": ident.region,
                    "image_uri": image_uri,
                }
                rows.append(summarize(meta, cold, warm))
    finally:
        if not cfg.keep:
            for name in created:
                try:
                    lam.delete_function(FunctionName=name)
                except ClientError as e:  # already gone: fine; anything else: say so, keep going
                    out.write(f"  could not delete {name}: {aws.error_code(e)}\n")
    return rows
