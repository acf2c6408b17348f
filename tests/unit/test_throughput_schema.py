"""The throughput CSV contract: generated records round-trip, broken ones are refused with the field named."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.measure import throughput_schema as ts
from tests.support.throughput import record, records


@settings(deadline=None, max_examples=30)
@given(recs=records())
def test_records_round_trip(
    tmp_path_factory: pytest.TempPathFactory, recs: list[ts.ThroughputRecord]
) -> None:
    path = tmp_path_factory.mktemp("t") / "throughput.csv"
    ts.write(recs, path)
    assert ts.read(path) == recs
    assert all(r.saturated for r in ts.saturation(recs))


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("architecture", "sparc", "architecture"),
        ("processes", 7, "processes"),
        ("load_fraction", 1.5, "load_fraction"),
        ("offered_rps", 3.0, "offered_rps"),
        ("rps_per_vcpu", 999.0, "rps_per_vcpu"),
        ("latency_p99_ms", 1.0, "p50 <= p99"),
        ("memory_total_bytes", 1, "memory_per_process_bytes"),
        ("python", "", "python"),
    ],
)
def test_a_broken_field_is_named(field: str, value: Any, says: str) -> None:
    with pytest.raises(ts.ThroughputSchemaError, match=says):
        dataclasses.replace(record(), **{field: value})


@given(col=st.sampled_from(ts.COLUMNS))
def test_a_file_missing_a_column_is_refused(tmp_path_factory: pytest.TempPathFactory, col: str) -> None:
    path: Path = tmp_path_factory.mktemp("t") / "throughput.csv"
    ts.write([record()], path)
    lines = path.read_text().splitlines()
    i = ts.COLUMNS.index(col)
    cut = [",".join(x for j, x in enumerate(line.split(",")) if j != i) for line in lines]
    path.write_text("\n".join(cut) + "\n")
    with pytest.raises(ts.ThroughputSchemaError, match="columns"):
        ts.read(path)
