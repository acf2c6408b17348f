"""`make package`: the zip + layer form of the TFLite (LiteRT) function, for the python3.13 managed runtime.

Two archives per model/variant, checked against Lambda's documented limits
(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html: 50 MB zipped for a direct
upload through the Lambda API, else via S3; 250 MB for the unzipped function plus all its layers):

* ``layer-<arch>.zip``: the runtime's dependencies (LiteRT, numpy, Pillow) under ``python/``, the layer
  path Lambda puts on sys.path for python runtimes (``/opt/python``). They are the very tree the TFLite
  image of the same model ships: ``images.build.wheelhouse`` resolves requirements/image-tflite.txt plus
  the card's loader extras (images/extras.py: simplejpeg for a ``dataset`` card, nothing for the bundled
  models) for python 3.13 and the architecture (host pip, ``--platform manylinux..._<machine>
  --only-binary=:all:``) and prunes it with the images' lists (``PRUNE_ALWAYS`` + the tflite spec's
  ``prune``). One layer per architecture: wheels carry native code; the layer belongs with its model.
* ``function.zip``: lambda_function.py, runtimes/, core/, and model/ (artefact, card.json,
  manifest.json): the same files the image has under /var/task.

Both are byte-compiled by the python3.13 of the stand-in base (``lambda-base:3.13``) with
``--invalidation-mode unchecked-hash``: /opt and /var/task are read-only on Lambda, so without .pyc each
cold start would compile every module it imports, and timestamp-checked .pyc would go stale because a zip
keeps modification times only to 2 s. Entries are sorted with fixed dates, so the same inputs give the
same bytes (a deploy can compare hashes instead of re-uploading).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from core.catalogue import ARCH_NAMES, DEFAULT_ARCH, IMAGES, LABEL, PACKAGING_FORMS, runtime_of
from core.contracts import ContractError, PackageSummary, Winner
from core.fileio import atomic_path
from core.paths import ROOT, WINNER_JSON
from images import base as baselib
from images import build as imgbuild
from images.specs import BASES
from infra import docker
from models import registry

OUT = ROOT / "build" / "package"
FORM = PACKAGING_FORMS["zip"]
SPEC = IMAGES[FORM.kinds[0]]  # the image kind the zip carries: LiteRT on python 3.13
#: Lambda quotas (gettingstarted-limits): "MB" there is MiB.
ZIPPED_DIRECT_LIMIT = 50 * 1024 * 1024
UNZIPPED_LIMIT = 250 * 1024 * 1024
FIXED_DATE = (2020, 1, 1, 0, 0, 0)
#: Lambda's architectures, one layer each (wheels carry native code), in the order package.json lists them.
ARCHS = tuple(sorted(ARCH_NAMES))


class PackageError(RuntimeError):
    """Packaging cannot proceed; the message says what to run."""


@dataclass
class Archive:
    path: str
    zipped_bytes: int
    unzipped_bytes: int
    files: int


def _copy_tree(src: Path, dst: Path) -> None:
    """Hard links where possible (same filesystem), copies otherwise."""
    shutil.copytree(src, dst, copy_function=_link_or_copy, dirs_exist_ok=True)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def byte_compile(root: Path, base: str = BASES["3.13"].local_tag) -> None:
    """Compile every .py under ``root`` with the base image's python3.13 (the host runs another python)."""
    if docker.image_id(base) is None:
        raise PackageError(f"{base} is not present: run `make base`")
    proc = docker.run(
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        f"{root}:/pkg",
        "--entrypoint",
        "python3",
        base,
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        "/pkg",
        check=False,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise PackageError(f"byte-compiling {root} failed:\n{proc.stdout}{proc.stderr}")


def write_zip(tree: Path, dest: Path) -> Archive:
    """Zip ``tree``'s contents (sorted, fixed dates, modes kept) into ``dest``."""
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    unzipped = 0
    with atomic_path(dest) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for f in files:
            info = zipfile.ZipInfo(f.relative_to(tree).as_posix(), FIXED_DATE)
            info.external_attr = (f.stat().st_mode & 0o777 | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(f, "rb") as fh:
                data = fh.read()
            z.writestr(info, data, compresslevel=9)
            unzipped += len(data)
    shown = dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest
    return Archive(str(shown), dest.stat().st_size, unzipped, len(files))


def build_layer(arch: str, work: Path, out: Path = OUT, extra: tuple[str, ...] = ()) -> Archive:
    """``extra``: the model's card's pins (images.build.card_extras), resolved into the layer as into the
    model's image; with none (the bundled models), the layer is the requirements' tree alone."""
    site = imgbuild.wheelhouse(SPEC, arch, extra)
    stage = work / f"layer-{arch}"
    _copy_tree(site, stage / "python")
    byte_compile(stage)
    return write_zip(stage, out / f"layer-{arch}.zip")


def model_files(model: str, variant: str) -> tuple[Path, str]:
    """(the model's build folder, its artefact for ``variant``), as the TFLite image takes them."""
    try:
        return imgbuild.artefacts(registry.model_name(model), SPEC, variant)
    except imgbuild.BuildError as e:
        raise PackageError(str(e)) from None


def build_function(model: str, variant: str, work: Path, out: Path = OUT) -> Archive:
    folder, art = model_files(model, variant)
    stage = work / "function"
    (stage / "model").mkdir(parents=True)
    for item in dict.fromkeys([art, "card.json", "manifest.json"]):
        if (folder / item).exists():
            shutil.copy2(folder / item, stage / "model" / item)
    for rel, src in imgbuild.shipped_files():  # the handler files the images copy
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, stage / rel)
    byte_compile(stage)
    return write_zip(stage, out / "function.zip")  # template.yaml's CodeUri; package.json names what


def check_limits(function: Archive, layer: Archive) -> list[str]:
    """Lines of the limit check; a line starting with FAIL means Lambda would refuse it."""
    lines = []
    for a in (function, layer):
        ok = a.zipped_bytes <= ZIPPED_DIRECT_LIMIT
        lines.append(
            f"{'ok  ' if ok else 'FAIL'} {a.path}: {mib(a.zipped_bytes)} zipped (direct upload "
            f"limit {mib(ZIPPED_DIRECT_LIMIT)}{'' if ok else '; upload it via S3'})"
        )
    total = function.unzipped_bytes + layer.unzipped_bytes
    ok = total <= UNZIPPED_LIMIT
    lines.append(
        f"{'ok  ' if ok else 'FAIL'} unzipped function + layer: {mib(total)} "
        f"(limit {mib(UNZIPPED_LIMIT)}, {100 * total / UNZIPPED_LIMIT:.0f} % used)"
    )
    return lines


def mib(n: int) -> str:
    """Lambda's quotas say MB and mean MiB (gettingstarted-limits), so figures are printed in MiB."""
    return f"{n / 2**20:.1f} MiB"


def package(model: str, variant: str, archs: list[str], out: Path = OUT) -> dict:
    """Build the function zip and one layer per arch into ``out``; write its package.json and return it."""
    folder, _ = model_files(model, variant)
    extra = imgbuild.card_extras(folder)  # what the model's image would add: the layer adds the same
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".stage-", dir=out))
    try:
        function = build_function(model, variant, work, out)
        layers = {arch: build_layer(arch, work, out, extra) for arch in archs}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {
        "runtime": FORM.managed_runtime,
        "model": registry.model_name(model),
        "variant": variant,
        "extras": list(extra),
        "function": asdict(function),
        "layers": {a: asdict(x) for a, x in layers.items()},
        "checks": {a: check_limits(function, x) for a, x in layers.items()},
    }
    PackageSummary.save(out, summary)
    return summary


#: The zip run as an image: the base with the function at /var/task and the layer at /opt, PYTHONPATH as
#: the managed python runtime sets it (the stand-in base does not). Locally the same mechanism as an image.
ZIP_DOCKERFILE = """ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY opt/ /opt/
COPY task/ /var/task/
ARG MODEL_RUNTIME
ARG MODEL_ARTEFACT
ARG MODEL_VARIANT
ENV PYTHONPATH=/opt/python MODEL_RUNTIME=${MODEL_RUNTIME} MODEL_PATH=/var/task/model/${MODEL_ARTEFACT} \\
    MODEL_VARIANT=${MODEL_VARIANT}
CMD ["lambda_function.lambda_handler"]
"""
LOCAL_REPO = FORM.local_repo  # not clothing-*: the container bench discovers clothing-* images as cells


def local_image(folder: Path = OUT, arch: str = DEFAULT_ARCH) -> str:
    """An image of the packaged zip + layer as Lambda lays them out, so the Emulator (deploy's local check,
    the zip bench cell) runs it exactly as it runs the images. Tagged by the archives' hash: rebuilt only
    when `make package` changed them."""
    summary = PackageSummary.load(folder)
    archives = [folder / "function.zip", folder / f"layer-{arch}.zip"]
    digest = imgbuild.sha256_bytes(*(a.read_bytes() for a in archives))[:12]
    tag = f"{LOCAL_REPO}:{summary.model}-{summary.variant}-{arch}-{digest}"
    if docker.image_id(tag):
        return tag
    ctx = Path(tempfile.mkdtemp(prefix=".zip-image-", dir=folder))
    try:
        for archive, dest in zip(archives, ("task", "opt"), strict=True):
            with zipfile.ZipFile(archive) as z:
                z.extractall(ctx / dest)
        (ctx / "Dockerfile").write_text(ZIP_DOCKERFILE)
        args = {
            "BASE_IMAGE": baselib.base_image(SPEC.python, arch),
            "MODEL_RUNTIME": runtime_of(SPEC.name),
            "MODEL_ARTEFACT": FORM.variants[summary.variant],
            "MODEL_VARIANT": summary.variant,
        }
        # no --platform: the legacy builder FROM a base of that architecture (an arm64 image needs the
        # arm64 stand-in base and qemu, as the arm64 image builds do)
        docker.build(ctx, tag, {LABEL: "zip-local"}, args)
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    return tag


def winner_default() -> tuple[str, str]:
    """(model, variant) of results/winner.json when the zip can carry its image (the TFLite one), else the
    reference float32: `make package` and `make deploy` then ship the same model."""
    try:
        w = Winner.load(WINNER_JSON)
    except (OSError, ContractError):
        return "reference", "float32"
    if FORM.carries(w.image_kind, w.variant):
        return w.model or "reference", w.variant
    return "reference", "float32"


def main(argv: list[str] | None = None) -> int:
    model, variant = winner_default()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=model, help="default: the winner's when it is TFLite, else reference")
    ap.add_argument("--variant", default=variant, choices=sorted(FORM.variants), help="default: as --model")
    ap.add_argument("--arch", choices=[*ARCHS, "all"], default="all")
    args = ap.parse_args(argv)
    archs = list(ARCHS) if args.arch == "all" else [args.arch]
    try:
        summary = package(args.model, args.variant, archs)
    except (PackageError, imgbuild.BuildError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    fn = summary["function"]
    print(
        f"function {fn['path']} ({summary['model']} {summary['variant']}): {fn['files']} files, "
        f"{mib(fn['zipped_bytes'])} zipped, {mib(fn['unzipped_bytes'])} unzipped"
    )
    failed = False
    for arch, layer in summary["layers"].items():
        print(
            f"layer {arch} {layer['path']}: {layer['files']} files, {mib(layer['zipped_bytes'])} zipped, "
            f"{mib(layer['unzipped_bytes'])} unzipped"
        )
        for line in summary["checks"][arch]:
            print(f"  {line}")
            failed |= line.startswith("FAIL")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
