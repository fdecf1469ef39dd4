"""Network: a VPC with public, private and isolated subnets in every zone, NAT, endpoints, flow logs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_awsx as awsx

from components.common import (
    StackContext,
    Statement,
    allow,
    kms_key,
    log_group,
    logs_key_statement,
    policy_document,
    role,
    service_trust,
)
from components.settings import NatMode, NetworkSettings
from components.tagging import component_tags

COMPONENT = "network"

NAT_STRATEGY = {
    NatMode.SINGLE: awsx.ec2.NatGatewayStrategy.SINGLE,
    NatMode.PER_AZ: awsx.ec2.NatGatewayStrategy.ONE_PER_AZ,
    NatMode.NONE: awsx.ec2.NatGatewayStrategy.NONE,
}

# Services reached through interface endpoints, so image pulls, logs, secrets and STS calls stay
# inside the VPC (and off the NAT gateways' per-GB charge).
INTERFACE_ENDPOINT_SERVICES = ("ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts")


def own_principals(ctx: StackContext) -> Statement:
    """Endpoint policy statement: anything, for principals of this account only. Data-perimeter
    endpoint policies limit callers by aws:PrincipalAccount (AWS PrivateLink Guide, "Control
    access to VPC endpoints using endpoint policies"; aws-samples/data-perimeter-policy-examples)."""
    return {
        "Sid": "OwnAccountPrincipals",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": "*",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalAccount": ctx.account_id}},
    }


def ecr_layers(ctx: StackContext) -> Statement:
    """ECR serves image layers from an AWS-owned bucket through presigned requests that carry
    no credentials of this account: the S3 gateway must let them through (Amazon ECR User
    Guide, "Amazon ECR interface VPC endpoints": minimum Amazon S3 bucket permissions)."""
    return {
        "Sid": "EcrImageLayers",
        "Effect": "Allow",
        "Principal": "*",
        "Action": ["s3:GetObject"],
        "Resource": [f"arn:{ctx.partition}:s3:::prod-{ctx.region}-starport-layer-bucket/*"],
    }


def web_identities(ctx: StackContext) -> Statement:
    """Pods' IAM roles for service accounts call AssumeRoleWithWebIdentity without AWS
    credentials, so aws:PrincipalAccount is absent (IAM User Guide, "Control access to AWS STS
    with VPC endpoint policies"); they may assume this account's roles only, pinned by the
    resource's account as the data-perimeter STS endpoint policy does."""
    return {
        "Sid": "WebIdentitiesIntoOwnRoles",
        "Effect": "Allow",
        "Principal": {"Federated": "*"},
        "Action": ["sts:AssumeRoleWithWebIdentity"],
        "Resource": [f"arn:{ctx.partition}:iam::{ctx.account_id}:role/*"],
        "Condition": {"StringEquals": {"aws:ResourceAccount": ctx.account_id}},
    }


def endpoint_policy(service: str, ctx: StackContext) -> pulumi.Output[str]:
    """The least-privilege policy of the endpoint of `service` (s3, sts, ecr.api...); every
    service the program reaches through an endpoint supports endpoint policies."""
    extra = {"s3": [ecr_layers(ctx)], "sts": [web_identities(ctx)]}.get(service, [])
    return policy_document([own_principals(ctx), *extra])


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    """settings: the stack's `network` section. ctx: account, region, retention and protection."""

    settings: NetworkSettings
    ctx: StackContext


def zone_prefix(vpc_prefix: int) -> int:
    """Each zone gets a quarter of the VPC, whether it spans 2 or 3 zones: the layout of a zone
    never changes when the zone count does."""
    return vpc_prefix + 2


def subnet_specs(vpc_prefix: int) -> list[awsx.ec2.SubnetSpecArgs]:
    """Per zone: private gets half of the zone's block, public and isolated a quarter each.

    awsx packs specs in this order from the start of each zone's block, so the largest comes first
    to keep every subnet aligned.
    """
    zone = zone_prefix(vpc_prefix)
    # The Kubernetes load balancer controller picks subnets by these role tags.
    return [
        awsx.ec2.SubnetSpecArgs(type=awsx.ec2.SubnetType.PRIVATE, name="private", cidr_mask=zone + 1,
                                tags={"kubernetes.io/role/internal-elb": "1"}),
        awsx.ec2.SubnetSpecArgs(type=awsx.ec2.SubnetType.PUBLIC, name="public", cidr_mask=zone + 2,
                                tags={"kubernetes.io/role/elb": "1"}),
        # Isolated, not private: the database tier gets no route to the internet at all.
        awsx.ec2.SubnetSpecArgs(type=awsx.ec2.SubnetType.ISOLATED, name="isolated", cidr_mask=zone + 2),
    ]  # fmt: skip


def nat_gateway_count(mode: NatMode, zones: int) -> int:
    return {NatMode.SINGLE: 1, NatMode.PER_AZ: zones, NatMode.NONE: 0}[mode]


class Network(pulumi.ComponentResource):
    """VPC over N zones with public, private and isolated subnets, NAT, endpoints and flow logs."""

    vpc_id: pulumi.Output[str]
    cidr: str
    zone_names: list[str]
    nat_gateway_count: int
    nat_gateway_ids: list[pulumi.Output[str]]
    public_subnet_ids: pulumi.Output[Sequence[str]]
    private_subnet_ids: pulumi.Output[Sequence[str]]
    isolated_subnet_ids: pulumi.Output[Sequence[str]]
    flow_log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:network:Network", name, None, opts)
        settings, ctx = args.settings, args.ctx
        tags = component_tags(COMPONENT)
        self.cidr = settings.cidr
        self.zone_names = self._zones(settings.zones, ctx)
        self.nat_gateway_count = nat_gateway_count(settings.nat_mode, settings.zones)

        prefix = int(settings.cidr.split("/")[1])
        vpc = awsx.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=settings.cidr,
            availability_zone_names=self.zone_names,
            subnet_strategy=awsx.ec2.SubnetAllocationStrategy.AUTO,
            availability_zone_cidr_mask=zone_prefix(prefix),
            subnet_specs=subnet_specs(prefix),
            nat_gateways=awsx.ec2.NatGatewayConfigurationArgs(
                strategy=NAT_STRATEGY[settings.nat_mode]
            ),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.vpc_id = vpc.vpc_id
        self.public_subnet_ids = vpc.public_subnet_ids
        self.private_subnet_ids = vpc.private_subnet_ids
        self.isolated_subnet_ids = vpc.isolated_subnet_ids
        self.nat_gateway_ids = [
            vpc.nat_gateways.apply(lambda gateways, i=index: gateways[i].id)
            for index in range(self.nat_gateway_count)
        ]

        # Adopting the default security group with no rules leaves nothing that can silently
        # fall back to it.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=vpc.vpc_id,
            ingress=[],
            egress=[],
            tags={**tags, "Name": f"{name}-default-locked"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._s3_gateway_endpoint(name, vpc, ctx, tags)
        if settings.interface_endpoints:
            self._interface_endpoints(name, ctx, tags)
        self.flow_log_group_name = self._flow_logs(name, ctx, tags)

        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "cidr": self.cidr,
                "zoneNames": self.zone_names,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
                "isolatedSubnetIds": self.isolated_subnet_ids,
                "flowLogGroupName": self.flow_log_group_name,
            }
        )

    def _zones(self, count: int, ctx: StackContext) -> list[str]:
        # Looked up once and passed explicitly, so the subnet layout never depends on awsx's own
        # defaults; opt-in (local) zones are left out.
        found = aws.get_availability_zones(
            state="available",
            filters=[
                aws.GetAvailabilityZonesFilterArgs(
                    name="opt-in-status", values=["opt-in-not-required"]
                )
            ],
            opts=pulumi.InvokeOptions(parent=self),
        ).names
        if len(found) < count:
            raise pulumi.RunError(
                f"stack {ctx.stack!r}: platform:network.zones = {count}, but region {ctx.region} "
                f"has only {len(found)} available zones ({', '.join(found)})"
            )
        return sorted(found)[:count]

    def _s3_gateway_endpoint(
        self, name: str, vpc: awsx.ec2.Vpc, ctx: StackContext, tags: dict[str, str]
    ) -> None:
        # A gateway endpoint is free and keeps S3 traffic (image layers, pipeline data) off NAT.
        route_table_ids = vpc.route_tables.apply(
            lambda tables: pulumi.Output.all(*[table.id for table in tables])
        )
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.vpc_id,
            service_name=f"com.amazonaws.{ctx.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=route_table_ids,
            policy=endpoint_policy("s3", ctx),
            tags={**tags, "Name": f"{name}-s3"},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _interface_endpoints(self, name: str, ctx: StackContext, tags: dict[str, str]) -> None:
        security_group = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            description="HTTPS from inside the VPC to interface endpoints",
            vpc_id=self.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="HTTPS from the VPC",
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=[self.cidr],
                )
            ],
            tags={**tags, "Name": f"{name}-endpoints"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        for service in INTERFACE_ENDPOINT_SERVICES:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=self.vpc_id,
                service_name=f"com.amazonaws.{ctx.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=self.private_subnet_ids,
                security_group_ids=[security_group.id],
                policy=endpoint_policy(service, ctx),
                tags={**tags, "Name": f"{name}-{service}"},
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _flow_logs(self, name: str, ctx: StackContext, tags: dict[str, str]) -> pulumi.Output[str]:
        key = kms_key(
            f"{name}-logs-key",
            ctx=ctx,
            description=f"{name}: VPC flow logs",
            statements=[logs_key_statement(ctx)],
            parent=self,
            tags=tags,
        )
        group = log_group(
            f"{name}-flow-logs",
            path=f"/{ctx.project}/{ctx.stack}/{COMPONENT}/flow-logs",
            ctx=ctx,
            key=key,
            parent=self,
            tags=tags,
        )
        flow_log_role = role(
            f"{name}-flow-logs",
            description="Lets VPC Flow Logs write into this VPC's flow log group only",
            trust=[
                service_trust(ctx, "vpc-flow-logs", source_arn=ctx.arn("ec2", "vpc-flow-log/*"))
            ],
            statements=[
                allow(
                    ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    [group.arn, group.arn.apply(lambda arn: f"{arn}:*")],
                )
            ],
            parent=self,
            tags=tags,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc_id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=flow_log_role.arn,
            max_aggregation_interval=60,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return group.name
