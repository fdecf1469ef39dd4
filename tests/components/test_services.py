"""Several Fargate services behind the shared load balancer: one routed by host, one by path, one
default. Each has its own repository, roles, security group, target group, rule and alarms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components.common import StackContext
from components.network import Network, NetworkArgs
from components.service import Service, ServiceArgs, Wiring
from components.settings import Settings, SettingsError
from tests.conftest import Offline, settings_for, stack_run
from tooling.offline import OfflineRun, Resource, run_stack, stack_config
from tooling.policy_eval import evaluate, stack_policy_config

REPOSITORY = "aws:ecr/repository:Repository"
ROLE = "aws:iam/role:Role"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
RULE = "aws:lb/listenerRule:ListenerRule"
LISTENER = "aws:lb/listener:Listener"
ECS_SERVICE = "aws:ecs/service:Service"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SCHEDULE = "aws:scheduler/schedule:Schedule"

SERVICES = {
    "web": {"default": True, "cpu": 256, "memory": 512, "minTasks": 1, "desiredTasks": 1,
            "maxTasks": 2, "capacity": "spot"},
    "api": {"hostPatterns": ["api.staging.example.com"], "priority": 10, "containerPort": 9000,
            "healthCheckPath": "/health", "cpu": 512, "memory": 1024, "minTasks": 2,
            "desiredTasks": 2, "maxTasks": 4},
    "reports": {"pathPatterns": ["/reports/*"], "priority": 20, "cpu": 256, "memory": 512,
                "minTasks": 1, "desiredTasks": 1, "maxTasks": 2,
                "schedule": {"expression": "rate(1 hour)", "command": ["report", "--hourly"]}},
}  # fmt: skip
# With platform:services, platform:service holds only what the services share.
SHARED = {
    "waf": True,
    "domainName": "app.staging.example.com",
    "hostedZoneId": "Z0000000000EXAMPLE",
}
OVERRIDES = {"platform:services": json.dumps(SERVICES), "platform:service": json.dumps(SHARED)}


def three(preview: bool = False) -> OfflineRun:
    """The staging stack with three services, shared by the read-only tests below."""
    return stack_run("staging", preview, OVERRIDES)


def named(run: OfflineRun, type_: str, service: str) -> Resource:
    return run.one(type_, f"service-{service}-{type_.rsplit(':', 1)[1].lower()}")


def test_each_service_has_its_own_repository_and_ecs_service() -> None:
    run = three()
    repositories = sorted(r.name for r in run.of_type(REPOSITORY))
    assert repositories == [f"platform-staging-service-{s}-repo" for s in sorted(SERVICES)]
    assert all(r.protect for r in run.of_type(REPOSITORY))
    assert sorted(r.name for r in run.of_type(ECS_SERVICE)) == [
        f"platform-staging-service-{s}-service" for s in sorted(SERVICES)
    ]


def test_each_service_has_its_own_execution_and_task_role() -> None:
    names = {r.name for r in three().of_type(ROLE)}
    for service in SERVICES:
        assert f"platform-staging-service-{service}-execution" in names
        assert f"platform-staging-service-{service}-task" in names


def test_each_service_runs_its_own_log_group() -> None:
    groups = {r.inputs["name"] for r in three().of_type("aws:cloudwatch/logGroup:LogGroup")}
    assert {f"/platform/staging/services/{s}" for s in SERVICES} <= groups


def test_each_target_group_probes_its_service_port_and_path() -> None:
    run = three()
    groups = [r for r in run.of_type(TARGET_GROUP)]
    assert len(groups) == len(SERVICES)
    api = next(g for g in groups if g.inputs["port"] == 9000)
    assert api.inputs["healthCheck"]["path"] == "/health"
    assert sorted(g.inputs["port"] for g in groups) == [8080, 8080, 9000]


def test_routed_services_get_one_rule_each_on_the_https_listener() -> None:
    run = three()
    https = run.one(LISTENER, "service-https")
    rules = {r.name: r.inputs for r in run.of_type(RULE)}
    assert sorted(rules) == [
        "platform-staging-service-api-rule",
        "platform-staging-service-reports-rule",
    ]
    api, reports = (
        rules["platform-staging-service-api-rule"],
        rules["platform-staging-service-reports-rule"],
    )
    assert api["listenerArn"] == reports["listenerArn"] == https.outputs["arn"]
    assert (api["priority"], reports["priority"]) == (10, 20)
    assert api["conditions"] == [{"hostHeader": {"values": ["api.staging.example.com"]}}]
    assert reports["conditions"] == [{"pathPattern": {"values": ["/reports/*"]}}]
    assert [a["type"] for a in api["actions"]] == ["forward"]


def test_the_default_service_receives_what_no_rule_matches() -> None:
    run = three()
    web_group = next(
        g
        for g in run.of_type(TARGET_GROUP)
        if g.name.startswith("platform-staging-service-web") or "web" in str(g.aliases)
    )
    [action] = run.one(LISTENER, "service-https").inputs["defaultActions"]
    assert action == {"type": "forward", "targetGroupArn": web_group.outputs["arn"]}
    [redirect] = run.one(LISTENER, "service-http").inputs["defaultActions"]
    assert redirect["type"] == "redirect"


def test_each_service_waits_for_the_rule_that_routes_to_it() -> None:
    run = three()
    api = run.one(ECS_SERVICE, "service-api-service")
    rule = run.one(RULE, "service-api-rule")
    assert rule.urn in api.dependencies


def test_tasks_admit_the_load_balancer_on_their_own_port_only() -> None:
    run = three()
    alb_sg = run.one("aws:ec2/securityGroup:SecurityGroup", "service-alb-sg").id
    for service, port in (("web", 8080), ("api", 9000), ("reports", 8080)):
        group = run.one("aws:ec2/securityGroup:SecurityGroup", f"service-{service}-tasks-sg")
        into = [r.inputs for r in run.of_type(INGRESS) if r.inputs["securityGroupId"] == group.id]
        assert [(r["fromPort"], r["toPort"], r.get("referencedSecurityGroupId")) for r in into] == [
            (port, port, alb_sg)
        ]


def test_the_database_admits_every_service() -> None:
    run = three()
    admits = {r.name for r in run.of_type(INGRESS) if "database" in r.name and "service" in r.name}
    assert {f"platform-staging-database-from-service-{s}" for s in SERVICES} <= admits


def test_each_service_has_its_own_alarms() -> None:
    alarms = {
        r.name.removeprefix("platform-staging-observability-") for r in three().of_type(ALARM)
    }
    for service in SERVICES:
        for key in ("target-5xx-rate", "p99-latency", "unhealthy-hosts", "service-cpu",
                    "service-memory", "running-tasks"):  # fmt: skip
            assert f"{service}-{key}" in alarms
    names = [r.inputs["name"] for r in three().of_type(ALARM)]
    assert len(names) == len(set(names))


def test_running_task_alarms_follow_each_service_minimum() -> None:
    run = three()
    for service, settings in SERVICES.items():
        alarm = run.one(ALARM, f"observability-{service}-running-tasks")
        assert alarm.inputs["threshold"] == settings["minTasks"]


def test_only_the_service_with_a_schedule_runs_a_cron_job() -> None:
    [schedule] = three().of_type(SCHEDULE)
    assert schedule.name.startswith("platform-staging-service-reports-job")


def test_the_services_output_names_each_service_identity() -> None:
    services = three().outputs["services"]
    assert sorted(services) == sorted(SERVICES)
    for entry in services.values():
        assert set(entry) == {
            "serviceName", "repositoryUrl", "securityGroupId", "taskRoleName", "taskRoleArn",
            "image", "taskDefinitionArn", "targetGroupArn", "healthUrl", "migration",
        }  # fmt: skip
    assert "serviceName" not in three().outputs  # no `app` among them


@pytest.mark.parametrize("preview", [True, False])
def test_the_policy_pack_passes(preview: bool) -> None:
    found = evaluate(three(preview), stack_policy_config("staging"))
    assert [v.message for v in found if v.level == "mandatory"] == []


def test_every_physical_name_fits() -> None:
    assert [str(p) for p in three().name_problems()] == []


# --- without a default service, unmatched requests get a 404 --------------------------------------


def routed_only(settings: Settings, ctx: StackContext) -> Service:
    network = Network("net", NetworkArgs(settings=settings.config.network, ctx=ctx))
    services = settings.config.ecs_services()
    return Service(
        "svc",
        ServiceArgs(settings=settings.config.service, services=services, ctx=ctx, network=network),
    )


def test_without_a_default_service_the_listener_answers_404(offline: Offline) -> None:
    only_api = {"api": {"hostPatterns": ["api.example.com"], "priority": 1}}
    run = offline.component(
        routed_only,
        "dev",
        {"platform:services": json.dumps(only_api), "platform:service": json.dumps({"waf": False})},
    )
    [action] = run.one(LISTENER, "svc-http").inputs["defaultActions"]
    assert action["type"] == "fixed-response"
    assert action["fixedResponse"]["statusCode"] == "404"
    # No domain: the rule sits on the HTTP listener, which serves.
    assert run.one(RULE).inputs["listenerArn"] == run.one(LISTENER).outputs["arn"]


# --- settings --------------------------------------------------------------------------------------


def problems(services: dict[str, object], service: dict[str, object] | None = None) -> str:
    with pytest.raises(SettingsError) as error:
        settings_for(
            "dev",
            {
                "platform:services": json.dumps(services),
                "platform:service": json.dumps(service or {"waf": False}),
            },
        )
    return str(error.value)


HOST = {"hostPatterns": ["a.example.com"], "priority": 1}


@pytest.mark.parametrize(
    "services, expected",
    [
        ({"a": HOST, "b": {**HOST, "hostPatterns": ["b.example.com"]}},
         "services.a and services.b: priority 1 is used more than once"),
        ({"a": HOST, "b": {**HOST, "priority": 2}},
         "services.a and services.b: the same hostPatterns and pathPatterns"),
        ({"a": {"default": True}, "b": {"default": True}},
         "services.a and services.b: default is true in each"),
        ({"a": {}}, "no route: set hostPatterns and/or pathPatterns with a priority"),
        ({"a": {"pathPatterns": ["/a"]}}, "need a priority (1 to 50000)"),
        ({"a": {**HOST, "priority": 50001}}, "50001 is not between 1 and 50000"),
        ({"a": {"default": True, "priority": 3}}, "default: true takes no hostPatterns"),
        ({"a": {**HOST, "pathPatterns": ["/a", "/b", "/c"], "hostPatterns": ["a.x", "b.x", "c.x"]}},
         "hold 6 values; a listener rule takes at most 5"),
        ({"a": {**HOST, "pathPatterns": ["/a", "/b", "/c", "/d"]}},
         "at most 3 path patterns per rule condition, not 4"),
        ({"a": {**HOST, "pathPatterns": ["/*/*/*", "/*/*/*"]}}, "6 wildcards"),
        ({"a": {**HOST, "hostPatterns": ["bad host/"]}}, "'bad host/' is not a host pattern"),
        ({"a": {**HOST, "hostPatterns": ["localhost"]}}, "'localhost' is not a host pattern"),
        ({"a": {**HOST, "hostPatterns": ["api.example.c0m"]}}, "is not a host pattern (up to 128"),
        ({"a": {**HOST, "hostPatterns": ["a." + "b" * 127]}}, "is not a host pattern"),
        ({"a": {**HOST, "pathPatterns": ["reports/*"]}}, "'reports/*' is not a path pattern"),
        ({"Api": {"default": True}}, "'Api' is not a service name"),
        ({"a" * 21: {"default": True}}, "is not a service name: 1 to 20"),
    ],
)  # fmt: skip
def test_routes_aws_cannot_serve_are_settings_errors(
    services: dict[str, object], expected: str
) -> None:
    assert expected in problems(services)


def test_per_service_keys_left_in_the_shared_section_are_named() -> None:
    message = problems({"a": {"default": True}}, {"cpu": 512, "memory": 1024, "waf": False})
    assert "platform:service.cpu, service.memory: with platform:services" in message
    assert "move them to services.<name>" in message


def test_every_problem_is_reported_at_once() -> None:
    message = problems({"a": HOST, "b": HOST, "C": {"default": True}})
    assert "(3 problems)" in message


def test_a_secret_of_a_service_is_never_shown() -> None:
    message = problems({"a": {**HOST, "secrets": {"TOKEN": "hunter2-plaintext"}}})
    assert "hunter2-plaintext" not in message
    assert "platform:services.a.secrets" in message


def test_without_the_map_the_shared_section_is_the_service_app() -> None:
    config = settings_for("prod").config
    [(name, app)] = config.ecs_services().items()
    assert name == "app"
    assert app.default and app.cpu == config.service.cpu
    assert app.schedule == config.service.schedule


def test_a_stack_with_the_service_off_has_no_services() -> None:
    overrides = {"platform:service": json.dumps({"enabled": False}),
                 "platform:staticSite": json.dumps({"apiOrigin": False})}  # fmt: skip
    assert settings_for("dev", overrides).config.ecs_services() == {}


def test_the_readme_example_is_a_valid_stack_configuration() -> None:
    readme = Path("README.md").read_text()
    section = readme.split("### Several services on ECS", 1)[1]
    example = yaml.safe_load(section.split("```yaml", 1)[1].split("```", 1)[0])
    config = settings_for(
        "staging", {key: json.dumps(value) for key, value in example.items()}
    ).config
    services = config.ecs_services()
    assert sorted(services) == ["app", "reports"]
    assert services["app"].default and services["reports"].path_patterns == ["/reports/*"]
    # app keeps the values staging's file gives the single service today.
    assert services["app"] == settings_for("staging").config.ecs_services()["app"]


# --- one service's own wiring ---------------------------------------------------------------------


def with_own_secret(settings: Settings, ctx: StackContext) -> Service:
    network = Network("net", NetworkArgs(settings=settings.config.network, ctx=ctx))
    own = Wiring(
        secrets={"DB_PASSWORD": f"{OWN_SECRET}:password::"},
        environment={"DB_USER": "api"},
        readable_secret_arns=[OWN_SECRET],
    )
    return Service(
        "svc",
        ServiceArgs(
            settings=settings.config.service,
            services=settings.config.ecs_services(),
            ctx=ctx,
            network=network,
            wiring=Wiring(environment={"SHARED": "1"}),
            service_wiring={"api": own},
        ),
    )


OWN_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-db-AbCdEf"


def test_a_service_own_wiring_reaches_only_that_service(offline: Offline) -> None:
    two = {"api": {"hostPatterns": ["api.example.com"], "priority": 1}, "web": {"default": True}}
    run = offline.component(
        with_own_secret,
        "dev",
        {"platform:services": json.dumps(two), "platform:service": json.dumps({"waf": False})},
    )
    for service, has_own in (("api", True), ("web", False)):
        [definition, _init] = json.loads(
            run.one("aws:ecs/taskDefinition:TaskDefinition", f"svc-{service}-task").inputs[
                "containerDefinitions"
            ]
        )
        environment = {e["name"]: e["value"] for e in definition["environment"]}
        assert environment["SHARED"] == "1"
        assert ("DB_USER" in environment) is has_own
        assert bool(definition["secrets"]) is has_own
        policy = run.one("aws:iam/rolePolicy:RolePolicy", f"svc-{service}-execution-policy")
        assert (OWN_SECRET in policy.inputs["policy"]) is has_own


def test_each_service_logs_into_the_database_only_as_its_own_identity() -> None:
    # __main__.py: a service whose name is a declared database identity gets that identity's
    # variables and rds-db:connect on that user alone; a service without one gets neither.
    database = json.loads(stack_config("staging")["platform:database"])
    database["identities"] = {"api": {}, "reports": {"database": "reporting"}}
    run = run_stack("staging", overrides={**OVERRIDES, "platform:database": json.dumps(database)})
    expected = {"api": ("api", "api"), "reports": ("reports", "reporting"), "web": None}
    for service, identity in expected.items():
        [definition, _init] = json.loads(
            run.one("aws:ecs/taskDefinition:TaskDefinition", f"service-{service}-task").inputs[
                "containerDefinitions"
            ]
        )
        environment = {e["name"]: e["value"] for e in definition["environment"]}
        policy = run.one("aws:iam/rolePolicy:RolePolicy", f"service-{service}-task-policy")
        logins = [
            resource
            for statement in json.loads(policy.inputs["policy"])["Statement"]
            if "rds-db:connect" in statement["Action"]
            for resource in statement["Resource"]
        ]
        if identity is None:
            assert "DB_USERNAME" not in environment and logins == []
            continue
        user, name = identity
        assert (environment["DB_USERNAME"], environment["DB_NAME"]) == (user, name)
        assert environment["DB_IAM_AUTH"] == "1"
        assert [login.rsplit("/", 1)[1] for login in logins] == [user]
