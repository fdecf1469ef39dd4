"""Observability: alarms for every component that exists, one dashboard, Batch failure events.

Alarms and dashboard come from one list of `AlarmSpec`s: each names its metrics once, and both the
alarm and its dashboard widget are drawn from it, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.cache import Cache
from components.common import StackContext
from components.database import Database
from components.ecs_service import EcsService
from components.kubernetes import Kubernetes
from components.messaging import Messaging
from components.network import Network
from components.notifications import Topic
from components.pipeline import Pipeline
from components.service import Service
from components.settings import LEGACY_SERVICE, DatabaseMode, ObservabilitySettings
from components.static_site import StaticSite
from components.tagging import component_tags

COMPONENT = "observability"
MISSING = ("breaching", "notBreaching", "ignore", "missing")
EDGE_REGION = "us-east-1"


@dataclass(frozen=True)
class Metric:
    """One CloudWatch metric as alarms and dashboard widgets read it."""

    namespace: str
    name: str
    dimensions: Mapping[str, pulumi.Input[str]]
    stat: str
    period: int = 60


@dataclass(frozen=True)
class Insights:
    """One CloudWatch Metrics Insights query (a single aggregated series) as an alarm input.
    PutMetricAlarm takes it in a MetricDataQuery's Expression with its own Period, and a math
    expression may refer to it by Id (CloudWatch API Reference, MetricDataQuery: "This field can
    contain either a Metrics Insights query, or a metric math expression ... A math expression can
    use the Id of the other metrics or queries")."""

    query: pulumi.Input[str]
    period: int = 60


@dataclass(frozen=True)
class AlarmSpec:
    """An alarm: its metrics (by query id), an optional math expression over them, and when and
    how it fires. The description says what it means and what to check first."""

    key: str
    section: str
    title: str
    description: str
    metrics: Mapping[str, Metric | Insights]
    comparison: str
    threshold: float
    missing: str
    expression: str | None = None
    # Metrics that exist only in us-east-1 (CloudFront): the alarm lives there too.
    edge: bool = False

    def __post_init__(self) -> None:
        if self.missing not in MISSING:
            raise ValueError(f"{self.key}: treat_missing_data {self.missing!r} not in {MISSING}")
        if self.expression is None and len(self.metrics) != 1:
            raise ValueError(f"{self.key}: several metrics need an expression")


@dataclass(frozen=True)
class Graph:
    """A dashboard graph without an alarm: what on-call reads beside the alarms."""

    section: str
    title: str
    metrics: Mapping[str, Metric]


@dataclass(frozen=True, kw_only=True)
class ObservabilityArgs:
    """settings: thresholds. topic: where alarms go. The components to watch: any may be None.
    With a static site, edge_topic and edge_provider (us-east-1) carry its CloudFront alarm."""

    settings: ObservabilitySettings
    topic: Topic
    ctx: StackContext
    network: Network | None = None
    service: Service | None = None
    database: Database | None = None
    database_mode: DatabaseMode = DatabaseMode.SERVERLESS
    database_instances: int = 1
    # Serverless v2 at 0 ACU pauses and reports no metrics: silence is not "down" then.
    database_pauses: bool = False
    pipeline: Pipeline | None = None
    kubernetes: Kubernetes | None = None
    static_site: StaticSite | None = None
    messaging: Messaging | None = None
    cache: Cache | None = None
    edge_topic: Topic | None = None
    edge_provider: aws.Provider | None = None
    extra: Sequence[AlarmSpec] = field(default_factory=tuple)


GREATER = "GreaterThanThreshold"
ELB = "AWS/ApplicationELB"
UNHEALTHY = "unhealthy-hosts"
LESS = "LessThanThreshold"


def service_alarms(s: ObservabilitySettings, service: Service) -> list[AlarmSpec]:
    """The load balancer's own 5xx, then each service's target group and ECS alarms."""
    alb = {"LoadBalancer": service.alb_arn_suffix}
    specs = [
        AlarmSpec(
            "alb-5xx", "Load balancer", "Load balancer 5xx",
            "The load balancer itself answers 5xx (no healthy target, timeouts). Check target "
            "health and recent deployments first.",
            {"m": Metric(ELB, "HTTPCode_ELB_5XX_Count", alb, "Sum")},
            GREATER, s.alb_5xx_per_minute, "notBreaching",
        ),
    ]  # fmt: skip
    for name, ecs in sorted(service.services.items()):
        specs += ecs_service_alarms(s, service, name, ecs)
    return specs


def ecs_service_alarms(
    s: ObservabilitySettings, service: Service, name: str, ecs: EcsService
) -> list[AlarmSpec]:
    """One service's dashboard row and alarms: its target group (AWS/ApplicationELB, LoadBalancer
    + TargetGroup) and its ECS service (AWS/ECS and Container Insights, ClusterName +
    ServiceName). `app` keeps today's keys, titles and sections; another service's carry its
    name."""
    app = name == LEGACY_SERVICE
    key, title, section = ("", "", "") if app else (f"{name}-", f"{name}: ", f" {name}")
    target = {"LoadBalancer": service.alb_arn_suffix, "TargetGroup": ecs.target_group_arn_suffix}
    tasks = {"ClusterName": service.cluster_name, "ServiceName": ecs.service_name}
    return [
        AlarmSpec(
            f"{key}target-5xx-rate", f"Load balancer{section}", f"{title}Service 5xx rate",
            "The service answers too many requests with 5xx. Check the service logs and the "
            "database alarms first.",
            {
                "errors": Metric(ELB, "HTTPCode_Target_5XX_Count", target, "Sum"),
                "requests": Metric(ELB, "RequestCount", target, "Sum"),
            },
            GREATER, s.target_5xx_percent, "notBreaching",
            expression="IF(requests > 0, 100 * errors / requests, 0)",
        ),
        AlarmSpec(
            f"{key}p99-latency", f"Load balancer{section}", f"{title}p99 response time",
            "The slowest 1% of requests are slow. Check service CPU, database load and slow "
            "query logs first.",
            {"m": Metric(ELB, "TargetResponseTime", target, "p99")},
            GREATER, s.p99_latency_seconds, "notBreaching",
        ),
        AlarmSpec(
            f"{key}{UNHEALTHY}", f"Load balancer{section}", f"{title}Unhealthy tasks",
            "Tasks fail the load balancer health check. Check task logs and the health check "
            "path. Missing data counts as breaching: the metric stops when targets vanish.",
            {"m": Metric(ELB, "UnHealthyHostCount", target, "Maximum")},
            GREATER, 0, "breaching",
        ),
        AlarmSpec(
            f"{key}service-cpu", f"Service{section}", f"{title}Service CPU",
            "Tasks run hot; autoscaling may be at its maximum. Check maxTasks and recent traffic.",
            {"m": Metric("AWS/ECS", "CPUUtilization", tasks, "Average")},
            GREATER, s.service_cpu_percent, "missing",
        ),
        AlarmSpec(
            f"{key}service-memory", f"Service{section}", f"{title}Service memory",
            "Tasks near their memory limit are killed. Check for leaks or raise memory.",
            {"m": Metric("AWS/ECS", "MemoryUtilization", tasks, "Average")},
            GREATER, s.service_memory_percent, "missing",
        ),
        AlarmSpec(
            f"{key}running-tasks", f"Service{section}", f"{title}Running tasks",
            "Fewer tasks run than the minimum. Check stopped-task reasons (image pull, secrets, "
            "Spot reclaim) first. Missing data counts as breaching: no tasks report nothing.",
            {"m": Metric("ECS/ContainerInsights", "RunningTaskCount", tasks, "Minimum")},
            LESS, ecs.min_tasks, "breaching",
        ),
    ]  # fmt: skip


DB_DOWN = "db-down"


def database_alarms(
    s: ObservabilitySettings,
    database: Database,
    mode: DatabaseMode,
    instances: int,
    pauses: bool = False,
) -> list[AlarmSpec]:
    cluster = database.cluster_identifier
    roles = ["WRITER", "READER"] if instances > 1 else ["WRITER"]
    # Aurora publishes instance metrics per role too (DBClusterIdentifier + Role), so the writer's
    # series follows a failover (Aurora User Guide, Aurora.AuroraMonitoring.Metrics.html).
    writer = {"DBClusterIdentifier": cluster, "Role": "WRITER"}
    specs: list[AlarmSpec] = [
        AlarmSpec(
            DB_DOWN,
            "Database",
            "Aurora writer down",
            "No writer reports an engine uptime: the database is down, or a failover or restart "
            "takes longer than expected. Check the RDS events on this topic and the cluster's "
            "status first."
            + (" A paused (0 ACU) cluster reports nothing and does not alarm." if pauses else ""),
            {"m": Metric("AWS/RDS", "EngineUptime", writer, "Minimum")},
            LESS,
            60,
            "notBreaching" if pauses else "breaching",
        )
    ]
    for role in roles:
        by_role = {"DBClusterIdentifier": cluster, "Role": role}
        name = role.lower()
        specs += [
            AlarmSpec(
                f"db-{name}-cpu", "Database", f"Aurora {name} CPU",
                f"The {name} is CPU-bound. Check Performance Insights for the top statements.",
                {"m": Metric("AWS/RDS", "CPUUtilization", by_role, "Average")},
                GREATER, s.db_cpu_percent, "missing",
            ),
            AlarmSpec(
                f"db-{name}-memory", "Database", f"Aurora {name} freeable memory",
                f"The {name} is short of memory. Check connections and capacity (ACU) first.",
                {"m": Metric("AWS/RDS", "FreeableMemory", by_role, "Minimum")},
                LESS, s.db_freeable_memory_mib * 1024 * 1024, "missing",
            ),
            AlarmSpec(
                f"db-{name}-connections", "Database", f"Aurora {name} connections",
                f"Many connections on the {name}. Check for connection leaks or add pooling.",
                {"m": Metric("AWS/RDS", "DatabaseConnections", by_role, "Maximum")},
                GREATER, s.db_connections, "missing",
            ),
        ]  # fmt: skip
    if instances > 1:
        specs.append(
            AlarmSpec(
                "db-replica-lag", "Database", "Aurora reader lag",
                "Readers fall behind the writer. Check write volume and reader capacity.",
                {"m": Metric("AWS/RDS", "AuroraReplicaLag", {"DBClusterIdentifier": cluster, "Role": "READER"}, "Maximum")},
                GREATER, s.db_replica_lag_ms, "missing",
            )
        )  # fmt: skip
    if mode is DatabaseMode.SERVERLESS:
        specs.append(
            AlarmSpec(
                "db-acu", "Database", "Aurora capacity used",
                "Serverless v2 runs near its maximum ACU. Raise maxCapacity or tune the load.",
                {"m": Metric("AWS/RDS", "ACUUtilization", {"DBClusterIdentifier": cluster}, "Average")},
                GREATER, s.db_acu_percent, "notBreaching",
            )
        )  # fmt: skip
    return specs


def database_graphs(database: Database, mode: DatabaseMode, instances: int) -> list[Graph]:
    """What on-call reads beside the database alarms (metric names and dimensions: Aurora User
    Guide, Aurora.AuroraMonitoring.Metrics.html; VolumeBytesUsed is a cluster-level metric)."""
    cluster = {"DBClusterIdentifier": database.cluster_identifier}
    roles = ["WRITER", "READER"] if instances > 1 else ["WRITER"]

    def per_role(name: str, stat: str = "Average") -> dict[str, Metric]:
        return {
            f"{name.lower()}_{role.lower()}": Metric(
                "AWS/RDS", name, {**cluster, "Role": role}, stat
            )
            for role in roles
        }

    graphs = [
        Graph("Database", "Aurora read IOPS", per_role("ReadIOPS")),
        Graph("Database", "Aurora write IOPS", per_role("WriteIOPS")),
        Graph("Database", "Aurora read latency (s)", per_role("ReadLatency")),
        Graph("Database", "Aurora write latency (s)", per_role("WriteLatency")),
        Graph("Database", "Aurora commit latency (ms)", per_role("CommitLatency")),
        Graph("Database", "Aurora deadlocks per second", per_role("Deadlocks")),
        Graph(
            "Database",
            "Aurora volume bytes used",
            {"volume": Metric("AWS/RDS", "VolumeBytesUsed", cluster, "Maximum", period=3600)},
        ),
    ]
    if mode is DatabaseMode.SERVERLESS:
        graphs.append(
            Graph("Database", "Aurora capacity (ACU)", per_role("ServerlessDatabaseCapacity"))
        )
    return graphs


def pipeline_alarms(pipeline: Pipeline) -> list[AlarmSpec]:
    machine = {"StateMachineArn": pipeline.state_machine_arn}
    checks = [
        (
            "ExecutionsFailed",
            "failed",
            "An upload was not processed. The topic has the job's error.",
        ),
        (
            "ExecutionsTimedOut",
            "timed out",
            "An execution ran past its timeout. Check the Batch queue.",
        ),
        (
            "ExecutionThrottled",
            "throttled",
            "Step Functions throttled executions. Check the upload rate.",
        ),
    ]
    return [
        AlarmSpec(
            f"pipeline-{label.replace(' ', '-')}", "Pipeline", f"Pipeline executions {label}",
            description, {"m": Metric("AWS/States", metric, machine, "Sum")},
            GREATER, 0, "notBreaching",
        )
        for metric, label, description in checks
    ]  # fmt: skip


def kubernetes_alarms(s: ObservabilitySettings, kubernetes: Kubernetes) -> list[AlarmSpec]:
    # Container Insights metrics, published by the cluster's CloudWatch observability add-on.
    cluster = {"ClusterName": kubernetes.cluster_name}
    insights = "ContainerInsights"
    return [
        AlarmSpec(
            "eks-node-cpu", "Kubernetes", "EKS node CPU",
            "Nodes run hot on average; the autoscaler may be at maxSize. Check pending pods and "
            "the node groups' maxSize first.",
            {"m": Metric(insights, "node_cpu_utilization", cluster, "Average")},
            GREATER, s.eks_node_cpu_percent, "missing",
        ),
        AlarmSpec(
            "eks-node-memory", "Kubernetes", "EKS node memory",
            "Nodes are short of memory and will evict pods. Check pod memory requests and limits "
            "and the node groups' maxSize first.",
            {"m": Metric(insights, "node_memory_utilization", cluster, "Average")},
            GREATER, s.eks_node_memory_percent, "missing",
        ),
        AlarmSpec(
            "eks-failed-nodes", "Kubernetes", "EKS failed nodes",
            "Nodes report a failing condition (disk, memory or PID pressure, not ready). Check "
            "the node's conditions and the node group's health; auto-repair replaces it.",
            {"m": Metric(insights, "cluster_failed_node_count", cluster, "Maximum")},
            GREATER, 0, "missing",
        ),
    ]  # fmt: skip


def static_site_alarms(s: ObservabilitySettings, site: StaticSite) -> list[AlarmSpec]:
    distribution = {"DistributionId": site.distribution_id, "Region": "Global"}
    return [
        AlarmSpec(
            "cloudfront-5xx-rate", "Static site", "CloudFront 5xx rate",
            "Too many viewer requests end in 5xx at the edge. Check the /api/* origin (the "
            "service alarms) and the site bucket's policy and key first.",
            {"m": Metric("AWS/CloudFront", "5xxErrorRate", distribution, "Average")},
            GREATER, s.cloudfront_5xx_percent, "notBreaching", edge=True,
        )
    ]  # fmt: skip


def network_alarms(s: ObservabilitySettings, network: Network) -> list[AlarmSpec]:
    specs: list[AlarmSpec] = []
    for number, gateway in enumerate(network.nat_gateway_ids, start=1):
        nat = {"NatGatewayId": gateway}
        specs += [
            AlarmSpec(
                f"nat-{number}-port-allocation", "Network", f"NAT {number} port allocation errors",
                "The NAT gateway ran out of source ports for one destination. Spread traffic or "
                "add endpoints.",
                {"m": Metric("AWS/NATGateway", "ErrorPortAllocation", nat, "Sum")},
                GREATER, 0, "notBreaching",
            ),
            AlarmSpec(
                f"nat-{number}-dropped", "Network", f"NAT {number} dropped packets",
                "The NAT gateway drops packets. Check its bandwidth and the AWS Health dashboard.",
                {"m": Metric("AWS/NATGateway", "PacketsDropCount", nat, "Sum")},
                GREATER, s.nat_dropped_packets, "notBreaching",
            ),
        ]  # fmt: skip
    return specs


# Amazon MQ for RabbitMQ publishes to AWS/AmazonMQ by broker name (dimension Broker); for a
# cluster, connection and message metrics on Broker alone cover its three nodes (Amazon MQ
# Developer Guide, "Available CloudWatch metrics for Amazon MQ for RabbitMQ brokers").
MQ = "AWS/AmazonMQ"


def _mq_nodes(function: str, metric: str, broker: pulumi.Input[str]) -> Insights:
    """One aggregate over the nodes of one broker (dimensions Broker and Node). RabbitMQ raises
    its memory and disk alarms per node and any node blocks every publisher (Amazon MQ Developer
    Guide, "Configurable storage best practices": "When free disk space on any node falls below
    this value ..."), so the alarms read the worst node, never the cluster's sum."""
    return Insights(
        pulumi.Output.concat(
            f'SELECT {function}({metric}) FROM SCHEMA("{MQ}", Broker, Node) WHERE Broker = \'',
            broker,
            "'",
        )
    )


def messaging_alarms(s: ObservabilitySettings, messaging: Messaging) -> list[AlarmSpec]:
    broker = {"Broker": messaging.broker_name}
    name = messaging.broker_name
    # Every node of a broker has one instance type, hence one memory and one disk limit: the
    # worst node's use over the smallest limit is that node's own ratio (or more, never less).
    return [
        AlarmSpec(
            "broker-memory", "Messaging", "RabbitMQ memory (worst node)",
            "A RabbitMQ node nears its memory alarm, at which the cluster blocks every "
            "publisher. Check queue depth, consumers and unacknowledged messages first.",
            {"used": _mq_nodes("MAX", "RabbitMQMemUsed", name),
             "limit": _mq_nodes("MIN", "RabbitMQMemLimit", name)},
            GREATER, s.broker_memory_percent, "missing",
            expression="IF(limit > 0, 100 * used / limit, 0)",
        ),
        AlarmSpec(
            "broker-disk", "Messaging", "RabbitMQ free disk (worst node)",
            "Free disk on a RabbitMQ node nears its disk alarm limit, at which the cluster blocks "
            "every publisher. Check for queues nobody consumes.",
            {"free": _mq_nodes("MIN", "RabbitMQDiskFree", name),
             "limit": _mq_nodes("MAX", "RabbitMQDiskFreeLimit", name)},
            LESS, s.broker_disk_free_factor, "missing",
            expression="IF(limit > 0, free / limit, 100)",
        ),
        AlarmSpec(
            "broker-connections", "Messaging", "RabbitMQ connections",
            "Many connections on the broker. Check for clients that open a connection per "
            "message instead of reusing one.",
            {"m": Metric(MQ, "ConnectionCount", broker, "Maximum")},
            GREATER, s.broker_connections, "missing",
        ),
        AlarmSpec(
            "broker-queue-depth", "Messaging", "RabbitMQ queue depth",
            "Messages pile up in the queues (ready and unacknowledged). Check that consumers run "
            "and keep up.",
            {"m": Metric(MQ, "MessageCount", broker, "Maximum")},
            GREATER, s.broker_messages, "missing",
        ),
        AlarmSpec(
            "broker-unacked", "Messaging", "RabbitMQ unacknowledged messages",
            "Consumers hold many messages without acknowledging them. Check for stuck consumers "
            "and their prefetch.",
            {"m": Metric(MQ, "MessageUnacknowledgedCount", broker, "Maximum")},
            GREATER, s.broker_unacked_messages, "missing",
        ),
        # CloudWatch has no running-node count for Amazon MQ: a broker that publishes no CPU
        # sample is down (or all its nodes are), so missing data counts as breaching. The loss
        # of one node of a cluster is not detected: a Metrics Insights COUNT() counts data
        # points, not nodes, so it would depend on Amazon MQ's publishing interval (README).
        AlarmSpec(
            "broker-running", "Messaging", "RabbitMQ reporting",
            "The broker publishes no metrics: it is down or rebooting. Check its status and "
            "events in the Amazon MQ console.",
            {"m": Metric(MQ, "SystemCpuUtilization", broker, "SampleCount")},
            LESS, 1, "breaching",
        ),
    ]  # fmt: skip


def _worst(metric: str, stat: str, nodes: list[str]) -> tuple[dict[str, Metric], str]:
    """One metric of every node and the expression that picks the worst of them: ElastiCache
    publishes per node, by CacheClusterId (ElastiCache User Guide, "Host-Level Metrics" and
    "Metrics for Valkey and Redis OSS")."""
    metrics = {
        f"n{number}": Metric("AWS/ElastiCache", metric, {"CacheClusterId": node}, stat)
        for number, node in enumerate(nodes, start=1)
    }
    return metrics, f"MAX([{', '.join(metrics)}])"


def cache_alarms(s: ObservabilitySettings, cache: Cache) -> list[AlarmSpec]:
    nodes = cache.member_clusters
    specs: list[AlarmSpec] = []
    for key, title, description, metric, stat, threshold in (
        (
            "cache-engine-cpu",
            "Valkey engine CPU",
            "The Valkey engine thread is busy on some node. Check for slow commands (slow log) "
            "and hot keys; add replicas for reads or scale up.",
            "EngineCPUUtilization",
            "Average",
            s.cache_engine_cpu_percent,
        ),
        (
            "cache-memory",
            "Valkey memory used",
            "A node nears its maxmemory and will evict keys. Check key TTLs and scale up.",
            "DatabaseMemoryUsagePercentage",
            "Maximum",
            s.cache_memory_percent,
        ),
        (
            "cache-evictions",
            "Valkey evictions",
            "Nodes evict keys for lack of memory. Check key TTLs and memory use; scale up.",
            "Evictions",
            "Sum",
            s.cache_evictions,
        ),
        (
            "cache-connections",
            "Valkey connections",
            "Many client connections on a node. Check for clients that do not pool connections.",
            "CurrConnections",
            "Maximum",
            s.cache_connections,
        ),
        (
            "cache-swap",
            "Valkey swap",
            "A node swaps to disk, which makes every command slow. Check memory use and reserved "
            "memory.",
            "SwapUsage",
            "Maximum",
            s.cache_swap_mib * 1024 * 1024,
        ),
    ):
        metrics, worst = _worst(metric, stat, nodes)
        specs.append(
            AlarmSpec(
                key,
                "Cache",
                title,
                description,
                metrics,
                GREATER,
                threshold,
                "missing",
                expression=worst,
            )
        )
    if len(nodes) > 1:
        # Replicas only publish ReplicationLag; ElastiCache may promote any of them, so every
        # node is watched.
        metrics, worst = _worst("ReplicationLag", "Maximum", nodes)
        specs.append(
            AlarmSpec(
                "cache-replication-lag",
                "Cache",
                "Valkey replication lag",
                "Replicas fall behind the primary. Check write volume and network throughput.",
                metrics,
                GREATER,
                s.cache_replication_lag_seconds,
                "notBreaching",
                expression=worst,
            )
        )
    return specs  # fmt: skip


def alarm_name_prefix(stack: str) -> str:
    """What every alarm name of the stack starts with (the release's smoke test lists the
    stack's alarms in ALARM by it: CloudWatch DescribeAlarms AlarmNamePrefix)."""
    return f"{stack}: "


class Observability(pulumi.ComponentResource):
    """Alarms with alarm and OK actions to the topic, a composite availability alarm, Batch
    failure notifications and one dashboard."""

    dashboard_name: pulumi.Output[str]
    alarm_names: list[pulumi.Output[str]]
    # Where the alarms live: the stack's region, and us-east-1 for CloudFront's (its metrics
    # exist only there), so the release's smoke test lists the alarms of each.
    alarm_regions: list[str]

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("platform:observability:Observability", name, None, opts)
        self._name, self._tags = name, component_tags(COMPONENT)
        self._child = pulumi.ResourceOptions(parent=self)
        specs = self._specs(args)
        alarms = {spec.key: self._alarm(spec, args) for spec in specs}
        if args.service:
            unhealthy = [alarm for key, alarm in alarms.items() if key.endswith(UNHEALTHY)]
            self._composite(alarms["alb-5xx"], unhealthy, alarms.get(DB_DOWN), args.topic)
        if args.pipeline:
            self._batch_failures(args.pipeline, args.topic)
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=name,
            dashboard_body=dashboard_body(specs, region=args.ctx.region, graphs=self._graphs(args)),
            opts=self._child,
        )
        self.dashboard_name = dashboard.dashboard_name
        self.alarm_names = [alarm.name for alarm in alarms.values()]
        self.alarm_regions = sorted(
            {args.ctx.region, *(EDGE_REGION for spec in specs if spec.edge)}
        )
        self.register_outputs({"dashboardName": self.dashboard_name, "alarmCount": len(alarms)})

    @staticmethod
    def _specs(args: ObservabilityArgs) -> list[AlarmSpec]:
        s = args.settings
        specs: list[AlarmSpec] = []
        if args.service:
            specs += service_alarms(s, args.service)
        if args.database:
            specs += database_alarms(
                s, args.database, args.database_mode, args.database_instances, args.database_pauses
            )
        if args.pipeline:
            specs += pipeline_alarms(args.pipeline)
        if args.kubernetes:
            specs += kubernetes_alarms(s, args.kubernetes)
        if args.static_site:
            specs += static_site_alarms(s, args.static_site)
        if args.network:
            specs += network_alarms(s, args.network)
        if args.messaging:
            specs += messaging_alarms(s, args.messaging)
        if args.cache:
            specs += cache_alarms(s, args.cache)
        return [*specs, *args.extra]

    @staticmethod
    def _graphs(args: ObservabilityArgs) -> list[Graph]:
        if args.database:
            return database_graphs(args.database, args.database_mode, args.database_instances)
        return []

    def _alarm(self, spec: AlarmSpec, args: ObservabilityArgs) -> aws.cloudwatch.MetricAlarm:
        queries = [_query(query_id, metric, spec) for query_id, metric in spec.metrics.items()]
        if spec.expression:
            queries.append(
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="result", expression=spec.expression, label=spec.title, return_data=True
                )
            )
        periods = args.settings.evaluation_periods
        topic, provider = args.topic, None
        if spec.edge:
            if args.edge_topic is None or args.edge_provider is None:
                raise pulumi.RunError(
                    f"{spec.key}: a us-east-1 alarm needs edge_topic and edge_provider"
                )
            topic, provider = args.edge_topic, args.edge_provider
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{spec.key}",
            name=f"{alarm_name_prefix(args.ctx.stack)}{spec.title}",
            alarm_description=spec.description,
            comparison_operator=spec.comparison,
            threshold=spec.threshold,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=spec.missing,
            metric_queries=queries,
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )

    def _composite(
        self,
        errors: aws.cloudwatch.MetricAlarm,
        unhealthy: Sequence[aws.cloudwatch.MetricAlarm],
        database_down: aws.cloudwatch.MetricAlarm | None,
        topic: Topic,
    ) -> None:
        # The load balancer fails requests while any service's tasks are unhealthy.
        any_unhealthy = pulumi.Output.all(*(alarm.name for alarm in unhealthy)).apply(
            lambda names: " OR ".join(f'ALARM("{name}")' for name in names)
        )
        form = 'ALARM("{0}") AND ({1})' if len(unhealthy) > 1 else 'ALARM("{0}") AND {1}'
        rule = pulumi.Output.format(form, errors.name, any_unhealthy)
        description = (
            "The load balancer fails requests and tasks are unhealthy at the same time: users "
            "cannot reach the service. Check the last deployment and task logs."
        )
        if database_down:
            rule = pulumi.Output.format('({0}) OR ALARM("{1}")', rule, database_down.name)
            description += " Or the database has no writer: check the RDS events first."
        aws.cloudwatch.CompositeAlarm(
            f"{self._name}-service-unavailable",
            alarm_name=pulumi.Output.concat(errors.name, " + unhealthy: service unavailable"),
            alarm_description=description,
            alarm_rule=rule,
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            tags=self._tags,
            opts=self._child,
        )

    def _batch_failures(self, pipeline: Pipeline, topic: Topic) -> None:
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-batch-failed",
            description="A job of the pipeline's queue failed",
            event_pattern=pulumi.Output.json_dumps(
                {
                    "source": ["aws.batch"],
                    "detail-type": ["Batch Job State Change"],
                    "detail": {"status": ["FAILED"], "jobQueue": [pipeline.job_queue_arn]},
                }
            ),
            tags=self._tags,
            opts=self._child,
        )
        aws.cloudwatch.EventTarget(
            f"{self._name}-batch-failed-topic",
            rule=rule.name,
            arn=topic.arn,
            input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                input_paths={
                    "job": "$.detail.jobName",
                    "id": "$.detail.jobId",
                    "reason": "$.detail.statusReason",
                },
                input_template='"Batch job <job> (<id>) failed: <reason>"',
            ),
            opts=pulumi.ResourceOptions.merge(
                self._child, pulumi.ResourceOptions(depends_on=list(topic.ready))
            ),
        )


def _query(
    query_id: str, metric: Metric | Insights, spec: AlarmSpec
) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    if isinstance(metric, Insights):
        return aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=query_id,
            expression=metric.query,
            period=metric.period,
            return_data=spec.expression is None,
        )
    return aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id=query_id,
        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
            namespace=metric.namespace,
            metric_name=metric.name,
            dimensions=metric.dimensions,
            stat=metric.stat,
            period=metric.period,
        ),
        return_data=spec.expression is None,
    )


def dashboard_body(
    specs: Sequence[AlarmSpec], *, region: str, graphs: Sequence[Graph] = ()
) -> pulumi.Output[str]:
    """One text header per section, one graph per alarm (from the alarm's own metrics, with its
    threshold), then the section's graphs without alarms."""
    widgets: list[dict[str, object]] = []
    panels = [(spec.section, _graph(spec, region)) for spec in specs]
    panels += [(graph.section, _plain_graph(graph, region)) for graph in graphs]
    y = 0
    for section in dict.fromkeys(section for section, _ in panels):
        widgets.append(
            {"type": "text", "x": 0, "y": y, "width": 24, "height": 1,
             "properties": {"markdown": f"## {section}"}}
        )  # fmt: skip
        y += 1
        shown = [properties for name, properties in panels if name == section]
        for index, properties in enumerate(shown):
            widgets.append(
                {
                    "type": "metric",
                    "x": (index % 3) * 8,
                    "y": y + (index // 3) * 6,
                    "width": 8,
                    "height": 6,
                    "properties": properties,
                }
            )
        y += 6 * ((len(shown) + 2) // 3)
    return pulumi.Output.json_dumps({"widgets": widgets})


def _rows(metrics: Mapping[str, Metric | Insights], visible: bool) -> list[list[object]]:
    rows: list[list[object]] = []
    for query_id, metric in metrics.items():
        if isinstance(metric, Insights):
            rows.append([{"expression": metric.query, "id": query_id, "visible": visible}])
            continue
        dimensions = [part for item in metric.dimensions.items() for part in item]
        options = {"id": query_id, "stat": metric.stat, "period": metric.period, "visible": visible}
        rows.append([metric.namespace, metric.name, *dimensions, options])
    return rows


def _graph(spec: AlarmSpec, region: str) -> dict[str, object]:
    rows = _rows(spec.metrics, visible=spec.expression is None)
    if spec.expression:
        rows.append([{"expression": spec.expression, "label": spec.title, "id": "result"}])
    return {
        "title": spec.title,
        "region": EDGE_REGION if spec.edge else region,
        "period": 60,
        "view": "timeSeries",
        "metrics": rows,
        "annotations": {"horizontal": [{"label": "alarm", "value": spec.threshold}]},
    }


def _plain_graph(graph: Graph, region: str) -> dict[str, object]:
    return {
        "title": graph.title,
        "region": region,
        "period": 60,
        "view": "timeSeries",
        "metrics": _rows(graph.metrics, visible=True),
    }
