"""The cold-start study as a scenario on the container target: before vs after vs floors, interleaved.

Why it is shaped this way (docs/coldstart.md says what it found):

* Before and after are built by each commit's own images/build.py (``git archive`` of the ref into
  build/coldstart/<label>/, sharing build/models and the wheelhouse), tagged
  ``coldstart-<kind>:<model>-<variant>-<label>`` so no project tag (clothing-*, lambda-base:*) is touched.
* Floors are bare handlers (scripts/floor_function.py) on top of the after images, seed-style images the
  lesson's handler (scripts/seed_function.py) on the after tflite-runtime image: Dockerfile.floor and
  Dockerfile.seed of this folder with the source image as a build argument, so a ratio to them is the
  handler's own cost on the same files, python and libraries.
* Every (image, memory) cell gets one cold start per round, rounds in a fresh random order: on a shared
  2-core machine the load drifts, and interleaving spreads it over all cells alike (ratios within one run).
* A cold sample is the container target's cold start (the benchmark's: docker run -> emulator answers ->
  first invoke), then 3 warm invokes, peak memory and the emulator's INIT REPORT / REPORT lines read by
  the target's one log parser; the container is removed.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measure.coldstart import records as rec
from bench.measure.targets import container as ct
from bench.measure.targets.base import Launch
from core import catalogue
from core.catalogue import LABEL
from core.paths import ROOT
from infra import docker

HERE = Path(__file__).resolve().parent
WORK = ROOT / "build" / "coldstart"
#: docker label on the study's images and its containers' session
STUDY_LABEL = f"{LABEL}.coldstart-study"
SESSION = "coldstart-study"
REPOSITORY = "coldstart"
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
WARMUP_ENV = "MODEL_WARMUP=1"
#: keras-image-helper, the seed's preprocessing package (pure python), pinned
SEED_HELPER = "keras-image-helper==0.0.2"
Log = Callable[[str], object]


def log(msg: str) -> None:
    print(msg, flush=True)


def tag(kind: str, model: str, variant: str, label: str) -> str:
    """A study image: ``coldstart-<kind>:<model>-<variant>-<before|after|seed>``."""
    return f"{REPOSITORY}-{kind}:{model}-{variant}-{label}"


def floor_tag(kind: str, model: str = MODELS[0], variant: str = "none") -> str:
    """A floor image: ``coldstart-floor-<boot|null>:reference-none``, else
    ``coldstart-floor-<kind>:<model>-<variant>``."""
    if kind in ("boot", "null"):
        return f"{REPOSITORY}-floor-{kind}:{MODELS[0]}-none"
    return f"{REPOSITORY}-floor-{kind}:{model}-{variant}"


def _measured(model: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in CELLS if k != "null" or model == MODELS[0]]


# ------------------------------------------------------------------------------------------- build
def export_tree(label: str, ref: str) -> Path:
    """``ref``'s files in build/coldstart/<label>/, sharing this checkout's build/models and wheelhouse."""
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
    return d


def build_project_image(tree: Path, ref: str, kind: str, model: str, variant: str, t: str) -> None:
    """One project image built by ``tree``'s own images/build.py (``ref``'s code), tagged ``t``."""
    code = (
        "from images import build as b; "
        f"r = b.build_one({kind!r}, {model!r}, {variant!r}, measure=False, tag={t!r}); "
        "print(r.tag, r.status, round(r.bytes / 1e6, 1), 'MB')"
    )
    log(f"build {t} from {ref}")
    subprocess.run([sys.executable, "-c", code], cwd=tree, check=True)


def build_variant(dockerfile: str, t: str, files: Sequence[Path], args: dict[str, str], role: str) -> None:
    """Image ``t`` from this folder's ``dockerfile`` with ``files`` in its context and build ``args``."""
    with tempfile.TemporaryDirectory() as d:
        for f in files:
            (shutil.copytree if f.is_dir() else shutil.copy2)(f, Path(d) / f.name)
        shutil.copy2(HERE / dockerfile, Path(d) / "Dockerfile")
        log(f"build {t}")
        docker.build(Path(d), t, {STUDY_LABEL: role}, args)


def build_floors(models: Sequence[str]) -> None:
    """The floors: each after image plus scripts/floor_function.py as its handler (Dockerfile.floor)."""
    null_after = tag("null", MODELS[0], "none", "after")
    jobs = [("boot", floor_tag("boot"), null_after), ("null", floor_tag("null"), null_after)]
    for model in models:
        jobs += [(k, floor_tag(k, model, v), tag(k, model, v, "after")) for k, v in CELLS if k != "null"]
    for kind, t, src in jobs:
        files = (ROOT / "scripts" / "floor_function.py",)
        build_variant("Dockerfile.floor", t, files, {"SOURCE": src, "FLOOR": kind}, "floor")


def build_seed(ref: str, models: Sequence[str]) -> None:
    """The seed's stack (tflite-runtime 2.14 on python 3.11, numpy, Pillow, keras-image-helper) with
    scripts/seed_function.py as its handler, on ``ref``'s tflite-runtime image (Dockerfile.seed)."""
    helper = WORK / "keras-image-helper"
    if not (helper / "keras_image_helper").is_dir():
        pip = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(helper),
            SEED_HELPER,
        ]
        subprocess.run(pip, check=True)
    files = (helper / "keras_image_helper", ROOT / "scripts" / "seed_function.py")
    for model in models:
        src = tag("tflite-runtime", model, "float32", "after")
        build_project_image(WORK / "after", ref, "tflite-runtime", model, "float32", src)
        build_variant(
            "Dockerfile.seed", tag("seed", model, "float32", "seed"), files, {"SOURCE": src}, "seed"
        )


def build(refs: dict[str, str], models: Sequence[str]) -> None:
    """Before and after images from their commits, then the floors and the seed-style images."""
    for label, ref in refs.items():
        tree = export_tree(label, ref)
        for model in models:
            for kind, variant in _measured(model):
                build_project_image(tree, ref, kind, model, variant, tag(kind, model, variant, label))
    build_floors(models)
    build_seed(refs["after"], models)


# --------------------------------------------------------------------------------------------- run
@dataclass(frozen=True)
class StudyImage:
    """One image the study measures (a point of the study is one at a memory size and CPU share) and what
    it is: its label (before, after, after+warmup, floor,
    seed), image kind, model, variant, and the environment variable its variant adds."""

    label: str
    kind: str
    model: str
    variant: str
    tag: str
    env: str = ""

    def env_map(self) -> dict[str, str]:
        k, _, v = self.env.partition("=")
        return {k: v} if k else {}


def _model_cells(model: str) -> list[StudyImage]:
    out = []
    for kind, variant in _measured(model):
        for label in ("before", "after"):
            out.append(StudyImage(label, kind, model, variant, tag(kind, model, variant, label)))
        if kind in WARMUP_KINDS:
            t = tag(kind, model, variant, "after")
            out.append(StudyImage("after+warmup", kind, model, variant, t, WARMUP_ENV))
        out.append(StudyImage("floor", kind, model, variant, floor_tag(kind, model, variant)))
    return out


def plan(models: Sequence[str]) -> list[StudyImage]:
    """Every measured image: before/after cells, after+warm-up cells, floors, seed-style, boot floor."""
    out = [c for model in models for c in _model_cells(model)]
    out += [StudyImage("seed", "seed", m, "float32", tag("seed", m, "float32", "seed")) for m in models]
    out.append(StudyImage("floor", "boot", "", "", floor_tag("boot")))
    return out


def test_image() -> Path:
    """The first test-split image of the dataset (CLOTHING_DATASET): every cold start answers it."""
    root = Path(os.environ.get("CLOTHING_DATASET", ROOT / "data" / "clothing-dataset-small"))
    found = sorted((root / "test").glob("*/*.jpg"))
    if not found:
        raise SystemExit(f"no test images under {root}/test: set CLOTHING_DATASET or run `make data`")
    return found[0]


def event() -> dict[str, Any]:
    return ct.event_for(test_image().read_bytes())


def target() -> ct.ContainerTarget:
    return ct.ContainerTarget(SESSION, http_timeout_s=120, start_timeout_s=120)


def _figures(meta: dict[str, Any], warm: list[Any], c: ct.ContainerInstance) -> dict[str, Any]:
    """What the first answer's ``meta``, three warm answers and the container's log and cgroup say."""
    platform, peak = c.platform_log(), c.peak_memory_bytes()
    return dict(
        init_report_ms=platform.init_ms,
        first_report_ms=platform.reports[0].duration_ms if platform.reports else None,
        handler_init_ms=meta.get("init_ms"),
        library_import_ms=meta.get("library_import_ms"),
        load_ms=meta.get("load_ms"),
        warmup_ms=meta.get("warmup_ms"),
        first_preprocess_ms=meta.get("preprocess_ms"),
        first_inference_ms=meta.get("inference_ms"),
        warm_inference_ms=sorted(float(a.meta.get("inference_ms", 0.0)) for a in warm)[1],
        warm_client_ms=sorted(a.client_ms for a in warm)[1],
        peak_mb=peak / 2**20 if peak else None,
    )


def measure_one(
    t: ct.ContainerTarget, cell: StudyImage, cpus: float, memory_mb: int, ev: dict[str, Any]
) -> dict[str, Any]:
    """One cold sample of ``cell`` at (cpus, memory): the row's figures, or its error (recorded, not
    fatal: one bad sample must not end a 20-minute run)."""
    row: dict[str, Any] = {"cpus": cpus, "memory_mb": memory_mb, "loadavg1": os.getloadavg()[0]}
    try:
        got = t.cold_start(Launch(cell.tag, memory_mb, cpus), ev, env=cell.env_map(), keep=True)
        if got.sample is None:
            return row | {"error": str(got.rejected)}
        c = got.instance
        assert isinstance(c, ct.ContainerInstance)
        with c:
            warm = [c.invoke(ev) for _ in range(3)]
            row.update(_figures(got.extras["meta"], warm, c))
        s = got.sample
        row.update(container_ms=s.start_ms, first_request_ms=s.first_request_ms, cold_total_ms=s.total_ms)
    except Exception as e:
        row["error"] = f"{type(e).__name__}: {e}"[:300]
    return row


def image_cells(tags: Sequence[str]) -> list[StudyImage]:
    """Project images (clothing-<kind>:<model>-<variant>) as cells labelled ``image``: the same cold-start
    scenario on images built outside the study (a short run, a check of a fresh build)."""
    cells = []
    for t in tags:
        parsed = catalogue.parse_tag(t)
        if parsed is None:
            raise SystemExit(f"{t}: not a project image tag (clothing-<kind>:<model>-<variant>)")
        cells.append(StudyImage("image", parsed.kind, parsed.model, parsed.variant, t))
    return cells


def _points(
    cells: Sequence[StudyImage], configs: Sequence[tuple[float, int]], warmup: bool
) -> list[tuple[StudyImage, float, int]]:
    chosen = [c for c in cells if warmup or c.label != "after+warmup"]
    return [(cell, cpus, mem) for cell in chosen for cpus, mem in configs]


def run(
    models: Sequence[str],
    rounds: int,
    seed: int,
    out: Path,
    configs: Sequence[tuple[float, int]] = CONFIGS,
    warmup: bool = True,
    cells: Sequence[StudyImage] | None = None,
) -> None:
    """``rounds`` interleaved rounds over every cell (``plan(models)`` unless ``cells``) at each (cpus,
    memory) of ``configs``; ``warmup`` False leaves out the after+warmup cells (a shorter run once the
    warm-up decision is made)."""
    points = _points(plan(models) if cells is None else cells, configs, warmup)
    missing = sorted({c.tag for c, _, _ in points if docker.image_id(c.tag) is None})
    if missing:
        raise SystemExit(f"images missing (run `python scripts/coldstart.py build`): {missing}")
    run_id, ev, rng, t = (
        time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        event(),
        random.Random(seed),
        target(),
    )
    with rec.Appender(out, rec.ColdSampleRow, digits=2) as csv_out:
        for r in range(rounds):
            order = points[:]
            rng.shuffle(order)
            for i, (cell, cpus, mem) in enumerate(order):
                row = rec.ColdSampleRow(
                    run_id=run_id, round=r, order=i, label=cell.label, kind=cell.kind, model=cell.model,
                    variant=cell.variant, tag=cell.tag, env=cell.env, **measure_one(t, cell, cpus, mem, ev),
                )  # fmt: skip
                csv_out.add(row)
                log(
                    f"[{r + 1}/{rounds} {i + 1}/{len(order)}] {cell.tag} {cell.env} @{mem}: "
                    f"init {_ms(row.init_report_ms)} total {_ms(row.cold_total_ms)} {row.error}"
                )


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"
