"""Messaging: Amazon MQ for RabbitMQ in the private subnets, reachable only from admitted groups.

Encryption at rest: Amazon MQ encrypts a RabbitMQ broker's storage with an AWS owned key only;
`encryptionOptions` (a customer key) "does not apply to RabbitMQ brokers" (CloudFormation,
AWS::AmazonMQ::Broker EncryptionOptions). The customer key here encrypts the admin secret.

Logs: with `logs.general`, Amazon MQ publishes to `/aws/amazonmq/broker/<broker id>/general`
through its service-linked role (no resource policy needed: Amazon MQ Developer Guide, "Configuring
Amazon MQ for RabbitMQ logs"). The broker id is assigned at creation, so the group cannot be
created beforehand with the stack's retention and key (README: "Messaging and cache tiers").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.common import StackContext, generated_secret, secret_key, tcp_rule
from components.naming import Limit, child
from components.network import Network
from components.settings import BrokerDeployment, MessagingSettings
from components.tagging import component_tags

COMPONENT = "messaging"
AMQPS_PORT = 5671
CONSOLE_PORT = 443
# Amazon MQ user passwords: 12-250 characters, at least 4 distinct, no ',' ':' '=' (Amazon MQ API
# reference, User Password; the provider checks length, commas and distinct characters:
# broker.go ValidBrokerPassword). Letters and digits only, 32 long, satisfy every rule.
PASSWORD_LENGTH = 32


@dataclass(frozen=True, kw_only=True)
class MessagingArgs:
    """settings: the `messaging` section. network: the private subnets the broker lives in."""

    settings: MessagingSettings
    ctx: StackContext
    network: Network


def _amqps_endpoint(instances: Sequence[aws.mq.outputs.BrokerInstance]) -> str:
    """The broker's AMQPS URL: a cluster too has one instance entry, its load balancer's."""
    endpoints = (instances[0].endpoints if instances else None) or []
    if not endpoints:
        raise pulumi.RunError("Amazon MQ returned no endpoint for the broker")
    return endpoints[0]


def _console_url(instances: Sequence[aws.mq.outputs.BrokerInstance]) -> str:
    url = instances[0].console_url if instances else None
    if not url:
        raise pulumi.RunError("Amazon MQ returned no console URL for the broker")
    return url


class Messaging(pulumi.ComponentResource):
    """A RabbitMQ broker, its admin secret and key, and the security group clients are admitted to."""

    amqps_endpoint: pulumi.Output[str]
    console_url: pulumi.Output[str]
    secret_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    broker_name: pulumi.Output[str]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: MessagingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:messaging:Messaging", name, None, opts)
        self._name, self._tags = name, component_tags(COMPONENT)
        settings, ctx = args.settings, args.ctx
        child_opts = pulumi.ResourceOptions(parent=self)

        key = secret_key(
            f"{name}-key",
            ctx=ctx,
            description=f"{name}: the broker's admin secret",
            statements=[],
            parent=self,
            tags=self._tags,
        )
        password = random.RandomPassword(
            f"{name}-admin-password",
            length=PASSWORD_LENGTH,
            special=False,
            min_upper=1,
            min_lower=1,
            min_numeric=1,
            opts=child_opts,
        )
        self._security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            description="RabbitMQ: AMQPS and the console from admitted client security groups only",
            vpc_id=args.network.vpc_id,
            tags={**self._tags, "Name": name},
            opts=child_opts,
        )
        single = settings.deployment is BrokerDeployment.SINGLE_INSTANCE
        protect = ctx.protect_data
        broker = aws.mq.Broker(
            f"{name}-broker",
            broker_name=child(name, limit=Limit.MQ_BROKER),
            engine_type="RabbitMQ",
            engine_version=settings.engine_version,
            host_instance_type=settings.instance_type,
            deployment_mode=settings.deployment.aws,
            # A single instance lives in one subnet; a cluster spreads over the zones.
            subnet_ids=args.network.private_subnet_ids.apply(lambda ids: list(ids[:1]))
            if single
            else args.network.private_subnet_ids,
            security_groups=[self._security_group.id],
            publicly_accessible=False,
            # RabbitMQ 3.13 and later refuse false: "Brokers on [RabbitMQ] version [3.13] must
            # have [autoMinorVersionUpgrade] set to [true]" (terraform-provider-aws#42516).
            auto_minor_version_upgrade=True,
            maintenance_window_start_time=self._window(settings.maintenance_start),
            logs=aws.mq.BrokerLogsArgs(general=True),
            users=[
                aws.mq.BrokerUserArgs(username=settings.admin_username, password=password.result)
            ],
            apply_immediately=not protect,
            tags=self._tags,
            opts=pulumi.ResourceOptions(
                parent=self, protect=protect, additional_secret_outputs=["users"]
            ),
        )
        secret = generated_secret(
            f"{name}-admin",
            description=f"{name}: RabbitMQ administrator (username, password)",
            fields={"username": settings.admin_username, "password": password.result},
            ctx=ctx,
            key=key,
            parent=self,
            tags=self._tags,
        )

        self.amqps_endpoint = broker.instances.apply(_amqps_endpoint)
        self.console_url = broker.instances.apply(_console_url)
        self.secret_arn = secret.arn
        self.key_arn = key.arn
        self.broker_name = broker.broker_name
        self.security_group_id = self._security_group.id
        self.register_outputs(
            {
                "amqpsEndpoint": self.amqps_endpoint,
                "consoleUrl": self.console_url,
                "secretArn": self.secret_arn,
                "brokerName": self.broker_name,
                "securityGroupId": self.security_group_id,
            }
        )

    @staticmethod
    def _window(start: str) -> aws.mq.BrokerMaintenanceWindowStartTimeArgs:
        day, hours, minutes = start.split(":")
        days = {"mon": "MONDAY", "tue": "TUESDAY", "wed": "WEDNESDAY", "thu": "THURSDAY"}
        days |= {"fri": "FRIDAY", "sat": "SATURDAY", "sun": "SUNDAY"}
        return aws.mq.BrokerMaintenanceWindowStartTimeArgs(
            day_of_week=days[day], time_of_day=f"{hours}:{minutes}", time_zone="UTC"
        )

    def admit(self, client: str, security_group_id: pulumi.Input[str]) -> None:
        """Let one client security group reach AMQPS and the console. `client` names the rules
        for good, so adding or removing a client never renames another client's rules."""
        for port, what in ((AMQPS_PORT, "AMQPS"), (CONSOLE_PORT, "RabbitMQ console (HTTPS)")):
            tcp_rule(
                f"{self._name}-{port}-from-{client}",
                direction="in",
                group_id=self._security_group.id,
                ports=(port, port),
                description=f"{what} from {client}",
                peer_group_id=security_group_id,
                parent=self,
                tags=self._tags,
            )

    def environment(self) -> dict[str, pulumi.Input[str]]:
        """What a client needs besides the credentials: the AMQPS URL of the broker."""
        return {"AMQP_URL": self.amqps_endpoint}

    def secrets(self) -> dict[str, pulumi.Input[str]]:
        """The credentials as ECS secret references (ARN:json-key::)."""
        return {
            "AMQP_USERNAME": self.secret_arn.apply(lambda arn: f"{arn}:username::"),
            "AMQP_PASSWORD": self.secret_arn.apply(lambda arn: f"{arn}:password::"),
        }
