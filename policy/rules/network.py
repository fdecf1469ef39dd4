"""Network: no open ingress but web ports on load balancers, flow logs, a silent default group."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pulumi_policy import StackValidationArgs

from .core import (
    OPEN_CIDRS,
    Config,
    Props,
    depends_on,
    listed,
    number,
    resource_rule,
    stack_rule,
)

GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
VPCS = ("aws:ec2/vpc:Vpc", "awsx:ec2:Vpc")


def _open_ports(rules: Iterable[tuple[Any, Any, list[Any]]], allowed: list[float]) -> Iterable[str]:
    for low, high, cidrs in rules:
        opened = [c for c in cidrs if c in OPEN_CIDRS]
        if opened and not (low == high and low in allowed):
            yield f"admits {', '.join(opened)} on ports {number(low)}-{number(high)}"


def _ingress(props: Props, config: Config) -> Iterable[str]:
    allowed = list(config["allowedPublicPorts"])
    if "ingress" in props:  # inline rules of a security group
        rules = [
            (
                r.get("fromPort"),
                r.get("toPort"),
                [*listed(r.get("cidrBlocks")), *listed(r.get("ipv6CidrBlocks"))],
            )
            for r in listed(props.get("ingress"))
        ]
    elif "ipProtocol" in props:  # one aws.vpc ingress rule
        rules = [
            (
                props.get("fromPort"),
                props.get("toPort"),
                [props.get("cidrIpv4"), props.get("cidrIpv6")],
            )
        ]
    elif props.get("type") == "ingress":  # one legacy aws.ec2 rule
        rules = [
            (
                props.get("fromPort"),
                props.get("toPort"),
                [*listed(props.get("cidrBlocks")), *listed(props.get("ipv6CidrBlocks"))],
            )
        ]
    else:
        rules = []
    yield from _open_ports(rules, allowed)


def _flow_logs(args: StackValidationArgs, _: Config) -> Iterable[tuple[str, str | None]]:
    logs = [r for r in args.resources if r.resource_type == "aws:ec2/flowLog:FlowLog"]
    for vpc in (r for r in args.resources if r.resource_type in VPCS):
        # A program that takes the VPC id from a component (awsx) depends on the component,
        # never on the aws.ec2.Vpc inside it: the SDK does not expand remote components.
        owners = [vpc, *([vpc.parent] if vpc.parent is not None else [])]
        if not any(depends_on(log, owner) for log in logs for owner in owners):
            yield f"VPC {vpc.name} has no flow log", vpc.urn


def _default_group(props: Props, _: Config) -> Iterable[str]:
    if listed(props.get("ingress")) or listed(props.get("egress")):
        yield "keeps rules; traffic could silently fall back to it"


RULES = [
    resource_rule(
        "no-open-ingress",
        "Security groups admit the internet (0.0.0.0/0, ::/0) only on the allowed web ports.",
        types=[GROUP, INGRESS_RULE, LEGACY_RULE],
        check=_ingress,
        fix="Admit a security group or a narrow CIDR instead, or put the port behind a load balancer.",
        schema={
            "allowedPublicPorts": {
                "type": "array",
                "items": {"type": "integer"},
                "default": [80, 443],
                "description": "Single ports that may be open to the internet (load balancers).",
            }
        },
    ),
    stack_rule(
        "vpc-flow-logs",
        "Every VPC has a flow log.",
        check=_flow_logs,
        fix="Add an aws.ec2.FlowLog (traffic type ALL) for the VPC.",
    ),
    resource_rule(
        "default-security-group-closed",
        "The default security group has no rules.",
        types=["aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"],
        check=_default_group,
        fix="Adopt it with aws.ec2.DefaultSecurityGroup and empty ingress and egress.",
    ),
]
