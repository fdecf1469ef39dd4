"""Resource policies never open to the world; KMS key policies explicit; secrets rotated."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationPolicy, Severity, StackValidationArgs

from .core import (
    SOURCE_KEYS,
    Config,
    Props,
    ResourceCheck,
    everyone,
    listed,
    resource_rule,
    stack_rule,
    statements,
)

KEY = "aws:kms/key:Key"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
# Condition keys that limit a Principal "*" statement to known callers (IAM User Guide, "AWS
# global condition context keys"; kms:CallerAccount from the KMS Developer Guide). FSBP SNS.4 /
# SQS.3 / KMS.5 likewise pass a wildcard principal only under a fixed-value condition.
RESTRICTING_KEYS = {
    *SOURCE_KEYS,
    "kms:calleraccount",
    # Data-perimeter keys of VPC endpoint policies: the resources reachable through the endpoint.
    "aws:resourceaccount",
    "aws:resourceorgid",
    "aws:resourceorgpaths",
}
# The key policy AWS gives a key created without one ("Default key policy", AWS KMS Developer
# Guide): a single statement with this Sid.
DEFAULT_KEY_POLICY_SID = "Enable IAM User Permissions"


def _public(statement: Mapping[str, Any]) -> str | None:
    if statement.get("Effect") != "Allow":
        return None
    if "NotPrincipal" in statement:
        return "allows everyone outside its NotPrincipal list"
    if everyone(statement, RESTRICTING_KEYS):
        return "allows Principal '*' without a condition that pins the caller's account, organisation or source"
    return None


def _not_public(field: str) -> ResourceCheck:
    def check(props: Props, _: Config) -> Iterable[str]:
        for statement in statements(props.get(field)):
            problem = _public(statement)
            if problem:
                yield problem

    return check


def _no_lockout_bypass(props: Props, _: Config) -> Iterable[str]:
    if props.get("bypassPolicyLockoutSafetyCheck") is True:
        yield "bypasses the key policy lockout safety check"


def _only_default_policy(policy: Any) -> bool:
    found = statements(policy)
    return len(found) == 1 and found[0].get("Sid") == DEFAULT_KEY_POLICY_SID


def _targets(resource: PolicyResource, target: PolicyResource, prop: str) -> bool:
    """Whether `resource`'s `prop` is built from `target` (its ID or ARN)."""
    return any(d.urn == target.urn for d in resource.property_dependencies.get(prop, []))


def _explicit_key_policies(
    args: StackValidationArgs, _: Config
) -> Iterable[tuple[str, str | None]]:
    resources = args.resources
    policies = [r for r in resources if r.resource_type == KEY_POLICY]
    for key in (r for r in resources if r.resource_type == KEY):
        if any(_targets(p, key, "keyId") for p in policies):
            continue
        policy = key.props.get("policy")
        if not policy or _only_default_policy(policy):
            yield f"KMS key {key.name} has no explicit key policy", key.urn


def _rotated_secrets(args: StackValidationArgs, config: Config) -> Iterable[tuple[str, str | None]]:
    resources = args.resources
    exempt = tuple(str(suffix) for suffix in listed(config["exemptNameSuffixes"]))
    rotations = [r for r in resources if r.resource_type == SECRET_ROTATION]
    for secret in (r for r in resources if r.resource_type == SECRET):
        if exempt and secret.name.endswith(exempt):
            continue
        if not any(_targets(r, secret, "secretId") for r in rotations):
            yield f"secret {secret.name} has no rotation", secret.urn


def _public_rule(
    name: str, what: str, types: list[str], field: str = "policy"
) -> ResourceValidationPolicy:
    return resource_rule(
        name,
        f"{what} never allow anyone on the internet.",
        types=types,
        check=_not_public(field),
        severity=Severity.CRITICAL,
        fix="Name the principals, or add a condition on aws:SourceArn, aws:SourceAccount, "
        "aws:PrincipalOrgID or aws:PrincipalAccount; never use NotPrincipal with Allow.",
    )


RULES = [
    _public_rule("kms-key-policy-not-public", "KMS key policies", [KEY, KEY_POLICY]),
    _public_rule(
        "sns-topic-policy-not-public",
        "SNS topic policies",
        ["aws:sns/topic:Topic", "aws:sns/topicPolicy:TopicPolicy"],
    ),
    _public_rule(
        "sqs-queue-policy-not-public",
        "SQS queue policies",
        ["aws:sqs/queue:Queue", "aws:sqs/queuePolicy:QueuePolicy"],
    ),
    _public_rule(
        "ecr-repository-policy-not-public",
        "ECR repository policies",
        ["aws:ecr/repositoryPolicy:RepositoryPolicy"],
    ),
    _public_rule(
        "vpc-endpoint-policy-not-public",
        "VPC endpoint policies",
        ["aws:ec2/vpcEndpoint:VpcEndpoint", "aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy"],
    ),
    resource_rule(
        "kms-no-policy-lockout-bypass",
        "KMS keys never bypass the key policy lockout safety check.",
        types=[KEY, KEY_POLICY],
        check=_no_lockout_bypass,
        severity=Severity.HIGH,
        fix="Remove bypassPolicyLockoutSafetyCheck (or set it to false).",
    ),
    stack_rule(
        "kms-key-explicit-policy",
        "Every KMS key has an explicit key policy of its own.",
        check=_explicit_key_policies,
        severity=Severity.HIGH,
        fix="Set the key's policy, or add an aws.kms.KeyPolicy whose keyId is the key's ID.",
    ),
    stack_rule(
        "secrets-rotation",
        "Every Secrets Manager secret the program creates rotates automatically.",
        check=_rotated_secrets,
        severity=Severity.HIGH,
        fix="Add an aws.secretsmanager.SecretRotation whose secretId is the secret, or let RDS "
        "manage the password (manageMasterUserPassword: RDS rotates it every 7 days by default).",
        schema={
            "exemptNameSuffixes": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Secrets whose logical name ends with one of these are exempt: "
                "each a known gap, listed in the stack's policy config and the README.",
            }
        },
    ),
]
