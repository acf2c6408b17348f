"""Just enough of the Docker Registry HTTP API v2 to know whether a push is needed.

Comparing the remote manifest's ``config.digest`` with the local image ID tells "this exact image is
already there" without pushing (docker push would re-upload nothing but still rewrite the tag and cost
a round of HEAD requests per layer). ECR speaks the same API with Basic auth from
``GetAuthorizationToken``; a local ``docker-registry`` (tests) ignores the header.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

import requests

from deploy import DeployError

REGISTRY_ENV = "DEPLOY_REGISTRY"
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost (with or without port): docker treats these as insecure (http)."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def push_host(ecr_repository_uri: str, override: str | None = None) -> str:
    """Registry host to push to: the ECR host, unless --registry / $DEPLOY_REGISTRY overrides it (tests)."""
    chosen = override or os.environ.get(REGISTRY_ENV) or ecr_repository_uri.split("/", 1)[0]
    return chosen.removeprefix("http://").removeprefix("https://").rstrip("/")


@dataclass(frozen=True)
class RemoteManifest:
    digest: str  # sha256:... of the manifest (what Lambda pins: repo@digest)
    config_digest: str  # sha256:... of the image config == local `docker image inspect .Id`


class Registry:
    """Read-only registry client (HEAD/GET manifests)."""

    def __init__(self, host: str, basic_token: str | None = None, timeout_s: float = 30.0) -> None:
        self.host = host
        self.base = f"{'http' if is_loopback_host(host) else 'https'}://{host}/v2"
        self.timeout_s = timeout_s
        self.headers = {"Accept": MANIFEST_TYPES}
        if basic_token:
            self.headers["Authorization"] = f"Basic {basic_token}"

    def manifest(self, repository: str, reference: str) -> RemoteManifest | None:
        """Manifest for a tag or digest, None when the registry does not have it."""
        url = f"{self.base}/{repository}/manifests/{reference}"
        try:
            r = requests.get(url, headers=self.headers, timeout=self.timeout_s)
        except requests.RequestException as e:
            raise DeployError(
                f"registry {self.host} unreachable ({type(e).__name__}); "
                "fix: check the network, the region, or --registry/$DEPLOY_REGISTRY."
            ) from e
        if r.status_code == 404:
            return None
        if r.status_code in (401, 403):
            raise DeployError(
                f"registry {self.host} refused to read {repository}:{reference} (HTTP {r.status_code}); "
                "fix: the credentials need ecr:BatchGetImage on the repository."
            )
        if r.status_code != 200:
            raise DeployError(f"registry {self.host} answered HTTP {r.status_code} for {url}; retry later.")
        body = r.json()
        digest = r.headers.get("Docker-Content-Digest", "")
        config = (body.get("config") or {}).get("digest", "")
        if not digest or not config:
            return None  # a manifest list or schema1: not something we pushed; push again
        return RemoteManifest(digest=digest, config_digest=config)
