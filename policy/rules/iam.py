"""IAM beyond star-on-star: admin-equivalent grants, trust policies, service wildcards, KMS decrypt.

`iam-no-star-on-star` (security.py) owns `*` on `*`, NotAction, AdministratorAccess/IAMFullAccess
attachments, `iam:PassRole` on `*` and `Principal {"AWS": "*"}`; these rules never report those.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from pulumi_policy import Severity, StackValidationArgs

from .core import (
    Config,
    Props,
    depends_on,
    listed,
    mapping,
    resource_rule,
    stack_rule,
    statements,
)
from .security import is_boundary

ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/policy:Policy"
IDENTITY_POLICIES = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
GITHUB = "token.actions.githubusercontent.com"
# AWS managed policies that grant every action or a path to it: AdministratorAccess; IAMFullAccess
# (it can grant itself anything); PowerUserAccess allows
# every action outside IAM/Organizations/Account; the *-Amplify / *-AWSElasticBeanstalk admin
# policies grant iam:CreateRole + iam:PassRole and wide service rights; AWSOrganizationsFullAccess
# controls every account of the organisation. (AWS managed policy reference:
# https://docs.aws.amazon.com/aws-managed-policy/latest/reference/policy-list.html)
ADMIN_EQUIVALENT = [
    "AdministratorAccess",
    "IAMFullAccess",
    "PowerUserAccess",
    "AdministratorAccess-Amplify",
    "AdministratorAccess-AWSElasticBeanstalk",
    "AWSOrganizationsFullAccess",
]
# Condition keys that pin who may assume a role from another account (IAM User Guide, "AWS
# global condition context keys" and "The confused deputy problem"; sts:ExternalId for third
# parties).
TRUST_CONDITIONS = {
    "sts:externalid",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalarn",
    "aws:principalaccount",
    "aws:sourceidentity",
    "aws:multifactorauthpresent",
}
# kms:Decrypt and kms:ReEncryptFrom are the actions FSBP KMS.1/KMS.2 block on all keys.
DECRYPT_ACTIONS = ("kms:decrypt", "kms:reencryptfrom")
SERVICE_WILDCARD = re.compile(r"^[a-z0-9-]+:\*$", re.IGNORECASE)
# Names, or names with their immutable IDs (`repo:OWNER@OWNER_ID/REPO@REPO_ID:...`, sent by
# repositories created or renamed since 2026-07-15: GitHub docs, "OpenID Connect reference").
REPOSITORY_SUB = re.compile(
    r"^repo:[A-Za-z0-9_.-]+(@[0-9]+)?/[A-Za-z0-9_.-]+(@[0-9]+)?:(?P<context>.+)$"
)


def _identity_documents(props: Props) -> list[Any]:
    return [props.get("policy")] + [p.get("policy") for p in listed(props.get("inlinePolicies"))]


def _allows(props: Props) -> Iterable[Mapping[str, Any]]:
    for document in _identity_documents(props):
        for statement in statements(document):
            if statement.get("Effect") == "Allow":
                yield statement


def _attached(props: Props) -> list[str]:
    return [
        str(a) for a in (listed(props.get("policyArn")) + listed(props.get("managedPolicyArns")))
    ]


def _admin_equivalent(props: Props, config: Config) -> Iterable[str]:
    names = set(listed(config["policies"]))
    for arn in _attached(props):
        if (
            arn.startswith("arn:")
            and ":iam::aws:policy/" in arn
            and arn.rsplit("/", 1)[-1] in names
        ):
            yield f"grants the admin-equivalent AWS managed policy {arn.rsplit('/', 1)[-1]}"


def _boundaries_granted(args: StackValidationArgs, _: Config) -> Iterable[tuple[str, str | None]]:
    """A policy tagged as a permissions boundary but attached as a grant: its Allow * would then
    grant everything (iam-no-star-on-star lets a boundary's Allow * pass)."""
    boundaries = [r for r in args.resources if r.resource_type == POLICY and is_boundary(r.props)]
    grants = [
        (r, "managedPolicyArns" if r.resource_type == ROLE else "policyArn")
        for r in args.resources
        if r.resource_type in (*ATTACHMENTS, ROLE)
    ]
    for boundary in boundaries:
        for grant, prop in grants:
            if depends_on(grant, boundary, prop):
                yield (
                    f"permissions boundary {boundary.name} is attached as a policy by {grant.name}",
                    grant.urn,
                )


def _trust(props: Props) -> list[Mapping[str, Any]]:
    return [s for s in statements(props.get("assumeRolePolicy")) if s.get("Effect") == "Allow"]


def _condition_keys(statement: Mapping[str, Any]) -> set[str]:
    return {
        str(key).lower()
        for operator in mapping(statement.get("Condition")).values()
        for key in mapping(operator)
    }


def _aws_principals(statement: Mapping[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if isinstance(principal, str):
        return []  # "*" is iam-no-star-on-star's
    return [str(p) for p in listed(mapping(principal).get("AWS")) if p != "*"]


def _account(principal: str) -> str:
    match = re.match(r"^arn:aws[a-z-]*:(iam|sts)::(\d{12}):", principal)
    return match.group(2) if match else principal


def _conditioned_trust(props: Props, config: Config) -> Iterable[str]:
    trusted = {str(a) for a in listed(config["trustedAccounts"])}
    for statement in _trust(props):
        if "NotPrincipal" in statement:
            yield "trusts everyone but the NotPrincipal list"
            continue
        if _condition_keys(statement) & TRUST_CONDITIONS:
            continue
        for principal in _aws_principals(statement):
            if _account(principal) not in trusted:
                yield f"trusts {principal} without a condition that pins the caller"


def _string_values(statement: Mapping[str, Any], operator: str, key: str) -> list[str] | None:
    block = {str(k).lower(): v for k, v in mapping(statement.get("Condition")).items()}
    values = {str(k).lower(): v for k, v in mapping(block.get(operator.lower())).items()}
    found = values.get(key.lower())
    return None if found is None else [str(v) for v in listed(found)]


def _ci_role(props: Props, config: Config) -> str:
    """The role's CI kind from its tag (config `deployTagKey`): "" for other roles."""
    tags = {**mapping(props.get("tagsAll")), **mapping(props.get("tags"))}
    return str(tags.get(str(config["deployTagKey"]), ""))


def _github_trust(props: Props, config: Config) -> Iterable[str]:
    kind = _ci_role(props, config)
    deploy = kind == str(config["deployTagValue"])
    # A release role pushes images for every stack's release: only the release environment.
    release = kind == str(config["releaseTagValue"])
    release_context = f"environment:{config['releaseEnvironment']}"
    for statement in _trust(props):
        federated = [str(f) for f in listed(mapping(statement.get("Principal")).get("Federated"))]
        if not any(f.endswith(f"oidc-provider/{GITHUB}") for f in federated):
            continue
        if _string_values(statement, "StringEquals", f"{GITHUB}:aud") != ["sts.amazonaws.com"]:
            yield "accepts GitHub tokens whose aud is not StringEquals sts.amazonaws.com"
        subjects = [
            *(_string_values(statement, "StringEquals", f"{GITHUB}:sub") or []),
            *(_string_values(statement, "StringLike", f"{GITHUB}:sub") or []),
        ]
        if not subjects:
            yield "accepts GitHub tokens of any repository (no sub condition)"
        for subject in subjects:
            match = REPOSITORY_SUB.match(subject)
            if not match:
                yield f"accepts the GitHub subject {subject}, not pinned to one repository"
            elif deploy and not (
                match["context"].startswith("environment:")
                and not any(c in match["context"] for c in "*?")
            ):
                yield f"is a deploy role that accepts the GitHub subject {subject}, not one environment"
            elif release and match["context"] != release_context:
                yield (
                    f"is a release role that accepts the GitHub subject {subject}, not the "
                    f"{release_context} subject"
                )


def _service_wildcards(props: Props, _: Config) -> Iterable[str]:
    for statement in _allows(props):
        if "*" not in listed(statement.get("Resource")):
            continue
        for action in listed(statement.get("Action")):
            if SERVICE_WILDCARD.match(str(action)):
                yield f"allows {action} on every resource"


def _decrypt_all_keys(props: Props, _: Config) -> Iterable[str]:
    for statement in _allows(props):
        resources = [str(r) for r in listed(statement.get("Resource"))]
        if not any(r == "*" or (":kms:" in r and r.endswith(("key/*", ":*"))) for r in resources):
            continue
        actions = [str(a).lower() for a in listed(statement.get("Action")) if a != "*"]
        if any(fnmatchcase(wanted, action) for action in actions for wanted in DECRYPT_ACTIONS):
            yield "allows kms:Decrypt or kms:ReEncryptFrom on every KMS key"


RULES = [
    stack_rule(
        "iam-boundary-policy-not-attached",
        "Policies tagged as permissions boundaries are never attached as grants.",
        check=_boundaries_granted,
        severity=Severity.CRITICAL,
        fix="Use the policy only as a role's permissionsBoundary, or drop its PolicyUse tag and "
        "scope its statements.",
    ),
    resource_rule(
        "iam-no-admin-equivalent-policies",
        "No principal is granted an admin-equivalent AWS managed policy.",
        types=[*ATTACHMENTS, ROLE],
        check=_admin_equivalent,
        severity=Severity.CRITICAL,
        fix="Grant a policy that lists the actions and resources the principal needs.",
        schema={
            "policies": {
                "type": "array",
                "items": {"type": "string"},
                "default": ADMIN_EQUIVALENT,
                "description": "Names of AWS managed policies treated as admin-equivalent.",
            }
        },
    ),
    resource_rule(
        "iam-trust-conditioned",
        "Roles trust other AWS principals only under a condition that pins the caller.",
        types=[ROLE],
        check=_conditioned_trust,
        severity=Severity.HIGH,
        fix="Add sts:ExternalId, aws:PrincipalOrgID or aws:PrincipalArn to the trust statement, "
        "or list the account in this rule's trustedAccounts.",
        schema={
            "trustedAccounts": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Account IDs whose principals roles may trust without a condition.",
            }
        },
    ),
    resource_rule(
        "iam-github-oidc-trust-pinned",
        "GitHub OIDC roles accept only tokens for sts.amazonaws.com from one repository "
        "(and one environment for deploy roles, the release environment for release roles).",
        types=[ROLE],
        check=_github_trust,
        severity=Severity.CRITICAL,
        fix="Use StringEquals on token.actions.githubusercontent.com:aud = sts.amazonaws.com and "
        "a sub of repo:OWNER/REPO:... (repo:OWNER/REPO:environment:NAME for roles tagged as "
        "deploy roles, repo:OWNER/REPO:environment:release for release roles).",
        schema={
            "deployTagKey": {
                "type": "string",
                "default": "CiRole",
                "description": "Tag key that marks a role as a deploy role.",
            },
            "deployTagValue": {
                "type": "string",
                "default": "deploy",
                "description": "Tag value that marks a role as a deploy role.",
            },
            "releaseTagValue": {
                "type": "string",
                "default": "release",
                "description": "Tag value (of deployTagKey) that marks a role as an app-release "
                "role.",
            },
            "releaseEnvironment": {
                "type": "string",
                "default": "release",
                "description": "The only GitHub environment a release role may trust.",
            },
        },
    ),
    resource_rule(
        "iam-no-service-wildcard",
        "IAM policies never allow every action of a service on every resource.",
        types=[*IDENTITY_POLICIES, ROLE],
        check=_service_wildcards,
        fix="List the service's actions needed, or name the resources they apply to.",
    ),
    resource_rule(
        "iam-no-decrypt-on-all-keys",
        "IAM policies never allow kms:Decrypt or kms:ReEncryptFrom on every KMS key.",
        types=[*IDENTITY_POLICIES, ROLE],
        check=_decrypt_all_keys,
        fix="Name the key ARNs the principal decrypts with.",
    ),
]
