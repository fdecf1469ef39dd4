"""Offline plan: what a stack creates, whether it passes policy, and what it costs, without AWS.

    python -m tooling.plan STACK [--json] [--diff EARLIER.json] [--costs-markdown]

Runs the program for the stack's real config file under mocks (tooling/offline.py), evaluates
the policy pack with policy/config.STACK.json, and prices the inventory from tooling/prices.json.
Exits 1 on a mandatory policy violation or a stateful resource that would be removed, 2 on a
missing or broken stack file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tooling.offline import (
    OfflineError,
    OfflineRun,
    ProgramError,
    Resource,
    run_stack,
    stack_names,
)
from tooling.policy_eval import Verdict, evaluate, stack_policy_config

DESCRIPTION = "What a stack creates, whether it passes policy, and what it costs, without AWS."
PRICES = Path(__file__).with_name("prices.json")
# Resources whose removal or replacement loses data or breaks what depends on them.
STATEFUL = {
    "aws:rds/cluster:Cluster",
    "aws:rds/clusterInstance:ClusterInstance",
    "aws:rds/instance:Instance",
    "aws:s3/bucket:Bucket",
    "aws:kms/key:Key",
    "aws:eks/cluster:Cluster",
    "eks:index:Cluster",
    "aws:ecr/repository:Repository",
    "aws:backup/vault:Vault",
}


@dataclass(frozen=True)
class Cost:
    component: str
    item: str
    monthly: float


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    return json.loads(path.read_text())


def component_name(run: OfflineRun, resource: Resource) -> str:
    owner = resource if resource.type.startswith("platform:") else run.component_of(resource)
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


def _node_group(_: OfflineRun, r: Resource, p: Mapping[str, Any]) -> Priced:
    nodes = int(r.inputs["scalingConfig"]["desiredSize"])
    instance = r.inputs["instanceTypes"][0]
    hourly = p["instanceHourly"][instance]
    if r.inputs.get("capacityType") == "SPOT":
        hourly *= p["hourly"]["ec2SpotFactor"]
    return [(f"EKS nodes {instance} x{nodes}", nodes * hourly * p["hoursPerMonth"])]


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
    metrics = sum(1 for q in r.inputs.get("metricQueries") or [] if "metric" in q) or 1
    return [("alarms", metrics * p["monthly"]["alarmMetric"])]


def _flat(item: str, section: str, key: str) -> Pricer:
    def price(_: OfflineRun, __: Resource, p: Mapping[str, Any]) -> Priced:
        amount = p[section][key] * (p["hoursPerMonth"] if section == "hourly" else 1)
        return [(item, amount)]

    return price


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
}


def estimate(run: OfflineRun, prices: Mapping[str, Any]) -> tuple[list[Cost], list[str]]:
    """Monthly costs per component and item, and the resource types left unpriced."""
    costs = [
        Cost(component_name(run, r), item, round(amount, 2))
        for r in run.resources
        if r.type in PRICERS
        for item, amount in PRICERS[r.type](run, r, prices)
    ]
    analyzed = {
        r.type for r in run.resources if (r.custom or r.remote) and not r.type.startswith("pulumi:")
    }
    return costs, sorted(analyzed - set(PRICERS))


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
        return float(prices["instanceHourly"].get(instance.inputs["instanceClass"], 0.0))
    cluster = run.one("aws:rds/cluster:Cluster")
    scaling = cluster.inputs.get("serverlessv2ScalingConfiguration") or {}
    return float(scaling.get("minCapacity", 0)) * prices["hourly"]["auroraAcu"]


# --- the plan -------------------------------------------------------------------------------------


def inventory(run: OfflineRun) -> dict[str, Counter[str]]:
    tree: dict[str, Counter[str]] = defaultdict(Counter)
    for resource in run.resources:
        if not resource.type.startswith(("platform:", "pulumi:providers:")):
            tree[component_name(run, resource)][resource.type] += 1
    return dict(tree)


def build_plan(
    stack: str, run: OfflineRun, verdicts: Sequence[Verdict], prices: Mapping[str, Any]
) -> dict[str, Any]:
    costs, unpriced = estimate(run, prices)
    by_component: dict[str, float] = defaultdict(float)
    for cost in costs:
        by_component[cost.component] += cost.monthly
    return {
        "stack": stack,
        "prices": {k: prices[k] for k in ("region", "currency", "date", "hoursPerMonth", "assumptions")},
        "resources": [
            {"urn": r.urn, "type": r.type, "name": r.name, "component": component_name(run, r), "protect": r.protect, "inputs": r.inputs}
            for r in run.resources
            if not r.type.startswith("pulumi:providers:")
        ],
        "verdicts": [asdict(v) for v in verdicts],
        "costs": [asdict(c) for c in costs],
        "costByComponent": {k: round(v, 2) for k, v in sorted(by_component.items())},
        "monthlyTotal": round(sum(by_component.values()), 2),
        "unpriced": unpriced,
    }  # fmt: skip


def diff(plan: Mapping[str, Any], earlier: Mapping[str, Any]) -> dict[str, list[str]]:
    """Added, removed and changed resources by URN; stateful removals and renames called out."""
    now = {r["urn"]: r for r in plan["resources"]}
    before = {r["urn"]: r for r in earlier["resources"]}
    added = sorted(set(now) - set(before))
    removed = sorted(set(before) - set(now))
    changed = sorted(u for u in set(now) & set(before) if now[u]["inputs"] != before[u]["inputs"])
    danger = [
        f"{before[u]['type']} {before[u]['name']} would be "
        + ("RENAMED (replaced: its data is lost unless you add an alias)" if any(now[a]["type"] == before[u]["type"] for a in added) else "REMOVED")
        for u in removed
        if before[u]["type"] in STATEFUL
    ]  # fmt: skip
    return {"added": added, "removed": removed, "changed": changed, "stateful": danger}


def render(
    plan: Mapping[str, Any],
    tree: Mapping[str, Counter[str]],
    changes: Mapping[str, list[str]] | None,
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
    ]
    lines += [
        "  Not priced (free, or charged by usage): "
        + ", ".join(t.split(":", 1)[1] for t in plan["unpriced"])
    ]
    if changes is not None:
        lines += [
            "",
            f"Against the earlier plan: +{len(changes['added'])} -{len(changes['removed'])} ~{len(changes['changed'])}",
        ]
        lines += (
            [f"  + {u}" for u in changes["added"]]
            + [f"  - {u}" for u in changes["removed"]]
            + [f"  ~ {u}" for u in changes["changed"]]
        )
        lines += [f"  !!! STATEFUL: {warning}" for warning in changes["stateful"]]
    return "\n".join(lines)


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
    args = parser.parse_args(argv)
    if args.costs_markdown:
        order = ("dev", "staging", "prod")
        print(costs_markdown(sorted(stack_names(), key=lambda s: (*order, s).index(s))))
        return 0
    if not args.stack:
        parser.error("name a stack")
    try:
        print(f"Running stack {args.stack} offline...", file=sys.stderr)
        run = run_stack(args.stack)
        print("Evaluating the policy pack...", file=sys.stderr)
        verdicts = evaluate(run, stack_policy_config(args.stack))
    except (OfflineError, ProgramError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    plan = build_plan(args.stack, run, verdicts, load_prices())
    changes = diff(plan, json.loads(args.diff.read_text())) if args.diff else None
    if args.json:
        print(json.dumps({**plan, "diff": changes} if changes else plan, indent=2, default=str))
    else:
        print(render(plan, inventory(run), changes))
    blocked = any(v.level == "mandatory" for v in verdicts) or bool(changes and changes["stateful"])
    return 1 if blocked else 0


if __name__ == "__main__":
    sys.exit(main())
