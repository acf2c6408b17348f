"""The IAM roles deploy makes (the function's execution role, Managed Instances' operator role): one step.

Given an ARN, the role is used as is. Otherwise the role is looked up by name: absent, it is created with
Lambda's trust policy, one AWS managed policy and the managed-by tag; present, it must carry that tag (a
role deploy did not make is never adopted) and have the policy attached (an earlier run may have stopped
between CreateRole and AttachRolePolicy). Below deploy/aws.py and deploy/modes.py, which both use it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from deploy import MANAGED_TAG, MANAGED_VALUE, DeployError
from deploy.reads import TRUST_POLICY, is_managed, unless_missing


@dataclass(frozen=True)
class Role:
    label: str  # what the plan lines call it: "execution role", "operator role"
    name: str
    description: str
    policy: str  # the AWS managed policy's ARN (partition filled in)
    flag: str  # the flag that passes an existing role instead
    given: str = ""  # that flag's ARN; "" = deploy makes the role


class Steps(Protocol):
    """What the step uses of deploy.aws.Deployer."""

    iam: Any

    def step(self, symbol: str, text: str, action: Any = None) -> Any: ...


def ensure_role(d: Steps, role: Role, partition: str, account: str) -> str:
    """The role's ARN: given, found (deploy's own, policy attached), or created (tagged)."""
    if role.given:
        d.step("=", f"{role.label} {role.given} (given)")
        return role.given
    name, policy = role.name, role.policy
    found = unless_missing("NoSuchEntity", d.iam.get_role, RoleName=name)
    if found is not None:
        if not is_managed(d.iam.list_role_tags(RoleName=name)["Tags"]):
            raise DeployError(
                f"IAM role {name} exists but was not created by deploy (no {MANAGED_TAG} tag); "
                f"fix: pass {role.flag} with it or choose another --function-name."
            )
        attached = {
            p["PolicyArn"] for p in d.iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        }
        if policy in attached:
            d.step("=", f"{role.label} {name} exists")
        else:
            d.step(
                "~",
                f"attach {policy} to role {name}",
                lambda: d.iam.attach_role_policy(RoleName=name, PolicyArn=policy),
            )
        return str(found["Role"]["Arn"])

    def create() -> str:
        made = d.iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(TRUST_POLICY),
            Description=role.description,
            Tags=[{"Key": MANAGED_TAG, "Value": MANAGED_VALUE}],
        )["Role"]
        d.iam.attach_role_policy(RoleName=name, PolicyArn=policy)
        return str(made["Arn"])

    arn = d.step(
        "+", f"create IAM role {name} (trust lambda.amazonaws.com, {policy.rsplit('/', 1)[1]})", create
    )
    return str(arn or f"arn:{partition}:iam::{account}:role/{name}")
