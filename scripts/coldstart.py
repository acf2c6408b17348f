"""One interleaved cold-start run under the Lambda emulator: before (main) vs after (this branch), and floors.

``python scripts/coldstart.py build`` makes the images, ``python scripts/coldstart.py run`` measures them
into results/coldstart.csv, and ``python -m bench.report.coldstart`` turns that CSV into docs/coldstart.md's
tables and results/plots/coldstart.png. Why it is shaped this way:

* Before and after are built by each tree's own images/build.py (``git archive`` of the ref into
  build/cs19/<label>/, sharing build/models and the wheelhouse), tagged
  ``cs19-<kind>:<model>-<variant>-<label>`` so no project tag (clothing-*, lambda-base:*) is touched.
  "after" carries the lambda_function.py line proposed to issue 16 (AFTER_PATCH: the adapter's
  load/warm-up split in ``meta``) when the tree lacks it.
* Floors are bare handlers (scripts/floor_function.py) added on top of the after images: the same files,
  python, awslambdaric, numpy, Pillow and runtime library, so a ratio to them is the handler's own cost.
* Every (image, memory) cell gets one cold start per round, rounds in a fresh random order: on a shared
  2-core machine the load drifts, and interleaving spreads it over all cells alike (ratios within one run).
* A cold sample: docker run -> emulator answers (container) -> first invoke (INIT REPORT + request) -> 3
  warm invokes (warm inference) -> peak memory -> container removed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra import docker  # noqa: E402

WORK = ROOT / "build" / "cs19"
CSV_PATH = ROOT / "results" / "coldstart.csv"
LABEL = "cs19"
MODELS = ("reference", "xception")
#: (image kind, variant) measured per model; null carries no model, so it is measured once (reference)
CELLS = (
    ("null", "none"),
    ("tflite", "float32"),
    ("tflite", "full-int8"),
    ("tflite", "int8"),
    ("onnx", "float32"),
)
#: (cpus, memory MB): Lambda's share at 1024 MB and one full vCPU
CONFIGS = ((0.58, 1024), (1.0, 1769))
#: runtimes whose after image is also measured with MODEL_WARMUP=1 (the warm-up decision)
WARMUP_KINDS = ("tflite", "onnx")
AFTER_PATCH = (
    '        "model_sha256": model.sha256,\n',
    '        "model_sha256": model.sha256,\n        **base.init_stages(model.adapter),\n',
)
FIELDS = (
    "run_id", "round", "order", "label", "kind", "model", "variant", "tag", "cpus", "memory_mb", "env",
    "container_ms", "init_report_ms", "first_request_ms", "first_report_ms", "cold_total_ms",
    "handler_init_ms", "library_import_ms", "load_ms", "warmup_ms",
    "first_preprocess_ms", "first_inference_ms",
    "warm_inference_ms", "warm_client_ms", "peak_mb", "loadavg1", "error",
)  # fmt: skip
INIT_RE = re.compile(r"INIT REPORT.*?durationMs:?\s*([0-9.]+)", re.S)
REPORT_RE = re.compile(r"^REPORT .*?\tDuration: ([0-9.]+) ms", re.M)


def log(msg: str) -> None:
    print(msg, flush=True)


def tag(kind: str, model: str, variant: str, label: str) -> str:
    return f"{LABEL}-{kind}:{model}-{variant}-{label}"


def sh(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


# ------------------------------------------------------------------------------------------- build
def export_tree(label: str, ref: str) -> Path:
    """``ref``'s files in build/cs19/<label>/, sharing this checkout's build/models and wheelhouse."""
    d = WORK / label
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(d)], input=archive, check=True)
    (d / "build").mkdir()
    (ROOT / "build" / "wheelhouse").mkdir(parents=True, exist_ok=True)  # shared: resolved once
    for sub in ("models", "wheelhouse", "train"):
        if (ROOT / "build" / sub).exists():
            (d / "build" / sub).symlink_to(ROOT / "build" / sub)
    lf = d / "lambda_function.py"
    text = lf.read_text()
    if label == "after" and "init_stages" not in text and AFTER_PATCH[0] in text:
        lf.write_text(text.replace(AFTER_PATCH[0], AFTER_PATCH[1], 1))
        log(f"{label}: lambda_function.py + the proposed meta line (base.init_stages)")
    return d


def build(refs: dict[str, str], models: tuple[str, ...]) -> None:
    for label, ref in refs.items():
        tree = export_tree(label, ref)
        for model in models:
            for kind, variant in CELLS:
                if kind == "null" and model != MODELS[0]:
                    continue
                build_project_image(tree, ref, kind, model, variant, tag(kind, model, variant, label))
    build_floors(models)
    build_seed(refs["after"], models)


def build_project_image(tree: Path, ref: str, kind: str, model: str, variant: str, t: str) -> None:
    """One project image built by ``tree``'s own images/build.py (``ref``'s code), tagged ``t``."""
    code = (
        "from images import build as b; "
        f"r = b.build_one({kind!r}, {model!r}, {variant!r}, measure=False, tag={t!r}); "
        "print(r.tag, r.status, round(r.bytes / 1e6, 1), 'MB')"
    )
    log(f"build {t} from {ref}")
    sh([sys.executable, "-c", code], cwd=tree)


def build_on_top(src: str, t: str, files: tuple[Path, ...], steps: str, role: str) -> None:
    """Image ``t``: ``src`` plus ``files`` (copied into the build context by name) and Dockerfile
    ``steps``, labelled ``cs19=<role>`` (floors and the seed-style image are built this way)."""
    with tempfile.TemporaryDirectory() as d:
        for f in files:
            (shutil.copytree if f.is_dir() else shutil.copy2)(f, Path(d) / f.name)
        (Path(d) / "Dockerfile").write_text(f"FROM {src}\n{steps}")
        log(f"build {t}")
        sh(["docker", "build", "-q", "-t", t, "--label", f"{LABEL}={role}", d])


#: keras-image-helper, the seed's preprocessing package (pure python), pinned
SEED_HELPER = "keras-image-helper==0.0.2"


def build_seed(ref: str, models: tuple[str, ...]) -> None:
    """cs19-seed:<model>-float32: the seed's stack (tflite-runtime 2.14 on python 3.11, numpy, Pillow,
    keras-image-helper) with scripts/seed_function.py as its handler, on ``ref``'s tflite-runtime image
    (its python and wheels; the project's handler files in it are never imported)."""
    tree = WORK / "after"
    helper = WORK / "keras-image-helper"
    if not (helper / "keras_image_helper").is_dir():
        sh([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(helper), SEED_HELPER])
    for model in models:
        src = tag("tflite-runtime", model, "float32", "after")
        build_project_image(tree, ref, "tflite-runtime", model, "float32", src)
        build_on_top(
            src,
            tag("seed", model, "float32", "seed"),
            (helper / "keras_image_helper", ROOT / "scripts" / "seed_function.py"),
            "COPY keras_image_helper ${LAMBDA_TASK_ROOT}/keras_image_helper\n"
            # pip byte-compiles what it installs (timestamp mode); the seed's handler file is copied as is
            "RUN python3 -m compileall -q ${LAMBDA_TASK_ROOT}/keras_image_helper\n"
            "COPY seed_function.py ${LAMBDA_TASK_ROOT}/\n"
            'CMD ["seed_function.lambda_handler"]\n',
            "seed",
        )


def build_floors(models: tuple[str, ...]) -> None:
    """cs19-floor-<kind>: the after image plus scripts/floor_function.py as its handler."""
    null_after = tag("null", MODELS[0], "none", "after")
    jobs = [("boot", null_after), ("null", null_after)]
    for model in models:
        jobs += [(f"{k}:{model}-{v}", tag(k, model, v, "after")) for k, v in CELLS if k != "null"]
    for floor, src in jobs:
        kind = floor.split(":")[0]
        t = f"{LABEL}-floor-{floor}" if ":" in floor else f"{LABEL}-floor-{floor}:{MODELS[0]}-none"
        build_on_top(
            src,
            t,
            (ROOT / "scripts" / "floor_function.py",),
            "COPY floor_function.py ${LAMBDA_TASK_ROOT}/\n"
            "RUN python3 -m compileall -q --invalidation-mode unchecked-hash "
            "${LAMBDA_TASK_ROOT}/floor_function.py\n"
            f'ENV FLOOR={kind}\nCMD ["floor_function.handler"]\n',
            "floor",
        )


# --------------------------------------------------------------------------------------------- run
def plan(models: tuple[str, ...]) -> list[dict[str, str]]:
    """Every measured image: before/after cells, after+warm-up cells, floors."""
    out = []
    for model in models:
        for kind, variant in CELLS:
            if kind == "null" and model != MODELS[0]:
                continue
            for label in ("before", "after"):
                out.append(dict(label=label, kind=kind, model=model, variant=variant,
                                tag=tag(kind, model, variant, label), env=""))  # fmt: skip
            if kind in WARMUP_KINDS:
                out.append(dict(label="after+warmup", kind=kind, model=model, variant=variant,
                                tag=tag(kind, model, variant, "after"), env="MODEL_WARMUP=1"))  # fmt: skip
            floor = "null" if kind == "null" else f"{kind}:{model}-{variant}"
            t = f"{LABEL}-floor-{floor}" if ":" in floor else f"{LABEL}-floor-null:{MODELS[0]}-none"
            out.append(dict(label="floor", kind=kind, model=model, variant=variant, tag=t, env=""))
    for model in models:
        out.append(dict(label="seed", kind="seed", model=model, variant="float32",
                        tag=tag("seed", model, "float32", "seed"), env=""))  # fmt: skip
    boot = f"{LABEL}-floor-boot:{MODELS[0]}-none"
    out.append(dict(label="floor", kind="boot", model="", variant="", tag=boot, env=""))
    return out


def event() -> dict:
    import base64

    root = Path(os.environ.get("CLOTHING_DATASET", ROOT / "data" / "clothing-dataset-small"))
    found = sorted((root / "test").glob("*/*.jpg"))
    if not found:
        raise SystemExit(f"no test images under {root}/test: set CLOTHING_DATASET or run `make data`")
    img = found[0]
    return {"image_b64": base64.b64encode(img.read_bytes()).decode(), "meta": True}


def one(cell: dict[str, str], cpus: float, memory_mb: int, ev: dict) -> dict:
    env = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb)}
    if cell["env"]:
        k, _, v = cell["env"].partition("=")
        env[k] = v
    row: dict = {"cpus": cpus, "memory_mb": memory_mb, "loadavg1": os.getloadavg()[0]}
    c = docker.Emulator(cell["tag"], memory_mb, cpus, env=env, labels={LABEL: "run"}, http_timeout_s=120)
    try:
        t0 = time.perf_counter()
        c.start()
        c.wait_ready(120)
        t1 = time.perf_counter()
        ans = c.invoke(ev)
        t2 = time.perf_counter()
        if not ans.ok:
            raise RuntimeError(f"{ans.error_type}: {str(ans.body)[:200]}")
        meta = ans.meta
        warm_inf, warm_client = [], []
        for _ in range(3):
            w0 = time.perf_counter()
            a = c.invoke(ev)
            warm_client.append((time.perf_counter() - w0) * 1000)
            warm_inf.append(float(a.meta.get("inference_ms", 0.0)))
        peak = c.peak_memory_bytes()
        logs = c.logs(tail=10**6)
        init = INIT_RE.search(logs)
        reports = REPORT_RE.findall(logs)
        row.update(
            container_ms=(t1 - t0) * 1000,
            first_request_ms=(t2 - t1) * 1000,
            cold_total_ms=(t2 - t0) * 1000,
            init_report_ms=float(init.group(1)) if init else None,
            first_report_ms=float(reports[0]) if reports else None,
            handler_init_ms=meta.get("init_ms"),
            library_import_ms=meta.get("library_import_ms"),
            load_ms=meta.get("load_ms"),
            warmup_ms=meta.get("warmup_ms"),
            first_preprocess_ms=meta.get("preprocess_ms"),
            first_inference_ms=meta.get("inference_ms"),
            warm_inference_ms=sorted(warm_inf)[1],
            warm_client_ms=sorted(warm_client)[1],
            peak_mb=peak / 2**20 if peak else None,
        )
        if meta.get("cold") is not True:
            row["error"] = f"cold={meta.get('cold')!r}"
    except Exception as e:  # recorded, not fatal: one bad sample must not end a 20-minute run
        row["error"] = f"{type(e).__name__}: {e}"[:300]
    finally:
        c.remove()
    return row


def run(
    models: tuple[str, ...],
    rounds: int,
    seed: int,
    out: Path,
    configs: tuple[tuple[float, int], ...] = CONFIGS,
    warmup: bool = True,
) -> None:
    """``rounds`` interleaved rounds over every cell at each (cpus, memory) of ``configs``; ``warmup``
    False leaves out the after+warmup cells (a shorter run once the warm-up decision is made)."""
    chosen = [c for c in plan(models) if warmup or c["label"] != "after+warmup"]
    cells = [(cell, cpus, mem) for cell in chosen for cpus, mem in configs]
    missing = sorted({c["tag"] for c, _, _ in cells if docker.image_id(c["tag"]) is None})
    if missing:
        raise SystemExit(f"images missing (run `python scripts/coldstart.py build`): {missing}")
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    ev = event()
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for r in range(rounds):
            order = cells[:]
            rng.shuffle(order)
            for i, (cell, cpus, mem) in enumerate(order):
                row = one(cell, cpus, mem, ev)
                row.update(run_id=run_id, round=r, order=i, **cell)
                w.writerow({k: _fmt(row.get(k)) for k in FIELDS})
                f.flush()
                log(
                    f"[{r + 1}/{rounds} {i + 1}/{len(order)}] {cell['tag']} {cell['env']} @{mem}: "
                    f"init {_fmt(row.get('init_report_ms'))} total {_fmt(row.get('cold_total_ms'))} "
                    f"{row.get('error') or ''}"
                )


def _fmt(v: object) -> object:
    return round(v, 2) if isinstance(v, float) else ("" if v is None else v)


def coldpath(tags: list[str]) -> dict[str, list[str]]:
    """scripts/coldpath_probe.py inside each image (its own python): the cold path there."""
    ev = event()
    out = {}
    probe = (ROOT / "scripts" / "coldpath_probe.py").read_text()
    for t in tags:
        b64 = f"COLDPATH_IMAGE_B64={ev['image_b64']}"
        proc = subprocess.run(
            ["docker", "run", "--rm", "-i", "--network", "none", "-e", b64,
             "-w", "/var/task", "--entrypoint", "python3", t, "-"],
            input=probe, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(f"{t}: {proc.stderr[-1000:]}")
        out[t] = json.loads(proc.stdout.strip().splitlines()[-1])["new"]
    return out


MODELLOAD_CSV = ROOT / "results" / "coldstart-modelload.csv"
#: (runtime, artefact, option) per model: what main did, and the alternatives for the load decision
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


def modelload(models: tuple[str, ...], trials: int, cpus: float, memory_mb: int, seed: int) -> None:
    """scripts/modelload.py inside the after images, one fresh container per trial, options interleaved:
    import, load, first and second inference per load option (results/coldstart-modelload.csv)."""
    script = (ROOT / "scripts" / "modelload.py").read_text()
    jobs = [(m, *o) for m in models for o in LOAD_OPTIONS for _ in range(trials)]
    random.Random(seed).shuffle(jobs)
    fields = ("model", "runtime", "artefact", "option", "cpus", "memory_mb", "import_ms", "load_ms",
              "first_ms", "second_ms", "warm_ms", "mapped", "rss_mb", "peak_rss_mb", "rss_anon_mb",
              "rss_file_mb", "loadavg1")  # fmt: skip
    ort_files = {m: ort_format(ROOT / "build" / "models" / m / "float32.onnx") for m in models}
    with open(MODELLOAD_CSV, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for i, (model, runtime, art, option) in enumerate(jobs):
            kind = "tflite" if runtime == "tflite" else "onnx"
            t = tag(kind, model, art.rsplit(".", 1)[0], "after")
            load = os.getloadavg()[0]
            mount = ["-v", f"{ort_files[model]}:/var/task/model/{art}.ort:ro"] if runtime == "onnx" else []
            proc = subprocess.run(
                ["docker", "run", "--rm", "-i", "--network", "none", "--read-only", "--tmpfs", "/tmp",
                 f"--cpus={cpus}", f"--memory={memory_mb}m", *mount, "--entrypoint", "python3", t,
                 "-", runtime, f"/var/task/model/{art}", option, "1"],
                input=script, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            if proc.returncode != 0:
                log(f"{t} {option}: {proc.stderr[-300:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            row = {
                "model": model,
                "artefact": art,
                "cpus": cpus,
                "memory_mb": memory_mb,
                "loadavg1": load,
                **r,
            }
            w.writerow({k: row.get(k) for k in fields})
            f.flush()
            log(f"[{i + 1}/{len(jobs)}] {model} {art} {option}: load {r['load_ms']} warm {r['warm_ms']}")


IMPORTS_CSV = ROOT / "results" / "coldstart-imports.csv"
ORTWARM_CSV = ROOT / "results" / "coldstart-ortwarm.csv"


def ortwarm(models: tuple[str, ...], trials: int, cpus: float, memory_mb: int) -> None:
    """scripts/ortwarm.py in the after ONNX images: .onnx (ALL) vs ORT format, one process, alternated."""
    script = (ROOT / "scripts" / "ortwarm.py").read_text()
    with open(ORTWARM_CSV, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=("model", "trial", "cpus", "onnx_all_ms", "ort_all_ms", "loadavg1"))
        w.writeheader()
        for model in models:
            ort_file = ort_format(ROOT / "build" / "models" / model / "float32.onnx")
            for i in range(trials):
                load = os.getloadavg()[0]
                proc = subprocess.run(
                    ["docker", "run", "--rm", "-i", "--network", "none", f"--cpus={cpus}",
                     f"--memory={memory_mb}m", "-v", f"{ort_file}:/var/task/model/float32.onnx.ort:ro",
                     "--entrypoint", "python3", tag("onnx", model, "float32", "after"),
                     "-", "/var/task/model/float32.onnx", "10"],
                    input=script, capture_output=True, text=True, timeout=900,
                )  # fmt: skip
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                w.writerow(dict(model=model, trial=i, cpus=cpus, onnx_all_ms=r["onnx:ALL"],
                                ort_all_ms=r["ort:ALL"], loadavg1=load))  # fmt: skip
                f.flush()
                log(f"{model} {i}: {r}")


def imports(trials: int, cpus: float, memory_mb: int) -> None:
    """``python3 -X importtime -c 'import lambda_function'`` in the null before/after images, alternating,
    one fresh container each: the handler's import cost and the URL fetch stack's share of it, paired
    so that the machine's load drifts over both alike (results/coldstart-imports.csv)."""
    fields = ("label", "trial", "cpus", "memory_mb", "handler_import_ms", "fetch_import_ms", "modules",
              "loadavg1")  # fmt: skip
    with open(IMPORTS_CSV, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for i in range(trials):
            for label in ("before", "after") if i % 2 == 0 else ("after", "before"):
                load = os.getloadavg()[0]
                proc = subprocess.run(
                    ["docker", "run", "--rm", "--network", "none", f"--cpus={cpus}", f"--memory={memory_mb}m",
                     "-w", "/var/task", "--entrypoint", "python3", tag("null", MODELS[0], "none", label),
                     "-X", "importtime", "-c", "import lambda_function"],
                    capture_output=True, text=True, timeout=300,
                )  # fmt: skip
                cum = {}
                for line in proc.stderr.splitlines():
                    if line.startswith("import time:") and line.count("|") == 2:
                        _, c, name = line[len("import time:") :].split("|")
                        if c.strip().isdigit():
                            cum[name.strip()] = int(c) / 1000
                w.writerow(dict(label=label, trial=i, cpus=cpus, memory_mb=memory_mb, loadavg1=load,
                                handler_import_ms=cum.get("lambda_function"), modules=len(cum),
                                fetch_import_ms=cum.get("runtimes.fetch")))  # fmt: skip
                f.flush()
                log(f"{label} {i}: import {cum.get('lambda_function')} fetch {cum.get('runtimes.fetch')}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--before", default="main")
    b.add_argument("--after", default="HEAD")
    b.add_argument("--floors-only", action="store_true")
    r = sub.add_parser("run")
    r.add_argument("--rounds", type=int, default=5)
    r.add_argument("--seed", type=int, default=19)
    r.add_argument("--out", type=Path, default=CSV_PATH)
    r.add_argument("--memory", default=",".join(str(m) for _, m in CONFIGS), help="of 1024,1769")
    r.add_argument("--no-warmup", action="store_true", help="leave out the after+warmup cells")
    sub.add_parser("coldpath")
    ow = sub.add_parser("ortwarm")
    ow.add_argument("--trials", type=int, default=3)
    ow.add_argument("--models", default=",".join(MODELS))
    im = sub.add_parser("imports")
    im.add_argument("--trials", type=int, default=10)
    im.add_argument("--cpus", type=float, default=0.58)
    im.add_argument("--memory", type=int, default=1024)
    ml = sub.add_parser("modelload")
    ml.add_argument("--trials", type=int, default=5)
    ml.add_argument("--cpus", type=float, default=1.0)
    ml.add_argument("--memory", type=int, default=1769)
    ml.add_argument("--seed", type=int, default=19)
    sub.add_parser("clean")
    for p in (b, r, ml):
        p.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args(argv)
    if args.cmd == "build":
        models = tuple(args.models.split(","))
        if args.floors_only:
            build_floors(models)
        else:
            build({"before": args.before, "after": args.after}, models)
    elif args.cmd == "run":
        mems = {int(m) for m in args.memory.split(",")}
        if unknown := mems - {m for _, m in CONFIGS}:  # an empty run would overwrite the CSV with nothing
            raise SystemExit(f"--memory {sorted(unknown)}: not among {[m for _, m in CONFIGS]}")
        configs = tuple(c for c in CONFIGS if c[1] in mems)
        run(tuple(args.models.split(",")), args.rounds, args.seed, args.out, configs, not args.no_warmup)
    elif args.cmd == "modelload":
        modelload(tuple(args.models.split(",")), args.trials, args.cpus, args.memory, args.seed)
    elif args.cmd == "ortwarm":
        ortwarm(tuple(args.models.split(",")), args.trials, 1.0, 1769)
    elif args.cmd == "imports":
        imports(args.trials, args.cpus, args.memory)
    elif args.cmd == "coldpath":
        tags = [tag("null", MODELS[0], "none", lab) for lab in ("before", "after")]
        res = coldpath(tags)
        before, after = set(res[tags[0]]), set(res[tags[1]])
        from tests.support import coldpath_allowlist as allow

        diff = {"removed": sorted(before - after), "added": sorted(after - before)}
        unexplained = sorted(m for m in after if allow.reason(m) is None)
        report = {"before_n": len(before), "after_n": len(after), **diff, "after_unexplained": unexplained}
        print(json.dumps(report, indent=1))
    elif args.cmd == "clean":
        print("removed", docker.remove_labelled(LABEL), "containers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
