"""Hardening beyond the baseline: WAF rule groups, ECS Exec audit, scheduler keys, multipart
uploads, SNS sources, Step Functions execution logs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource, Severity, StackValidationArgs

from .core import (
    Config,
    Props,
    depends_on,
    listed,
    mapping,
    pins_source,
    resource_rule,
    stack_rule,
    statements,
)

WEB_ACL = "aws:wafv2/webAcl:WebAcl"
ECS_CLUSTER = "aws:ecs/cluster:Cluster"
ECS_SERVICE = "aws:ecs/service:Service"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SCHEDULE = "aws:scheduler/schedule:Schedule"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
TOPIC = "aws:sns/topic:Topic"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"


def _managed_groups(rule: Mapping[str, Any]) -> Iterable[str]:
    statement = mapping(rule.get("statement"))
    managed = mapping(statement.get("managedRuleGroupStatement"))
    if managed.get("name"):
        yield f"{managed.get('vendorName')}:{managed.get('name')}"


def _known_bad_inputs(props: Props, config: Config) -> Iterable[str]:
    present = {g for r in listed(props.get("rules")) for g in _managed_groups(mapping(r))}
    for group in config["requiredGroups"]:
        if group not in present:
            yield f"lacks the managed rule group {group}"


def _exec_services(args: StackValidationArgs, cluster: PolicyResource) -> list[str]:
    """The services whose `cluster` input is built from `cluster` and that enable ECS Exec."""
    return [
        s.name
        for s in args.resources
        if s.resource_type == ECS_SERVICE
        and depends_on(s, cluster, "cluster")
        and s.props.get("enableExecuteCommand") is True
    ]


def _exec_group(
    args: StackValidationArgs, cluster: PolicyResource, name: object
) -> PolicyResource | None:
    """The log group of the stack that receives the sessions: the one the cluster's
    configuration is built from, or the one of that name."""
    groups = [r for r in args.resources if r.resource_type == LOG_GROUP]
    return next(
        (
            g
            for g in groups
            if depends_on(cluster, g, "configuration") or g.props.get("name") == name
        ),
        None,
    )


def _exec_problems(
    args: StackValidationArgs, cluster: PolicyResource, settings: Mapping[str, Any]
) -> Iterable[str]:
    logging = settings.get("logging") or "DEFAULT"
    log = mapping(settings.get("logConfiguration"))
    name = log.get("cloudWatchLogGroupName")
    if logging != "OVERRIDE":
        yield f"leaves ECS Exec session logging at {logging} (no audited log group)"
    elif not name:
        yield "logs ECS Exec sessions to no CloudWatch log group"
    elif log.get("cloudWatchEncryptionEnabled") is not True:
        yield "logs ECS Exec sessions without encryption"
    else:
        group = _exec_group(args, cluster, name)
        # A group the stack does not create is checked where it is created.
        if group is not None and not group.props.get("kmsKeyId"):
            yield f"logs ECS Exec sessions to log group {name}, which has no customer KMS key"
    if not settings.get("kmsKeyId"):
        yield "encrypts ECS Exec session data with no customer key (kmsKeyId)"


def _exec_logging(args: StackValidationArgs, _: Config) -> Iterable[tuple[str, str | None]]:
    for cluster in (r for r in args.resources if r.resource_type == ECS_CLUSTER):
        settings = mapping(
            mapping(cluster.props.get("configuration")).get("executeCommandConfiguration")
        )
        services = _exec_services(args, cluster)
        # A cluster none of whose services enables exec needs no session logging, unless it
        # configures exec all the same: then the configuration must be the audited one.
        if not services and not settings:
            continue
        users = f" (service {', '.join(services)} enables exec)" if services else ""
        for problem in _exec_problems(args, cluster, settings):
            yield f"ECS cluster {cluster.name} {problem}{users}", cluster.urn


def _schedule_key(props: Props, _: Config) -> Iterable[str]:
    if not props.get("kmsKeyArn"):
        yield "encrypts its target input with an AWS-owned key"


# Filter fields that narrow a lifecycle rule to part of the bucket (S3 API LifecycleRuleFilter:
# Prefix, Tag, ObjectSizeGreaterThan, ObjectSizeLessThan, and And of them).
NARROWING_FILTERS = ("prefix", "tag", "objectSizeGreaterThan", "objectSizeLessThan")


def _whole_bucket(rule: Mapping[str, Any]) -> bool:
    """Whether a rule applies to every object: no filter, or a filter (or its `and`) that sets
    no prefix, tag or size; the rule's deprecated top-level `prefix` narrows it too."""
    if rule.get("prefix"):
        return False
    found = mapping(rule.get("filter"))
    conditions = [found, mapping(found.get("and"))]
    return not any(c.get(field) or c.get("tags") for c in conditions for field in NARROWING_FILTERS)


def _aborts_multipart(props: Props, _: Config) -> Iterable[str]:
    rules = [mapping(r) for r in listed(props.get("rules"))]
    enabled = [r for r in rules if r.get("status") == "Enabled"]
    if not any(
        mapping(r.get("abortIncompleteMultipartUpload")).get("daysAfterInitiation")
        and _whole_bucket(r)
        for r in enabled
    ):
        yield "never aborts incomplete multipart uploads across the whole bucket"


def _principals(statement: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"], []
    found = mapping(principal)
    return [str(p) for p in listed(found.get("AWS"))], [
        str(p) for p in listed(found.get("Service"))
    ]


def _own_sources(props: Props, config: Config) -> Iterable[str]:
    accounts = list(config["accountIds"])
    for statement in statements(props.get("policy")):
        if statement.get("Effect") != "Allow":
            continue
        aws_principals, services = _principals(statement)
        sid = statement.get("Sid") or "a statement"
        if statement.get("NotPrincipal") is not None:
            yield f"allows everyone except a few in {sid} (NotPrincipal)"
            continue
        for principal in aws_principals:
            if principal == "*" and not pins_source(statement.get("Condition")):
                yield f"lets any AWS account use the topic in {sid}"
            elif principal != "*" and accounts and not any(a in principal for a in accounts):
                yield f"admits {principal}, outside this account, in {sid}"
        if services and not pins_source(statement.get("Condition")):
            yield (
                f"lets {', '.join(services)} publish for any account in {sid} "
                "(no aws:SourceAccount or aws:SourceArn condition)"
            )


def _sfn_log_all(props: Props, _: Config) -> Iterable[str]:
    logging = mapping(props.get("loggingConfiguration"))
    level = logging.get("level") or "OFF"
    if level != "ALL":
        yield f"logs only {level} events of its executions"
    elif logging.get("includeExecutionData") is not True:
        yield "logs executions without their input and output"


RULES = [
    resource_rule(
        "waf-known-bad-inputs",
        "WAF web ACLs include the AWS managed known-bad-inputs rule group.",
        types=[WEB_ACL],
        check=_known_bad_inputs,
        fix="Add a rule with managedRuleGroupStatement {vendorName: AWS, name: "
        "AWSManagedRulesKnownBadInputsRuleSet} (it blocks Log4j-style payloads).",
        schema={
            "requiredGroups": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["AWS:AWSManagedRulesKnownBadInputsRuleSet"],
                "description": "Managed rule groups (vendor:name) every web ACL includes.",
            }
        },
    ),
    stack_rule(
        "ecs-exec-session-logging",
        "ECS clusters whose services enable ECS Exec (or that configure it) log the sessions to a "
        "customer-key encrypted CloudWatch log group.",
        check=_exec_logging,
        fix="Set configuration.executeCommandConfiguration to logging OVERRIDE with "
        "logConfiguration {cloudWatchLogGroupName: <group with a kmsKeyId>, "
        "cloudWatchEncryptionEnabled: true} and a kmsKeyId.",
    ),
    resource_rule(
        "scheduler-customer-key",
        "EventBridge Scheduler schedules encrypt their data with a customer KMS key.",
        types=[SCHEDULE],
        check=_schedule_key,
        severity=Severity.MEDIUM,
        fix="Set kmsKeyArn to a customer key the deployer may use.",
    ),
    resource_rule(
        "s3-lifecycle-aborts-multipart",
        "S3 lifecycle configurations abort incomplete multipart uploads across the bucket.",
        types=[LIFECYCLE],
        check=_aborts_multipart,
        severity=Severity.LOW,
        fix="Add abortIncompleteMultipartUpload {daysAfterInitiation: 7} to an enabled rule "
        "whose filter covers the whole bucket.",
    ),
    resource_rule(
        "sns-topic-policy-own-account",
        "SNS topic policies admit only this account and services acting for it.",
        types=[TOPIC_POLICY, TOPIC],
        check=_own_sources,
        fix="Name this account's principals and give every service principal an aws:SourceAccount "
        "or aws:SourceArn condition.",
        schema={
            "accountIds": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Accounts whose principals topic policies may name (empty: any "
                "named account, never '*').",
            }
        },
    ),
    resource_rule(
        "sfn-log-all-execution-data",
        "State machines log every event with its execution data.",
        types=[STATE_MACHINE],
        check=_sfn_log_all,
        severity=Severity.MEDIUM,
        fix="Set loggingConfiguration level ALL with includeExecutionData=true (lower this rule "
        "to advisory, with the reason, where inputs must not reach the logs).",
    ),
]
