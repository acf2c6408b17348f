"""Make the handler's per-invocation JSON log line also a CloudWatch Embedded Metric Format record.

Why: Lambda ships every stdout line to CloudWatch Logs, and CloudWatch Logs turns a line carrying an
``_aws`` member into metrics by itself (EMF specification:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
So a deployed function gets graphs and alarms on cold starts, init, fetch, preprocess and inference time
with no agent, no SDK and no PutMetricData call on the request path. EMF only *adds* members: every key
the line already had (the bench and tests read them) stays as it was; the metric values are those same
top-level numbers, referenced by name.

Added members: ``_aws`` (the metadata), ``cold_start`` (0/1, a number because EMF metric values must be
numbers; the existing boolean ``cold`` stays), ``variant`` and ``memory`` (dimension values must be
strings), ``sandbox`` (runtimes/snapstart.py), ``runtime`` on error lines (success lines have it
already), ``error`` (1) on error lines. ``init_ms`` is declared as a metric
only on cold lines: warm lines repeat the sandbox's one init time and would skew its statistics.
Only stdlib here, and no import cost worth measuring (the alternative, aws-lambda-powertools Metrics, is
measured in docs/ship.md).
"""

from __future__ import annotations

import os
import time
from typing import Any

from core.settings import read
from runtimes import snapstart

#: CloudWatch namespace of the metrics; METRICS_NAMESPACE overrides (docs/ship.md).
DEFAULT_NAMESPACE = "ClothingLambda"
DIMENSIONS = ("runtime", "variant", "memory")
#: (member name, EMF unit). The names are the log line's existing keys.
TIMINGS = (
    ("init_ms", "Milliseconds"),
    ("fetch_ms", "Milliseconds"),
    ("preprocess_ms", "Milliseconds"),
    ("inference_ms", "Milliseconds"),
    ("total_ms", "Milliseconds"),
)
COUNTS = (("cold_start", "Count"), ("error", "Count"))


def variant() -> str:
    """MODEL_VARIANT if the image or template sets it, else the artefact's file name without suffix
    (``float32.tflite`` -> ``float32``); "unknown" when neither says."""
    explicit: str = read("MODEL_VARIANT", "")
    if explicit:
        return explicit
    path = read("MODEL_PATH", "").rstrip("/")
    name = os.path.basename(path).split(".", 1)[0]
    return name or "unknown"


def memory() -> str:
    """The function's configured memory in MB; Lambda sets AWS_LAMBDA_FUNCTION_MEMORY_SIZE (also the
    emulators do). "unknown" outside Lambda."""
    mb: int | None = read("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", None)
    return "unknown" if mb is None else str(mb)


def embed(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` plus the EMF members, for a per-invocation line (one with ``cold``); other lines
    (e.g. init_failed) are returned unchanged, as is every line when METRICS_EMF=0 (the EMF members roughly
    double the line, 451 -> 933 bytes measured, and CloudWatch Logs bills ingestion per GB; docs/ship.md).
    The caller's dict is not modified."""
    if "cold" not in record or not read("METRICS_EMF", True):
        return record
    out = dict(record)
    out.setdefault("runtime", os.environ.get("MODEL_RUNTIME", "").strip() or "unknown")
    out["runtime"] = str(out["runtime"])
    out["variant"] = variant()
    out["memory"] = memory()
    out["cold_start"] = 1 if record["cold"] else 0
    if record.get("msg") in ("error", "bad_input"):
        out["error"] = 1
    out["sandbox"] = snapstart.sandbox_id()
    if snapstart.restored():
        out["snapstart_restored"] = True
    metrics = []
    for name, unit in (*TIMINGS, *COUNTS):
        value = out.get(name)
        if name == "init_ms" and not record["cold"]:
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics.append({"Name": name, "Unit": unit})
    out["_aws"] = {
        "Timestamp": int(time.time() * 1000),
        "CloudWatchMetrics": [
            {
                "Namespace": read("METRICS_NAMESPACE", DEFAULT_NAMESPACE),
                "Dimensions": [list(DIMENSIONS)],
                "Metrics": metrics,
            }
        ],
    }
    return out
