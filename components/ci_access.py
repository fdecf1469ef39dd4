"""CI access: the GitHub OIDC provider and a deploy role only this repository's workflows can use."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.common import StackContext, role
from components.settings import CiAccessSettings
from components.tagging import component_tags

COMPONENT = "ci-access"
ISSUER = "token.actions.githubusercontent.com"


@dataclass(frozen=True, kw_only=True)
class CiAccessArgs:
    """settings: the `ciAccess` section (must be enabled)."""

    settings: CiAccessSettings
    ctx: StackContext


def subjects(settings: CiAccessSettings, stack: str) -> list[str]:
    """The OIDC `sub` claims allowed: this stack's GitHub environment, and the deploy branch."""
    repository = settings.repository
    return [
        f"repo:{repository}:environment:{stack}",
        f"repo:{repository}:ref:refs/heads/{settings.branch}",
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
        deploy = role(
            f"{name}-deploy",
            description=f"GitHub Actions of {settings.repository} deploy stack {ctx.stack}",
            trust=[trust],
            statements=[],
            parent=self,
            tags=tags,
        )
        for arn in settings.policy_arns:
            # Named after the policy, not its position, so reordering the list replaces nothing.
            policy_name = arn.rsplit("/", 1)[-1].lower()
            aws.iam.RolePolicyAttachment(
                f"{name}-deploy-{policy_name}", role=deploy.name, policy_arn=arn, opts=child
            )
        self.role_arn = deploy.arn
        self.register_outputs({"roleArn": self.role_arn})
