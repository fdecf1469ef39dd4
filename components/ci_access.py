"""CI access: the GitHub OIDC provider and a deploy role only this repository's workflows can use."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.common import StackContext, Statement, fitted, policy_document
from components.naming import Limit
from components.settings import CiAccessSettings, DeployBoundary
from components.tagging import component_tags

COMPONENT = "ci-access"
ISSUER = "token.actions.githubusercontent.com"


@dataclass(frozen=True, kw_only=True)
class CiAccessArgs:
    """settings: the `ciAccess` section (must be enabled)."""

    settings: CiAccessSettings
    ctx: StackContext


# The tag that marks a deploy role for the policy pack's iam-github-oidc-trust-pinned rule, which
# then accepts only environment subjects (an environment's reviewers guard every deploy).
DEPLOY_TAG = ("CiRole", "deploy")


def subjects(settings: CiAccessSettings, stack: str) -> list[str]:
    """The OIDC `sub` claims allowed: this stack's GitHub environment only, so a workflow can
    deploy only through the environment and its protection rules (a job with `environment: X`
    sends `repo:OWNER/REPO:environment:X`)."""
    return [f"repo:{settings.repository}:environment:{stack}"]


def boundary_statements(
    ctx: StackContext, *, role_arns: str, boundary_arns: str
) -> list[Statement]:
    """The deploy role's permissions boundary (`role_arns`/`boundary_arns`: IAM resource
    patterns of the role and of the boundary itself): a ceiling of everything its managed policies grant,
    minus the escalation paths a CI role never needs. IAM evaluates the intersection of a role's
    policies and its boundary, and an explicit Deny in the boundary wins (IAM User Guide,
    "Permissions boundaries for IAM entities"; the guide's delegation example likewise denies
    changing one's own boundary and the boundary policy's versions)."""
    return [
        # A boundary grants nothing by itself: this Allow only sets the ceiling.
        {"Sid": "Ceiling", "Effect": "Allow", "Action": "*", "Resource": "*"},
        {
            # Long-lived credentials would outlive the OIDC session and its trust conditions.
            "Sid": "NoLongLivedCredentials",
            "Effect": "Deny",
            "Action": [
                "iam:CreateUser",
                "iam:CreateAccessKey",
                "iam:CreateLoginProfile",
                "iam:UpdateLoginProfile",
                "iam:CreateServiceSpecificCredential",
            ],
            "Resource": "*",
        },
        {
            # Its own trust, policies and boundary change only through the admin bootstrap.
            "Sid": "NoChangesToItself",
            "Effect": "Deny",
            "Action": [
                "iam:UpdateAssumeRolePolicy",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:AttachRolePolicy",
                "iam:DetachRolePolicy",
                "iam:PutRolePermissionsBoundary",
                "iam:DeleteRolePermissionsBoundary",
                "iam:UpdateRole",
                "iam:DeleteRole",
            ],
            "Resource": ctx.arn("iam", role_arns, region=""),
        },
        {
            "Sid": "NoChangesToTheBoundary",
            "Effect": "Deny",
            "Action": [
                "iam:CreatePolicyVersion",
                "iam:DeletePolicyVersion",
                "iam:SetDefaultPolicyVersion",
                "iam:DeletePolicy",
            ],
            "Resource": ctx.arn("iam", boundary_arns, region=""),
        },
        {
            "Sid": "NoOrganizationOrAccountChanges",
            "Effect": "Deny",
            "Action": ["organizations:*", "account:*"],
            "Resource": "*",
        },
    ]


class CiAccess(pulumi.ComponentResource):
    """OIDC identity provider (optional) and the stack's deploy role."""

    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: CiAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:ciAccess:CiAccess", name, None, opts)
        settings, ctx, tags = args.settings, args.ctx, component_tags(COMPONENT)
        child = pulumi.ResourceOptions(parent=self)
        provider_arn: pulumi.Input[str] = (
            f"arn:{ctx.partition}:iam::{ctx.account_id}:oidc-provider/{ISSUER}"
        )
        if settings.create_oidc_provider:
            provider_arn = aws.iam.OpenIdConnectProvider(
                f"{name}-github",
                url=f"https://{ISSUER}",
                client_id_lists=["sts.amazonaws.com"],
                tags=tags,
                opts=child,
            ).arn
        trust = {
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {f"{ISSUER}:aud": "sts.amazonaws.com"},
                "StringLike": {f"{ISSUER}:sub": subjects(settings, ctx.stack)},
            },
        }
        # Auto-named: the physical names are the logical ones plus "-" and 7 characters, which
        # lets the boundary name both before either exists (the role needs the boundary first).
        logical, role_opts = fitted(f"{name}-deploy", Limit.IAM_ROLE, child)
        boundary: pulumi.Input[str] | None = None
        if settings.boundary is DeployBoundary.DENY_ESCALATION:
            boundary_name = f"{name}-deploy-boundary"
            boundary = aws.iam.Policy(
                boundary_name,
                description=f"Permissions boundary of the {ctx.stack} deploy role",
                policy=policy_document(
                    boundary_statements(
                        ctx,
                        role_arns=f"role/{logical}-*",
                        boundary_arns=f"policy/{boundary_name}-*",
                    )
                ),
                # Marks it as a boundary for the policy pack (iam-no-star-on-star,
                # iam-boundary-policy-not-attached): it caps the role and grants nothing.
                tags={**tags, "PolicyUse": "permissions-boundary"},
                opts=child,
            ).arn
        deploy = aws.iam.Role(
            logical,
            description=f"GitHub Actions of {settings.repository} deploy stack {ctx.stack}",
            assume_role_policy=policy_document([trust]),
            permissions_boundary=boundary,
            tags={**tags, DEPLOY_TAG[0]: DEPLOY_TAG[1]},
            opts=role_opts,
        )
        for arn in settings.policy_arns:
            # Named after the policy, not its position, so reordering the list replaces nothing.
            policy_name = arn.rsplit("/", 1)[-1].lower()
            aws.iam.RolePolicyAttachment(
                f"{name}-deploy-{policy_name}", role=deploy.name, policy_arn=arn, opts=child
            )
        self.role_arn = deploy.arn
        self.register_outputs({"roleArn": self.role_arn})
