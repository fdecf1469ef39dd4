"""Network and edge exposure: egress, public subnets and addresses, NACLs, origins, WAF, desync."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from fnmatch import fnmatch

from pulumi_policy import ResourceValidationArgs, Severity, StackValidationArgs

from .core import (
    OPEN_CIDRS,
    TYPES,
    Config,
    Props,
    depends_on,
    listed,
    mapping,
    number,
    resource_rule,
    stack_rule,
    unattached,
)

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SUBNET = "aws:ec2/subnet:Subnet"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
NACLS = ("aws:ec2/networkAcl:NetworkAcl", "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl")
NACL_RULE = "aws:ec2/networkAclRule:NetworkAclRule"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
LOAD_BALANCERS = TYPES["load_balancer"]
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WEB_ACL_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
WEB_ACL_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
ADMIN_PORTS = (22, 3389)
# CloudFront's origin protocols older than TLS 1.2 (CloudFront developer guide,
# "Supported protocols and ciphers between CloudFront and the origin").
WEAK_ORIGIN_PROTOCOLS = ("SSLv3", "TLSv1", "TLSv1.1")


def _all_protocols(protocol: object) -> bool:
    return str(protocol) in ("-1", "all")


def _exempt(names: Iterable[object], config: Config) -> bool:
    return any(
        fnmatch(str(name), pattern)
        for name in names
        if name
        for pattern in config["exemptGroupPatterns"]
    )


def _open_egress(props: Props, config: Config) -> Iterable[str]:
    rules: list[Props] = [mapping(r) for r in listed(props.get("egress"))]
    if props.get("type") == "egress":
        rules.append(props)
    elif props.get("ipProtocol") is not None:
        rules.append(
            {
                "protocol": props.get("ipProtocol"),
                "cidrBlocks": listed(props.get("cidrIpv4")),
                "ipv6CidrBlocks": listed(props.get("cidrIpv6")),
            }
        )
    for rule in rules:
        if not _all_protocols(rule.get("protocol")):
            continue
        cidrs = [*listed(rule.get("cidrBlocks")), *listed(rule.get("ipv6CidrBlocks"))]
        opened = [c for c in cidrs if c in OPEN_CIDRS]
        # Names are read only for an open rule: a group ID unknown at preview defers nothing else.
        names = (
            props.get("name"),
            props.get("namePrefix"),
            mapping(props.get("tags")).get("Name"),
            props.get("securityGroupId"),
        )
        if opened and not _exempt(names, config):
            yield f"lets everything out to {', '.join(opened)} on every protocol and port"


def _public_subnet(args: ResourceValidationArgs, config: Config) -> Iterable[str]:
    if args.props.get("mapPublicIpOnLaunch") is not True:
        return
    names = (args.name, mapping(args.props.get("tags")).get("Name"))
    if not any(fnmatch(str(n), config["publicTierPattern"]) for n in names if n):
        yield "gives its instances public IP addresses but is not in the public tier"


def _template_public_ip(props: Props, _: Config) -> Iterable[str]:
    for interface in listed(props.get("networkInterfaces")):
        if str(mapping(interface).get("associatePublicIpAddress")).lower() == "true":
            yield "gives its instances public IP addresses"


def _covers(rule: Props, port: int) -> bool:
    if _all_protocols(rule.get("protocol")):
        return True
    low, high = rule.get("fromPort"), rule.get("toPort")
    return str(rule.get("protocol")).lower() in ("tcp", "6") and (
        low is not None and high is not None and low <= port <= high
    )


def _family_range(cidr: object) -> object:
    """A range covering a whole address family as 0.0.0.0/0 or ::/0 however it is written
    (::0/0, 10.0.0.0/0); any other value as it is."""
    try:
        network = ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return cidr
    return OPEN_CIDRS[network.version == 6] if network.prefixlen == 0 else cidr


def _entry(props: Props, number: str, action: str) -> Props:
    """An ingress entry in one shape: inline entries say ruleNo/action, NetworkAclRule
    ruleNumber/ruleAction; a value of either CIDR family is the entry's range."""
    return {
        "number": props.get(number),
        "action": str(props.get(action)).lower(),
        "cidr": _family_range(props.get("cidrBlock") or props.get("ipv6CidrBlock")),
        "protocol": props.get("protocol"),
        "fromPort": props.get("fromPort"),
        "toPort": props.get("toPort"),
    }


def _acl_entries(args: StackValidationArgs) -> dict[str, tuple[str, str, list[Props]]]:
    """Every ACL's ingress entries, by ACL: its inline `ingress` and the NetworkAclRules whose
    `networkAclId` is built from it (or, for an ACL the stack does not create, names its ID)."""
    acls = [r for r in args.resources if r.resource_type in NACLS]
    grouped: dict[str, tuple[str, str, list[Props]]] = {}
    for acl in acls:
        inline = [_entry(mapping(e), "ruleNo", "action") for e in listed(acl.props.get("ingress"))]
        grouped[acl.urn] = (acl.name, acl.urn, inline)
    for rule in (r for r in args.resources if r.resource_type == NACL_RULE):
        if rule.props.get("egress") is True:
            continue
        owner = next((a for a in acls if depends_on(rule, a, "networkAclId")), None)
        key = owner.urn if owner else str(rule.props.get("networkAclId"))
        name, urn, entries = grouped.get(key) or (key, rule.urn, [])
        grouped[key] = (name, urn, [*entries, _entry(rule.props, "ruleNumber", "ruleAction")])
    return grouped


def _first_match_admits(entries: list[Props], cidr: str, port: int) -> Props | None:
    """The entry that decides traffic from every address of `cidr` (0.0.0.0/0 or ::/0) to `port`
    when it allows it: rules are evaluated from the lowest number up and the first match wins
    (VPC User Guide, "Network ACL rules"), so only a lower-numbered deny of the whole family
    shadows an allow; a deny of part of the internet leaves the rest admitted."""
    for entry in sorted(entries, key=lambda e: float(e.get("number") or 0)):
        if entry.get("cidr") != cidr or not _covers(entry, port):
            continue
        return entry if entry.get("action") == "allow" else None
    return None


def _nacl_admin(args: StackValidationArgs, _: Config) -> Iterable[tuple[str, str | None]]:
    for name, urn, entries in _acl_entries(args).values():
        for cidr in OPEN_CIDRS:
            for port in ADMIN_PORTS:
                allowed = _first_match_admits(entries, cidr, port)
                if allowed is not None:
                    rule = number(allowed.get("number"))
                    yield (
                        f"network ACL {name} admits {cidr} on admin port {port} (rule {rule})",
                        urn,
                    )


def _origin_tls(props: Props, _: Config) -> Iterable[str]:
    for origin in listed(props.get("origins")):
        custom = mapping(mapping(origin).get("customOriginConfig"))
        weak = [p for p in listed(custom.get("originSslProtocols")) if p in WEAK_ORIGIN_PROTOCOLS]
        if weak:
            yield f"offers origin {origin.get('originId')} {', '.join(weak)}"


def _waf_logging(args: StackValidationArgs, _: Config) -> Iterable[tuple[str, str | None]]:
    for acl in unattached(args, [WEB_ACL], [WEB_ACL_LOGGING], "resourceArn"):
        yield f"web ACL {acl.name} logs no requests", acl.urn


def _waf_destination(props: Props, _: Config) -> Iterable[str]:
    for arn in listed(props.get("logDestinationConfigs")):
        # A log group's name is what follows ":log-group:" (it may contain "/"); a Firehose
        # stream's what follows ":deliverystream/"; a bucket's what follows ":::".
        text = str(arn)
        if ":deliverystream/" in text:
            name = text.split(":deliverystream/", 1)[1]
        else:
            name = text.split(":log-group:", 1)[-1].split(":::", 1)[-1]
        if not name.startswith("aws-waf-logs-"):
            yield f"logs to {arn}, whose name does not start with aws-waf-logs-"


def _alb_waf(args: StackValidationArgs, _: Config) -> Iterable[tuple[str, str | None]]:
    for alb in unattached(args, LOAD_BALANCERS, [WEB_ACL_ASSOCIATION], "resourceArn"):
        if alb.props.get("internal") is True:
            continue
        if alb.props.get("loadBalancerType", "application") != "application":
            continue
        yield f"internet-facing load balancer {alb.name} has no WAF web ACL", alb.urn


def _desync(props: Props, config: Config) -> Iterable[str]:
    mode = props.get("desyncMitigationMode")
    application = props.get("loadBalancerType", "application") == "application"
    if application and mode is not None and mode not in config["allowedModes"]:
        yield f"mitigates HTTP desync only in {mode} mode"


RULES = [
    resource_rule(
        "sg-no-open-egress",
        "Security groups do not let every protocol and port out to the internet.",
        types=[SECURITY_GROUP, SG_RULE, EGRESS_RULE],
        check=_open_egress,
        severity=Severity.MEDIUM,
        fix="Allow only the ports the workload needs (443, the VPC range), or list the group in "
        "exemptGroupPatterns when it must reach anything.",
        schema={
            "exemptGroupPatterns": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Group names, name prefixes, Name tags or IDs (glob patterns) "
                "that may send anything anywhere.",
            }
        },
    ),
    resource_rule(
        "subnet-public-ip-only-in-public-tier",
        "Only subnets of the public tier give instances public IP addresses.",
        types=[SUBNET],
        check_args=_public_subnet,
        fix="Set mapPublicIpOnLaunch=false outside the public tier (or name the tier to match "
        "publicTierPattern).",
        schema={
            "publicTierPattern": {
                "type": "string",
                "default": "*public*",
                "description": "Glob pattern on a subnet's name or Name tag that marks the public tier.",
            }
        },
    ),
    resource_rule(
        "launch-template-no-public-ip",
        "Launch templates give their instances no public IP address.",
        types=[LAUNCH_TEMPLATE],
        check=_template_public_ip,
        fix="Set networkInterfaces[].associatePublicIpAddress=false and place instances in private "
        "subnets.",
    ),
    stack_rule(
        "nacl-no-open-admin-ports",
        "Network ACLs never admit the internet on SSH (22) or RDP (3389), in rule-number order.",
        check=_nacl_admin,
        fix="Limit the rule to known CIDRs or deny 22 and 3389 from 0.0.0.0/0 and ::/0 in a "
        "lower-numbered rule; use SSM Session Manager instead of open admin ports.",
    ),
    resource_rule(
        "cloudfront-origin-tls",
        "CloudFront offers custom origins TLS 1.2 only.",
        types=[DISTRIBUTION],
        check=_origin_tls,
        fix='Set customOriginConfig.originSslProtocols to ["TLSv1.2"].',
    ),
    stack_rule(
        "waf-logging",
        "Every WAF web ACL logs its requests.",
        check=_waf_logging,
        fix="Add an aws.wafv2.WebAclLoggingConfiguration whose resourceArn is the web ACL's ARN, "
        "to a KMS-encrypted log group named aws-waf-logs-*.",
    ),
    resource_rule(
        "waf-logging-destination-name",
        "WAF logs go to destinations named aws-waf-logs-*, the only names WAF accepts.",
        types=[WEB_ACL_LOGGING],
        check=_waf_destination,
        severity=Severity.MEDIUM,
        fix="Name the log group, bucket or Firehose stream aws-waf-logs-<name>.",
    ),
    stack_rule(
        "alb-waf",
        "Every internet-facing application load balancer is protected by a WAF web ACL.",
        check=_alb_waf,
        fix="Add an aws.wafv2.WebAclAssociation of a REGIONAL web ACL whose resourceArn is the "
        "load balancer's ARN.",
    ),
    resource_rule(
        "alb-desync-mitigation",
        "Application load balancers mitigate HTTP desync in defensive or strictest mode.",
        types=LOAD_BALANCERS,
        check=_desync,
        severity=Severity.MEDIUM,
        fix="Leave desyncMitigationMode unset (defensive) or set it to defensive or strictest.",
        schema={
            "allowedModes": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["defensive", "strictest"],
                "description": "Desync mitigation modes a load balancer may use.",
            }
        },
    ),
]
