"""Keys, logs, secrets, IAM and messaging: encrypted, rotated, retained, least privilege."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import Severity

from .core import Config, Props, everyone, listed, mapping, number, resource_rule, statements

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
POLICY_DOCUMENTS = {
    "aws:iam/policy:Policy": "policy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
ROLE = "aws:iam/role:Role"
# A customer managed policy tagged so is a permissions boundary: it caps what a role's other
# policies grant and grants nothing itself, so its `Allow *` is no grant (AWS FSBP KMS.1 likewise
# leaves boundaries out). iam-boundary-policy-not-attached keeps such a policy from being attached.
BOUNDARY_TAG = ("PolicyUse", "permissions-boundary")


def _rotation(props: Props, _: Config) -> Iterable[str]:
    symmetric = props.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    if symmetric and props.get("enableKeyRotation") is not True:
        yield "never rotates its key material"


def _log_group(props: Props, config: Config) -> Iterable[str]:
    days = props.get("retentionInDays")
    if not days:  # absent or 0: CloudWatch Logs never expires the events
        yield "keeps logs forever"
    elif days < config["minDays"]:
        yield f"keeps logs {number(days)} days, fewer than {number(config['minDays'])}"
    if not props.get("kmsKeyId"):
        yield "is not encrypted with a customer KMS key"


def _customer_key(field: str) -> Any:
    def check(props: Props, _: Config) -> Iterable[str]:
        if not props.get(field):
            yield "is encrypted with the AWS-managed key (or not at all)"

    return check


def _grants(statement: Mapping[str, Any], action: str) -> bool:
    """Whether an Allow statement's Action patterns match `action` (IAM matches case-blind)."""
    return any(
        fnmatch.fnmatchcase(action.lower(), str(pattern).lower())
        for pattern in listed(statement.get("Action"))
    )


def _policy_statements(document: Any) -> Iterable[str]:
    for statement in statements(document):
        if statement.get("Effect") != "Allow":
            continue
        if statement.get("NotAction") is not None:
            yield "allows everything but the actions it names (NotAction)"
        if statement.get("NotResource") is not None:
            yield "allows its actions on everything but the resources it names (NotResource)"
        on_everything = "*" in listed(statement.get("Resource"))
        if on_everything and "*" in listed(statement.get("Action")):
            yield "allows every action on every resource"
        elif on_everything and _grants(statement, "iam:PassRole"):
            yield "lets its holder pass any role (iam:PassRole on *)"


def is_boundary(props: Props) -> bool:
    key, value = BOUNDARY_TAG
    return mapping(props.get("tags")).get(key) == value


def _no_star(props: Props, _: Config) -> Iterable[str]:
    documents = [props.get("policy")] + [
        p.get("policy") for p in listed(props.get("inlinePolicies"))
    ]
    boundary = is_boundary(props)
    for document in documents:
        yield from (
            problem
            for problem in _policy_statements(document)
            if not (boundary and problem == "allows every action on every resource")
        )
    for statement in statements(props.get("assumeRolePolicy")):
        if everyone(statement):
            yield "lets any AWS principal assume it (trust Principal '*' without a source condition)"


def _queue(props: Props, _: Config) -> Iterable[str]:
    if not (props.get("kmsMasterKeyId") or props.get("sqsManagedSseEnabled")):
        yield "stores messages unencrypted"


RULES = [
    resource_rule(
        "kms-key-rotation",
        "Symmetric KMS keys rotate their key material.",
        types=["aws:kms/key:Key"],
        check=_rotation,
        fix="Set enableKeyRotation to true.",
    ),
    resource_rule(
        "log-group-retention-and-encryption",
        "Log groups have a retention period and a customer KMS key.",
        types=[LOG_GROUP],
        check=_log_group,
        severity=Severity.MEDIUM,
        fix="Set retentionInDays to at least the stack's minimum and kmsKeyId (a key whose "
        "policy lets logs.<region>.amazonaws.com use it).",
        schema={
            "minDays": {
                "type": "integer",
                "default": 30,
                "description": "Fewest days a log group may keep its events.",
            }
        },
    ),
    resource_rule(
        "secrets-customer-key",
        "Secrets Manager secrets are encrypted with a customer KMS key.",
        types=["aws:secretsmanager/secret:Secret"],
        check=_customer_key("kmsKeyId"),
        fix="Set kmsKeyId to a customer key and grant its use only to the secret's readers.",
    ),
    resource_rule(
        "iam-no-star-on-star",
        "IAM policies and roles never grant admin: every action on every resource (but in a "
        "permissions boundary), NotAction/NotResource allows, iam:PassRole on * or a trust open "
        "to every AWS principal.",
        types=[*POLICY_DOCUMENTS, ROLE],
        check=_no_star,
        severity=Severity.CRITICAL,
        fix="List the actions needed and the ARNs they apply to; name the principals a role trusts.",
    ),
    resource_rule(
        "sns-encrypted",
        "SNS topics are encrypted with a customer KMS key.",
        types=["aws:sns/topic:Topic"],
        check=_customer_key("kmsMasterKeyId"),
        fix="Set kmsMasterKeyId to a customer key whose policy lets the publishing services use it.",
    ),
    resource_rule(
        "sqs-encrypted",
        "SQS queues encrypt messages at rest.",
        types=["aws:sqs/queue:Queue"],
        check=_queue,
        fix="Set kmsMasterKeyId or sqsManagedSseEnabled=true.",
    ),
]
