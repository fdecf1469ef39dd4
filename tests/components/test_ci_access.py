"""CI access: only this repository's deploy branch or stack environment may assume the role."""

from __future__ import annotations

import json

import pytest

from components.settings import SettingsError, parse_settings
from tests.conftest import stack_run, statements
from tooling.offline import OfflineRun, run_stack


def with_ci(stack: str, **values: object) -> OfflineRun:
    section = {"enabled": True, "repository": "acme/platform", **values}
    return run_stack(stack, overrides={"platform:ciAccess": json.dumps(section)})


def test_disabled_by_default_creates_nothing() -> None:
    run = stack_run("prod")
    assert run.of_type("platform:ciAccess:CiAccess") == []
    assert "deployRoleArn" not in run.outputs


def test_deploy_role_trusts_only_this_repository_branch_and_environment() -> None:
    run = with_ci("prod")
    role = run.one("aws:iam/role:Role", "ci-access-deploy")
    [trust] = statements(role.inputs["assumeRolePolicy"])
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Principal"] == {
        "Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    }
    assert trust["Condition"] == {
        "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
        "StringLike": {
            "token.actions.githubusercontent.com:sub": [
                "repo:acme/platform:environment:prod",
                "repo:acme/platform:ref:refs/heads/main",
            ]
        },
    }
    provider = run.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider").inputs
    assert provider["url"] == "https://token.actions.githubusercontent.com"
    assert provider["clientIdLists"] == ["sts.amazonaws.com"]
    role_name = run.physical_name("aws:iam/role:Role", "ci-access-deploy")
    assert run.outputs["deployRoleArn"] == f"arn:aws:iam::123456789012:role/{role_name}"


def test_existing_oidc_provider_is_referenced_not_created() -> None:
    run = with_ci("staging", createOidcProvider=False)
    assert run.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []
    [trust] = statements(
        run.one("aws:iam/role:Role", "ci-access-deploy").inputs["assumeRolePolicy"]
    )
    assert (
        trust["Principal"]["Federated"]
        == "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    )


def test_policy_attachments_are_named_after_the_policy() -> None:
    run = with_ci(
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
