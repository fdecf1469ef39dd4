"""RDS and Aurora: encrypted with a customer key, private, backed up, protected, managed secrets."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import ResourceValidationArgs, Severity

from .core import Config, Props, number, resource_rule

CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/instance:Instance"
CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
STORAGE = (CLUSTER, INSTANCE)


def _encrypted(props: Props, _: Config) -> Iterable[str]:
    if props.get("storageEncrypted") is not True:
        yield "stores data unencrypted"
    elif not props.get("kmsKeyId"):
        yield "is encrypted with the AWS-managed key instead of a customer key"


def _private(props: Props, _: Config) -> Iterable[str]:
    if props.get("publiclyAccessible"):
        yield "is reachable from the internet"


def _retention(props: Props, config: Config) -> Iterable[str]:
    days = props.get("backupRetentionPeriod") or 1
    if days < config["minDays"]:
        yield f"keeps backups {number(days)} days, fewer than {number(config['minDays'])}"


def _iam_auth(props: Props, _: Config) -> Iterable[str]:
    if props.get("iamDatabaseAuthenticationEnabled") is not True:
        yield "does not accept IAM authentication"


# The same settings under their cluster and instance names (aws.rds.Cluster: masterPassword,
# replicationSourceIdentifier; aws.rds.Instance: password, replicateSourceDb).
PASSWORD_FIELDS = ("masterPassword", "masterPasswordWo", "password", "passwordWo")
REPLICA_FIELDS = ("replicationSourceIdentifier", "replicateSourceDb")


def _managed_password(props: Props, _: Config) -> Iterable[str]:
    if any(props.get(field) for field in PASSWORD_FIELDS):
        yield "takes its master password from the program (it lands in state)"
    elif props.get("manageMasterUserPassword") is not True and not any(
        props.get(field) for field in REPLICA_FIELDS
    ):
        yield "does not let RDS manage the master password in Secrets Manager"


def _insights(props: Props, _: Config) -> Iterable[str]:
    if props.get("performanceInsightsEnabled") is not True:
        yield "has Performance Insights off"


def _protected(args: ResourceValidationArgs, _: Config) -> Iterable[str]:
    if args.props.get("deletionProtection") is not True:
        yield "has deletion protection off"
    if not args.opts.protect:
        yield "is not protected by Pulumi (protect=True)"
    if args.props.get("skipFinalSnapshot") is True:
        yield "skips its final snapshot"


RULES = [
    resource_rule(
        "rds-encrypted-with-cmk",
        "Databases encrypt storage with a customer-managed KMS key.",
        types=STORAGE,
        check=_encrypted,
        severity=Severity.CRITICAL,
        fix="Set storageEncrypted=true and kmsKeyId to a customer key with rotation on.",
    ),
    resource_rule(
        "rds-not-public",
        "Database instances are not publicly accessible.",
        types=(INSTANCE, CLUSTER_INSTANCE),
        check=_private,
        severity=Severity.CRITICAL,
        fix="Set publiclyAccessible=false and place the database in isolated subnets.",
    ),
    resource_rule(
        "rds-backup-retention",
        "Databases keep automated backups for at least the configured number of days.",
        types=STORAGE,
        check=_retention,
        fix="Raise backupRetentionPeriod (1 to 35 days).",
        schema={
            "minDays": {"type": "integer", "default": 7, "description": "Fewest days of backups."}
        },
    ),
    resource_rule(
        "rds-deletion-protection",
        "Databases are protected from deletion: AWS deletion protection, Pulumi protect and a "
        "final snapshot.",
        types=STORAGE,
        check_args=_protected,
        fix="Turn on deletionProtection, protect=True and a final snapshot (lower this rule to "
        "advisory where the stack is destroyable).",
    ),
    resource_rule(
        "rds-iam-authentication",
        "Databases accept IAM authentication.",
        types=STORAGE,
        check=_iam_auth,
        severity=Severity.MEDIUM,
        fix="Set iamDatabaseAuthenticationEnabled=true.",
    ),
    resource_rule(
        "rds-managed-master-password",
        "Database master passwords are managed by RDS, never passed in.",
        types=STORAGE,
        check=_managed_password,
        severity=Severity.CRITICAL,
        fix="Remove masterPassword and set manageMasterUserPassword=true.",
    ),
    resource_rule(
        "rds-performance-insights",
        "Database instances have Performance Insights on.",
        types=(INSTANCE, CLUSTER_INSTANCE),
        check=_insights,
        severity=Severity.LOW,
        fix="Set performanceInsightsEnabled=true with a customer KMS key.",
    ),
]
