"""A card's loader extras: one answer for both packaging forms, and checked by the handler at INIT.

Generated cards (loader, preset, size, channels, resize), model names, image kinds, variants and
architectures. The image build (images/build.py ``build_one``) and the zip + layer build
(images/package.py ``package``) run until they ask ``images.build.wheelhouse`` for the dependency tree,
where the test records what they asked for and stops them (no docker, no pip). The handler's INIT runs
in-process with the null runtime and simplejpeg made unimportable (``sys.modules[name] = None``).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import catalogue, paths
from core.catalogue import ARCH_NAMES, IMAGES
from core.pipeline import LOADERS, PRESETS, RESIZES, Pipeline, PipelineError, preset
from images import arch as archlib
from images import build as imgbuild
from images import extras as imgextras
from images import package
from runtimes import preprocess
from runtimes.handler_errors import MissingExtra

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class Asked(Exception):
    """Raised by the recording wheelhouse: the build got as far as resolving its dependencies."""

    def __init__(self, extra: tuple[str, ...]) -> None:
        super().__init__(extra)
        self.extra = extra


@st.composite
def pipelines(draw: st.DrawFn) -> Pipeline:
    """A pipeline a card may hold (core.pipeline.check refuses the rest: e.g. ``area`` for load_img)."""
    loader = draw(st.sampled_from(LOADERS))
    channels = draw(st.sampled_from([1, 3]))
    name = draw(st.sampled_from([n for n in PRESETS if channels == 3 or n not in ("torch", "caffe")]))
    size = (draw(st.integers(8, 256)), draw(st.integers(8, 256)))
    try:
        return preset(name, size, loader=loader, channels=channels, resize=draw(st.sampled_from(RESIZES)))
    except PipelineError:
        return preset(name, size, loader=loader, channels=channels, resize="bilinear")


def _card(p: Pipeline) -> dict[str, Any]:
    return {
        "classes": ["a", "b", "c"],
        "input_px": [p.height, p.width],
        "preprocessing": p.preset,
        "pipeline": p.fields(),
    }


NAMES = st.one_of(
    st.sampled_from(["reference", "xception"]), st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
)
KINDS = st.sampled_from(sorted(IMAGES))


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """Both builds stop at the wheelhouse with what they asked for; base images "exist"; build/models/ is
    a temporary folder the returned function points at."""

    def wheelhouse(spec: Any, arch: str = catalogue.DEFAULT_ARCH, extra: tuple[str, ...] = ()) -> Path:
        raise Asked(extra)

    monkeypatch.setattr(imgbuild, "wheelhouse", wheelhouse)
    monkeypatch.setattr(imgbuild.docker, "image_id", lambda tag: "sha256:stand-in")
    monkeypatch.setattr(imgbuild.baselib, "base_image", lambda python, arch="": "stand-in")
    monkeypatch.setattr(archlib, "ensure_base", lambda python, arch: "stand-in")
    monkeypatch.setattr(package, "byte_compile", lambda root, base="": None)

    def point(models: Path) -> None:
        monkeypatch.setattr(paths, "model_dir", lambda name: models / name)

    yield point


def _model(models: Path, name: str, p: Pipeline, artefacts: list[str]) -> None:
    folder = models / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "card.json").write_text(json.dumps(_card(p)))
    for art in set(artefacts) - {"card.json"}:  # the null image's "artefact" is the card itself
        (folder / art).write_bytes(b"model")


def _asked(build: Callable[[], Any]) -> tuple[str, ...]:
    with pytest.raises(Asked) as info:
        build()
    return info.value.extra


@SETTINGS
@given(p=pipelines(), name=NAMES, kind=KINDS, arch=st.sampled_from(sorted(ARCH_NAMES)), data=st.data())
def test_the_image_and_the_zip_layer_ask_for_the_same_extras(
    recorded: Callable[[Path], None], p: Pipeline, name: str, kind: str, arch: str, data: st.DataObject
) -> None:
    spec, zip_spec = IMAGES[kind], package.SPEC
    if not archlib.builds(kind, arch):
        kind, spec = zip_spec.name, zip_spec  # the kinds built for every architecture include the zip's
    variant = data.draw(st.sampled_from(sorted(spec.variants)), label="image variant")
    zip_variant = data.draw(st.sampled_from(sorted(package.FORM.variants)), label="zip variant")
    with tempfile.TemporaryDirectory() as tmp:
        recorded(Path(tmp) / "models")
        arts = [spec.variants[variant], zip_spec.variants[zip_variant]]
        _model(Path(tmp) / "models", name, p, arts)
        image = _asked(lambda: imgbuild.build_one(kind, name, variant, arch, measure=False))
        layer = _asked(lambda: package.package(name, zip_variant, [arch], out=Path(tmp) / "package"))
    assert image == layer
    assert [pin.split("==")[0] for pin in image] == list(preprocess.LOADER_EXTRAS.get(p.loader, ()))
    assert bool(image) == (p.loader == "dataset")  # load_img cards: the requirements' tree, unchanged


def test_a_pin_missing_from_the_lock_stops_both_forms_naming_it(
    recorded: Callable[[Path], None], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lock = tmp_path / "dev.lock"
    lock.write_text("numpy==2.4.6\n")
    monkeypatch.setattr(imgextras, "DEV_LOCK", lock)
    recorded(tmp_path / "models")
    spec = package.SPEC
    _model(tmp_path / "models", "mine", preset("raw", (32, 32)), [spec.variants["float32"]])
    with pytest.raises(imgbuild.BuildError, match="simplejpeg"):
        imgbuild.build_one(spec.name, "mine", "float32", catalogue.DEFAULT_ARCH, measure=False)
    with pytest.raises(imgbuild.BuildError, match="simplejpeg"):
        package.package("mine", "float32", [catalogue.DEFAULT_ARCH], out=tmp_path / "package")


# ------------------------------------------------------------------------------------ handler INIT
@pytest.fixture
def sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_sandbox: Callable[[], None]
) -> Iterator[Callable[[Pipeline], None]]:
    """A fresh null-runtime sandbox whose card the returned function writes; simplejpeg unimportable."""
    for env in ("MODEL_CARD", "MODEL_SHA256", "AWS_LAMBDA_RUNTIME_API", "HANDLER_META"):
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setenv("MODEL_RUNTIME", "null")
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "model.null"))
    monkeypatch.setitem(sys.modules, "simplejpeg", None)  # `import simplejpeg` raises ImportError

    def write(p: Pipeline) -> None:
        (tmp_path / "card.json").write_text(json.dumps(_card(p)))
        fresh_sandbox()

    yield write
    fresh_sandbox()


def _log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]


@SETTINGS
@given(p=pipelines())
def test_init_fails_once_naming_the_missing_decoder_iff_the_card_needs_it(
    sandbox: Callable[[Pipeline], None], p: Pipeline
) -> None:
    import lambda_function as lf

    sandbox(p)
    if p.loader == "load_img":
        assert lf._init("invoke").card.pipeline == p  # Pillow's decode: nothing more needed
        return
    with pytest.raises(MissingExtra) as info:
        lf._init("invoke")
    msg = str(info.value)
    assert "simplejpeg" in msg and "'dataset'" in msg and "make build" in msg and "make package" in msg


def test_eager_init_logs_one_line_and_every_request_is_a_500_not_the_callers_fault(
    sandbox: Callable[[Pipeline], None],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import lambda_function as lf
    from runtimes.handler_errors import InternalError

    sandbox(preset("tf", (32, 32)))
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    lf._eager_init()
    (line,) = _log_lines(capsys)
    assert lf._MODEL is None and line["msg"] == "init_failed" and line["errorType"] == "MissingExtra"
    assert "simplejpeg" in line["errorMessage"] and "images/extras.py" in line["errorMessage"]
    with pytest.raises(InternalError):
        lf.lambda_handler({"image_b64": "AAAA"}, None)
    (line,) = _log_lines(capsys)
    assert line["status"] == 500 and line["errorType"] == "MissingExtra"


def test_init_passes_with_the_decoder_importable(
    sandbox: Callable[[Pipeline], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    import lambda_function as lf

    sandbox(preset("tf", (32, 32)))
    monkeypatch.delitem(sys.modules, "simplejpeg")  # back to the venv's own (requirements/dev.txt)
    assert preprocess.missing_extras(preset("tf", (32, 32))) == ()
    assert lf._init("invoke").card.pipeline.loader == "dataset"


_DIST = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,5}([._-][A-Za-z0-9]{1,4}){0,2}", fullmatch=True)
_VERSION = st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}", fullmatch=True)


@given(
    pins=st.dictionaries(_DIST, _VERSION, max_size=8),
    other=st.lists(st.sampled_from(["", "# a comment", "numpy>=1.0", "-r base.txt", "  "]), max_size=4),
    comments=st.booleans(),
)
def test_the_one_pin_reader_keeps_every_full_pin_and_nothing_else(pins, other, comments) -> None:
    """Requirements and lock files are read by one function (images/extras.py ``pinned``): the image
    build's pin check and the extras' lock lookup. Every ``name==version`` line is kept under its
    canonical name, whatever its comment; ranges, includes, comments and blanks are not pins."""
    lines = [f"{n}=={v}" + ("  # via x" if comments else "") for n, v in pins.items()] + other
    got = imgextras.pinned(lines)
    want = {imgextras.canonical(n): (n, v) for n, v in pins.items()}
    assert got == want
