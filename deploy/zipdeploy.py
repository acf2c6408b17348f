"""Deploy the zip + layer form (`make package` -> build/package/) as a PackageType=Zip function.

Same steps, plan symbols and dry run as the image deploy (deploy/aws.py's Deployer, which this extends);
what differs:

* **layer**: the architecture's ``layer-<arch>.zip`` is published as a version of layer
  ``<function>-deps`` (python3.13, that architecture). Layer versions cannot carry tags, so ownership is
  recorded in the version's Description: ``<MANAGED_TAG>=<MANAGED_VALUE> <arch> sha256:<hex>``. An
  existing version with the same archive hash is reused (the archives are byte-reproducible, so an
  unchanged layer is never republished); ``undeploy`` deletes only versions carrying that record.
* **function**: python3.13, ``lambda_function.lambda_handler``, the layer, the model's MODEL_* variables,
  and SnapStart on published versions (Python 3.12+ managed runtimes, zip only:
  https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html). Code is compared by CodeSha256.
* **upload**: archives up to 50 MiB go in the request (``ZipFile``/``Content.ZipFile``); larger ones
  through S3 (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), into
  ``--s3-bucket`` or a bucket deploy creates and tags (``<function>-code-<account>-<region>``).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from core.contracts import ContractError, PackageSummary
from deploy import MANAGED_TAG, MANAGED_VALUE, DeployError
from deploy.aws import (
    NOT_FOUND,
    Deployer,
    Identity,
    Outcome,
    check_not_failed,
    create_with_role_retry,
    error_code,
    identity,
    is_managed,
    unless_missing,
)
from deploy.settings import ALIAS, Settings

RUNTIME = "python3.13"
HANDLER = "lambda_function.lambda_handler"
MARK = f"{MANAGED_TAG}={MANAGED_VALUE}"


@dataclass(frozen=True)
class Archive:
    path: Path
    data: bytes

    @property
    def hex(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def code_sha256(self) -> str:
        """Lambda's CodeSha256: base64 of the sha256 digest."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode()


@dataclass(frozen=True)
class Package:
    """build/package/ as `make package` left it: package.json + function.zip + layer-<arch>.zip."""

    model: str
    variant: str
    function: Archive
    layer: Archive

    @classmethod
    def read(cls, folder: Path, arch: str) -> Package:
        try:
            summary = PackageSummary.load(folder)
            function = Archive(folder / "function.zip", (folder / "function.zip").read_bytes())
            layer_path = folder / f"layer-{arch}.zip"
            layer = Archive(layer_path, layer_path.read_bytes())
        except (OSError, ContractError) as e:
            raise DeployError(
                f"no zip package for {arch} in {folder} ({e.__class__.__name__}: {e}); "
                f"fix: run `make package` (or python -m images.package --arch {arch})."
            ) from e
        if summary.runtime != RUNTIME:
            raise DeployError(
                f"{folder}/package.json is for {summary.runtime}, not {RUNTIME}; fix: re-run `make package`."
            )
        return cls(summary.model, summary.variant, function, layer)

    def environment(self) -> dict[str, str]:
        """What the TFLite image sets in its Dockerfile, for the zip layout (/var/task/model/...)."""
        return {
            "MODEL_RUNTIME": "tflite",
            "MODEL_PATH": f"/var/task/model/{self.variant}.tflite",
            "MODEL_VARIANT": self.variant,
        }


def bucket_name(s: Settings, ident: Identity) -> str:
    """deploy's own upload bucket (bucket names are global: account and region make it unique)."""
    return f"{s.function_name}-code-{ident.account}-{ident.region}".lower()[:63]


def bucket_state(s3: Any, name: str) -> str:
    """ "absent", "ours" (tagged by deploy), "other" (exists untagged) or "foreign" (403: another
    account's: bucket names are global)."""
    try:
        s3.head_bucket(Bucket=name)
    except ClientError as e:
        code = error_code(e)
        if code in ("404", "NoSuchBucket"):
            return "absent"
        if code in ("403", "AccessDenied"):
            return "foreign"
        raise
    tags = unless_missing("NoSuchTagSet", s3.get_bucket_tagging, Bucket=name) or {}
    return "ours" if is_managed(tags.get("TagSet")) else "other"


def layer_name(s: Settings) -> str:
    return f"{s.function_name}-deps"[:140]


def layer_record(arch: str, archive: Archive) -> str:
    return f"{MARK} {arch} sha256:{archive.hex}"


class ZipDeployer(Deployer):
    """One zip + layer deploy run (``dry_run`` prints the plan)."""

    def __init__(self, settings: Settings, sess: Any, **kwargs: Any) -> None:
        super().__init__(settings, sess, **kwargs)
        self.s3 = sess.client("s3")
        self.pkg = Package.read(settings.package_dir, settings.architecture)
        self.layer_arn = ""
        settings.runtime, settings.model, settings.variant = "tflite", self.pkg.model, self.pkg.variant

    def label(self) -> str:
        return f"zip {self.pkg.model}-{self.pkg.variant}"

    # -- uploads ----------------------------------------------------------------------------------
    def bucket(self, ident: Identity) -> str:
        """--s3-bucket, or a bucket of deploy's own (created and tagged on first need)."""
        if self.s.s3_bucket:
            return self.s.s3_bucket
        name = bucket_name(self.s, ident)
        state = bucket_state(self.s3, name)
        if state == "foreign":
            raise DeployError(f"S3 bucket {name} belongs to someone else; fix: --s3-bucket <your bucket>.")
        if state != "absent":
            return name

        def create() -> None:
            kw: dict[str, Any] = {"Bucket": name}
            if ident.region != "us-east-1":
                kw["CreateBucketConfiguration"] = {"LocationConstraint": ident.region}
            self.s3.create_bucket(**kw)
            self.s3.put_bucket_tagging(
                Bucket=name, Tagging={"TagSet": [{"Key": MANAGED_TAG, "Value": MANAGED_VALUE}]}
            )

        self.step(
            "+",
            f"create S3 bucket {name} for uploads over {self.s.upload_limit} bytes (tagged {MARK})",
            create,
        )
        return name

    def code(self, archive: Archive, ident: Identity) -> dict[str, Any]:
        """Code/Content argument: the bytes when small enough for a direct upload, else an S3 object."""
        if len(archive.data) <= self.s.upload_limit:
            return {"ZipFile": archive.data}
        bucket = self.bucket(ident)
        key = f"{self.s.function_name}/{archive.path.stem}-{archive.hex[:16]}.zip"
        self.step(
            "+",
            f"upload {archive.path.name} ({len(archive.data)} bytes) to s3://{bucket}/{key}",
            lambda: self.s3.put_object(Bucket=bucket, Key=key, Body=archive.data),
        )
        return {"S3Bucket": bucket, "S3Key": key}

    # -- layer ------------------------------------------------------------------------------------
    def ensure_layer(self, ident: Identity) -> str:
        """The layer version holding this archive (same hash recorded), else a new one."""
        name, arch, archive = layer_name(self.s), self.s.architecture, self.pkg.layer
        record = layer_record(arch, archive)
        versions = self.lam.list_layer_versions(LayerName=name).get("LayerVersions", [])
        same = [v for v in versions if v.get("Description") == record]
        if same:
            arn = str(same[0]["LayerVersionArn"])
            self.step("=", f"layer {name} version {arn.rsplit(':', 1)[1]} holds {archive.path.name} ({arch})")
            return arn

        content = self.code(archive, ident)

        def publish() -> str:
            return str(
                self.lam.publish_layer_version(
                    LayerName=name,
                    Description=record,
                    Content=content,
                    CompatibleRuntimes=[RUNTIME],
                    CompatibleArchitectures=[arch],
                )["LayerVersionArn"]
            )

        arn = self.step(
            "+",
            f"publish layer {name} from {archive.path.name} ({len(archive.data) / 2**20:.1f} MiB, {arch})",
            publish,
        )
        return str(arn or f"arn:{ident.partition}:lambda:{ident.region}:{ident.account}:layer:{name}:<new>")

    # -- function ---------------------------------------------------------------------------------
    def desired_config(self, role_arn: str) -> dict[str, Any]:
        env = {**self.s.environment(), **self.pkg.environment()}
        return {
            **super().desired_config(role_arn),
            "Environment": {"Variables": env},
            "Runtime": RUNTIME,
            "Handler": HANDLER,
            "Layers": [self.layer_arn],
            "SnapStart": {"ApplyOn": "PublishedVersions" if self.s.snapstart else "None"},
        }

    @staticmethod
    def current_config(cfg: dict[str, Any]) -> dict[str, Any]:
        return {
            **Deployer.current_config(cfg),
            "Runtime": cfg.get("Runtime"),
            "Handler": cfg.get("Handler"),
            "Layers": [x.get("Arn") for x in cfg.get("Layers") or []],
            "SnapStart": {"ApplyOn": (cfg.get("SnapStart") or {}).get("ApplyOn", "None")},
        }

    def ensure_function(self, image_uri: str, role_arn: str) -> dict[str, Any] | None:
        """Create or update $LATEST from function.zip (``image_uri`` is unused: kept for the signature)."""
        name, arch, archive = self.s.function_name, self.s.architecture, self.pkg.function
        desired = self.desired_config(role_arn)
        fn = unless_missing(NOT_FOUND, self.lam.get_function, FunctionName=name)
        if fn is None:
            code = self.code(archive, identity(self.sess))

            def create() -> dict[str, Any]:
                create_with_role_retry(
                    self.lam,
                    FunctionName=name,
                    PackageType="Zip",
                    Code=code,
                    Architectures=[arch],
                    Publish=False,
                    Tags={MANAGED_TAG: MANAGED_VALUE},
                    Description=f"zip {self.pkg.model}-{self.pkg.variant} ({RUNTIME}, layer)",
                    **desired,
                )
                self.wait("function_active_v2")
                return self.lam.get_function_configuration(FunctionName=name)

            return self.step(
                "+",
                f"create zip function {name} ({archive.path.name}, {self.s.memory_mb} MB, "
                f"{arch}, SnapStart {desired['SnapStart']['ApplyOn']})",
                create,
            )
        self._check_owned(fn)
        cfg = fn["Configuration"]
        if cfg.get("CodeSha256") != archive.code_sha256 or cfg.get("Architectures") != [arch]:
            code = self.code(archive, identity(self.sess))
            self.step(
                "~",
                f"update function code {name}: {cfg.get('CodeSha256')} {cfg.get('Architectures')} -> "
                f"{archive.code_sha256} [{arch}]",
                lambda: (
                    self.lam.update_function_code(
                        FunctionName=name, Architectures=[arch], Publish=False, **code
                    ),
                    self.wait("function_updated_v2"),
                ),
            )
        else:
            self.step("=", f"function {name} code is {archive.path.name} ({archive.code_sha256})")
        self._update_config(cfg, desired)
        return cfg if self.dry else self.lam.get_function_configuration(FunctionName=name)

    def _check_owned(self, fn: dict[str, Any]) -> None:
        name = self.s.function_name
        if not is_managed(fn.get("Tags")):
            raise DeployError(
                f"function {name} exists but was not created by deploy (no {MANAGED_TAG} tag); "
                "fix: choose another --function-name or delete it."
            )
        if fn["Configuration"].get("PackageType") != "Zip":  # Lambda cannot change a function's type
            raise DeployError(
                f"function {name} is a {fn['Configuration'].get('PackageType')} function; "
                "fix: `python -m deploy undeploy` it first or choose another --function-name."
            )
        check_not_failed(fn["Configuration"])

    # -- the whole run ----------------------------------------------------------------------------
    def run(self) -> Outcome:
        ident = identity(self.sess)
        self.out.write(
            f"deploy zip {self.pkg.model}-{self.pkg.variant} ({self.pkg.function.path.name} + "
            f"{self.pkg.layer.path.name}) to {self.s.function_name} in {ident.account}/{ident.region}"
            f"{' [dry run]' if self.dry else ''}\n"
        )
        self.layer_arn = self.ensure_layer(ident)
        role_arn = self.ensure_role(ident)
        latest = self.ensure_function("", role_arn)
        version = self.ensure_alias(latest, role_arn)
        if self.s.snapstart and not self.dry and version:
            status = self.lam.get_function_configuration(FunctionName=self.s.function_name, Qualifier=version)
            self.step(
                "=",
                f"SnapStart on version {version}: "
                f"{(status.get('SnapStart') or {}).get('OptimizationStatus', 'not reported')}",
            )
        self.result.url = self.ensure_url(exists=latest is not None)
        self.result.version, self.result.image_uri = version, f"zip:{self.pkg.function.code_sha256}"
        self.result.function_arn = (
            f"arn:{ident.partition}:lambda:{ident.region}:{ident.account}:function:"
            f"{self.s.function_name}:{ALIAS}"
        )
        return self.result


def local_image(s: Settings) -> str:
    """The packaged zip + layer as a local image (images/package.py), for the check's local answer."""
    from images import package
    from infra import docker

    try:
        return package.local_image(s.package_dir, s.architecture)
    except (OSError, ValueError, docker.DockerError) as e:
        raise DeployError(
            f"cannot run the zip package locally ({e}); fix: `make base`, `make package`, or --no-verify."
        ) from e


# -- undeploy -------------------------------------------------------------------------------------
def undeploy_layers(d: Deployer) -> None:
    """Delete the layer versions deploy published (their Description carries the record), no other."""
    name = layer_name(d.s)
    for v in d.lam.list_layer_versions(LayerName=name).get("LayerVersions", []):
        number = v["Version"]
        if str(v.get("Description", "")).startswith(MARK + " "):
            d.step(
                "-",
                f"delete layer version {name}:{number}",
                lambda n=number: d.lam.delete_layer_version(LayerName=name, VersionNumber=n),
            )
        else:
            d.step("=", f"layer version {name}:{number} was not published by deploy: left alone")


def undeploy_bucket(d: Deployer, ident: Identity) -> None:
    """Delete deploy's own upload bucket (tagged) with its objects; a --s3-bucket is left alone."""
    s3 = d.sess.client("s3")
    name = bucket_name(d.s, ident)
    state = bucket_state(s3, name)
    if state == "absent":
        return
    if state != "ours":
        d.step("=", f"S3 bucket {name} was not created by deploy: left alone")
        return

    def delete() -> None:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=obj["Key"])
        s3.delete_bucket(Bucket=name)

    d.step("-", f"delete S3 bucket {name} and its uploads", delete)
