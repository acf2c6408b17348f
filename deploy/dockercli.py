"""The docker CLI, driven by subprocess (no docker SDK): inspect, login, tag, push, run.

The CLI is what users already have configured (contexts, credential helpers, insecure registries),
so going through it keeps deploy's behaviour identical to what `docker push` does by hand.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import TextIO

from deploy import DeployError

#: docker's Architecture names -> Lambda's Architectures values.
DOCKER_TO_LAMBDA_ARCH = {"amd64": "x86_64", "arm64": "arm64"}
_PUSH_DIGEST = re.compile(r"digest:\s*(sha256:[0-9a-f]{64})")


@dataclass(frozen=True)
class LocalImage:
    ref: str
    id: str  # sha256:... of the image config == manifest config.digest once pushed
    architecture: str  # docker's name (amd64, arm64)
    os: str

    @property
    def lambda_architecture(self) -> str | None:
        return DOCKER_TO_LAMBDA_ARCH.get(self.architecture)


def _docker(
    *args: str, input_text: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["docker", *args], input=input_text, capture_output=True, text=True, check=check
        )
    except FileNotFoundError as e:
        raise DeployError("docker CLI not found: install Docker and make sure `docker` is on PATH.") from e


def inspect_image(ref: str) -> LocalImage:
    """Local image metadata; DeployError with the build command when the image does not exist."""
    proc = _docker("image", "inspect", ref, check=False)
    if proc.returncode != 0:
        raise DeployError(
            f"image {ref} is not built (docker image inspect: {proc.stderr.strip() or 'no such image'}); "
            f"fix: build it first, e.g. `make build IMAGE=<image> VARIANT=<variant>`, or pass --image."
        )
    info = json.loads(proc.stdout)[0]
    return LocalImage(
        ref=ref, id=info["Id"], architecture=info.get("Architecture", ""), os=info.get("Os", "")
    )


def check_architecture(image: LocalImage, wanted: str) -> None:
    """Refuse to deploy an amd64 image as arm64 (or back): Lambda would fail at init (exec format)."""
    have = image.lambda_architecture
    if have != wanted:
        raise DeployError(
            f"architecture mismatch: image {image.ref} is {image.architecture or 'unknown'} "
            f"(Lambda {have or 'unsupported'}) but {wanted} was requested; "
            f"fix: pass --architecture {have or 'x86_64'} or rebuild the image for {wanted}."
        )


def login(registry: str, username: str, password: str) -> None:
    """`docker login --password-stdin` so the password never appears in the process list."""
    proc = _docker(
        "login", "--username", username, "--password-stdin", registry, input_text=password, check=False
    )
    if proc.returncode != 0:
        raise DeployError(
            f"docker login to {registry} failed: {proc.stderr.strip().splitlines()[-1:] or ['?']}; "
            "fix: check the AWS credentials/region and that the registry is reachable."
        )


def tag(source: str, target: str) -> None:
    _docker("tag", source, target)


def push(target: str, out: TextIO | None = None) -> str:
    """`docker push`, streaming its progress lines to ``out``; returns the pushed manifest digest."""
    out = out or sys.stderr
    try:
        proc = subprocess.Popen(
            ["docker", "push", target], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
    except FileNotFoundError as e:
        raise DeployError("docker CLI not found: install Docker and make sure `docker` is on PATH.") from e
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        out.write(f"  push: {line}")
        out.flush()
    rc = proc.wait()
    text = "\n".join(lines)
    if rc != 0:
        last = lines[-1] if lines else "no output"
        raise DeployError(
            f"push refused: docker push {target} failed ({last}); "
            "fix: check the registry login/permissions (ECR repository policy), registry writable."
        )
    found = _PUSH_DIGEST.findall(text)
    if not found:
        raise DeployError(f"docker push {target} printed no digest; fix: upgrade docker (>= 17.x) and retry.")
    return found[-1]


def remove_tag(ref: str) -> None:
    """Drop the temporary registry tag we added (the image itself stays)."""
    _docker("rmi", ref, check=False)
