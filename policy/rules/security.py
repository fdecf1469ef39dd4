"""Keys, logs, secrets, IAM and messaging: encrypted, rotated, retained, least privilege."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from .core import Config, Props, effective_config, listed, resource_rule, statements

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
POLICY_DOCUMENTS = {
    "aws:iam/policy:Policy": "policy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
RETENTION_SCHEMA = {
    "defaultDays": {
        "type": "integer",
        "default": 365,
        "description": "Retention a remediation sets on a log group that has none.",
    }
}


def _rotation(props: Props, _: Config) -> Iterable[str]:
    symmetric = props.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    if symmetric and props.get("enableKeyRotation") is not True:
        yield "never rotates its key material"


def _log_group(props: Props, _: Config) -> Iterable[str]:
    if not props.get("retentionInDays"):
        yield "keeps logs forever"
    if not props.get("kmsKeyId"):
        yield "is not encrypted with a customer KMS key"


async def _set_retention(args: ResourceValidationArgs) -> Mapping[str, Any]:
    """New props with the configured retention; an empty mapping leaves the resource as it is."""
    if args.resource_type != LOG_GROUP or args.props.get("retentionInDays"):
        return {}
    days = effective_config(RETENTION_SCHEMA, args.get_config())["defaultDays"]
    return {**args.props, "retentionInDays": days}


def _customer_key(field: str) -> Any:
    def check(props: Props, _: Config) -> Iterable[str]:
        if not props.get(field):
            yield "is encrypted with the AWS-managed key (or not at all)"

    return check


def _no_star(props: Props, _: Config) -> Iterable[str]:
    documents = [props.get("policy")] + [
        p.get("policy") for p in listed(props.get("inlinePolicies"))
    ]
    for document in documents:
        for statement in statements(document):
            if (
                statement.get("Effect") == "Allow"
                and "*" in listed(statement.get("Action"))
                and "*" in listed(statement.get("Resource"))
            ):
                yield "allows every action on every resource"


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
        fix="Set retentionInDays and kmsKeyId (a key whose policy lets logs.<region>.amazonaws.com use it).",
        schema=RETENTION_SCHEMA,
        remediate=_set_retention,
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
        "IAM policies never allow every action on every resource.",
        types=[*POLICY_DOCUMENTS, "aws:iam/role:Role"],
        check=_no_star,
        severity=Severity.CRITICAL,
        fix="List the actions needed and the ARNs they apply to.",
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
