"""The decode budget's arithmetic (runtimes/limits.py), as pure functions, and its measured table."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import budget
from runtimes import limits as lim
from scripts import measure_decode

RESULTS = Path(__file__).resolve().parents[2] / "results"
memories = st.none() | st.integers(128, 10_240)


def test_table_covers_every_measurement() -> None:
    """Each (format, mode) measured by scripts/measure_decode.py is at or under the table the handler
    uses; a new measurement above it (a Pillow upgrade, a new mode) fails here."""
    rows = list(csv.DictReader(open(RESULTS / "decode_bpp.csv")))
    assert {r["format"] for r in rows} >= set(lim.DEFAULT_FORMATS + lim.OPTIONAL_FORMATS)
    need = measure_decode.table(rows, lim.DECODE_FIXED_BYTES, margin=1.0)
    for key, bpp in need.items():
        assert lim.bytes_per_pixel(*key) >= bpp, (
            f"{key}: measured {bpp} B/px, table {lim.bytes_per_pixel(*key)}"
        )


@given(memory=memories, quota=st.none() | st.floats(0.01, 64))
def test_cpu_share_is_a_fraction_of_one_vcpu(memory: int | None, quota: float | None) -> None:
    share = budget.cpu_share(memory, quota)
    assert 0 < share <= 1
    if quota is None and memory is not None:
        assert share == pytest.approx(min(1.0, memory / budget.MB_PER_VCPU))


@given(memory=st.integers(128, 10_240), fraction=st.floats(0.1, 1.0), rss_mb=st.integers(0, 4096))
def test_decode_budget_keeps_the_sandbox_under_its_fraction(
    memory: int, fraction: float, rss_mb: int
) -> None:
    budget = lim.decode_budget(memory, fraction, rss_mb * 2**20)
    assert budget >= lim.MIN_DECODE_BUDGET
    if budget > lim.MIN_DECODE_BUDGET:  # above the floor, process + decode is exactly the fraction
        assert rss_mb * 2**20 + budget == pytest.approx(fraction * memory * 2**20, abs=1)


@given(
    budget=st.integers(0, 8 * 2**30),
    key=st.sampled_from(sorted(lim.BYTES_PER_PIXEL)),
    ceiling=st.integers(1, lim.MAX_PIXELS_CEILING),
)
def test_pixel_cap_fits_the_budget(budget: int, key: tuple[str, str], ceiling: int) -> None:
    cap = lim.pixel_cap(budget, *key, ceiling=ceiling)
    assert 0 <= cap <= ceiling
    assert cap * lim.bytes_per_pixel(*key) + lim.DECODE_FIXED_BYTES <= max(budget, lim.DECODE_FIXED_BYTES)


def test_unlisted_mode_gets_its_formats_worst() -> None:
    assert lim.bytes_per_pixel("PNG", "PA") == lim.BYTES_PER_PIXEL[("PNG", "")]
    assert lim.bytes_per_pixel("PNG", "PA") == max(
        v for (f, _), v in lim.BYTES_PER_PIXEL.items() if f == "PNG"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DECODE_FORMATS": "JPEG,EPS"}, "EPS"),
        ({"DECODE_CPU_S": "nan"}, "DECODE_CPU_S"),
        ({"DECODE_CPU_S": "inf"}, "DECODE_CPU_S"),
        ({"DECODE_MEMORY_FRACTION": "1.5"}, "DECODE_MEMORY_FRACTION"),
        ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "lots"}, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
    ],
)
def test_malformed_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lim.Limits.from_env(env)


def test_formats_default_and_opt_in() -> None:
    assert lim.Limits.from_env({}).formats == ("JPEG", "PNG", "WEBP", "GIF")
    assert lim.Limits.from_env({"DECODE_FORMATS": " tiff, jpeg ,TIFF"}).formats == ("TIFF", "JPEG")


@given(memory=st.integers(128, 10_240), cpu=st.floats(0.01, 30))
def test_wall_deadline_is_the_cpu_budget_at_the_share(memory: int, cpu: float) -> None:
    limits = lim.Limits.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory), "DECODE_CPU_S": repr(cpu)})
    assert limits.decode_wall_s == pytest.approx(cpu / min(1, memory / budget.MB_PER_VCPU) + lim.WALL_SLACK_S)


def test_docs_block_is_generated_from_results() -> None:
    """docs/handler.md's decode-budget figures are the CSVs' (python -m scripts.measure_decode docs)."""
    from scripts import decode_docs

    text = decode_docs.DOC.read_text()
    assert decode_docs.BEGIN in text and decode_docs.END in text
    assert decode_docs.render(text) == text, "run: python -m scripts.measure_decode docs"


@given(memory=st.integers(128, 10_240))
def test_function_timeout_covers_every_budget(memory: int) -> None:
    """The timeout is never shorter than what the budgets allow a request (URL deadline, decode and
    inference at the memory's CPU share), and never more than the margin above it."""
    need = budget.URL_TIMEOUT_S + (budget.DECODE_CPU_S + budget.INFERENCE_CPU_S) / budget.cpu_share(memory)
    got = budget.function_timeout_s(memory)
    assert need <= got <= need * budget.TIMEOUT_MARGIN + 1
    assert got <= 900  # Lambda's maximum
