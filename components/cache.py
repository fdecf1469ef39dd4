"""Cache: an ElastiCache for Valkey replication group in the private subnets, encrypted at rest
with a customer key and in transit (TLS required), authenticated with a generated AUTH token."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.common import (
    StackContext,
    generated_secret,
    log_group,
    logs_key_statement,
    secret_key,
    tcp_rule,
)
from components.naming import Limit, child
from components.network import Network
from components.settings import CacheSettings
from components.tagging import component_tags

COMPONENT = "cache"
PORT = 6379
ENGINE = "valkey"
# AUTH tokens: 16-128 printable characters, the only non-alphanumerics ! & # $ ^ < > -
# (ElastiCache API reference, CreateReplicationGroup AuthToken). Letters and digits, 64 long.
TOKEN_LENGTH = 64
# The two logs ElastiCache delivers for Valkey (ElastiCache User Guide, "Log delivery").
LOG_TYPES = ("slow-log", "engine-log")


@dataclass(frozen=True, kw_only=True)
class CacheArgs:
    """settings: the `cache` section. network: the private subnets and zones of the nodes."""

    settings: CacheSettings
    ctx: StackContext
    network: Network


def member_cluster_ids(replication_group_id: str, nodes: int) -> list[str]:
    """The ids ElastiCache gives the nodes of a replication group without cluster mode:
    `<group id>-001`, `-002`, ... (the CacheClusterId dimension of their metrics)."""
    return [f"{replication_group_id}-{number:03d}" for number in range(1, nodes + 1)]


class Cache(pulumi.ComponentResource):
    """A Valkey replication group, its key, logs, AUTH token secret and client security group."""

    primary_endpoint: pulumi.Output[str]
    reader_endpoint: pulumi.Output[str]
    port: int
    secret_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    replication_group_id: str
    member_clusters: list[str]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:cache:Cache", name, None, opts)
        self._name, self._tags = name, component_tags(COMPONENT)
        settings, ctx = args.settings, args.ctx
        child_opts = pulumi.ResourceOptions(parent=self)
        protect = ctx.protect_data
        replicated = settings.nodes > 1

        key = secret_key(
            f"{name}-key",
            ctx=ctx,
            description=f"{name}: cache data, snapshots, AUTH token secret and logs",
            statements=[logs_key_statement(ctx)],
            parent=self,
            tags=self._tags,
        )
        group_id = child(name, limit=Limit.REPLICATION_GROUP)
        logs = {
            log_type: log_group(
                f"{name}-{log_type}",
                path=f"/aws/elasticache/{group_id}/{log_type}",
                ctx=ctx,
                key=key,
                parent=self,
                tags=self._tags,
            )
            for log_type in LOG_TYPES
        }
        token = random.RandomPassword(
            f"{name}-auth-token", length=TOKEN_LENGTH, special=False, opts=child_opts
        )
        self._security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            description="Valkey: TLS on 6379 from admitted client security groups only",
            vpc_id=args.network.vpc_id,
            tags={**self._tags, "Name": name},
            opts=child_opts,
        )
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-subnets",
            description="Private subnets of every zone",
            subnet_ids=args.network.private_subnet_ids,
            tags=self._tags,
            opts=child_opts,
        )
        zones = args.network.zone_names
        group = aws.elasticache.ReplicationGroup(
            f"{name}-group",
            replication_group_id=group_id,
            description=f"{name}: Valkey, primary and {settings.nodes - 1} replicas",
            engine=ENGINE,
            # major.minor: ElastiCache applies the patch versions (auto minor upgrades below).
            engine_version=settings.engine_version,
            node_type=settings.node_type,
            num_cache_clusters=settings.nodes,
            # One node per zone, in order: the primary in the first.
            preferred_cache_cluster_azs=[zones[i % len(zones)] for i in range(settings.nodes)],
            automatic_failover_enabled=replicated,
            multi_az_enabled=replicated,
            port=PORT,
            subnet_group_name=subnets.name,
            security_group_ids=[self._security_group.id],
            at_rest_encryption_enabled=True,
            kms_key_id=key.arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            auth_token=token.result,
            auto_minor_version_upgrade=True,
            maintenance_window=settings.maintenance_window,
            snapshot_retention_limit=settings.snapshot_retention_days,
            snapshot_window=settings.snapshot_window if settings.snapshot_retention_days else None,
            final_snapshot_identifier=f"{group_id}-final" if protect else None,
            log_delivery_configurations=[
                aws.elasticache.ReplicationGroupLogDeliveryConfigurationArgs(
                    destination=logs[log_type].name,
                    destination_type="cloudwatch-logs",
                    log_format="json",
                    log_type=log_type,
                )
                for log_type in LOG_TYPES
            ],
            apply_immediately=not protect,
            tags=self._tags,
            opts=pulumi.ResourceOptions(
                parent=self, protect=protect, additional_secret_outputs=["authToken"]
            ),
        )
        secret = generated_secret(
            f"{name}-auth",
            description=f"{name}: Valkey AUTH token",
            fields={"authToken": token.result},
            ctx=ctx,
            key=key,
            parent=self,
            tags=self._tags,
        )

        self.primary_endpoint = group.primary_endpoint_address
        self.reader_endpoint = group.reader_endpoint_address
        self.port = PORT
        self.secret_arn = secret.arn
        self.key_arn = key.arn
        self.replication_group_id = group_id
        self.member_clusters = member_cluster_ids(group_id, settings.nodes)
        self.security_group_id = self._security_group.id
        self.register_outputs(
            {
                "primaryEndpoint": self.primary_endpoint,
                "readerEndpoint": self.reader_endpoint,
                "port": self.port,
                "secretArn": self.secret_arn,
                "replicationGroupId": self.replication_group_id,
                "securityGroupId": self.security_group_id,
            }
        )

    def admit(self, client: str, security_group_id: pulumi.Input[str]) -> None:
        """Let one client security group reach Valkey. `client` names the rule for good, so
        adding or removing a client never renames another client's rule."""
        tcp_rule(
            f"{self._name}-from-{client}",
            direction="in",
            group_id=self._security_group.id,
            ports=(PORT, PORT),
            description=f"Valkey (TLS) from {client}",
            peer_group_id=security_group_id,
            parent=self,
            tags=self._tags,
        )

    def environment(self) -> dict[str, pulumi.Input[str]]:
        """Where clients connect (over TLS): the primary for writes, the readers for reads."""
        return {
            "CACHE_HOST": self.primary_endpoint,
            "CACHE_READER_HOST": self.reader_endpoint,
            "CACHE_PORT": str(self.port),
            "CACHE_TLS": "true",
        }

    def secrets(self) -> dict[str, pulumi.Input[str]]:
        """The AUTH token as an ECS secret reference (ARN:json-key::)."""
        return {"CACHE_AUTH_TOKEN": self.secret_arn.apply(lambda arn: f"{arn}:authToken::")}
