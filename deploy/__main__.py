"""CLI: ``python -m deploy deploy|plan|undeploy [flags]`` (``make deploy`` / ``make undeploy``).

Every user-fixable failure prints one line ``deploy: error: <what>; fix: <how>`` and exits non-zero.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from core import catalogue
from deploy import DeployError, aws, modes, packaging, settings, undeploy, verify


def _zip_flags(d: argparse.ArgumentParser) -> None:
    """The packaging form (core.catalogue.PACKAGING_FORMS) and the zip + layer form's flags."""
    forms = ", ".join(f"{f.name}: {f.description}" for f in catalogue.PACKAGING_FORMS.values())
    d.add_argument(
        "--package",
        choices=catalogue.PACKAGING_NAMES,
        help=f"{forms} (default {catalogue.DEFAULT_PACKAGING.name}; $DEPLOY_PACKAGE)",
    )
    d.add_argument(
        "--package-dir", dest="package_dir", type=Path, help="zip: where `make package` wrote them"
    )
    d.add_argument(
        "--no-snapstart",
        dest="snapstart",
        action="store_false",
        default=None,
        help="zip: no SnapStart (it is billed per cached snapshot and restore)",
    )
    d.add_argument(
        "--s3-bucket", dest="s3_bucket", help="zip: bucket for uploads over 50 MiB ($DEPLOY_S3_BUCKET)"
    )


def _mode_flags(d: argparse.ArgumentParser) -> None:
    """How the function runs (deploy/modes.py); the default is winner.json's mode, else on-demand."""
    d.add_argument("--mode", choices=modes.MODES, help="on-demand, provisioned or managed-instances")
    d.add_argument(
        "--provisioned-concurrency", dest="provisioned_concurrency", type=int, help="provisioned: N"
    )
    d.add_argument("--subnet-ids", dest="subnet_ids", help="managed-instances: comma-separated subnets")
    d.add_argument("--security-group-ids", dest="security_group_ids", help="managed-instances: groups")
    d.add_argument("--operator-role-arn", dest="operator_role_arn", help="managed-instances: else created")
    d.add_argument("--instance-types", dest="instance_types", help="managed-instances: allowed types")
    d.add_argument("--max-vcpus", dest="max_vcpus", type=int, help="managed-instances: scaling limit")
    d.add_argument(
        "--memory-gib-per-vcpu", dest="memory_gib_per_vcpu", type=float, help="managed-instances: 2, 4, 8"
    )
    d.add_argument(
        "--max-concurrency", dest="max_concurrency", type=int, help="managed-instances: per environment"
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--winner", type=Path, help="winner.json (default results/winner.json)")
    common.add_argument(
        "--function-name", dest="function_name", help="default clothing-classifier ($DEPLOY_FUNCTION)"
    )
    common.add_argument(
        "--repository", help="ECR repository name (default = function name; $DEPLOY_REPOSITORY)"
    )
    common.add_argument("--region", help="AWS region (default: the standard AWS configuration chain)")
    common.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    for name in ("deploy", "plan"):
        d = sub.add_parser(
            name,
            parents=[common],
            help="push the winner and point alias live at it"
            if name == "deploy"
            else "same as deploy --dry-run",
        )
        d.add_argument("--image", help="local image to deploy instead of the winner's ($DEPLOY_IMAGE)")
        d.add_argument(
            "--memory", dest="memory_mb", type=int, help="MB ($DEPLOY_MEMORY_MB; winner's memory_mb)"
        )
        d.add_argument(
            "--architecture",
            "--arch",
            choices=settings.ARCHITECTURES,
            help="($DEPLOY_ARCHITECTURE); arm64 without --image deploys the winner's <tag>-arm64 image",
        )
        _zip_flags(d)
        _mode_flags(d)
        d.add_argument("--threads", type=int, help="MODEL_THREADS for the function (winner's threads)")
        d.add_argument(
            "--timeout",
            dest="timeout_s",
            type=int,
            help="function timeout in s ($DEPLOY_TIMEOUT_S; default: the handler's budgets at --memory)",
        )
        d.add_argument(
            "--reserved-concurrency",
            dest="reserved_concurrency",
            help="a count, or none ($DEPLOY_RESERVED_CONCURRENCY; default: 10 with --public-url, else none)",
        )
        d.add_argument("--role-arn", dest="role_arn", help="execution role to use instead of creating one")
        d.add_argument(
            "--registry", help="push to this registry host instead of the ECR host ($DEPLOY_REGISTRY)"
        )
        url = d.add_mutually_exclusive_group()
        url.add_argument(
            "--function-url",
            dest="url",
            action="store_const",
            const="iam",
            help="add a function URL with AuthType AWS_IAM (signed requests only)",
        )
        url.add_argument(
            "--public-url",
            dest="url",
            action="store_const",
            const="public",
            help="add a function URL with AuthType NONE: anyone on the internet can invoke it",
        )
        d.add_argument(
            "--no-verify",
            dest="verify",
            action="store_false",
            help="skip invoking the function and comparing with the local image's answer",
        )
        d.add_argument(
            "--test-image", dest="test_image", type=Path, help="picture for the check (default: test split)"
        )
    sub.add_parser("undeploy", parents=[common], help="remove what deploy created (tag-tracked)")
    return p


def check(s: settings.Settings, form: aws.Packaging, result: aws.Outcome, region: str | None) -> None:
    """Invoke `live` and compare with the same code run locally (the image, or the zip as Lambda lays it
    out); a wrong or failing deployed answer puts `live` back where it was."""
    lam = aws.boto3.Session(region_name=region).client("lambda")
    picture = verify.pick_test_image(s.test_image)
    payload = verify.payload_for(picture)
    local_ref = form.local_image(s)
    local = verify.local_scores(local_ref, payload, threads=s.threads, memory_mb=s.memory_mb)
    try:
        result.verified = verify.compare(local, verify.remote_scores(lam, s.function_name, payload))
    except DeployError as e:
        if not result.previous_version:
            raise
        lam.update_alias(
            FunctionName=s.function_name, Name=settings.ALIAS, FunctionVersion=result.previous_version
        )
        raise DeployError(
            f"{e} (alias {settings.ALIAS} rolled back to version {result.previous_version})", e.exit_code
        ) from e
    print(
        f"= verified: {s.function_name}:{settings.ALIAS} and the local {s.package} both say "
        f"{result.verified!r} for {picture.name}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    keys = (
        "function_name",
        "repository",
        "image",
        "memory_mb",
        "architecture",
        "threads",
        "timeout_s",
        "reserved_concurrency",
        "role_arn",
        "registry",
        "url",
        "test_image",
        "package",
        "package_dir",
        "snapstart",
        "s3_bucket",
        *settings.MODE_FLAGS,
    )
    overrides: dict[str, object] = {k: getattr(args, k, None) for k in keys}
    dry = args.dry_run or args.command == "plan"
    try:
        if args.command == "undeploy":
            s = settings.load(args.winner, overrides, need_image=False)
            undeploy.undeploy(s, aws.session(args.region), dry_run=dry)
            return 0
        s = settings.load(args.winner, overrides)
        s.verify = args.verify and not dry
        form = packaging.for_settings(s)
        result = aws.Deployer(s, aws.session(args.region), form, dry_run=dry).run()
        if s.verify:
            check(s, form, result, args.region)
        verb = "planned" if dry else ("deployed" if result.changed else "nothing changed")
        print(
            f"{verb}: {result.image_uri} version {result.version}"
            + (f" url {result.url}" if result.url else "")
        )
        return 0
    except DeployError as e:
        print(f"deploy: error: {e}", file=sys.stderr)
        return e.exit_code
    except (ClientError, BotoCoreError) as e:
        print(
            f"deploy: error: AWS call failed: {' '.join(str(e).split())}; "
            "fix: check the permissions of your AWS identity for this call.",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
