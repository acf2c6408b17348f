"""Build the Lambda images: `make build IMAGE=tflite MODEL=xception VARIANT=int8` and `make build-all`.

Why it is shaped this way:

* Containers on the build machine cannot reach PyPI, so each image's pinned requirements are resolved on
  the host for the image's python and platform (`pip install --target --platform ... --only-binary`) into
  build/wheelhouse/<image>-<arch>-<hash of requirements + python + pruning>/, reused while that hash holds.
* Each image is built from a small staged context (build/context/<tag>.<pid>/: deps/ as hard links, model/,
  core/, runtimes/, lambda_function.py) so a build sends only what that image contains.
* An image whose inputs (Dockerfile, base image id, deps, artefact, handler, build args) hash to the label
  of the existing tag is not rebuilt at all, and its compressed size comes from a cache keyed by image id,
  so a re-run with nothing changed takes seconds (the cache is infra/docker.py's, shared with bench/).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from core import catalogue, paths
from core.card import artefact_sha256
from core.catalogue import ARCHS, DEFAULT_ARCH, IMAGES, LABEL, ImageSpec
from core.fileio import digest
from core.paths import ROOT
from images import arch as archlib
from images import base as baselib
from images import extras
from images.settings import ImagesSettings
from images.specs import PRUNE_ALWAYS
from infra import docker
from models import registry

BUILD = ROOT / "build"
WHEELHOUSE = BUILD / "wheelhouse"
CONTEXT = BUILD / "context"
CSV_PATH = ROOT / "results" / "images.csv"
CODE = ("lambda_function.py",)
#: The project packages every image and function.zip ship beside CODE: the handler's adapters and the
#: stdlib-only bottom layer they import (core/).
SHIPPED_PACKAGES = ("core", "runtimes")


def shipped_files() -> list[tuple[str, Path]]:
    """(path inside /var/task, source) of the project's code that ships: one list for the image context,
    the image's input digest and images/package.py's function.zip, so they cannot disagree."""
    out = [(f"{pkg}/{py.name}", py) for pkg in SHIPPED_PACKAGES for py in sorted((ROOT / pkg).glob("*.py"))]
    return out + [(name, ROOT / name) for name in CODE]


CSV_FIELDS = (
    "image",
    "tag",
    "model",
    "variant",
    "arch",
    "base",
    "image_id",
    "bytes",
    "gz_bytes",
    "build_s",
    "status",
)
INPUTS_LABEL = f"{LABEL}.inputs"
#: manylinux tags a Lambda (Amazon Linux 2023, glibc 2.34) and the Debian stand-ins can load.
MANYLINUX = ("manylinux_2_34", "manylinux_2_28", "manylinux_2_27", "manylinux_2_17", "manylinux2014")


class BuildError(RuntimeError):
    """A build cannot start or failed; the message says what to do."""


@dataclass
class Result:
    image: str
    tag: str
    model: str
    variant: str
    arch: str
    base: str
    image_id: str
    bytes: int
    gz_bytes: int
    build_s: float
    status: str  # built | cached


def log(msg: str) -> None:
    print(msg, flush=True)


def sha256_bytes(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "big") + p)
    return h.hexdigest()


# --- dependencies -------------------------------------------------------------------------------------


def pip_platform_args(arch: str) -> list[str]:
    machine = ARCHS[arch].machine
    out: list[str] = []
    for tag in MANYLINUX:
        out += ["--platform", f"{tag}_{machine}"]
    return out


def wheelhouse_key(spec: ImageSpec, arch: str, extra: tuple[str, ...] = ()) -> str:
    reqs = spec.requirements_path.read_bytes()
    return sha256_bytes(
        reqs,
        spec.python.encode(),
        arch.encode(),
        " ".join(MANYLINUX).encode(),
        "\n".join((*PRUNE_ALWAYS, *spec.prune)).encode(),
        *(["\n".join(extra).encode()] if extra else []),  # no extra: the key of the requirements alone
    )[:16]


def card_extras(folder: Path) -> tuple[str, ...]:
    """The pins the model in ``folder`` adds to its image or layer (images/extras.py, one answer for both
    forms); a pin requirements/dev.lock lacks is a BuildError, what both forms' callers report."""
    try:
        return extras.card_extras(folder)
    except extras.ExtrasError as e:
        raise BuildError(str(e)) from None


def prune(tree: Path, patterns: tuple[str, ...]) -> None:
    """Delete build tooling and host byte-code from a resolved dependency tree."""
    for pattern in (*PRUNE_ALWAYS, *patterns):
        for p in tree.glob(pattern):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    for p in list(tree.rglob("__pycache__")):
        shutil.rmtree(p, ignore_errors=True)
    for p in tree.rglob("*.pyc"):
        p.unlink()


def wheelhouse(spec: ImageSpec, arch: str = DEFAULT_ARCH, extra: tuple[str, ...] = ()) -> Path:
    """The image's dependency tree, resolved once per requirements hash (pip's cache makes misses cheap).
    ``extra``: full pins a model's card adds (:func:`card_extras`), resolved with the requirements into a
    tree of its own, so the image without them keeps its tree."""
    if not spec.requirements_path.is_file():
        raise BuildError(f"{spec.requirements} is missing")
    name = "+".join([spec.name, *(pin.split("==")[0] for pin in extra)])
    out = WHEELHOUSE / f"{name}-{arch}-{wheelhouse_key(spec, arch, extra)}"
    site = out / "site"
    if site.is_dir():
        return site
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    for old in WHEELHOUSE.glob(f"{name}-{arch}-*"):  # superseded pins: free the space
        shutil.rmtree(old, ignore_errors=True)
    what = " + ".join([spec.requirements, *extra])
    log(f"  deps: resolving {what} for python {spec.python} {arch} (host pip, wheels only)")
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=WHEELHOUSE))
    try:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(tmp / "site"),
            *pip_platform_args(arch),
            "--python-version",
            spec.python,
            "--implementation",
            "cp",
            "--only-binary=:all:",
            "-r",
            str(spec.requirements_path),
            *extra,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"pip could not resolve {spec.requirements}:\n{proc.stdout}{proc.stderr}")
        prune(tmp / "site", spec.prune)
        check_pins(spec, tmp / "site", extra)
        out.mkdir(parents=True)
        (tmp / "site").rename(site)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return site


def check_pins(spec: ImageSpec, site: Path, extra: tuple[str, ...] = ()) -> None:
    """Every installed distribution must be pinned in the requirements file or ``extra`` (full pins, no
    drift)."""
    pinned = {
        k: ver
        for k, (_, ver) in extras.pinned([*spec.requirements_path.read_text().splitlines(), *extra]).items()
    }
    for dist in site.glob("*.dist-info"):
        name, _, ver = dist.name[: -len(".dist-info")].rpartition("-")
        if pinned.get(extras.canonical(name)) != ver:
            raise BuildError(
                f"{spec.requirements}: {name}=={ver} was installed but is not pinned there "
                f"(pinned: {pinned.get(extras.canonical(name))}); add the full pin"
            )


# --- model artefacts ----------------------------------------------------------------------------------


def artefacts(model: str, spec: ImageSpec, variant: str) -> tuple[Path, str]:
    """(build/models/<model>/, artefact name); a missing one stops with what to run."""
    if variant not in spec.variants:
        choices = ", ".join(spec.variants)
        raise BuildError(f"image {spec.name} has no variant {variant!r}; choose one of {choices}")
    folder = paths.model_dir(model)
    art = spec.variants[variant]
    for needed in {art, "card.json"}:
        if not (folder / needed).exists():
            where = (folder / needed).relative_to(ROOT)
            raise BuildError(f"{where} is missing: run `make models MODEL={model}`")
    return folder, art


# --- images -------------------------------------------------------------------------------------------


def stage_context(spec: ImageSpec, tag: str, site: Path, folder: Path, art: str) -> Path:
    """build/context/<tag>/ with exactly what the image contains (deps as hard links: instant, no space)."""
    ctx = CONTEXT / f"{tag.replace(':', '_')}.{os.getpid()}"  # per process: parallel builds do not collide
    for old in CONTEXT.glob(f"{tag.replace(':', '_')}.*"):  # left by a killed build
        if not Path(f"/proc/{old.suffix[1:]}").exists():
            shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(ctx, ignore_errors=True)
    ctx.mkdir(parents=True)
    try:
        shutil.copytree(site, ctx / "deps", copy_function=os.link)
    except OSError:  # another filesystem: copy
        shutil.rmtree(ctx / "deps", ignore_errors=True)
        shutil.copytree(site, ctx / "deps")
    model = ctx / "model"
    model.mkdir()
    for name in dict.fromkeys([art, "card.json", "manifest.json"]):
        src = folder / name
        if src.is_dir():
            shutil.copytree(src, model / name)
        elif src.is_file():
            shutil.copy2(src, model / name)
    for rel, src in shipped_files():
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, ctx / rel)
    shutil.copy2(ROOT / spec.dockerfile, ctx / "Dockerfile")
    shutil.copy2(ROOT / ".dockerignore", ctx / ".dockerignore")
    return ctx


def inputs_digest(
    spec: ImageSpec, base_id: str, site: Path, folder: Path, art: str, args: dict[str, str]
) -> str:
    parts = [
        (ROOT / spec.dockerfile).read_bytes(),
        base_id.encode(),
        site.parent.name.encode(),
        json.dumps(args, sort_keys=True).encode(),
        (ROOT / ".dockerignore").read_bytes(),
    ]
    for name in dict.fromkeys([art, "card.json", "manifest.json"]):
        if (folder / name).exists():
            parts.append(name.encode() + digest(folder / name).encode())
    for rel, src in shipped_files():
        parts.append(rel.encode() + src.read_bytes())
    return sha256_bytes(*parts)[:24]


def build_one(
    image: str,
    model: str = "reference",
    variant: str = "float32",
    arch: str = DEFAULT_ARCH,
    measure: bool = True,
    extra_args: dict[str, str] | None = None,
    tag: str | None = None,
) -> Result:
    """Build clothing-<image>:<model>-<variant> unless an image with the same inputs already has that tag."""
    if image not in IMAGES:
        raise BuildError(f"unknown image {image!r}; choose one of {', '.join(IMAGES)}")
    spec = IMAGES[image]
    if not archlib.builds(image, arch):
        raise BuildError(
            f"image {image} is not built for {arch}: core/catalogue.py's ImageSpec.archs does not list it"
        )
    name = registry.model_name(model)
    folder, art = artefacts(name, spec, variant)
    t0 = time.monotonic()
    if arch == DEFAULT_ARCH:
        tag = tag or spec.tag(name, variant)
        base = baselib.base_image(spec.python)
        base_id = docker.image_id(base)
        if base_id is None:
            raise BuildError(f"base image {base} is not present: run `make base`")
    else:  # the legacy builder on a stand-in base of that architecture, emulated (images/arch.py)
        tag = tag or spec.tag(name, variant, arch)
        try:
            base = archlib.ensure_base(spec.python, arch)
        except archlib.ArchError as e:
            raise BuildError(str(e)) from e
        base_id = docker.image_id(base) or base
    site = wheelhouse(spec, arch, card_extras(folder))
    sha = artefact_sha256(str(folder / art), env={}) or ""  # baked: the handler reads no manifest at INIT
    args = {"BASE_IMAGE": base, "MODEL_FILE": art, "MODEL_VARIANT": variant, "MODEL_SHA256": sha}
    args.update(extra_args or {})
    digest = inputs_digest(spec, base_id, site, folder, art, args)
    status = "cached"
    if docker.image_label(tag, INPUTS_LABEL) != digest:
        status = "built"
        ctx = stage_context(spec, tag, site, folder, art)
        if arch != DEFAULT_ARCH:  # byte-code made natively, not under emulation
            archlib.precompile(ctx / "deps", spec.python, arch)
        try:
            docker.build(ctx, tag, {INPUTS_LABEL: digest, LABEL: "image"}, args)
        except docker.DockerError as e:
            raise BuildError(str(e)) from e
        finally:
            shutil.rmtree(ctx, ignore_errors=True)
    if status == "built" and arch != DEFAULT_ARCH:
        archlib.check(tag, arch)  # inherited from the base; Lambda refuses a mismatch
    info = docker.inspect(tag)
    assert info is not None
    iid = str(info["Id"])
    if status == "built":
        docker.remember(iid, build_s=round(time.monotonic() - t0, 1))
    gz = docker.compressed_bytes(iid) if measure else 0
    build_s = float(docker.load_cache().get(iid, {}).get("build_s", 0.0))
    return Result(image, tag, name, variant, arch, base, iid, int(info["Size"]), gz, build_s, status)


def write_csv(results: list[Result], path: Path = CSV_PATH) -> None:
    """Merge rows by tag into results/images.csv (one `make build` keeps the others' rows)."""
    rows: dict[str, dict] = {}
    if path.is_file():
        with open(path, newline="") as f:
            rows = {r["tag"]: r for r in csv.DictReader(f)}
    for r in results:
        rows[r.tag] = {k: v for k, v in asdict(r).items() if k in CSV_FIELDS}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for tag in sorted(rows):
            w.writerow({k: rows[tag].get(k, "") for k in CSV_FIELDS})


def table(results: list[Result]) -> str:
    lines = [f"{'image':<15} {'tag':<42} {'MB':>8} {'MB gz':>8} {'build s':>8}  status"]
    for r in results:
        lines.append(
            f"{r.image:<15} {r.tag:<42} {r.bytes / 1e6:>8.1f} {r.gz_bytes / 1e6:>8.1f} "
            f"{r.build_s:>8.1f}  {r.status}"
        )
    return "\n".join(lines)


def plan_all(model: str, arch: str = DEFAULT_ARCH) -> list[tuple[str, str]]:
    """Every (image, variant) of the default set whose artefact exists (full-int8 is optional)."""
    name = registry.model_name(model)
    out = []
    for spec in IMAGES.values():
        if not archlib.builds(spec.name, arch):
            continue
        for variant in spec.default_variants:
            art = paths.model_dir(name) / spec.variants[variant]
            entry = catalogue.variant(spec.runtime, variant)
            if art.exists() or not (entry and entry.optional):
                out.append((spec.name, variant))
            else:
                log(f"skip {spec.tag(name, variant)}: no {art.name} (optional)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", choices=sorted(IMAGES))
    ap.add_argument("--all", action="store_true", help="the base and every image of the default set")
    ap.add_argument("--model", default=ImagesSettings.from_env().model)
    ap.add_argument("--variant", default="float32")
    ap.add_argument("--arch", choices=sorted(ARCHS), default=DEFAULT_ARCH)
    ap.add_argument("--no-measure", action="store_true", help="skip the compressed size (docker save | gzip)")
    ap.add_argument("--csv", type=Path, default=CSV_PATH)
    args = ap.parse_args(argv)
    if not args.all and not args.image:
        ap.error("pass --image NAME [--variant V] or --all")
    try:
        if args.all:
            for py in sorted(
                {s.python for s in IMAGES.values() if archlib.builds(s.name, args.arch)}, reverse=True
            ):
                if args.arch == DEFAULT_ARCH:
                    log(f"base {py}: {baselib.base_image(py)}")
                else:
                    log(f"base {py} {args.arch}: {archlib.ensure_base(py, args.arch)}")
        jobs = plan_all(args.model, args.arch) if args.all else [(args.image, args.variant)]
        results = []
        for i, (image, variant) in enumerate(jobs, 1):
            log(f"[{i}/{len(jobs)}] {IMAGES[image].tag(registry.model_name(args.model), variant, args.arch)}")
            r = build_one(image, args.model, variant, args.arch, measure=not args.no_measure)
            how = "built" if r.status == "built" else "up to date (built"
            log(
                f"  {how} in {r.build_s:.1f}s{')' if r.status != 'built' else ''}: "
                f"{r.bytes / 1e6:.1f} MB, {r.gz_bytes / 1e6:.1f} MB gzip"
            )
            results.append(r)
    except (BuildError, archlib.ArchError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_csv(results, args.csv)
    print(table(results))
    print(f"sizes -> {args.csv.relative_to(ROOT) if args.csv.is_relative_to(ROOT) else args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
