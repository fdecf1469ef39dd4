"""Account baseline: the audit trail and threat detection stay on, and protected stacks carry a
budget. Control IDs are Security Hub's (AWS Security Hub User Guide, controls reference)."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import Severity, StackValidationArgs

from .core import Config, Props, listed, mapping, resource_rule, stack_rule

TRAIL = "aws:cloudtrail/trail:Trail"
DETECTOR = "aws:guardduty/detector:Detector"
BUDGET = "aws:budgets/budget:Budget"


def _multi_region_validated(props: Props, _: Config) -> Iterable[str]:
    if props.get("isMultiRegionTrail") is not True:
        yield "records only its own region (isMultiRegionTrail is not true)"
    if props.get("enableLogFileValidation") is not True:
        yield "does not validate its log files (enableLogFileValidation is not true)"
    if props.get("enableLogging") is False:
        yield "has logging turned off (enableLogging false)"
    # Basic event selectors narrow the trail; without any, it records every management event.
    for selector in (mapping(s) for s in listed(props.get("eventSelectors"))):
        if selector.get("includeManagementEvents") is False:
            yield "has an event selector that leaves management events out"
        elif selector.get("readWriteType") not in (None, "All"):
            yield f"records only {selector.get('readWriteType')} management events, not All"


def _encrypted(props: Props, _: Config) -> Iterable[str]:
    if not props.get("kmsKeyId"):
        yield "is not encrypted with a KMS key (kmsKeyId)"


def _to_cloudwatch_logs(props: Props, _: Config) -> Iterable[str]:
    if not props.get("cloudWatchLogsGroupArn") or not props.get("cloudWatchLogsRoleArn"):
        yield "does not deliver to CloudWatch Logs (cloudWatchLogsGroupArn and cloudWatchLogsRoleArn)"


def _detector_enabled(props: Props, _: Config) -> Iterable[str]:
    # `enable` defaults to true: only an explicit false turns the detector off.
    if props.get("enable") is False:
        yield "is turned off (enable false)"


def _budget_present(args: StackValidationArgs, _: Config) -> Iterable[tuple[str, str | None]]:
    budgets = [r for r in args.resources if r.resource_type == BUDGET]
    if not any(mapping(r.props).get("budgetType") == "COST" for r in budgets):
        yield "The stack has no AWS Budget of type COST", None


RULES = [
    resource_rule(
        "cloudtrail-multi-region-validated",
        "CloudTrail trails record every region's read and write management events and validate their log files.",
        types=[TRAIL],
        check=_multi_region_validated,
        fix="Set isMultiRegionTrail and enableLogFileValidation true, keep logging on and management events (All) recorded.",
    ),
    resource_rule(
        "cloudtrail-encrypted",
        "CloudTrail trails encrypt their log files with a KMS key.",
        types=[TRAIL],
        check=_encrypted,
        fix="Set kmsKeyId to a customer key whose policy admits CloudTrail for this trail.",
    ),
    resource_rule(
        "cloudtrail-cloudwatch-logs",
        "CloudTrail trails also deliver their events to a CloudWatch Logs group.",
        types=[TRAIL],
        check=_to_cloudwatch_logs,
        severity=Severity.MEDIUM,
        fix="Set cloudWatchLogsGroupArn (the group's ARN with ':*') and a cloudWatchLogsRoleArn that may write to it.",
    ),
    resource_rule(
        "guardduty-detector-enabled",
        "GuardDuty detectors are enabled.",
        types=[DETECTOR],
        check=_detector_enabled,
        fix="Set enable true (the default) on the detector.",
    ),
    stack_rule(
        "budget-present",
        "The stack has an AWS Budget of type COST.",
        check=_budget_present,
        severity=Severity.MEDIUM,
        fix="Add an aws.budgets.Budget (budgetType COST) that notifies the team; in this program, "
        "set budget.monthlyLimit in the stack file (`make plan` prints the suggested limit).",
    ),
]
