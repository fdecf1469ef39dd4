"""Offline plan: what a stack creates, whether it passes policy, and what it costs, without AWS.

    python -m tooling.plan STACK [--json] [--diff EARLIER.json] [--costs-markdown]

Runs the program for the stack's real config file under mocks (tooling/offline.py), evaluates
the policy pack with policy/config.STACK.json, and prices the inventory from tooling/prices.json.
`--diff` compares with an earlier `--json` plan and tells updates from replacements, using the
replacement-forcing inputs of tooling/replacements.json. Exits 1 on a mandatory policy violation
or a stateful resource that would be removed or replaced, 2 on a missing or broken stack file or
earlier plan.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pulumi

from components.examples import ExampleValue, example_values, refusal
from components.settings import SettingsError, decode_values, parse_settings
from tooling.offline import (
    PROJECT,
    PROJECT_ROOT,
    SECRET_MARKER,
    OfflineError,
    OfflineRun,
    ProgramError,
    Resource,
    run_stack,
    stack_config,
    stack_names,
)
from tooling.policy_eval import PolicyConfigError, Verdict, evaluate, stack_policy_config

DESCRIPTION = "What a stack creates, whether it passes policy, and what it costs, without AWS."
PRICES = Path(__file__).with_name("prices.json")
REPLACEMENTS = Path(__file__).with_name("replacements.json")


# --- what replaces a resource ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReplacementRule:
    """The inputs whose change replaces one resource type, where they were read, and (for a
    stateful type) why a replacement or removal hurts."""

    source: str
    replace_on: tuple[str, ...] = ()
    replace_on_removal: tuple[str, ...] = ()
    replace_on_set: tuple[str, ...] = ()
    stateful: str | None = None


@dataclass(frozen=True)
class Replacements:
    """tooling/replacements.json: rules per type, and the physical names every other AWS type has."""

    types: Mapping[str, ReplacementRule]
    physical_names: ReplacementRule

    def rule(self, type_: str) -> ReplacementRule | None:
        found = self.types.get(type_)
        if found is None and type_.startswith("aws:"):
            return self.physical_names
        return found

    @property
    def stateful(self) -> frozenset[str]:
        return frozenset(t for t, rule in self.types.items() if rule.stateful)

    def stateful_reason(self, type_: str) -> str | None:
        """Why replacing or removing a resource of this type hurts (None: it holds no state)."""
        rule = self.types.get(type_)
        return rule.stateful if rule else None


def _strings(entry: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{where}: {key} must be a list of input paths")
    return tuple(str(item) for item in value)


@cache
def load_replacements(path: Path = REPLACEMENTS) -> Replacements:
    data = json.loads(path.read_text())
    types: dict[str, ReplacementRule] = {}
    for type_, entry in data["types"].items():
        stateful = entry.get("stateful")
        if not isinstance(entry.get("source"), str) or not isinstance(stateful, str | None):
            raise ValueError(f"{path.name}: {type_} needs a source and a stateful reason or none")
        types[type_] = ReplacementRule(
            source=entry["source"],
            replace_on=_strings(entry, "replaceOn", f"{path.name}: {type_}"),
            replace_on_removal=_strings(entry, "replaceOnRemoval", f"{path.name}: {type_}"),
            replace_on_set=_strings(entry, "replaceOnSet", f"{path.name}: {type_}"),
            stateful=stateful,
        )
    names = data["physicalNames"]
    physical = ReplacementRule(
        source=names["source"], replace_on=_strings(names, "properties", f"{path.name}")
    )
    return Replacements(types=types, physical_names=physical)


# Resources whose removal or replacement loses data or breaks what depends on them.
STATEFUL = load_replacements().stateful


@dataclass(frozen=True)
class Cost:
    component: str
    item: str
    monthly: float


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    return json.loads(path.read_text())


def component_name(run: OfflineRun, resource: Resource) -> str:
    owner = resource if resource.type.startswith("platform:") else run.component_of(resource)
    # A component inside another (each service of the Service) counts as the outer one.
    while owner is not None and (outer := run.component_of(owner)) is not None:
        owner = outer
    if owner is None:
        return "stack"
    return owner.name.removeprefix(f"{owner.name.split('-')[0]}-{run.stack}-")


# --- pricing --------------------------------------------------------------------------------------


Priced = list[tuple[str, float]]
Pricer = Callable[[OfflineRun, Resource, Mapping[str, Any]], Priced]


def _vpc(_: OfflineRun, r: Resource, p: Mapping[str, Any]) -> Priced:
    zones = len(r.inputs.get("availabilityZoneNames") or [])
    strategy = (r.inputs.get("natGateways") or {}).get("strategy", "OnePerAz")
    nat = {"Single": 1, "OnePerAz": zones, "None": 0}[strategy]
    hours, hourly = p["hoursPerMonth"], p["hourly"]
    return [
        (f"NAT gateways x{nat}", nat * hourly["natGateway"] * hours),
        (f"public IPv4 (NAT) x{nat}", nat * hourly["publicIpv4"] * hours),
    ]


def _endpoint(_: OfflineRun, r: Resource, p: Mapping[str, Any]) -> Priced:
    if r.inputs.get("vpcEndpointType") != "Interface":
        return []
    zones = len(r.inputs.get("subnetIds") or [])
    name = str(r.inputs["serviceName"]).rsplit(".", 1)[-1]
    return [
        (
            f"interface endpoint {name}",
            zones * p["hourly"]["interfaceEndpointPerZone"] * p["hoursPerMonth"],
        )
    ]


def _alb(_: OfflineRun, r: Resource, p: Mapping[str, Any]) -> Priced:
    ips, hours, hourly = len(r.inputs.get("subnets") or []), p["hoursPerMonth"], p["hourly"]
    return [
        ("application load balancer (1 LCU)", (hourly["alb"] + hourly["albLcu"]) * hours),
        (f"public IPv4 (ALB) x{ips}", ips * hourly["publicIpv4"] * hours),
    ]


def _service(run: OfflineRun, r: Resource, p: Mapping[str, Any]) -> Priced:
    tasks = int(r.inputs.get("desiredCount", 0))
    return [(f"Fargate tasks x{tasks}", _fargate(run, r, p["hourly"]) * p["hoursPerMonth"])]


class UnpricedError(Exception):
    """A valid value the price table lacks (an instance type or class): listed, not priced."""


def _instance_hourly(prices: Mapping[str, Any], instance: str) -> float:
    if instance not in prices["instanceHourly"]:
        raise UnpricedError(f"{instance}: not in tooling/prices.json")
    return float(prices["instanceHourly"][instance])


def _node_group(_: OfflineRun, r: Resource, p: Mapping[str, Any]) -> Priced:
    nodes = int(r.inputs["scalingConfig"]["desiredSize"])
    instance = r.inputs["instanceTypes"][0]
    hourly = _instance_hourly(p, instance)
    if r.inputs.get("capacityType") == "SPOT":
        hourly *= p["hourly"]["ec2SpotFactor"]
    return [(f"EKS nodes {instance} x{nodes}", nodes * hourly * p["hoursPerMonth"])]


def _broker(_: OfflineRun, r: Resource, p: Mapping[str, Any]) -> Priced:
    instance = str(r.inputs["hostInstanceType"])
    # A RabbitMQ cluster is three nodes, each billed as a broker instance with its own storage.
    nodes = 3 if r.inputs.get("deploymentMode") == "CLUSTER_MULTI_AZ" else 1
    hourly = _instance_hourly(p, instance)
    if instance not in p["brokerStorageGb"]:
        raise UnpricedError(f"{instance}: no storage size in tooling/prices.json")
    gb = p["brokerStorageGb"][instance]
    return [
        (f"Amazon MQ {instance} x{nodes}", nodes * hourly * p["hoursPerMonth"]),
        (f"Amazon MQ storage {gb} GB x{nodes}", nodes * gb * p["monthly"]["mqStorageGb"]),
    ]


def _replication_group(_: OfflineRun, r: Resource, p: Mapping[str, Any]) -> Priced:
    node, nodes = str(r.inputs["nodeType"]), int(r.inputs.get("numCacheClusters") or 1)
    return [
        (f"ElastiCache {node} x{nodes}", nodes * _instance_hourly(p, node) * p["hoursPerMonth"])
    ]


def _cluster(_: OfflineRun, r: Resource, p: Mapping[str, Any]) -> Priced:
    items = [("Aurora storage 10 GB", 10 * p["monthly"]["auroraStorageGb"])]
    if r.inputs.get("manageMasterUserPassword"):
        items.append(("managed master secret", p["monthly"]["secret"]))
    return items


def _waf(_: OfflineRun, r: Resource, p: Mapping[str, Any]) -> Priced:
    rules = len(r.inputs.get("rules") or [])
    return [
        (f"WAF web ACL + {rules} rules", p["monthly"]["wafAcl"] + rules * p["monthly"]["wafRule"])
    ]


def _alarm(_: OfflineRun, r: Resource, p: Mapping[str, Any]) -> Priced:
    # CloudWatch prices an alarm per metric it reads; a Metrics Insights query per metric it
    # analyzes, which the plan cannot count offline (see the assumption on insightsQueryMetrics).
    queries = r.inputs.get("metricQueries") or []
    listed = sum(1 for q in queries if "metric" in q)
    insights = sum(1 for q in queries if str(q.get("expression", "")).startswith("SELECT "))
    metrics = (listed + insights * p["usage"]["insightsQueryMetrics"]) or 1
    return [("alarms", metrics * p["monthly"]["alarmMetric"])]


def _flat(item: str, section: str, key: str) -> Pricer:
    def price(_: OfflineRun, __: Resource, p: Mapping[str, Any]) -> Priced:
        amount = p[section][key] * (p["hoursPerMonth"] if section == "hourly" else 1)
        return [(item, amount)]

    return price


def _usage(item: str, quantity: str, unit_price: str) -> Pricer:
    """A usage-based charge: the assumed monthly quantity (prices.json `usage`) times its unit
    price (`monthly`)."""

    def price(_: OfflineRun, __: Resource, p: Mapping[str, Any]) -> Priced:
        amount = p["usage"][quantity]
        return [(f"{item} ({amount:g})", amount * p["monthly"][unit_price])]

    return price


# GuardDuty features priced by assumed usage; the others scale with what they scan (prices.json).
_GUARDDUTY_FEATURES: dict[str, Pricer] = {
    "S3_DATA_EVENTS": _usage("GuardDuty S3 data events, M", "guardDutyS3EventsMillion", "guardDutyS3EventsMillion"),
    "RUNTIME_MONITORING": _usage("GuardDuty runtime monitoring, vCPUs", "guardDutyRuntimeVcpus", "guardDutyRuntimeVcpu"),
}  # fmt: skip


def _guardduty(run: OfflineRun, r: Resource, p: Mapping[str, Any]) -> Priced:
    return [
        *_usage("GuardDuty CloudTrail events, M", "guardDutyEventsMillion", "guardDutyEventsMillion")(run, r, p),
        *_usage("GuardDuty flow and DNS logs, GB", "guardDutyLogsGb", "guardDutyLogsGb")(run, r, p),
    ]  # fmt: skip


def _guardduty_feature(run: OfflineRun, r: Resource, p: Mapping[str, Any]) -> Priced:
    pricer = _GUARDDUTY_FEATURES.get(str(r.inputs.get("name")))
    return pricer(run, r, p) if pricer else []


PRICERS: dict[str, Pricer] = {
    "awsx:ec2:Vpc": _vpc,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _endpoint,
    "aws:lb/loadBalancer:LoadBalancer": _alb,
    "aws:ecs/service:Service": _service,
    "aws:rds/clusterInstance:ClusterInstance": lambda run, r, p: [
        (
            f"Aurora instance {r.inputs['instanceClass']}",
            _aurora_instance(run, r, p) * p["hoursPerMonth"],
        )
    ],
    "aws:rds/cluster:Cluster": _cluster,
    "aws:mq/broker:Broker": _broker,
    "aws:elasticache/replicationGroup:ReplicationGroup": _replication_group,
    "eks:index:Cluster": _flat("EKS control plane", "hourly", "eksControlPlane"),
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:wafv2/webAcl:WebAcl": _waf,
    "aws:kms/key:Key": _flat("KMS key", "monthly", "kmsKey"),
    "aws:secretsmanager/secret:Secret": _flat("secret", "monthly", "secret"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": _flat(
        "composite alarm", "monthly", "compositeAlarm"
    ),
    "aws:cloudwatch/dashboard:Dashboard": _flat("dashboard", "monthly", "dashboard"),
    "aws:cloudtrail/trail:Trail": _usage("trail events to CloudWatch Logs, GB", "trailLogsGb", "logsIngestionGb"),
    "aws:guardduty/detector:Detector": _guardduty,
    "aws:guardduty/detectorFeature:DetectorFeature": _guardduty_feature,
    "aws:securityhub/standardsSubscription:StandardsSubscription": _usage("Security Hub checks", "securityHubChecks", "securityHubCheck"),
    "aws:cfg/recorder:Recorder": _usage("Config items recorded", "configItems", "configItem"),
    "aws:cfg/rule:Rule": _usage("Config rule evaluations", "configRuleEvaluations", "configRuleEvaluation"),
}  # fmt: skip


def estimate(run: OfflineRun, prices: Mapping[str, Any]) -> tuple[list[Cost], list[str]]:
    """Monthly costs per component and item, and the resource types left unpriced (with the
    instance types and classes the price table lacks, as `type (instance: why)`)."""
    costs: list[Cost] = []
    missing: set[str] = set()
    for r in (r for r in run.resources if r.type in PRICERS):
        try:
            items = PRICERS[r.type](run, r, prices)
        except UnpricedError as why:
            missing.add(f"{r.type} ({why})")
            continue
        costs += [Cost(component_name(run, r), item, round(amount, 2)) for item, amount in items]
    analyzed = {
        r.type for r in run.resources if (r.custom or r.remote) and not r.type.startswith("pulumi:")
    }
    return costs, sorted((analyzed - set(PRICERS)) | missing)


def _fargate(run: OfflineRun, service: Resource, hourly: Mapping[str, float]) -> float:
    family = str(service.inputs["taskDefinition"]).rsplit("/", 1)[-1].split(":")[0]
    task = next(
        t
        for t in run.of_type("aws:ecs/taskDefinition:TaskDefinition")
        if t.inputs["family"] == family
    )
    per_task = (
        int(task.inputs["cpu"]) / 1024 * hourly["fargateVcpu"]
        + int(task.inputs["memory"]) / 1024 * hourly["fargateGb"]
    )
    tasks = int(service.inputs.get("desiredCount", 0))
    on_demand = _on_demand_tasks(tasks, service.inputs.get("capacityProviderStrategies") or [])
    return per_task * (on_demand + (tasks - on_demand) * hourly["fargateSpotFactor"])


def _on_demand_tasks(tasks: int, strategies: Sequence[Mapping[str, Any]]) -> float:
    """Tasks placed on FARGATE (not Spot): bases first, the rest split by weight."""
    base = sum(int(s.get("base") or 0) for s in strategies if s["capacityProvider"] == "FARGATE")
    rest = max(tasks - base, 0)
    weights = {s["capacityProvider"]: int(s.get("weight") or 0) for s in strategies}
    total = sum(weights.values()) or 1
    return min(base, tasks) + rest * weights.get("FARGATE", 0) / total


def _aurora_instance(run: OfflineRun, instance: Resource, prices: Mapping[str, Any]) -> float:
    if instance.inputs["instanceClass"] != "db.serverless":
        return _instance_hourly(prices, instance.inputs["instanceClass"])
    cluster = run.one("aws:rds/cluster:Cluster")
    scaling = cluster.inputs.get("serverlessv2ScalingConfiguration") or {}
    return float(scaling.get("minCapacity", 0)) * prices["hourly"]["auroraAcu"]


# --- the budget -----------------------------------------------------------------------------------

# A stack's budget.monthlyLimit leaves this much room above the estimate (usage the estimate does
# not price: traffic, storage growth, requests), rounded up to a multiple of BUDGET_STEP USD.
BUDGET_HEADROOM = 1.25
BUDGET_STEP = 50


def suggested_budget(monthly_total: float) -> int:
    """The budget.monthlyLimit the plan suggests for an estimated monthly total."""
    steps = -(-monthly_total * BUDGET_HEADROOM // BUDGET_STEP)
    return int(max(steps, 1) * BUDGET_STEP)


# --- the plan -------------------------------------------------------------------------------------


def inventory(run: OfflineRun) -> dict[str, Counter[str]]:
    tree: dict[str, Counter[str]] = defaultdict(Counter)
    for resource in run.resources:
        if not resource.type.startswith(("platform:", "pulumi:providers:")):
            tree[component_name(run, resource)][resource.type] += 1
    return dict(tree)


def _plain(value: object) -> object:
    """An input JSON does not hold: assets by their content, as the engine compares them (a
    Lambda function's code), so two runs, or a base and a head checkout in other folders, agree;
    anything else as text."""
    if isinstance(value, pulumi.asset.AssetArchive):
        return {"archive": dict(value.assets)}
    if isinstance(value, pulumi.asset.FileAsset):
        return {"asset": hashlib.sha256(Path(str(value.path)).read_bytes()).hexdigest()}
    return str(value)


def build_plan(
    stack: str, run: OfflineRun, verdicts: Sequence[Verdict], prices: Mapping[str, Any]
) -> dict[str, Any]:
    """The plan as `--json` writes it: resources by URN with their inputs (as JSON holds them),
    `replace_on_changes` and, for each input that forces a replacement, the resources it is
    computed from, so a later diff sees replacements that cascade."""
    costs, unpriced = estimate(run, prices)
    by_component: dict[str, float] = defaultdict(float)
    for cost in costs:
        by_component[cost.component] += cost.monthly
    rules = load_replacements()
    resources = sorted(
        (r for r in run.resources if not r.type.startswith("pulumi:providers:")),
        key=lambda r: r.urn,
    )
    return {
        "stack": stack,
        "prices": {k: prices[k] for k in ("region", "currency", "date", "hoursPerMonth", "assumptions")},
        "resources": [
            {"urn": r.urn, "type": r.type, "name": r.name, "component": component_name(run, r), "protect": r.protect,
             "inputs": json.loads(json.dumps(r.inputs, default=_plain, sort_keys=True)),
             "replaceOnChanges": list(r.replace_on_changes), "dependsOn": _forcing_dependencies(rules, r),
             "aliases": run.alias_urns(r)}
            for r in resources
        ],
        "verdicts": sorted((asdict(v) for v in verdicts), key=lambda v: (v["policy"], v["resource"], v["message"])),
        "costs": [asdict(c) for c in sorted(costs, key=lambda c: (c.component, c.item, c.monthly))],
        "costByComponent": {k: round(v, 2) for k, v in sorted(by_component.items())},
        "monthlyTotal": round(sum(by_component.values()), 2),
        "suggestedBudget": suggested_budget(sum(by_component.values())),
        "unpriced": unpriced,
    }  # fmt: skip


def _forcing_dependencies(rules: Replacements, resource: Resource) -> dict[str, list[str]]:
    """The resources each replacement-forcing input is computed from (only those inputs, to keep
    the plan small: a replaced dependency makes them unknown, and an unknown forcing input
    replaces)."""
    return {
        prop: sorted(urns)
        for prop, urns in sorted(resource.property_dependencies.items())
        if urns and _always_forces(rules, resource.type, list(resource.replace_on_changes), prop)
    }


# --- the diff -------------------------------------------------------------------------------------


_MISSING = object()
_INDEX = re.compile(r"\[(\d+|\*)\]")


@dataclass(frozen=True)
class PropertyChange:
    """One changed input: its path (`a.b[0].c`) and the values before and after (or _MISSING)."""

    path: str
    old: object
    new: object

    def describe(self) -> str:
        if self.new is _MISSING or self.new is None:
            return f"{self.path} removed"
        if self.old is _MISSING or self.old is None:
            shown = _short(self.new)
            return f"{self.path} set to {shown}" if shown else f"{self.path} set"
        before, after = _short(self.old), _short(self.new)
        return f"{self.path}: {before} -> {after}" if before and after else self.path


def _short(value: object) -> str | None:
    """A scalar as JSON (30.0 as 30) when it is short enough for one line, else None."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, str | int | float | bool):
        return None
    text = json.dumps(value)
    return text if len(text) <= 48 else None


def property_changes(old: object, new: object, path: str = "") -> list[PropertyChange]:
    """Changed inputs as paths: into objects key by key, into lists of objects of equal length
    item by item; anything else (a scalar, a list of scalars, a list that grew) as one path."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            change
            for key in sorted(set(old) | set(new))
            for change in property_changes(
                old.get(key, _MISSING), new.get(key, _MISSING), f"{path}.{key}" if path else key
            )
        ]
    if (
        isinstance(old, list)
        and isinstance(new, list)
        and len(old) == len(new)
        and any(isinstance(item, dict | list) for item in (*old, *new))
    ):
        return [
            change
            for i, (before, after) in enumerate(zip(old, new, strict=True))
            for change in property_changes(before, after, f"{path}[{i}]")
        ]
    return [PropertyChange(path, old, new)]


def _covers(rule: str, path: str) -> bool:
    """Whether a change at `path` touches the input `rule` (both dotted, list positions and
    `[*]` dropped): the same input, a field inside it, or an object that contains it (so a
    dependency of a whole object counts for a forcing field in it)."""
    rule, path = _INDEX.sub("", rule), _INDEX.sub("", path)
    return path == rule or path.startswith(f"{rule}.") or rule.startswith(f"{path}.")


def _always_forces(
    rules: Replacements, type_: str, replace_on_changes: Sequence[str], path: str
) -> bool:
    """Whether any change of `path` replaces: a ForceNew input, or one in `replace_on_changes`."""
    rule = rules.rule(type_)
    forcing = (*(rule.replace_on if rule else ()), *replace_on_changes)
    return "*" in replace_on_changes or any(_covers(f, path) for f in forcing)


def _replacement_reasons(
    rules: Replacements, resource: Mapping[str, Any], changes: Iterable[PropertyChange]
) -> dict[str, str]:
    """Why each replacement-forcing change replaces the resource, by path."""
    rule = rules.rule(resource["type"]) or ReplacementRule(source="")
    own = list(resource.get("replaceOnChanges") or [])
    reasons: dict[str, str] = {}
    for change in changes:
        removed = change.new is _MISSING or change.new is None
        # Some inputs replace only when removed (EKS envelope encryption), some only when set
        # (an RDS snapshot to restore from).
        conditional = rule.replace_on_removal if removed else rule.replace_on_set
        if any(_covers(f, change.path) for f in (*rule.replace_on, *conditional)):
            reasons[change.path] = change.describe()
        elif "*" in own or any(_covers(f, change.path) for f in own):
            reasons[change.path] = f"{change.describe()} (replace_on_changes)"
    return reasons


@dataclass(frozen=True)
class Change:
    """A resource in both plans whose inputs differ, or that a replaced dependency replaces.
    `replacement` says why it is replaced (empty: updated in place), keyed by the input path
    that forces it."""

    urn: str
    type: str
    name: str
    properties: tuple[PropertyChange, ...]
    replacement: Mapping[str, str]

    def line(self, limit: int = 6) -> str:
        """`~ urn: what changed` or `+- urn: why it is replaced; also what else changed`."""
        return f"{'+-' if self.replacement else '~'} {self.urn}: {self.summary(limit)}"

    def summary(self, limit: int = 6) -> str:
        """What changed (at most `limit` inputs named), or why it is replaced and what else did."""
        others = [p.describe() for p in self.properties if p.path not in self.replacement]
        if len(others) > limit:
            others[limit:] = [f"+{len(others) - limit} more"]
        if not self.replacement:
            return ", ".join(others)
        also = f"; also {', '.join(others)}" if others else ""
        return f"replaced by {'; '.join(self.replacement.values())}{also}"


@dataclass(frozen=True)
class StatefulLoss:
    """A stateful resource that a change removes, renames (removes and adds under another URN)
    or replaces: `how` is one of those three words, `reasons` what forces a replacement, `why`
    what is lost."""

    urn: str
    type: str
    name: str
    how: str
    reasons: tuple[str, ...]
    why: str

    def describe(self) -> str:
        if self.how == "renamed":
            return f"{self.type} {self.name} would be RENAMED (replaced: its data is lost unless you add an alias)"
        if self.how == "removed":
            return f"{self.type} {self.name} would be REMOVED"
        return f"{self.type} {self.name} would be REPLACED ({'; '.join(self.reasons)}): {self.why}"


@dataclass(frozen=True)
class PlanDiff:
    added: list[str]
    removed: list[str]
    changed: list[Change]
    losses: list[StatefulLoss]
    # Changes of a stateful resource the plan refuses without losing it (an unacknowledged
    # major version upgrade): one line each.
    refused: list[str] = field(default_factory=list)

    @property
    def stateful(self) -> list[str]:
        """One line per stateful resource removed, renamed, replaced or changed unacknowledged."""
        return [*(loss.describe() for loss in self.losses), *self.refused]

    @property
    def updated(self) -> list[Change]:
        return [c for c in self.changed if not c.replacement]

    @property
    def replaced(self) -> list[Change]:
        return [c for c in self.changed if c.replacement]

    def as_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": [
                {"urn": c.urn, "type": c.type, "name": c.name,
                 "properties": [p.path for p in c.properties], "replacement": list(c.replacement.values())}
                for c in self.changed
            ],
            "stateful": self.stateful,
        }  # fmt: skip


def diff(
    plan: Mapping[str, Any], earlier: Mapping[str, Any], rules: Replacements | None = None
) -> PlanDiff:
    """Added, removed, updated and replaced resources by URN; stateful removals, renames and
    replacements called out."""
    rules = rules or load_replacements()
    now = {r["urn"]: r for r in plan["resources"]}
    # The engine finds a resource registered before under another URN through its aliases, and
    # compares it with that state: so does the diff (earlier plans may have no aliases).
    moved = {
        alias: urn for urn, r in now.items() for alias in r.get("aliases") or [] if alias not in now
    }
    before = {moved.get(r["urn"], r["urn"]): r for r in earlier["resources"]}
    added = sorted(set(now) - set(before))
    removed = sorted(set(before) - set(now))
    common = sorted(set(now) & set(before))
    properties = {u: property_changes(before[u]["inputs"], now[u]["inputs"]) for u in common}
    replaced = {
        u: reasons
        for u in common
        if (reasons := _replacement_reasons(rules, now[u], properties[u]))
    }
    _cascade(rules, now, common, replaced)
    changed = [
        Change(u, now[u]["type"], now[u]["name"], tuple(properties[u]), replaced.get(u, {}))
        for u in common
        if properties[u] or u in replaced
    ]
    losses = [
        StatefulLoss(u, before[u]["type"], before[u]["name"],
                     "renamed" if any(now[a]["type"] == before[u]["type"] for a in added) else "removed",
                     (), why)
        for u in removed
        if (why := rules.stateful_reason(before[u]["type"]))
    ]  # fmt: skip
    losses += [
        StatefulLoss(c.urn, c.type, c.name, "replaced", tuple(c.replacement.values()), why)
        for c in changed
        if c.replacement and (why := rules.stateful_reason(c.type))
    ]
    refused = _major_version_changes(now, before, common)
    return PlanDiff(added=added, removed=removed, changed=changed, losses=losses, refused=refused)


def _major_version_changes(
    now: Mapping[str, Any], before: Mapping[str, Any], common: Sequence[str]
) -> list[str]:
    """An Aurora major upgrade the stack file does not acknowledge, or a major downgrade (which
    RDS never does). The program passes database.allowMajorVersionUpgrade to the cluster, and RDS
    refuses a major change without it (ModifyDBCluster AllowMajorVersionUpgrade)."""
    found: list[str] = []
    for urn in common:
        if now[urn]["type"] != "aws:rds/cluster:Cluster":
            continue
        old, new = (str(plan[urn]["inputs"].get("engineVersion", "")) for plan in (before, now))
        old_major, new_major = old.split(".")[0], new.split(".")[0]
        if not (old_major.isdigit() and new_major.isdigit()) or old_major == new_major:
            continue
        name = now[urn]["name"]
        if int(new_major) < int(old_major):
            found.append(f"{name}: major version {old} -> {new}: RDS cannot downgrade a major")
        elif now[urn]["inputs"].get("allowMajorVersionUpgrade") is not True:
            found.append(
                f"{name}: major version {old} -> {new} is not acknowledged: set "
                "database.allowMajorVersionUpgrade true in the stack file after taking a "
                "snapshot (README: Aurora version policy)"
            )
    return found


def _cascade(
    rules: Replacements,
    now: Mapping[str, Mapping[str, Any]],
    common: Sequence[str],
    replaced: dict[str, dict[str, str]],
) -> None:
    """Replace what a replacement replaces: while one is planned, the replaced resource's outputs
    are unknown, and an unknown replacement-forcing input replaces its resource too."""
    progress = True
    while progress:
        progress = False
        for urn in common:
            if urn in replaced:
                continue
            resource = now[urn]
            reasons = {
                prop: f"{prop} comes from {now[gone[0]]['name']}, which is replaced"
                for prop, urns in sorted((resource.get("dependsOn") or {}).items())
                if (gone := [d for d in urns if d in replaced])
                and _always_forces(rules, resource["type"], resource.get("replaceOnChanges") or [], prop)
            }  # fmt: skip
            if reasons:
                replaced[urn] = reasons
                progress = True


class PlanFileError(Exception):
    """The earlier plan given to --diff cannot be used."""


def read_plan(path: Path, stack: str | None = None) -> dict[str, Any]:
    """An earlier plan written with --json (of `stack`, when given), or PlanFileError saying why
    not, in one line."""
    hint = f"write it with `python -m tooling.plan {stack or 'STACK'} --json > {path}`"
    try:
        data: object = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PlanFileError(
            f"cannot read the earlier plan {path}: {error.strerror or error}"
        ) from None
    except ValueError as error:
        raise PlanFileError(f"{path} is not JSON ({error}); {hint}") from None
    problem = _plan_problem(data)
    if problem is not None or not isinstance(data, dict):
        raise PlanFileError(f"{path} is not a plan ({problem}); {hint}")
    if stack is not None and data["stack"] != stack:
        raise PlanFileError(
            f"{path} is the plan of stack {data['stack']!r}, not {stack!r}: compare plans of one stack"
        )
    return data


def _plan_problem(data: object) -> str | None:
    if not isinstance(data, dict):
        return "the top level is not an object"
    if not isinstance(data.get("stack"), str):
        return "no 'stack' name"
    resources = data.get("resources")
    if not isinstance(resources, list):
        return "no 'resources' list"
    for i, resource in enumerate(resources):
        if not (
            isinstance(resource, dict)
            and all(isinstance(resource.get(key), str) for key in ("urn", "type", "name"))
            and isinstance(resource.get("inputs"), dict)
        ):
            return f"resources[{i}] has no urn, type, name or inputs"
        # The diff reads these too, and a pull request's plan is input we do not control.
        forcing = resource.get("dependsOn") or {}
        names = (resource.get("replaceOnChanges") or [], resource.get("aliases") or [])
        if not all(map(_texts, names)) or not (
            isinstance(forcing, dict) and all(_texts(urns) for urns in forcing.values())
        ):
            return f"resources[{i}] has a replaceOnChanges, dependsOn or aliases that is not names"
    return None


def _texts(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def render(
    plan: Mapping[str, Any],
    tree: Mapping[str, Counter[str]],
    changes: PlanDiff | None,
) -> str:
    lines = [f"Offline plan for stack {plan['stack']} (nothing was sent to AWS)", ""]
    lines.append(f"Resources: {len(plan['resources'])}")
    for component, counts in sorted(tree.items()):
        lines.append(f"  {component} ({sum(counts.values())})")
        lines += [f"    {count:3d} x {kind}" for kind, count in sorted(counts.items())]
    verdicts = plan["verdicts"]
    mandatory = [v for v in verdicts if v["level"] == "mandatory"]
    lines += [
        "",
        f"Policy: {len(mandatory)} mandatory violations, {len(verdicts) - len(mandatory)} advisories",
    ]
    lines += [f"  [{v['level']}] {v['policy']}: {v['message']}" for v in verdicts]
    prices = plan["prices"]
    lines += [
        "",
        f"Estimated monthly cost ({prices['currency']}, {prices['region']} prices of {prices['date']}, {prices['hoursPerMonth']} h/month):",
    ]
    lines += [
        f"  {component:<15} {amount:>10.2f}"
        for component, amount in plan["costByComponent"].items()
    ]
    lines += [
        f"  {'total':<15} {plan['monthlyTotal']:>10.2f}",
        "  Assumptions: " + "; ".join(prices["assumptions"]),
        f"  Suggested budget.monthlyLimit: {plan['suggestedBudget']} (the total x {BUDGET_HEADROOM:g}, "
        f"rounded up to {BUDGET_STEP} USD)",
    ]
    lines += [
        "  Not priced (free, or charged by usage): "
        + ", ".join(t.split(":", 1)[1] for t in plan["unpriced"])
    ]
    if changes is not None:
        lines += ["", *render_diff(changes)]
    return "\n".join(lines)


def render_diff(changes: PlanDiff) -> list[str]:
    """`+` added, `-` removed, `~` updated in place, `+-` replaced, each naming what changed;
    `!!! STATEFUL` for what loses data."""
    lines = [
        f"Against the earlier plan: +{len(changes.added)} -{len(changes.removed)} ~{len(changes.updated)} +-{len(changes.replaced)}"
    ]
    lines += [f"  + {u}" for u in changes.added]
    lines += [f"  - {u}" for u in changes.removed]
    lines += [f"  {c.line()}" for c in (*changes.updated, *changes.replaced)]
    lines += [f"  !!! STATEFUL: {warning}" for warning in changes.stateful]
    return lines


def costs_markdown(stacks: Sequence[str]) -> str:
    """The README's per-stack cost table, straight from the plans."""
    plans = {s: build_plan(s, run := run_stack(s), [], load_prices()) for s in stacks}
    del run
    components = sorted({c for p in plans.values() for c in p["costByComponent"]})
    lines = ["| component | " + " | ".join(stacks) + " |", "|---|" + "---:|" * len(stacks)]
    for component in components:
        lines.append(
            f"| {component} | "
            + " | ".join(f"{plans[s]['costByComponent'].get(component, 0):.2f}" for s in stacks)
            + " |"
        )
    lines.append(
        "| **total** | " + " | ".join(f"**{plans[s]['monthlyTotal']:.2f}**" for s in stacks) + " |"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tooling.plan", description=DESCRIPTION)
    parser.add_argument("stack", nargs="?", help=f"one of: {', '.join(stack_names())}")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument("--diff", type=Path, help="an earlier plan written with --json")
    parser.add_argument("--costs-markdown", action="store_true", help="print the README cost table")
    parser.add_argument(
        "--check-example-values",
        action="store_true",
        help="only check the stack file for example values (`make up` runs this): exit 1 if any",
    )
    args = parser.parse_args(argv)
    if args.costs_markdown:
        order = ("dev", "staging", "prod")
        print(costs_markdown(sorted(stack_names(), key=lambda s: (*order, s).index(s))))
        return 0
    if not args.stack:
        parser.error("name a stack")
    if args.check_example_values:
        return check_example_values(args.stack)
    try:
        # Read the earlier plan first: a wrong file fails in a moment, not after a whole run.
        earlier = read_plan(args.diff, args.stack) if args.diff else None
        print(f"Running stack {args.stack} offline...", file=sys.stderr)
        run = run_stack(args.stack)
        print("Evaluating the policy pack...", file=sys.stderr)
        verdicts = evaluate(run, stack_policy_config(args.stack))
        found = stack_example_values(args.stack)
    except (
        OfflineError,
        ProgramError,
        FileNotFoundError,
        PlanFileError,
        SettingsError,
        PolicyConfigError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    plan = build_plan(args.stack, run, verdicts, load_prices())
    changes = diff(plan, earlier) if earlier is not None else None
    if args.json:
        document = plan if changes is None else {**plan, "diff": changes.as_json()}
        print(json.dumps(document, indent=2, sort_keys=True, default=str))
    else:
        print(render(plan, inventory(run), changes))
    if found:
        # A warning, not a failure: the stack files ship with example values, and the refusal
        # belongs to `make up` and the program's update. On stdout beside the text plan (which
        # CI puts in the job summary); on stderr beside --json.
        print(
            f"\n{example_warning(args.stack, found)}", file=sys.stderr if args.json else sys.stdout
        )
    blocked = any(v.level == "mandatory" for v in verdicts) or bool(changes and changes.stateful)
    return 1 if blocked else 0


def stack_example_values(stack: str, root: Path = PROJECT_ROOT) -> list[ExampleValue]:
    """The example values of a stack file (components/examples.py), without running the program."""
    config = stack_config(stack, root)
    platform = {
        k.removeprefix("platform:"): v for k, v in config.items() if k.startswith("platform:")
    }
    settings = parse_settings(
        project=PROJECT, stack=stack, region=config.get("aws:region"), raw=decode_values(platform)
    )
    return example_values(settings)


def example_warning(stack: str, found: Sequence[ExampleValue]) -> str:
    lines = [f"  ! {value.describe()}" for value in found]
    head = (
        f"Example values: `make up STACK={stack}` refuses until they are replaced ({len(found)}):"
    )
    return "\n".join([head, *lines])


def check_example_values(stack: str, root: Path = PROJECT_ROOT) -> int:
    """`make up`'s guard: 1 (and the list) when the stack file holds example values, 2 when it
    cannot be read or is invalid, else 0. A stack whose settings only fail on encrypted values
    this check cannot read is left to the program, which refuses example values itself."""
    try:
        found = stack_example_values(stack, root)
    except SettingsError as error:
        if SECRET_MARKER in str(stack_config(stack, root)):
            print(
                f"note: stack {stack} holds encrypted values this check cannot read; "
                "`pulumi up` itself refuses example values before it changes anything",
                file=sys.stderr,
            )
            return 0
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OfflineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if found:
        print(f"error: {refusal(stack, found)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # A short-lived command that builds a few hundred thousand long-lived objects (the SDK
    # modules) and frees nothing worth collecting: the cyclic collector only costs it time
    # (about a quarter of a plan). Memory stays near 220 MB.
    gc.disable()
    sys.exit(main())
