"""Database access: applications log in as their own identities, never with the master secret."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import Severity

from .core import Config, Props, containers, listed, mapping, parsed, resource_rule

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
JOB_DEFINITION = "aws:batch/jobDefinition:JobDefinition"
# Secrets that another AWS service manages carry its service ID as a name prefix, and RDS names
# its master user secrets rds!cluster-<id> or rds!db-<id> (Secrets Manager User Guide, "AWS
# Secrets Manager secrets managed by other AWS services"; Aurora User Guide, "Password management
# with Amazon Aurora and AWS Secrets Manager"). Only RDS creates secrets named so.
RDS_MANAGED_PREFIX = "rds!"


def _secret_name(reference: str) -> str:
    """The secret's name from a container secret's valueFrom: a secret ARN, with or without a
    JSON key suffix (`<arn>:password::`), or the bare name of a secret in the same account."""
    _, found, rest = reference.partition(":secret:")
    return rest if found else reference


def _master_secret_references(container: object) -> list[str]:
    return [
        str(mapping(secret).get("name"))
        for secret in listed(mapping(container).get("secrets"))
        if _secret_name(str(mapping(secret).get("valueFrom") or "")).startswith(RDS_MANAGED_PREFIX)
    ]


def _no_master_secret(props: Props, _: Config) -> Iterable[str]:
    # A Batch job definition has one container, in containerProperties.
    job = parsed(props.get("containerProperties"))
    for name in _master_secret_references(job) if job else []:
        yield f"gives its container the RDS-managed master secret as {name}"
    for container in containers(props.get("containerDefinitions")):
        for name in _master_secret_references(container):
            yield (
                f"gives container {mapping(container).get('name')} the RDS-managed master "
                f"secret as {name}"
            )


RULES = [
    resource_rule(
        "no-master-secret-in-tasks",
        "No ECS task or Batch job receives the database's RDS-managed master secret.",
        types=(TASK_DEFINITION, JOB_DEFINITION),
        check=_no_master_secret,
        severity=Severity.CRITICAL,
        fix="Give the service its own database identity (database.identities) and connect with "
        "an IAM token (README: Database identities); the master secret is for the dbops "
        "runbooks and the identities function only.",
    ),
]
