"""Messaging: Amazon MQ for RabbitMQ per stack, its access, secret and the settings guarding it."""

from __future__ import annotations

import json

import pytest

from components.settings import SettingsError
from tests.conftest import STACKS, settings_for, stack_run, statements
from tooling.offline import OfflineRun

BROKER = "aws:mq/broker:Broker"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}


def is_secret(value: object) -> bool:
    """Whether a value on the wire is wrapped as a secret (the engine keeps it encrypted)."""
    return isinstance(value, dict) and SECRET_SIG.items() <= value.items()


@pytest.mark.parametrize(
    "stack, mode, subnets", [("dev", "SINGLE_INSTANCE", 1), ("staging", "CLUSTER_MULTI_AZ", 3), ("prod", "CLUSTER_MULTI_AZ", 3)]
)  # fmt: skip
def test_topology_per_stack(stack: str, mode: str, subnets: int) -> None:
    broker = stack_run(stack).one(BROKER).inputs
    assert broker["deploymentMode"] == mode
    assert len(broker["subnetIds"]) == subnets
    assert all(subnet.startswith("subnet-private-") for subnet in broker["subnetIds"])
    assert (broker["engineType"], broker["engineVersion"]) == ("RabbitMQ", "4.2")


@pytest.mark.parametrize("stack", STACKS)
def test_private_upgraded_and_logged(stack: str) -> None:
    broker = stack_run(stack).one(BROKER)
    assert broker.inputs["publiclyAccessible"] is False
    assert broker.inputs["autoMinorVersionUpgrade"] is True
    assert broker.inputs["logs"] == {"general": True}
    assert broker.protect is (stack != "dev")


@pytest.mark.parametrize("stack", STACKS)
def test_admin_password_is_secret_on_the_wire_and_in_the_secret(stack: str) -> None:
    run = stack_run(stack)
    [user] = run.one(BROKER).checked_inputs["users"]
    assert is_secret(user["password"])
    value = run.one(SECRET_VERSION, "messaging-admin-value").checked_inputs["secretString"]
    assert is_secret(value)
    assert json.loads(value["value"])["password"] == user["password"]["value"]
    password = user["password"]["value"]
    assert not any(password in json.dumps(output) for output in run.outputs.values())


def assert_preview_readable(run: OfflineRun, stack: str, secret: str, key: str) -> None:
    """The generated secret `secret` is tagged for and readable by `stack`'s preview role only,
    through its resource policy, and its key `key` lets that role decrypt via Secrets Manager
    only (tests/ci/test_preview_secrets.py evaluates these against the bootstrap's roles)."""
    role = f"arn:aws:iam::123456789012:role/platform-{stack}-ci-access-preview-*"
    found = run.one("aws:secretsmanager/secret:Secret", secret)
    assert found.inputs["tags"]["PreviewReadable"] == "true"
    policy = run.one("aws:secretsmanager/secretPolicy:SecretPolicy", f"{secret}-policy").inputs
    assert policy["secretArn"] == found.outputs["arn"] and policy["blockPublicPolicy"] is True
    [grant] = statements(policy["policy"])
    assert grant["Action"] == "secretsmanager:GetSecretValue"
    assert grant["Condition"] == {
        "ArnLike": {"aws:PrincipalArn": role},
        "StringEquals": {"aws:PrincipalAccount": "123456789012"},
    }
    decrypt = {s["Sid"]: s for s in statements(run.one("aws:kms/key:Key", key).inputs["policy"])}[
        "PreviewRefreshOfSecrets"
    ]
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"] == (
        "secretsmanager.eu-west-1.amazonaws.com"
    )
    assert decrypt["Condition"]["ArnLike"] == {"aws:PrincipalArn": role}


@pytest.mark.parametrize("stack", STACKS)
def test_the_admin_secret_is_readable_by_the_stacks_preview_role_only(stack: str) -> None:
    assert_preview_readable(
        stack_run(stack),
        stack,
        f"platform-{stack}-messaging-admin",
        f"platform-{stack}-messaging-key",
    )


@pytest.mark.parametrize("stack", STACKS)
def test_only_admitted_groups_reach_amqps_and_the_console(stack: str) -> None:
    run = stack_run(stack)
    group = f"sg-platform-{stack}-messaging-sg"
    rules = [r.inputs for r in run.of_type(INGRESS) if r.inputs["securityGroupId"] == group]
    admitted = {
        f"sg-platform-{stack}-service-tasks-sg",
        f"sg-platform-{stack}-pipeline-jobs-sg",
        f"sg-platform-{stack}-kubernetes-cluster",
    }
    assert {(r["referencedSecurityGroupId"], r["fromPort"]) for r in rules} == {
        (peer, port) for peer in admitted for port in (5671, 443)
    }
    assert all(r["toPort"] == r["fromPort"] and "cidrIpv4" not in r for r in rules)
    assert not [r for r in run.of_type(EGRESS) if r.inputs["securityGroupId"] == group]


def test_the_service_gets_the_endpoint_and_reads_the_credentials_by_reference() -> None:
    run = stack_run("prod")
    [app, _init] = json.loads(run.one("aws:ecs/taskDefinition:TaskDefinition", "service-task").inputs["containerDefinitions"])  # fmt: skip
    secret = (
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:platform-prod-messaging-admin-AbCdEf"
    )
    assert {"name": "AMQP_PASSWORD", "valueFrom": f"{secret}:password::"} in app["secrets"]
    assert {"name": "AMQP_URL", "value": run.outputs["messagingAmqpsEndpoint"]} in app[
        "environment"
    ]
    policy = statements(run.one("aws:iam/rolePolicy:RolePolicy", "service-execution-policy").inputs["policy"])  # fmt: skip
    reads = next(s for s in policy if s["Action"] == ["secretsmanager:GetSecretValue"])
    decrypt = next(s for s in policy if s["Action"] == ["kms:Decrypt"])
    assert secret in reads["Resource"]
    assert "arn:aws:kms:eu-west-1:123456789012:key/platform-prod-messaging-key-key-id" in decrypt["Resource"]  # fmt: skip


def without_tiers() -> OfflineRun:
    off = json.dumps({"enabled": False})
    return stack_run("dev", overrides={"platform:messaging": off, "platform:cache": off})


def test_a_stack_without_messaging_and_cache_has_neither_nor_their_wiring() -> None:
    # One run for both switches (tests/components/test_cache.py reads it too).
    run = without_tiers()
    assert not [r for r in run.resources if "-messaging" in r.name or "-cache" in r.name]
    assert not [key for key in run.outputs if key.startswith(("messaging", "cache"))]
    task = run.one("aws:ecs/taskDefinition:TaskDefinition", "service-task")
    assert "AMQP_" not in task.inputs["containerDefinitions"]
    assert "CACHE_" not in task.inputs["containerDefinitions"]


@pytest.mark.parametrize(
    "section, words",
    [
        ({"engineVersion": "4.2", "instanceType": "mq.m5.large"},
         ["platform:messaging", "instanceType 'mq.m5.large' does not run RabbitMQ 4.2", "mq.m7g.*"]),
        ({"engineVersion": "3.13", "instanceType": "mq.t3.micro", "deployment": "clusterMultiAz"},
         ["runs single-instance brokers only"]),
        ({"engineVersion": "4.3", "instanceType": "mq.m5.large"},
         ["instanceType 'mq.m5.large' does not run RabbitMQ 4.3", "mq.m7g.*"]),
        ({"engineVersion": "3.12"}, ["platform:messaging.engineVersion", "3.13, 4.2, 4.3"]),
        ({"maintenanceStart": "sunday 05:00"}, ["platform:messaging.maintenanceStart", "ddd:hh24:mi"]),
        ({"adminUsername": "a,b"}, ["platform:messaging.adminUsername"]),
    ],
)  # fmt: skip
def test_settings_refuse_what_amazon_mq_refuses(section: dict[str, str], words: list[str]) -> None:
    with pytest.raises(SettingsError) as error:
        settings_for("prod", {"platform:messaging": json.dumps(section)})
    assert "stack 'prod'" in str(error.value)
    for word in words:
        assert word in str(error.value)


def test_rabbitmq_4_3_on_m7g_is_accepted() -> None:
    # Amazon MQ Developer Guide, "RabbitMQ 4": 4.3 and 4.2, on mq.m7g only.
    section = {"engineVersion": "4.3", "instanceType": "mq.m7g.large"}
    settings = settings_for("prod", {"platform:messaging": json.dumps(section)})
    assert settings.config.messaging.engine_version == "4.3"


def test_a_single_instance_of_3_13_on_t3_micro_is_accepted() -> None:
    section = {
        "engineVersion": "3.13",
        "instanceType": "mq.t3.micro",
        "deployment": "singleInstance",
    }
    settings = settings_for("dev", {"platform:messaging": json.dumps(section)})
    assert settings.config.messaging.instance_type == "mq.t3.micro"


@pytest.mark.parametrize("stack", STACKS)
def test_alarms_watch_the_broker_by_name(stack: str) -> None:
    run = stack_run(stack)
    alarms = [
        a for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if "-broker-" in a.name
    ]
    assert {a.name.rsplit("-broker-", 1)[1] for a in alarms} == {
        "memory", "disk", "connections", "queue-depth", "unacked", "running"
    }  # fmt: skip
    for alarm in alarms:
        for query in alarm.inputs["metricQueries"]:
            if "metric" in query:
                assert query["metric"]["namespace"] == "AWS/AmazonMQ"
                assert query["metric"]["dimensions"] == {"Broker": f"platform-{stack}-messaging"}


def insights(alarm_inputs: dict[str, object]) -> dict[str, str]:
    queries = alarm_inputs["metricQueries"]
    assert isinstance(queries, list)
    return {q["id"]: q["expression"] for q in queries if "metric" not in q and q["id"] != "result"}


@pytest.mark.parametrize("stack", STACKS)
def test_memory_and_disk_alarms_watch_the_worst_node_not_the_cluster_sum(stack: str) -> None:
    # RabbitMQ raises its memory and disk alarms per node (Amazon MQ Developer Guide,
    # "Configurable storage best practices": "When free disk space on any node falls below this
    # value ..."), so the alarms read every node of this broker (dimensions Broker, Node).
    run = stack_run(stack)
    nodes = (
        f"""FROM SCHEMA("AWS/AmazonMQ", Broker, Node) WHERE Broker = 'platform-{stack}-messaging'"""
    )
    alarm = "aws:cloudwatch/metricAlarm:MetricAlarm"
    memory = run.one(alarm, "-broker-memory").inputs
    assert insights(memory) == {
        "used": f"SELECT MAX(RabbitMQMemUsed) {nodes}",
        "limit": f"SELECT MIN(RabbitMQMemLimit) {nodes}",
    }
    disk = run.one(alarm, "-broker-disk").inputs
    assert insights(disk) == {
        "free": f"SELECT MIN(RabbitMQDiskFree) {nodes}",
        "limit": f"SELECT MAX(RabbitMQDiskFreeLimit) {nodes}",
    }
    for inputs in (memory, disk):
        assert all(q.get("period") == 60 for q in inputs["metricQueries"] if q["id"] != "result")
