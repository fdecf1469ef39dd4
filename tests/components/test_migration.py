"""The migration task a release runs before its service switches (issue #22): command, roles,
network, logs, names, and that the service depends on nothing it creates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.release import health_url
from components.settings import EcsServiceSettings
from tests.components.test_service import service_with
from tests.conftest import STACKS, Offline, stack_run, statements, tiers_off_run
from tooling.offline import OfflineRun, Resource

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def container(task_definition: Resource) -> dict[str, Any]:
    [definition, _init] = json.loads(task_definition.inputs["containerDefinitions"])
    return definition


def migration(run: OfflineRun) -> Resource:
    return run.one(TASK_DEFINITION, "service-migration")


def service_task(run: OfflineRun) -> Resource:
    return run.one(TASK_DEFINITION, "service-task")


@pytest.mark.parametrize("stack", STACKS)
def test_the_migration_runs_its_command_with_the_database_login_only(stack: str) -> None:
    run = stack_run(stack)
    task, service = container(migration(run)), container(service_task(run))
    assert task["command"] == ["alembic", "upgrade", "head"]
    database = {"DB_HOST", "DB_READER_HOST", "DB_PORT", "DB_NAME", "DB_USERNAME", "DB_IAM_AUTH"}
    variables = {e["name"]: e["value"] for e in task["environment"]}
    assert set(variables) == database
    assert variables == {
        e["name"]: e["value"] for e in service["environment"] if e["name"] in database
    }
    # No broker or cache credentials, no uploads bucket: the service has them, the migration not.
    assert {"AMQP_PASSWORD", "CACHE_AUTH_TOKEN"} <= {s["name"] for s in service["secrets"]}
    assert "UPLOAD_S3_BUCKET" in {e["name"] for e in service["environment"]}
    assert task["secrets"] == []
    assert task["image"] == service["image"]
    # A one-off task: no port, no health check, no ECS Exec agent volumes.
    assert "portMappings" not in task
    assert "healthCheck" not in task
    assert [m["containerPath"] for m in task["mountPoints"]] == ["/tmp"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_migration_execution_role_reads_no_secret(stack: str) -> None:
    run = stack_run(stack)
    service = statements(run.one(ROLE_POLICY, "service-execution-policy").inputs["policy"])
    assert "secretsmanager:GetSecretValue" in {a for s in service for a in s["Action"]}
    task = migration(run)
    assert task.inputs["executionRoleArn"] != service_task(run).inputs["executionRoleArn"]
    own = statements(run.one(ROLE_POLICY, "service-migration-execution-policy").inputs["policy"])
    assert sorted(a for s in own for a in s["Action"]) == [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetAuthorizationToken",
        "ecr:GetDownloadUrlForLayer",
        "kms:Decrypt",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    ]


def test_the_migration_gets_the_services_own_secrets_and_may_read_exactly_those(
    offline: Offline,
) -> None:
    # An app may need its own secrets (SECRET_KEY...) at import; the tiers' ones stay out.
    secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-key-AbCdEf"
    parameter = "arn:aws:ssm:eu-west-1:123456789012:parameter/app/signing-key"
    run = service_with(
        offline,
        secrets={"API_KEY": secret, "SIGNING_KEY": parameter},
        migration={"command": ["alembic", "upgrade", "head"]},
    )
    task = container(run.one(TASK_DEFINITION, "svc-migration"))
    assert task["secrets"] == [
        {"name": "API_KEY", "valueFrom": secret},
        {"name": "SIGNING_KEY", "valueFrom": parameter},
    ]
    own = statements(run.one(ROLE_POLICY, "svc-migration-execution-policy").inputs["policy"])
    assert {
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": [secret],
    } in own
    assert {"Effect": "Allow", "Action": ["ssm:GetParameters"], "Resource": [parameter]} in own


@pytest.mark.parametrize("stack", STACKS)
def test_the_migration_is_a_fargate_task_of_the_services_size_and_architecture(
    stack: str,
) -> None:
    run = stack_run(stack)
    task, service = migration(run).inputs, service_task(run).inputs
    assert task["networkMode"] == "awsvpc"
    assert task["requiresCompatibilities"] == ["FARGATE"]
    for key in ("cpu", "memory", "runtimePlatform"):
        assert task[key] == service[key], key
    assert task["taskRoleArn"] != service["taskRoleArn"]
    assert task["family"] == f"platform-{stack}-service-migration"


@pytest.mark.parametrize("stack", STACKS)
def test_the_migration_logs_to_the_services_group_under_its_own_prefix(stack: str) -> None:
    run = stack_run(stack)
    logs = container(migration(run))["logConfiguration"]
    assert logs["logDriver"] == "awslogs"
    assert logs["options"]["awslogs-group"] == f"/platform/{stack}/service"
    assert logs["options"]["awslogs-stream-prefix"] == "migration"


@pytest.mark.parametrize("stack", STACKS)
def test_the_migration_role_may_only_log_in_to_the_database(stack: str) -> None:
    run = stack_run(stack)
    [policy] = [p for p in run.of_type(ROLE_POLICY) if p.name.endswith("service-migration-policy")]
    found = statements(policy.inputs["policy"])
    assert [s["Action"] for s in found] == [["rds-db:connect"]]
    service_policy = run.one(ROLE_POLICY, "service-task-policy")
    service_connect = [
        s for s in statements(service_policy.inputs["policy"]) if s["Action"] == ["rds-db:connect"]
    ]
    assert found == service_connect
    trust = statements(run.one(ROLE, "service-migration").inputs["assumeRolePolicy"])
    assert [s["Principal"] for s in trust] == [{"Service": "ecs-tasks.amazonaws.com"}]


@pytest.mark.parametrize("stack", STACKS)
def test_the_service_depends_on_nothing_the_migration_creates(stack: str) -> None:
    run = stack_run(stack)
    created = {r.urn for r in run.resources if "service-migration" in r.name and r.custom}
    assert len(created) == 5  # task definition, task and execution roles with their policies
    dependents = [
        r.name
        for r in run.resources
        if "service-migration" not in r.name
        and created & {*r.dependencies, *(u for us in r.property_dependencies.values() for u in us)}
    ]
    assert dependents == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_migration_output_tells_the_release_how_to_run_it(stack: str) -> None:
    run = stack_run(stack)
    task = migration(run)
    output = run.outputs["services"]["app"]["migration"]
    assert output == {
        "taskDefinitionArn": f"arn:aws:ecs:eu-west-1:123456789012:task-definition/{task.inputs['family']}:1",
        "containerName": "app",
        "subnetIds": ["subnet-private-1", "subnet-private-2", "subnet-private-3"],
        "securityGroupIds": [run.one("aws:ec2/securityGroup:SecurityGroup", "service-tasks-sg").id],
        "logGroupName": f"/platform/{stack}/service",
        "logStreamPrefix": "migration",
        "timeoutMinutes": 15,
    }
    service = run.one("aws:ecs/service:Service")
    assert output["subnetIds"] == service.inputs["networkConfiguration"]["subnets"]


@pytest.mark.parametrize("stack", STACKS)
def test_each_service_output_names_what_a_release_needs(stack: str) -> None:
    run = stack_run(stack)
    app = run.outputs["services"]["app"]
    assert app["taskDefinitionArn"].endswith(f":task-definition/platform-{stack}-service-task:1")
    assert app["targetGroupArn"].startswith("arn:aws:elasticloadbalancing:")
    assert app["image"] == container(service_task(run))["image"]
    domain = {"dev": None, "staging": "app.staging.example.com", "prod": "app.example.com"}[stack]
    base = f"https://{domain}" if domain else run.outputs["serviceUrl"]
    assert app["healthUrl"] == f"{base}/"


@pytest.mark.parametrize("stack", STACKS)
def test_every_alarm_starts_with_the_alarm_name_prefix(stack: str) -> None:
    run = stack_run(stack)
    prefix = run.outputs["alarmNamePrefix"]
    assert prefix == f"{stack}: "
    names = [
        *(r.inputs["name"] for r in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")),
        *(
            r.inputs["alarmName"]
            for r in run.of_type("aws:cloudwatch/compositeAlarm:CompositeAlarm")
        ),
    ]
    assert len(names) > 10
    assert [name for name in names if not name.startswith(prefix)] == []


def alarm_region(run: OfflineRun, alarm: Resource) -> str:
    """The region of the provider the alarm is registered with (its reference: `<urn>::<id>`)."""
    assert alarm.provider is not None, alarm.urn
    [provider] = [r for r in run.resources if alarm.provider.startswith(f"{r.urn}::")]
    return str(provider.inputs["region"])


@pytest.mark.parametrize("stack", STACKS)
def test_every_alarm_lives_in_one_of_the_alarm_regions(stack: str) -> None:
    run = stack_run(stack)
    alarms = [
        *run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"),
        *run.of_type("aws:cloudwatch/compositeAlarm:CompositeAlarm"),
    ]
    regions = {alarm_region(run, alarm) for alarm in alarms}
    # Each stack's static site publishes CloudFront metrics, and so alarms, in us-east-1 alone.
    assert regions == {"eu-west-1", "us-east-1"}
    assert run.outputs["alarmRegions"] == sorted(regions)


def test_without_the_static_site_the_alarms_live_in_the_stacks_region() -> None:
    run = tiers_off_run("dev", ("staticSite",))
    alarms = run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert {alarm_region(run, alarm) for alarm in alarms} == {"eu-west-1"}
    assert run.outputs["alarmRegions"] == ["eu-west-1"]


def services(**entries: dict[str, object]) -> dict[str, EcsServiceSettings]:
    return {name: EcsServiceSettings.model_validate(values) for name, values in entries.items()}


BASE = "https://app.example.com"


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        # The default service answers at the base URL.
        ({"web": {"default": True, "healthCheckPath": "/healthz"}}, f"{BASE}/healthz"),
        # Path patterns: the health path must be one the rule sends to the service.
        (
            {"api": {"pathPatterns": ["/api/*"], "priority": 10, "healthCheckPath": "/api/health"}},
            f"{BASE}/api/health",
        ),
        ({"api": {"pathPatterns": ["/api/*"], "priority": 10, "healthCheckPath": "/health"}}, None),
        ({"api": {"pathPatterns": ["/API/*"], "priority": 10, "healthCheckPath": "/api/x"}}, None),
        # Host patterns: only the domain has a DNS record and a certificate, so a service
        # answers only if a pattern matches it (host names case-insensitively).
        ({"api": {"hostPatterns": ["app.example.com"], "priority": 10}}, f"{BASE}/"),
        ({"api": {"hostPatterns": ["*.example.com"], "priority": 10}}, f"{BASE}/"),
        ({"api": {"hostPatterns": ["*.example.org", "api.example.org"], "priority": 10}}, None),
        ({"api": {"hostPatterns": ["api.example.com"], "priority": 10}}, None),
        (
            {
                "api": {
                    "hostPatterns": ["APP.example.com"],
                    "pathPatterns": ["/v1/*"],
                    "priority": 10,
                    "healthCheckPath": "/v1/ping",
                }
            },
            f"{BASE}/v1/ping",
        ),
    ],
)
def test_the_health_url_follows_the_services_routing(
    entries: dict[str, dict[str, object]], expected: str | None
) -> None:
    [name] = entries
    assert health_url(BASE, name, services(**entries)) == expected


def test_a_rule_of_lower_priority_that_takes_the_health_path_hides_it() -> None:
    routed = services(
        first={"pathPatterns": ["/*"], "priority": 1},
        second={"pathPatterns": ["/b/*"], "priority": 2, "healthCheckPath": "/b/health"},
        web={"default": True},
    )
    assert health_url(BASE, "first", routed) == f"{BASE}/"
    assert health_url(BASE, "second", routed) is None
    assert health_url(BASE, "web", routed) is None


def test_the_health_url_keeps_the_scheme_of_a_load_balancer_without_a_domain() -> None:
    base = "http://platform-dev-service-alb-1234567890.eu-west-1.elb.amazonaws.com"
    assert health_url(base, "web", services(web={"default": True})) == f"{base}/"
    # Without a domain no name of a host pattern resolves to the load balancer.
    routed = services(api={"hostPatterns": ["api.example.org"], "priority": 1})
    assert health_url(base, "api", routed) is None


def test_a_load_balancer_that_admits_only_cloudfront_has_no_health_url() -> None:
    # service.originOnly: the security group admits the origin-facing prefix list alone.
    web = services(web={"default": True})
    assert health_url(BASE, "web", web, origin_only=True) is None
