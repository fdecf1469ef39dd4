"""Account baseline and budgets: what prod's baseline creates and in which order, the budget of
every stack, and the settings that keep the baseline to one stack per account."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components.account_baseline import (
    CONFIG_RULES,
    GUARDDUTY_FEATURES,
    AccountBaseline,
    AccountBaselineArgs,
    guardduty_pattern,
)
from components.common import StackContext
from components.notifications import Topic
from components.settings import (
    GUARDDUTY_SEVERITY_FLOOR,
    FindingSeverity,
    Settings,
    SettingsError,
    baseline_owner_problems,
    check_account,
    parse_settings,
)
from tests.conftest import STACKS, Offline, settings_for, stack_run, statements
from tooling.offline import ACCOUNT_ID, OfflineRun, ProgramError, Resource
from tooling.plan import BUDGET_HEADROOM, estimate, load_prices, suggested_budget

ACCOUNT = ACCOUNT_ID
TRAIL = "aws:cloudtrail/trail:Trail"
TRAIL_ARN = f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/platform-prod-baseline-trail"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:platform-prod-notifications-topic-40d6e7d"


def prod() -> OfflineRun:
    return stack_run("prod")


def baseline_resources(run: OfflineRun) -> list[Resource]:
    return [r for r in run.resources if "-baseline-" in r.name or r.name.endswith("-baseline")]


def by_sid(document: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements(document) if "Sid" in s}


def urn_of(run: OfflineRun, type_: str, name: str) -> str:
    return run.one(type_, name).urn


# --- one stack per account ------------------------------------------------------------------------


@pytest.mark.parametrize("stack, owns", [("dev", False), ("staging", False), ("prod", True)])
def test_only_prods_stack_file_owns_the_baseline(stack: str, owns: bool) -> None:
    run = stack_run(stack)
    assert len(run.of_type(TRAIL)) == int(owns)
    assert bool(baseline_resources(run)) == owns
    assert ("trailArn" in run.outputs) == owns


def test_the_stack_files_never_give_one_account_two_owners() -> None:
    configs = {stack: settings_for(stack).config for stack in STACKS}
    assert baseline_owner_problems(configs) == []


def owner(account: str | None, enabled: bool = True) -> Settings:
    baseline: dict[str, object] = {"enabled": enabled}
    if account:
        baseline["accountId"] = account
    return parse_settings(
        project="platform", stack="x", region="eu-west-1", raw={"accountBaseline": baseline}
    )


def test_two_stacks_declaring_one_account_may_not_both_own_its_baseline() -> None:
    same = {"prod": owner("111111111111"), "staging": owner("111111111111")}
    [problem] = baseline_owner_problems({k: v.config for k, v in same.items()})
    assert problem.startswith("stacks prod, staging: platform:accountBaseline.enabled is true")
    assert "declares account 111111111111" in problem


@pytest.mark.parametrize(
    "other",
    [owner("222222222222"), owner("111111111111", enabled=False), owner(None)],
    ids=["another account", "not owner", "no account declared"],
)
def test_other_accounts_non_owners_and_undeclared_accounts_pass(other: Settings) -> None:
    configs = {"prod": owner("111111111111").config, "staging": other.config}
    assert baseline_owner_problems(configs) == []


def test_a_stack_that_names_its_account_refuses_another() -> None:
    settings = owner("111111111111", enabled=False)
    check_account(settings, "111111111111")
    with pytest.raises(SettingsError, match=r"accountId = '111111111111', but the AWS credentials deploy into account 222222222222"):  # fmt: skip
        check_account(settings, "222222222222")
    check_account(owner(None), "222222222222")


def test_the_program_refuses_credentials_of_another_account_than_the_stack_file_names(
    offline: Offline,
) -> None:
    # The offline account is 123456789012; the check runs right after the account is looked up,
    # before any component is built.
    other = {"platform:accountBaseline": json.dumps({"accountId": "999999999999"})}
    with pytest.raises(ProgramError, match="deploy into account 123456789012"):
        offline.stack("dev", other)


@pytest.mark.parametrize(
    "baseline, expected",
    [
        ({"accountId": "1234"}, "accountBaseline.accountId = '1234': not an AWS account ID"),
        ({"objectLockDays": 400, "logDays": 365}, r"objectLockDays \(400\) is longer than logDays"),
        ({"guarddutyMinSeverity": "urgent"}, "accountBaseline.guarddutyMinSeverity = 'urgent'"),
    ],
)
def test_bad_baseline_settings_are_named(baseline: dict[str, object], expected: str) -> None:
    with pytest.raises(SettingsError, match=expected):
        parse_settings(
            project="platform", stack="prod", region="eu-west-1", raw={"accountBaseline": baseline}
        )


# --- CloudTrail -----------------------------------------------------------------------------------


def test_the_trail_covers_every_region_validates_and_encrypts_its_files() -> None:
    trail = prod().one(TRAIL).inputs
    assert trail["isMultiRegionTrail"] and trail["includeGlobalServiceEvents"]
    assert trail["enableLogFileValidation"] is True
    assert trail["kmsKeyId"].endswith("key/platform-prod-baseline-key-key-id")
    assert trail["cloudWatchLogsGroupArn"] == (
        f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/cloudtrail/platform-prod-baseline-trail:*"
    )


def test_the_trail_waits_for_the_bucket_policy_the_key_and_the_log_role_policy() -> None:
    run = prod()
    waits_for = set(run.one(TRAIL).dependencies)
    assert {
        urn_of(run, "aws:s3/bucketPolicy:BucketPolicy", "baseline-audit-policy"),
        urn_of(run, "aws:kms/key:Key", "baseline-key"),
        urn_of(run, "aws:iam/rolePolicy:RolePolicy", "baseline-trail-logs-role-policy"),
    } <= waits_for


def test_the_log_role_trusts_cloudtrail_as_aws_documents_it_without_a_condition() -> None:
    # CloudTrail User Guide, "Sending events to CloudWatch Logs": the role's trust names the
    # service and nothing else; no AWS page says CloudTrail sends aws:SourceAccount there.
    trust = prod().one("aws:iam/role:Role", "baseline-trail-logs-role").inputs["assumeRolePolicy"]
    assert statements(trust) == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]


def test_the_key_admits_cloudtrail_only_for_this_trail() -> None:
    # CloudTrail User Guide, "Configure AWS KMS key policies for CloudTrail".
    grants = by_sid(prod().one("aws:kms/key:Key", "baseline-key").inputs["policy"])
    encrypt = grants["CloudTrailEncrypts"]
    assert encrypt["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert encrypt["Action"] == "kms:GenerateDataKey*"
    assert encrypt["Condition"] == {
        "StringEquals": {"aws:SourceArn": TRAIL_ARN},
        "StringLike": {
            "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"
        },
    }
    assert grants["CloudTrailDescribesAndDecrypts"]["Condition"] == {
        "StringEquals": {"aws:SourceArn": TRAIL_ARN}
    }
    assert {"CloudWatchLogs", "ConfigDelivers"} <= set(grants)


def test_the_bucket_policy_admits_the_trail_and_config_under_their_prefixes_over_tls() -> None:
    grants = by_sid(prod().one("aws:s3/bucketPolicy:BucketPolicy", "baseline-audit-policy").inputs["policy"])  # fmt: skip
    bucket = f"arn:aws:s3:::{prod().physical_name('aws:s3/bucket:Bucket', 'baseline-audit')}"
    assert grants["CloudTrailWrites"]["Resource"] == [f"{bucket}/AWSLogs/{ACCOUNT}/*"]
    assert grants["CloudTrailWrites"]["Condition"]["StringEquals"] == {
        "s3:x-amz-acl": "bucket-owner-full-control",
        "aws:SourceArn": TRAIL_ARN,
    }
    assert grants["CloudTrailAclCheck"]["Condition"] == {"StringEquals": {"aws:SourceArn": TRAIL_ARN}}  # fmt: skip
    assert grants["ConfigWrites"]["Resource"] == [f"{bucket}/config/AWSLogs/{ACCOUNT}/Config/*"]
    assert grants["ConfigWrites"]["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    assert grants["DenyInsecureTransport"]["Effect"] == "Deny"


def test_the_audit_bucket_is_protected_versioned_and_expires_after_log_days() -> None:
    run = prod()
    assert run.one("aws:s3/bucket:Bucket", "baseline-audit").protect
    assert run.one("aws:s3/bucketVersioning:BucketVersioning", "baseline-audit-versioning")
    [rule] = run.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "baseline-audit-lifecycle",
    ).inputs["rules"]
    assert rule["expiration"] == {"days": 2557}
    assert run.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration") == []


def build(settings: Settings, ctx: StackContext) -> AccountBaseline:
    topic = Topic(arn=pulumi.Output.from_input(TOPIC), key_arn=pulumi.Output.from_input("k"))
    return AccountBaseline(
        "base", AccountBaselineArgs(settings=settings.config.account_baseline, ctx=ctx, topic=topic)
    )


def test_object_lock_is_set_at_the_buckets_creation_in_governance_mode(offline: Offline) -> None:
    run = offline.component(
        build, "prod", {"platform:accountBaseline": json.dumps({"objectLockDays": 90})}
    )
    assert run.one("aws:s3/bucket:Bucket").inputs["objectLockEnabled"] is True
    lock = run.one("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock.inputs["rule"]["defaultRetention"] == {"mode": "GOVERNANCE", "days": 90}


# --- GuardDuty, Security Hub, Access Analyzer -----------------------------------------------------


def test_guardduty_runs_the_protections_that_fit_the_platform() -> None:
    features = {f.inputs["name"]: f.inputs for f in prod().of_type("aws:guardduty/detectorFeature:DetectorFeature")}  # fmt: skip
    assert set(features) == set(GUARDDUTY_FEATURES)
    assert all(f["status"] == "ENABLED" for f in features.values())
    # EKS_RUNTIME_MONITORING and RUNTIME_MONITORING exclude each other (pulumi-aws docs).
    assert "EKS_RUNTIME_MONITORING" not in features
    assert features["RUNTIME_MONITORING"]["additionalConfigurations"] == [
        {"name": "EKS_ADDON_MANAGEMENT", "status": "ENABLED"}
    ]


def test_guardduty_repeats_an_ongoing_finding_at_most_every_six_hours() -> None:
    # New findings reach EventBridge within 5 minutes whatever the setting; the frequency only
    # paces the events for later occurrences of the same finding (GuardDuty User Guide,
    # "Processing GuardDuty findings with EventBridge", notification frequency).
    detector = prod().one("aws:guardduty/detector:Detector").inputs
    assert detector["findingPublishingFrequency"] == "SIX_HOURS"


@pytest.mark.parametrize(
    "severity, floor",
    [("low", 1.0), ("medium", 4.0), ("high", 7.0), ("critical", 9.0)],
)
def test_guardduty_findings_reach_the_topic_from_the_chosen_severity(
    severity: str, floor: float
) -> None:
    assert GUARDDUTY_SEVERITY_FLOOR[FindingSeverity(severity)] == floor
    assert guardduty_pattern(floor)["detail"] == {"severity": [{"numeric": [">=", floor]}]}


def rule_pattern(run: OfflineRun, name: str) -> dict[str, Any]:
    return json.loads(run.one("aws:cloudwatch/eventRule:EventRule", name).inputs["eventPattern"])


def test_every_finding_rule_targets_the_alarm_topic() -> None:
    run = prod()
    rules = [r for r in run.of_type("aws:cloudwatch/eventRule:EventRule") if "-baseline-" in r.name]
    assert sorted(rule_pattern(run, r.name)["source"][0] for r in rules) == [
        "aws.access-analyzer",
        "aws.guardduty",
        "aws.securityhub",
    ]
    targets = [t for t in run.of_type("aws:cloudwatch/eventTarget:EventTarget") if "-baseline-" in t.name]  # fmt: skip
    assert len(targets) == 3
    assert {t.inputs["arn"] for t in targets} == {TOPIC}
    assert rule_pattern(run, "baseline-guardduty-findings")["detail"]["severity"] == [
        {"numeric": [">=", 4.0]}
    ]


def test_security_hub_subscribes_to_the_regional_fsbp_standard_after_the_hub() -> None:
    run = prod()
    hub = run.one("aws:securityhub/account:Account")
    assert hub.inputs["enableDefaultStandards"] is False
    standard = run.one("aws:securityhub/standardsSubscription:StandardsSubscription")
    assert standard.inputs["standardsArn"] == (
        "arn:aws:securityhub:eu-west-1::standards/aws-foundational-security-best-practices/v/1.0.0"
    )
    assert hub.urn in standard.dependencies
    findings = rule_pattern(run, "baseline-securityhub-findings")["detail"]["findings"]
    assert findings["Severity"] == {"Label": ["HIGH", "CRITICAL"]}


def test_the_access_analyzer_watches_the_account() -> None:
    assert prod().one("aws:accessanalyzer/analyzer:Analyzer").inputs["type"] == "ACCOUNT"


# --- AWS Config -----------------------------------------------------------------------------------


def test_config_records_everything_and_starts_only_after_its_channel() -> None:
    run = prod()
    recorder = run.one("aws:cfg/recorder:Recorder")
    assert recorder.inputs["recordingGroup"] == {
        "allSupported": True,
        "includeGlobalResourceTypes": True,
    }
    assert recorder.inputs["roleArn"] == (
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"
    )
    assert urn_of(run, "aws:iam/serviceLinkedRole:ServiceLinkedRole", "config-role") in recorder.dependencies  # fmt: skip
    channel = run.one("aws:cfg/deliveryChannel:DeliveryChannel")
    assert channel.inputs["s3KeyPrefix"] == "config"
    assert channel.inputs["s3KmsKeyArn"].endswith("key/platform-prod-baseline-key-key-id")
    assert recorder.urn in channel.dependencies
    status = run.one("aws:cfg/recorderStatus:RecorderStatus")
    assert status.inputs["isEnabled"] is True
    assert channel.urn in status.dependencies


def test_config_runs_the_managed_rules_that_mirror_the_pack() -> None:
    rules = prod().of_type("aws:cfg/rule:Rule")
    assert sorted(r.inputs["source"]["sourceIdentifier"] for r in rules) == sorted(
        CONFIG_RULES.values()
    )
    assert all(r.inputs["source"]["owner"] == "AWS" for r in rules)


def test_a_new_baseline_does_not_create_configs_service_linked_role_by_default() -> None:
    # CreateServiceLinkedRole fails when AWSServiceRoleForConfig exists, as it does in every
    # account that ever used Config, Security Hub or Control Tower; prod's stack file keeps
    # creating the role it already owns.
    assert owner(None).config.account_baseline.create_config_role is False
    assert settings_for("prod").config.account_baseline.create_config_role is True


def test_an_account_whose_config_role_exists_reuses_it(offline: Offline) -> None:
    run = offline.component(
        build,
        "prod",
        {"platform:accountBaseline": json.dumps({"createConfigRole": False, "recordGlobalResources": False})},
    )  # fmt: skip
    assert run.of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole") == []
    group = run.one("aws:cfg/recorder:Recorder").inputs["recordingGroup"]
    assert group["includeGlobalResourceTypes"] is False


# --- budgets --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_has_a_budget_on_its_own_tag_to_the_topic_and_its_emails(stack: str) -> None:
    run = stack_run(stack)
    budget = run.one("aws:budgets/budget:Budget").inputs
    assert (budget["budgetType"], budget["timeUnit"], budget["limitUnit"]) == (
        "COST",
        "MONTHLY",
        "USD",
    )
    assert budget["costFilters"] == [{"name": "TagKeyValue", "values": [f"user:Environment${stack}"]}]  # fmt: skip
    emails = settings_for(stack).config.observability.alarm_emails
    kinds = {n["notificationType"]: n for n in budget["notifications"]}
    assert (kinds["ACTUAL"]["threshold"], kinds["FORECASTED"]["threshold"]) == (80, 100)
    for notification in kinds.values():
        assert notification["thresholdType"] == "PERCENTAGE"
        assert notification["subscriberSnsTopicArns"][0].startswith(
            f"arn:aws:sns:eu-west-1:{ACCOUNT}:platform-{stack}-notifications-topic-"
        )
        assert notification.get("subscriberEmailAddresses") == (emails or None)


def test_the_budget_waits_for_the_topic_policy() -> None:
    run = prod()
    policy = urn_of(run, "aws:sns/topicPolicy:TopicPolicy", "notifications-topic-policy")
    assert policy in run.one("aws:budgets/budget:Budget").dependencies


@pytest.mark.parametrize("stack", STACKS)
def test_each_stack_files_budget_covers_the_plans_estimate_with_headroom(stack: str) -> None:
    costs, _ = estimate(stack_run(stack), load_prices())
    total = sum(c.monthly for c in costs)
    limit = settings_for(stack).config.budget.monthly_limit
    assert limit is not None
    # At least the estimate with headroom, and not so far above that the alerts mean nothing.
    assert total * BUDGET_HEADROOM <= limit <= 2 * suggested_budget(total), (total, limit)


@pytest.mark.parametrize(
    "total, suggested", [(0.0, 50), (40.0, 50), (176.33, 250), (1404.62, 1800)]
)
def test_the_suggested_budget_rounds_the_estimate_with_headroom_up(
    total: float, suggested: int
) -> None:
    assert suggested_budget(total) == suggested


def test_a_budget_takes_at_most_ten_emails() -> None:
    emails = [f"a{i}@corp.example.org" for i in range(11)]
    raw = {"budget": {"monthlyLimit": 100}, "observability": {"alarmEmails": emails}}
    with pytest.raises(SettingsError, match=r"11 addresses, but the notifications of budget\.monthlyLimit take at most 10"):  # fmt: skip
        parse_settings(project="platform", stack="prod", region="eu-west-1", raw=raw)
