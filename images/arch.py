"""arm64 (Graviton) images on an x86_64 host with the legacy builder: no buildx, no image pulls.

How, and why each step:

* **Emulation**: qemu-user-static registered in binfmt_misc with flag F (scripts/apt-deps.sh, `make apt`)
  runs aarch64 binaries anywhere, also inside containers, so mmdebstrap can run an arm64 rootfs's
  maintainer scripts, the legacy builder can run an arm64 image's RUN steps, and `docker run` starts arm64
  containers. All of it is emulated: a timing taken here is never an arm64 timing.
* **Rootfs**: `mmdebstrap --arch=arm64` with the x86 stand-in's options took 12 min here (dpkg under
  qemu), so its tarball is kept under build/base/, keyed by suite, arch and options, and imported once.
* **Architecture in the config**: `docker import` and `docker build --platform` on this Docker 20.10
  record the host's amd64 whatever the content, and Lambda refuses an image whose config architecture
  does not match the function's (docs/images.md cites the AWS page). `set_architecture` rewrites the
  config of the imported rootfs (docker save | edit | docker load); the legacy builder copies the
  parent's architecture into every child image, so the base and the images built on it say arm64 too,
  which `check` verifies after every build.
"""

from __future__ import annotations

import platform
import re
import time
from pathlib import Path

from core.catalogue import ARCHS, DEFAULT_ARCH, IMAGES
from images import base as baselib
from images.specs import BASES, BaseSpec
from infra import docker

#: Images built for arm64: those whose catalogue entry lists it (ImageSpec.archs says why tf and
#: tflite-runtime do not).
ARM64_IMAGES = tuple(s.name for s in IMAGES.values() if "arm64" in s.archs)
BINFMT = Path("/proc/sys/fs/binfmt_misc")
#: CPU model qemu emulates for running containers (QEMU_CPU): Lambda's arm64 is Graviton2, a Neoverse N1.
#: qemu's default "max" model also advertises SVE/SME, which XNNPACK then picks and qemu runs far slower:
#: one 299 px tflite inference took 65 s as neoverse-n1 and gave no answer within 150 s as max (2 busy cores).
EMULATED_CPU = {"arm64": "neoverse-n1"}


class ArchError(RuntimeError):
    """This host cannot build or run that architecture; the message says what to run."""


def builds(image: str, arch: str) -> bool:
    """Whether ``image`` is built for ``arch`` (its ImageSpec.archs; an unknown kind for the default only)."""
    spec = IMAGES.get(image)
    return arch in spec.archs if spec else arch == DEFAULT_ARCH


def native(arch: str) -> bool:
    return platform.machine() in (ARCHS[arch].machine, ARCHS[arch].oci)


def require_emulation(arch: str) -> None:
    """An aarch64 binary must run here: natively, or via a qemu binfmt entry with flag F (works in
    containers, which do not contain qemu)."""
    if native(arch):
        return
    entry = BINFMT / f"qemu-{ARCHS[arch].machine}"
    text = entry.read_text() if entry.is_file() else ""
    flags = re.search(r"^flags:\s*(\S*)", text, re.M)
    if not text.startswith("enabled") or not flags or "F" not in flags.group(1):
        raise ArchError(
            f"{arch} emulation is not registered ({entry} missing, disabled or without flag F): "
            "run `make apt` as root (scripts/apt-deps.sh installs qemu-user-static and "
            "binfmt-support and mounts binfmt_misc)"
        )


def docker_arch(tag: str) -> tuple[str, str]:
    info = docker.inspect(tag) or {}
    return str(info.get("Architecture", "")), str(info.get("Variant", "") or "")


def set_architecture(tag: str, arch: str) -> str:
    """Give `tag` the config architecture (and variant) of `arch` (infra/docker.py does the rewrite)."""
    a = ARCHS[arch]
    try:
        return docker.set_architecture(tag, a.oci, a.variant)
    except docker.DockerError as e:
        raise ArchError(str(e)) from e


def check(tag: str, arch: str) -> None:
    """The image's config must name `arch` (what Lambda compares with the function's architecture)."""
    got = docker_arch(tag)
    want = (ARCHS[arch].oci, ARCHS[arch].variant)
    if got[0] != want[0]:
        raise ArchError(f"{tag} says {'/'.join(filter(None, got))}, not {'/'.join(filter(None, want))}")


def rootfs_tarball(spec: BaseSpec, arch: str) -> Path:
    """build/base/rootfs-<suite>-<arch>-<options hash>.tar, made by mmdebstrap once (12 min emulated)."""
    key = baselib.rootfs_tag(spec).rsplit("-", 1)[1]
    tar = baselib.BUILD / f"rootfs-{spec.suite}-{arch}-{key}.tar"
    if tar.is_file():
        return tar
    require_emulation(arch)
    baselib.BUILD.mkdir(parents=True, exist_ok=True)
    part = tar.with_name(f".{tar.stem}.partial.tar")  # .tar: mmdebstrap picks its format by extension
    print(
        f"rootfs {spec.suite} {arch}: mmdebstrap under emulation (~12 min here; cached as {tar.name})",
        flush=True,
    )
    t0 = time.monotonic()
    baselib.run(
        [
            "mmdebstrap",
            "--quiet",
            f"--arch={ARCHS[arch].debian}",
            *baselib.ROOTFS_OPTS,
            spec.suite,
            str(part),
            baselib.apt_mirror(),
        ]
    )
    part.rename(tar)
    print(f"rootfs {spec.suite} {arch}: {tar.stat().st_size / 1e6:.0f} MB in {time.monotonic() - t0:.0f} s")
    return tar


def rootfs_image(spec: BaseSpec, arch: str) -> str:
    """The rootfs as a docker image whose config says `arch` (imported from the cached tarball)."""
    tar = rootfs_tarball(spec, arch)
    tag = f"lambda-rootfs:{spec.suite}-{arch}-{tar.stem.rsplit('-', 1)[1]}"
    if docker.image_id(tag) and docker_arch(tag)[0] == ARCHS[arch].oci:
        return tag
    docker.import_tar(tar, tag)
    set_architecture(tag, arch)
    check(tag, arch)
    return tag


def _magic(tag: str) -> str:
    return docker.out(
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "python3",
        tag,
        "-c",
        "import importlib.util as u; print(u.MAGIC_NUMBER.hex())",
    )


def precompile(deps: Path, python: str, arch: str) -> None:
    """Byte-compile a staged dependency tree with the native x86_64 stand-in's python of the same version.

    Byte-code depends on the python version (its magic number, checked equal here), not on the CPU, and
    the Dockerfiles' `compileall` then finds every .pyc up to date (COPY keeps the sources' mtimes), so
    the emulated build only checks them (the context's .dockerignore, which drops host byte-code, lets
    these in). Measured: tflite 351 s and onnx 424 s with the compile emulated; with this: docs/images.md.
    """
    native_base = baselib.ensure(python)
    if _magic(native_base) != _magic(ensure_base(python, arch)):
        return  # different byte-code: leave it to the emulated compileall
    docker.run(
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        f"{deps}:/deps",
        "--entrypoint",
        "python3",
        native_base,
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",  # what the Dockerfiles ask for: their compileall then finds these current
        "unchecked-hash",
        "/deps",
        timeout=1800,
    )
    with open(deps.parent / ".dockerignore", "a") as f:  # let this byte-code into the context
        f.write(f"!{deps.name}/**/__pycache__\n!{deps.name}/**/*.pyc\n")


def ensure_base(python: str, arch: str) -> str:
    """lambda-base:<python>-<arch>: the stand-in's contract on a rootfs of that architecture, with that
    architecture's awslambdaric wheel and Runtime Interface Emulator (both in the pinned sources)."""
    if arch == DEFAULT_ARCH:
        return baselib.ensure(python)
    require_emulation(arch)
    spec = BASES[python]
    tag = baselib.build_standin(spec, arch=arch, rootfs=rootfs_image(spec, arch))
    check(tag, arch)
    return tag


def main(argv: list[str] | None = None) -> int:
    """`make base ARCH=arm64`: check emulation, then the stand-in base(s) the arm64 images need."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=sorted(ARCHS), default="arm64")
    args = ap.parse_args(argv)
    try:
        for py in sorted({s.python for s in IMAGES.values() if builds(s.name, args.arch)}, reverse=True):
            tag = ensure_base(py, args.arch)
            print(f"{py} {args.arch}: {tag} ({'/'.join(filter(None, docker_arch(tag)))})")
    except ArchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
