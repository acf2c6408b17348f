"""Two conversions write the same bytes; calibrated int8 variants carry a measured spread and are gated by it.

The conversion test runs ``python -m models.convert`` twice in fresh processes (memory addresses, hash
seeds and Keras' seed generators differ between processes, which is where run-to-run differences came
from) on the artefacts whose bytes had differed or that depend on a calibration; the float TFLite
variants were already identical and are left out to keep the test near a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.fileio import digest
from core.paths import ROOT
from models import calibration, dataset, registry, reproducible
from models import eval as ev
from tests.support.converted import Converted

#: savedmodel comes with any of them; float32.onnx (tf2onnx) comes with int8-qdq.onnx.
REPRODUCED = ("full-int8.tflite", "int8-qdq.onnx")


def _convert(out: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "models.convert", "--model", "reference", "--out", str(out)]
    cmd += ["--only", ",".join(REPRODUCED), "--no-calibration-spread"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ})
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads((out / "manifest.json").read_text())


@pytest.mark.slow
def test_two_conversions_write_the_same_bytes(tmp_path: Path) -> None:
    try:
        registry.resolve("reference")
        dataset.split("train")
    except (registry.ModelError, dataset.DatasetError) as e:
        pytest.skip(f"needs the committed model and the dataset: {e}")
    first, second = _convert(tmp_path / "a"), _convert(tmp_path / "b")
    paths = [e["path"] for e in first["artefacts"]]
    assert paths == ["savedmodel", "full-int8.tflite", "float32.onnx", "int8-qdq.onnx"]
    for a, b in zip(first["artefacts"], second["artefacts"], strict=True):
        assert a["sha256"] == digest(tmp_path / "a" / a["path"]), a["path"]
        assert b["sha256"] == digest(tmp_path / "b" / b["path"]), b["path"]
        assert a["sha256"] == b["sha256"], f"{a['path']} differs between two conversions"
    # nothing of the output folder's path is in the bytes
    for p in (tmp_path / "a").rglob("*"):
        if p.is_file() and p.name != "manifest.json":
            assert str(tmp_path).encode() not in p.read_bytes(), p


def test_calibrated_artefacts_carry_their_spread(converted: Converted) -> None:
    """The suite's conversion measured each calibrated variant over 1 + len(RUNS) calibrations."""
    entries = [e for e in converted.manifest["artefacts"] if calibration.calibrated(e)]
    assert {e["path"] for e in entries} == {"full-int8.tflite", "int8-qdq.onnx"}
    for e in entries:
        s = e[calibration.FIELD]
        runs = s["runs"]
        assert [(r["seed"], r["reversed"]) for r in runs] == [(0, False), *calibration.RUNS]
        agree = [r["agreement_pct"] for r in runs]
        assert all(0 <= a <= 100 for a in agree) and s["images"] > 0 and s["split"] == calibration.SPLIT
        assert s["spread_pts"] == pytest.approx(max(agree) - min(agree), abs=1e-3)
        assert s["stable"] == (s["spread_pts"] <= s["bound_pts"] == calibration.SPREAD_BOUND_PTS)


_metric = st.floats(0, 100, allow_nan=False).map(lambda v: round(v, 3))


@settings(max_examples=200, deadline=None)
@given(
    variant=st.sampled_from(["full-int8", "int8-qdq"]),
    agreement=_metric,
    drop=st.floats(-5, 5, allow_nan=False),
    spread=st.one_of(st.none(), st.floats(0, 5, allow_nan=False)),
)
def test_gate_of_a_calibrated_variant(
    variant: str, agreement: float, drop: float, spread: float | None
) -> None:
    """Passes iff the spread was measured within its bound and the plain gate holds with agreement
    lowered by the spread; an uncalibrated entry keeps the plain gate."""
    text, plain = ev.GATES[variant]
    m = {"agreement_pct": agreement, "accuracy_drop_pts": drop, "max_abs_dprob": 0.01}
    entry: dict[str, Any] = {"params": {"calibration": {"seed": 0}}}
    if spread is not None:
        bound = calibration.SPREAD_BOUND_PTS
        entry[calibration.FIELD] = {"spread_pts": spread, "bound_pts": bound, "stable": spread <= bound}
    got_text, gate = calibration.gated(entry, text, plain)
    want = spread is not None and spread <= calibration.SPREAD_BOUND_PTS
    want = want and plain({**m, "agreement_pct": agreement - (spread or 0.0)})
    assert gate(m) is want
    assert got_text.startswith(text) and got_text != text
    assert ("ineligible" in got_text) == (spread is None or spread > calibration.SPREAD_BOUND_PTS)
    assert calibration.gated({"params": {}}, text, plain) == (text, plain)


def _chain(counters: list[int], values: list[np.ndarray]) -> Any:
    """input -> Add(c0) -> Relu -> Add(c1) -> Relu ... -> output; constants, nodes and tensors named the
    way tf2onnx names what it makes (``<stem>__<counter>``, tensors with ``:<port>``)."""
    from onnx import TensorProto, helper, numpy_helper

    n = len(values)
    nodes, inits, prev = [], [], "input"
    for i, value in enumerate(values):
        const, add, relu = (
            f"{stem}__{counters[i + j * n]}" for j, stem in enumerate(("const_fold_opt", "Add", "Relu"))
        )
        inits.append(numpy_helper.from_array(value, const))
        nodes.append(helper.make_node("Add", [prev, const], [f"{add}:0"], name=add))
        nodes.append(helper.make_node("Relu", [f"{add}:0"], [f"{relu}:0"], name=relu))
        prev = f"{relu}:0"
    nodes[-1].output[0] = "output"
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), data=st.data())
def test_generated_onnx_names_are_canonical(
    tmp_path_factory: pytest.TempPathFactory, n: int, data: Any
) -> None:
    """The same graph with its generated names numbered two different ways (and initializers stored in
    another order) is one file after canonical_onnx_names, and computes what it computed before."""
    import onnx
    import onnxruntime as ort

    values = [np.full((1, 4), float(i) - 1.5, np.float32) for i in range(n)]
    counters = st.lists(st.integers(0, 10_000), min_size=3 * n, max_size=3 * n, unique=True)
    x = np.linspace(-2, 2, 4, dtype=np.float32)[None]
    out = []
    for k in range(2):
        model = _chain(data.draw(counters), values)
        order = data.draw(st.permutations(range(n)))
        copies = [
            type(t).FromString(t.SerializeToString()) for t in (model.graph.initializer[i] for i in order)
        ]
        del model.graph.initializer[:]
        model.graph.initializer.extend(copies)
        path = tmp_path_factory.mktemp("onnx") / f"m{k}.onnx"
        onnx.save(model, str(path))
        before = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[
            0
        ]
        reproducible.canonical_onnx_names(path)
        after = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
        np.testing.assert_array_equal(before, after)
        out.append(path.read_bytes())
    assert out[0] == out[1]
