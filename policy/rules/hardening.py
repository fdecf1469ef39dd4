"""Hardening beyond the baseline: WAF rule groups, ECS Exec audit, scheduler keys, multipart
uploads, SNS sources, Step Functions execution logs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import Severity

from .core import Config, Props, listed, mapping, pins_source, resource_rule, statements

WEB_ACL = "aws:wafv2/webAcl:WebAcl"
ECS_CLUSTER = "aws:ecs/cluster:Cluster"
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


def _exec_logging(props: Props, _: Config) -> Iterable[str]:
    configuration = mapping(mapping(props.get("configuration")).get("executeCommandConfiguration"))
    logging = configuration.get("logging") or "DEFAULT"
    log = mapping(configuration.get("logConfiguration"))
    if logging != "OVERRIDE":
        yield f"leaves ECS Exec session logging at {logging} (no audited log group)"
    elif not log.get("cloudWatchLogGroupName"):
        yield "logs ECS Exec sessions to no CloudWatch log group"
    elif log.get("cloudWatchEncryptionEnabled") is not True:
        yield "logs ECS Exec sessions without encryption"


def _schedule_key(props: Props, _: Config) -> Iterable[str]:
    if not props.get("kmsKeyArn"):
        yield "encrypts its target input with an AWS-owned key"


def _aborts_multipart(props: Props, _: Config) -> Iterable[str]:
    rules = [mapping(r) for r in listed(props.get("rules"))]
    enabled = [r for r in rules if r.get("status") == "Enabled"]
    if not any(
        mapping(r.get("abortIncompleteMultipartUpload")).get("daysAfterInitiation")
        and not mapping(r.get("filter")).get("prefix")
        and not mapping(r.get("filter")).get("and")
        and not mapping(r.get("filter")).get("tag")
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
    resource_rule(
        "ecs-exec-session-logging",
        "ECS clusters log ECS Exec sessions to an encrypted CloudWatch log group.",
        types=[ECS_CLUSTER],
        check=_exec_logging,
        fix="Set configuration.executeCommandConfiguration to logging OVERRIDE with "
        "logConfiguration {cloudWatchLogGroupName: <KMS-encrypted group>, "
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
