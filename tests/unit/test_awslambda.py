"""REPORT line parsing on log tails in the format Lambda prints, and the aws bench row built from them.

The .log files in tests/data are log tails as ``Invoke(LogType="Tail")`` returns them (START / handler
output / END / REPORT, tab-separated fields): a container-image cold start (Init Duration), a warm
invoke (no Init Duration), AWS's documented X-Ray example, a SnapStart restore (Restore Duration,
Billed Restore Duration), a timeout (Status) and a tail cut at 4 KB ending in an out-of-memory error.
"""

from __future__ import annotations

import base64

import pytest

from bench.measure import schema
from bench.measure.targets import aws as aws_target
from core.paths import ROOT
from infra.awslambda import ReportLineError, decode_log_result, find_report, parse_report_line

DATA = ROOT / "tests" / "data"


def log(name: str) -> str:
    return (DATA / name).read_text()


def test_cold_start_has_init_duration() -> None:
    r = find_report(log("report_cold.log"))
    assert r.request_id == "6f1e2c7a-9b0d-4c1e-8a55-2d7b3f0e9a11"
    assert (r.duration_ms, r.billed_ms, r.memory_size_mb, r.max_memory_mb) == (118.43, 1412.0, 1769, 214)
    assert r.init_ms == 1293.07 and r.cold
    assert r.restore_ms is None and r.status is None


def test_warm_invoke_has_no_init_duration() -> None:
    r = find_report(log("report_warm.log"))
    assert (r.duration_ms, r.billed_ms, r.max_memory_mb) == (107.96, 108.0, 215)
    assert r.init_ms is None and not r.cold


def test_xray_segment_after_report_is_ignored() -> None:
    r = find_report(log("report_xray.log"))
    assert (r.duration_ms, r.billed_ms, r.memory_size_mb, r.max_memory_mb, r.init_ms) == (
        170.19,
        200,
        128,
        73,
        2.15,
    )


def test_snapstart_restore_fields_are_not_confused_with_billed_duration() -> None:
    r = find_report(log("report_snapstart.log"))
    assert (r.duration_ms, r.billed_ms) == (25.56, 493.0)
    assert (r.restore_ms, r.billed_restore_ms) == (567.44, 467.0)
    assert r.init_ms is None and r.cold


def test_timeout_and_truncated_error_tail() -> None:
    t = find_report(log("report_timeout.log"))
    assert (t.status, t.duration_ms, t.init_ms, t.error_type) == ("timeout", 3000.0, 2871.66, None)
    e = find_report(log("report_truncated_error.log"))  # tail starts mid-line, as a 4 KB cut does
    assert (e.status, e.error_type, e.max_memory_mb, e.memory_size_mb) == (
        "error",
        "Runtime.OutOfMemory",
        512,
        512,
    )


def test_space_separated_copy_parses_like_tabs() -> None:
    """Console copies turn tabs into spaces; the parser must not depend on the separator."""
    tabbed = find_report(log("report_cold.log"))
    spaced = parse_report_line(
        next(ln for ln in log("report_cold.log").splitlines() if ln.startswith("REPORT")).replace("\t", " ")
    )
    assert spaced == tabbed


def test_log_result_base64_round_trip() -> None:
    text = log("report_cold.log")
    assert find_report(decode_log_result(base64.b64encode(text.encode()).decode())).init_ms == 1293.07


def test_errors() -> None:
    with pytest.raises(ReportLineError, match="no REPORT line"):
        find_report("START RequestId: x Version: 1\nEND RequestId: x\n")
    with pytest.raises(ReportLineError, match="lacks"):
        parse_report_line("REPORT RequestId: x\tDuration: 1.00 ms")
    with pytest.raises(ReportLineError, match="not a REPORT"):
        parse_report_line("END RequestId: x")


def sample(name: str, client_ms: float, top: str = "t-shirt") -> aws_target.Sample:
    return aws_target.Sample(client_ms=client_ms, report=find_report(log(name)), top_class=top)


def test_bench_row_from_recorded_reports() -> None:
    cold = [
        sample("report_cold.log", 1650.0),
        sample("report_cold.log", 1550.0),
        sample("report_warm.log", 140.0),
    ]  # the third forced cold start reused a sandbox
    warm = [sample("report_warm.log", 120.0), sample("report_xray.log", 200.0)]
    m = aws_target.Measurement(cold, warm)
    assert len(m.true_cold) == 2
    assert m.cold_client.p50 == 1600.0 and m.init.p50 == 1293.07
    assert m.cold_duration_ms == 118.43 and m.cold_billed_ms == 1412.0
    assert m.max_memory_mb == 215
    assert m.warm_duration.n == 2 and m.warm_duration.p50 == pytest.approx((107.96 + 170.19) / 2)
    assert m.warm_duration.p99 == pytest.approx(107.96 + 0.99 * (170.19 - 107.96))
    assert m.errors == 0 and m.top_class == "t-shirt"
    row = m.columns()  # the bench/measure/schema.py columns the aws target fills
    assert (row["cold_n"], row["cold_rejected_n"]) == (2, 1)
    assert row["cold_total_median_ms"] == 1600.0 and row["cold_init_median_ms"] == 1293.07
    assert row["warm_n"] == 2 and row["warm_handler_p50_ms"] == m.warm_duration.p50
    assert row["warm_handler_p99_ms"] == m.warm_duration.p99 and row["errors"] == 0
    schema.to_frame([{"target": "aws", **row}])  # every key is a schema column
    failed = aws_target.Measurement([], [sample("report_timeout.log", 3100.0, top="")])
    assert failed.errors == 1 and failed.cold_client.p50 is None and failed.top_class is None
