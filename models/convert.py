"""One command from a Keras model to every artefact the images serve, with a manifest.

    python -m models.convert --model reference|xception|path/to/model.keras [--out build/models/<name>]

Writes (layout fixed in docs/ARCHITECTURE.md): ``savedmodel/`` (the inference-mode forward pass:
export_savedmodel), ``float32|float16|int8|full-int8.tflite`` (TFLiteConverter.from_saved_model;
from_concrete_functions gave NaNs), ``float32.onnx`` (tf2onnx, opset 17, in a subprocess so its peak RAM
is returned) and ``float32-opt.onnx`` (ONNX Runtime offline-optimised at ORT_ENABLE_EXTENDED),
``int8-dynamic.onnx`` (ONNX Runtime dynamic int8: int8 weights, activations quantised per batch at run
time) and ``int8-qdq.onnx`` (static QDQ int8, calibrated on the same train images as ``full-int8.tflite``),
plus ``model.keras``, ``card.json`` and ``manifest.json``.
An artefact whose manifest entry has the same source sha256, tool versions and parameters and whose file
still has the recorded sha256 is not redone, so re-runs take seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import catalogue, paths
from core.fileio import ContractError
from core.fileio import digest as sha256_path  # the one artefact digest (handler + manifest)
from core.manifest import MANIFEST_VERSION, Manifest
from models import card as cardlib
from models import registry, reproducible
from runtimes.base import dist_version

#: Calibration images of the full-integer variants: 200 of the train split drawn with seed 0, in split order
#: (models/calibration.py re-calibrates with other seeds and orders to measure how much this choice matters).
CALIBRATION_SPLIT, CALIBRATION_IMAGES = "train", 200
CALIBRATION = {"split": CALIBRATION_SPLIT, "images": CALIBRATION_IMAGES, "seed": 0}
ONNX_OPSET = 17
#: EXTENDED (not ALL): ALL adds layout (NCHWc) rewrites tuned to the converting CPU's vector width,
#: which the ORT docs say must not be saved for other hardware; EXTENDED's fusions (com.microsoft
#: contrib ops) run on any CPU (x86_64 or arm64) with onnxruntime >= the converting version.
ORT_OFFLINE_LEVEL = "ORT_ENABLE_EXTENDED"


class ConvertError(RuntimeError):
    """Conversion cannot proceed; the one-line message says why."""


def _artefact(runtime: str, variant: str) -> str:
    entry = catalogue.variant(runtime, variant)
    assert entry is not None, f"core/catalogue.py has no {runtime} {variant}"
    return entry.path


#: The artefact every conversion starts from (the tf image's float32), and the one ORT's recipes read.
SAVEDMODEL = _artefact("tf", "float32")
FLOAT32_ONNX = _artefact("onnx", "float32")
#: The recipes that read FLOAT32_ONNX (so it is made first even when only they are asked for).
FROM_FLOAT32_ONNX = ("float32_opt_onnx", "int8_dynamic_onnx", "int8_qdq_onnx")


@dataclass(frozen=True)
class Artefact:
    path: str
    runtime: str
    variant: str
    recipe: str  # RECIPES key (the catalogue's Variant.recipe)
    tools: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)


#: distribution names of the conversion tools: the catalogue's libraries, and the converters
_DISTS = {name: lib.dists for name, lib in catalogue.LIBRARIES.items()} | {
    "keras": ("keras",),
    "tf2onnx": ("tf2onnx",),
    "onnx": ("onnx",),
}


def tool_version(tool: str) -> str:
    return dist_version(*_DISTS.get(tool, (tool,))) or "missing"


def size_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _replace(tmp: Path, final: Path) -> None:
    """Move a finished artefact into place, so a crash never leaves a half-written one behind."""
    if final.is_dir():
        shutil.rmtree(final)
    elif final.exists():
        final.unlink()
    tmp.rename(final)


def _clean(tmp: Path) -> None:
    if tmp.is_dir():
        shutil.rmtree(tmp)
    elif tmp.exists():
        tmp.unlink()


def load_keras(path: Path) -> Any:
    """Load a .keras or legacy .h5 model for conversion (no optimizer state needed)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    try:
        return keras.models.load_model(str(path), compile=False)
    except Exception as e:  # noqa: BLE001 - any loader failure means the same thing to the user
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConvertError(f"cannot load model {path}: {first[:300]}") from None


def check_model(model: Any, card: cardlib.Card, where: Path) -> None:
    """The card must describe this model: class count = output size, input size = static input size."""
    out_shape = tuple(model.outputs[0].shape)
    n = len(card.classes)
    if out_shape[-1] != n:
        raise ConvertError(
            f"{where}: card lists {n} classes but the model outputs {out_shape[-1]} values per image"
        )
    in_shape = tuple(model.inputs[0].shape)
    channels = card.pipeline.channels
    if len(in_shape) != 4 or in_shape[-1] != channels:
        raise ConvertError(
            f"{where}: card says {channels} channels, the model input must be (batch, height, width, "
            f"{channels}), got {in_shape}"
        )
    for dim, want in zip(in_shape[1:3], card.size, strict=True):
        if dim is not None and dim != want:
            raise ConvertError(
                f"{where}: card says input_px={card.raw.get('input_px')} but the model input is "
                f"{in_shape[1]}x{in_shape[2]}"
            )


def prepared_card(spec: registry.ModelSpec, source_sha: str) -> cardlib.Card:
    """The user's card checked against the model's bytes, named and hashed for build/models/<name>/."""
    card = cardlib.load_card(spec.card_path)
    declared = card.raw.get("source_sha256")
    if declared and declared != source_sha:
        fix = (
            "make train writes it"
            if spec.builtin
            else f"a copied card? write one for your model with `make card MODEL={spec.model_path}` "
            "(classes from CLASSES=a,b,c or the dataset folders, input size from the model)"
        )
        raise ConvertError(
            f"{spec.card_path} describes a model with sha256 {declared[:12]}..., but {spec.model_path} is "
            f"{source_sha[:12]}...: {fix}"
        )
    raw = {**card.raw, "name": spec.name, "source_sha256": source_sha, "output": card.output}
    raw.setdefault("source_file", spec.model_path.name)
    return replace(card, raw=raw)


def export_savedmodel(model: Any, input_signature: list[Any], path: Path) -> None:
    """The model's inference-mode forward pass as a SavedModel whose serving signature every runtime reads.

    ``model.export`` traces ``model.__call__`` with ``training`` unset, and Keras then lets a layer's own
    default decide: its image preprocessing layers (``Resizing``, ``CenterCrop``: ``call(...,
    training=True)``) put training mode into the call context, so the layers after them that read it (a
    nested model's Dropout, GaussianNoise, BatchNormalization on batch statistics: how a
    ``keras.applications`` backbone is used) were exported active. The endpoint here passes
    ``training=False`` explicitly, and is traced with the name and arguments ``model.export`` gives it
    (``__call__(*args)``), so a model without such layers gets the bytes ``model.export`` writes; the
    signatures stay ``serve`` and ``serving_default``, input named by ``input_signature``, output
    ``output_0``.
    """
    from keras.export import ExportArchive

    def inference(*args: Any) -> Any:
        return model(*args, training=False)

    inference.__name__ = inference.__qualname__ = "__call__"
    archive = ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", inference, input_signature)
    with reproducible.variables_in_name_order():
        archive.write_out(str(path), verbose=False)
    reproducible.stable_fingerprint(path)


class Converter:
    """Produces artefacts one by one; the Keras model and calibration data are loaded only if needed."""

    def __init__(
        self,
        spec: registry.ModelSpec,
        out: Path,
        card: cardlib.Card,
        calibration: tuple[int, bool] = (0, False),
    ) -> None:
        self.spec, self.out, self.card = spec, out, card
        self.calibration = calibration  # (seed, reversed order) of the calibration images
        self._model: Any = None

    def recalibrated(self, seed: int, reverse: bool) -> Converter:
        """The same converter (and loaded model) calibrating on another seeded image set or order."""
        other = Converter(self.spec, self.out, self.card, (seed, reverse))
        other._model = self._model
        return other

    @property
    def model(self) -> Any:
        if self._model is None:
            reproducible.seed_everything()
            self._model = load_keras(self.spec.model_path)
            check_model(self._model, self.card, self.spec.model_path)
        return self._model

    def _signature(self) -> Any:
        import tensorflow as tf

        return [tf.TensorSpec((None, *self.card.pipeline.shape), tf.float32, name="input")]

    def savedmodel(self, tmp: Path) -> None:
        # Fixed spatial size: the serving input is known (card), and static shapes let TFLite/ONNX optimise.
        export_savedmodel(self.model, self._signature(), tmp)

    def _tflite(self, tmp: Path, configure: Callable[[Any, Any], None]) -> None:
        import tensorflow as tf

        conv = tf.lite.TFLiteConverter.from_saved_model(str(self.out / SAVEDMODEL))
        configure(conv, tf)
        tmp.write_bytes(conv.convert())

    def float32_tflite(self, tmp: Path) -> None:
        self._tflite(tmp, lambda c, tf: None)

    def float16_tflite(self, tmp: Path) -> None:
        def cfg(c: Any, tf: Any) -> None:
            c.optimizations = [tf.lite.Optimize.DEFAULT]
            c.target_spec.supported_types = [tf.float16]

        self._tflite(tmp, cfg)

    def int8_tflite(self, tmp: Path) -> None:
        def cfg(c: Any, tf: Any) -> None:
            c.optimizations = [tf.lite.Optimize.DEFAULT]
            # per-channel dynamic-range dense kernels need a newer interpreter than tflite-runtime 2.14
            c._experimental_disable_per_channel_quantization_for_dense_layers = True

        self._tflite(tmp, cfg)

    def calibration_images(self) -> Iterator[list[Any]]:
        """CALIBRATION_IMAGES train images drawn with the seed, in split order (or reversed), decoded one
        by one through the handler's preprocessing; seed 0 in split order is the artefacts' calibration."""
        import numpy as np

        from models import dataset
        from runtimes import preprocess

        seed, reverse = self.calibration
        samples = dataset.split(CALIBRATION_SPLIT)
        n = min(CALIBRATION_IMAGES, len(samples))
        picked = sorted(int(i) for i in np.random.default_rng(seed).choice(len(samples), n, replace=False))
        for i in reversed(picked) if reverse else picked:
            yield [preprocess.load_path(str(samples[i].path), self.card.pipeline)[None].astype(np.float32)]

    def full_int8_tflite(self, tmp: Path) -> None:
        def cfg(c: Any, tf: Any) -> None:
            c.optimizations = [tf.lite.Optimize.DEFAULT]
            c.representative_dataset = self.calibration_images
            c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            c.inference_input_type = tf.int8
            c.inference_output_type = tf.int8
            c._experimental_disable_per_channel_quantization_for_dense_layers = True

        self._tflite(tmp, cfg)

    def float32_onnx(self, tmp: Path) -> None:
        cmd = [
            sys.executable,
            "-m",
            "tf2onnx.convert",
            "--saved-model",
            SAVEDMODEL,  # relative to cwd=out: tf2onnx writes "converted from <this>" into the graph
            "--tag",
            "serve",
            "--signature_def",
            "serving_default",
            "--opset",
            str(ONNX_OPSET),
            "--output",
            str(tmp.resolve()),
        ]
        # tf2onnx's graph passes iterate sets of node names: a fixed hash seed fixes their order
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "PYTHONHASHSEED": "0"}
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=self.out)
        if res.returncode != 0 or not tmp.is_file():
            tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-15:])
            raise ConvertError(f"tf2onnx failed (exit {res.returncode}):\n{tail}")
        reproducible.canonical_onnx_names(tmp)

    def float32_opt_onnx(self, tmp: Path) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, ORT_OFFLINE_LEVEL)
        so.optimized_model_filepath = str(tmp)
        so.log_severity_level = 3
        ort.InferenceSession(
            str(self.out / FLOAT32_ONNX), sess_options=so, providers=["CPUExecutionProvider"]
        )
        if not tmp.is_file():
            raise ConvertError("onnxruntime did not write the optimised model")

    def _ort_preprocessed(self, tmp: Path) -> Path:
        """float32.onnx after ORT's quantisation pre-processing (shape inference + graph optimisation),
        which the ORT docs recommend before quantising; written beside ``tmp`` and removed by the caller."""
        from onnxruntime.quantization.shape_inference import quant_pre_process

        pre = tmp.with_name(tmp.name + ".pre.onnx")
        quant_pre_process(str(self.out / FLOAT32_ONNX), str(pre), skip_symbolic_shape=True)
        return pre

    def int8_dynamic_onnx(self, tmp: Path) -> None:
        # Built for comparison, not as a recommendation: ORT's quantisation guide
        # (https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html) advises static
        # quantisation for CNNs, dynamic for RNNs/transformers; measured here at one thread it is an order
        # of magnitude slower than float32 and QDQ int8 (results/report.md, the in-process table).
        # Per-tensor weights: ORT's dynamic Conv/MatMul integer kernels take one weight scale per tensor
        # (ConvInteger has no per-channel scale), so per_channel only adds a re-quantise step.
        from onnxruntime.quantization import QuantType, quantize_dynamic

        pre = self._ort_preprocessed(tmp)
        try:
            quantize_dynamic(str(pre), str(tmp), weight_type=QuantType.QInt8, per_channel=False)
        finally:
            pre.unlink(missing_ok=True)

    def int8_qdq_onnx(self, tmp: Path) -> None:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        pre = self._ort_preprocessed(tmp)
        try:
            quantize_static(
                str(pre),
                str(tmp),
                _OrtCalibration(pre, self.calibration_images()),
                quant_format=QuantFormat.QDQ,
                # unsigned 8-bit activations and weights: with signed ones (S8S8), ORT's x86 kernels on CPUs
                # without VNNI (AVX2 only) go through a u8 x s8 multiply whose 16-bit pair sums saturate:
                # the same S8S8 file agreed 99.2 % here (AVX-512 VNNI) and 87.5 % on an emulated Haswell.
                # U8U8 gave the same answers on both; reduce_range (7-bit weights) also did, at 97.9 %.
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QUInt8,
                per_channel=True,
                calibrate_method=CalibrationMethod.MinMax,
            )
        finally:
            pre.unlink(missing_ok=True)


class _OrtCalibration:
    """ORT's CalibrationDataReader over the TFLite full-int8 calibration images (same split, count, seed)."""

    def __init__(self, model: Path, images: Iterator[list[Any]]) -> None:
        import onnx

        self.name = onnx.load(str(model), load_external_data=False).graph.input[0].name
        self.images = images

    def get_next(self) -> dict[str, Any] | None:
        nxt = next(self.images, None)
        return None if nxt is None else {self.name: nxt[0]}


#: How each catalogue variant is made, by its ``Variant.recipe`` name (core/catalogue.py): the Converter
#: method, the tools whose versions the manifest records, and the parameters that invalidate an artefact.
RECIPES: dict[str, tuple[Callable[[Converter, Path], None], tuple[str, ...], dict[str, Any]]] = {
    "savedmodel": (Converter.savedmodel, ("tensorflow", "keras"), {"variables": "name-order"}),
    "float32_tflite": (Converter.float32_tflite, ("tensorflow", "keras"), {}),
    "float16_tflite": (Converter.float16_tflite, ("tensorflow", "keras"), {}),
    "int8_tflite": (Converter.int8_tflite, ("tensorflow", "keras"), {"dense_per_tensor": True}),
    "full_int8_tflite": (
        Converter.full_int8_tflite,
        ("tensorflow", "keras"),
        {"dense_per_tensor": True, "calibration": CALIBRATION, "io": "int8"},
    ),
    "float32_onnx": (
        Converter.float32_onnx,
        ("tensorflow", "keras", "tf2onnx", "onnx"),
        {"opset": ONNX_OPSET, "names": "canonical"},
    ),
    "float32_opt_onnx": (
        Converter.float32_opt_onnx,
        ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime"),
        {"opset": ONNX_OPSET, "names": "canonical", "ort_level": ORT_OFFLINE_LEVEL},
    ),
    "int8_dynamic_onnx": (
        Converter.int8_dynamic_onnx,
        ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime"),
        {"opset": ONNX_OPSET, "names": "canonical", "weights": "QInt8", "per_channel": False},
    ),
    "int8_qdq_onnx": (
        Converter.int8_qdq_onnx,
        ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime"),
        {
            "opset": ONNX_OPSET,
            "names": "canonical",
            "calibration": CALIBRATION,
            "format": "QDQ",
            "activations": "QUInt8",
            "weights": "QUInt8",
            "per_channel": True,
            "method": "MinMax",
        },
    ),
}
ARTEFACTS: tuple[Artefact, ...] = tuple(
    Artefact(v.path, v.runtime, v.name, v.recipe, RECIPES[v.recipe][1], RECIPES[v.recipe][2])
    for v in catalogue.CONVERTED
)
BY_PATH = {a.path: a for a in ARTEFACTS}


def read_manifest(out: Path) -> dict[str, Any]:
    """The previous run's manifest (what may be reused), or {} when there is none or it is unreadable."""
    try:
        return Manifest.load(out).raw
    except (OSError, ContractError):
        return {}


def up_to_date(
    entry: dict[str, Any] | None, art: Artefact, source_sha: str, tools: dict[str, str], out: Path
) -> bool:
    """Same source, same tools, same parameters, and the file on disk is the one recorded."""
    if not entry:
        return False
    if entry.get("source_sha256") != source_sha or entry.get("tool_versions") != tools:
        return False
    if entry.get("params", {}) != json.loads(json.dumps(art.params)):
        return False
    p = out / art.path
    return p.exists() and sha256_path(p) == entry.get("sha256")


def _plan(wanted: list[str]) -> list[Artefact]:
    """The artefacts to make, in order: everything downstream is converted from the SavedModel, and the
    ORT artefacts (optimised, int8) from float32.onnx."""
    order = [a for a in ARTEFACTS if a.path in wanted or a.path == SAVEDMODEL]
    derived = [a.path for a in ARTEFACTS if a.recipe in FROM_FLOAT32_ONNX and a.path in wanted]
    if derived and FLOAT32_ONNX not in wanted:
        order.insert([a.path for a in order].index(derived[0]), BY_PATH[FLOAT32_ONNX])
    return order


def _copy_source(
    spec: Any, conv: Converter, out: Path, card: Any, old: dict[str, Any], source_sha: str
) -> None:
    """model.keras (what the tf image loads; a legacy .h5 is re-saved natively) and card.json into ``out``."""
    keras_copy = out / "model.keras"
    if spec.model_path.suffix == ".keras":
        if not keras_copy.is_file() or sha256_path(keras_copy) != source_sha:
            shutil.copyfile(spec.model_path, keras_copy)
    elif not keras_copy.is_file() or old.get("source_sha256") != source_sha:
        conv.model.save(str(keras_copy))
    (out / "card.json").write_text(json.dumps(card.raw, indent=2) + "\n")


def _make(
    conv: Converter, art: Artefact, out: Path, source_sha: str, tools: dict[str, str]
) -> dict[str, Any]:
    """Convert one artefact through a temporary path (a failure leaves no half file); its manifest entry."""
    final = out / art.path
    tmp = out / f".tmp-{art.path}"
    _clean(tmp)
    t0 = time.time()
    try:
        RECIPES[art.recipe][0](conv, tmp)
    except ConvertError:
        _clean(tmp)
        raise
    except Exception as e:  # noqa: BLE001 - report which artefact failed, in one line
        _clean(tmp)
        raise ConvertError(f"{art.path}: {type(e).__name__}: {str(e).strip()[:500]}") from e
    _replace(tmp, final)
    wall = time.time() - t0
    return {
        "path": art.path,
        "runtime": art.runtime,
        "variant": art.variant,
        "sha256": sha256_path(final),
        "bytes": size_bytes(final),
        "source_sha256": source_sha,
        "tool_versions": tools,
        "params": json.loads(json.dumps(art.params)),
        "wall_s": round(wall, 2),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def gate_agreement(conv: Converter, threads: int) -> Callable[[str, Path], dict[str, float]]:
    """(runtime, artefact) -> its agreement and top-1 against the TensorFlow reference, on the images and
    with the metrics models/eval.py scores the gate on (split and reference computed once)."""
    import numpy as np

    from models import eval as evallib
    from runtimes import base

    x, y = evallib.load_test(conv.card.pipeline, None)
    keep, y = evallib.own_classes(y, conv.card.classes)
    x = x[keep]
    ref, _ = evallib.run(base.get("tf"), conv.out / SAVEDMODEL, x, threads)
    ref_top1 = 100.0 * float(np.mean(ref.argmax(1) == y))
    probs = conv.card.output == "probabilities"

    def agreement(runtime: str, path: Path) -> dict[str, float]:
        logits, _ = evallib.run(base.get(runtime), path, x, threads)
        m = evallib.metrics(logits, y, ref, ref_top1, probs)
        return {"agreement_pct": m["agreement_pct"], "top1_pct": m["top1_accuracy_pct"], "images": len(y)}

    return agreement


def measure_spreads(conv: Converter, manifest: dict[str, Any], log: Callable[[str], None]) -> None:
    """Each calibrated artefact without a measured calibration spread gets one (models/calibration.py)."""
    from models import calibration
    from runtimes.base import default_threads

    todo = [e for e in manifest["artefacts"] if calibration.calibrated(e) and calibration.FIELD not in e]
    if not todo:
        return
    agreement = gate_agreement(conv, default_threads())
    for entry in todo:
        recipe = RECIPES[BY_PATH[entry["path"]].recipe][0]

        def make(seed: int, reverse: bool, path: Path, recipe: Any = recipe) -> None:
            recipe(conv.recalibrated(seed, reverse), path)

        def score(path: Path, runtime: str = entry["runtime"]) -> dict[str, float]:
            return agreement(runtime, path)

        t0 = time.time()
        n = len(calibration.RUNS) + 1
        log(f"{conv.spec.name}/{entry['path']}: agreement over {n} calibrations ({calibration.SPLIT} split)")
        spread = calibration.measure(conv.out / entry["path"], make, score, log)
        entry[calibration.FIELD] = spread
        Manifest.save(conv.out, manifest)
        verdict = "stable" if spread["stable"] else "UNSTABLE (ineligible to win)"
        log(
            f"{conv.spec.name}/{entry['path']}: agreement spread {spread['spread_pts']:.2f} pts "
            f"(bound {spread['bound_pts']:g}): {verdict} ({time.time() - t0:.1f} s)"
        )


def convert(
    model: str,
    out: Path | None = None,
    only: list[str] | None = None,
    force: bool = False,
    build: bool = True,
    log: Callable[[str], None] = lambda s: print(s, flush=True),
    spread: bool = True,
) -> dict[str, Any]:
    """Produce (or reuse) every artefact of ``model`` in ``out``; returns the manifest."""
    spec = registry.resolve(model, build=build)
    out = out or paths.model_dir(spec.name)
    wanted = list(BY_PATH) if not only else only
    unknown = [w for w in wanted if w not in BY_PATH]
    if unknown:
        raise ConvertError(f"unknown artefact(s) {', '.join(unknown)}; choose from {', '.join(BY_PATH)}")
    source_sha = sha256_path(spec.model_path)
    card = prepared_card(spec, source_sha)
    out.mkdir(parents=True, exist_ok=True)
    conv = Converter(spec, out, card)
    if not spec.builtin or force:
        _ = conv.model  # BYO: validate model vs card up front, before any work
    old = read_manifest(out)
    old_entries = (
        {e["path"]: e for e in old.get("artefacts", [])} if old.get("source_sha256") == source_sha else {}
    )
    order = _plan(wanted)
    _copy_source(spec, conv, out, card, old, source_sha)
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "model": spec.name,
        "source": str(spec.model_path),
        "source_sha256": source_sha,
        "source_bytes": spec.model_path.stat().st_size,
        "card": "card.json",
        "artefacts": [
            e for p, e in old_entries.items() if p not in {a.path for a in order} and (out / p).exists()
        ],
    }
    t_all = time.time()
    done = skipped = 0
    for i, art in enumerate(order, 1):
        tools = {t: tool_version(t) for t in art.tools}
        entry = old_entries.get(art.path)
        head = f"[{i}/{len(order)}] {spec.name}/{art.path}"
        if entry is not None and not force and up_to_date(entry, art, source_sha, tools, out):
            log(f"{head}: up to date ({entry['bytes'] / 1e6:.1f} MB), skipped")
            manifest["artefacts"].append(entry)
            skipped += 1
            continue
        log(f"{head}: converting ...")
        entry = _make(conv, art, out, source_sha, tools)
        manifest["artefacts"].append(entry)
        manifest["artefacts"].sort(key=lambda e: list(BY_PATH).index(e["path"]))
        Manifest.save(out, manifest)
        done += 1
        log(f"{head}: {entry['bytes'] / 1e6:.2f} MB in {entry['wall_s']:.1f} s")
    manifest["artefacts"].sort(key=lambda e: list(BY_PATH).index(e["path"]))
    Manifest.save(out, manifest)
    if spread:
        measure_spreads(conv, manifest, log)
    log(f"{spec.name}: {done} converted, {skipped} up to date, {time.time() - t_all:.1f} s -> {out}")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Convert a Keras model to every served artefact + manifest.json")
    ap.add_argument(
        "--model",
        default=os.environ.get("MODEL", "reference"),
        help="reference | xception | path to .keras/.h5 with a card beside it",
    )
    ap.add_argument("--out", type=Path, default=None, help="output dir (default build/models/<name>)")
    ap.add_argument(
        "--only", default=None, help="comma-separated artefacts, e.g. float32.tflite,float32.onnx"
    )
    ap.add_argument("--force", action="store_true", help="redo every artefact")
    ap.add_argument(
        "--no-calibration-spread",
        action="store_true",
        help="skip re-calibrating the int8 variants (their gate then fails: spread not measured)",
    )
    args = ap.parse_args(argv)
    only = args.only.split(",") if args.only else None
    try:
        convert(args.model, args.out, only, args.force, spread=not args.no_calibration_spread)
    except (ConvertError, registry.ModelError, cardlib.CardError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
