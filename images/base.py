"""`make base`: the AWS Lambda python base when present or pullable, else a local stand-in.

The stand-in keeps the AWS contract (python, awslambdaric, the Runtime Interface Emulator at
/usr/local/bin/aws-lambda-rie, /lambda-entrypoint.sh, LAMBDA_TASK_ROOT=/var/task, ENTRYPOINT/CMD), so
every Dockerfile builds unchanged on either. Its rootfs is a Debian minbase made by mmdebstrap from the
mirror this machine's apt already uses (never written in the repository).
"""

from __future__ import annotations

import argparse
import functools
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from core.catalogue import ARCHS, DEFAULT_ARCH
from core.paths import ROOT
from images.settings import ImagesSettings
from images.specs import BASES, BaseSpec
from infra import docker

SAM_CLI_VERSION = "1.170.0"
SAM_CLI_SHA256 = "24ebaf5ecba38dc1758089968cb89ab61e124b84e92a344fc7a2771a47f4d0bf"
RIE_MEMBER = "samcli/local/rapid/aws-lambda-rie-{arch}"  # x86_64 | arm64
BUILD = ROOT / "build" / "base"
HERE = Path(__file__).resolve().parent / "base"


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("  $", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def apt_mirror() -> str:
    """The Debian mirror from this machine's apt configuration ($APT_MIRROR overrides)."""
    if ImagesSettings.from_env().apt_mirror:
        return ImagesSettings.from_env().apt_mirror
    uris: list[str] = []
    for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        uris += re.findall(r"^URIs:\s*(\S+)", Path(f).read_text(), flags=re.M)
    for f in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        if os.path.exists(f):
            uris += re.findall(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)", Path(f).read_text(), flags=re.M)
    for u in uris:
        if u.rstrip("/").endswith("/debian"):
            return u
    raise SystemExit("no Debian mirror found in /etc/apt sources; set APT_MIRROR=http://.../debian")


#: where the pinned aws-sam-cli wheel (the emulator's source) is cached
RIE_WHEEL = ROOT / "build" / "rie" / f"aws_sam_cli-{SAM_CLI_VERSION}-py3-none-any.whl"


def fetch_rie(dest: Path, arch: str = DEFAULT_ARCH) -> None:
    """Extract the emulator from the pinned aws-sam-cli wheel after checking its sha256."""
    wheel_dir, wheel = RIE_WHEEL.parent, RIE_WHEEL
    if not wheel.exists():
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "-d",
                str(wheel_dir),
                f"aws-sam-cli=={SAM_CLI_VERSION}",
            ]
        )
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != SAM_CLI_SHA256:
        raise SystemExit(f"aws-sam-cli wheel sha256 {digest} != pinned {SAM_CLI_SHA256}")
    with zipfile.ZipFile(wheel) as z, z.open(RIE_MEMBER.format(arch=arch)) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out)
    dest.chmod(0o755)


@functools.cache
def rie_sha256(arch: str = DEFAULT_ARCH) -> str | None:
    """sha256 of the emulator the stand-in bases carry (from the cached pinned wheel; None before any
    `make base`): how a benchmark names the emulator it found inside an image. Computed once per
    process: every image of a session compares against it."""
    if not RIE_WHEEL.is_file():
        return None
    with zipfile.ZipFile(RIE_WHEEL) as z:
        return hashlib.sha256(z.read(RIE_MEMBER.format(arch=arch))).hexdigest()


#: Wheels that run on the AWS base (Amazon Linux 2023, glibc 2.34) and on the Debian stand-ins.
MANYLINUX = ("manylinux_2_28", "manylinux_2_27", "manylinux_2_17", "manylinux2014")


def pip_target(requirements: Path, target: Path, python: str, arch: str = DEFAULT_ARCH) -> None:
    """Resolve for the image's platform on the host (containers here cannot reach PyPI)."""
    platforms = [a for t in MANYLINUX for a in ("--platform", f"{t}_{ARCHS[arch].machine}")]
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-compile",
            "--no-cache-dir",
            "--target",
            str(target),
            *platforms,
            "--python-version",
            python,
            "--implementation",
            "cp",
            "--only-binary=:all:",
            "-r",
            str(requirements),
        ]
    )


#: What Debian's own slim images leave out (docs, man pages, translations; copyrights stay): nothing a
#: Lambda handler reads. The AWS base is a different distribution, so its size is its own (docs/images.md).
ROOTFS_OPTS = (
    "--variant=minbase",
    "--include=python3,ca-certificates",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-include=/usr/share/locale/locale.alias",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
)


def rootfs_tag(spec: BaseSpec) -> str:  # x86_64; images/arch.py tags other architectures
    """Tagged by its options, so changing them makes a new rootfs instead of reusing the old one."""
    return f"lambda-rootfs:{spec.suite}-{hashlib.sha256(' '.join(ROOTFS_OPTS).encode()).hexdigest()[:8]}"


def inputs_hash(spec: BaseSpec, arch: str = DEFAULT_ARCH, rootfs: str | None = None) -> str:
    h = hashlib.sha256()
    if arch != DEFAULT_ARCH:  # (x86_64 hash unchanged: existing stand-ins stay up to date)
        h.update(f"{arch} {rootfs}".encode())
    for p in sorted(HERE.iterdir()):
        h.update(p.name.encode() + p.read_bytes())
    h.update((ROOT / "requirements" / "base-runtime.txt").read_bytes())
    h.update(f"{spec.suite} {SAM_CLI_SHA256} {rootfs_tag(spec)}".encode())
    return h.hexdigest()[:16]


def build_standin(spec: BaseSpec, arch: str = DEFAULT_ARCH, rootfs: str | None = None) -> str:
    """lambda-base:<python> (x86_64) or lambda-base:<python>-<arch> on `rootfs` (images/arch.py)."""
    tag = spec.local_tag if arch == DEFAULT_ARCH else f"{spec.local_tag}-{arch}"
    want = inputs_hash(spec, arch, rootfs)
    if docker.image_label(tag, "lambda-base.inputs") == want:
        print(f"base {tag}: up to date ({want})")
        return tag
    BUILD.mkdir(parents=True, exist_ok=True)
    rootfs = rootfs or rootfs_tag(spec)
    if docker.image_id(rootfs) is None:
        tar = BUILD / f"rootfs-{spec.suite}.tar"
        print(f"base {spec.local_tag}: mmdebstrap {spec.suite} rootfs (python {spec.python})", flush=True)
        run(["mmdebstrap", "--quiet", *ROOTFS_OPTS, spec.suite, str(tar), apt_mirror()])
        docker.import_tar(tar, rootfs)
        tar.unlink()
    with tempfile.TemporaryDirectory(dir=BUILD) as ctx_s:
        ctx = Path(ctx_s)
        for p in HERE.iterdir():
            shutil.copy2(p, ctx / p.name)
        fetch_rie(ctx / "aws-lambda-rie", arch)
        pip_target(ROOT / "requirements" / "base-runtime.txt", ctx / "runtime", spec.python, arch)
        shutil.rmtree(ctx / "runtime" / "bin", ignore_errors=True)
        docker.build(ctx, tag, {"lambda-base.inputs": want}, {"ROOTFS": rootfs})
    print(f"base {tag}: built")
    return tag


def override(python: str) -> str | None:
    """The base image the user chose ($BASE_IMAGE_313 / $BASE_IMAGE_311, else $BASE_IMAGE for 3.13)."""
    return ImagesSettings.from_env().base_override(python)


def ensure(python: str, prefer_aws: bool = True) -> str:
    """Tag of the base image to build on for this python version (x86_64)."""
    spec = BASES[python]
    chosen = override(python)
    if chosen:
        return chosen
    if prefer_aws and (docker.image_id(spec.aws_image) is not None or docker.pull(spec.aws_image)):
        print(f"base: using {spec.aws_image}")
        return spec.aws_image
    return build_standin(spec)


def base_image(python: str, arch: str = DEFAULT_ARCH) -> str:
    """What an image for this python and architecture builds FROM: the override, else for x86_64 the
    AWS base or the local stand-in (ensured), else the (multi-arch) AWS base."""
    if arch == DEFAULT_ARCH:
        return ensure(python)
    return override(python) or BASES[python].aws_image


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--python", action="append", choices=sorted(BASES), help="default: all")
    ap.add_argument(
        "--local", action="store_true", help="build the stand-in even if the AWS base is reachable"
    )
    args = ap.parse_args(argv)
    for py in args.python or sorted(BASES, reverse=True):
        print(f"{py}: {ensure(py, prefer_aws=not args.local)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
