"""Deploy / undeploy with boto3: ECR repository, push, execution role, function, version, alias, URL.

Every step first reads the current state and only then changes what differs, so a second run with
nothing changed performs no mutating call (no push, no update, no new version). In dry-run mode
the same reads happen and the would-be changes are only printed. Region, credentials and endpoint
come from the standard AWS configuration chain (``boto3.Session``, ``$AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import base64
import functools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TextIO, TypeVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, WaiterError

from core import catalogue
from deploy import MANAGED_TAG, MANAGED_VALUE, DeployError, dockercli, modes
from deploy.reads import (  # noqa: F401  (re-exported: zipdeploy, undeploy, bench's aws target, tests)
    NOT_FOUND,
    TRUST_POLICY,
    UNSUPPORTED,
    error_code,
    is_managed,
    tags_dict,
    unless_missing,
)
from deploy.registry import Registry, push_host
from deploy.roles import Role, ensure_role
from deploy.settings import ALIAS, Settings
from infra.awslambda import function_arn

BASIC_EXECUTION = "arn:{partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
PUBLIC_URL_SIDS = ("FunctionURLAllowPublicAccess", "FunctionURLInvokeAllowPublicAccess")
T = TypeVar("T")
#: IAM is eventually consistent: a role created seconds ago may not be assumable by Lambda yet.
ROLE_PROPAGATION_S = 90.0


def session(region: str | None = None) -> boto3.Session:
    """A boto3 Session from the standard chain; one-line DeployError when credentials/region are missing."""
    s = boto3.Session(region_name=region)
    if s.get_credentials() is None:
        raise DeployError(
            "no AWS credentials found; fix: run `aws configure` or `aws sso login`, set AWS_PROFILE, "
            "or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."
        )
    if not s.region_name:
        raise DeployError(
            "no AWS region configured; fix: export AWS_REGION=eu-west-1 (or set region in ~/.aws/config)."
        )
    return s


@dataclass(frozen=True)
class Identity:
    account: str
    partition: str
    region: str


def identity(s: boto3.Session) -> Identity:
    try:
        arn = s.client("sts").get_caller_identity()["Arn"]
    except NoCredentialsError as e:
        raise DeployError("no AWS credentials found; fix: run `aws configure` or set AWS_PROFILE.") from e
    except ClientError as e:
        raise DeployError(
            f"AWS rejected the credentials ({error_code(e)}); fix: refresh them "
            "(`aws sso login`, new access keys) or pick another AWS_PROFILE."
        ) from e
    except BotoCoreError as e:
        raise DeployError(f"cannot reach AWS STS ({e}); fix: check the network or $AWS_ENDPOINT_URL.") from e
    parts = arn.split(":")
    return Identity(account=parts[4], partition=parts[1], region=str(s.region_name))


@dataclass
class Outcome:
    """What a run did (or would do): one line per step, plus the values tests and reports need."""

    dry_run: bool
    steps: list[tuple[str, str]] = field(default_factory=list)  # (symbol, text): + create, ~ change, = same
    image_uri: str = ""
    digest: str = ""
    version: str = ""
    function_arn: str = ""
    url: str = ""
    verified: str = ""
    previous_version: str = ""  # what `live` served before this run moved it (for a rollback)

    @property
    def changed(self) -> bool:
        return any(sym != "=" for sym, _ in self.steps)


class Packaging(Protocol):
    """What a packaging form does at deploy time (an image -> ECR; a zip -> a layer, S3 when large).

    The Deployer runs the shared steps (role, function, version, alias, URL) in one order and asks the form
    only for what depends on it. One class per core.catalogue.PACKAGING_FORMS entry, bound to it by
    ``form`` and registered by name in deploy/packaging.py (ImagePackaging here, zipdeploy.ZipPackaging);
    what the forms differ by as data (Lambda's PackageType, SnapStart, Managed Instances) is the entry's."""

    form: ClassVar[catalogue.PackagingForm]

    @classmethod
    def from_settings(cls, s: Settings) -> Packaging:
        """The form's strategy for one deploy run (reads what it ships, e.g. build/package/)."""

    @classmethod
    def undeploy(cls, d: Deployer, ident: Identity) -> None:
        """Remove what this form created (deploy's record on it), after the function is gone."""

    def local_image(self, s: Settings) -> str:
        """A local image that runs the deployed code as Lambda does (the post-deploy check's answer)."""

    def check_local(self, d: Deployer) -> None:
        """Refuse before any AWS call when the local package cannot be shipped."""

    def header(self, d: Deployer, ident: Identity) -> str:
        """The run's first line: what goes where."""

    def prepare(self, d: Deployer, ident: Identity) -> None:
        """Put the code where the function will find it (push the image / publish the layer)."""

    def desired(self, d: Deployer, config: dict[str, Any]) -> dict[str, Any]:
        """The shared configuration plus the package's own fields."""

    def current(self, cfg: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
        """GetFunctionConfiguration's values of :meth:`desired`'s fields, in its shape."""

    def create(self, d: Deployer, desired: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """(plan line, CreateFunction arguments for the code) of a new function."""

    def check_existing(self, d: Deployer, fn: dict[str, Any]) -> None:
        """Refuse an existing function this package cannot update."""

    def update_code(self, d: Deployer, fn: dict[str, Any]) -> None:
        """The code step of an existing function: `~` when it differs, else `=`."""

    def published(self, d: Deployer, version: str) -> None:
        """After the alias moved (zip: report the SnapStart optimisation of the version)."""

    def code_id(self) -> tuple[str, str]:
        """(what the function runs, digest) for the outcome line."""

    def label(self, d: Deployer) -> str:
        """What is deployed, for version descriptions."""


class Deployer:
    """One deploy run of one package; ``dry_run`` turns every mutating call into a printed plan line."""

    def __init__(
        self,
        settings: Settings,
        sess: boto3.Session,
        packaging: Packaging | None = None,
        *,
        dry_run: bool = False,
        out: TextIO | None = None,
        progress: TextIO | None = None,
    ) -> None:
        self.s = settings
        self.sess = sess
        self.pkg: Packaging = packaging or ImagePackaging()
        self.dry = dry_run
        self.out = out or sys.stdout
        self.progress = progress or sys.stderr
        self.result = Outcome(dry_run=dry_run)
        self.ecr = sess.client("ecr")
        self.iam = sess.client("iam")
        self.lam = sess.client("lambda")
        self.capacity_arn = ""  # the capacity provider's ARN (Managed Instances mode)

    # -- output ---------------------------------------------------------------------------------
    def step(self, symbol: str, text: str, action: Callable[[], Any] | None = None) -> Any:
        """Record/print one step and run ``action`` unless dry-run (then it is only planned)."""
        self.result.steps.append((symbol, text))
        prefix = "would " if self.dry and symbol != "=" else ""
        self.out.write(f"{symbol} {prefix}{text}\n")
        self.out.flush()
        if action is not None and not self.dry:
            return action()
        return None

    # -- IAM --------------------------------------------------------------------------------------
    def ensure_role(self, ident: Identity) -> str:
        """The function's execution role (logs only): --role-arn, else <function>-exec made once."""
        role = Role(
            "execution role",
            self.s.role_name,
            "Lambda execution role for the clothing classifier (logs only)",
            BASIC_EXECUTION.format(partition=ident.partition),
            "--role-arn",
            self.s.role_arn or "",
        )
        return ensure_role(self, role, ident.partition, ident.account)

    # -- Lambda -----------------------------------------------------------------------------------
    def desired_config(self, role_arn: str) -> dict[str, Any]:
        shared = {
            "MemorySize": self.s.memory_mb,
            "Timeout": self.s.timeout_s,
            "Role": role_arn,
            "Environment": {"Variables": self.s.environment()},
        }
        if self.s.mode.managed:
            shared["CapacityProviderConfig"] = modes.function_capacity_config(self.capacity_arn, self.s.mode)
        return self.pkg.desired(self, shared)

    def config_diff(self, cfg: dict[str, Any], desired: dict[str, Any]) -> list[str]:
        """The keys of ``desired`` whose value GetFunctionConfiguration's ``cfg`` does not have."""
        shared = {
            "MemorySize": cfg.get("MemorySize"),
            "Timeout": cfg.get("Timeout"),
            "Role": cfg.get("Role"),
            "Environment": {"Variables": (cfg.get("Environment") or {}).get("Variables") or {}},
        }
        if "CapacityProviderConfig" in desired:
            shared["CapacityProviderConfig"] = cfg.get("CapacityProviderConfig")
        current = self.pkg.current(cfg, shared)
        return [k for k in desired if current.get(k) != desired[k]]

    def _update_config(self, cfg: dict[str, Any], desired: dict[str, Any]) -> None:
        """The configuration step of a create-or-update: `~` with the changed keys, else `=`."""
        name = self.s.function_name
        diff = self.config_diff(cfg, desired)
        if not diff:
            self.step("=", f"function {name} configuration unchanged")
            return

        def update() -> None:
            self.lam.update_function_configuration(FunctionName=name, **desired)
            self.wait("function_updated_v2")

        self.step("~", f"update function configuration {name}: {', '.join(diff)}", update)

    def wait(self, waiter: str, qualifier: str | None = None) -> None:
        wait_ready(self.lam, self.s.function_name, waiter, qualifier)

    def ensure_function(self, role_arn: str) -> dict[str, Any] | None:
        """Create or update $LATEST; returns its configuration (None in dry-run when it does not exist)."""
        name, arch = self.s.function_name, self.s.architecture
        desired = self.desired_config(role_arn)
        fn = unless_missing(NOT_FOUND, self.lam.get_function, FunctionName=name)
        if fn is None:
            text, code = self.pkg.create(self, desired)

            def create() -> dict[str, Any]:
                create_with_role_retry(
                    self.lam,
                    FunctionName=name,
                    Architectures=[arch],
                    Publish=False,
                    Tags={MANAGED_TAG: MANAGED_VALUE},
                    **code,
                    **desired,
                )
                self.wait("function_active_v2")
                return dict(self.lam.get_function_configuration(FunctionName=name))

            created: dict[str, Any] | None = self.step("+", text, create)
            return created
        if not is_managed(fn.get("Tags")):
            raise DeployError(
                f"function {name} exists but was not created by deploy (no {MANAGED_TAG} tag); "
                "fix: choose another --function-name or delete it."
            )
        self.pkg.check_existing(self, fn)
        cfg = fn["Configuration"]
        check_not_failed(cfg)
        modes.check_compute_type(self, cfg)
        self.pkg.update_code(self, fn)
        self._update_config(cfg, desired)
        if self.dry:
            return dict(cfg)
        return dict(self.lam.get_function_configuration(FunctionName=name))

    def ensure_alias(self, latest: dict[str, Any] | None, role_arn: str) -> str:
        """Publish a version only if $LATEST differs from what `live` serves; then point `live` at it."""
        name = self.s.function_name
        alias = None
        if latest is not None:
            alias = unless_missing(NOT_FOUND, self.lam.get_alias, FunctionName=name, Name=ALIAS)
        if alias is not None and latest is not None and not self.result.changed:
            served = self.lam.get_function_configuration(
                FunctionName=name, Qualifier=alias["FunctionVersion"]
            )
            if served.get("CodeSha256") == latest.get("CodeSha256") and not self.config_diff(
                served, self.desired_config(role_arn)
            ):
                self.step("=", f"alias {ALIAS} -> version {alias['FunctionVersion']} is current")
                return str(alias["FunctionVersion"])

        def publish() -> str:
            v = self.lam.publish_version(
                FunctionName=name,
                CodeSha256=str(latest["CodeSha256"]) if latest else "",
                Description=f"{self.pkg.label(self)} {self.s.memory_mb}MB",
            )["Version"]
            self.wait("published_version_active", qualifier=str(v))
            return str(v)

        version = str(self.step("+", f"publish a version of {name}", publish) or "<new>")
        if alias is None:
            self.step(
                "+",
                f"create alias {ALIAS} -> version {version}",
                lambda: self.lam.create_alias(FunctionName=name, Name=ALIAS, FunctionVersion=version),
            )
        elif alias["FunctionVersion"] != version:
            self.result.previous_version = str(alias["FunctionVersion"])
            self.step(
                "~",
                f"move alias {ALIAS}: version {alias['FunctionVersion']} -> {version}",
                lambda: self.lam.update_alias(FunctionName=name, Name=ALIAS, FunctionVersion=version),
            )
        else:
            self.step("=", f"alias {ALIAS} -> version {version}")
        return version

    def ensure_url(self, exists: bool) -> str:
        """Function URL on the alias: AWS_IAM by default, NONE (public) only with --url public."""
        if not self.s.url:
            return ""
        name, auth = self.s.function_name, ("NONE" if self.s.url == "public" else "AWS_IAM")
        current = None
        if exists:
            current = unless_missing(
                NOT_FOUND, self.lam.get_function_url_config, FunctionName=name, Qualifier=ALIAS
            )
        if current is None:
            made = self.step(
                "+",
                f"create function URL on {name}:{ALIAS} (AuthType {auth})",
                lambda: self.lam.create_function_url_config(
                    FunctionName=name, Qualifier=ALIAS, AuthType=auth
                ),
            )
            url = str((made or {}).get("FunctionUrl", "<url>"))
        elif current["AuthType"] != auth:
            self.step(
                "~",
                f"change function URL AuthType {current['AuthType']} -> {auth}",
                lambda: self.lam.update_function_url_config(
                    FunctionName=name, Qualifier=ALIAS, AuthType=auth
                ),
            )
            url = str(current["FunctionUrl"])
        else:
            self.step("=", f"function URL {current['FunctionUrl']} (AuthType {auth})")
            url = str(current["FunctionUrl"])
        sids = policy_sids(self.lam, name, ALIAS) if exists else set()
        if auth == "NONE":
            if not set(PUBLIC_URL_SIDS) <= sids:
                self.step(
                    "+",
                    "allow public invocation through the function URL (lambda:InvokeFunctionUrl)",
                    lambda: add_public_url_permissions(self.lam, name, sids),
                )
        else:
            for sid in PUBLIC_URL_SIDS:
                if sid in sids:
                    self.step(
                        "~",
                        f"remove public URL permission {sid}",
                        functools.partial(
                            self.lam.remove_permission, FunctionName=name, StatementId=sid, Qualifier=ALIAS
                        ),
                    )
        return url

    def ensure_concurrency(self, exists: bool) -> None:
        """Reserved concurrency (settings.reserved_concurrency): it bounds how many sandboxes a flood can
        start, so it bounds the bill of a public URL; None removes a reservation this function has."""
        name, want = self.s.function_name, self.s.reserved_concurrency
        have = None
        if exists:
            got = self.lam.get_function_concurrency(FunctionName=name)
            have = got.get("ReservedConcurrentExecutions")
        if want == have:
            self.step("=", f"reserved concurrency {'none' if want is None else want}")
        elif want is None:
            self.step(
                "~",
                f"remove reserved concurrency {have}",
                lambda: self.lam.delete_function_concurrency(FunctionName=name),
            )
        else:
            why = " (public URL: caps what a flood of requests can bill)" if self.s.url == "public" else ""
            self.step(
                "+" if have is None else "~",
                f"reserved concurrency {have if have is not None else 'none'} -> {want}{why}",
                lambda: self.lam.put_function_concurrency(
                    FunctionName=name, ReservedConcurrentExecutions=want
                ),
            )

    # -- the whole run ----------------------------------------------------------------------------
    def run(self) -> Outcome:
        self.pkg.check_local(self)
        ident = identity(self.sess)
        self.out.write(self.pkg.header(self, ident))
        self.pkg.prepare(self, ident)
        role_arn = self.ensure_role(ident)
        if self.s.mode.managed:
            self.capacity_arn = modes.ensure_capacity_provider(self, ident)
        latest = self.ensure_function(role_arn)
        version = self.ensure_alias(latest, role_arn)
        self.pkg.published(self, version)
        modes.ensure_provisioned(self, exists=latest is not None, alias=ALIAS)
        self.result.url = self.ensure_url(exists=latest is not None)
        self.ensure_concurrency(exists=latest is not None)
        self.result.version = version
        self.result.image_uri, self.result.digest = self.pkg.code_id()
        self.result.function_arn = function_arn(
            ident.partition, ident.region, ident.account, self.s.function_name, ALIAS
        )
        return self.result


class ImagePackaging:
    """An image: the ECR repository and the push (skipped when ECR already holds the image's config)."""

    form: ClassVar[catalogue.PackagingForm] = catalogue.PACKAGING_FORMS["image"]

    def __init__(self, image_uri: str = "") -> None:
        self.local: dockercli.LocalImage | None = None
        self.image_uri = image_uri  # <repository uri>@<digest> once pushed (or given: bench's aws target)
        self.digest = image_uri.rpartition("@")[2] if "@" in image_uri else ""

    @classmethod
    def from_settings(cls, s: Settings) -> ImagePackaging:
        return cls()

    @classmethod
    def undeploy(cls, d: Deployer, ident: Identity) -> None:
        """The ECR repository (with its images) when deploy created it (tagged)."""
        ecr, repo = d.ecr, d.s.repository
        found = unless_missing(
            "RepositoryNotFoundException", ecr.describe_repositories, repositoryNames=[repo]
        )
        if found is None:
            d.step("=", f"ECR repository {repo} does not exist")
            return
        arn = found["repositories"][0]["repositoryArn"]
        if is_managed(ecr.list_tags_for_resource(resourceArn=arn)["tags"]):
            d.step(
                "-",
                f"delete ECR repository {repo} and its images",
                lambda: ecr.delete_repository(repositoryName=repo, force=True),
            )
        else:
            d.step("=", f"ECR repository {repo} was not created by deploy: left alone")

    def local_image(self, s: Settings) -> str:
        return s.image

    def check_local(self, d: Deployer) -> None:
        self.local = dockercli.inspect_image(d.s.image)
        dockercli.check_architecture(self.local, d.s.architecture)

    def header(self, d: Deployer, ident: Identity) -> str:
        arch = self.local.architecture if self.local else "unknown"
        return (
            f"deploy {d.s.image} ({arch}) from {d.s.source} to {d.s.function_name}"
            f" in {ident.account}/{ident.region}{' [dry run]' if d.dry else ''}\n"
        )

    def prepare(self, d: Deployer, ident: Identity) -> None:
        if self.local is None:
            self.check_local(d)
        assert self.local is not None  # check_local set it or raised
        repo_uri = self.ensure_repository(d, ident)
        self.digest = self.ensure_image(d, self.local, repo_uri)
        self.image_uri = f"{repo_uri}@{self.digest}"

    def ensure_repository(self, d: Deployer, ident: Identity) -> str:
        name = d.s.repository
        found = unless_missing(
            "RepositoryNotFoundException", d.ecr.describe_repositories, repositoryNames=[name]
        )
        if found is not None:
            d.step("=", f"ECR repository {name} exists")
            return str(found["repositories"][0]["repositoryUri"])
        created = d.step(
            "+",
            f"create ECR repository {name} (tagged {MANAGED_TAG}={MANAGED_VALUE})",
            lambda: d.ecr.create_repository(
                repositoryName=name,
                imageTagMutability="MUTABLE",
                tags=[{"Key": MANAGED_TAG, "Value": MANAGED_VALUE}],
            ),
        )
        if created:
            return str(created["repository"]["repositoryUri"])
        suffix = ".cn" if ident.partition == "aws-cn" else ""
        return f"{ident.account}.dkr.ecr.{ident.region}.amazonaws.com{suffix}/{name}"

    def ensure_image(self, d: Deployer, image: dockercli.LocalImage, repository_uri: str) -> str:
        """Push the local image unless the registry already holds it; returns the manifest digest."""
        host = push_host(repository_uri, d.s.registry)
        repo_path = repository_uri.split("/", 1)[1]
        auth = d.ecr.get_authorization_token()["authorizationData"][0]
        token = str(auth["authorizationToken"])
        registry = Registry(host, basic_token=token)
        remote = registry.manifest(repo_path, d.s.remote_tag)
        if remote is not None and remote.config_digest == image.id:
            d.step("=", f"image {image.ref} already in {host}/{repo_path} as {remote.digest}")
            return remote.digest
        target = f"{host}/{repo_path}:{d.s.remote_tag}"

        def push() -> str:
            user, password = base64.b64decode(token).decode().split(":", 1)
            dockercli.login(host, user, password)
            dockercli.tag(image.ref, target)
            try:
                digest = dockercli.push(target, out=d.progress)
            finally:
                dockercli.remove_tag(target)
            pushed = registry.manifest(repo_path, digest)
            if pushed is None or pushed.config_digest != image.id:
                raise DeployError(
                    f"push refused: {host} does not serve {repo_path}@{digest} after the push; "
                    "fix: check the registry (ECR lifecycle policy, permissions) and retry."
                )
            return digest

        digest = d.step("+", f"push {image.ref} ({image.id[:19]}) to {target}", push)
        return str(digest or "sha256:<digest after push>")

    def desired(self, d: Deployer, config: dict[str, Any]) -> dict[str, Any]:
        return config

    def current(self, cfg: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
        return config

    def create(self, d: Deployer, desired: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        text = (
            f"create function {d.s.function_name} ({self.image_uri}, {d.s.memory_mb} MB, {d.s.architecture})"
        )
        code = {
            "PackageType": self.form.package_type,
            "Code": {"ImageUri": self.image_uri},
            "Description": f"{d.s.image} ({d.s.runtime})",
        }
        return text, code

    def check_existing(self, d: Deployer, fn: dict[str, Any]) -> None:
        """An image update of any existing function is attempted (Lambda names a type mismatch)."""

    def update_code(self, d: Deployer, fn: dict[str, Any]) -> None:
        name, arch, cfg = d.s.function_name, d.s.architecture, fn["Configuration"]
        have = fn.get("Code", {}).get("ImageUri")
        if have == self.image_uri and cfg.get("Architectures") == [arch]:
            d.step("=", f"function {name} code is {self.image_uri}")
            return

        def update() -> None:
            d.lam.update_function_code(
                FunctionName=name, ImageUri=self.image_uri, Architectures=[arch], Publish=False
            )
            d.wait("function_updated_v2")

        d.step(
            "~",
            f"update function code {name}: {have} {cfg.get('Architectures')} -> {self.image_uri} [{arch}]",
            update,
        )

    def published(self, d: Deployer, version: str) -> None:
        """Nothing to report for an image version."""

    def code_id(self) -> tuple[str, str]:
        return self.image_uri, self.digest

    def label(self, d: Deployer) -> str:
        return d.s.image


# -- helpers shared with bench/measure/targets/aws.py ------------------------------------------------------
def check_not_failed(cfg: dict[str, Any]) -> None:
    """A Failed function (bad image, missing permissions) will not serve; say why and what to do."""
    if cfg.get("State") == "Failed" or cfg.get("LastUpdateStatus") == "Failed":
        reason = cfg.get("StateReason") or cfg.get("LastUpdateStatusReason") or "no reason given"
        code = cfg.get("StateReasonCode") or cfg.get("LastUpdateStatusReasonCode") or "Failed"
        raise DeployError(
            f"function {cfg.get('FunctionName')} is in a Failed state ({code}: {reason}); "
            "fix: correct the cause (image in ECR, role permissions, architecture) and run deploy again, "
            "or `make undeploy` and redeploy."
        )


def wait_ready(lam: Any, name: str, waiter: str, qualifier: str | None = None) -> None:
    """boto3's Lambda waiters, turning a Failed state into one DeployError line."""
    kwargs: dict[str, Any] = {"FunctionName": name, "WaiterConfig": {"Delay": 2, "MaxAttempts": 150}}
    if qualifier:
        kwargs["Qualifier"] = qualifier
    try:
        lam.get_waiter(waiter).wait(**kwargs)
    except WaiterError as e:
        cfg = e.last_response.get("Configuration", e.last_response) if e.last_response else {}
        check_not_failed({"FunctionName": name, **cfg})
        raise DeployError(
            f"function {name} did not become ready ({waiter}: {e}); "
            "fix: look at the function in the Lambda console and retry."
        ) from e


def create_with_role_retry(lam: Any, **kwargs: Any) -> dict[str, Any]:
    """create_function, retried while a new role is not yet assumable (IAM propagation)."""
    deadline = time.monotonic() + ROLE_PROPAGATION_S
    while True:
        try:
            return dict(lam.create_function(**kwargs))
        except ClientError as e:
            msg = str(e.response.get("Error", {}).get("Message", ""))
            if (
                error_code(e) == "InvalidParameterValueException"
                and "assume" in msg.lower()
                and time.monotonic() < deadline
            ):
                time.sleep(5)
                continue
            raise


def policy_sids(lam: Any, name: str, qualifier: str) -> set[str]:
    found = unless_missing(NOT_FOUND, lam.get_policy, FunctionName=name, Qualifier=qualifier)
    if found is None:
        return set()
    return {st.get("Sid", "") for st in json.loads(found["Policy"]).get("Statement", [])}


def add_public_url_permissions(lam: Any, name: str, existing: set[str]) -> None:
    """Public URLs need lambda:InvokeFunctionUrl and (since Oct 2025) lambda:InvokeFunction via the URL."""
    statements: tuple[tuple[str, dict[str, Any]], ...] = (
        ("lambda:InvokeFunctionUrl", {"FunctionUrlAuthType": "NONE"}),
        ("lambda:InvokeFunction", {"InvokedViaFunctionUrl": True}),
    )
    for sid, (action, condition) in zip(PUBLIC_URL_SIDS, statements, strict=True):
        if sid not in existing:
            lam.add_permission(
                FunctionName=name, Qualifier=ALIAS, StatementId=sid, Action=action, Principal="*", **condition
            )
