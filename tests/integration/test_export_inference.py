"""The exported SavedModel answers what the Keras model answers in inference mode, for generated models.

The class generated is the one a user brings: preprocessing layers in front (none, ``Rescaling``,
``Normalization``, ``Resizing``, ``CenterCrop``, or two of them) and a nested functional or Sequential
sub-model (how ``keras.applications`` backbones are used) holding Dropout, SpatialDropout2D,
GaussianNoise and BatchNormalization at generated positions and rates, at generated input sizes. Each is
exported by the function the converter's ``savedmodel`` recipe calls and served through the tf adapter
(the ``serving_default`` signature every runtime and converter reads), and must equal
``model(x, training=False)`` and answer the same twice.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from models import convert
from runtimes import base

#: layers that behave differently in training mode, and a generated rate/stddev for the random ones
REGULARISERS = ("dropout", "spatial_dropout", "gaussian_noise", "batch_norm")
FRONTS = ("none", "rescaling", "normalization", "resizing", "center_crop", "rescaling+resizing")
INNER_PX = 12  # the sub-model's input size (what Resizing/CenterCrop bring the generated input to)

_block = st.tuples(st.sampled_from(REGULARISERS), st.floats(0.1, 0.6))
_blocks = st.lists(st.one_of(st.none(), _block), min_size=1, max_size=3).filter(
    lambda b: any(x is not None for x in b)
)


def _regulariser(kind: str, rate: float) -> Any:
    import keras

    layers = keras.layers
    if kind == "dropout":
        return layers.Dropout(rate)
    if kind == "spatial_dropout":
        return layers.SpatialDropout2D(rate)
    if kind == "gaussian_noise":
        return layers.GaussianNoise(rate)
    return layers.BatchNormalization()


def _front(kind: str) -> list[Any]:
    import keras

    layers = keras.layers
    make = {
        "rescaling": lambda: layers.Rescaling(1 / 127.5, offset=-1),
        "normalization": lambda: layers.Normalization(mean=[0.4, 0.5, 0.6], variance=[0.04, 0.05, 0.06]),
        "resizing": lambda: layers.Resizing(INNER_PX, INNER_PX),
        "center_crop": lambda: layers.CenterCrop(INNER_PX, INNER_PX),
    }
    return [make[part]() for part in kind.split("+") if part != "none"]


def _model(front: str, sequential: bool, blocks: list[Any], head_dropout: float, px: int) -> Any:
    """Input (px, px, 3) -> front layers -> nested backbone with the blocks' regularisers -> Dense(3)."""
    import keras

    layers = keras.layers
    inner_px = INNER_PX if any(p in front for p in ("resizing", "center_crop")) else px
    body: list[Any] = []
    for i, block in enumerate(blocks):
        body.append(layers.Conv2D(4 + i, 3, padding="same", activation="relu"))
        if block is not None:
            body.append(_regulariser(*block))
    body += [layers.GlobalAveragePooling2D(), layers.Dropout(head_dropout)]
    if sequential:
        backbone = keras.Sequential([keras.Input((inner_px, inner_px, 3)), *body], name="backbone")
    else:
        x = inp = keras.Input((inner_px, inner_px, 3))
        for layer in body:
            x = layer(x)
        backbone = keras.Model(inp, x, name="backbone")
    x = inp = keras.Input((px, px, 3), name="input")
    for layer in _front(front):
        x = layer(x)
    return keras.Model(inp, layers.Dense(3)(backbone(x)))


@pytest.mark.slow
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    front=st.sampled_from(FRONTS),
    sequential=st.booleans(),
    blocks=_blocks,
    head_dropout=st.floats(0.0, 0.6),
    px=st.sampled_from([INNER_PX, 16, 20]),
    batch=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
@example(
    "resizing", False, [("dropout", 0.5)], 0.5, 20, 2, 0
)  # the case found first: a backbone after Resizing
@example("center_crop", True, [("batch_norm", 0.0)], 0.0, 16, 3, 1)
def test_served_signature_is_the_inference_mode_model(
    tmp_path_factory: pytest.TempPathFactory,
    front: str,
    sequential: bool,
    blocks: list[Any],
    head_dropout: float,
    px: int,
    batch: int,
    seed: int,
) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    model = _model(front, sequential, blocks, head_dropout, px)
    out: Path = tmp_path_factory.mktemp("savedmodel") / "savedmodel"
    convert.export_savedmodel(model, [tf.TensorSpec((None, px, px, 3), tf.float32, name="input")], out)

    served = base.get("tf")
    served.load(str(out), 1)
    x = np.random.default_rng(seed).uniform(0, 255, (batch, px, px, 3)).astype(np.float32)
    first, second = served.predict(x), served.predict(x)
    want = np.asarray(model(x, training=False))
    assert first.shape == want.shape == (batch, 3)
    np.testing.assert_array_equal(first, second, err_msg="the served signature is not deterministic")
    np.testing.assert_allclose(first, want, rtol=0, atol=1e-5, err_msg="served != model(x, training=False)")
