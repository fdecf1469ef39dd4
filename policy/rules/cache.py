"""ElastiCache replication groups: encrypted at rest with a customer key and in transit,
authenticated, highly available, upgraded, logged and snapshotted."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import Severity

from .core import Config, Props, given, listed, mapping, number, resource_rule

GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
# The logs ElastiCache delivers for Valkey and Redis OSS (ElastiCache User Guide, "Log delivery").
LOG_TYPES = ("slow-log", "engine-log")


def _encrypted(props: Props, _: Config) -> Iterable[str]:
    if props.get("atRestEncryptionEnabled") is not True:
        yield "stores data and snapshots unencrypted"
    elif not props.get("kmsKeyId"):
        yield "is encrypted with the AWS-managed key instead of a customer key"


def _tls(props: Props, _: Config) -> Iterable[str]:
    if props.get("transitEncryptionEnabled") is not True:
        yield "accepts connections without TLS"
    elif props.get("transitEncryptionMode") == "preferred":
        yield "still accepts connections without TLS (transitEncryptionMode preferred)"


def _authenticated(props: Props, _: Config) -> Iterable[str]:
    if not given(props, "authToken") and not listed(props.get("userGroupIds")):
        yield "lets any client in without an AUTH token or RBAC user group"


def _multi_az(props: Props, _: Config) -> Iterable[str]:
    nodes = props.get("numCacheClusters") or 1
    if nodes < 2:
        yield f"has {number(nodes)} node, which one zone's outage takes down"
    if props.get("automaticFailoverEnabled") is not True or props.get("multiAzEnabled") is not True:
        yield "does not fail over automatically to a replica in another zone"


def _minor_upgrades(props: Props, _: Config) -> Iterable[str]:
    if props.get("autoMinorVersionUpgrade") is False:
        yield "does not take minor version upgrades automatically"


def _logged(props: Props, _: Config) -> Iterable[str]:
    delivered = {
        mapping(c).get("logType")
        for c in listed(props.get("logDeliveryConfigurations"))
        if mapping(c).get("destinationType") == "cloudwatch-logs"
    }
    missing = [log for log in LOG_TYPES if log not in delivered]
    if missing:
        yield f"does not deliver its {' and '.join(missing)} to CloudWatch Logs"


def _snapshots(props: Props, config: Config) -> Iterable[str]:
    days = props.get("snapshotRetentionLimit") or 0
    if days < config["minDays"]:
        yield f"keeps snapshots {number(days)} days, fewer than {number(config['minDays'])}"


RULES = [
    resource_rule(
        "elasticache-encrypted-with-cmk",
        "ElastiCache replication groups encrypt data at rest with a customer KMS key.",
        types=[GROUP],
        check=_encrypted,
        severity=Severity.CRITICAL,
        fix="Set atRestEncryptionEnabled=true and kmsKeyId to a customer key with rotation on.",
    ),
    resource_rule(
        "elasticache-tls-required",
        "ElastiCache replication groups accept TLS connections only.",
        types=[GROUP],
        check=_tls,
        severity=Severity.HIGH,
        fix="Set transitEncryptionEnabled=true and transitEncryptionMode=required.",
    ),
    resource_rule(
        "elasticache-authenticated",
        "ElastiCache replication groups require an AUTH token or an RBAC user group.",
        types=[GROUP],
        check=_authenticated,
        severity=Severity.CRITICAL,
        fix="Set authToken (generated, kept in Secrets Manager) or userGroupIds.",
    ),
    resource_rule(
        "elasticache-multi-az",
        "ElastiCache replication groups keep a replica in another zone and fail over to it.",
        types=[GROUP],
        check=_multi_az,
        fix="Set numCacheClusters to 2 or more, automaticFailoverEnabled and multiAzEnabled; "
        "lower this rule to advisory where one node is intended.",
    ),
    resource_rule(
        "elasticache-auto-minor-upgrade",
        "ElastiCache replication groups take minor and patch versions automatically.",
        types=[GROUP],
        check=_minor_upgrades,
        severity=Severity.MEDIUM,
        fix="Set autoMinorVersionUpgrade=true.",
    ),
    resource_rule(
        "elasticache-logs",
        "ElastiCache replication groups deliver their slow and engine logs to CloudWatch Logs.",
        types=[GROUP],
        check=_logged,
        severity=Severity.MEDIUM,
        fix="Add logDeliveryConfigurations for slow-log and engine-log to KMS-encrypted log "
        "groups.",
    ),
    resource_rule(
        "elasticache-snapshot-retention",
        "ElastiCache replication groups keep daily snapshots for at least the configured days.",
        types=[GROUP],
        check=_snapshots,
        fix="Raise snapshotRetentionLimit (1 to 35 days) with a snapshotWindow outside the "
        "maintenance window.",
        schema={
            "minDays": {"type": "integer", "default": 7, "description": "Fewest days of snapshots."}
        },
    ),
]
