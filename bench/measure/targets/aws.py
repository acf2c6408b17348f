"""AWS target (opt-in, costs money): the same cells on real Lambda: cold start, Init Duration, warm latency.

Never runs by accident: it needs ``BENCH_AWS=1`` *and* credentials boto3 can find; otherwise every cell
skips with the reason. Deploying is ``make deploy``'s own run through deploy's public entry points
(``settings.load``, ``aws.Deployer(...).run()``: the same ECR push pinned by digest, tagged role and
function); measuring is here, behind the target interface of
bench/measure/targets/base.py (:class:`AwsTarget`). For each image x memory a function
``<prefix>-<image tag>-<memory>`` is created. A cold start is forced the way lambda-perf and SeBS do it:
changing an environment variable makes Lambda discard every warm sandbox, so the next invoke initialises
a new one. Each invoke uses ``LogType="Tail"``; the platform's REPORT line gives Init Duration, Duration,
Billed Duration and Max Memory Used (infra/awslambda.py). Endpoints without log tails (``sam local
start-lambda`` answers ``NotImplemented: log-type: Tail is not supported``) are measured with
``log_tail=False``: client times and the handler's own ``meta`` (cold flag, init) only; the REPORT
figures (Duration, Billed, Max Memory) stay empty and the row's note says so. Every function is
deleted at the end unless ``keep=True``; ``python -m deploy undeploy --function-name <prefix>`` removes
the shared role and repository.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bench.decide import stats
from bench.measure.records import Summary
from bench.measure.settings import Settings
from bench.measure.targets.base import Answer, ColdSample, ColdStart, Launch, Launchable, PlatformLog
from core.catalogue import DEFAULT_ARCH

COLD_ENV = "BENCH_COLD_TOKEN"
DEFAULT_PREFIX = "lmb-bench"


def skip_reason(enabled: bool, region: str | None = None) -> str | None:
    """None when the AWS target may run; else why not (checked without any network call first)."""
    if not enabled:
        return "real-AWS benchmark is opt-in (costs money): set BENCH_AWS=1 with AWS credentials"
    try:
        import boto3
    except ImportError:
        return "boto3 not installed"
    if boto3.Session().get_credentials() is None:
        return "no AWS credentials found (env, ~/.aws, or instance role)"
    return credentials_problem(region)  # verifies the credentials with STS


def credentials_problem(region: str | None = None) -> str | None:
    """None when real AWS is usable; else the one-line reason (no credentials, rejected credentials...)."""
    from deploy import DeployError, aws

    try:
        aws.identity(aws.session(region))
    except DeployError as e:
        return str(e)
    return None


@dataclass(frozen=True)
class Sample:
    """One invocation: client round trip + the platform's REPORT line + the answer's top class."""

    client_ms: float
    report: Any  # deploy.awslambda.Report; None without a log tail (log_tail=False)
    top_class: str | None
    error: str | None = None
    meta: dict[str, Any] | None = None  # the handler's own timings (the payload asks for "meta")

    @property
    def cold(self) -> bool:
        """The platform's word (an Init Duration) when there is a REPORT line, else the handler's."""
        if self.report is not None:
            return self.report.init_ms is not None
        return bool(self.meta and self.meta.get("cold"))

    @property
    def init_ms(self) -> float | None:
        if self.report is not None:
            return self.report.init_ms
        return float(self.meta["init_ms"]) if self.cold and self.meta else None


def _reported(samples: Sequence[Sample], field_name: str) -> list[Any]:
    return [getattr(s.report, field_name) for s in samples if s.report is not None]


@dataclass(frozen=True)
class Measurement:
    """Forced cold starts and warm invocations of one function; times in ms, memory in MB."""

    cold: Sequence[Sample]
    warm: Sequence[Sample]

    @property
    def true_cold(self) -> list[Sample]:
        """Cold samples whose REPORT line has an Init Duration (a forced cold start may reuse a sandbox)."""
        return [s for s in self.cold if s.cold]

    @property
    def cold_client(self) -> Summary:
        return Summary.from_values([s.client_ms for s in self.true_cold])

    @property
    def init(self) -> Summary:
        return Summary.from_values([s.init_ms for s in self.true_cold if s.init_ms is not None])

    @property
    def cold_duration_ms(self) -> float | None:
        return stats.median(_reported(self.true_cold, "duration_ms"))

    @property
    def cold_billed_ms(self) -> float | None:
        return stats.median(_reported(self.true_cold, "billed_ms"))

    @property
    def warm_duration(self) -> Summary:
        return Summary.from_values(_reported(self.warm, "duration_ms"))

    @property
    def warm_client(self) -> Summary:
        return Summary.from_values([s.client_ms for s in self.warm])

    @property
    def warm_billed_ms(self) -> float | None:
        return stats.median(_reported(self.warm, "billed_ms"))

    @property
    def max_memory_mb(self) -> int | None:
        return max(_reported((*self.cold, *self.warm), "max_memory_mb"), default=None)

    @property
    def has_reports(self) -> bool:
        return any(s.report is not None for s in (*self.cold, *self.warm))

    @property
    def errors(self) -> int:
        return sum(
            1 for s in (*self.cold, *self.warm) if s.error or (s.report is not None and s.report.status)
        )

    @property
    def top_class(self) -> str | None:
        tops = {s.top_class for s in (*self.cold, *self.warm) if s.top_class}
        return tops.pop() if len(tops) == 1 else ("|".join(sorted(tops)) or None)

    def columns(self) -> dict[str, Any]:
        """The bench/measure/schema.py columns this target fills (warm figures are the platform's
        Duration)."""
        return {
            "cold_n": len(self.true_cold),
            "cold_rejected_n": len(self.cold) - len(self.true_cold),
            "cold_total_median_ms": self.cold_client.p50,
            "cold_init_median_ms": self.init.p50,
            "warm_n": len(self.warm),
            **self.warm_duration.columns("warm_handler"),
            "warm_client_p50_ms": self.warm_client.p50,
            # the median billed duration, as this target has always filled the column (named mean)
            "warm_billed_mean_ms": self.warm_billed_ms,
            "errors": self.errors,
        }


def force_cold_start(lam: Any, name: str) -> str:
    """Change an env var (keeping the others) so the next invoke gets a fresh sandbox; returns the token."""
    from deploy import aws

    cfg = lam.get_function_configuration(FunctionName=name)
    env = dict((cfg.get("Environment") or {}).get("Variables") or {})
    env[COLD_ENV] = token = uuid.uuid4().hex
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": env})
    aws.wait_ready(lam, name, "function_updated_v2")
    return token


def invoke_once(lam: Any, name: str, payload: bytes, log_tail: bool = True) -> Sample:
    """Synchronous invoke (with the log tail unless ``log_tail=False``); timing is the client's wall clock
    around the call."""
    from deploy import DeployError, verify
    from infra import awslambda

    kwargs = {"LogType": "Tail"} if log_tail else {}
    t0 = time.perf_counter()
    resp = lam.invoke(FunctionName=name, InvocationType="RequestResponse", Payload=payload, **kwargs)
    body = resp["Payload"].read()
    client_ms = (time.perf_counter() - t0) * 1000.0
    report = None
    if log_tail:
        report = awslambda.find_report(awslambda.decode_log_result(resp.get("LogResult", "")))
    top, error, meta = None, resp.get("FunctionError"), None
    try:
        answer = json.loads(body)
        meta = answer.get("meta") if isinstance(answer, dict) else None
        top = verify.top_class(verify.scores_of(answer, name))
    except (ValueError, DeployError) as e:
        error = error or str(e)
    return Sample(client_ms=client_ms, report=report, top_class=top, error=error, meta=meta)


def function_name(prefix: str, image: str, memory_mb: int) -> str:
    from deploy import settings

    tag = settings.Settings(image=image).remote_tag
    return f"{prefix}-{tag}"[: 64 - len(str(memory_mb)) - 1] + f"-{memory_mb}"


def deploy_function(cfg: Deployment, image: str, memory_mb: int, sess: Any, out: TextIO) -> Any:
    """``image`` as the function ``function_name(prefix, image, memory)``, deployed as ``make deploy``
    deploys (the push is skipped when the registry holds the image); returns its deploy settings."""
    from deploy import aws, settings

    s = settings.load(
        overrides={
            "image": image,
            "function_name": function_name(cfg.prefix, image, memory_mb),
            "repository": cfg.prefix,
            "memory_mb": memory_mb,
            "architecture": cfg.architecture,
            "threads": cfg.threads,
            "registry": cfg.registry,
            "role_arn": cfg.role_arn,
        },
        use_winner=False,
    )
    s.extra = dict(cfg.extra_env)
    aws.Deployer(s, sess, out=out, progress=out).run()  # an image: the Deployer's default packaging
    return s


@dataclass(frozen=True)
class Deployment:
    """How this target deploys a cell's function (prefix, registry, role, region...). What it measures (the
    memory sizes, cold starts, warm invocations) is the benchmark's one settings object's
    (bench/measure/settings.py: BENCH_MEMORY_MB, BENCH_COLD_N, BENCH_WARM_M)."""

    architecture: str = DEFAULT_ARCH
    threads: int = 1
    prefix: str = DEFAULT_PREFIX
    registry: str | None = None
    role_arn: str | None = None
    region: str | None = None
    test_image: Path | None = None
    keep: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    log_tail: bool = True  # False for endpoints that refuse LogType="Tail"


def measure(
    lam: Any,
    name: str,
    payload: bytes,
    cold_starts: int,
    warm_invocations: int,
    out: TextIO,
    force_cold: Callable[[Any, str], Any] | None = force_cold_start,
    log_tail: bool = True,
) -> Measurement:
    """The invoke-and-measure path: ``cold_starts`` invokes each after ``force_cold`` (None: the endpoint
    starts a fresh sandbox itself, as the first call to a `sam local start-lambda` function does), then
    ``warm_invocations`` back-to-back invokes."""
    cold = []
    for i in range(cold_starts):
        if force_cold is not None:
            force_cold(lam, name)
        cold.append(invoke_once(lam, name, payload, log_tail))
        out.write(
            f"  {name} cold {i + 1}/{cold_starts}: "
            f"init {cold[-1].init_ms} ms, total {cold[-1].client_ms:.0f} ms\n"
        )
    warm = [invoke_once(lam, name, payload, log_tail) for _ in range(warm_invocations)]
    return Measurement(cold, warm)


def _row(s: Any, image: str, threads: int, region: str, m: Measurement) -> dict[str, Any]:
    """One bench/measure/schema.py row (target=aws) for deploy settings ``s`` measured as ``m``."""
    source = (
        "max memory from REPORT line"
        if m.has_reports
        else "no log tail: REPORT figures empty, cold/init from the handler's meta"
    )
    return {
        "target": "aws",
        "status": "ok",
        "note": f"region {region}; {source}",
        "image": image,
        "image_kind": s.image_kind,
        "runtime": s.runtime,
        "model": s.model,
        "variant": s.variant,
        "memory_mb": s.memory_mb,
        "threads": threads,
        **m.columns(),
    }


class AwsInstance:
    """One deployed function (``start``): invoked synchronously, its REPORT lines kept from the tails."""

    def __init__(self, lam: Any, name: str, settings: Any, log_tail: bool = True) -> None:
        self.lam, self.name, self.settings, self.log_tail = lam, name, settings, log_tail
        self.samples: list[Sample] = []

    def invoke(self, event: dict[str, Any]) -> Answer:
        s = invoke_once(self.lam, self.name, json.dumps(event).encode(), self.log_tail)
        self.samples.append(s)
        body: dict[str, Any] = {"meta": s.meta or {}, "top_class": s.top_class}
        return Answer(s.error is None, s.client_ms, body, "FunctionError" if s.error else None)

    def platform_log(self) -> PlatformLog:
        reports = tuple(s.report for s in self.samples if s.report is not None)
        init = next((r.init_ms for r in reports if r.init_ms is not None), None)
        return PlatformLog(init, reports)

    def stop(self) -> None:
        """Delete the function (an already deleted one is fine)."""
        from botocore.exceptions import ClientError

        try:
            self.lam.delete_function(FunctionName=self.name)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise


class AwsTarget:
    """Real Lambda behind bench/measure/targets/base.Target: ``start`` deploys the cell's image at its
    memory as a function (the cell's CPU share is Lambda's, so ``cpus`` is not used), ``cold_start``
    forces a fresh sandbox (an environment change) and takes the first invoke, ``cleanup`` deletes every
    function this target created."""

    name = "aws"

    def __init__(self, cfg: Deployment, sess: Any, out: TextIO | None = None) -> None:
        from deploy import aws

        self.cfg, self.sess, self.out = cfg, sess, out or sys.stderr
        self.lam = sess.client("lambda")
        self.region = aws.identity(sess).region
        self.started: dict[str, AwsInstance] = {}

    def start(
        self, cell: Launchable, env: Mapping[str, str] | None = None, processes: int = 1
    ) -> AwsInstance:
        if processes != 1:
            raise ValueError(
                "the aws target runs one process per sandbox (Managed Instances is not deployed here)"
            )
        cfg = dataclasses.replace(self.cfg, extra_env={**self.cfg.extra_env, **(env or {})})
        s = deploy_function(cfg, cell.tag, cell.memory_mb, self.sess, self.out)
        inst = self.started[s.function_name] = AwsInstance(self.lam, s.function_name, s, cfg.log_tail)
        return inst

    def cold_start(
        self,
        cell: Launchable,
        event: dict[str, Any],
        env: Mapping[str, str] | None = None,
        keep: bool = False,
    ) -> ColdStart:
        """A forced cold start of the cell's function (deployed first when this target has not yet)."""
        name = function_name(self.cfg.prefix, cell.tag, cell.memory_mb)
        inst = self.started.get(name) or self.start(cell, env)
        force_cold_start(self.lam, name)
        ans = inst.invoke(event)
        s = inst.samples[-1]
        if not s.cold:
            return ColdStart(
                None, "no Init Duration: the forced cold start reused a sandbox", inst if keep else None
            )
        meta = s.meta or {}
        sample = ColdSample(
            total_ms=ans.client_ms, start_ms=0.0, first_request_ms=ans.client_ms,
            init_ms=float(s.init_ms or 0.0), first_inference_ms=float(meta.get("inference_ms", 0.0)),
            handler_ms=float(s.report.duration_ms) if s.report else 0.0,
            init_report_ms=s.report.init_ms if s.report else None, first_report=s.report,
        )  # fmt: skip
        return ColdStart(sample, None, inst if keep else None, {"meta": meta})

    def cleanup(self) -> int:
        removed = 0
        for name, inst in list(self.started.items()):
            try:
                inst.stop()
                removed += 1
            except Exception as e:  # keep going: every other function must still go
                self.out.write(f"  could not delete {name}: {e}\n")
            del self.started[name]
        return removed


def run(
    images: Sequence[str],
    settings: Settings,
    cfg: Deployment = Deployment(),
    sess: Any = None,
    out: TextIO | None = None,
) -> list[dict[str, Any]]:
    """Deploy every image at every memory size of ``settings``, measure (its cold starts and warm
    requests), delete the functions; one schema row per pair."""
    from deploy import DeployError, aws, verify

    out = out or sys.stderr
    reason = credentials_problem(cfg.region) if sess is None else None
    if reason:
        raise DeployError(f"aws bench skipped: {reason}")
    target = AwsTarget(cfg, sess or aws.session(cfg.region), out)
    event = {**verify.payload_for(verify.pick_test_image(cfg.test_image)), "meta": True}
    payload = json.dumps(event).encode()
    rows: list[dict[str, Any]] = []
    try:
        for image in images:
            for memory in settings.memory_mb:
                inst = target.start(Launch(image, int(memory), 0.0, cfg.threads))
                m = measure(target.lam, inst.name, payload, settings.cold_n, settings.warm_m, out,
                            log_tail=cfg.log_tail)  # fmt: skip
                rows.append(_row(inst.settings, image, cfg.threads, target.region, m))
    finally:
        if not cfg.keep:
            target.cleanup()
    return rows


def run_cells(images: Sequence[str], settings: Settings) -> list[dict[str, Any]]:
    """Deploy + measure every image x memory on AWS; rows in bench/measure/schema.py columns, target=aws."""
    return run(images, settings)
