"""CI access: the GitHub OIDC provider and, per stack, a read-only preview role, a deploy role and
an app-release role that only this repository's workflows can assume, each from exactly one kind
of job."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.common import (
    PREVIEW_READABLE_TAG,
    StackContext,
    Statement,
    allow,
    fitted,
    policy_document,
)
from components.naming import Limit, Naming
from components.settings import CiRoleSettings, DeployBoundary
from components.tagging import component_tags

COMPONENT = "ci-access"
ISSUER = "token.actions.githubusercontent.com"
# configure-aws-credentials asks STS for this audience (its README, "OIDC" and the trust policy
# example); GitHub's default audience is the owner's URL, which no role here accepts.
AUDIENCE = "sts.amazonaws.com"


class RoleKind(enum.StrEnum):
    """The identities of a stack."""

    PREVIEW = "preview"
    DEPLOY = "deploy"
    # Pushes the release's images into the stack's service repositories (release.yml, publish).
    RELEASE = "release"


# The tag that marks a role for the policy pack's iam-github-oidc-trust-pinned rule: a deploy
# role may then accept only environment subjects (an environment's reviewers guard every deploy).
ROLE_TAG = "CiRole"


# The GitHub environment the release workflow publishes images in (deployment rule: tags v* and
# main). One for every stack: each stack's release role trusts it, and only it.
RELEASE_ENVIRONMENT = "release"


def drift_environment(stack: str) -> str:
    """The GitHub environment the scheduled drift check of `stack` runs in (main only, no
    reviewers): its subject is the preview role's second, so drift runs read-only."""
    return f"{stack}-drift"


def preview_environment(stack: str) -> str:
    """The GitHub environment pull request previews of a protected stack run in: its required
    reviewers approve each run before the job gets a token, so a branch pusher alone never
    reads a protected stack's state (generated passwords) through its preview role."""
    return f"{stack}-preview"


def repository_forms(repository: str) -> list[str]:
    """The forms of `repository` GitHub may put in a subject: owner/name, and for a repository
    given as owner@ID/name@ID also that immutable form. GitHub switches a repository's form on
    rename, transfer or opt-in (github/docs, "OpenID Connect reference", immutable subject
    claims; aws-actions/configure-aws-credentials issue #1888), so both are trusted exactly."""
    names = "/".join(part.split("@")[0] for part in repository.split("/"))
    return [names] if names == repository else [names, repository]


def trusted_subjects(
    settings: CiRoleSettings, stack: str, *, protected: bool
) -> dict[RoleKind, list[str]]:
    """The OIDC `sub` claims each role of `stack` accepts (GitHub docs, "OpenID Connect reference",
    Example subject claims): a job with `environment: X` sends `repo:R:environment:X` whatever
    its event; a pull_request job without one sends `repo:R:pull_request`. The deploy role takes
    no branch subject, so a job on main without the stack's environment cannot deploy; the
    release role only the publish job's environment `release`. A
    `protected` stack's preview role takes no `pull_request` subject: its previews run in the
    reviewed environment `<stack>-preview`."""
    preview = preview_environment(stack) if protected else None
    contexts = {
        RoleKind.PREVIEW: [
            f"environment:{preview}" if preview else "pull_request",
            f"environment:{drift_environment(stack)}",
        ],
        RoleKind.DEPLOY: [f"environment:{stack}"],
        RoleKind.RELEASE: [f"environment:{RELEASE_ENVIRONMENT}"],
    }
    forms = repository_forms(settings.repository)
    return {
        kind: [f"repo:{form}:{context}" for form in forms for context in found]
        for kind, found in contexts.items()
    }


def web_identity_trust(provider_arn: pulumi.Input[str], subjects: list[str]) -> Statement:
    """Trust GitHub tokens for STS whose subject is exactly one of `subjects` (StringEquals: no
    wildcard can widen it)."""
    return {
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {f"{ISSUER}:aud": AUDIENCE, f"{ISSUER}:sub": subjects},
        },
    }


@dataclass(frozen=True, kw_only=True)
class StateAccess:
    """The Pulumi state backend (an S3 bucket, DIY backend) and the keys a preview reads with.
    project: the Pulumi project of the stacks (state under .pulumi/stacks/<project>/)."""

    bucket_arn: pulumi.Input[str]
    bucket_key_arn: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]
    project: str


# Reads that return data rather than configuration: never part of a refresh, and a preview role
# runs the pull request's code, so anyone who can push a branch holds these credentials.
DATA_READS = (
    # ReadOnlyAccess allows ssm:GetParameter*, which decrypts SecureStrings; the program
    # creates no SSM parameter, so no refresh needs them.
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
    "ssm:GetParameterHistory",
    "logs:GetLogEvents",
    "logs:FilterLogEvents",
    "logs:StartQuery",
    "sqs:ReceiveMessage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
)


def state_objects(bucket_arn: str, project: str, stack: str) -> list[str]:
    """The objects a `pulumi preview` of one stack reads from a DIY S3 backend (pulumi/pulumi
    pkg/backend/diy): the layout file .pulumi/meta.yaml (meta.go), the stack's checkpoint
    .pulumi/stacks/<project>/<stack>.json[.gz|.zst] (store.go; state.go's stackPath lists that
    prefix) and its tags file <stack>.pulumi-tags (stack_tags.go; state.go's getTarget reads it
    for every operation, and only a missing file is taken as no tags). A preview takes no lock
    and writes no history or backup (backend.go: Lock only in Update/Refresh/Destroy/Import,
    history and backups only when not DryRun), so it needs no write."""
    stacks = f"{bucket_arn}/.pulumi/stacks/{project}"
    return [
        f"{bucket_arn}/.pulumi/meta.yaml",
        f"{stacks}/{stack}.json*",
        f"{stacks}/{stack}.pulumi-tags",
    ]


def no_secret_values_but_generated() -> Statement:
    """Deny every secret value but those of secrets the program generated and tagged
    (common.generated_secret: values already in the state this role decrypts), which a refresh
    reads with GetSecretValue. The RDS-managed master secret and any other secret stay denied.
    A key absent from the request passes StringNotEquals (IAM User Guide, "Condition operators"),
    so an untagged secret is denied; secretsmanager:ResourceTag/<key> is a condition key of
    GetSecretValue (Service Authorization Reference, AWS Secrets Manager). The grant itself is
    each such secret's resource policy, for this stack's preview role only."""
    return {
        "Sid": "NoSecretValuesButGenerated",
        "Effect": "Deny",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": "*",
        "Condition": {
            "StringNotEquals": {f"secretsmanager:ResourceTag/{PREVIEW_READABLE_TAG}": "true"}
        },
    }


def preview_statements(ctx: StackContext, state: StateAccess, stack: str) -> pulumi.Output[str]:
    """The preview role's own policy: read its stack's state and decrypt its secrets, and no
    object outside that state or any of the DATA_READS, whatever the managed policies allow."""

    def document(bucket_arn: str) -> pulumi.Output[str]:
        objects = state_objects(bucket_arn, state.project, stack)
        return policy_document(
            [
                {"Sid": "ListState", "Effect": "Allow", "Action": "s3:ListBucket",
                 "Resource": bucket_arn},
                {"Sid": "ReadState", "Effect": "Allow", "Action": "s3:GetObject",
                 "Resource": objects},
                {
                    # The state bucket's objects are SSE-KMS: S3 decrypts them for the caller.
                    "Sid": "DecryptStateThroughS3",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": state.bucket_key_arn,
                    "Condition": {"StringEquals": {"kms:ViaService": f"s3.{ctx.region}.amazonaws.com"}},
                },
                {
                    # The awskms secrets provider decrypts the stack's data key (pulumi/pulumi
                    # pkg/secrets/cloud: Decrypt on load, Encrypt only when a stack is created).
                    "Sid": "DecryptStackSecrets",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": state.secrets_key_arn,
                },
                {"Sid": "NoObjectsButState", "Effect": "Deny",
                 "Action": ["s3:GetObject", "s3:GetObjectVersion"], "NotResource": objects},
                {"Sid": "NoDataReads", "Effect": "Deny", "Action": list(DATA_READS),
                 "Resource": "*"},
                no_secret_values_but_generated(),
            ]
        )  # fmt: skip

    return pulumi.Output.from_input(state.bucket_arn).apply(document)


# The component every ECS service's resources are named under (__main__.py: naming.component).
SERVICE_COMPONENT = "service"
# What pushing an image to an ECR repository needs (ECR User Guide, "IAM permissions for pushing an
# image to an Amazon ECR private repository"), and the scan gate's reads: the pushed image's tag
# and digest (DescribeImages) and its scan status and findings (DescribeImageScanFindings), and
# StartImageScan for an image no scan-on-push filter matched (ECR API, StartImageScan).
RELEASE_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:BatchGetImage",
    "ecr:DescribeImages",
    "ecr:DescribeImageScanFindings",
    "ecr:StartImageScan",
)


def service_repositories(ctx: StackContext, *, project: str, stack: str) -> str:
    """The ARN pattern of `stack`'s service repositories: each is auto-named after the service's
    prefix, `<project>-<stack>-service` (`app`) or `<project>-<stack>-service-<name>`, plus
    `-repo-<7 hex>` (components/service.py _prefix, ecs_service.py _repository). Any region: the
    bootstrap's region need not be the stack's."""
    prefix = Naming(project, stack).component(SERVICE_COMPONENT)
    return ctx.arn("ecr", f"repository/{prefix}-*", region="*")


def release_statements(ctx: StackContext, *, project: str, stack: str) -> list[Statement]:
    """The app-release role's policy: push to and read the scans of `stack`'s service repositories,
    and nothing else. ECR encrypts with the repository's KMS key through the grant it creates on
    the key for the repository (ECR User Guide, "Encryption at rest": GenerateDataKey on push,
    Decrypt on pull, both ECR's own calls), so the pusher needs no key permission."""
    return [
        # GetAuthorizationToken has no resource-level permissions: AWS requires "*" (ECR User
        # Guide, "Private registry authentication"; the push policy example above).
        allow(["ecr:GetAuthorizationToken"], ["*"], Sid="RegistryLogin"),
        # The repositories are auto-named (a random suffix): the publish job finds its stack's by
        # listing them. DescribeRepositories without names is authorized on every repository of
        # the registry, and returns their settings, never an image.
        allow(
            ["ecr:DescribeRepositories"],
            [ctx.arn("ecr", "repository/*", region="*")],
            Sid="FindTheStacksRepositories",
        ),
        allow(
            list(RELEASE_ACTIONS),
            [service_repositories(ctx, project=project, stack=stack)],
            Sid="PushToTheStacksRepositories",
        ),
    ]


def ci_resource_patterns(project: str) -> tuple[str, str]:
    """IAM resource patterns (role, policy) matching every CI role and boundary of `project`'s
    stacks: CiAccess is named `<project>-<stack>-ci-access` (naming.component, the bootstrap's
    `<platform project>-<stack>-ci-access`) and its auto-named roles and boundary policies append
    `-deploy-…`, `-preview-…`, `-release-…`, `-deploy-boundary-…` to that name."""
    return f"role/{project}-*-ci-access-*", f"policy/{project}-*-ci-access-*"


def boundary_statements(ctx: StackContext, *, project: str) -> list[Statement]:
    """The deploy role's permissions boundary: a ceiling of everything its managed policies grant,
    minus the escalation paths a CI role never needs. IAM evaluates the intersection of a role's
    policies and its boundary, and an explicit Deny in the boundary wins (IAM User Guide,
    "Permissions boundaries for IAM entities"; the guide's delegation example likewise denies
    changing one's own boundary and the boundary policy's versions). The denials cover every CI
    role and boundary of `project` and the GitHub OIDC provider, not only its own: dev's deploy
    role must not rewrite prod's trust."""
    role_arns, boundary_arns = ci_resource_patterns(project)
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
            # CI roles' trust, policies and boundaries change only through the admin bootstrap.
            "Sid": "NoChangesToCiRoles",
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
                "iam:TagRole",
                "iam:UntagRole",
            ],
            "Resource": ctx.arn("iam", role_arns, region=""),
        },
        {
            "Sid": "NoChangesToCiBoundaries",
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
            # The provider's audiences and thumbprints decide which tokens every CI role accepts.
            "Sid": "NoChangesToTheOidcProvider",
            "Effect": "Deny",
            "Action": [
                "iam:CreateOpenIDConnectProvider",
                "iam:DeleteOpenIDConnectProvider",
                "iam:AddClientIDToOpenIDConnectProvider",
                "iam:RemoveClientIDFromOpenIDConnectProvider",
                "iam:UpdateOpenIDConnectProviderThumbprint",
                "iam:TagOpenIDConnectProvider",
                "iam:UntagOpenIDConnectProvider",
            ],
            "Resource": "*",
        },
        {
            "Sid": "NoOrganizationOrAccountChanges",
            "Effect": "Deny",
            "Action": ["organizations:*", "account:*"],
            "Resource": "*",
        },
    ]


def github_oidc_provider(
    name: str, tags: dict[str, str], opts: pulumi.ResourceOptions
) -> aws.iam.OpenIdConnectProvider:
    """The account's GitHub Actions identity provider (one per URL per account)."""
    return aws.iam.OpenIdConnectProvider(
        name, url=f"https://{ISSUER}", client_id_lists=[AUDIENCE], tags=tags, opts=opts
    )


def oidc_provider_arn(ctx: StackContext) -> str:
    """The ARN of the account's GitHub provider, whoever created it."""
    return f"arn:{ctx.partition}:iam::{ctx.account_id}:oidc-provider/{ISSUER}"


@dataclass(frozen=True, kw_only=True)
class CiAccessArgs:
    """settings: the roles' settings. stack: the stack the roles serve (default: ctx.stack).
    provider_arn: an OIDC provider created elsewhere; None: created here when
    settings.create_oidc_provider, else the account's is referenced. state: the state backend;
    None builds no preview role (the platform program's `ciAccess`, which cannot know it).
    protected: the stack's previews need a reviewer (default: ctx.protect_data). project: the
    platform project whose CI roles the boundary guards (default: ctx.project). release: build
    the app-release role (the bootstrap does; the platform program's `ciAccess` does not: its
    own deploy role's boundary refuses the role's policy, so CI could not add it)."""

    settings: CiRoleSettings
    ctx: StackContext
    stack: str | None = None
    provider_arn: pulumi.Input[str] | None = None
    state: StateAccess | None = None
    protected: bool | None = None
    project: str | None = None
    release: bool = False


@dataclass(frozen=True)
class _Trust:
    """Whom the roles of one CiAccess trust: tokens of `provider_arn` for `stack`'s subjects."""

    stack: str
    provider_arn: pulumi.Input[str]
    subjects: dict[RoleKind, list[str]]


class CiAccess(pulumi.ComponentResource):
    """The deploy role of one stack and, given the state backend, its preview role; and, when
    asked, its app-release role."""

    role_arn: pulumi.Output[str]
    preview_role_arn: pulumi.Output[str] | None
    release_role_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: CiAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:ciAccess:CiAccess", name, None, opts)
        settings, ctx = args.settings, args.ctx
        stack = args.stack or ctx.stack
        provider_arn = args.provider_arn
        if provider_arn is None:
            provider_arn = (
                github_oidc_provider(
                    f"{name}-github", component_tags(COMPONENT), pulumi.ResourceOptions(parent=self)
                ).arn
                if settings.create_oidc_provider
                else oidc_provider_arn(ctx)
            )
        protected = ctx.protect_data if args.protected is None else args.protected
        trust = _Trust(stack, provider_arn, trusted_subjects(settings, stack, protected=protected))
        self.role_arn = self._deploy_role(name, args, trust)
        self.preview_role_arn = None
        outputs: dict[str, pulumi.Output[str]] = {"roleArn": self.role_arn}
        if args.state is not None:
            self.preview_role_arn = self._preview_role(name, args, args.state, trust)
            outputs["previewRoleArn"] = self.preview_role_arn
        self.release_role_arn = None
        if args.release:
            self.release_role_arn = self._release_role(name, args, trust)
            outputs["releaseRoleArn"] = self.release_role_arn
        self.register_outputs(outputs)

    def _role(
        self,
        logical: str,
        opts: pulumi.ResourceOptions,
        args: CiAccessArgs,
        trust: _Trust,
        *,
        kind: RoleKind,
        boundary: pulumi.Input[str] | None = None,
    ) -> aws.iam.Role:
        # The deploy role's description is the one it had before the preview role existed.
        settings = args.settings
        return aws.iam.Role(
            logical,
            description=f"GitHub Actions of {settings.repository} {kind.value} stack {trust.stack}",
            assume_role_policy=policy_document(
                [web_identity_trust(trust.provider_arn, trust.subjects[kind])]
            ),
            permissions_boundary=boundary,
            max_session_duration=settings.session_hours * 3600,
            tags={**component_tags(COMPONENT), ROLE_TAG: kind.value},
            opts=opts,
        )

    def _deploy_role(self, name: str, args: CiAccessArgs, trust: _Trust) -> pulumi.Output[str]:
        settings, ctx = args.settings, args.ctx
        child = pulumi.ResourceOptions(parent=self)
        # Auto-named: the physical names are the logical ones plus "-" and 7 characters, which
        # lets the boundary name both before either exists (the role needs the boundary first).
        logical, role_opts = fitted(f"{name}-deploy", Limit.IAM_ROLE, child)
        boundary: pulumi.Input[str] | None = None
        if settings.boundary is DeployBoundary.DENY_ESCALATION:
            boundary_name = f"{name}-deploy-boundary"
            boundary = aws.iam.Policy(
                boundary_name,
                description=f"Permissions boundary of the {trust.stack} deploy role",
                policy=policy_document(
                    boundary_statements(ctx, project=args.project or ctx.project)
                ),
                # Marks it as a boundary for the policy pack (iam-no-star-on-star,
                # iam-boundary-policy-not-attached): it caps the role and grants nothing.
                tags={**component_tags(COMPONENT), "PolicyUse": "permissions-boundary"},
                opts=child,
            ).arn
        deploy = self._role(
            logical, role_opts, args, trust, kind=RoleKind.DEPLOY, boundary=boundary
        )
        self._attach(f"{name}-deploy", deploy, settings.policy_arns)
        return deploy.arn

    def _preview_role(
        self, name: str, args: CiAccessArgs, state: StateAccess, trust: _Trust
    ) -> pulumi.Output[str]:
        child = pulumi.ResourceOptions(parent=self)
        logical, role_opts = fitted(f"{name}-preview", Limit.IAM_ROLE, child)
        preview = self._role(logical, role_opts, args, trust, kind=RoleKind.PREVIEW)
        aws.iam.RolePolicy(
            f"{name}-preview-state",
            role=preview.id,
            policy=preview_statements(args.ctx, state, trust.stack),
            opts=child,
        )
        self._attach(f"{name}-preview", preview, args.settings.preview_policy_arns)
        return preview.arn

    def _release_role(self, name: str, args: CiAccessArgs, trust: _Trust) -> pulumi.Output[str]:
        child = pulumi.ResourceOptions(parent=self)
        # Named like the other CI roles, so every deploy boundary's NoChangesToCiRoles covers it.
        logical, role_opts = fitted(f"{name}-release", Limit.IAM_ROLE, child)
        release = self._role(logical, role_opts, args, trust, kind=RoleKind.RELEASE)
        project = args.project or args.ctx.project
        aws.iam.RolePolicy(
            f"{name}-release-push",
            role=release.id,
            policy=policy_document(
                release_statements(args.ctx, project=project, stack=trust.stack)
            ),
            opts=child,
        )
        return release.arn

    def _attach(self, prefix: str, role: aws.iam.Role, policy_arns: list[str]) -> None:
        for arn in policy_arns:
            # Named after the policy, not its position, so reordering the list replaces nothing.
            policy_name = arn.rsplit("/", 1)[-1].lower()
            aws.iam.RolePolicyAttachment(
                f"{prefix}-{policy_name}",
                role=role.name,
                policy_arn=arn,
                opts=pulumi.ResourceOptions(parent=self),
            )
