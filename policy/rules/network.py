"""Network: no open ingress but web ports on load balancers, flow logs, a silent default group."""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Iterable, Sequence
from typing import TypeVar

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from .core import (
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


ALL_PROTOCOLS = ("-1", "all")  # AWS opens every protocol and port, whatever the ports say


_Network = TypeVar("_Network", ipaddress.IPv4Network, ipaddress.IPv6Network)


def _wider_than(family: list[tuple[str, _Network]], limit: int) -> list[str]:
    """The CIDRs of one address family inside a merged block wider than /`limit`."""
    merged = ipaddress.collapse_addresses(n for _, n in family)
    return [
        c for block in merged if block.prefixlen < limit for c, n in family if n.subnet_of(block)
    ]


def _wide(cidrs: Iterable[object], config: Config) -> list[str]:
    """The CIDRs that admit the internet: one that is /0 once normalised (10.0.0.0/0), one wider
    than the configured prefix, or a set whose union is that wide (0.0.0.0/1 + 128.0.0.0/1)."""
    v4: list[tuple[str, ipaddress.IPv4Network]] = []
    v6: list[tuple[str, ipaddress.IPv6Network]] = []
    for cidr in (str(c) for c in cidrs if c):
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue  # not a CIDR (AWS rejects it): nothing opened
        if isinstance(network, ipaddress.IPv4Network):
            v4.append((cidr, network))
        else:
            v6.append((cidr, network))
    return [
        *_wider_than(v4, int(config["minPrefixLengthIpv4"])),
        *_wider_than(v6, int(config["minPrefixLengthIpv6"])),
    ]


def _load_balancer_group(name: str, config: Config) -> bool:
    return any(
        fnmatch.fnmatchcase(name, str(p)) for p in listed(config["loadBalancerGroupPatterns"])
    )


def _open_ports(
    name: str, rules: Iterable[tuple[object, object, object, Sequence[object]]], config: Config
) -> Iterable[str]:
    allowed = list(config["allowedPublicPorts"])
    web = _load_balancer_group(name, config)
    for protocol, low, high, cidrs in rules:
        opened = _wide(cidrs, config)
        if not opened:
            continue
        if str(protocol).lower() in ALL_PROTOCOLS:
            yield f"admits {', '.join(opened)} on every protocol and port"
        elif not (web and str(protocol).lower() in ("tcp", "6") and low == high and low in allowed):
            yield f"admits {', '.join(opened)} on ports {number(low)}-{number(high)}"


def _ingress(args: ResourceValidationArgs, config: Config) -> Iterable[str]:
    props = args.props
    if "ingress" in props:  # inline rules of a security group
        rules = [
            (
                r.get("protocol"),
                r.get("fromPort"),
                r.get("toPort"),
                [*listed(r.get("cidrBlocks")), *listed(r.get("ipv6CidrBlocks"))],
            )
            for r in listed(props.get("ingress"))
        ]
    elif "ipProtocol" in props:  # one aws.vpc ingress rule
        rules = [
            (
                props.get("ipProtocol"),
                props.get("fromPort"),
                props.get("toPort"),
                [props.get("cidrIpv4"), props.get("cidrIpv6")],
            )
        ]
    elif props.get("type") == "ingress":  # one legacy aws.ec2 rule
        rules = [
            (
                props.get("protocol"),
                props.get("fromPort"),
                props.get("toPort"),
                [*listed(props.get("cidrBlocks")), *listed(props.get("ipv6CidrBlocks"))],
            )
        ]
    else:
        rules = []
    yield from _open_ports(args.name, rules, config)


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
        "Security groups admit the internet (any range as wide as /0 or the configured prefix) "
        "only to load balancer groups, only on the allowed web ports over TCP.",
        types=[GROUP, INGRESS_RULE, LEGACY_RULE],
        # Which groups belong to a load balancer is read from the logical name (of the group, or
        # of the rule resource that opens it) against `loadBalancerGroupPatterns`: a resource rule
        # runs on inputs at preview, when a separate ingress rule knows its group only by an
        # unknown id and the group knows nothing of the load balancer created after it; the link
        # exists only in the load balancer's `securityGroups` at stack time, too late to stop a
        # preview. A name convention is checkable on every registration; both sides are tested.
        check_args=_ingress,
        fix="Admit a security group or a narrow CIDR instead, or put the port behind a load balancer.",
        schema={
            "allowedPublicPorts": {
                "type": "array",
                "items": {"type": "integer"},
                "default": [80, 443],
                "description": "Single TCP ports a load balancer group may open to the internet.",
            },
            "loadBalancerGroupPatterns": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["*-alb-*", "*-alb"],
                "description": "Glob patterns of the logical names of load balancer security "
                "groups and of the rules that open them; only these may use allowedPublicPorts.",
            },
            "minPrefixLengthIpv4": {
                "type": "integer",
                "default": 8,
                "description": "An IPv4 range (or union of ranges) wider than this is the internet.",
            },
            "minPrefixLengthIpv6": {
                "type": "integer",
                "default": 16,
                "description": "An IPv6 range (or union of ranges) wider than this is the internet.",
            },
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
