"""The catalogue (core/catalogue.py) and the typed summaries (bench/measure/records.py) everyone builds on."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.measure.records import Summary
from core import catalogue, paths
from models import registry


def test_every_tag_parses_back() -> None:
    for spec in catalogue.IMAGES.values():
        for variant in spec.variants:
            for model in ("reference", "my-model.v2", "x"):
                tag = spec.tag(model, variant)
                assert catalogue.parse_tag(tag) == (spec.name, model, variant, "x86_64"), tag
    assert catalogue.parse_tag("clothing-tflite:reference-full-int8") == (
        "tflite",
        "reference",
        "full-int8",
        "x86_64",
    )
    assert catalogue.parse_tag("clothing-onnx:mine-float32-opt") == ("onnx", "mine", "float32-opt", "x86_64")
    # unknown variant: the last hyphen splits
    assert catalogue.parse_tag("clothing-x:m-newvariant") == ("x", "m", "newvariant", "x86_64")
    for bad in ("lambda-base:3.13", "clothing-tflite:reference", "127.0.0.1:5000/clothing-tflite:r-float32"):
        assert catalogue.parse_tag(bad) is None, bad


def test_catalogue_drives_images_and_defaults() -> None:
    assert catalogue.IMAGES["tflite-runtime"].default_variants == ("float32", "int8")
    assert catalogue.IMAGES["tflite"].variants == catalogue.variants_of("tflite")
    assert catalogue.IMAGES["null"].variants == {"none": "card.json"}
    assert catalogue.runtime_of("tflite-runtime") == "tflite" and catalogue.runtime_of("onnx") == "onnx"
    assert {"float32", "float32-opt"} <= set(catalogue.FLOAT32_VARIANTS)
    assert all(v.precision == "float32" for v in catalogue.VARIANTS if v.name in catalogue.FLOAT32_VARIANTS)
    assert catalogue.VARIANT_NAMES.index("full-int8") < catalogue.VARIANT_NAMES.index("int8")
    assert [v.name for v in catalogue.VARIANTS if v.optional] == ["full-int8"]
    assert paths.model_dir("reference") == paths.ROOT / "build" / "models" / "reference"
    assert registry.model_name("xception") == "xception"


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


def test_arm64_tag_names_model_variant_and_arch() -> None:
    """The suffix images/build.py gives arm64 images is the architecture, not a variant."""
    t = catalogue.parse_tag("clothing-tflite:reference-float32-arm64")
    assert t is not None
    assert (t.kind, t.model, t.variant, t.arch) == ("tflite", "reference", "float32", "arm64")
    assert catalogue.parse_tag("clothing-tflite:reference-full-int8-arm64") == (
        "tflite",
        "reference",
        "full-int8",
        "arm64",
    )
    assert str(t) == "clothing-tflite:reference-float32-arm64"
    # a model whose variant is literally "arm64" (no other hyphen) stays what it was
    assert catalogue.parse_tag("clothing-x:m-arm64") == ("x", "m", "arm64", "x86_64")


def test_tag_refuses_what_would_parse_as_something_else() -> None:
    with pytest.raises(ValueError, match="parse back"):
        catalogue.tag("tflite", "mine-full", "int8")
    with pytest.raises(ValueError, match="architecture"):
        catalogue.tag("tflite", "reference", "float32", "sparc")
    assert catalogue.tag("tflite", "reference", "*") == "clothing-tflite:reference-*"  # a pattern, not a tag


_NAME = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,20}[a-z0-9]", fullmatch=True)


@given(
    kind=st.sampled_from(catalogue.IMAGE_KINDS),
    model=_NAME,
    variant=st.one_of(st.sampled_from(catalogue.VARIANT_NAMES), _NAME),
    arch=st.sampled_from(catalogue.ARCH_NAMES),
)
def test_format_parse_round_trip(kind: str, model: str, variant: str, arch: str) -> None:
    """Every tag tag() writes parses back as exactly what made it; what it refuses is ambiguous."""
    try:
        text = catalogue.tag(kind, model, variant, arch)
    except ValueError:
        back = catalogue.parse_tag(
            f"clothing-{kind}:{model}-{variant}" + ("" if arch == "x86_64" else f"-{arch}")
        )
        assert back != (kind, model, variant, arch)
        return
    assert catalogue.parse_tag(text) == (kind, model, variant, arch)
    assert str(catalogue.Tag(kind, model, variant, arch)) == text


@given(st.text(max_size=60))
def test_parse_never_raises(text: str) -> None:
    t = catalogue.parse_tag(text)
    assert t is None or (t.model and t.variant and t.arch in catalogue.ARCHS)


def test_architectures_defined_once() -> None:
    """deploy's choices, the package layers and the cost table all name the catalogue's architectures."""
    from bench.decide import cost
    from deploy import settings
    from images import package

    assert (
        set(settings.ARCHITECTURES) == set(package.ARCHS) == set(cost.GB_SECOND_USD) == set(catalogue.ARCHS)
    )
    assert catalogue.arch_of_oci("amd64") == "x86_64" and catalogue.arch_of_oci("s390x") is None


def test_every_converted_variant_has_one_recipe() -> None:
    """Variants are defined once: the catalogue names each recipe, models/convert.py has exactly those."""
    from models import convert

    assert {v.recipe for v in catalogue.CONVERTED} == set(convert.RECIPES)
    for name, (method, _, _) in convert.RECIPES.items():
        assert method.__name__ == name
    assert [a.path for a in convert.ARTEFACTS] == [v.path for v in catalogue.CONVERTED]
