"""Cache: ElastiCache for Valkey per stack, its encryption, access, token and the settings guarding it."""

from __future__ import annotations

import json

import pytest

from components.cache import member_cluster_ids
from components.settings import VALKEY_VERSIONS, SettingsError
from tests.components.test_messaging import assert_preview_readable, is_secret, without_tiers
from tests.conftest import STACKS, settings_for, stack_run

GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


@pytest.mark.parametrize("stack, nodes", [("dev", 1), ("staging", 2), ("prod", 3)])
def test_topology_per_stack(stack: str, nodes: int) -> None:
    group = stack_run(stack).one(GROUP).inputs
    assert group["numCacheClusters"] == nodes
    zones = group["preferredCacheClusterAzs"]
    assert len(zones) == nodes and len(set(zones)) == nodes
    assert group["automaticFailoverEnabled"] is (nodes > 1)
    assert group["multiAzEnabled"] is (nodes > 1)
    assert (group["engine"], group["engineVersion"]) == ("valkey", "8.2")


@pytest.mark.parametrize("stack", STACKS)
def test_encrypted_at_rest_with_its_key_and_tls_required(stack: str) -> None:
    group = stack_run(stack).one(GROUP).inputs
    assert group["atRestEncryptionEnabled"] is True
    assert (
        group["kmsKeyId"]
        == f"arn:aws:kms:eu-west-1:123456789012:key/platform-{stack}-cache-key-key-id"
    )
    assert (group["transitEncryptionEnabled"], group["transitEncryptionMode"]) == (True, "required")
    assert group["autoMinorVersionUpgrade"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_auth_token_is_secret_on_the_wire_and_in_the_secret_and_fits_the_rules(stack: str) -> None:
    run = stack_run(stack)
    token = run.one(GROUP).checked_inputs["authToken"]
    value = run.one("aws:secretsmanager/secretVersion:SecretVersion", "cache-auth-value")
    assert is_secret(token) and is_secret(value.checked_inputs["secretString"])
    assert json.loads(value.checked_inputs["secretString"]["value"]) == {
        "authToken": token["value"]
    }
    assert not any(token["value"] in json.dumps(output) for output in run.outputs.values())
    # The generator's rules: 16-128 characters, none outside ElastiCache's allowed set.
    password = run.one("random:index/randomPassword:RandomPassword", "cache-auth-token").inputs
    assert 16 <= password["length"] <= 128 and password["special"] is False


@pytest.mark.parametrize(
    "stack, days, window, final",
    [("dev", 0, None, None), ("staging", 7, "03:00-04:00", "platform-staging-cache-final"),
     ("prod", 7, "03:00-04:00", "platform-prod-cache-final")],
)  # fmt: skip
def test_snapshots_per_stack(stack: str, days: int, window: str | None, final: str | None) -> None:
    group = stack_run(stack).one(GROUP)
    assert group.inputs["snapshotRetentionLimit"] == days
    assert group.inputs.get("snapshotWindow") == window
    assert group.inputs.get("finalSnapshotIdentifier") == final
    assert group.protect is (stack != "dev")


@pytest.mark.parametrize("stack", STACKS)
def test_slow_and_engine_logs_go_to_encrypted_groups_with_the_stacks_retention(stack: str) -> None:
    run = stack_run(stack)
    deliveries = run.one(GROUP).inputs["logDeliveryConfigurations"]
    assert {d["logType"] for d in deliveries} == {"slow-log", "engine-log"}
    groups = {g.inputs["name"]: g.inputs for g in run.of_type(LOG_GROUP)}
    for delivery in deliveries:
        group = groups[delivery["destination"]]
        assert group["kmsKeyId"].endswith(f"platform-{stack}-cache-key-key-id")
        assert group["retentionInDays"] == settings_for(stack).config.log_retention_days


@pytest.mark.parametrize("stack", STACKS)
def test_only_admitted_groups_reach_6379(stack: str) -> None:
    run = stack_run(stack)
    group = f"sg-platform-{stack}-cache-sg"
    rules = [r.inputs for r in run.of_type(INGRESS) if r.inputs["securityGroupId"] == group]
    assert {r["referencedSecurityGroupId"] for r in rules} == {
        f"sg-platform-{stack}-service-tasks-sg",
        f"sg-platform-{stack}-pipeline-jobs-sg",
        f"sg-platform-{stack}-kubernetes-cluster",
    }
    assert {(r["fromPort"], r["toPort"]) for r in rules} == {(6379, 6379)}
    assert all("cidrIpv4" not in r for r in rules)


def test_the_service_gets_the_endpoints_and_reads_the_token_by_reference() -> None:
    run = stack_run("prod")
    [app, _init] = json.loads(run.one("aws:ecs/taskDefinition:TaskDefinition", "service-task").inputs["containerDefinitions"])  # fmt: skip
    secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:platform-prod-cache-auth-AbCdEf"
    assert {"name": "CACHE_AUTH_TOKEN", "valueFrom": f"{secret}:authToken::"} in app["secrets"]
    assert {"name": "CACHE_HOST", "value": run.outputs["cachePrimaryEndpoint"]} in app[
        "environment"
    ]
    assert {"name": "CACHE_TLS", "value": "true"} in app["environment"]


def test_a_stack_without_the_cache_exports_none_of_it() -> None:
    assert not [key for key in without_tiers().outputs if key.startswith("cache")]
    assert not without_tiers().of_type(GROUP)


def test_member_clusters_are_named_by_the_group_and_a_three_digit_number() -> None:
    assert member_cluster_ids("platform-prod-cache", 3) == [
        "platform-prod-cache-001", "platform-prod-cache-002", "platform-prod-cache-003"
    ]  # fmt: skip


@pytest.mark.parametrize("stack, lag", [("dev", False), ("staging", True), ("prod", True)])
def test_alarms_watch_the_worst_node(stack: str, lag: bool) -> None:
    run = stack_run(stack)
    nodes = member_cluster_ids(f"platform-{stack}-cache", settings_for(stack).config.cache.nodes)
    alarms = {
        a.name.rsplit("-cache-", 1)[1]: a.inputs for a in run.of_type(ALARM) if "-cache-" in a.name
    }
    expected = {"engine-cpu", "memory", "evictions", "connections", "swap"} | ({"replication-lag"} if lag else set())  # fmt: skip
    assert set(alarms) == expected
    for alarm in alarms.values():
        metrics = [q["metric"] for q in alarm["metricQueries"] if "metric" in q]
        assert [m["dimensions"] for m in metrics] == [{"CacheClusterId": n} for n in nodes]
        assert all(m["namespace"] == "AWS/ElastiCache" for m in metrics)


@pytest.mark.parametrize(
    "section, words",
    [
        ({"engineVersion": "7.1"}, ["platform:cache.engineVersion", ", ".join(VALKEY_VERSIONS)]),
        ({"nodes": 7}, ["platform:cache.nodes", "between 1 and 6"]),
        ({"maintenanceWindow": "sun:05:00-sun:05:45"}, ["45 minutes", "at least 60"]),
        ({"snapshotWindow": "05:00-06:00"}, ["snapshotWindow '05:00-06:00' overlaps maintenanceWindow"]),
        ({"nodeType": "m7g.large"}, ["platform:cache.nodeType"]),
    ],
)  # fmt: skip
def test_settings_refuse_what_elasticache_refuses(
    section: dict[str, object], words: list[str]
) -> None:
    with pytest.raises(SettingsError) as error:
        settings_for("prod", {"platform:cache": json.dumps(section)})
    assert "stack 'prod'" in str(error.value)
    for word in words:
        assert word in str(error.value)


def test_overlapping_windows_do_not_matter_without_snapshots() -> None:
    section = {"snapshotRetentionDays": 0, "snapshotWindow": "05:00-06:00"}
    cache = settings_for("dev", {"platform:cache": json.dumps(section)}).config.cache
    assert (cache.snapshot_retention_days, cache.snapshot_window) == (0, "05:00-06:00")


@pytest.mark.parametrize("stack", STACKS)
def test_the_auth_token_secret_is_readable_by_the_stacks_preview_role_only(stack: str) -> None:
    assert_preview_readable(
        stack_run(stack), stack, f"platform-{stack}-cache-auth", f"platform-{stack}-cache-key"
    )
