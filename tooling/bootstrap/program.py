"""The bootstrap program: what must exist before CI can deploy the platform, created once from an
administrator's machine (local file backend), never touching the platform's own resources."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.ci_access import (
    CiAccess,
    CiAccessArgs,
    RoleKind,
    StateAccess,
    github_oidc_provider,
    oidc_provider_arn,
)
from components.common import StackContext, lookup_context
from components.tagging import component_tags
from tooling.bootstrap.github import SESSION_SECONDS, RoleRef, github_variables
from tooling.bootstrap.settings import BootstrapConfig, load
from tooling.bootstrap.state_backend import StateBackend, StateBackendArgs

PROJECT_TAG = "platform-bootstrap"


def provider(config: BootstrapConfig, region: str | None) -> aws.Provider:
    """The AWS provider, with the tags the platform's resources carry (policy pack: required-tags)."""
    tags = {
        "Project": PROJECT_TAG,
        "Environment": pulumi.get_stack(),
        "ManagedBy": "pulumi",
        "Owner": config.owner,
        "CostCenter": config.cost_center,
    }
    return aws.Provider("aws", region=region, default_tags=aws.ProviderDefaultTagsArgs(tags=tags))


def build(config: BootstrapConfig, ctx: StackContext, opts: pulumi.ResourceOptions) -> None:
    """State backend, secrets keys, the GitHub OIDC provider, and the three roles of each stack."""
    prefix = config.platform_project
    state = StateBackend(
        f"{prefix}-state", StateBackendArgs(prefix=prefix, stacks=config.stacks, ctx=ctx), opts
    )
    ci = config.ci_access
    provider_arn: pulumi.Input[str] = (
        github_oidc_provider("github-actions", component_tags("ci-access"), opts).arn
        if ci.create_oidc_provider
        else oidc_provider_arn(ctx)
    )
    roles: dict[RoleRef, pulumi.Output[str]] = {}
    providers: dict[str, str] = {}
    for stack in config.stacks:
        access = CiAccess(
            f"{prefix}-{stack}-ci-access",
            CiAccessArgs(
                settings=ci,
                ctx=ctx,
                stack=stack,
                provider_arn=provider_arn,
                state=StateAccess(
                    bucket_arn=state.bucket.arn,
                    bucket_key_arn=state.bucket_key.arn,
                    secrets_key_arn=state.secrets_keys[stack].arn,
                    project=prefix,
                ),
                protected=stack in config.protected_stacks,
                project=prefix,
                release=True,
            ),
            opts,
        )
        # Both built: the state is known here, and the release role is asked for.
        assert access.preview_role_arn is not None and access.release_role_arn is not None
        roles[RoleRef(RoleKind.DEPLOY, stack)] = access.role_arn
        roles[RoleRef(RoleKind.PREVIEW, stack)] = access.preview_role_arn
        roles[RoleRef(RoleKind.RELEASE, stack)] = access.release_role_arn
        providers[stack] = f"awskms://{state.secrets_aliases[stack]}?region={ctx.region}"
    backend_url = state.bucket.bucket.apply(lambda name: f"s3://{name}?region={ctx.region}")
    pulumi.export("backendUrl", backend_url)
    pulumi.export("secretsProviders", providers)
    pulumi.export(
        "githubVariables",
        github_variables(
            roles,
            {
                "PULUMI_BACKEND_URL": backend_url,
                "AWS_REGION": pulumi.Output.from_input(ctx.region),
                SESSION_SECONDS: pulumi.Output.from_input(str(ci.session_hours * 3600)),
            },
            config.protected_stacks,
        ),
    )


def main() -> None:
    config = load()
    aws_provider = provider(config, pulumi.Config("aws").get("region"))
    ctx = lookup_context(
        project=pulumi.get_project(),
        stack=pulumi.get_stack(),
        # The state and its keys are never destroyable by accident: protected, deletion windows
        # of 30 days, the bucket kept with its versions.
        log_retention_days=365,
        protect_data=True,
        provider=aws_provider,
    )
    build(config, ctx, pulumi.ResourceOptions(providers=[aws_provider]))
