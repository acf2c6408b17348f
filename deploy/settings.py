"""What to deploy: results/winner.json, overridden by environment variables, overridden by CLI flags."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from core import catalogue
from core.budget import function_timeout_s
from core.contracts import ContractError, Winner
from core.paths import PACKAGE_DIR, WINNER_JSON
from core.settings import read
from deploy import DeployError, modes

DEFAULT_WINNER = WINNER_JSON
DEFAULT_FUNCTION = "clothing-classifier"
DEFAULT_MEMORY_MB = 1769  # 1 full vCPU on Lambda
#: Reserved concurrency of a function with a public URL unless told otherwise: a public URL has no
#: other cap, so a flood of slow requests would scale out and bill in full (docs/deploy.md).
DEFAULT_PUBLIC_CONCURRENCY = 10
ALIAS = "live"
ARCHITECTURES = catalogue.ARCH_NAMES
DEFAULT_PACKAGE_DIR = PACKAGE_DIR
#: Lambda's direct-upload limit for a zip (50 MB, meaning MiB: gettingstarted-limits); larger goes via S3.
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024

#: deploy flag -> deploy/modes.py Mode field (flags only: subnets and roles are the user's, not the bench's)
MODE_FLAGS = {
    "mode": "name",
    "provisioned_concurrency": "provisioned",
    "subnet_ids": "subnet_ids",
    "security_group_ids": "security_group_ids",
    "operator_role_arn": "operator_role_arn",
    "instance_types": "instance_types",
    "max_vcpus": "max_vcpus",
    "memory_gib_per_vcpu": "memory_gib_per_vcpu",
    "max_concurrency": "max_concurrency",
}

#: environment variable -> settings field (flags win over these, these win over winner.json)
ENV = {
    "DEPLOY_IMAGE": "image",
    "DEPLOY_MEMORY_MB": "memory_mb",
    "DEPLOY_ARCHITECTURE": "architecture",
    "DEPLOY_FUNCTION": "function_name",
    "DEPLOY_REPOSITORY": "repository",
    "DEPLOY_ROLE_ARN": "role_arn",
    "DEPLOY_REGISTRY": "registry",
    "DEPLOY_TIMEOUT_S": "timeout_s",
    "DEPLOY_RESERVED_CONCURRENCY": "reserved_concurrency",
    "DEPLOY_PACKAGE": "package",
    "DEPLOY_S3_BUCKET": "s3_bucket",
}


@dataclass
class Settings:
    function_name: str = DEFAULT_FUNCTION
    repository: str = ""  # ECR repository; default: the function name
    image: str = ""
    image_kind: str = ""
    runtime: str = ""
    model: str = ""
    variant: str = ""
    memory_mb: int = DEFAULT_MEMORY_MB
    architecture: str = catalogue.DEFAULT_ARCH
    threads: int = 1
    timeout_s: int = 0  # 0: derived from the handler's budgets at memory_mb (runtimes/limits.py)
    #: None: no reservation; a public URL gets DEFAULT_PUBLIC_CONCURRENCY unless set ("none" = no cap)
    reserved_concurrency: int | None = None
    role_arn: str | None = None
    registry: str | None = None  # push host override (tests: 127.0.0.1:<port>)
    url: str | None = None  # None, "iam" or "public"
    verify: bool = True
    test_image: Path | None = None
    source: str = "defaults"
    extra: dict[str, str] = field(default_factory=dict)
    #: a core.catalogue.PACKAGING_FORMS name (deploy/packaging.py ships it): the image unless told otherwise
    package: str = catalogue.DEFAULT_PACKAGING.name
    package_dir: Path = DEFAULT_PACKAGE_DIR  # where `make package` wrote the zips
    snapstart: bool = True  # zip only: SnapStart ApplyOn=PublishedVersions
    s3_bucket: str | None = None  # zip uploads over upload_limit; default: a bucket deploy creates
    upload_limit: int = DIRECT_UPLOAD_LIMIT
    #: on-demand, provisioned concurrency or Managed Instances (deploy/modes.py): winner.json < flags
    mode: modes.Mode = field(default_factory=modes.Mode)

    def __post_init__(self) -> None:
        if not self.timeout_s:
            self.timeout_s = function_timeout_s(self.memory_mb)

    @property
    def remote_tag(self) -> str:
        """ECR tag: clothing-tflite:reference-float32 -> clothing-tflite-reference-float32."""
        return re.sub(r"[^A-Za-z0-9_.-]", "-", self.image.rsplit("/", 1)[-1])[:128]

    @property
    def role_name(self) -> str:
        return f"{self.function_name}-exec"[:64]

    def environment(self) -> dict[str, str]:
        """Function environment: thread count for the runtimes + what is deployed (visible in the console)."""
        env = {
            "MODEL_THREADS": str(self.threads),
            "DEPLOY_IMAGE": self.image,
            "DEPLOY_MODEL": self.model,
            "DEPLOY_VARIANT": self.variant,
            "DEPLOY_RUNTIME": self.runtime,
        }
        env.update(self.extra)
        return {k: v for k, v in env.items() if v}


def image_for(image: str, architecture: str) -> str:
    """The winner's image for another architecture by the catalogue's tag format
    (clothing-tflite:reference-float32 -> clothing-tflite:reference-float32-arm64); a tag that is not the
    project's (a user's --image) gets the same ``-<arch>`` suffix."""
    suffix = f"-{architecture}"
    if architecture == catalogue.DEFAULT_ARCH or image.endswith(suffix):
        return image
    t = catalogue.parse_tag(image)
    if t is not None and architecture in catalogue.ARCHS:
        return str(t._replace(arch=architecture))
    return image + suffix


def _from_image_tag(s: Settings) -> None:
    t = catalogue.parse_tag(s.image)
    if t:
        s.image_kind = s.image_kind or t.kind
        s.model = s.model or t.model
        s.variant = s.variant or t.variant
        s.runtime = s.runtime or catalogue.runtime_of(t.kind)


def _winner_layer(path: Path) -> dict[str, object]:
    """results/winner.json as settings fields (the bottom layer)."""
    try:
        w = Winner.load(path, default_memory_mb=DEFAULT_MEMORY_MB)
    except ContractError as e:
        raise DeployError(f"{e}; fix: re-run `make report`.") from e
    fields = ("image", "image_kind", "runtime", "model", "variant", "memory_mb", "architecture", "threads")
    layer: dict[str, object] = {f: getattr(w, f) for f in fields}
    layer |= {"source": str(path), "mode": modes.from_winner(w.raw)}
    chosen = modes.chosen_cell(w.raw)  # the mode's own cell (another image or memory size may win there)
    if chosen.get("image") not in (None, w.image):
        for name in ("image_kind", "runtime", "model", "variant"):
            layer.pop(name, None)
    return layer | chosen


def _env_layer() -> dict[str, object]:
    return {name: value for var, name in ENV.items() if (value := read(var, ""))}


def load(
    winner: Path | None = None,
    overrides: dict[str, object] | None = None,
    need_image: bool = True,
    use_winner: bool = True,
) -> Settings:
    """winner.json < $DEPLOY_* < flags. ``need_image=False`` (undeploy) works without winner.json."""
    path = Path(winner) if winner else DEFAULT_WINNER
    bottom = _winner_layer(path) if use_winner and path.is_file() else {}
    flags = {k: v for k, v in (overrides or {}).items() if v is not None and k not in MODE_FLAGS}
    mode_flags = {MODE_FLAGS[k]: v for k, v in (overrides or {}).items() if k in MODE_FLAGS}
    merged: dict[str, object] = {**bottom, **_env_layer(), **flags}
    if merged.get("image") != bottom.get("image") or "image_kind" not in bottom:  # describe it by its tag
        for name in ("image_kind", "runtime", "model", "variant"):
            merged.pop(name, None)
    try:
        for name in ("memory_mb", "timeout_s", "threads"):
            if name in merged:
                merged[name] = int(str(merged[name]))
    except ValueError as e:
        raise DeployError(
            f"memory, timeout and threads must be integers ({e}); fix the flag or $DEPLOY_*."
        ) from e
    form = catalogue.packaging_form(merged.get("package", catalogue.DEFAULT_PACKAGING.name))
    if form is not None and not form.from_image:  # model/variant come from the form's own manifest
        need_image = False
        for name in ("image", "image_kind", "runtime", "model", "variant"):
            merged.pop(name, None)
    elif "image" in merged and "image" not in flags and "image" not in _env_layer():
        arch = str(merged.get("architecture", catalogue.DEFAULT_ARCH))
        merged["image"] = image_for(str(merged["image"]), arch)
    concurrency = _concurrency(merged.pop("reserved_concurrency", None), merged.get("url"))
    base = merged.pop("mode", None)
    mode = modes.with_flags(base if isinstance(base, modes.Mode) else modes.Mode(), mode_flags)
    if mode.managed and mode.memory_mb and "memory_mb" not in flags and "memory_mb" not in _env_layer():
        merged["memory_mb"] = mode.memory_mb  # the environment's memory the throughput run priced
    merged["mode"] = mode
    s = Settings(**merged)  # type: ignore[arg-type]  # keys are Settings fields (ENV, flags, winner)
    s.reserved_concurrency = concurrency
    s.repository = s.repository or s.function_name
    _from_image_tag(s)
    _check(s, need_image, path)
    return s


def _concurrency(raw: object, url: object) -> int | None:
    """--reserved-concurrency / $DEPLOY_RESERVED_CONCURRENCY: a count >= 1, or "none"; unset means
    DEFAULT_PUBLIC_CONCURRENCY for a public URL and no reservation otherwise."""
    if raw is None or raw == "":
        return DEFAULT_PUBLIC_CONCURRENCY if url == "public" else None
    if str(raw).strip().lower() == "none":
        return None
    try:
        n = int(str(raw))
    except ValueError:
        n = 0
    if n < 1:
        raise DeployError(f"reserved concurrency must be a count >= 1 or 'none', got {raw!r}")
    return n


def _check(s: Settings, need_image: bool, path: Path) -> None:
    if need_image and not s.image:
        raise DeployError(
            f"no winner.json at {path} and no image given; "
            "fix: run `make bench` (writes results/winner.json) or "
            "pass --image clothing-<image>:<model>-<variant>."
        )
    if s.architecture not in ARCHITECTURES:
        raise DeployError(
            f"architecture {s.architecture!r} is not one of {', '.join(ARCHITECTURES)}; "
            "fix: --architecture x86_64 or arm64."
        )
    if not 128 <= s.memory_mb <= 10240:
        raise DeployError(f"memory {s.memory_mb} MB is outside Lambda's 128..10240; fix: --memory.")
    form = catalogue.packaging_form(s.package)
    if form is None:
        names = catalogue.PACKAGING_NAMES
        raise DeployError(
            f"package {s.package!r} is not one of {', '.join(names)}; fix: --package {' or '.join(names)}."
        )
    if s.mode.managed and s.memory_mb < modes.MANAGED_MIN_MEMORY_MB:
        raise DeployError(
            f"memory {s.memory_mb} MB is below Managed Instances' {modes.MANAGED_MIN_MEMORY_MB} MB; "
            "fix: --memory 2048 (or more)"
        )
    if s.mode.managed and not form.managed_instances:
        raise DeployError(
            f"Managed Instances are deployed from the image here; fix: drop --package {s.package}"
        )
    if s.url not in (None, "iam", "public"):
        raise DeployError(f"--url must be iam or public, got {s.url!r}")
