"""Physical names as the provider will generate them fit AWS's limits, for every stack and for the
longest project and stack names the program supports; fitting a name never replaces a resource."""

from __future__ import annotations

import json

import pytest

from components.naming import MAX_PROJECT_LENGTH, MAX_STACK_LENGTH
from components.settings import MAX_SERVICE_NAME_LENGTH, SettingsError, parse_settings
from tests.conftest import STACKS, stack_run
from tooling.offline import run_stack
from tooling.provider_check import name_problems, output_names

TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
ROLE = "aws:iam/role:Role"
OBSERVABILITY_ROLE = "kubernetes-amazon-cloudwatch-observability"


@pytest.mark.parametrize("stack", STACKS)
def test_every_physical_name_fits(stack: str) -> None:
    assert [str(p) for p in stack_run(stack).name_problems()] == []


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_longest_supported_project_and_stack_names_fit(stack: str) -> None:
    run = run_stack(stack, project="p" * MAX_PROJECT_LENGTH, stack_name="s" * MAX_STACK_LENGTH)
    assert [str(p) for p in run.name_problems()] == []


@pytest.mark.parametrize(
    "type_, logical, limit",
    [
        (TARGET_GROUP, "platform-staging-service-tg", 32),
        (ROLE, f"platform-staging-{OBSERVABILITY_ROLE}", 64),
    ],
)
def test_an_auto_name_over_the_limit_is_refused_as_the_provider_refuses_it(
    type_: str, logical: str, limit: int
) -> None:
    # The logical names staging used before: + "-" + 7 random characters is over the limit.
    urn = f"urn:pulumi:staging::platform::{type_}::{logical}"
    checked = {"name": f"{logical}-abcdef0"}
    [problem] = name_problems(type_, urn, {}, checked)
    assert f"the provider refuses over {limit}" in str(problem)
    assert name_problems(type_, urn, {"name": "explicit"}, {"name": "explicit"}) == []


def test_an_explicit_name_over_the_aws_limit_is_refused() -> None:
    urn = "urn:pulumi:prod::platform::aws:lb/loadBalancer:LoadBalancer::alb"
    name = "x" * 33
    [problem] = name_problems(
        "aws:lb/loadBalancer:LoadBalancer", urn, {"name": name}, {"name": name}
    )
    assert "AWS accepts at most 32" in str(problem)


@pytest.mark.parametrize(
    "type_, prop, limit",
    [
        ("aws:mq/broker:Broker", "brokerName", 50),
        ("aws:elasticache/replicationGroup:ReplicationGroup", "replicationGroupId", 40),
    ],
)
def test_broker_and_cache_names_over_their_limits_are_refused(
    type_: str, prop: str, limit: int
) -> None:
    urn = f"urn:pulumi:prod::platform::{type_}::x"
    fits, over = {prop: "x" * limit}, {prop: "x" * (limit + 1)}
    assert name_problems(type_, urn, fits, fits) == []
    [problem] = name_problems(type_, urn, over, over)
    assert f"AWS accepts at most {limit}" in str(problem)


def test_a_name_aws_takes_only_in_lower_case_is_refused() -> None:
    urn = "urn:pulumi:prod::platform::aws:rds/subnetGroup:SubnetGroup::Db"
    [problem] = name_problems("aws:rds/subnetGroup:SubnetGroup", urn, {}, {"name": "Db-0abc123"})
    assert "upper case" in str(problem)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_names_that_already_fit_keep_their_urns(stack: str) -> None:
    run = stack_run(stack)
    assert run.one(TARGET_GROUP).name == f"platform-{stack}-service-tg"
    assert run.one(ROLE, OBSERVABILITY_ROLE).name == f"platform-{stack}-{OBSERVABILITY_ROLE}"
    assert not any(a.startswith("name=") for r in run.resources for a in r.aliases)


# The URNs staging's target group and CloudWatch add-on role had before their names were fitted.
OLD_URNS = {
    TARGET_GROUP: "urn:pulumi:staging::platform::platform:service:Service"
    "$aws:lb/targetGroup:TargetGroup::platform-staging-service-tg",
    ROLE: "urn:pulumi:staging::platform::platform:kubernetes:Kubernetes"
    f"$aws:iam/role:Role::platform-staging-{OBSERVABILITY_ROLE}",
}


def aliased_urn(urn: str, alias: str) -> str:
    """The URN a `name=<old>` alias points at: same stack, project, parent chain and type."""
    return f"{urn.rsplit('::', 1)[0]}::{alias.removeprefix('name=')}"


def test_a_fitted_name_keeps_its_old_urn_through_an_alias() -> None:
    run = stack_run("staging")
    group = run.one(TARGET_GROUP)
    role = next(r for r in run.of_type(ROLE) if "cloudwatch-ob" in r.name)
    for resource, limit in ((group, 32), (role, 64)):
        assert len(resource.name) <= limit - 8
        [alias] = [a for a in resource.aliases if a.startswith("name=")]
        assert aliased_urn(resource.urn, alias) == OLD_URNS[resource.type]


def test_longer_project_or_stack_names_are_a_settings_error() -> None:
    with pytest.raises(SettingsError) as error:
        parse_settings(
            project="p" * (MAX_PROJECT_LENGTH + 1),
            stack="s" * (MAX_STACK_LENGTH + 1),
            region="eu-west-1",
            raw={},
        )
    message = str(error.value)
    assert f"project name {'p' * (MAX_PROJECT_LENGTH + 1)!r}" in message
    assert f"at most {MAX_PROJECT_LENGTH} are supported" in message
    assert f"stack name {'s' * (MAX_STACK_LENGTH + 1)!r}" in message


def test_project_and_stack_names_aws_would_refuse_in_a_resource_name_are_a_settings_error() -> None:
    with pytest.raises(SettingsError) as error:
        parse_settings(project="Platform_X", stack="prod.1", region="eu-west-1", raw={})
    message = str(error.value)
    assert "project name 'Platform_X': use lower-case letters" in message
    assert "stack name 'prod.1': use lower-case letters" in message


def test_types_in_python_keyword_modules_are_read_from_the_sdk() -> None:
    # pulumi-aws names the Python module of `aws:lambda/...` types `lambda_` (a keyword).
    assert "arn" in output_names("aws:lambda/function:Function")
    assert "result" in output_names("aws:lambda/invocation:Invocation")


def test_the_longest_service_name_fits_with_the_longest_project_and_stack_names() -> None:
    longest = "s" + "-x" * ((MAX_SERVICE_NAME_LENGTH - 1) // 2)
    longest += "y" * (MAX_SERVICE_NAME_LENGTH - len(longest))
    assert len(longest) == MAX_SERVICE_NAME_LENGTH
    schedule = {"expression": "rate(1 day)", "command": ["job"]}
    services = {longest: {"pathPatterns": ["/x/*"], "priority": 1, "schedule": schedule}}
    run = run_stack(
        "staging",
        project="p" * MAX_PROJECT_LENGTH,
        stack_name="s" * MAX_STACK_LENGTH,
        overrides={
            "platform:services": json.dumps(services),
            "platform:service": json.dumps({"waf": True}),
        },
    )
    assert [str(p) for p in run.name_problems()] == []
    # Each named resource of the service was registered (and so checked above).
    for type_ in (
        TARGET_GROUP,
        ROLE,
        "aws:scheduler/schedule:Schedule",
        "aws:ecr/repository:Repository",
    ):
        assert run.of_type(type_)
