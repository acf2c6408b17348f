"""The catalogue (images/specs.py) and the typed summaries (bench/measure.py) everyone builds on."""

from __future__ import annotations

import numpy as np
import pytest

from bench.measure import Summary
from images import specs


def test_every_tag_parses_back() -> None:
    for spec in specs.IMAGES.values():
        for variant in spec.variants:
            for model in ("reference", "my-model.v2", "x"):
                tag = spec.tag(model, variant)
                assert specs.parse_tag(tag) == (spec.name, model, variant), tag
    assert specs.parse_tag("clothing-tflite:reference-full-int8") == ("tflite", "reference", "full-int8")
    assert specs.parse_tag("clothing-onnx:mine-float32-opt") == ("onnx", "mine", "float32-opt")
    assert specs.parse_tag("clothing-x:m-newvariant") == ("x", "m", "newvariant")  # unknown: last hyphen
    for bad in ("lambda-base:3.13", "clothing-tflite:reference", "127.0.0.1:5000/clothing-tflite:r-float32"):
        assert specs.parse_tag(bad) is None, bad


def test_catalogue_drives_images_and_defaults() -> None:
    assert specs.IMAGES["tflite-runtime"].default_variants == ("float32", "int8")
    assert specs.IMAGES["tflite"].variants == specs.variants_of("tflite")
    assert specs.IMAGES["null"].variants == {"none": "card.json"}
    assert specs.runtime_of("tflite-runtime") == "tflite" and specs.runtime_of("onnx") == "onnx"
    assert set(specs.FLOAT32_VARIANTS) == {"float32", "float32-opt"}
    assert specs.VARIANT_NAMES.index("full-int8") < specs.VARIANT_NAMES.index("int8")
    assert [v.name for v in specs.VARIANTS if v.optional] == ["full-int8"]
    assert specs.model_dir("reference") == specs.ROOT / "build" / "models" / "reference"
    assert specs.model_name("xception") == "xception"


def test_summary_columns() -> None:
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    s = Summary.from_values(values)
    assert (s.n, s.p50, s.mean) == (5, 3.0, 3.0)
    assert s.p99 == pytest.approx(float(np.percentile(values, 99)))
    assert s.columns("warm_client") == {
        "warm_client_p50_ms": 3.0,
        "warm_client_p90_ms": s.p90,
        "warm_client_p99_ms": s.p99,
        "warm_client_mean_ms": 3.0,
    }
    assert s.columns("warm_inference", ("p50",)) == {"warm_inference_p50_ms": 3.0}
    empty = Summary.from_values([])
    assert empty.n == 0 and set(empty.columns("x").values()) == {None}
