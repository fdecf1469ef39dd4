"""Governance: required tags, allowed sizes per stack, and alarms on what matters."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Any

from pulumi_policy import Severity, StackValidationArgs

from .core import TYPES, Config, Props, depends_on, listed, resource_rule, stack_rule

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
WATCHED = (
    *TYPES["load_balancer"],
    "aws:rds/cluster:Cluster",
    "aws:rds/instance:Instance",
    "aws:eks/cluster:Cluster",
    "aws:sfn/stateMachine:StateMachine",
    "aws:cloudfront/distribution:Distribution",
    "eks:index:Cluster",
)
SIZED = (
    "aws:rds/clusterInstance:ClusterInstance",
    "aws:rds/instance:Instance",
    "aws:ec2/instance:Instance",
    "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:eks/nodeGroup:NodeGroup",
    "eks:index:ManagedNodeGroup",
)
SIZE_FIELDS = ("instanceClass", "instanceType", "instanceTypes")
TAGS_SCHEMA = {
    "requiredTags": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["Project", "Environment", "ManagedBy", "Owner", "CostCenter"],
        "description": "Tags every taggable resource must carry (its own or the provider's).",
    },
}


def _tags(props: Props) -> dict[str, Any]:
    return {**(props.get("tagsAll") or {}), **(props.get("tags") or {})}


def _taggable(props: Props) -> bool:
    return "tags" in props or "tagsAll" in props


def _required_tags(props: Props, config: Config) -> Iterable[str]:
    if not _taggable(props):
        return
    missing = [tag for tag in config["requiredTags"] if tag not in _tags(props)]
    if missing:
        yield f"lacks the tags {', '.join(missing)}"


def _sizes(props: Props, config: Config) -> Iterable[str]:
    patterns = list(config["allowedPatterns"])
    sizes = [size for field in SIZE_FIELDS for size in listed(props.get(field))]
    for size in sizes:
        if not any(fnmatch.fnmatch(str(size), pattern) for pattern in patterns):
            yield f"uses size {size}, not allowed in this stack ({', '.join(patterns)})"


def _alarmed(args: StackValidationArgs, _: Config) -> Iterable[tuple[str, str | None]]:
    alarms = [r for r in args.resources if r.resource_type == ALARM]
    for resource in (r for r in args.resources if r.resource_type in WATCHED):
        # An alarm on a component (pulumi_eks's cluster) covers the resource the component's
        # provider creates inside it: the program can only reference the component.
        owners = [resource, *([resource.parent] if resource.parent is not None else [])]
        if not any(depends_on(alarm, owner) for alarm in alarms for owner in owners):
            yield f"{resource.resource_type} {resource.name} has no alarm", resource.urn


RULES = [
    resource_rule(
        "required-tags",
        "Every taggable resource carries the required tags.",
        # Only AWS resources carry tags; components pass theirs on through the provider.
        types=lambda resource_type: resource_type.startswith("aws:"),
        check=_required_tags,
        severity=Severity.LOW,
        fix="Set the tags on the resource or, better, as default tags on its provider.",
        schema=TAGS_SCHEMA,
    ),
    resource_rule(
        "allowed-instance-sizes",
        "Databases, nodes and instances use only the sizes this stack allows.",
        types=SIZED,
        check=_sizes,
        severity=Severity.MEDIUM,
        fix="Pick an allowed size, or widen allowedPatterns in the stack's policy config on purpose.",
        schema={
            "allowedPatterns": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["*"],
                "description": "Glob patterns of allowed instance classes and types.",
            }
        },
    ),
    stack_rule(
        "alarm-coverage",
        "Every load balancer, database, state machine, distribution and EKS cluster has at least one alarm.",
        check=_alarmed,
        fix="Add a CloudWatch alarm on one of its metrics, with actions to the alarm topic.",
        severity=Severity.MEDIUM,
    ),
]
