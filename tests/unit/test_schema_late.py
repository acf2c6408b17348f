"""A run committed before a column existed reads with that column empty; any other missing column fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.measure import schema
from tests.support.rows import cell, frame


@settings(deadline=None, max_examples=10)
@given(drop=st.sampled_from([n for n in schema.NAMES if n not in schema.LATE and n != "target"]))
def test_only_late_columns_may_be_missing(tmp_path_factory: pytest.TempPathFactory, drop: str) -> None:
    path: Path = tmp_path_factory.mktemp("s") / "run.csv"
    df = frame(cell("clothing-tflite:reference-int8", 0.4))
    df.drop(columns=list(schema.LATE)).to_csv(path, index=False)
    got = schema.read(path)
    assert list(got.columns) == list(schema.NAMES) and got["image_python"].isna().all()
    df.drop(columns=[*schema.LATE, drop]).to_csv(path, index=False)
    with pytest.raises(schema.SchemaError, match=drop):
        schema.read(path)
