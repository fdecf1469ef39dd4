"""No application role can read the RDS-managed master secret: every IAM policy document of every
stack is walked, and the only reader is the identities function of the database component (the
dbops runbooks use the operator's own credentials, not a role of the stack)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

import pytest

from tests.conftest import STACKS, stack_run
from tooling.offline import OfflineRun

READ = "secretsmanager:GetSecretValue"
# AWS managed policies the stacks attach, each read in the AWS Managed Policy Reference Guide:
# none of them allows secretsmanager:GetSecretValue. A new attachment fails the walk until it is
# read there and added.
MANAGED_WITHOUT_SECRET_READS = frozenset(
    {
        "AmazonSSMManagedInstanceCore",
        "service-role/AmazonRDSEnhancedMonitoringRole",
        "service-role/AWSBackupServiceRolePolicyForBackup",
        "AmazonEKSWorkerNodePolicy",
        "AmazonEC2ContainerRegistryReadOnly",
        "AmazonEKS_CNI_Policy",
        "service-role/AmazonEBSCSIDriverPolicy",
        "CloudWatchAgentServerPolicy",
    }
)


def _listed(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return [str(item) for item in value]
    return []


def _matches(patterns: Sequence[str], value: str, *, ignore_case: bool) -> bool:
    # IAM wildcards: * and ? in actions (case-insensitive) and resources (case-sensitive).
    if ignore_case:
        return any(fnmatchcase(value.lower(), pattern.lower()) for pattern in patterns)
    return any(fnmatchcase(value, pattern) for pattern in patterns)


def allows(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    """Whether an Allow statement covers `action` on `resource`, wildcards and Not* included."""
    if statement.get("Effect") != "Allow":
        return False
    if "NotAction" in statement:
        action_ok = not _matches(_listed(statement["NotAction"]), action, ignore_case=True)
    else:
        action_ok = _matches(_listed(statement.get("Action")), action, ignore_case=True)
    if "NotResource" in statement:
        resource_ok = not _matches(_listed(statement["NotResource"]), resource, ignore_case=False)
    else:
        resource_ok = _matches(_listed(statement.get("Resource")), resource, ignore_case=False)
    return action_ok and resource_ok


def documents(run: OfflineRun) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(logical name, parsed document) of every identity policy in the run: role policies,
    roles' inline policies and managed policies of the stack."""
    for resource in run.resources:
        if resource.type in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"):
            yield resource.name, json.loads(resource.inputs["policy"])
        elif resource.type == "aws:iam/role:Role":
            for inline in resource.inputs.get("inlinePolicies") or []:
                yield resource.name, json.loads(inline["policy"])


def master_secret_readers(run: OfflineRun, secret_arn: str) -> set[str]:
    readers: set[str] = set()
    for name, document in documents(run):
        statements = document["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            if allows(statement, READ, secret_arn):
                readers.add(name)
    return readers


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_identities_function_reads_the_master_secret(stack: str) -> None:
    run = stack_run(stack)
    secret_arn = run.outputs["databaseSecretArn"]
    readers = master_secret_readers(run, secret_arn)
    assert readers == {f"platform-{stack}-database-identities-policy"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_attached_managed_policy_was_read_for_secret_access(stack: str) -> None:
    run = stack_run(stack)
    aws_managed = "arn:aws:iam::aws:policy/"
    attached = {
        str(attachment.inputs["policyArn"])
        for attachment in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    }
    assert {arn.removeprefix(aws_managed) for arn in attached} <= MANAGED_WITHOUT_SECRET_READS


SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-abc-AbCdEf"


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": READ, "Resource": SECRET},
        {"Effect": "Allow", "Action": ["secretsmanager:*"], "Resource": ["*"]},
        {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:secretsmanager:*:*:secret:rds!*"},
        {"Effect": "Allow", "Action": "SecretsManager:Get*", "Resource": f"{SECRET[:-6]}??????"},
        {"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"},
        {"Effect": "Allow", "Action": READ, "NotResource": "arn:aws:s3:::*"},
    ],
)
def test_a_statement_that_reads_the_secret_is_found(statement: Mapping[str, Any]) -> None:
    assert allows(statement, READ, SECRET)


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "secretsmanager:DescribeSecret", "Resource": "*"},
        {"Effect": "Allow", "Action": READ, "Resource": "arn:aws:secretsmanager:*:*:secret:app-*"},
        {"Effect": "Allow", "NotAction": "secretsmanager:*", "Resource": "*"},
        {"Effect": "Allow", "Action": READ, "NotResource": "arn:aws:secretsmanager:*"},
    ],
)
def test_a_statement_that_does_not_read_the_secret_is_passed(
    statement: Mapping[str, Any],
) -> None:
    assert not allows(statement, READ, SECRET)
