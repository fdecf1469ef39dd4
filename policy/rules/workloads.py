"""Compute and data: ECS task isolation, EKS node access, RDS operations, ECR images, SQS."""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatch

from pulumi_policy import Severity, StackValidationArgs

from .core import (
    Config,
    Props,
    containers,
    depends_on,
    listed,
    mapping,
    number,
    resource_rule,
    stack_rule,
    unattached,
)

TASK = "aws:ecs/taskDefinition:TaskDefinition"
NODE_GROUPS = ("aws:eks/nodeGroup:NodeGroup", "eks:index:ManagedNodeGroup")
CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/instance:Instance"
CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
CLUSTER_PARAMETERS = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
PARAMETERS = "aws:rds/parameterGroup:ParameterGroup"
REPOSITORY = "aws:ecr/repository:Repository"
REPOSITORY_LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
QUEUE = "aws:sqs/queue:Queue"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
# Variable names that hold secrets: PASSWORD, SECRET, TOKEN, CREDENTIAL anywhere; KEY as the last
# word (API_KEY, SIGNING_KEY, stripe-key) or in ACCESS_KEY / PRIVATE_KEY / APIKEY; not MONKEY.
SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|(?:^|[_\-.])KEY$|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY",
    re.I,
)


def _host_namespaces(props: Props, _: Config) -> Iterable[str]:
    if props.get("networkMode") == "host":
        yield "shares the host's network namespace (networkMode host)"
    if props.get("pidMode") == "host":
        yield "shares the host's process namespace (pidMode host)"


def _plain_secrets(props: Props, _: Config) -> Iterable[str]:
    for container in containers(props.get("containerDefinitions")):
        for variable in listed(container.get("environment")):
            name, value = mapping(variable).get("name"), mapping(variable).get("value")
            if name and value and SECRET_NAME.search(str(name)):
                yield (
                    f"passes {name} to container {container.get('name')} as a plain "
                    "environment variable"
                )


def _distinct_roles(props: Props, _: Config) -> Iterable[str]:
    task, execution = props.get("taskRoleArn"), props.get("executionRoleArn")
    if task and task == execution:
        yield "gives the application its execution role (image pulls, secrets) as task role"


def _node_ssh(props: Props, _: Config) -> Iterable[str]:
    remote = mapping(props.get("remoteAccess"))
    if remote and not listed(remote.get("sourceSecurityGroupIds")):
        yield "admits SSH to its nodes from anywhere (remoteAccess without source security groups)"


def _copy_tags(props: Props, _: Config) -> Iterable[str]:
    if props.get("copyTagsToSnapshot") is not True:
        yield "does not copy its tags to snapshots"


def _log_exports(props: Props, _: Config) -> Iterable[str]:
    if not listed(props.get("enabledCloudwatchLogsExports")):
        yield "exports no database logs to CloudWatch Logs"


def _minor_upgrades(props: Props, _: Config) -> Iterable[str]:
    if props.get("autoMinorVersionUpgrade") is False:
        yield "never applies minor version upgrades"


def _insights_key(props: Props, _: Config) -> Iterable[str]:
    enabled = props.get("performanceInsightsEnabled") is True or props.get(
        "databaseInsightsMode"
    ) in ("advanced",)
    if enabled and not props.get("performanceInsightsKmsKeyId"):
        yield "encrypts Performance Insights with the AWS-managed key"


# RDS for PostgreSQL 15 and later sets rds.force_ssl to 1 by default, 14 and older to 0 (Amazon
# RDS User Guide, "Using SSL with a PostgreSQL DB instance": "Requiring an SSL connection").
# Aurora PostgreSQL documents the default as 0 (off) with no version exception (Aurora User Guide,
# "Updating applications to connect to Aurora PostgreSQL DB clusters using new SSL/TLS
# certificates"), so an Aurora group must set it.
RDS_POSTGRES = re.compile(r"^postgres(\d+)")
FORCE_SSL_DEFAULT_FROM = 15


def _default_force_ssl(family: str) -> str:
    found = RDS_POSTGRES.match(family)
    return "1" if found and int(found.group(1)) >= FORCE_SSL_DEFAULT_FROM else "0"


def _force_ssl(props: Props, _: Config) -> Iterable[str]:
    family = str(props.get("family", ""))
    if "postgres" not in family:
        return
    values = {
        mapping(p).get("name"): number(mapping(p).get("value"))
        for p in listed(props.get("parameters"))
    }
    value = values.get("rds.force_ssl")
    if value is None and _default_force_ssl(family) != "1":
        yield f"leaves rds.force_ssl at its default 0 for {family}, so clients may connect without TLS"
    elif value is not None and value != "1":
        yield f"lets clients connect without TLS (rds.force_ssl is {value})"


def _multi_az(args: StackValidationArgs, config: Config) -> Iterable[tuple[str, str | None]]:
    members = [r for r in args.resources if r.resource_type == CLUSTER_INSTANCE]
    minimum = config["minInstances"]
    for db in args.resources:
        if db.resource_type == CLUSTER:
            count = sum(1 for m in members if depends_on(m, db, "clusterIdentifier"))
        elif db.resource_type == INSTANCE and not db.props.get("replicateSourceDb"):
            count = 2 if db.props.get("multiAz") is True else 1
        else:
            continue
        if count < minimum:
            yield (
                f"database {db.name} runs {count} instance(s), fewer than {number(minimum)} "
                "across availability zones",
                db.urn,
            )


def _ecr_lifecycle(args: StackValidationArgs, _: Config) -> Iterable[tuple[str, str | None]]:
    for repository in unattached(args, [REPOSITORY], [REPOSITORY_LIFECYCLE], "repository"):
        yield f"repository {repository.name} has no lifecycle policy", repository.urn


def _bucket_lifecycle(args: StackValidationArgs, _: Config) -> Iterable[tuple[str, str | None]]:
    for bucket in unattached(args, [BUCKET], [BUCKET_LIFECYCLE], "bucket"):
        yield f"bucket {bucket.name} has no lifecycle configuration", bucket.urn


def _ecr_key(props: Props, _: Config) -> Iterable[str]:
    configs = [mapping(c) for c in listed(props.get("encryptionConfigurations"))]
    if not any(c.get("encryptionType") == "KMS" and c.get("kmsKey") for c in configs):
        yield "encrypts images without a customer KMS key"


def _dead_letters(props: Props, config: Config) -> Iterable[str]:
    if props.get("redrivePolicy") or props.get("redriveAllowPolicy"):
        return
    names = (props.get("name"), props.get("namePrefix"))
    if any(fnmatch(str(n), p) for n in names if n for p in config["deadLetterPatterns"]):
        return
    yield "has no dead-letter queue (redrivePolicy)"


RDS_TYPES = (CLUSTER, INSTANCE)

RULES = [
    resource_rule(
        "ecs-no-host-namespaces",
        "Task definitions share neither the host's network nor its process namespace.",
        types=[TASK],
        check=_host_namespaces,
        fix="Use networkMode awsvpc and leave pidMode unset (or task).",
    ),
    resource_rule(
        "ecs-no-secrets-in-environment",
        "Containers get secrets by reference, never as plain environment variables.",
        types=[TASK],
        check=_plain_secrets,
        severity=Severity.CRITICAL,
        fix="Move the value to Secrets Manager or SSM Parameter Store and pass it in the "
        "container's secrets (valueFrom).",
    ),
    resource_rule(
        "ecs-task-role-not-execution-role",
        "Task definitions give the application a task role distinct from the execution role.",
        types=[TASK],
        check=_distinct_roles,
        fix="Create a task role with only the application's permissions; keep image pulls and "
        "secret reads on the execution role.",
    ),
    resource_rule(
        "eks-node-group-no-open-ssh",
        "EKS node groups admit SSH only from named security groups.",
        types=NODE_GROUPS,
        check=_node_ssh,
        fix="Drop remoteAccess (use SSM Session Manager) or set remoteAccess.sourceSecurityGroupIds.",
    ),
    resource_rule(
        "rds-copy-tags-to-snapshots",
        "Databases copy their tags to snapshots.",
        types=(*RDS_TYPES, CLUSTER_INSTANCE),
        check=_copy_tags,
        severity=Severity.LOW,
        fix="Set copyTagsToSnapshot=true.",
    ),
    resource_rule(
        "rds-log-exports",
        "Databases export their logs to CloudWatch Logs.",
        types=RDS_TYPES,
        check=_log_exports,
        severity=Severity.MEDIUM,
        fix="Set enabledCloudwatchLogsExports (postgresql for PostgreSQL engines).",
    ),
    resource_rule(
        "rds-auto-minor-version-upgrade",
        "Database instances apply minor version upgrades automatically.",
        types=(INSTANCE, CLUSTER_INSTANCE, CLUSTER),
        check=_minor_upgrades,
        severity=Severity.MEDIUM,
        fix="Set autoMinorVersionUpgrade=true (it is the default).",
    ),
    stack_rule(
        "rds-multi-az",
        "Databases run instances in more than one availability zone.",
        check=_multi_az,
        severity=Severity.MEDIUM,
        fix="Add reader instances in other zones to the cluster (or multiAz=true on an instance).",
        schema={
            "minInstances": {
                "type": "integer",
                "default": 2,
                "description": "Fewest instances (writer and readers) per database.",
            }
        },
    ),
    resource_rule(
        "rds-performance-insights-cmk",
        "Performance Insights data is encrypted with a customer KMS key.",
        types=(INSTANCE, CLUSTER_INSTANCE, CLUSTER),
        check=_insights_key,
        fix="Set performanceInsightsKmsKeyId to a customer key.",
    ),
    resource_rule(
        "rds-force-ssl",
        "PostgreSQL parameter groups refuse connections without TLS (rds.force_ssl 1, set or by "
        "the family's default).",
        types=(CLUSTER_PARAMETERS, PARAMETERS),
        check=_force_ssl,
        fix="Set the parameter rds.force_ssl to 1 (required for Aurora PostgreSQL and RDS for "
        "PostgreSQL 14 and older, whose default is 0).",
    ),
    stack_rule(
        "ecr-lifecycle-policy",
        "Every ECR repository has a lifecycle policy.",
        check=_ecr_lifecycle,
        severity=Severity.MEDIUM,
        fix="Add an aws.ecr.LifecyclePolicy that expires untagged and old images.",
    ),
    stack_rule(
        "s3-lifecycle-configured",
        "Every S3 bucket has a lifecycle configuration.",
        check=_bucket_lifecycle,
        severity=Severity.LOW,
        fix="Add an aws.s3.BucketLifecycleConfiguration whose bucket is the bucket's ID (expire "
        "or tier objects, expire noncurrent versions, abort incomplete multipart uploads).",
    ),
    resource_rule(
        "ecr-customer-key",
        "ECR repositories encrypt images with a customer KMS key.",
        types=[REPOSITORY],
        check=_ecr_key,
        severity=Severity.MEDIUM,
        fix="Set encryptionConfigurations to [{encryptionType: KMS, kmsKey: <customer key ARN>}].",
    ),
    resource_rule(
        "sqs-dead-letter-queue",
        "SQS queues move failing messages to a dead-letter queue, unless they are one.",
        types=[QUEUE],
        check=_dead_letters,
        severity=Severity.MEDIUM,
        fix="Set redrivePolicy to a dead-letter queue, or name the queue to match "
        "deadLetterPatterns when it is one.",
        schema={
            "deadLetterPatterns": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["*dlq*", "*dead-letter*", "*deadletter*"],
                "description": "Queue names (glob patterns) that are dead-letter queues.",
            }
        },
    ),
]
