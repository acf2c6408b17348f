"""What a Keras model says about how it is fed and what it answers, read from its graph.

``make card`` writes a pipeline only from what the model shows (or the user declares), never a guess:

* preprocessing layers at its input (``Rescaling``, ``Normalization``, also inside a nested backbone, as
  ``keras.applications``' EfficientNet, EfficientNetV2, ConvNeXt, MobileNetV3 and RegNet build them):
  the model takes raw [0, 255] pixels (preset ``raw``);
* otherwise the ``keras.applications`` family it is built from (the nested backbone's or the model's
  own name, as Keras names them): the mode of that family's ``preprocess_input``;
* the output kind from the graph: the operation that produces the output, looking through nested models
  and shape-only layers (a ``Softmax`` layer, a Dense with softmax, a backbone's own classifier).

Keras is imported by the caller; these functions only walk the objects it built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

#: keras.applications model names (``model.name`` as the constructors set it) -> preprocess_input mode.
FAMILIES: Final[tuple[tuple[str, str, str], ...]] = (
    (r"resnet\d+v2", "resnet_v2", "tf"),
    (r"resnet\d+", "resnet", "caffe"),
    (r"vgg1[69]", "vgg", "caffe"),
    (r"densenet\d+", "densenet", "torch"),
    (r"xception", "xception", "tf"),
    (r"inception_v3", "inception_v3", "tf"),
    (r"inception_resnet_v2", "inception_resnet_v2", "tf"),
    (r"mobilenet_[\d.]+_\d+", "mobilenet", "tf"),
    (r"mobilenetv2_[\d.]+_\d+", "mobilenet_v2", "tf"),
    (r"nasnet_(mobile|large)", "nasnet", "tf"),
)
#: Families whose Keras constructors put the preprocessing inside (include_preprocessing=True): found
#: without their Rescaling/Normalization layers they were built with include_preprocessing=False, and
#: what they expect then is the user's to say.
INSIDE_FAMILIES: Final = (
    (r"efficientnetv2-\w+", "efficientnet_v2"),
    (r"efficientnetb\d", "efficientnet"),
    (r"convnext_\w+", "convnext"),
    (r"regnet[xy]\d+", "regnet"),
    (r"mobilenetv3(small|large)", "mobilenet_v3"),
    (r"resnet-rs-\d+", "resnet_rs"),
)
PREPROCESSING_LAYERS: Final = ("Rescaling", "Normalization")
#: Layers that pass their input's kind through unchanged (looked through when reading the output kind).
_SHAPE_ONLY: Final = ("Dropout", "Flatten", "Reshape", "Identity", "SpatialDropout1D", "GaussianNoise")


@dataclass(frozen=True)
class Found:
    """A detected value and how it was found (written on the card under ``decided``)."""

    value: Any
    how: str


def walk(model: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every layer, nested models' layers in place after the model itself, with a /-joined path."""
    out: list[tuple[str, Any]] = []
    for layer in getattr(model, "layers", []):
        name = f"{path}/{layer.name}" if path else layer.name
        out.append((name, layer))
        if hasattr(layer, "layers"):
            out.extend(walk(layer, name))
    return out


def preprocessing_inside(model: Any) -> Found | None:
    """Rescaling / Normalization before the first layer that learns (a conv or dense): raw pixels in."""
    seen: list[str] = []
    for name, layer in walk(model):
        kind = type(layer).__name__
        if kind in PREPROCESSING_LAYERS:
            seen.append(f"{kind} '{name}'")
        elif layer.weights and not hasattr(layer, "layers"):
            break
    if not seen:
        return None
    return Found("raw", f"detected: {', '.join(seen)} at the input (the model scales raw [0, 255] pixels)")


def family(model: Any) -> tuple[str, str | None, str] | None:
    """(keras.applications module, preset or None, model name) of the backbone the model is built from."""
    names = [model.name] + [layer.name for _, layer in walk(model) if hasattr(layer, "layers")]
    for name in names:
        low = name.lower()
        for pattern, module, mode in FAMILIES:
            if re.fullmatch(pattern, low):
                return module, mode, name
        for pattern, module in INSIDE_FAMILIES:
            if re.fullmatch(pattern, low):
                return module, None, name
    return None


def preprocessing(model: Any) -> Found | str:
    """The preset the model shows, or (a str) why it cannot be told."""
    inside = preprocessing_inside(model)
    if inside is not None:
        return inside
    fam = family(model)
    if fam is None:
        return (
            "nothing in the model tells its preprocessing "
            "(no Rescaling/Normalization at its input, no keras.applications backbone)"
        )
    module, mode, name = fam
    if mode is None:
        return (
            f"'{name}' is keras.applications.{module} built without its preprocessing layers "
            "(include_preprocessing=False)"
        )
    return Found(
        mode, f"detected: '{name}' is keras.applications.{module}, whose preprocess_input is '{mode}'"
    )


def _producer(tensor: Any) -> Any:
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else history[0]


def _activation_name(layer: Any) -> str:
    act = getattr(layer, "activation", None)
    return str(getattr(act, "__name__", act or "linear"))


def output_kind(model: Any) -> Found:
    """logits / probabilities / sigmoid from the operation that makes the output, through nested models."""
    layer, trail = _producer(model.outputs[0]), []
    for _ in range(1000):
        if layer is None:
            break
        trail.append(layer.name)
        kind = type(layer).__name__
        if hasattr(layer, "outputs") and hasattr(layer, "layers"):
            layer = _producer(layer.outputs[0])
            continue
        if kind in _SHAPE_ONLY or (kind == "Activation" and _activation_name(layer) == "linear"):
            node_in = layer._inbound_nodes[0].input_tensors if layer._inbound_nodes else []
            layer = _producer(node_in[0]) if node_in else None
            continue
        act = "softmax" if kind == "Softmax" else _activation_name(layer)
        path = " <- ".join(trail)
        if act == "softmax":
            return Found("probabilities", f"detected: softmax at the output ({path})")
        if act == "sigmoid":
            return Found("sigmoid", f"detected: sigmoid at the output ({path}): independent probabilities")
        return Found("logits", f"detected: '{act}' activation at the output ({path}): raw scores")
    return Found("logits", "default: no activation found at the output")


def input_shape(model: Any) -> tuple[int | None, int | None, int | None]:
    """(height, width, channels) of the model's one image input; None where the shape is dynamic."""
    shape = tuple(model.inputs[0].shape)
    if len(model.inputs) != 1 or len(shape) != 4:
        raise ValueError(f"the model must take one (batch, height, width, channels) image input, got {shape}")
    return shape[1], shape[2], shape[3]
