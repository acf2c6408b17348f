"""Undeploy: remove what deploy created (function, capacity provider, roles, then what each packaging form
made: the image's ECR repository, the zip's layer versions and upload bucket).

Only what carries deploy's record is removed (the managed-by tag; a layer version's Description), whichever
form shipped it: one run asks every registered form (deploy/packaging.py) to clean up after itself.
"""

from __future__ import annotations

import functools
from typing import TextIO

import boto3

from deploy import MANAGED_TAG, modes
from deploy.aws import NOT_FOUND, Deployer, Outcome, identity, is_managed, unless_missing
from deploy.packaging import PACKAGINGS
from deploy.settings import ALIAS, Settings


def undeploy(
    settings: Settings, sess: boto3.Session, *, dry_run: bool = False, out: TextIO | None = None
) -> Outcome:
    """Remove what deploy created, as recorded by the managed-by tag; anything untagged is left alone."""
    d = Deployer(settings, sess, dry_run=dry_run, out=out)
    ident = identity(sess)
    _undeploy_function(d)
    modes.undeploy_capacity(d)
    _undeploy_role(d, d.s.role_name)
    _undeploy_role(d, modes.operator_role_name(d))
    for form in PACKAGINGS.values():
        form.undeploy(d, ident)
    return d.result


def _undeploy_function(d: Deployer) -> None:
    lam, name = d.lam, d.s.function_name
    fn = unless_missing(NOT_FOUND, lam.get_function, FunctionName=name)
    if fn is None:
        d.step("=", f"function {name} does not exist")
        return
    if not is_managed(fn.get("Tags")):
        d.step("=", f"function {name} was not created by deploy (no {MANAGED_TAG} tag): left alone")
        return
    for qualifier in (ALIAS, None):
        kw = {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}
        if unless_missing(NOT_FOUND, lam.get_function_url_config, **kw) is not None:
            d.step(
                "-",
                f"delete function URL of {name}{':' + qualifier if qualifier else ''}",
                functools.partial(lam.delete_function_url_config, **kw),
            )
    if unless_missing(NOT_FOUND, lam.get_alias, FunctionName=name, Name=ALIAS) is not None:
        d.step("-", f"delete alias {ALIAS}", lambda: lam.delete_alias(FunctionName=name, Name=ALIAS))
    d.step("-", f"delete function {name} (all versions)", lambda: lam.delete_function(FunctionName=name))


def _undeploy_role(d: Deployer, role: str) -> None:
    iam = d.iam
    found = unless_missing("NoSuchEntity", iam.list_role_tags, RoleName=role)
    if found is None:
        d.step("=", f"IAM role {role} does not exist")
    elif not is_managed(found["Tags"]):
        d.step("=", f"IAM role {role} was not created by deploy: left alone")
    else:

        def delete_role() -> None:
            for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=role, PolicyArn=p["PolicyArn"])
            for p in iam.list_role_policies(RoleName=role)["PolicyNames"]:
                iam.delete_role_policy(RoleName=role, PolicyName=p)
            iam.delete_role(RoleName=role)

        d.step("-", f"delete IAM role {role}", delete_role)
