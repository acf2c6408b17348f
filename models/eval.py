"""Accuracy and agreement of every artefact x in-process runtime, against the TensorFlow reference.

    python -m models.eval --model reference [--limit N]

The reference is the ``tf`` runtime on ``savedmodel/``. For each other artefact it measures test-split
top-1 accuracy, top-1 agreement with the reference and the largest |difference| of softmax
probabilities, then applies the variant's gate. Failing variants (or ones that do not even load) are
written as failed rows, never dropped. Rows are upserted per model into ``results/accuracy.csv``.

Every row carries the sha256 of the bytes it measured: bench/measure/accuracy.py joins a benchmark cell only
onto
the row of the same sha256. Libraries the host cannot import (tflite-runtime 2.14: python <= 3.11,
numpy < 2) are evaluated inside their serving image over the same test split (models/image_eval.py), so
their sha256 is that of the artefact in the image; ``evaluated_in`` says where each row was measured.
"""

from __future__ import annotations

import argparse
import functools
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core import catalogue, paths
from core.card import Card, CardError, read_card
from core.contracts import save_accuracy
from core.manifest import MANIFEST, Manifest
from core.pipeline import Pipeline
from models import calibration, registry
from runtimes import base
from runtimes.base import dist_version

DEFAULT_CSV = paths.ACCURACY_CSV
BATCH = 32
#: Variants whose activations are quantised at run time from the batch's own range (Variant.dynamic): their
#: answers depend on what shares the batch (ORT int8-dynamic in a container vs a batch of 4: max |dlogit|
#: 0.098), so they are evaluated one image per call, as the handler serves them.
PER_IMAGE_VARIANTS = tuple(dict.fromkeys(v.name for v in catalogue.VARIANTS if v.dynamic))


def batch_for(variant: str) -> int:
    return 1 if variant in PER_IMAGE_VARIANTS else BATCH


#: TFLite libraries evaluated in this process: the host's (the others in their image, models/image_eval.py).
TFLITE_LIBRARIES = tuple(
    dict.fromkeys(
        s.library
        for s in catalogue.IMAGES.values()
        if s.runtime == "tflite" and catalogue.LIBRARIES[s.library].host
    )
)


def _f32(m: dict[str, float]) -> bool:
    return m["agreement_pct"] == 100.0 and m["max_abs_dprob"] <= 1e-4


def _f16(m: dict[str, float]) -> bool:
    return m["agreement_pct"] >= 99.5


def _int8(m: dict[str, float]) -> bool:
    return m["agreement_pct"] >= 98.0 and m["accuracy_drop_pts"] <= 1.0


#: precision (core/catalogue.py Variant.precision) -> (gate text for the CSV, predicate over the measured
#: metrics). ONNX Runtime's int8 artefacts get TFLite int8's gate: int8 is compared with int8 on equal terms.
GATES_BY_PRECISION: dict[str, tuple[str, Callable[[dict[str, float]], bool]]] = {
    "float32": ("agreement_pct == 100 and max_abs_dprob <= 1e-4", _f32),
    "float16": ("agreement_pct >= 99.5", _f16),
    "int8": ("agreement_pct >= 98 and accuracy_drop_pts <= 1.0", _int8),
}
#: variant -> its precision's gate
GATES: dict[str, tuple[str, Callable[[dict[str, float]], bool]]] = {
    v.name: GATES_BY_PRECISION[v.precision] for v in catalogue.VARIANTS if v.precision in GATES_BY_PRECISION
}
REFERENCE_GATE = "reference (defines agreement)"


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def environment() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=registry.REPO, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "git_sha": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "python": platform.python_version(),
        **{lib.name: dist_version(*lib.dists) for lib in catalogue.LIBRARIES.values()},
        "machine": platform.machine(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def load_test(size: Pipeline | tuple[int, int], limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    from models.train import load_split

    return load_split("test", size, limit)


def own_classes(y: np.ndarray, card_classes: tuple[str, ...] | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(mask, labels) for a model whose card lists its own classes: keep the test images of those classes
    only, labelled by the card's order. A 5-class model scored on all ten classes' images is wrong on every
    image of the other five by construction; its accuracy must be measured on the classes it knows."""
    from models import dataset

    names = dataset.classes(dataset.split_dir("test")) or list(dataset.CLASSES)
    index = {c: i for i, c in enumerate(names)}
    unknown = [c for c in card_classes if c not in index]
    if unknown:
        raise CardError(
            f"card classes {unknown} are not classes of the dataset ({', '.join(names)}): "
            "there are no test images to evaluate them on"
        )
    remap = np.full(len(names), -1, dtype=np.int64)
    for j, c in enumerate(card_classes):
        remap[index[c]] = j
    labels = remap[y]
    return labels >= 0, labels[labels >= 0]


def run(
    adapter: Any, path: Path, x: np.ndarray, threads: int, batch: int = BATCH
) -> tuple[np.ndarray, float]:
    t0 = time.time()
    adapter.load(str(path), threads)
    load_s = time.time() - t0
    out = [adapter.predict(x[i : i + batch]) for i in range(0, len(x), batch)]
    return np.concatenate(out).astype(np.float32), load_s


def metrics(
    logits: np.ndarray, y: np.ndarray, ref: np.ndarray, ref_acc: float, probs: bool
) -> dict[str, float]:
    if logits.shape != ref.shape:
        raise ValueError(f"output shape {logits.shape} differs from the reference's {ref.shape}")
    if not np.all(np.isfinite(logits)):
        raise ValueError("non-finite outputs (NaN/inf)")
    p, pr = (logits, ref) if probs else (softmax(logits), softmax(ref))
    acc = 100.0 * float(np.mean(logits.argmax(1) == y))
    return {
        "top1_accuracy_pct": round(acc, 3),
        "ref_top1_accuracy_pct": round(ref_acc, 3),
        "accuracy_drop_pts": round(ref_acc - acc, 3),
        "agreement_pct": round(100.0 * float(np.mean(logits.argmax(1) == ref.argmax(1))), 3),
        "max_abs_dprob": float(f"{float(np.max(np.abs(p - pr))):.3g}"),
    }


def targets(manifest: dict[str, Any]) -> list[tuple[dict[str, Any], str, Callable[[], base.Runtime]]]:
    """(manifest entry, library label, adapter factory) for every artefact x in-process runtime."""
    from runtimes import tflite

    out: list[tuple[dict[str, Any], str, Callable[[], base.Runtime]]] = []
    for e in manifest.get("artefacts", []):
        if e["runtime"] == "tflite":
            for lib in TFLITE_LIBRARIES:
                if dist_version(*next(c[2] for c in tflite.CANDIDATES if c[0] == lib)):
                    out.append((e, lib, functools.partial(tflite.Adapter, libraries=(lib,))))
        elif e["runtime"] in catalogue.RUNTIMES:
            out.append((e, e["runtime"], functools.partial(base.get, e["runtime"])))
    return out


@dataclass
class Reference:
    """The test split and the TensorFlow reference's answers on it: what every row is measured against."""

    x: np.ndarray
    y: np.ndarray
    logits: np.ndarray
    top1_pct: float
    load_s: float
    probs: bool


def _gate(variant: str, is_ref: bool) -> tuple[str, Callable[[dict[str, float]], bool]]:
    if is_ref:
        return REFERENCE_GATE, lambda m: True
    return GATES.get(variant, ("no gate defined", lambda m: False))


def _measure(
    row: dict[str, Any],
    ref: Reference,
    predict: Callable[[], tuple[np.ndarray, dict[str, Any]]],
    gate: Callable[[dict[str, float]], bool],
) -> dict[str, Any]:
    """Fill ``row`` from ``predict()`` -> (logits, facts); a failure is a failed row, not a crash."""
    t0 = time.time()
    try:
        logits, facts = predict()
        row.update(facts)
        m = metrics(logits, ref.y, ref.logits, ref.top1_pct, ref.probs)
        row.update(m, n_images=len(ref.y), gate_passed=bool(gate(m)))
    except Exception as e:  # noqa: BLE001 - a broken artefact is a failed row, not a crash
        row.update(n_images=0, gate_passed=False, error=f"{type(e).__name__}: {str(e).strip()[:300]}")
    row["eval_wall_s"] = round(time.time() - t0, 2)
    return row


def _log_row(row: dict[str, Any], log: Callable[[str], None]) -> None:
    status = "PASS" if row["gate_passed"] else "FAIL"
    head = f"  {row['runtime']}/{row['library']} {row['artefact']} [{row['evaluated_in']}]"
    if row["error"]:
        log(f"{head}: {status} ({row['error']})")
    else:
        log(
            f"{head}: top-1 {row['top1_accuracy_pct']:.2f} %, agreement {row['agreement_pct']:.2f} %, "
            f"max|dp| {row['max_abs_dprob']:.2g}: {status} [{row['gate']}] ({row['eval_wall_s']:.1f} s)"
        )


def host_rows(
    name: str,
    d: Path,
    manifest: dict[str, Any],
    ref: Reference,
    base_row: dict[str, Any],
    log: Callable[[str], None] = lambda s: None,
) -> list[dict[str, Any]]:
    """Every artefact x library importable here, run in this process on ``d``'s files."""
    rows = []
    for entry, library, factory in targets(manifest):
        is_ref = entry["path"] == "savedmodel" and entry["runtime"] == "tf"
        gate_text, gate = calibration.gated(entry, *_gate(entry["variant"], is_ref))
        row = dict(
            base_row,
            runtime=entry["runtime"],
            library=library,
            variant=entry["variant"],
            artefact=entry["path"],
            bytes=entry.get("bytes"),
            sha256=entry.get("sha256"),
            gate=gate_text,
            evaluated_in="host",
        )

        def predict(
            entry: dict[str, Any] = entry,
            factory: Callable[[], Any] = factory,
            is_ref: bool = is_ref,
            library: str = library,
        ) -> tuple[np.ndarray, dict[str, Any]]:
            adapter = factory()
            logits, load_s = (
                (ref.logits, ref.load_s)
                if is_ref
                else run(adapter, d / entry["path"], ref.x, base_row["threads"], batch_for(entry["variant"]))
            )
            lib = getattr(adapter, "library", library) or library
            return logits, {"library": lib, "library_version": adapter.version(), "load_s": round(load_s, 3)}

        rows.append(_measure(row, ref, predict, gate))
        _log_row(rows[-1], log)
    return rows


def image_rows(
    name: str, ref: Reference, base_row: dict[str, Any], log: Callable[[str], None] = lambda s: None
) -> list[dict[str, Any]]:
    """Libraries evaluated inside their serving image (models/image_eval.py), on the image's own bytes."""
    from models import image_eval

    rows = []
    for t in image_eval.targets(name):
        gate_text, gate = _gate(t.variant, False)
        row = dict(
            base_row,
            runtime=t.runtime,
            library=t.library,
            variant=t.variant,
            artefact=t.artefact,
            gate=gate_text,
            evaluated_in=t.tag,
            sha256="",
        )

        def predict(t: image_eval.Target = t) -> tuple[np.ndarray, dict[str, Any]]:
            logits, meta = image_eval.predict(t, ref.x, base_row["threads"], batch_for(t.variant))
            keep = ("library", "library_version", "sha256", "bytes")
            return logits, {k: meta[k] for k in keep} | {
                "python": meta.get("python"),
                "numpy": meta.get("numpy"),
            }

        rows.append(_measure(row, ref, predict, gate))
        _log_row(rows[-1], log)
    return rows


def reference(
    d: Path,
    manifest: dict[str, Any],
    card: Card,
    limit: int | None,
    threads: int,
    log: Callable[[str], None],
) -> Reference:
    h, w = card.size
    log(
        f"{manifest.get('model', d.name)}: decoding test split at {h}x{w} px"
        + (f" (limit {limit})" if limit else "")
    )
    x, y = load_test(card.pipeline, limit)
    keep, y = own_classes(y, card.classes)
    x = x[keep]
    if len(y) < len(keep):
        log(f"  card lists {len(card.classes)} classes: {len(y)} of {len(keep)} test images are theirs")
    if not any(e["path"] == "savedmodel" for e in manifest["artefacts"]):
        raise FileNotFoundError(f"{d / 'manifest.json'}: no savedmodel artefact, the reference cannot run")
    t0 = time.time()
    logits, load_s = run(base.get("tf"), d / "savedmodel", x, threads)
    acc = 100.0 * float(np.mean(logits.argmax(1) == y))
    log(f"  reference tf/savedmodel: top-1 {acc:.2f} % on {len(y)} images ({time.time() - t0:.1f} s)")
    return Reference(x, y, logits, acc, load_s, card.output == "probabilities")


def evaluate(
    model: str,
    models_dir: Path | None = None,
    out_csv: Path = DEFAULT_CSV,
    limit: int | None = None,
    threads: int | None = None,
    log: Callable[[str], None] = lambda s: print(s, flush=True),
    images: bool = True,
) -> list[dict[str, Any]]:
    """Evaluate every artefact of ``model`` (and, with ``images``, the in-image libraries) and upsert its
    rows into ``out_csv``; returns the rows."""
    is_path = Path(model).suffix.lower() in registry.MODEL_SUFFIXES
    if models_dir is None:
        name = registry.resolve(model).name if is_path else model
        d = paths.model_dir(name)
    else:
        d, name = models_dir, model
    try:
        manifest = Manifest.load(d).raw
    except FileNotFoundError:
        raise FileNotFoundError(f"{d / MANIFEST} not found: run `make models MODEL={model}` first") from None
    if is_path:
        name = manifest.get("model", name)
    card = read_card(d / "card.json")
    threads = threads or base.default_threads()
    ref = reference(d, manifest, card, limit, threads, log)
    base_row = {"model": name, "threads": threads, "error": "", **environment()}
    rows = host_rows(name, d, manifest, ref, base_row, log)
    if images:
        rows += image_rows(name, ref, base_row, log)
    save_accuracy(out_csv, name, rows)  # this model's rows replaced, every other model's kept
    failed = sum(not r["gate_passed"] for r in rows)
    log(f"{name}: {len(rows) - failed}/{len(rows)} passed their gate -> {out_csv}")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Accuracy + agreement of every artefact vs the TF reference")
    ap.add_argument("--model", default="reference", help="reference | xception | a BYO model path")
    ap.add_argument(
        "--models-dir", type=Path, default=None, help="artefacts dir (default build/models/<name>)"
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--limit", type=int, default=None, help="seeded subset of the test split (quick checks)")
    ap.add_argument("--strict", action="store_true", help="exit 1 if any variant fails its gate")
    ap.add_argument(
        "--no-images",
        action="store_true",
        help="skip the libraries evaluated inside their image (tflite-runtime)",
    )
    args = ap.parse_args(argv)
    try:
        rows = evaluate(args.model, args.models_dir, args.out, args.limit, images=not args.no_images)
    except (FileNotFoundError, registry.ModelError, CardError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 1 if args.strict and not all(r["gate_passed"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
