"""The Lambda service's formats bench/ and deploy/ both read: the platform ``REPORT`` line (the only place
AWS tells us Init Duration and memory) and a function's ARN.

``Invoke(LogType="Tail")`` returns the last 4 KB of the invocation's log, base64-encoded, in
``LogResult``; the platform appends one line such as::

    REPORT RequestId: 8f5... Duration: 12.34 ms Billed Duration: 13 ms Memory Size: 1769 MB
    Max Memory Used: 210 MB Init Duration: 1523.11 ms

(fields separated by tabs). ``Init Duration`` appears only on a cold start, ``Restore Duration`` /
``Billed Restore Duration`` only on SnapStart restores, ``Status`` / ``Error Type`` only on failed
invocations, and an ``XRAY TraceId`` segment may follow when tracing is on.
"""

from __future__ import annotations

import base64
import re
from dataclasses import asdict, dataclass

#: Longer keys first so that "Billed Duration" is never read as "Duration" (finditer scans left to right).
_KEYS = (
    "Billed Restore Duration",
    "Restore Duration",
    "Billed Duration",
    "Init Duration",
    "Max Memory Used",
    "Memory Size",
    "Duration",
    "RequestId",
    "Status",
    "Error Type",
)
_FIELD = re.compile(r"(?P<key>" + "|".join(re.escape(k) for k in _KEYS) + r"):\s*(?P<value>[^\s]+)")
_FIELDS = {
    "RequestId": "request_id",
    "Duration": "duration_ms",
    "Billed Duration": "billed_ms",
    "Memory Size": "memory_size_mb",
    "Max Memory Used": "max_memory_mb",
    "Init Duration": "init_ms",
    "Restore Duration": "restore_ms",
    "Billed Restore Duration": "billed_restore_ms",
    "Status": "status",
    "Error Type": "error_type",
}


class ReportLineError(ValueError):
    """The log tail holds no parseable REPORT line."""


@dataclass(frozen=True)
class Report:
    """One invocation's platform report; optional fields are None when AWS did not print them."""

    request_id: str
    duration_ms: float
    billed_ms: float
    memory_size_mb: int
    max_memory_mb: int
    init_ms: float | None = None
    restore_ms: float | None = None
    billed_restore_ms: float | None = None
    status: str | None = None
    error_type: str | None = None

    @property
    def cold(self) -> bool:
        """A cold start (or SnapStart restore) is the only case the platform reports an init phase."""
        return self.init_ms is not None or self.restore_ms is not None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def decode_log_result(log_result_b64: str) -> str:
    """``LogResult`` from Invoke -> text (AWS truncates it to the last 4 KB, so it may start mid-line)."""
    return base64.b64decode(log_result_b64).decode("utf-8", errors="replace")


def parse_report_line(line: str) -> Report:
    """One ``REPORT RequestId: ...`` line -> Report. Raises ReportLineError on anything else."""
    text = line.strip()
    if not text.startswith("REPORT "):
        raise ReportLineError(f"not a REPORT line: {text[:80]!r}")
    raw: dict[str, str] = {}
    for m in _FIELD.finditer(text):
        raw.setdefault(_FIELDS[m.group("key")], m.group("value"))
    missing = [
        k
        for k in ("request_id", "duration_ms", "billed_ms", "memory_size_mb", "max_memory_mb")
        if k not in raw
    ]
    if missing:
        raise ReportLineError(f"REPORT line lacks {', '.join(missing)}: {text[:160]!r}")

    def num(key: str) -> float | None:
        return float(raw[key]) if key in raw else None

    return Report(
        request_id=raw["request_id"],
        duration_ms=float(raw["duration_ms"]),
        billed_ms=float(raw["billed_ms"]),
        memory_size_mb=int(raw["memory_size_mb"]),
        max_memory_mb=int(raw["max_memory_mb"]),
        init_ms=num("init_ms"),
        restore_ms=num("restore_ms"),
        billed_restore_ms=num("billed_restore_ms"),
        status=raw.get("status"),
        error_type=raw.get("error_type"),
    )


def find_report(log_text: str) -> Report:
    """The last REPORT line of a log tail (the one belonging to the invocation that returned it)."""
    lines = [ln for ln in log_text.splitlines() if ln.lstrip().startswith("REPORT ")]
    if not lines:
        raise ReportLineError("no REPORT line in the log tail (was the function invoked with LogType=Tail?)")
    return parse_report_line(lines[-1])


def function_arn(partition: str, region: str, account: str, name: str, qualifier: str | None = None) -> str:
    """arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>] (an alias or a version)."""
    return f"arn:{partition}:lambda:{region}:{account}:function:{name}" + (
        f":{qualifier}" if qualifier else ""
    )
