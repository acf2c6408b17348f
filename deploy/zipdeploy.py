"""Deploy the zip + layer form (`make package` -> build/package/) as a PackageType=Zip function.

Same steps, plan symbols and dry run as the image deploy (deploy/aws.py's Deployer runs them with this
module's ZipPackaging strategy); what differs:

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
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from core import catalogue
from core.contracts import ContractError, PackageSummary
from deploy import MANAGED_TAG, MANAGED_VALUE, DeployError
from deploy.aws import Deployer, Identity, error_code, identity, is_managed, unless_missing
from deploy.settings import Settings
from infra import docker

FORM = catalogue.PACKAGING_FORMS["zip"]
RUNTIME = FORM.managed_runtime  # python3.13: the python of the image kind the zip carries
KIND = FORM.kinds[0]  # the TFLite (LiteRT) image's handler, runtime and variants
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
        if summary.variant not in FORM.variants:
            raise DeployError(
                f"{folder}/package.json names variant {summary.variant!r}, which the zip cannot carry "
                f"({', '.join(FORM.variants)}); fix: re-run `make package`."
            )
        return cls(summary.model, summary.variant, function, layer)

    def environment(self) -> dict[str, str]:
        """What the TFLite image sets in its Dockerfile, for the zip layout (/var/task/model/<artefact>)."""
        return {
            "MODEL_RUNTIME": catalogue.runtime_of(KIND),
            "MODEL_PATH": f"/var/task/model/{FORM.variants[self.variant]}",
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


class ZipPackaging:
    """The zip + layer form: the layer version (reused when it holds the same archive), the function's
    code from function.zip, both uploaded through S3 when over the direct-upload limit."""

    form: ClassVar[catalogue.PackagingForm] = FORM

    def __init__(self, settings: Settings) -> None:
        self.pkg = Package.read(settings.package_dir, settings.architecture)
        self.layer_arn = ""
        self.ident: Identity | None = None
        self._s3: Any = None
        settings.runtime = catalogue.runtime_of(KIND)
        settings.model, settings.variant = self.pkg.model, self.pkg.variant

    @classmethod
    def from_settings(cls, s: Settings) -> ZipPackaging:
        return cls(s)

    @classmethod
    def undeploy(cls, d: Deployer, ident: Identity) -> None:
        """The layer versions and the upload bucket deploy made (their records), nothing else."""
        undeploy_layers(d)
        undeploy_bucket(d, ident)

    def local_image(self, s: Settings) -> str:
        """The packaged zip + layer as a local image (images/forms.py), for the check's local answer."""
        from images.forms import FORMS  # images/ builds; deploy needs it only for this check

        try:
            return FORMS[self.form.name].local_image(s.image, s.package_dir, s.architecture)
        except (OSError, ValueError, docker.DockerError) as e:
            raise DeployError(
                f"cannot run the zip package locally ({e}); fix: `make base`, `make package`, or --no-verify."
            ) from e

    def s3(self, d: Deployer) -> Any:
        if self._s3 is None:
            self._s3 = d.sess.client("s3")
        return self._s3

    def label(self, d: Deployer) -> str:
        return f"zip {self.pkg.model}-{self.pkg.variant}"

    def check_local(self, d: Deployer) -> None:
        """The package was read (and checked) when this strategy was made."""

    def header(self, d: Deployer, ident: Identity) -> str:
        return (
            f"deploy zip {self.pkg.model}-{self.pkg.variant} ({self.pkg.function.path.name} + "
            f"{self.pkg.layer.path.name}) to {d.s.function_name} in {ident.account}/{ident.region}"
            f"{' [dry run]' if d.dry else ''}\n"
        )

    def prepare(self, d: Deployer, ident: Identity) -> None:
        self.ident = ident
        self.layer_arn = self.ensure_layer(d, ident)

    # -- uploads ----------------------------------------------------------------------------------
    def bucket(self, d: Deployer, ident: Identity) -> str:
        """--s3-bucket, or a bucket of deploy's own (created and tagged on first need)."""
        if d.s.s3_bucket:
            return d.s.s3_bucket
        name = bucket_name(d.s, ident)
        state = bucket_state(self.s3(d), name)
        if state == "foreign":
            raise DeployError(f"S3 bucket {name} belongs to someone else; fix: --s3-bucket <your bucket>.")
        if state != "absent":
            return name

        def create() -> None:
            kw: dict[str, Any] = {"Bucket": name}
            if ident.region != "us-east-1":
                kw["CreateBucketConfiguration"] = {"LocationConstraint": ident.region}
            self.s3(d).create_bucket(**kw)
            self.s3(d).put_bucket_tagging(
                Bucket=name, Tagging={"TagSet": [{"Key": MANAGED_TAG, "Value": MANAGED_VALUE}]}
            )

        d.step(
            "+",
            f"create S3 bucket {name} for uploads over {d.s.upload_limit} bytes (tagged {MARK})",
            create,
        )
        return name

    def code(self, d: Deployer, archive: Archive) -> dict[str, Any]:
        """Code/Content argument: the bytes when small enough for a direct upload, else an S3 object."""
        if len(archive.data) <= d.s.upload_limit:
            return {"ZipFile": archive.data}
        bucket = self.bucket(d, self.ident or identity(d.sess))
        key = f"{d.s.function_name}/{archive.path.stem}-{archive.hex[:16]}.zip"
        d.step(
            "+",
            f"upload {archive.path.name} ({len(archive.data)} bytes) to s3://{bucket}/{key}",
            lambda: self.s3(d).put_object(Bucket=bucket, Key=key, Body=archive.data),
        )
        return {"S3Bucket": bucket, "S3Key": key}

    # -- layer ------------------------------------------------------------------------------------
    def ensure_layer(self, d: Deployer, ident: Identity) -> str:
        """The layer version holding this archive (same hash recorded), else a new one."""
        name, arch, archive = layer_name(d.s), d.s.architecture, self.pkg.layer
        record = layer_record(arch, archive)
        versions = d.lam.list_layer_versions(LayerName=name).get("LayerVersions", [])
        same = [v for v in versions if v.get("Description") == record]
        if same:
            arn = str(same[0]["LayerVersionArn"])
            d.step("=", f"layer {name} version {arn.rsplit(':', 1)[1]} holds {archive.path.name} ({arch})")
            return arn

        content = self.code(d, archive)

        def publish() -> str:
            return str(
                d.lam.publish_layer_version(
                    LayerName=name,
                    Description=record,
                    Content=content,
                    CompatibleRuntimes=[RUNTIME],
                    CompatibleArchitectures=[arch],
                )["LayerVersionArn"]
            )

        arn = d.step(
            "+",
            f"publish layer {name} from {archive.path.name} ({len(archive.data) / 2**20:.1f} MiB, {arch})",
            publish,
        )
        return str(arn or f"arn:{ident.partition}:lambda:{ident.region}:{ident.account}:layer:{name}:<new>")

    # -- function ---------------------------------------------------------------------------------
    def desired(self, d: Deployer, config: dict[str, Any]) -> dict[str, Any]:
        env = {**d.s.environment(), **self.pkg.environment()}
        return {
            **config,
            "Environment": {"Variables": env},
            "Runtime": RUNTIME,
            "Handler": HANDLER,
            "Layers": [self.layer_arn],
            "SnapStart": {
                "ApplyOn": "PublishedVersions" if d.s.snapstart and self.form.snapstart else "None"
            },
        }

    def current(self, cfg: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
        return {
            **config,
            "Runtime": cfg.get("Runtime"),
            "Handler": cfg.get("Handler"),
            "Layers": [x.get("Arn") for x in cfg.get("Layers") or []],
            "SnapStart": {"ApplyOn": (cfg.get("SnapStart") or {}).get("ApplyOn", "None")},
        }

    def create(self, d: Deployer, desired: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        archive = self.pkg.function
        code = {
            "PackageType": self.form.package_type,
            "Code": self.code(d, archive),
            "Description": f"zip {self.pkg.model}-{self.pkg.variant} ({RUNTIME}, layer)",
        }
        text = (
            f"create zip function {d.s.function_name} ({archive.path.name}, {d.s.memory_mb} MB, "
            f"{d.s.architecture}, SnapStart {desired['SnapStart']['ApplyOn']})"
        )
        return text, code

    def check_existing(self, d: Deployer, fn: dict[str, Any]) -> None:
        if fn["Configuration"].get("PackageType") != self.form.package_type:  # Lambda cannot change it
            raise DeployError(
                f"function {d.s.function_name} is a {fn['Configuration'].get('PackageType')} function; "
                "fix: `python -m deploy undeploy` it first or choose another --function-name."
            )

    def update_code(self, d: Deployer, fn: dict[str, Any]) -> None:
        name, arch, archive, cfg = d.s.function_name, d.s.architecture, self.pkg.function, fn["Configuration"]
        if cfg.get("CodeSha256") == archive.code_sha256 and cfg.get("Architectures") == [arch]:
            d.step("=", f"function {name} code is {archive.path.name} ({archive.code_sha256})")
            return
        code = self.code(d, archive)

        def update() -> None:
            d.lam.update_function_code(FunctionName=name, Architectures=[arch], Publish=False, **code)
            d.wait("function_updated_v2")

        d.step(
            "~",
            f"update function code {name}: {cfg.get('CodeSha256')} {cfg.get('Architectures')} -> "
            f"{archive.code_sha256} [{arch}]",
            update,
        )

    def published(self, d: Deployer, version: str) -> None:
        """SnapStart optimises a published version after the alias moved: say how it went."""
        if d.s.snapstart and not d.dry and version:
            status = d.lam.get_function_configuration(FunctionName=d.s.function_name, Qualifier=version)
            d.step(
                "=",
                f"SnapStart on version {version}: "
                f"{(status.get('SnapStart') or {}).get('OptimizationStatus', 'not reported')}",
            )

    def code_id(self) -> tuple[str, str]:
        return f"zip:{self.pkg.function.code_sha256}", ""


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
                functools.partial(d.lam.delete_layer_version, LayerName=name, VersionNumber=number),
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
