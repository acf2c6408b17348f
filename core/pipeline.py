"""The serving pipeline as data: how a decoded image becomes the model's input tensor.

A card names it (``preprocessing`` = a preset, optionally refined by ``pipeline``); runtimes/preprocess.py
implements it once for the handler, evaluation and training. The presets are the modes of
``keras.applications``' ``preprocess_input`` plus raw pixels, because that is how Keras models are
trained: a model built from ``keras.applications.resnet50`` expects ``caffe`` (BGR, ImageNet mean
subtracted); EfficientNet, ConvNeXt, MobileNetV3 and RegNet carry their preprocessing inside and take
``raw`` [0, 255] pixels. Stdlib only: this ships inside every image, and a :class:`Pipeline` travels to
the decode worker as JSON (it is a tuple, so ``json`` writes it as a list and :func:`coerce` reads it back).

Value arithmetic mirrors Keras's in float32: ``(x / divisor - mean) / std`` per channel, after the colour
order is applied (caffe's mean is in BGR order, as Keras writes it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NamedTuple

#: How the picture is brought to height x width, as the two Keras loaders do it:
#: ``load_img`` = keras.utils.load_img (Pillow's resize), ``dataset`` =
#: keras.utils.image_dataset_from_directory (tf.image.resize, antialias=False; runtimes/preprocess.py
#: implements its kernels in numpy).
LOADERS: Final = ("load_img", "dataset")
RESIZES: Final = ("nearest", "bilinear", "bicubic", "area")
#: stretch = resize to the box; crop = crop_to_aspect_ratio (load_img: keep_aspect_ratio); pad =
#: pad_to_aspect_ratio (dataset loader only: Keras's load_img has no padding).
ASPECTS: Final = ("stretch", "crop", "pad")
COLOURS: Final = ("RGB", "BGR")

#: The id the first cards were written with: Xception's 'tf' mode after load_img's nearest resize.
LEGACY_ID: Final = "xception-tf-nearest"

_IMAGENET_MEAN: Final = (0.485, 0.456, 0.406)
_IMAGENET_STD: Final = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR: Final = (103.939, 116.779, 123.68)

#: preset -> (colour, divisor, mean, std, what it is).
PRESETS: Final[dict[str, tuple[str, float, tuple[float, ...], tuple[float, ...], str]]] = {
    "tf": ("RGB", 127.5, (1.0,), (1.0,), "keras 'tf' mode: x / 127.5 - 1, [-1, 1]"),
    "torch": ("RGB", 255.0, _IMAGENET_MEAN, _IMAGENET_STD, "keras 'torch' mode: x / 255, ImageNet mean/std"),
    "caffe": ("BGR", 1.0, _CAFFE_MEAN_BGR, (1.0,), "keras 'caffe' mode: RGB->BGR, ImageNet mean subtracted"),
    "raw": ("RGB", 1.0, (0.0,), (1.0,), "raw [0, 255] pixels: the model has its preprocessing inside"),
    "unit": ("RGB", 255.0, (0.0,), (1.0,), "x / 255, [0, 1]"),
}


class PipelineError(ValueError):
    """A pipeline field is missing, unknown or inconsistent; the message names the field."""


class Pipeline(NamedTuple):
    """Everything runtimes/preprocess.py needs; a tuple so it crosses the decode worker's JSON head."""

    height: int
    width: int
    channels: int  # 1 (grayscale, Pillow's "L") or 3
    colour: str  # channel order of a 3-channel input
    loader: str
    resize: str
    aspect: str
    divisor: float
    mean: tuple[float, ...]  # one value, or one per channel (in ``colour`` order)
    std: tuple[float, ...]
    preset: str  # the name it was built from (informational: the fields above are what runs)

    @property
    def size(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)

    def fields(self) -> dict[str, Any]:
        """The card's ``pipeline`` object (size and preset are written beside it: input_px, preprocessing)."""
        d = self._asdict()
        for k in ("height", "width", "preset"):
            d.pop(k)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    def describe(self) -> str:
        """One sentence for people (model_card.md, `make card`'s output)."""
        how = {
            "load_img": "keras.utils.load_img (Pillow)",
            "dataset": "image_dataset_from_directory (tf.image.resize)",
        }
        aspect = {
            "stretch": "",
            "crop": ", centre-cropped to the aspect first",
            "pad": ", padded to the aspect",
        }
        mode = "grayscale" if self.channels == 1 else self.colour
        return (
            f"{mode} {self.height}x{self.width}, {self.resize} resize as "
            f"{how[self.loader]}{aspect[self.aspect]}, "
            f"then (x / {self.divisor:g} - mean {list(self.mean)}) / std {list(self.std)} ({self.preset})"
        )


def preset(name: str, size: tuple[int, int], **over: Any) -> Pipeline:
    """The named preset at ``size`` (height, width); ``over`` sets the other fields (checked)."""
    if name == LEGACY_ID:
        over = {"loader": "load_img", "resize": "nearest", **over}
        name = "tf"
    if name not in PRESETS:
        raise PipelineError(f"unknown preprocessing {name!r}: one of {', '.join(names())}")
    colour, divisor, mean, std, _ = PRESETS[name]
    base = {"channels": 3, "colour": colour, "loader": "dataset", "resize": "bilinear", "aspect": "stretch"}
    fields = {**base, "divisor": divisor, "mean": mean, "std": std, **over}
    return check(Pipeline(height=size[0], width=size[1], preset=name, **fields))


def names() -> list[str]:
    """Every name a card's ``preprocessing`` may hold."""
    return [*PRESETS, LEGACY_ID]


def from_card(prep: Any, size: tuple[int, int], fields: Any) -> Pipeline:
    """A card's ``preprocessing`` (a preset name) and optional ``pipeline`` object -> a checked Pipeline.

    A card without ``pipeline`` gets the preset's defaults; the first cards' id keeps its meaning."""
    if not isinstance(prep, str):
        raise PipelineError(f"'preprocessing' must be a preset name ({', '.join(names())}), got {prep!r}")
    if fields is None:
        return preset(prep, size)
    if not isinstance(fields, dict):
        raise PipelineError(f"'pipeline' must be an object, got {type(fields).__name__}")
    unknown = set(fields) - set(Pipeline._fields)
    if unknown:
        raise PipelineError(f"'pipeline' has unknown fields {sorted(unknown)}")
    over = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    return preset(prep, size, **over)


def coerce(value: Sequence[Any]) -> Pipeline:
    """A Pipeline, or what JSON made of one (a list), or a bare (height, width): the first cards' pipeline."""
    if isinstance(value, Pipeline):
        return value
    if len(value) == 2:
        return preset(LEGACY_ID, (int(value[0]), int(value[1])))
    if len(value) != len(Pipeline._fields):
        raise PipelineError(f"not a pipeline: {value!r}")
    args: list[Any] = [tuple(v) if isinstance(v, list) else v for v in value]
    return check(Pipeline(*args))


def _number(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise PipelineError(f"pipeline '{name}' must be a number, got {v!r}")


def check(p: Pipeline) -> Pipeline:
    """Every field of its kind and in range; a pipeline that cannot run is refused where it is read."""
    for name in ("height", "width"):
        v = getattr(p, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise PipelineError(f"pipeline '{name}' must be a positive int, got {v!r}")
    if p.channels not in (1, 3):
        raise PipelineError(f"pipeline 'channels' must be 1 or 3, got {p.channels!r}")
    for name, allowed in (("colour", COLOURS), ("loader", LOADERS), ("resize", RESIZES), ("aspect", ASPECTS)):
        if getattr(p, name) not in allowed:
            raise PipelineError(
                f"pipeline '{name}' must be one of {', '.join(allowed)}, got {getattr(p, name)!r}"
            )
    if p.aspect == "pad" and p.loader != "dataset":
        raise PipelineError(
            "pipeline 'aspect' pad is image_dataset_from_directory's: it needs loader 'dataset'"
        )
    if p.resize == "area" and p.loader != "dataset":
        raise PipelineError("pipeline 'resize' area is tf.image.resize's: keras.utils.load_img has none")
    _number("divisor", p.divisor)
    if p.divisor == 0:
        raise PipelineError("pipeline 'divisor' must not be 0")
    for name in ("mean", "std"):
        vals = getattr(p, name)
        if not isinstance(vals, tuple) or len(vals) not in (1, p.channels):
            raise PipelineError(f"pipeline '{name}' must hold 1 or {p.channels} numbers, got {vals!r}")
        for v in vals:
            _number(name, v)
    if 0 in p.std:
        raise PipelineError("pipeline 'std' must not be 0")
    return p
