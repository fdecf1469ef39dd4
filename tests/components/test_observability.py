"""Observability: every alarm on the right metric, routed to the topic, and a matching dashboard."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.common import StackContext
from components.notifications import Notifications, NotificationsArgs
from components.observability import Observability, ObservabilityArgs
from components.settings import Settings, SettingsError, parse_settings
from tests.conftest import STACKS, TIERS, Offline, stack_run, tiers_off_run
from tooling.offline import OfflineRun

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"


def topic_arn(stack: str, edge: bool = False) -> str:
    """The ARN of the stack's notifications topic (the us-east-1 one if `edge`), auto-named."""
    topic = "notifications-edge-topic" if edge else "notifications-topic"
    name = stack_run(stack).physical_name(TOPIC, f"platform-{stack}-{topic}")
    # The mocks give every ARN the stack's region; the provider test below checks the real one.
    return f"arn:aws:sns:eu-west-1:123456789012:{name}"


def alarms(stack: str) -> dict[str, dict[str, Any]]:
    prefix = f"platform-{stack}-observability-"
    return {r.name.removeprefix(prefix): r.inputs for r in stack_run(stack).of_type(ALARM)}


def metric_of(alarm: dict[str, Any], query_id: str = "m") -> dict[str, Any]:
    return next(q["metric"] for q in alarm["metricQueries"] if q["id"] == query_id)


@pytest.mark.parametrize(
    "stack, expected",
    [
        ("dev", {"db-writer-cpu", "db-acu", "nat-1-dropped"}),
        ("staging", {"db-reader-cpu", "db-replica-lag", "nat-1-port-allocation"}),
        ("prod", {"db-replica-lag", "nat-3-dropped", "nat-3-port-allocation"}),
    ],
)
def test_alarms_follow_the_components_of_each_stack(stack: str, expected: set[str]) -> None:
    names = set(alarms(stack))
    always = {
        "alb-5xx", "target-5xx-rate", "p99-latency", "unhealthy-hosts", "service-cpu",
        "service-memory", "running-tasks", "db-writer-cpu", "db-writer-memory",
        "db-writer-connections", "pipeline-failed", "pipeline-timed-out", "pipeline-throttled",
        "eks-node-cpu", "eks-node-memory", "eks-failed-nodes",
    }  # fmt: skip
    assert always | expected <= names


@pytest.mark.parametrize("stack, nat", [("dev", 1), ("staging", 1), ("prod", 3)])
def test_one_pair_of_nat_alarms_per_gateway(stack: str, nat: int) -> None:
    nat_alarms = [name for name in alarms(stack) if name.startswith("nat-")]
    assert len(nat_alarms) == 2 * nat
    gateways = {
        metric_of(a)["dimensions"]["NatGatewayId"]
        for n, a in alarms(stack).items()
        if n.startswith("nat-")
    }
    assert len(gateways) == nat


@pytest.mark.parametrize("stack", STACKS)
def test_every_alarm_notifies_on_alarm_and_ok(stack: str) -> None:
    for name, alarm in alarms(stack).items():
        # CloudFront's alarm lives in us-east-1 and notifies the topic there.
        edge = name.startswith("cloudfront-")
        topic = topic_arn(stack, edge)
        assert alarm["alarmActions"] == [topic], name
        assert alarm["okActions"] == [topic], name
        assert alarm["treatMissingData"] in {"breaching", "notBreaching", "missing", "ignore"}
        assert len(alarm["alarmDescription"]) > 40, name


def test_alarm_dimensions_come_from_the_components() -> None:
    run, prod = stack_run("prod"), alarms("prod")
    assert metric_of(prod["alb-5xx"]) == {
        "namespace": "AWS/ApplicationELB",
        "metricName": "HTTPCode_ELB_5XX_Count",
        "dimensions": {"LoadBalancer": "app/platform-prod-service-alb/50dc6c495c0c9188"},
        "stat": "Sum",
        "period": 60,
    }
    unhealthy = metric_of(prod["unhealthy-hosts"])["dimensions"]
    group = run.physical_name("aws:lb/targetGroup:TargetGroup")
    assert unhealthy["TargetGroup"] == f"targetgroup/{group}/73e2d6bc24d8a067"
    assert metric_of(prod["service-cpu"])["dimensions"] == {
        "ClusterName": run.physical_name(
            "aws:ecs/cluster:Cluster", "platform-prod-service-cluster"
        ),
        "ServiceName": run.physical_name(
            "aws:ecs/service:Service", "platform-prod-service-service"
        ),
    }
    assert metric_of(prod["db-reader-cpu"])["dimensions"] == {
        "DBClusterIdentifier": "platform-prod-database",
        "Role": "READER",
    }
    sfn = metric_of(prod["pipeline-failed"])
    assert (sfn["namespace"], sfn["metricName"]) == ("AWS/States", "ExecutionsFailed")
    machine = run.physical_name(
        "aws:sfn/stateMachine:StateMachine", "platform-prod-pipeline-states"
    )
    assert (
        sfn["dimensions"]["StateMachineArn"]
        == f"arn:aws:states:eu-west-1:123456789012:stateMachine:{machine}"
    )


@pytest.mark.parametrize(
    "alarm, metric, stat, threshold",
    [
        ("eks-node-cpu", "node_cpu_utilization", "Average", 80),
        ("eks-node-memory", "node_memory_utilization", "Average", 85),
        ("eks-failed-nodes", "cluster_failed_node_count", "Maximum", 0),
    ],
)
def test_eks_alarms_read_container_insights_of_the_cluster(
    alarm: str, metric: str, stat: str, threshold: float
) -> None:
    found = alarms("prod")[alarm]
    assert metric_of(found) == {
        "namespace": "ContainerInsights",
        "metricName": metric,
        "dimensions": {"ClusterName": "platform-prod-kubernetes"},
        "stat": stat,
        "period": 60,
    }
    assert found["threshold"] == threshold
    assert found["comparisonOperator"] == "GreaterThanThreshold"
    # The add-on that publishes these metrics is installed with the cluster.
    addons = {a.inputs["addonName"] for a in stack_run("prod").of_type("aws:eks/addon:Addon")}
    assert "amazon-cloudwatch-observability" in addons


@pytest.mark.parametrize("stack", STACKS)
def test_cloudfront_alarm_is_created_in_us_east_1_on_the_distribution(stack: str) -> None:
    run = stack_run(stack)
    alarm = run.one(ALARM, "cloudfront-5xx-rate")
    edge = run.one("pulumi:providers:aws", "aws-us-east-1")
    assert edge.inputs["region"] == "us-east-1"
    assert alarm.provider is not None and alarm.provider.startswith(edge.urn)
    assert metric_of(alarm.inputs) == {
        "namespace": "AWS/CloudFront",
        "metricName": "5xxErrorRate",
        "dimensions": {"DistributionId": "EDFDVBD6EXAMPLE", "Region": "Global"},
        "stat": "Average",
        "period": 60,
    }
    assert alarm.inputs["threshold"] == 5.0
    # Every other alarm stays in the stack's region.
    main = run.one("pulumi:providers:aws", f"platform-{stack}-aws")
    others = [a for a in run.of_type(ALARM) if a.urn != alarm.urn]
    assert all(a.provider is None or a.provider.startswith(main.urn) for a in others)


def test_dashboard_draws_the_cloudfront_metric_from_us_east_1() -> None:
    body = json.loads(
        stack_run("prod").one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"]
    )
    regions = {
        w["properties"]["title"]: w["properties"]["region"]
        for w in body["widgets"]
        if w["type"] == "metric"
    }
    assert regions.pop("CloudFront 5xx rate") == "us-east-1"
    assert set(regions.values()) == {"eu-west-1"}


def test_no_eks_alarms_without_a_cluster() -> None:
    run = stack_run("dev", overrides={"platform:kubernetes": json.dumps({"enabled": False})})
    names = {r.name for r in run.of_type(ALARM)}
    assert not [name for name in names if "-eks-" in name]
    assert names


def test_target_5xx_rate_is_metric_math_over_request_count() -> None:
    alarm = alarms("prod")["target-5xx-rate"]
    by_id = {q["id"]: q for q in alarm["metricQueries"]}
    assert by_id["result"]["expression"] == "IF(requests > 0, 100 * errors / requests, 0)"
    assert by_id["result"]["returnData"] is True
    assert by_id["requests"]["metric"]["metricName"] == "RequestCount"
    assert by_id["errors"]["metric"]["metricName"] == "HTTPCode_Target_5XX_Count"
    assert alarm["threshold"] == 5.0


@pytest.mark.parametrize("stack, minimum", [("dev", 1), ("staging", 2), ("prod", 3)])
def test_running_tasks_alarm_uses_the_stack_minimum(stack: str, minimum: int) -> None:
    alarm = alarms(stack)["running-tasks"]
    assert alarm["threshold"] == minimum
    assert alarm["comparisonOperator"] == "LessThanThreshold"
    assert alarm["treatMissingData"] == "breaching"


def test_evaluation_periods_per_stack() -> None:
    assert {a["evaluationPeriods"] for a in alarms("dev").values()} == {5}
    assert {a["evaluationPeriods"] for a in alarms("prod").values()} == {3}


def test_composite_service_unavailable_alarm() -> None:
    composite = stack_run("prod").one("aws:cloudwatch/compositeAlarm:CompositeAlarm").inputs
    assert composite["alarmRule"] == (
        '(ALARM("prod: Load balancer 5xx") AND ALARM("prod: Unhealthy tasks")) '
        'OR ALARM("prod: Aurora writer down")'
    )
    assert composite["alarmActions"] == [topic_arn("prod")]


@pytest.mark.parametrize("stack, missing", [("dev", "notBreaching"), ("prod", "breaching")])
def test_database_down_is_a_writer_without_uptime(stack: str, missing: str) -> None:
    # dev pauses at 0 ACU and then reports nothing; elsewhere silence means no writer.
    down = alarms(stack)["db-down"]
    assert metric_of(down) == {
        "namespace": "AWS/RDS",
        "metricName": "EngineUptime",
        "dimensions": {
            "DBClusterIdentifier": f"platform-{stack}-database",
            "Role": "WRITER",
        },
        "stat": "Minimum",
        "period": 60,
    }
    assert down["comparisonOperator"] == "LessThanThreshold"
    assert down["treatMissingData"] == missing


def dashboard_rows(stack: str, title: str) -> list[list[Any]]:
    body = json.loads(
        stack_run(stack).one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"]
    )
    [widget] = [w for w in body["widgets"] if w["properties"].get("title") == title]
    return widget["properties"]["metrics"]


@pytest.mark.parametrize(
    "title, metric",
    [
        ("Aurora read IOPS", "ReadIOPS"),
        ("Aurora write IOPS", "WriteIOPS"),
        ("Aurora read latency (s)", "ReadLatency"),
        ("Aurora write latency (s)", "WriteLatency"),
        ("Aurora commit latency (ms)", "CommitLatency"),
        ("Aurora deadlocks per second", "Deadlocks"),
        ("Aurora capacity (ACU)", "ServerlessDatabaseCapacity"),
    ],
)
def test_dashboard_draws_instance_metrics_per_role(title: str, metric: str) -> None:
    rows = dashboard_rows("prod", title)
    cluster = "platform-prod-database"
    assert [row[:6] for row in rows] == [
        ["AWS/RDS", metric, "DBClusterIdentifier", cluster, "Role", "WRITER"],
        ["AWS/RDS", metric, "DBClusterIdentifier", cluster, "Role", "READER"],
    ]


def test_dashboard_draws_the_cluster_volume_hourly() -> None:
    [row] = dashboard_rows("prod", "Aurora volume bytes used")
    assert row[:4] == [
        "AWS/RDS",
        "VolumeBytesUsed",
        "DBClusterIdentifier",
        "platform-prod-database",
    ]
    assert row[4]["period"] == 3600


def test_single_instance_dashboard_draws_only_the_writer() -> None:
    rows = dashboard_rows("dev", "Aurora read IOPS")
    assert [row[5] for row in rows] == ["WRITER"]


def test_failed_batch_jobs_of_our_queue_reach_the_topic_readably() -> None:
    run = stack_run("prod")
    rule = run.one("aws:cloudwatch/eventRule:EventRule", "batch-failed").inputs
    pattern = json.loads(rule["eventPattern"])
    queue = run.physical_name("aws:batch/jobQueue:JobQueue", "platform-prod-pipeline-queue")
    assert pattern["detail"] == {
        "status": ["FAILED"],
        "jobQueue": [f"arn:aws:batch:eu-west-1:123456789012:job-queue/{queue}"],
    }
    target = run.one("aws:cloudwatch/eventTarget:EventTarget", "batch-failed-topic").inputs
    assert target["arn"] == topic_arn("prod")
    assert (
        target["inputTransformer"]["inputTemplate"] == '"Batch job <job> (<id>) failed: <reason>"'
    )


@pytest.mark.parametrize("stack", STACKS)
def test_dashboard_shows_every_alarmed_metric_and_database_graphs(stack: str) -> None:
    body = json.loads(
        stack_run(stack).one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"]
    )
    shown = {
        (row[0], row[1])
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for row in widget["properties"]["metrics"]
        if isinstance(row[0], str)
    }
    alarmed = {
        (q["metric"]["namespace"], q["metric"]["metricName"])
        for alarm in alarms(stack).values()
        for q in alarm["metricQueries"]
        if "metric" in q
    }
    assert alarmed <= shown
    # Beside the alarms, only the database's on-call graphs.
    assert {metric for namespace, metric in shown - alarmed} <= {
        "ReadIOPS", "WriteIOPS", "ReadLatency", "WriteLatency", "CommitLatency", "Deadlocks",
        "VolumeBytesUsed", "ServerlessDatabaseCapacity",
    }  # fmt: skip
    assert {namespace for namespace, _ in shown - alarmed} == {"AWS/RDS"}
    sections = [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"]
    assert sections == [
        "## Load balancer",
        "## Service",
        "## Database",
        "## Pipeline",
        "## Kubernetes",
        "## Static site",
        "## Network",
        "## Messaging",
        "## Cache",
    ]


@pytest.mark.parametrize(
    "key, value, rule",
    [
        ("target5xxPercent", 0, "0.0 is not between 0.1 and 100.0"),
        ("evaluationPeriods", 0, "0 is not between 1 and 60"),
    ],
)
def test_threshold_out_of_range_is_reported(key: str, value: float, rule: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(
            project="platform",
            stack="prod",
            region="eu-west-1",
            raw={"observability": {key: value}},
        )
    assert f"platform:observability.{key} = {value}: {rule}" in str(caught.value)


# --- optional tiers (issue 20, item 5) -------------------------------------------------------------

SECTIONS = {
    "service": ["## Load balancer", "## Service"],
    "database": ["## Database"],
    "pipeline": ["## Pipeline"],
    "kubernetes": ["## Kubernetes"],
    "staticSite": ["## Static site"],
    "messaging": ["## Messaging"],
    "cache": ["## Cache"],
}


def sections_of(run: OfflineRun) -> list[str]:
    body = json.loads(run.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    return [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"]


@pytest.mark.parametrize("tier", TIERS)
def test_the_dashboard_loses_exactly_the_rows_of_a_tier_that_is_off(tier: str) -> None:
    full = sections_of(stack_run("prod"))
    assert sections_of(tiers_off_run("prod", (tier,))) == [
        s for s in full if s not in SECTIONS[tier]
    ]


def test_without_the_service_there_is_no_composite_alarm_and_without_the_pipeline_no_event() -> (
    None
):
    composite = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
    assert tiers_off_run("prod", ("service",)).of_type(composite) == []
    rules = tiers_off_run("prod", ("pipeline",)).of_type("aws:cloudwatch/eventRule:EventRule")
    assert [r.name for r in rules if "batch-failed" in r.name] == []


def test_with_every_tier_off_the_dashboard_shows_the_network_alone() -> None:
    assert sections_of(tiers_off_run("prod", tuple(TIERS))) == ["## Network"]


def test_with_nothing_to_watch_the_dashboard_is_empty_and_valid(offline: Offline) -> None:
    # No tier and no NAT gateway: CloudWatch accepts a dashboard whose widgets array is empty
    # (CloudWatch API Reference, "Dashboard Body Structure and Syntax": "The dashboard must
    # include a widgets array, but that array can be empty").
    def build(settings: Settings, ctx: StackContext) -> Observability:
        alerts = Notifications("alerts", NotificationsArgs(emails=[], ctx=ctx))
        args = ObservabilityArgs(
            settings=settings.config.observability, topic=alerts.topic, ctx=ctx
        )
        return Observability("watch", args)

    run = offline.component(build, "dev")
    assert run.of_type(ALARM) == []
    body = run.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"]
    assert json.loads(body) == {"widgets": []}
