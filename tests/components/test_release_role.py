"""The app-release role of each stack (bootstrap): trusted by the release workflow's publish job
only, allowed to push to that stack's service repositories and read their scans, nothing else."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from components.ci_access import RELEASE_ACTIONS, RoleKind, trusted_subjects
from components.settings import CiRoleSettings
from tests.ci.test_bootstrap import STACKS, bootstrap, role
from tests.components.test_ci_access import with_ci
from tests.components.test_services import three
from tests.conftest import stack_run, statements
from tooling.bootstrap.github import REPOSITORY
from tooling.release import stack_repositories

REPOSITORY_TYPE = "aws:ecr/repository:Repository"
GITHUB = "token.actions.githubusercontent.com"


def policy(stack: str) -> dict[str, dict[str, Any]]:
    found = bootstrap().one(
        "aws:iam/rolePolicy:RolePolicy", f"platform-{stack}-ci-access-release-push"
    )
    return {s["Sid"]: s for s in statements(found.inputs["policy"])}


def repository_arns(names: list[str], region: str = "eu-west-1") -> list[str]:
    return [f"arn:aws:ecr:{region}:123456789012:repository/{name}" for name in names]


@pytest.mark.parametrize(
    "repository, sent",
    [
        ("acme/platform", ["repo:acme/platform:environment:release"]),
        (
            "acme@123456/platform@456789",
            [
                "repo:acme/platform:environment:release",
                "repo:acme@123456/platform@456789:environment:release",
            ],
        ),
    ],
)
def test_the_release_role_trusts_only_the_release_environment(
    repository: str, sent: list[str]
) -> None:
    settings = CiRoleSettings.model_validate({"repository": repository})
    for stack in STACKS:
        assert trusted_subjects(settings, stack, protected=False)[RoleKind.RELEASE] == sent


@pytest.mark.parametrize("stack", STACKS)
def test_each_stack_has_a_release_role_with_one_inline_policy(stack: str) -> None:
    run = bootstrap()
    release = role(run, stack, RoleKind.RELEASE).inputs
    [trust] = statements(release["assumeRolePolicy"])
    assert trust["Condition"] == {
        "StringEquals": {
            f"{GITHUB}:aud": "sts.amazonaws.com",
            f"{GITHUB}:sub": ["repo:acme/platform:environment:release"],
        }
    }
    assert release["tags"]["CiRole"] == "release"
    assert release.get("permissionsBoundary") is None and not release.get("managedPolicyArns")
    attached = [
        a.name
        for a in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.name.startswith(f"platform-{stack}-ci-access-release")
    ]
    assert attached == []
    found = policy(stack)
    assert found["RegistryLogin"]["Action"] == ["ecr:GetAuthorizationToken"]
    assert found["RegistryLogin"]["Resource"] == ["*"]
    assert found["FindTheStacksRepositories"]["Action"] == ["ecr:DescribeRepositories"]
    assert found["PushToTheStacksRepositories"]["Action"] == list(RELEASE_ACTIONS)
    assert set(found) == {
        "RegistryLogin",
        "FindTheStacksRepositories",
        "PushToTheStacksRepositories",
    }
    # ECR encrypts through its own grant on the repository's key: no KMS action is granted.
    actions = [a for s in found.values() for a in s["Action"]]
    assert not [a for a in actions if not a.startswith("ecr:")]


def test_push_reaches_exactly_the_stacks_own_service_repositories() -> None:
    # The names the provider gives the repositories (auto-names of the real program, one service
    # and several) fall under the stack's pattern and under no other stack's.
    runs = {"dev": stack_run("dev"), "prod": stack_run("prod"), "staging": three()}
    names = {
        stack: [run.physical_name(REPOSITORY_TYPE, r.name) for r in run.of_type(REPOSITORY_TYPE)]
        for stack, run in runs.items()
    }
    assert len(names["staging"]) == 3
    for stack in STACKS:
        [pattern] = policy(stack)["PushToTheStacksRepositories"]["Resource"]
        for other, found in names.items():
            matched = [fnmatchcase(arn, str(pattern)) for arn in repository_arns(found)]
            assert matched == [other == stack] * len(found), (stack, other, found)


def test_every_deploy_boundary_denies_changes_to_the_release_roles() -> None:
    run = bootstrap()
    arns = [role(run, stack, RoleKind.RELEASE).outputs["arn"] for stack in STACKS]
    for boundary in run.of_type("aws:iam/policy:Policy"):
        found = {s["Sid"]: s for s in statements(boundary.inputs["policy"])}
        pattern = found["NoChangesToCiRoles"]["Resource"]
        assert all(fnmatchcase(arn, pattern) for arn in arns), boundary.name


def test_the_release_environment_holds_each_stacks_release_role() -> None:
    run = bootstrap()
    scopes = run.outputs["githubVariables"]
    assert scopes["release"] == {
        f"AWS_RELEASE_ROLE_{stack}": role(run, stack, RoleKind.RELEASE).outputs["arn"]
        for stack in STACKS
    }
    assert not [name for name in scopes[REPOSITORY] if name.startswith("AWS_RELEASE_ROLE")]


def test_the_platform_programs_own_ci_access_builds_no_release_role() -> None:
    # Its deploy role's boundary denies PutRolePolicy on CI roles: CI could not create one.
    run = with_ci("prod")
    assert [r.name for r in run.of_type("aws:iam/role:Role") if "ci-access-release" in r.name] == []


def test_the_publish_step_finds_each_services_repository_by_the_names_the_provider_gives() -> None:
    # tooling.release reads the repositories' auto-names back: each service's, no other stack's.
    runs = {"staging": three(), "prod": stack_run("prod")}
    listed = [
        {"repositoryName": name, "repositoryUri": f"registry/{name}"}
        for run in runs.values()
        for name in (
            run.physical_name(REPOSITORY_TYPE, r.name) for r in run.of_type(REPOSITORY_TYPE)
        )
    ]
    ecr = boto3.client(
        "ecr", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(ecr) as stubber:
        stubber.add_response("describe_repositories", {"repositories": listed}, {})
        found = stack_repositories(ecr, "platform", "staging", ["api", "reports", "web"])
    assert {name: uri.split("/")[1] for name, uri in found.items()} == {
        name: three().physical_name(REPOSITORY_TYPE, f"service-{name}-repo")
        for name in ("api", "reports", "web")
    }
