"""Deploy's view of docker: the local image to ship, its architecture, and the push to a registry.

The docker CLI itself is run by infra/docker.py (the one docker layer); this module turns its failures
into DeployError lines that say what to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TextIO

from core.catalogue import DEFAULT_ARCH, arch_of_oci
from deploy import DeployError
from infra import docker

_PUSH_DIGEST = re.compile(r"digest:\s*(sha256:[0-9a-f]{64})")


@dataclass(frozen=True)
class LocalImage:
    ref: str
    id: str  # sha256:... of the image config == manifest config.digest once pushed
    architecture: str  # docker's name (amd64, arm64)
    os: str

    @property
    def lambda_architecture(self) -> str | None:
        return arch_of_oci(self.architecture)


def inspect_image(ref: str) -> LocalImage:
    """Local image metadata; DeployError with the build command when the image does not exist."""
    try:
        info = docker.inspect(ref)
    except docker.DockerError as e:
        raise DeployError(str(e)) from e
    if info is None:
        raise DeployError(
            f"image {ref} is not built (docker image inspect: no such image); "
            f"fix: build it first, e.g. `make build IMAGE=<image> VARIANT=<variant>`, or pass --image."
        )
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
            f"fix: pass --architecture {have or DEFAULT_ARCH} or rebuild the image for {wanted}."
        )


def login(registry: str, username: str, password: str) -> None:
    try:
        docker.login(registry, username, password)
    except docker.DockerError as e:
        raise DeployError(
            f"{e}; fix: check the AWS credentials/region and that the registry is reachable."
        ) from e


def tag(source: str, target: str) -> None:
    try:
        docker.tag(source, target)
    except docker.DockerError as e:
        raise DeployError(str(e)) from e


def push(target: str, out: TextIO | None = None) -> str:
    """`docker push`, streaming its progress lines to ``out``; returns the pushed manifest digest."""
    try:
        lines = docker.push(target, out)
    except docker.DockerError as e:
        raise DeployError(
            f"push refused: {e}; "
            "fix: check the registry login/permissions (ECR repository policy), registry writable."
        ) from e
    found = _PUSH_DIGEST.findall("\n".join(lines))
    if not found:
        raise DeployError(f"docker push {target} printed no digest; fix: upgrade docker (>= 17.x) and retry.")
    return found[-1]


def remove_tag(ref: str) -> None:
    """Drop the temporary registry tag we added (the image itself stays)."""
    docker.remove_tag(ref)
