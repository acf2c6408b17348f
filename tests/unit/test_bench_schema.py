"""The benchmark CSV schema, cost model and statistics, on synthetic rows (no docker)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.decide import cost, stats
from bench.measure import schema
from core.paths import ROOT


def _row(**kw: object) -> dict[str, object]:
    return {
        "run_id": "r1",
        "target": "container",
        "image": "clothing-tflite:reference-float32",
        "memory_mb": 1769,
        "warm_client_p50_ms": 12.5,
        "gate_passed": True,
        "quick": False,
        **kw,
    }


def test_frame_has_fixed_columns_order_and_dtypes() -> None:
    df = schema.to_frame([_row(), _row(target="inprocess", memory_mb=None, gate_passed=None)])
    assert tuple(df.columns) == schema.NAMES
    for name, dtype in schema.COLUMNS:
        assert str(df[name].dtype) == dtype, name
    assert df.loc[0, "memory_mb"] == 1769 and pd.isna(df.loc[1, "memory_mb"])


def test_unknown_column_and_target_are_rejected() -> None:
    with pytest.raises(schema.SchemaError, match="warm_p50"):
        schema.to_frame([_row(warm_p50=1.0)])
    with pytest.raises(schema.SchemaError, match="target"):
        schema.to_frame([_row(target="lambda")])


def test_written_csv_round_trips_and_validates(tmp_path: Path) -> None:
    df = schema.to_frame([_row(cold_total_samples_ms="1.0;2.5", git_dirty=True), _row(target="soak")])
    path = schema.write(df, tmp_path / "runs" / "x.csv")
    back = schema.read(path)
    assert tuple(back.columns) == schema.NAMES
    assert back.loc[0, "cold_total_samples_ms"] == "1.0;2.5"
    assert bool(back.loc[0, "git_dirty"]) is True
    assert back.loc[0, "warm_client_p50_ms"] == pytest.approx(12.5)


def test_validate_reports_missing_reordered_and_bad_values(tmp_path: Path) -> None:
    df = schema.to_frame([_row()])
    assert schema.validate(df.astype(str)) == []
    assert "missing" in schema.validate(df.drop(columns=["memory_mb"]))[0]
    cols = list(schema.NAMES)
    cols[0], cols[1] = cols[1], cols[0]
    assert "out of order" in schema.validate(df[cols])[0]
    bad = df.astype(object)
    bad.loc[0, "memory_mb"] = "lots"
    assert schema.validate(bad)
    path = tmp_path / "bad.csv"
    df.drop(columns=["quick"]).to_csv(path, index=False)
    with pytest.raises(schema.SchemaError):
        schema.read(path)


def test_latest_csv_if_present_matches_schema() -> None:
    """Whatever the last benchmark run wrote must still read under today's schema."""
    for path in (Path("results/latest.csv"), *sorted(Path("results/runs").glob("*.csv"))[-3:]):
        if path.is_file():
            assert (
                schema.validate(pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])) == []
            ), path


def test_cost_at_matches_hand_computation() -> None:
    # 1024 MB, every request 99.2 ms -> billed 100 ms -> 0.1 GB-s per request
    usd = cost.cost_at(1024, [99.2, 99.9], [], [], 0.0, architecture="x86_64")
    assert usd == pytest.approx(0.20 + 1e6 * 0.1 * 0.0000166667)
    arm = cost.cost_at(1024, [99.2], [], [], 0.0, architecture="arm64")
    assert arm == pytest.approx(0.20 + 1e6 * 0.1 * 0.0000133334)
    # 10 % cold: those bill init 500 ms + their own 200 ms, rounded up once
    mixed = cost.cost_at(2048, [100.0], [499.5], [200.0], 0.1)
    mean_ms = 0.9 * 100 + 0.1 * (500 + 200)
    assert mixed == pytest.approx(0.20 + 1e6 * 2 * mean_ms / 1000 * 0.0000166667)
    assert cost.billed_ms(0.2) == 1 and cost.billed_ms(3.0) == 3


def test_median_ci_order_statistics() -> None:
    assert stats.median_ci([1, 2, 3, 4, 5]) == (None, None)  # n < 6: no 95 % ranks exist
    lo, hi = stats.median_ci(list(range(1, 11)))  # n = 10: ranks 2 and 9 (coverage 97.9 %)
    assert (lo, hi) == (2.0, 9.0)
    lo, hi = stats.median_ci(list(range(100, 0, -1)))
    assert lo is not None and hi is not None and lo < 50.5 < hi and hi - lo < 25
    assert stats.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5 and stats.percentile([], 50) is None
    assert math.isclose(stats.median([3, 1, 2]) or 0, 2)


def test_docs_column_table_is_generated_from_the_records() -> None:
    doc = (ROOT / "docs" / "bench.md").read_text()
    block = doc.split("<!-- columns:begin -->\n")[1].split("<!-- columns:end -->")[0]
    assert block == schema.columns_doc(), "regenerate docs/bench.md's block from schema.columns_doc()"


def test_committed_csv_parses_to_records_and_serialises_back(tmp_path: Path) -> None:
    """parse (CSV -> records) and serialise (records -> CSV) are inverse on the committed run."""
    rows = schema.parse(ROOT / "results" / "latest.csv")
    assert rows and all(isinstance(r, schema.Row) for r in rows)
    back = schema.read(schema.serialise(rows, tmp_path / "latest.csv"))
    pd.testing.assert_frame_equal(back, schema.read(ROOT / "results" / "latest.csv"))


_VALUES = {
    schema.S: st.one_of(
        st.none(), st.text(st.characters(codec="ascii", exclude_characters=',\r\n"'), min_size=1)
    ),
    schema.N: st.one_of(st.none(), st.integers(-(10**6), 10**6)),
    schema.F: st.one_of(st.none(), st.floats(-1e6, 1e6).map(lambda v: float(f"{v:.6g}"))),
    schema.B: st.one_of(st.none(), st.booleans()),
}


@st.composite
def _rows(draw: st.DrawFn) -> dict[str, object]:
    names = draw(st.sets(st.sampled_from([n for n in schema.NAMES if n != "target"])))
    row: dict[str, object] = {n: draw(_VALUES[schema.DTYPES[n]]) for n in sorted(names)}
    return row | {"target": draw(st.sampled_from(schema.TARGETS))}


@settings(deadline=None, max_examples=40)
@given(rows=st.lists(_rows(), min_size=1, max_size=4))
def test_records_round_trip_through_the_csv(rows: list[dict[str, object]]) -> None:
    """Any record set written by serialise reads back by parse as the same records; every column sits at
    the field path the schema names for it."""
    recs = [schema.Row.from_columns(r) for r in rows]
    path = Path(tempfile.mkdtemp()) / "run.csv"
    back = schema.parse(schema.serialise(recs, path))
    assert [b.columns() for b in back] == [r.columns() for r in recs]
    for r, rec in zip(rows, recs, strict=True):
        for name, value in r.items():
            obj: object = rec
            path_ = schema.FIELDS[name]
            if path_.startswith("versions["):
                assert rec.versions[name] == value
                continue
            for part in path_.split("."):
                obj = getattr(obj, part)
            assert obj == value


@settings(deadline=None, max_examples=60)
@given(top=_rows(), base=_rows())
def test_a_cell_record_over_the_session_keeps_its_values_and_fills_the_rest(
    top: dict[str, object], base: dict[str, object]
) -> None:
    """Row.over (a cell's record over its session's environment) is the column-wise merge in which the
    cell's values win and the session's fill every column the cell left empty."""
    got = schema.Row.from_columns(top).over(schema.Row.from_columns(base)).columns()
    want = {n: top[n] if top.get(n) is not None else base.get(n) for n in schema.NAMES}
    assert got == want


@settings(deadline=None, max_examples=40)
@given(
    cells=st.lists(
        st.tuples(
            st.sampled_from(["clothing-tflite:reference-int8", "clothing-onnx:reference-float32"]),
            st.sampled_from([1024, 1769]),
            st.one_of(st.none(), st.floats(0.1, 1e4).map(lambda v: float(f"{v:.6g}"))),
            st.one_of(st.none(), st.integers(0, 40).map(lambda v: 2 * v)),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_medians_are_the_median_of_each_cells_repeats(
    cells: list[tuple[str, int, float | None, int | None]],
) -> None:
    """schema.medians = pandas' group-by median of the repeats (missing values skipped), the rest the
    first repeat's, one record per cell in first-seen order."""
    rows = [
        schema.Row.from_columns(
            {"target": "container", "image": img, "memory_mb": mem, "repeat": i, "warm_client_p99_ms": p99,
             "cold_n": n, "note": f"repeat {i}"}
        )
        for i, (img, mem, p99, n) in enumerate(cells)
    ]  # fmt: skip
    got = schema.medians(rows, lambda r: r.key)
    df = schema.to_frame(rows)
    want = df.groupby(["image", "memory_mb"], sort=False)[["warm_client_p99_ms", "cold_n"]].median()
    assert [r.key for r in got] == list(dict.fromkeys(r.key for r in rows))
    for r in got:
        p99, n = want.loc[r.key]
        assert (r.warm.client_p99_ms is None) == pd.isna(p99) and (r.cold.n is None) == pd.isna(n)
        assert r.warm.client_p99_ms is None or r.warm.client_p99_ms == float(p99)
        assert r.cold.n is None or r.cold.n == float(n)
        assert r.note == next(x.note for x in rows if x.key == r.key)
