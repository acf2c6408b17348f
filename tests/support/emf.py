"""The CloudWatch Embedded Metric Format rules (``check_emf``) the handler's log line must meet, and the
keys the log line has always had: tests/unit/test_emf.py applies them in-process, test_package and test_sam
to the lines the Lambda emulator printed.

Spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import json
from typing import Any

#: CloudWatch StandardUnit values (EMF "Unit" must be one of them).
UNITS = {
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
}
#: Keys the log line had before EMF (tests, bench and readers use them): all must survive.
INFERENCE_KEYS = {
    "cold",
    "event",
    "request_id",
    "pid",
    "msg",
    "init_ms",
    "fetch_ms",
    "preprocess_ms",
    "inference_ms",
    "runtime",
    "library",
    "runtime_version",
    "threads",
    "model_sha256",
    "init_at",
    "input",
    "bytes",
    "image_wh",
    "top",
    "total_ms",
}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_emf(line: str) -> dict[str, Any]:
    """Parse one log line and assert it is a valid EMF document; returns the parsed record."""
    rec = json.loads(line)  # the whole line is one JSON object, nothing before or after
    assert isinstance(rec, dict)
    meta = rec["_aws"]
    assert isinstance(meta, dict) and set(meta) <= {"Timestamp", "CloudWatchMetrics", "LogGroupName"}, meta
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 1_600_000_000_000
    directives = meta["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for d in directives:
        assert set(d) == {"Namespace", "Dimensions", "Metrics"}, d
        assert isinstance(d["Namespace"], str) and 1 <= len(d["Namespace"]) <= 255
        assert isinstance(d["Dimensions"], list)
        for dset in d["Dimensions"]:
            assert isinstance(dset, list) and len(dset) <= 30
            for name in dset:
                assert isinstance(name, str) and 1 <= len(name) <= 255
                assert isinstance(rec.get(name), str) and rec[name], (name, rec.get(name))
        assert isinstance(d["Metrics"], list) and 0 < len(d["Metrics"]) <= 100
        for m in d["Metrics"]:
            assert set(m) <= {"Name", "Unit", "StorageResolution"} and 1 <= len(m["Name"]) <= 255, m
            assert m.get("Unit", "None") in UNITS, m
            v = rec[m["Name"]]
            assert _number(v) or (isinstance(v, list) and len(v) <= 100 and all(map(_number, v))), (m, v)
    return rec


def metric_names(rec: dict[str, Any]) -> set[str]:
    return {m["Name"] for d in rec["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


def emf_lines(text: str) -> list[dict[str, Any]]:
    """Every EMF record among an emulator's log lines (platform lines like START/END/REPORT skipped)."""
    out = []
    for line in text.splitlines():
        start = line.find('{"')
        if start >= 0 and '"_aws"' in line:
            out.append(check_emf(line[start:]))
    return out
