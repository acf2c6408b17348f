"""`make build` / `make build-all`: build Lambda images for a model's artefacts, then tabulate sizes.

Each build gets a small staging context (hard links, so it is cheap): deps/ (the pinned requirements
resolved on the host for the image's python and platform, cached by requirements hash), model/ (one
artefact + card.json + manifest.json), the handler and runtimes/. Layer order puts deps first, so a
handler or model change rebuilds only the last small layers. The table is written to build/images.csv.
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
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from images import base
from images.specs import IMAGES, ROOT, ImageSpec

BUILD = ROOT / "build"
WHEELHOUSE = BUILD / "wheelhouse"
SIZES_CACHE = BUILD / "image-sizes.json"
TABLE = BUILD / "images.csv"


@dataclass
class BuiltImage:
    image: str
    tag: str
    model: str
    variant: str
    runtime: str
    python: str
    base_image: str
    image_id: str
    uncompressed_bytes: int
    compressed_bytes: int
    base_bytes: int
    runtime_layer_bytes: int
    model_bytes: int
    build_s: float


def deps_dir(spec: ImageSpec) -> Path:
    """Host-resolved dependencies for this image's python/platform, cached by requirements content."""
    req = ROOT / spec.requirements
    key = hashlib.sha256(req.read_bytes() + spec.python.encode()).hexdigest()[:12]
    out = WHEELHOUSE / f"{spec.name}-py{spec.python}-{key}"
    if (out / ".complete").exists():
        return out
    tmp = out.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"  resolving {spec.requirements} for python {spec.python} (host pip, manylinux x86_64)", flush=True)
    base.pip_target(req, tmp, spec.python)
    # Console scripts carry the host's interpreter path and are not needed at run time.
    shutil.rmtree(tmp / "bin", ignore_errors=True)
    freeze = subprocess.run([sys.executable, "-m", "pip", "list", "--path", str(tmp), "--format", "freeze"],
                            capture_output=True, text=True, check=True).stdout
    (tmp / ".resolved.txt").write_text(freeze)
    (tmp / ".complete").write_text(key)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def _link_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, copy_function=os.link, ignore=shutil.ignore_patterns(".complete"))


def stage(spec: ImageSpec, model: str, variant: str) -> Path:
    art_dir = BUILD / "models" / model
    if variant not in spec.variants:
        raise SystemExit(f"image {spec.name} has no variant {variant!r}; choose {', '.join(spec.variants)}")
    artefact = art_dir / spec.variants[variant]
    card = art_dir / "card.json"
    if not artefact.exists() or not card.exists():
        raise SystemExit(f"missing {artefact} or {card}: run `make models MODEL={model}` first")
    ctx = BUILD / "context" / f"{spec.name}-{model}-{variant}"
    shutil.rmtree(ctx, ignore_errors=True)
    ctx.mkdir(parents=True)
    _link_tree(deps_dir(spec), ctx / "deps")
    (ctx / "model").mkdir()
    if artefact.is_dir():
        _link_tree(artefact, ctx / "model" / artefact.name)
    elif artefact != card:
        os.link(artefact, ctx / "model" / artefact.name)
    os.link(card, ctx / "model" / "card.json")
    if (art_dir / "manifest.json").exists():
        os.link(art_dir / "manifest.json", ctx / "model" / "manifest.json")
    shutil.copy2(ROOT / "lambda_function.py", ctx / "lambda_function.py")
    (ctx / "runtimes").mkdir()
    for f in sorted((ROOT / "runtimes").glob("*.py")):
        shutil.copy2(f, ctx / "runtimes" / f.name)
    shutil.copy2(ROOT / spec.dockerfile, ctx / "Dockerfile")
    return ctx


def _inspect(tag: str, fmt: str) -> str:
    return subprocess.run(["docker", "image", "inspect", "-f", fmt, tag],
                          capture_output=True, text=True, check=True).stdout.strip()


def compressed_bytes(tag: str, image_id: str) -> int:
    """What a registry stores: `docker save | gzip` (pigz, default level), cached by image id."""
    cache = json.loads(SIZES_CACHE.read_text()) if SIZES_CACHE.exists() else {}
    if image_id in cache:
        return int(cache[image_id])
    gz = "pigz" if shutil.which("pigz") else "gzip"
    save = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
    zipped = subprocess.Popen([gz, "-c"], stdin=save.stdout, stdout=subprocess.PIPE)
    assert save.stdout is not None and zipped.stdout is not None
    save.stdout.close()
    n = 0
    while chunk := zipped.stdout.read(1 << 20):
        n += len(chunk)
    if zipped.wait() != 0 or save.wait() != 0:
        raise RuntimeError(f"docker save | {gz} failed for {tag}")
    cache[image_id] = n
    SIZES_CACHE.write_text(json.dumps(cache, indent=1))
    return n


def layer_split(tag: str, base_tag: str) -> tuple[int, int, int]:
    """(base, runtime, model) bytes from docker history: runtime = the deps COPY + its compileall RUN."""
    hist = subprocess.run(["docker", "history", "--no-trunc", "--human=false", "--format",
                           "{{.Size}}\t{{.CreatedBy}}", tag], capture_output=True, text=True, check=True).stdout
    base_bytes = int(_inspect(base_tag, "{{.Size}}"))
    runtime = model = 0
    for line in hist.splitlines():
        size_s, created = line.split("\t", 1)
        size = int(size_s)
        if " in /var/task/model/" in created:
            model += size
        elif "compileall -q -j 0 /var/task" in created or created.rstrip().endswith(" in /var/task/ "):
            runtime += size
    return base_bytes, runtime, model


def build_one(image: str, model: str, variant: str, base_tag: str | None = None) -> BuiltImage:
    spec = IMAGES[image]
    tag = spec.tag(model, variant)
    t0 = time.time()
    print(f"==> {tag}", flush=True)
    base_tag = base_tag or base.ensure(spec.python)
    ctx = stage(spec, model, variant)
    log = BUILD / "logs" / f"build-{image}-{model}-{variant}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["docker", "build", "-t", tag, "--build-arg", f"BASE_IMAGE={base_tag}",
           "--build-arg", f"MODEL={model}", "--build-arg", f"VARIANT={variant}",
           "--build-arg", f"ARTEFACT={Path(spec.variants[variant]).name}",
           "--label", f"clothing.image={image}", "--label", f"clothing.model={model}",
           "--label", f"clothing.variant={variant}", "--label", f"clothing.runtime={spec.runtime}", str(ctx)]
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            f.write(line)
            if line.startswith("Step "):
                print(f"    {line.strip()[:110]}", flush=True)
        if proc.wait() != 0:
            raise SystemExit(f"docker build of {tag} failed; see {log}")
    shutil.rmtree(ctx, ignore_errors=True)
    image_id = _inspect(tag, "{{.Id}}")
    b, rt, m = layer_split(tag, base_tag)
    built = BuiltImage(
        image=image, tag=tag, model=model, variant=variant, runtime=spec.runtime, python=spec.python,
        base_image=base_tag, image_id=image_id, uncompressed_bytes=int(_inspect(tag, "{{.Size}}")),
        compressed_bytes=0, base_bytes=b, runtime_layer_bytes=rt, model_bytes=m, build_s=0.0,
    )
    built.compressed_bytes = compressed_bytes(tag, image_id)
    built.build_s = round(time.time() - t0, 1)
    print(f"    {tag}: {built.uncompressed_bytes / 1e6:.0f} MB, gz {built.compressed_bytes / 1e6:.0f} MB, "
          f"{built.build_s:.0f} s", flush=True)
    return built


def default_plan(model: str) -> list[tuple[str, str]]:
    """Every image x its default variants whose artefact exists for this model."""
    art = BUILD / "models" / model
    plan = []
    for spec in IMAGES.values():
        for v in spec.default_variants:
            if (art / spec.variants[v]).exists():
                plan.append((spec.name, v))
            else:
                print(f"skip {spec.name}:{v}: no {art / spec.variants[v]}")
    return plan


def write_table(rows: list[BuiltImage]) -> None:
    """Upsert into build/images.csv keyed by tag, and print the closing table."""
    existing: dict[str, dict] = {}
    if TABLE.exists():
        with open(TABLE) as f:
            existing = {r["tag"]: r for r in csv.DictReader(f)}
    for r in rows:
        existing[r.tag] = asdict(r)
    fields = list(asdict(rows[0]).keys()) if rows else []
    if rows:
        with open(TABLE, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(existing.values())
    print(f"\n{'image':<16}{'tag':<42}{'uncompressed_MB':>16}{'compressed_MB':>15}{'build_s':>9}")
    for r in rows:
        print(f"{r.image:<16}{r.tag:<42}{r.uncompressed_bytes / 1e6:>16.1f}{r.compressed_bytes / 1e6:>15.1f}"
              f"{r.build_s:>9.1f}")
    print(f"(bytes in {TABLE.relative_to(ROOT)})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--all", action="store_true", help="every image x default variant for --model")
    ap.add_argument("--image", choices=sorted(IMAGES))
    ap.add_argument("--model", default="reference")
    ap.add_argument("--variant", default=None)
    args = ap.parse_args(argv)
    if args.all:
        plan = default_plan(args.model)
    elif args.image:
        plan = [(args.image, args.variant or IMAGES[args.image].default_variants[0])]
    else:
        ap.error("give --all or --image")
    t0 = time.time()
    rows = []
    for i, (image, variant) in enumerate(plan, 1):
        print(f"[{i}/{len(plan)}] ", end="")
        rows.append(build_one(image, args.model, variant))
    write_table(rows)
    print(f"built {len(rows)} images in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
