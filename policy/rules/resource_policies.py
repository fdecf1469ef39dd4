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
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
ENDPOINT_POLICY = "aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy"
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


def _not_public(field: str, reach: bool = False) -> ResourceCheck:
    """A check that flags public statements; with `reach` (VPC endpoint policies, whose Resource
    is what callers reach through the endpoint, not the endpoint itself), a statement limited
    to named resources is not public either."""

    def check(props: Props, _: Config) -> Iterable[str]:
        for statement in statements(props.get(field)):
            problem = _public(statement)
            if problem and not (reach and _named_resources(statement)):
                yield problem

    return check


def _named_arn(arn: str) -> bool:
    """An ARN that names one bucket (S3: no wildcard in the bucket name) or one account's
    resources (a 12-digit account field): never '*' or a pattern over owners."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return False
    service, account, resource = parts[2], parts[4], parts[5]
    if service == "s3":
        bucket = resource.split("/", 1)[0]
        return bool(bucket) and not any(c in bucket for c in "*?")
    return account.isdigit() and len(account) == 12


def _named_resources(statement: Mapping[str, Any]) -> bool:
    resources = [str(r) for r in listed(statement.get("Resource"))]
    return (
        "NotResource" not in statement and bool(resources) and all(_named_arn(r) for r in resources)
    )


# Endpoint types that take an endpoint policy: gateway and interface endpoints (AWS PrivateLink
# Guide, "Control access to VPC endpoints using endpoint policies"); Gateway Load Balancer
# endpoints do not. An endpoint without `vpcEndpointType` is a Gateway endpoint (provider default).
POLICY_ENDPOINT_TYPES = ("Gateway", "Interface")


def _full_access(policy: Any) -> bool:
    """AWS's default endpoint policy: one Allow of every action on every resource to '*'."""
    found = statements(policy)
    return (
        len(found) == 1
        and all(found[0].get(k) in ("*", ["*"]) for k in ("Principal", "Action", "Resource"))
        and found[0].get("Effect") == "Allow"
        and not found[0].get("Condition")
    )


def _endpoint_policies(args: StackValidationArgs, _: Config) -> Iterable[tuple[str, str | None]]:
    resources = args.resources
    attached = [r for r in resources if r.resource_type == ENDPOINT_POLICY]
    for endpoint in (r for r in resources if r.resource_type == ENDPOINT):
        if endpoint.props.get("vpcEndpointType", "Gateway") not in POLICY_ENDPOINT_TYPES:
            continue
        policies = [
            endpoint.props.get("policy"),
            *(p.props.get("policy") for p in attached if _targets(p, endpoint, "vpcEndpointId")),
        ]
        if not any(p and not _full_access(p) for p in policies):
            yield (
                f"VPC endpoint {endpoint.name} has no endpoint policy (AWS's default allows "
                "every principal every action)",
                endpoint.urn,
            )


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
    name: str, what: str, types: list[str], *, reach: bool = False
) -> ResourceValidationPolicy:
    return resource_rule(
        name,
        f"{what} never allow anyone on the internet.",
        types=types,
        check=_not_public("policy", reach),
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
        [ENDPOINT, ENDPOINT_POLICY],
        reach=True,
    ),
    stack_rule(
        "vpc-endpoint-has-policy",
        "Every gateway and interface VPC endpoint has an endpoint policy of its own.",
        check=_endpoint_policies,
        severity=Severity.MEDIUM,
        fix="Give the endpoint a policy limited to this account's principals "
        "(aws:PrincipalAccount) or resources (aws:ResourceAccount), with the AWS-owned "
        "resources the workloads need.",
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
