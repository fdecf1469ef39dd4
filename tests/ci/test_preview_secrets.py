"""The preview role can refresh every SecretVersion of its stack (terraform-provider-aws reads one
with GetSecretValue, secretsmanager/secret_version.go findSecretVersion) and no other secret.

A small evaluation of the documents, not an IAM simulator: an explicit Deny in the role's own
policy wins; otherwise, within one account, an Allow in the secret's resource policy suffices
(IAM User Guide, "Policy evaluation for requests within a single account"), and a key policy
statement admitting the caller grants kms:Decrypt by itself (AWS KMS Developer Guide, "Key
policies"). Conditions are checked against the request context AWS documents for the call;
an operator this evaluation does not know grants nothing and denies everything."""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

import pytest

from components.ci_access import RoleKind
from tests.ci.test_bootstrap import STACKS, bootstrap, role
from tests.conftest import stack_run, statements
from tooling.offline import OfflineRun

SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"
KEY = "aws:kms/key:Key"
GET_SECRET_VALUE = "secretsmanager:GetSecretValue"
# The RDS-managed master secret: named rds!..., tagged by RDS, never by the program.
RDS_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-0a1b2c-AbCdEf"
RDS_TAGS = {"aws:rds:primaryDBClusterArn": "arn:aws:rds:eu-west-1:123456789012:cluster:db"}


def _listed(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    return any(fnmatchcase(action.lower(), a.lower()) for a in _listed(statement["Action"]))


def _condition_holds(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool | None:
    """Whether every test of a Condition holds for `context` (a key absent from the context fails
    a positive test and passes a negated one: IAM User Guide, "Condition operators"); None when
    an operator is not one this evaluation knows."""
    tests = {
        "StringEquals": lambda have, want: have is not None and have in want,
        "StringNotEquals": lambda have, want: have is None or have not in want,
        "ArnLike": lambda have, want: have is not None and any(fnmatchcase(have, w) for w in want),
    }
    for operator, block in condition.items():
        if operator not in tests:
            return None
        for key, values in block.items():
            if not tests[operator](context.get(key), _listed(values)):
                return False
    return True


def grants(statement: Mapping[str, Any], action: str, context: Mapping[str, str]) -> bool:
    """Whether a resource or key policy statement allows `action` to the caller of `context`."""
    principal = statement.get("Principal")
    everyone = principal == "*" or "*" in _listed((principal or {}).get("AWS", []))
    caller = context["aws:PrincipalArn"]
    named = isinstance(principal, dict) and caller in _listed(principal.get("AWS", []))
    return (
        statement["Effect"] == "Allow"
        and (everyone or named)
        and _action_matches(statement, action)
        and _condition_holds(statement.get("Condition", {}), context) is True
    )


def denied(
    policy: list[dict[str, Any]], action: str, resource: str, tags: Mapping[str, str]
) -> bool:
    """Whether the role's own policy explicitly denies `action` on `resource` carrying `tags`."""
    context = {f"secretsmanager:ResourceTag/{k}": v for k, v in tags.items()}
    context |= {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
    for statement in policy:
        if statement["Effect"] != "Deny" or not _action_matches(statement, action):
            continue
        if "NotResource" in statement:
            applies = not any(fnmatchcase(resource, r) for r in _listed(statement["NotResource"]))
        else:
            applies = any(fnmatchcase(resource, r) for r in _listed(statement["Resource"]))
        if applies and _condition_holds(statement.get("Condition", {}), context) is not False:
            return True
    return False


def preview_policy(run: OfflineRun, stack: str) -> list[dict[str, Any]]:
    return statements(
        run.one(
            "aws:iam/rolePolicy:RolePolicy", f"platform-{stack}-ci-access-preview-state"
        ).inputs["policy"]
    )


def caller(run: OfflineRun, stack: str, kind: RoleKind, *, via: str) -> dict[str, str]:
    """The request context of a call by `stack`'s role (a role session's aws:PrincipalArn is the
    role's ARN: IAM User Guide, global condition keys, aws:PrincipalArn)."""
    arn = role(run, stack, kind).outputs["arn"]
    account = arn.split(":")[4]
    return {
        "aws:PrincipalArn": arn,
        "aws:PrincipalAccount": account,
        "kms:CallerAccount": account,
        "kms:ViaService": via,
    }


def secrets_read_by_refresh(run: OfflineRun) -> list[dict[str, Any]]:
    """The secret, its policy statements and its key's statements, of each SecretVersion."""
    found = []
    for version in run.of_type(SECRET_VERSION):
        [secret] = [s for s in run.of_type(SECRET) if s.id == version.inputs["secretId"]]
        arn = secret.outputs["arn"]
        policies = [p for p in run.of_type(SECRET_POLICY) if p.inputs["secretArn"] == arn]
        [key] = [k for k in run.of_type(KEY) if k.outputs["arn"] == secret.inputs["kmsKeyId"]]
        found.append(
            {
                "urn": version.urn,
                "arn": arn,
                # The tags AWS holds: the program's and the provider's default tags.
                "tags": secret.outputs["tagsAll"],
                "policy": [s for p in policies for s in statements(p.inputs["policy"])],
                "key": statements(key.inputs["policy"]),
            }
        )
    return found


def through_secrets_manager(secret: Mapping[str, Any]) -> str:
    """kms:ViaService of a call Secrets Manager makes for the caller, in the secret's region."""
    return f"secretsmanager.{secret['arn'].split(':')[3]}.amazonaws.com"


@pytest.mark.parametrize("stack", STACKS)
def test_the_preview_role_can_read_every_secret_version_of_its_stack(stack: str) -> None:
    ci = bootstrap()
    found = secrets_read_by_refresh(stack_run(stack))
    # RabbitMQ's admin password and Valkey's AUTH token, where the stack has those tiers.
    assert found, stack
    own = preview_policy(ci, stack)
    for secret in found:
        context = caller(ci, stack, RoleKind.PREVIEW, via=through_secrets_manager(secret))
        assert not denied(own, GET_SECRET_VALUE, secret["arn"], secret["tags"]), secret["urn"]
        assert any(grants(s, GET_SECRET_VALUE, context) for s in secret["policy"]), secret["urn"]
        assert any(grants(s, "kms:Decrypt", context) for s in secret["key"]), secret["urn"]


@pytest.mark.parametrize("stack", STACKS)
def test_no_other_role_and_no_direct_key_use_is_admitted(stack: str) -> None:
    ci = bootstrap()
    direct = caller(ci, stack, RoleKind.PREVIEW, via="")
    for secret in secrets_read_by_refresh(stack_run(stack)):
        others = [
            caller(ci, other, kind, via=through_secrets_manager(secret))
            for other in STACKS
            for kind in RoleKind
            if (other, kind) != (stack, RoleKind.PREVIEW)
        ]
        for context in others:
            assert not any(grants(s, GET_SECRET_VALUE, context) for s in secret["policy"])
            extra = [s for s in secret["key"] if s.get("Sid") != "AccountAdministration"]
            assert not any(grants(s, "kms:Decrypt", context) for s in extra)
        # Only Secrets Manager may decrypt for the preview role, never a direct kms:Decrypt.
        assert not any(grants(s, "kms:Decrypt", direct) for s in secret["key"])


@pytest.mark.parametrize("stack", STACKS)
def test_the_rds_master_secret_and_untagged_secrets_stay_denied(stack: str) -> None:
    own = preview_policy(bootstrap(), stack)
    assert denied(own, GET_SECRET_VALUE, RDS_SECRET, RDS_TAGS)
    other = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:manual-AbCdEf"
    assert denied(own, GET_SECRET_VALUE, other, {})
    assert denied(own, GET_SECRET_VALUE, other, {"PreviewReadable": "false"})
