"""The cold-start study's probes inside its images: model load options, ORT-format warm inference, the
handler's import time, the cold path's modules.

Each runs a python program in a fresh container of an after (or before) image with the image's own python
and libraries (bench/measure/targets/container.run_python: no network, limited like a function) and reads
the one JSON line it prints; the programs themselves are scripts/modelload.py, scripts/ortwarm.py and
scripts/coldpath_probe.py, which also run on the host.
"""

from __future__ import annotations

import base64
import json
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.measure.coldstart import records as rec
from bench.measure.coldstart.study import MODELS, WORK, log, tag, test_image
from bench.measure.targets import container as ct
from core.paths import ROOT

SCRIPTS = ROOT / "scripts"
#: (runtime, artefact, option) per model: what the images do, and the alternatives for the load decision
LOAD_OPTIONS = (
    ("tflite", "float32.tflite", "default"),
    ("tflite", "full-int8.tflite", "default"),
    ("tflite", "int8.tflite", "default"),
    # CompiledModel without and with the weight cache the after image's build wrote beside the artefact
    # (an image whose artefact is under the cache's size bar has none: those trials are logged and skipped)
    ("tflite", "float32.tflite", "compiled"),
    ("tflite", "float32.tflite", "compiled:/var/task/model/float32.tflite.xnnpack"),
    ("tflite", "full-int8.tflite", "compiled"),
    ("tflite", "full-int8.tflite", "compiled:/var/task/model/full-int8.tflite.xnnpack"),
    ("tflite", "int8.tflite", "compiled"),
    ("tflite", "int8.tflite", "compiled:/var/task/model/int8.tflite.xnnpack"),
    ("onnx", "float32.onnx", "onnx:ALL"),
    ("onnx", "float32.onnx", "onnx:EXT"),
    ("onnx", "float32.onnx", "ort:ALL"),
    ("onnx", "float32.onnx", "ort:EXT"),
    ("onnx", "float32.onnx", "ort-copy:ALL"),
)


class ProbeError(RuntimeError):
    """A probe exited non-zero or printed no JSON line."""


def probe(t: str, script: Path, args: Sequence[str], timeout_s: float = 300, **kw: Any) -> dict[str, Any]:
    """``script`` run by ``t``'s python (from stdin) with ``args``; its last line as JSON."""
    proc = ct.run_python(t, ["-", *args], script.read_text(), timeout_s=timeout_s, **kw)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise ProbeError(f"{t} {script.name} {' '.join(args)}: {proc.stderr[-500:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def ort_format(onnx_path: Path) -> Path:
    """``<artefact>.ort`` made by the host's onnxruntime (the images' pin): EXTENDED optimisations saved
    in ORT format, the build-time option the model-load table measures and docs/coldstart.md refutes."""
    import onnxruntime as ort

    out = WORK / "ort" / onnx_path.parent.name / (onnx_path.name + ".ort")
    if not out.is_file() or out.stat().st_mtime < onnx_path.stat().st_mtime:
        out.parent.mkdir(parents=True, exist_ok=True)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        so.optimized_model_filepath = str(out)
        so.add_session_config_entry("session.save_model_format", "ORT")
        so.log_severity_level = 3
        ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    return out


def _ort_files(models: Sequence[str]) -> dict[str, Path]:
    return {m: ort_format(ROOT / "build" / "models" / m / "float32.onnx") for m in models}


def modelload(
    models: Sequence[str], trials: int, cpus: float, memory_mb: int, seed: int, out: Path = rec.MODELLOAD_CSV
) -> None:
    """scripts/modelload.py inside the after images, one fresh container per trial, options interleaved:
    import, load, first and second inference per load option."""
    jobs = [(m, *o) for m in models for o in LOAD_OPTIONS for _ in range(trials)]
    random.Random(seed).shuffle(jobs)
    ort_files = _ort_files(models)
    with rec.Appender(out, rec.ModelLoadRow) as csv_out:
        for i, (model, runtime, art, option) in enumerate(jobs):
            t = tag("tflite" if runtime == "tflite" else "onnx", model, art.rsplit(".", 1)[0], "after")
            load = os.getloadavg()[0]
            mounts = {ort_files[model]: f"/var/task/model/{art}.ort"} if runtime == "onnx" else {}
            try:
                r = probe(t, SCRIPTS / "modelload.py", [runtime, f"/var/task/model/{art}", option, "1"], 600,
                          limits=(cpus, memory_mb), mounts=mounts, read_only=True)  # fmt: skip
            except ProbeError as e:
                log(str(e)[-300:])
                continue
            fields = set(rec.columns(rec.ModelLoadRow))
            row = {
                "model": model,
                "artefact": art,
                "cpus": cpus,
                "memory_mb": memory_mb,
                "loadavg1": load,
                **r,
            }
            csv_out.add(rec.ModelLoadRow(**{k: v for k, v in row.items() if k in fields}))
            log(f"[{i + 1}/{len(jobs)}] {model} {art} {option}: load {r['load_ms']} warm {r['warm_ms']}")


def ortwarm(
    models: Sequence[str], trials: int, cpus: float, memory_mb: int, out: Path = rec.ORTWARM_CSV
) -> None:
    """scripts/ortwarm.py in the after ONNX images: .onnx (ALL) vs ORT format, one process, alternated."""
    ort_files = _ort_files(models)
    with rec.Appender(out, rec.OrtWarmRow) as csv_out:
        for model in models:
            for i in range(trials):
                load = os.getloadavg()[0]
                r = probe(tag("onnx", model, "float32", "after"), SCRIPTS / "ortwarm.py",
                          ["/var/task/model/float32.onnx", "10"], 900, limits=(cpus, memory_mb),
                          mounts={ort_files[model]: "/var/task/model/float32.onnx.ort"})  # fmt: skip
                csv_out.add(rec.OrtWarmRow(model, i, cpus, r["onnx:ALL"], r["ort:ALL"], load))
                log(f"{model} {i}: {r}")


def import_times(stderr: str) -> dict[str, float]:
    """``-X importtime``'s cumulative time per module (ms)."""
    cum = {}
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            _, c, name = line[len("import time:") :].split("|")
            if c.strip().isdigit():
                cum[name.strip()] = int(c) / 1000
    return cum


def imports(trials: int, cpus: float, memory_mb: int, out: Path = rec.IMPORTS_CSV) -> None:
    """``python3 -X importtime -c 'import lambda_function'`` in the null before/after images, alternating,
    one fresh container each: the handler's import cost and the URL fetch stack's share of it, paired
    so that the machine's load drifts over both alike."""
    with rec.Appender(out, rec.ImportRow) as csv_out:
        for i in range(trials):
            for label in ("before", "after") if i % 2 == 0 else ("after", "before"):
                load = os.getloadavg()[0]
                args = ["-X", "importtime", "-c", "import lambda_function"]
                t = tag("null", MODELS[0], "none", label)
                proc = ct.run_python(t, args, limits=(cpus, memory_mb), workdir="/var/task")
                cum = import_times(proc.stderr)
                csv_out.add(rec.ImportRow(label, i, cpus, memory_mb, cum.get("lambda_function"),
                                          cum.get("runtimes.fetch"), len(cum), load))  # fmt: skip
                log(f"{label} {i}: import {cum.get('lambda_function')} fetch {cum.get('runtimes.fetch')}")


def coldpath(tags: Sequence[str]) -> dict[str, list[str]]:
    """scripts/coldpath_probe.py inside each image (its own python): the modules of its cold path."""
    b64 = base64.b64encode(test_image().read_bytes()).decode()
    return {
        t: list(
            probe(t, SCRIPTS / "coldpath_probe.py", [], env={"COLDPATH_IMAGE_B64": b64}, workdir="/var/task")[
                "new"
            ]
        )
        for t in tags
    }
