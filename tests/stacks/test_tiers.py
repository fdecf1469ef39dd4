"""Every optional tier can be turned off per stack: what goes with it, what stays, and that what
stays references nothing that is gone and still passes the policy pack.

The runs are of prod (every feature on: backup copy region, domains, WAF, e-mail subscriptions;
the strictest policy config), compared with the shared run of prod's own file, which has every
tier on: a tier that is off may only remove resources, never rename or add one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.settings import SettingsError
from tests.conftest import TIERS, stack_run, tiers_off, tiers_off_run
from tooling.offline import OfflineRun, ProgramError, run_stack
from tooling.plan import build_plan, load_prices
from tooling.policy_eval import evaluate, stack_policy_config

STACK = "prod"
PREFIX = f"platform-{STACK}-"
ALL = tuple(TIERS)
# Each tier alone, then all of them at once.
COMBINATIONS = [(tier,) for tier in TIERS] + [ALL]


def alarms(*keys: str) -> set[str]:
    return {f"observability-{key}" for key in keys}


# The prod file's EKS workloads: they reach the pipeline and the database, so the stack file turns
# them off with either (tests/conftest.py tiers_off).
WORKLOADS = {
    "kubernetes-workloads",
    *(
        f"kubernetes-workloads-{part}"
        for name in ("reports", "ingest")
        for part in (
            f"namespace-{name}",
            f"namespace-{name}-quota",
            f"namespace-{name}-limits",
            name,
            f"{name}-policy",
            f"{name}-account",
        )
    ),
}
# What goes with each tier besides its own component's resources: the database's rule admitting
# it, its alarms and failure events, and what only it uses (a provider, a topic, a policy).
GOES_WITH = {
    "service": {
        "database-from-service",
        "messaging-5671-from-service",
        "messaging-443-from-service",
        "cache-from-service",
        "observability-service-unavailable",
        *alarms("alb-5xx", "target-5xx-rate", "p99-latency", "unhealthy-hosts"),
        *alarms("service-cpu", "service-memory", "running-tasks"),
    },
    "pipeline": {
        "database-from-batch",
        "messaging-5671-from-batch",
        "messaging-443-from-batch",
        "cache-from-batch",
        "observability-batch-failed",
        "observability-batch-failed-topic",
        *alarms("pipeline-failed", "pipeline-timed-out", "pipeline-throttled"),
        # The service's task policy stays: it also lets the service log in as its database
        # identity (rds-db:connect).
        *WORKLOADS,
    },
    "database": {
        "aws-backup",  # the provider in backupCopyRegion
        *alarms("db-writer-cpu", "db-writer-memory", "db-writer-connections", "db-acu"),
        *alarms("db-reader-cpu", "db-reader-memory", "db-reader-connections", "db-replica-lag"),
        *alarms("db-down"),
        *WORKLOADS,
        # A migration needs the database (settings refuse one without it): its task definition,
        # roles and their policies go with it.
        "service-migration",
        "service-migration-policy",
        "service-migration-execution",
        "service-migration-execution-policy",
    },
    "kubernetes": {
        "database-from-eks",
        "messaging-5671-from-eks",
        "messaging-443-from-eks",
        "cache-from-eks",
        *alarms("eks-node-cpu", "eks-node-memory", "eks-failed-nodes"),
    },
    "staticSite": {
        "aws-us-east-1",  # CloudFront's certificate, WAF and alarm region
        "notifications-edge-key",
        "notifications-edge-key-alias",
        "notifications-edge-topic",
        "notifications-edge-topic-policy",
        "notifications-edge-email-platform-alerts-example-com",
        "observability-cloudfront-5xx-rate",
    },
    "messaging": alarms(
        "broker-memory",
        "broker-disk",
        "broker-connections",
        "broker-queue-depth",
        "broker-running",
        "broker-unacked",
    ),
    "cache": alarms(
        "cache-engine-cpu",
        "cache-memory",
        "cache-connections",
        "cache-swap",
        "cache-replication-lag",
        "cache-evictions",
    ),
}
EXPORTS = {
    "service": {
        "serviceUrl",
        "albDnsName",
        "clusterName",
        "serviceName",
        "repositoryUrl",
        "services",
        "releasedImages",
    },
    "pipeline": {
        "uploadsBucket",
        "resultsBucket",
        "jobQueueArn",
        "jobDefinitionArn",
        "stateMachineArn",
        "workloadRoleArns",
    },
    "database": {
        "databaseEndpoint",
        "databaseReaderEndpoint",
        "databasePort",
        "databaseSecretArn",
        "databaseClusterIdentifier",
        "databaseName",
        "databaseClusterResourceId",
        "databaseAccessLaunchTemplateId",
        "workloadRoleArns",
    },
    "kubernetes": {
        "kubernetesClusterName",
        "kubernetesEndpoint",
        "kubernetesOidcProviderArn",
        "kubernetesOidcProviderUrl",
        "kubernetesNodeRoleArn",
        "kubernetesNodeSecurityGroupId",
        "kubeconfig",
        "ingressLogBucket",
        "ingressWebAclArn",
        "workloadRoleArns",
    },
    "staticSite": {"siteUrl", "siteDistributionId", "siteDistributionDomainName", "siteBucket"},
    "messaging": {"messagingAmqpsEndpoint", "messagingConsoleUrl", "messagingSecretArn"},
    "cache": {"cachePrimaryEndpoint", "cacheReaderEndpoint", "cachePort", "cacheSecretArn"},
}
ALWAYS_EXPORTED = {
    "region",
    "vpcId",
    "vpcCidr",
    "zoneNames",
    "publicSubnetIds",
    "privateSubnetIds",
    "isolatedSubnetIds",
    "alarmTopicArn",
    "dashboardName",
    "alarmNamePrefix",
    "alarmRegions",
    # prod's account guards, which no tier switch touches.
    "budgetName",
    "trailArn",
    "auditBucket",
    "guardDutyDetectorId",
}
# The CloudWatch namespaces only a tier's alarms and dashboard rows read.
NAMESPACES = {
    "service": {"AWS/ApplicationELB", "AWS/ECS", "ECS/ContainerInsights"},
    "pipeline": {"AWS/States"},
    "database": {"AWS/RDS"},
    "kubernetes": {"ContainerInsights"},
    "staticSite": {"AWS/CloudFront"},
    "messaging": {"AWS/AmazonMQ"},
    "cache": {"AWS/ElastiCache"},
}


def off(tiers: tuple[str, ...], mode: str = "update") -> OfflineRun:
    return tiers_off_run(STACK, tiers, preview=mode == "preview")


def names(run: OfflineRun) -> set[str]:
    return {r.name.removeprefix(PREFIX) for r in run.resources}


def owned_by(tier: str, run: OfflineRun) -> set[str]:
    """The names of the tier's component and everything under it (named from it)."""
    component = TIERS[tier]
    return {n for n in names(run) if n == component or n.startswith(f"{component}-")}


def label(tiers: tuple[str, ...]) -> str:
    return "all" if tiers == ALL else "+".join(tiers)


# --- what goes and what stays ---------------------------------------------------------------------


@pytest.mark.parametrize("tiers", COMBINATIONS, ids=label)
def test_a_tier_off_removes_exactly_itself_and_what_goes_with_it(tiers: tuple[str, ...]) -> None:
    base, run = stack_run(STACK), off(tiers)
    # Nothing renamed, nothing added: every remaining resource keeps its URN.
    assert {r.urn for r in run.resources} <= {r.urn for r in base.resources}
    expected = set[str]().union(*(owned_by(t, base) | GOES_WITH[t] for t in tiers))
    assert names(base) - names(run) == expected


def test_with_every_tier_off_only_network_notifications_and_observability_remain() -> None:
    run = off(ALL)
    components = {r.type for r in run.resources if r.type.startswith("platform:")}
    # The account guards are no tier: prod's budget and the account baseline it owns stay.
    assert components == {
        "platform:network:Network",
        "platform:notifications:Notifications",
        "platform:observability:Observability",
        "platform:budget:Budget",
        "platform:accountBaseline:AccountBaseline",
    }
    assert [p.name for p in run.of_type("pulumi:providers:aws")] == [f"{PREFIX}aws"]
    # Observability keeps watching what is left: the NAT gateways, on the one dashboard.
    watched = {n for n in names(run) if n.startswith("observability-")}
    assert watched == {
        "observability-dashboard",
        *(
            f"observability-nat-{i}-{what}"
            for i in (1, 2, 3)
            for what in ("port-allocation", "dropped")
        ),
    }
    assert set(run.outputs) == ALWAYS_EXPORTED


@pytest.mark.parametrize("tier", TIERS)
def test_a_tier_off_exports_nothing_of_it(tier: str) -> None:
    assert set(stack_run(STACK).outputs) - set(off((tier,)).outputs) == EXPORTS[tier]


# --- nothing left references a tier that is off ---------------------------------------------------


def _text(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


@pytest.mark.parametrize("tiers", COMBINATIONS, ids=label)
def test_nothing_left_names_a_tier_that_is_off(tiers: tuple[str, ...]) -> None:
    # Every physical name, ARN and metric dimension of a tier starts with its component's name.
    run = off(tiers)
    for tier in tiers:
        gone = f"{PREFIX}{TIERS[tier]}"
        mentions = [r.name for r in run.resources if gone in _text([r.inputs, r.checked_inputs])]
        assert mentions == [], tier
        assert gone not in _text(run.outputs)


def _namespaces(run: OfflineRun) -> set[str]:
    alarmed = {
        query["metric"]["namespace"]
        for alarm in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        for query in alarm.inputs["metricQueries"]
        if "metric" in query
    }
    body = json.loads(run.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    drawn = {
        row[0]
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for row in widget["properties"]["metrics"]
        if isinstance(row[0], str)
    }
    return alarmed | drawn


@pytest.mark.parametrize("tiers", COMBINATIONS, ids=label)
def test_no_alarm_or_dashboard_row_watches_a_tier_that_is_off(tiers: tuple[str, ...]) -> None:
    left = _namespaces(off(tiers))
    assert left
    for tier in tiers:
        assert not left & NAMESPACES[tier], tier
    assert {"AWS/NATGateway"} <= left


def _container(run: OfflineRun) -> dict[str, Any]:
    task = run.one("aws:ecs/taskDefinition:TaskDefinition", "service-task")
    return json.loads(task.inputs["containerDefinitions"])[0]


def test_the_service_without_a_database_gets_no_database_settings() -> None:
    container = _container(off(("database",)))
    variables = {e["name"] for e in container["environment"]} | {
        s["name"] for s in container.get("secrets", [])
    }
    assert not [name for name in variables if name.startswith("DB_")]
    base = _container(stack_run(STACK))
    assert {"DB_HOST", "DB_NAME"} <= {e["name"] for e in base["environment"]}


def test_the_service_without_the_pipeline_gets_no_uploads_bucket() -> None:
    container = _container(off(("pipeline",)))
    assert "UPLOAD_S3_BUCKET" not in {e["name"] for e in container["environment"]}
    assert "UPLOAD_S3_BUCKET" in {e["name"] for e in _container(stack_run(STACK))["environment"]}


def test_the_site_without_the_service_has_no_api_origin() -> None:
    def origins(run: OfflineRun) -> list[str]:
        cdn = run.one("aws:cloudfront/distribution:Distribution").inputs
        return [o["originId"] for o in cdn["origins"]]

    assert "api" in origins(stack_run(STACK))
    assert "api" not in origins(off(("service",)))


# --- refused combinations -------------------------------------------------------------------------


def test_the_sites_api_origin_without_the_service_is_refused_before_anything_is_registered() -> (
    None
):
    overrides = {"platform:service": json.dumps({"enabled": False})}
    with pytest.raises(ProgramError) as caught:
        run_stack(STACK, overrides=overrides)
    assert isinstance(caught.value.__cause__, SettingsError)
    assert "platform:staticSite.apiOrigin: with staticSite.enabled" in str(caught.value)
    assert "service.enabled is false" in str(caught.value)
    assert caught.value.run.resources == []


def test_the_overrides_keep_the_rest_of_the_stack_file() -> None:
    service = json.loads(tiers_off(STACK, "service")["platform:service"])
    assert service["enabled"] is False and service["minTasks"] == 3


# --- policy and plan ------------------------------------------------------------------------------


# As `pulumi up` sees each combination, and as a first `pulumi preview` does (computed values
# unknown, rules that read them deferred).
@pytest.mark.parametrize("mode", ("preview", "update"))
@pytest.mark.parametrize("tiers", COMBINATIONS, ids=label)
def test_every_combination_passes_the_policy_pack(tiers: tuple[str, ...], mode: str) -> None:
    found = evaluate(off(tiers, mode), stack_policy_config(STACK))
    assert [v.message for v in found if v.level == "mandatory"] == []
    # prod has no advisories either; a preview only defers what it cannot know yet.
    assert [v.message for v in found if not v.deferred] == []


@pytest.mark.parametrize("tiers", COMBINATIONS, ids=label)
def test_a_preview_registers_what_an_update_registers(tiers: tuple[str, ...]) -> None:
    preview, update = off(tiers, "preview"), off(tiers)
    assert sorted(r.urn for r in preview.resources) == sorted(r.urn for r in update.resources)


def test_the_plan_prices_only_what_remains() -> None:
    plan = build_plan(STACK, off(ALL), [], load_prices())
    assert set(plan["costByComponent"]) == {"network", "notifications", "observability", "baseline"}
    # README, "Optional tiers", quotes what prod costs with every tier off.
    assert f"{plan['monthlyTotal']:.2f} USD a month" in Path("README.md").read_text()
    assert (
        0
        < plan["monthlyTotal"]
        < build_plan(STACK, stack_run(STACK), [], load_prices())["monthlyTotal"]
    )


@pytest.mark.parametrize("tier", TIERS)
def test_the_plan_leaves_a_tier_that_is_off_out_of_the_costs(tier: str) -> None:
    plan = build_plan(STACK, off((tier,)), [], load_prices())
    base = build_plan(STACK, stack_run(STACK), [], load_prices())
    assert TIERS[tier] not in plan["costByComponent"]
    assert plan["monthlyTotal"] < base["monthlyTotal"]
