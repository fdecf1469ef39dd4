"""Amazon MQ brokers: private, encrypted with a customer key where the engine allows one,
highly available, upgraded and logged."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import Severity

from .core import Config, Props, mapping, resource_rule

BROKER = "aws:mq/broker:Broker"
# Deployment modes that survive the loss of a zone, per engine (Amazon MQ API reference,
# DeploymentMode: SINGLE_INSTANCE, ACTIVE_STANDBY_MULTI_AZ for ActiveMQ, CLUSTER_MULTI_AZ for
# RabbitMQ).
MULTI_AZ = {"rabbitmq": "CLUSTER_MULTI_AZ", "activemq": "ACTIVE_STANDBY_MULTI_AZ"}


def _engine(props: Props) -> str:
    return str(props.get("engineType") or "").lower()


def _private(props: Props, _: Config) -> Iterable[str]:
    if props.get("publiclyAccessible") is True:
        yield "is reachable from the internet"


def _customer_key(props: Props, _: Config) -> Iterable[str]:
    # RabbitMQ brokers take no key: "EncryptionOptions ... Does not apply to RabbitMQ brokers"
    # (CloudFormation, AWS::AmazonMQ::Broker EncryptionOptions); AWS encrypts them with an AWS
    # owned key, which is all that can be asked of them.
    if _engine(props) == "rabbitmq":
        return
    options = mapping(props.get("encryptionOptions"))
    if options.get("useAwsOwnedKey") is not False or not options.get("kmsKeyId"):
        yield "is encrypted with an AWS owned key instead of a customer key"


def _multi_az(props: Props, _: Config) -> Iterable[str]:
    wanted = MULTI_AZ.get(_engine(props))
    mode = props.get("deploymentMode") or "SINGLE_INSTANCE"
    if wanted and str(mode).upper() != wanted:
        yield f"runs as {mode}, which one zone's outage takes down (use {wanted})"


def _minor_upgrades(props: Props, _: Config) -> Iterable[str]:
    if props.get("autoMinorVersionUpgrade") is not True:
        yield "does not take minor version upgrades automatically"


def _logged(props: Props, _: Config) -> Iterable[str]:
    if mapping(props.get("logs")).get("general") is not True:
        yield "does not send its general logs to CloudWatch"


RULES = [
    resource_rule(
        "mq-not-public",
        "Amazon MQ brokers are not publicly accessible.",
        types=[BROKER],
        check=_private,
        severity=Severity.CRITICAL,
        fix="Set publiclyAccessible=false and place the broker in private subnets.",
    ),
    resource_rule(
        "mq-encrypted-with-cmk",
        "Amazon MQ brokers encrypt data with a customer KMS key where the engine accepts one "
        "(ActiveMQ; RabbitMQ takes only an AWS owned key).",
        types=[BROKER],
        check=_customer_key,
        fix="Set encryptionOptions with useAwsOwnedKey=false and kmsKeyId to a customer key.",
    ),
    resource_rule(
        "mq-multi-az",
        "Amazon MQ brokers span availability zones (a RabbitMQ cluster, an ActiveMQ "
        "active/standby pair).",
        types=[BROKER],
        check=_multi_az,
        fix="Set deploymentMode to CLUSTER_MULTI_AZ (RabbitMQ) or ACTIVE_STANDBY_MULTI_AZ "
        "(ActiveMQ); lower this rule to advisory where a single instance is intended.",
    ),
    resource_rule(
        "mq-auto-minor-upgrade",
        "Amazon MQ brokers take minor and patch versions automatically.",
        types=[BROKER],
        check=_minor_upgrades,
        severity=Severity.MEDIUM,
        fix="Set autoMinorVersionUpgrade=true (RabbitMQ 3.13 and later require it).",
    ),
    resource_rule(
        "mq-general-logs",
        "Amazon MQ brokers send their general logs to CloudWatch Logs.",
        types=[BROKER],
        check=_logged,
        severity=Severity.MEDIUM,
        fix="Set logs.general=true.",
    ),
]
