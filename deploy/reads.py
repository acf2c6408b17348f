"""Reads of AWS state shared by every deploy step: "absent" told from a real failure, the managed-by tag.

Below deploy/aws.py and deploy/modes.py (both read AWS the same way), so neither imports the other's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from deploy import MANAGED_TAG, MANAGED_VALUE

TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
T = TypeVar("T")


def error_code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


NOT_FOUND = "ResourceNotFoundException"  # Lambda's; IAM says NoSuchEntity, ECR RepositoryNotFoundException
#: what an endpoint without an API answers (a region or a local fake without Managed Instances or
#: provisioned concurrency): nothing of that kind can exist there
UNSUPPORTED = ("404", "UnknownOperationException", "InvalidAction")


def unless_missing(code: str, call: Callable[..., T], **kwargs: Any) -> T | None:
    """``call(**kwargs)``, or None when AWS answers ``code`` (the thing does not exist) or the endpoint does
    not have the API at all (UNSUPPORTED); other errors raise.

    The one place a read-before-change step tells "absent" from a real failure."""
    try:
        return call(**kwargs)
    except ClientError as e:
        if error_code(e) != code and error_code(e) not in UNSUPPORTED:
            raise
        return None


def tags_dict(tags: Any) -> dict[str, str]:
    """AWS returns tags as {k: v} (Lambda) or [{"Key": k, "Value": v}] (ECR, IAM)."""
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {t["Key"]: t["Value"] for t in tags or []}


def is_managed(tags: Any) -> bool:
    return tags_dict(tags).get(MANAGED_TAG) == MANAGED_VALUE
