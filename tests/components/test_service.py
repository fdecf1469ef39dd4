"""Service: Fargate tasks behind an ALB, per stack, plus the settings that guard it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.common import StackContext
from components.network import Network, NetworkArgs
from components.service import TLS_POLICY, Service, ServiceArgs
from components.settings import Settings, SettingsError, parse_settings
from tests.conftest import STACKS, Offline, component_run, statements
from tests.conftest import stack_run as program_run
from tooling.offline import OfflineRun, Resource

INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LISTENER = "aws:lb/listener:Listener"


def build(settings: Settings, ctx: StackContext) -> Service:
    network = Network("net", NetworkArgs(settings=settings.config.network, ctx=ctx))
    return Service("svc", ServiceArgs(settings=settings.config.service, ctx=ctx, network=network))


def stack_run(stack: str) -> OfflineRun:
    # Read-only assertions share one run per stack; each run has a fresh runtime of its own.
    return component_run(build, stack)


def service_with(offline: Offline, stack: str = "dev", **values: object) -> OfflineRun:
    return offline.component(build, stack, {"platform:service": json.dumps(values)})


def container(task_definition: Resource) -> dict[str, Any]:
    """The single container definition (parsed JSON)."""
    [definition, _init] = json.loads(task_definition.inputs["containerDefinitions"])
    return definition


@pytest.mark.parametrize("stack", STACKS)
def test_tasks_run_privately(stack: str) -> None:
    service = stack_run(stack).one("aws:ecs/service:Service")
    network = service.inputs["networkConfiguration"]
    assert network["subnets"] == ["subnet-private-1", "subnet-private-2", "subnet-private-3"]
    assert network["assignPublicIp"] is False


@pytest.mark.parametrize("stack", STACKS)
def test_deployments_roll_back_on_failure(stack: str) -> None:
    service = stack_run(stack).one("aws:ecs/service:Service")
    assert service.inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service.inputs["deploymentMinimumHealthyPercent"] == 100
    assert "desiredCount" in service.ignore_changes


@pytest.mark.parametrize("stack", STACKS)
def test_alb_security_group_is_open_only_on_80_and_443(stack: str) -> None:
    run = stack_run(stack)
    rules = [r.inputs for r in run.of_type(INGRESS) if r.name.startswith("svc-alb-in")]
    assert sorted((r["fromPort"], r["toPort"]) for r in rules) == [
        (80, 80),
        (80, 80),
        (443, 443),
        (443, 443),
    ]
    assert {r.get("cidrIpv4") or r.get("cidrIpv6") for r in rules} == {"0.0.0.0/0", "::/0"}
    assert all(r["securityGroupId"] == "sg-svc-alb-sg" for r in rules)


@pytest.mark.parametrize("stack", STACKS)
def test_tasks_accept_only_the_alb_on_the_container_port(stack: str) -> None:
    run = stack_run(stack)
    into_tasks = [
        r.inputs for r in run.of_type(INGRESS) if r.inputs["securityGroupId"] == "sg-svc-tasks-sg"
    ]
    assert into_tasks == [
        {
            "securityGroupId": "sg-svc-tasks-sg",
            "description": "Container port from the load balancer",
            "ipProtocol": "tcp",
            "fromPort": 8080,
            "toPort": 8080,
            "referencedSecurityGroupId": "sg-svc-alb-sg",
            "tags": {"Component": "service"},
        }
    ]


def test_https_and_redirect_exactly_when_a_domain_is_set() -> None:
    for stack in STACKS:
        run = stack_run(stack)
        listeners = {r.inputs["port"]: r.inputs for r in run.of_type(LISTENER)}
        if stack == "dev":
            assert set(listeners) == {80}
            assert listeners[80]["defaultActions"][0]["type"] == "forward"
            assert run.of_type("aws:acm/certificate:Certificate") == []
            continue
        assert set(listeners) == {80, 443}
        assert listeners[443]["protocol"] == "HTTPS"
        assert listeners[443]["sslPolicy"] == TLS_POLICY
        assert listeners[80]["defaultActions"][0]["redirect"]["protocol"] == "HTTPS"
        assert listeners[80]["defaultActions"][0]["redirect"]["statusCode"] == "HTTP_301"
        assert run.one("aws:route53/record:Record", "alias").inputs["type"] == "A"


@pytest.mark.parametrize("stack, waf", [("dev", False), ("staging", True), ("prod", True)])
def test_waf_guards_the_alb_in_staging_and_prod(stack: str, waf: bool) -> None:
    run = stack_run(stack)
    associations = run.of_type("aws:wafv2/webAclAssociation:WebAclAssociation")
    assert len(associations) == int(waf)
    if waf:
        acl = run.one("aws:wafv2/webAcl:WebAcl")
        assert acl.inputs["scope"] == "REGIONAL"
        names = [rule["name"] for rule in acl.inputs["rules"]]
        assert "AWSManagedRulesCommonRuleSet" in names
        assert "AWSManagedRulesKnownBadInputsRuleSet" in names
        assert "RateLimitPerIp" in names


@pytest.mark.parametrize("stack, days", [("staging", 30), ("prod", 365)])
def test_the_web_acl_logs_every_request_to_an_encrypted_aws_waf_logs_group(
    stack: str, days: int
) -> None:
    run = stack_run(stack)
    acl = run.one("aws:wafv2/webAcl:WebAcl")
    logging = run.one("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")
    # The logging configuration takes the ACL's ARN from the ACL itself (what waf-logging reads).
    assert logging.property_dependencies["resourceArn"] == (acl.urn,)
    group = run.one("aws:cloudwatch/logGroup:LogGroup", "svc-waf-logs")
    assert logging.property_dependencies["logDestinationConfigs"] == (group.urn,)
    # WAF accepts only destinations named aws-waf-logs-* (AWS WAF API Reference).
    assert group.inputs["name"] == "aws-waf-logs-svc-waf"
    assert group.inputs["retentionInDays"] == days
    key = run.one("aws:kms/key:Key", "svc-key")
    assert group.property_dependencies["kmsKeyId"] == (key.urn,)
    redacted = [field["singleHeader"]["name"] for field in logging.inputs["redactedFields"]]
    assert redacted == ["authorization", "cookie"]


@pytest.mark.parametrize("stack", STACKS)
def test_exec_sessions_are_logged_to_an_encrypted_group_the_task_may_write(stack: str) -> None:
    run = stack_run(stack)
    exec_config = run.one("aws:ecs/cluster:Cluster").inputs["configuration"][
        "executeCommandConfiguration"
    ]
    group = run.one("aws:cloudwatch/logGroup:LogGroup", "svc-exec-logs")
    assert exec_config["logging"] == "OVERRIDE"
    assert exec_config["logConfiguration"] == {
        "cloudWatchLogGroupName": group.inputs["name"],
        "cloudWatchEncryptionEnabled": True,
    }
    assert group.inputs["kmsKeyId"].startswith("arn:aws:kms:")
    policies = [
        statement
        for p in run.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.name.endswith("svc-task-policy")
        for statement in statements(p.inputs["policy"])
    ]
    by_action = {action: s["Resource"] for s in policies for action in s["Action"]}
    exec_on = stack != "prod"  # service.enableExec: dev and staging
    assert ("logs:PutLogEvents" in by_action) is exec_on
    if exec_on:
        group_arn = f"arn:aws:logs:eu-west-1:123456789012:log-group:{group.inputs['name']}:*"
        assert by_action["logs:PutLogEvents"] == [group_arn]
        assert by_action["logs:CreateLogStream"] == [group_arn]
        assert by_action["logs:DescribeLogGroups"] == ["*"]


def test_the_schedule_is_encrypted_with_the_service_key_its_role_may_decrypt() -> None:
    run = stack_run("prod")
    key = run.one("aws:kms/key:Key", "svc-key")
    schedule = run.one("aws:scheduler/schedule:Schedule")
    assert schedule.property_dependencies["kmsKeyArn"] == (key.urn,)
    policy = statements(
        run.one("aws:iam/rolePolicy:RolePolicy", "scheduler-policy").inputs["policy"]
    )
    assert {
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": [schedule.inputs["kmsKeyArn"]],
    } in policy


def test_access_logs_abort_incomplete_multipart_uploads() -> None:
    lifecycle = stack_run("prod").one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "alb-logs-lifecycle"
    )
    [rule] = lifecycle.inputs["rules"]
    assert rule["filter"] == {"prefix": ""}
    assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    assert rule["expiration"] == {"days": 365}


@pytest.mark.parametrize("stack", STACKS)
def test_execution_and_task_roles_are_distinct_and_scoped(stack: str) -> None:
    run = stack_run(stack)
    task_definition = run.one("aws:ecs/taskDefinition:TaskDefinition", "svc-task")
    assert task_definition.inputs["executionRoleArn"] != task_definition.inputs["taskRoleArn"]
    for policy in run.of_type("aws:iam/rolePolicy:RolePolicy"):
        for statement in statements(policy.inputs["policy"]):
            actions = statement["Action"]
            assert not ("*" in actions and "*" in statement["Resource"]), policy.name


@pytest.mark.parametrize("stack, days", [("dev", 7), ("staging", 30), ("prod", 365)])
def test_log_retention_per_stack(stack: str, days: int) -> None:
    group = stack_run(stack).one("aws:cloudwatch/logGroup:LogGroup", "svc-logs")
    assert group.inputs["retentionInDays"] == days
    assert group.inputs["kmsKeyId"].startswith("arn:aws:kms:")


@pytest.mark.parametrize(
    "stack, cpu, memory",
    [("dev", "256", "512"), ("staging", "512", "1024"), ("prod", "1024", "2048")],
)
def test_task_size_per_stack(stack: str, cpu: str, memory: str) -> None:
    task = stack_run(stack).one("aws:ecs/taskDefinition:TaskDefinition", "svc-task")
    assert (task.inputs["cpu"], task.inputs["memory"]) == (cpu, memory)
    assert task.inputs["networkMode"] == "awsvpc"


def test_container_is_hardened() -> None:
    app = container(stack_run("prod").one("aws:ecs/taskDefinition:TaskDefinition", "svc-task"))
    assert app["readonlyRootFilesystem"] is True
    assert app["logConfiguration"]["logDriver"] == "awslogs"


@pytest.mark.parametrize(
    "stack, strategy",
    [
        ("dev", [("FARGATE_SPOT", 0, 1)]),
        ("staging", [("FARGATE", 1, 1), ("FARGATE_SPOT", 0, 1)]),
        ("prod", [("FARGATE", 0, 1)]),
    ],
)
def test_capacity_strategy_per_stack(stack: str, strategy: list[tuple[str, int, int]]) -> None:
    service = stack_run(stack).one("aws:ecs/service:Service")
    found = [
        (s["capacityProvider"], s.get("base", 0), s["weight"])
        for s in service.inputs["capacityProviderStrategies"]
    ]
    assert found == strategy


@pytest.mark.parametrize("stack", STACKS)
def test_alb_is_hardened(stack: str) -> None:
    alb = stack_run(stack).one("aws:lb/loadBalancer:LoadBalancer")
    assert alb.inputs["dropInvalidHeaderFields"] is True
    assert alb.inputs["enableDeletionProtection"] is (stack != "dev")
    assert alb.inputs["accessLogs"]["enabled"] is True
    assert alb.inputs["subnets"] == ["subnet-public-1", "subnet-public-2", "subnet-public-3"]
    assert len(alb.inputs["name"]) <= 32


def test_access_log_bucket_is_private_and_tls_only() -> None:
    run = stack_run("prod")
    block = run.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        block[k]
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    policy = statements(run.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    deny = next(s for s in policy if s["Effect"] == "Deny")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_ecr_repository_scans_and_keeps_tags_immutable() -> None:
    repo = stack_run("prod").one("aws:ecr/repository:Repository")
    assert repo.inputs["imageTagMutability"] == "IMMUTABLE"
    assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo.inputs["encryptionConfigurations"][0]["encryptionType"] == "KMS"
    assert repo.protect is True


def test_scheduled_task_role_may_only_run_its_task_and_pass_its_roles() -> None:
    run = stack_run("prod")
    schedule = run.one("aws:scheduler/schedule:Schedule")
    assert schedule.inputs["scheduleExpression"] == "cron(0 3 * * ? *)"
    assert schedule.inputs["target"]["retryPolicy"]["maximumRetryAttempts"] == 3
    dlq = run.physical_name("aws:sqs/queue:Queue", "svc-job-dlq")
    assert schedule.inputs["target"]["deadLetterConfig"]["arn"].endswith(f":{dlq}")
    policy = statements(
        run.one("aws:iam/rolePolicy:RolePolicy", "scheduler-policy").inputs["policy"]
    )
    by_action = {s["Action"][0]: s["Resource"] for s in policy}
    assert by_action["ecs:RunTask"] == [
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/svc-job:*"
    ]
    assert len(by_action["iam:PassRole"]) == 2
    job = container(run.one("aws:ecs/taskDefinition:TaskDefinition", "svc-job"))
    assert job["command"] == ["/bin/sh", "-c", "echo nightly job"]


def test_a_digest_becomes_an_image_of_the_services_repository(offline: Offline) -> None:
    digest = "sha256:" + "0f" * 32
    run = service_with(offline, image=digest)
    app = container(run.one("aws:ecs/taskDefinition:TaskDefinition", "svc-task"))
    repository = run.physical_name("aws:ecr/repository:Repository", "svc-repo")
    assert app["image"] == f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/{repository}@{digest}"


def test_secrets_are_injected_by_reference_and_readable_only_by_the_execution_role(
    offline: Offline,
) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-key-AbCdEf"
    run = service_with(offline, secrets={"API_KEY": arn})
    app = container(run.one("aws:ecs/taskDefinition:TaskDefinition", "svc-task"))
    assert app["secrets"] == [{"name": "API_KEY", "valueFrom": arn}]
    execution = statements(
        run.one("aws:iam/rolePolicy:RolePolicy", "execution-policy").inputs["policy"]
    )
    assert {
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": [arn],
    } in execution


def service_error(**values: object) -> str:
    with pytest.raises(SettingsError) as caught:
        parse_settings(project="platform", stack="dev", region="eu-west-1", raw={"service": values})
    return str(caught.value)


def test_invalid_cpu_memory_pair_is_reported() -> None:
    message = service_error(cpu=256, memory=4096)
    assert "memory 4096 does not fit cpu 256 on Fargate; allowed: 512 to 2048" in message


def test_unknown_cpu_is_reported() -> None:
    assert "cpu 300 is not a Fargate CPU size" in service_error(cpu=300, memory=512)


def test_min_above_max_tasks_is_reported() -> None:
    message = service_error(minTasks=5, desiredTasks=5, maxTasks=2)
    assert "platform:service: desiredTasks (5) is greater than maxTasks (2)" in message


def test_bad_cron_is_reported() -> None:
    message = service_error(schedule={"expression": "cron(0 3 * *)", "command": ["x"]})
    assert (
        "platform:service.schedule.expression = 'cron(0 3 * *)': a cron expression needs 6 fields"
        in message
    )


def test_malformed_image_reference_is_reported() -> None:
    message = service_error(image="registry.example.com/app")
    assert (
        "platform:service.image = 'registry.example.com/app': not an image reference with a tag"
        in message
    )


def test_secret_that_is_not_an_arn_is_reported() -> None:
    assert "is not a Secrets Manager secret or SSM parameter ARN" in service_error(
        secrets={"KEY": "plain"}
    )


def test_domain_without_hosted_zone_is_reported() -> None:
    assert "domainName needs hostedZoneId" in service_error(domainName="app.example.com")


# --- ordering: capacity providers before the service and the schedule (issue 17, item 4) ---------

CAPACITY = "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders"


@pytest.mark.parametrize("stack", STACKS)
def test_service_waits_for_the_cluster_capacity_providers(stack: str) -> None:
    run = stack_run(stack)
    capacity = run.one(CAPACITY).urn
    assert capacity in run.one("aws:ecs/service:Service").dependencies


@pytest.mark.parametrize("stack", STACKS)
def test_schedule_waits_for_the_cluster_capacity_providers(stack: str) -> None:
    run = stack_run(stack)
    capacity = run.one(CAPACITY).urn
    assert capacity in run.one("aws:scheduler/schedule:Schedule").dependencies


# --- container health check (issue 17, item 6) ----------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_no_container_health_check_by_default(stack: str) -> None:
    app = container(stack_run(stack).one("aws:ecs/taskDefinition:TaskDefinition", "svc-task"))
    assert "healthCheck" not in app


def test_container_health_check_comes_from_the_settings(offline: Offline) -> None:
    command = [
        "CMD",
        "python",
        "-c",
        "import urllib.request as u; u.urlopen('http://localhost:8080/')",
    ]
    run = service_with(
        offline,
        containerHealthCheck={"command": command, "interval": 20, "startPeriod": 120},
    )
    app = container(run.one("aws:ecs/taskDefinition:TaskDefinition", "svc-task"))
    assert app["healthCheck"] == {
        "command": command,
        "interval": 20,
        "timeout": 5,
        "retries": 3,
        "startPeriod": 120,
    }


def test_scheduled_job_has_no_container_health_check(offline: Offline) -> None:
    run = service_with(
        offline,
        containerHealthCheck={"command": ["CMD-SHELL", "true"]},
        schedule={"expression": "rate(1 hour)", "command": ["true"]},
    )
    job = container(run.one("aws:ecs/taskDefinition:TaskDefinition", "svc-job"))
    assert "healthCheck" not in job


@pytest.mark.parametrize(
    "key, value, allowed",
    [
        ("startPeriod", 301, "0 and 300"),
        ("startPeriod", -1, "0 and 300"),
        ("interval", 4, "5 and 300"),
        ("interval", 301, "5 and 300"),
        ("timeout", 1, "2 and 60"),
        ("timeout", 61, "2 and 60"),
        ("retries", 0, "1 and 10"),
        ("retries", 11, "1 and 10"),
    ],
)
def test_container_health_check_outside_the_ecs_range_is_reported(
    key: str, value: int, allowed: str
) -> None:
    message = service_error(containerHealthCheck={"command": ["CMD-SHELL", "true"], key: value})
    assert (
        f"platform:service.containerHealthCheck.{key} = {value}: {value} is not between {allowed}"
        in message
    )


def test_container_health_check_command_must_start_with_cmd_or_cmd_shell() -> None:
    message = service_error(containerHealthCheck={"command": ["curl", "-f", "http://localhost/"]})
    assert "platform:service.containerHealthCheck.command" in message
    assert "must start with CMD or CMD-SHELL followed by the command" in message


# --- ECS Exec with a read-only root (issue 17, item 7) --------------------------------------------

AGENT_PATHS = ["/managed-agents", "/var/lib/amazon/ssm", "/var/log/amazon/ssm"]


def test_exec_gets_writable_task_scoped_volumes_for_the_agent() -> None:
    task = stack_run("dev").one("aws:ecs/taskDefinition:TaskDefinition", "svc-task")
    app = container(task)
    assert app["readonlyRootFilesystem"] is True
    assert sorted(
        (m["containerPath"], m["sourceVolume"], m["readOnly"]) for m in app["mountPoints"]
    ) == [
        ("/managed-agents", "exec-managed-agents", False),
        ("/tmp", "tmp", False),
        ("/var/lib/amazon/ssm", "exec-ssm-lib", False),
        ("/var/log/amazon/ssm", "exec-ssm-log", False),
    ]
    # Volumes without a host path or EFS are Fargate bind mounts: task storage, gone with the task.
    assert sorted(task.inputs["volumes"], key=lambda v: v["name"]) == [
        {"name": "exec-managed-agents"},
        {"name": "exec-ssm-lib"},
        {"name": "exec-ssm-log"},
        {"name": "tmp"},
    ]


def test_no_agent_volumes_without_exec() -> None:
    task = stack_run("prod").one("aws:ecs/taskDefinition:TaskDefinition", "svc-task")
    assert [m["containerPath"] for m in container(task)["mountPoints"]] == ["/tmp"]
    assert task.inputs["volumes"] == [{"name": "tmp"}]


# --- the uploads bucket (issue 17, item 9) --------------------------------------------------------

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"


def environment_of(task_definition: Resource) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(task_definition)["environment"]}


@pytest.mark.parametrize("task", ["service-task", "service-job"])
def test_service_and_job_get_the_uploads_bucket_name(task: str) -> None:
    run = program_run("prod")
    bucket = run.physical_name("aws:s3/bucket:Bucket", "pipeline-uploads")
    assert environment_of(run.one(TASK_DEFINITION, task))["UPLOAD_S3_BUCKET"] == bucket


def test_task_role_may_write_read_and_delete_only_uploads_under_the_input_prefix() -> None:
    run = program_run("prod")
    bucket = run.physical_name("aws:s3/bucket:Bucket", "pipeline-uploads")
    key_arn = run.one("aws:kms/key:Key", "pipeline-key").outputs["arn"]
    policy = run.one("aws:iam/rolePolicy:RolePolicy", "service-task-policy")
    # Besides its database login (tests/components/test_database.py).
    granted = statements(policy.inputs["policy"])
    assert [s for s in granted if s["Action"] != ["rds-db:connect"]] == [
        {
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
            "Resource": [f"arn:aws:s3:::{bucket}/incoming/*"],
        },
        {
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": [key_arn],
        },
    ]


def test_without_the_pipeline_the_service_gets_no_bucket_and_no_grant() -> None:
    # The program always builds the pipeline; the component alone shows the absence.
    run = stack_run("prod")
    for task in ("svc-task", "svc-job"):
        assert "UPLOAD_S3_BUCKET" not in environment_of(run.one(TASK_DEFINITION, task))
    assert [p.name for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if "task" in p.name] == []
