"""CI access: only this repository's stack environment may deploy; pull requests and drift checks
get a read-only role."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase

import pytest

from components.ci_access import (
    CiAccess,
    CiAccessArgs,
    RoleKind,
    state_objects,
    trusted_subjects,
    web_identity_trust,
)
from components.common import StackContext
from components.naming import Naming
from components.settings import CiRoleSettings, Settings, SettingsError, parse_settings
from tests.conftest import Offline, rules_of, stack_run, statements
from tooling.offline import OfflineRun
from tooling.policy_eval import evaluate

ESCALATION = {
    "iam:CreateUser",
    "iam:CreateAccessKey",
    "iam:UpdateAssumeRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "iam:CreatePolicyVersion",
    "organizations:*",
    "account:*",
}


def ci_section(**values: object) -> dict[str, str]:
    section = {"enabled": True, "repository": "acme/platform", **values}
    return {"platform:ciAccess": json.dumps(section, sort_keys=True)}


def with_ci(stack: str, **values: object) -> OfflineRun:
    """One run per distinct stack and section, shared by the read-only tests below."""
    return stack_run(stack, overrides=ci_section(**values))


def ci_alone(offline: Offline, stack: str, **values: object) -> OfflineRun:
    """The component alone with the stack's settings and this section, as the program builds it:
    for the tests of one setting's effect on the component's own resources."""

    def build(settings: Settings, ctx: StackContext) -> CiAccess:
        name = Naming(settings.project, settings.stack).component("ci-access")
        return CiAccess(name, CiAccessArgs(settings=settings.config.ci_access, ctx=ctx))

    return offline.component(build, stack, ci_section(**values))


def test_disabled_by_default_creates_nothing() -> None:
    run = stack_run("prod")
    assert run.of_type("platform:ciAccess:CiAccess") == []
    assert "deployRoleArn" not in run.outputs


def test_deploy_role_trusts_only_this_repository_and_stack_environment() -> None:
    run = with_ci("prod")
    role = run.one("aws:iam/role:Role", "ci-access-deploy")
    [trust] = statements(role.inputs["assumeRolePolicy"])
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Principal"] == {
        "Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    }
    assert trust["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": ["repo:acme/platform:environment:prod"],
        },
    }
    provider = run.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider").inputs
    assert provider["url"] == "https://token.actions.githubusercontent.com"
    assert provider["clientIdLists"] == ["sts.amazonaws.com"]
    role_name = run.physical_name("aws:iam/role:Role", "ci-access-deploy")
    assert run.outputs["deployRoleArn"] == f"arn:aws:iam::123456789012:role/{role_name}"


def test_existing_oidc_provider_is_referenced_not_created(offline: Offline) -> None:
    run = ci_alone(offline, "staging", createOidcProvider=False)
    assert run.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []
    [trust] = statements(
        run.one("aws:iam/role:Role", "ci-access-deploy").inputs["assumeRolePolicy"]
    )
    assert (
        trust["Principal"]["Federated"]
        == "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    )


def test_policy_attachments_are_named_after_the_policy(offline: Offline) -> None:
    run = ci_alone(
        offline,
        "dev",
        policyArns=[
            "arn:aws:iam::aws:policy/PowerUserAccess",
            "arn:aws:iam::123456789012:policy/deploy-iam",
        ],
    )
    names = sorted(
        r.name
        for r in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if "ci-access" in r.name
    )
    assert names == [
        "platform-dev-ci-access-deploy-deploy-iam",
        "platform-dev-ci-access-deploy-poweruseraccess",
    ]


@pytest.mark.parametrize(
    "values, message",
    [
        ({"repository": "not a repo"}, "platform:ciAccess.repository = 'not a repo'"),
        ({"boundary": "off"}, "platform:ciAccess.boundary"),
        (
            {"policyArns": ["AdministratorAccess"]},
            "policyArns: not IAM policy ARNs: AdministratorAccess",
        ),
    ],
)
def test_bad_ci_settings_are_reported(values: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(
            project="platform", stack="prod", region="eu-west-1", raw={"ciAccess": values}
        )
    assert message in str(caught.value)


def test_deploy_role_is_capped_by_a_boundary_that_denies_escalation_by_default() -> None:
    run = with_ci("prod")
    role = run.one("aws:iam/role:Role", "ci-access-deploy").inputs
    boundary = run.one("aws:iam/policy:Policy", "ci-access-deploy-boundary")
    assert role["permissionsBoundary"] == boundary.outputs["arn"]
    assert role["tags"]["CiRole"] == "deploy"
    found = statements(boundary.inputs["policy"])
    denied = {a for s in found if s["Effect"] == "Deny" for a in s["Action"]}
    assert denied >= ESCALATION
    by_sid = {s["Sid"]: s for s in found}
    role_name = run.physical_name("aws:iam/role:Role", "ci-access-deploy")
    boundary_name = run.physical_name("aws:iam/policy:Policy", boundary.name)
    # The patterns the boundary names before either resource exists match their real names,
    # and every other stack's CI roles (dev's deploy role must not rewrite prod's trust).
    role_pattern = by_sid["NoChangesToCiRoles"]["Resource"]
    assert role_pattern == "arn:aws:iam::123456789012:role/platform-*-ci-access-*"
    assert fnmatchcase(f"arn:aws:iam::123456789012:role/{role_name}", role_pattern)
    policy_pattern = by_sid["NoChangesToCiBoundaries"]["Resource"]
    assert fnmatchcase(f"arn:aws:iam::123456789012:policy/{boundary_name}", policy_pattern)


def test_bare_managed_policies_are_an_explicit_choice(offline: Offline) -> None:
    run = ci_alone(offline, "prod", boundary="none")
    assert [p.name for p in run.of_type("aws:iam/policy:Policy") if "ci-access" in p.name] == []
    role = run.one("aws:iam/role:Role", "ci-access-deploy").inputs
    assert role.get("permissionsBoundary") is None


@pytest.mark.parametrize("mode", ["preview", "update"])
def test_the_access_rules_accept_the_deploy_role(mode: str) -> None:
    run = stack_run("prod", mode == "preview", ci_section())
    rules = (
        "iam-no-star-on-star",
        "iam-boundary-policy-not-attached",
        "iam-github-oidc-trust-pinned",
        "iam-trust-conditioned",
        "iam-no-admin-equivalent-policies",
        "iam-no-service-wildcard",
        "iam-no-decrypt-on-all-keys",
    )
    found = [v for v in evaluate(run, rules_of("prod", *rules)) if not v.deferred]
    # The one finding is the documented choice a stack that deploys with AdministratorAccess
    # makes on purpose (README: lower iam-no-admin-equivalent-policies to advisory there).
    assert [(v.policy, v.message.split(" grants ")[-1][:60]) for v in found] == [
        (
            "iam-no-admin-equivalent-policies",
            "the admin-equivalent AWS managed policy AdministratorAccess.",
        )
    ]


def ci_settings(**values: object) -> CiRoleSettings:
    return CiRoleSettings.model_validate({"repository": "acme/platform", **values})


@pytest.mark.parametrize(
    "repository, prefixes",
    [
        ("acme/platform", ["repo:acme/platform"]),
        # Immutable subject claims (GitHub docs, "OpenID Connect reference"): both IDs after `@`;
        # GitHub switches a repository between the forms (rename, transfer, opt-in), so the
        # name form stays trusted too (configure-aws-credentials issue #1888).
        ("acme@123456/platform@456789", ["repo:acme/platform", "repo:acme@123456/platform@456789"]),
    ],
)
@pytest.mark.parametrize(
    "protected, preview", [(False, "pull_request"), (True, "environment:prod-preview")]
)
def test_each_role_trusts_exactly_its_jobs_subjects(
    repository: str, prefixes: list[str], protected: bool, preview: str
) -> None:
    assert trusted_subjects(ci_settings(repository=repository), "prod", protected=protected) == {
        RoleKind.PREVIEW: [
            f"{p}:{c}" for p in prefixes for c in (preview, "environment:prod-drift")
        ],
        RoleKind.DEPLOY: [f"{p}:environment:prod" for p in prefixes],
        RoleKind.RELEASE: [f"{p}:environment:release" for p in prefixes],
    }


def test_trust_matches_subjects_exactly_and_audience_is_sts() -> None:
    statement = web_identity_trust("arn:provider", ["repo:acme/platform:pull_request"])
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": ["repo:acme/platform:pull_request"],
        }
    }


@pytest.mark.parametrize(
    "repository, problem",
    [
        ("acme@12/platform", "give both immutable IDs"),
        ("acme/platform@x1", "repository"),
        ("acme@/platform@", "repository"),
    ],
)
def test_repository_ids_come_in_pairs(repository: str, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(
            project="platform",
            stack="prod",
            region="eu-west-1",
            raw={"ciAccess": {"repository": repository}},
        )
    assert problem in str(caught.value)


@pytest.mark.parametrize("hours, seconds", [(None, 4 * 3600), (12, 43200)])
def test_sessions_last_the_configured_hours(
    offline: Offline, hours: int | None, seconds: int
) -> None:
    values = {} if hours is None else {"sessionHours": hours}
    run = ci_alone(offline, "prod", **values)
    role = run.one("aws:iam/role:Role", "ci-access-deploy").inputs
    assert role["maxSessionDuration"] == seconds


@pytest.mark.parametrize("hours", [0, 3, 13])
def test_sessions_stay_within_iam_limits(hours: int) -> None:
    with pytest.raises(SettingsError, match="sessionHours"):
        parse_settings(
            project="platform",
            stack="prod",
            region="eu-west-1",
            raw={"ciAccess": {"sessionHours": hours}},
        )


def test_a_preview_reads_the_layout_the_checkpoint_and_the_tags_of_its_stack() -> None:
    # pulumi/pulumi pkg/backend/diy: meta.go, store.go (checkpoint, also .gz/.zst), stack_tags.go.
    assert state_objects("arn:aws:s3:::state", "platform", "prod") == [
        "arn:aws:s3:::state/.pulumi/meta.yaml",
        "arn:aws:s3:::state/.pulumi/stacks/platform/prod.json*",
        "arn:aws:s3:::state/.pulumi/stacks/platform/prod.pulumi-tags",
    ]


def test_the_platforms_ci_resources_keep_their_urns() -> None:
    # The URNs stacks created before the preview role existed hold (checked against the earlier
    # code): a changed name or parent would replace the deploy role CI depends on.
    component = "platform:ciAccess:CiAccess$"
    expected = {
        f"{component}aws:iam/openIdConnectProvider:OpenIdConnectProvider::platform-prod-ci-access-github",
        f"{component}aws:iam/policy:Policy::platform-prod-ci-access-deploy-boundary",
        f"{component}aws:iam/role:Role::platform-prod-ci-access-deploy",
        f"{component}aws:iam/rolePolicyAttachment:RolePolicyAttachment::"
        "platform-prod-ci-access-deploy-administratoraccess",
    }
    run = with_ci("prod")
    found = {r.urn.split("::", 2)[2] for r in run.resources if "ci-access-" in r.name}
    assert found == expected
