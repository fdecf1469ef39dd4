"""Account baseline: the account-wide guards one stack per AWS account owns.

CloudTrail (every region, validated, encrypted, to a dedicated bucket and CloudWatch Logs),
GuardDuty, Security Hub with the AWS Foundational Security Best Practices standard, AWS Config
with a few managed rules, and IAM Access Analyzer; their findings reach the alarm topic through
EventBridge. Each of these exists once per account and region, so a second stack that turned the
baseline on in the same account would fail to create them (or fight over them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.common import (
    StackContext,
    Statement,
    allow,
    bucket_policy,
    expiry_rule,
    kms_key,
    log_group,
    logs_key_statement,
    policy_document,
    private_bucket,
    role,
    service_key_statement,
    unconditioned_service_trust,
)
from components.naming import child
from components.notifications import Topic
from components.settings import GUARDDUTY_SEVERITY_FLOOR, AccountBaselineSettings
from components.tagging import component_tags

COMPONENT = "account-baseline"
CONFIG_PREFIX = "config"
# Days a noncurrent version of a log file is kept after it was overwritten or deleted.
NONCURRENT_DAYS = 30

# GuardDuty protections that fit this platform (feature names: GuardDuty API Reference,
# DetectorFeatureConfiguration; the same list in the pulumi-aws DetectorFeature docs). Runtime
# monitoring covers the EKS nodes, with GuardDuty managing its agent add-on; the ECS Fargate agent
# stays off: it adds a sidecar to every task that must pull from GuardDuty's registry.
GUARDDUTY_FEATURES: Mapping[str, tuple[str, ...]] = {
    "S3_DATA_EVENTS": (),
    "EKS_AUDIT_LOGS": (),
    "RUNTIME_MONITORING": ("EKS_ADDON_MANAGEMENT",),
    "RDS_LOGIN_EVENTS": (),
    "EBS_MALWARE_PROTECTION": (),
}

# AWS Config managed rules (identifiers from the AWS Config Developer Guide, "List of AWS Config
# Managed Rules"; restricted-ssh's identifier is INCOMING_SSH_DISABLED) that mirror the pack's
# most important policies, so drift made outside Pulumi is found too.
CONFIG_RULES: Mapping[str, str] = {
    "cloudtrail-enabled": "CLOUD_TRAIL_ENABLED",
    "s3-public-read-prohibited": "S3_BUCKET_PUBLIC_READ_PROHIBITED",
    "s3-tls-only": "S3_BUCKET_SSL_REQUESTS_ONLY",
    "rds-storage-encrypted": "RDS_STORAGE_ENCRYPTED",
    "root-access-key": "IAM_ROOT_ACCESS_KEY_CHECK",
    "restricted-ssh": "INCOMING_SSH_DISABLED",
    "kms-rotation": "CMK_BACKING_KEY_ROTATION_ENABLED",
    "vpc-flow-logs": "VPC_FLOW_LOGS_ENABLED",
}


@dataclass(frozen=True, kw_only=True)
class AccountBaselineArgs:
    """settings: what the baseline keeps and reports. topic: where findings go (its policy and key
    must admit EventBridge, as components/notifications.py does)."""

    settings: AccountBaselineSettings
    ctx: StackContext
    topic: Topic


def trail_arn(ctx: StackContext, trail_name: str) -> str:
    """The trail's ARN, known before it exists, so the key and bucket policies can name it."""
    return ctx.arn("cloudtrail", f"trail/{trail_name}")


def guardduty_pattern(min_severity: float) -> dict[str, Any]:
    """GuardDuty findings at or above a severity (EventBridge numeric matching)."""
    return {
        "source": ["aws.guardduty"],
        "detail-type": ["GuardDuty Finding"],
        "detail": {"severity": [{"numeric": [">=", min_severity]}]},
    }


def security_hub_pattern() -> dict[str, Any]:
    """New, active, failed control findings of high or critical severity. Compliance.Status is
    only on control findings, so GuardDuty and Access Analyzer findings that Security Hub also
    imports do not reach the topic twice."""
    return {
        "source": ["aws.securityhub"],
        "detail-type": ["Security Hub Findings - Imported"],
        "detail": {
            "findings": {
                "Severity": {"Label": ["HIGH", "CRITICAL"]},
                "Compliance": {"Status": ["FAILED"]},
                "Workflow": {"Status": ["NEW"]},
                "RecordState": ["ACTIVE"],
            }
        },
    }


def access_analyzer_pattern() -> dict[str, Any]:
    """Active IAM Access Analyzer findings (resources shared outside the account)."""
    return {
        "source": ["aws.access-analyzer"],
        "detail-type": ["Access Analyzer Finding"],
        "detail": {"status": ["ACTIVE"]},
    }


def key_statements(ctx: StackContext, trail: str) -> list[Statement]:
    """The baseline key's grants: CloudTrail for this trail (CloudTrail User Guide, "Configure
    AWS KMS key policies for CloudTrail": GenerateDataKey* limited by aws:SourceArn and the
    encryption context of this account's trails; DescribeKey; Decrypt, which a bucket with an S3
    Bucket Key needs), CloudWatch Logs for the trail's log group, and AWS Config's delivery (AWS
    Config Developer Guide, "Permissions for the KMS Key")."""
    source = {"StringEquals": {"aws:SourceArn": trail}}
    return [
        {
            "Sid": "CloudTrailEncrypts",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {
                **source,
                "StringLike": {
                    "kms:EncryptionContext:aws:cloudtrail:arn": ctx.arn(
                        "cloudtrail", "trail/*", region="*"
                    )
                },
            },
        },
        {
            "Sid": "CloudTrailDescribesAndDecrypts",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": ["kms:DescribeKey", "kms:Decrypt"],
            "Resource": "*",
            "Condition": source,
        },
        logs_key_statement(ctx),
        service_key_statement(ctx, "config", "ConfigDelivers"),
    ]


def bucket_statements(
    ctx: StackContext, bucket_arn: pulumi.Output[str], trail: str
) -> list[Statement]:
    """CloudTrail writes under AWSLogs/ (CloudTrail User Guide, "Amazon S3 bucket policy for
    CloudTrail": GetBucketAcl and PutObject with bucket-owner-full-control, both limited by
    aws:SourceArn); AWS Config under config/AWSLogs/ (AWS Config Developer Guide, "Permissions
    for the Amazon S3 Bucket": GetBucketAcl, ListBucket and PutObject, limited by
    aws:SourceAccount)."""
    by_trail = {"aws:SourceArn": trail}
    by_account = {"aws:SourceAccount": ctx.account_id}
    owner_acl = {"s3:x-amz-acl": "bucket-owner-full-control"}

    def under(path: str) -> pulumi.Output[str]:
        return bucket_arn.apply(lambda arn: f"{arn}/{path}")

    def service(name: str) -> dict[str, str]:
        return {"Service": f"{name}.amazonaws.com"}

    return [
        allow(["s3:GetBucketAcl"], [bucket_arn], Sid="CloudTrailAclCheck",
              Principal=service("cloudtrail"), Condition={"StringEquals": by_trail}),
        allow(["s3:PutObject"], [under(f"AWSLogs/{ctx.account_id}/*")], Sid="CloudTrailWrites",
              Principal=service("cloudtrail"),
              Condition={"StringEquals": {**owner_acl, **by_trail}}),
        allow(["s3:GetBucketAcl", "s3:ListBucket"], [bucket_arn], Sid="ConfigChecksBucket",
              Principal=service("config"), Condition={"StringEquals": by_account}),
        allow(["s3:PutObject"], [under(f"{CONFIG_PREFIX}/AWSLogs/{ctx.account_id}/Config/*")],
              Sid="ConfigWrites", Principal=service("config"),
              Condition={"StringEquals": {**owner_acl, **by_account}}),
    ]  # fmt: skip


class AccountBaseline(pulumi.ComponentResource):
    """CloudTrail, GuardDuty, Security Hub (FSBP), AWS Config and IAM Access Analyzer for the
    account, findings to the alarm topic."""

    trail_arn: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    detector_id: pulumi.Output[str]
    analyzer_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: AccountBaselineArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("platform:accountBaseline:AccountBaseline", name, None, opts)
        self._name, self._args = name, args
        self._ctx, self._settings = args.ctx, args.settings
        self._tags = component_tags(COMPONENT)
        self._child = pulumi.ResourceOptions(parent=self)
        self._trail_name = child(name, "trail")
        self._key = kms_key(
            f"{name}-key",
            ctx=self._ctx,
            description=f"{name}: CloudTrail, its log group and AWS Config delivery",
            statements=key_statements(self._ctx, trail_arn(self._ctx, self._trail_name)),
            parent=self,
            tags=self._tags,
        )
        bucket, policy = self._bucket()
        self.bucket_name = bucket.bucket
        self.trail_arn = self._trail(bucket, policy).arn
        self.detector_id = self._guardduty().id
        self._security_hub()
        self._config(bucket, policy)
        self.analyzer_arn = self._access_analyzer().arn
        self.register_outputs(
            {
                "trailArn": self.trail_arn,
                "bucketName": self.bucket_name,
                "detectorId": self.detector_id,
                "analyzerArn": self.analyzer_arn,
            }
        )

    # --- the bucket both CloudTrail and AWS Config deliver to -------------------------------------

    def _bucket(self) -> tuple[aws.s3.Bucket, aws.s3.BucketPolicy]:
        name, ctx, settings = f"{self._name}-audit", self._ctx, self._settings
        lock_days = settings.object_lock_days
        bucket = private_bucket(
            name,
            ctx=ctx,
            parent=self,
            tags=self._tags,
            key=self._key,
            versioned=True,
            object_lock=lock_days is not None,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                expiry_rule(
                    "expire-logs", current_days=settings.log_days, noncurrent_days=NONCURRENT_DAYS
                )
            ],
            opts=self._child,
        )
        if lock_days is not None:
            # Governance mode: the files cannot be changed or deleted before the days pass, except
            # by a principal granted s3:BypassGovernanceRetention.
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=bucket.id,
                rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                    default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                        mode="GOVERNANCE", days=lock_days
                    )
                ),
                opts=self._child,
            )
        policy = bucket_policy(
            f"{name}-policy",
            bucket=bucket,
            statements=bucket_statements(ctx, bucket.arn, trail_arn(ctx, self._trail_name)),
            parent=self,
        )
        return bucket, policy

    # --- CloudTrail -------------------------------------------------------------------------------

    def _trail(self, bucket: aws.s3.Bucket, policy: aws.s3.BucketPolicy) -> aws.cloudtrail.Trail:
        name, ctx = f"{self._name}-trail", self._ctx
        path = f"/aws/cloudtrail/{self._trail_name}"
        group = log_group(
            f"{name}-logs", path=path, ctx=ctx, key=self._key, parent=self, tags=self._tags
        )
        writer = role(
            f"{name}-logs-role",
            # CloudTrail User Guide, "Sending events to CloudWatch Logs" and "Role policy document
            # for CloudTrail to use CloudWatch Logs": the trust has no condition, and no AWS page
            # says CloudTrail sends aws:SourceAccount when it assumes this role.
            trust=[unconditioned_service_trust("cloudtrail")],
            statements=[],
            parent=self,
            tags=self._tags,
            description="CloudTrail delivers the trail's events to its log group",
        )
        # Its own resource, so the trail waits for it: CloudTrail checks at creation that the
        # role can write (CloudTrail User Guide, "Sending events to CloudWatch Logs").
        may_write = aws.iam.RolePolicy(
            f"{name}-logs-role-policy",
            role=writer.id,
            policy=policy_document(
                [
                    allow(
                        ["logs:CreateLogStream", "logs:PutLogEvents"],
                        [ctx.arn("logs", f"log-group:{path}:log-stream:*")],
                    )
                ]
            ),
            opts=self._child,
        )
        # The key policy is the key's own (kms_key_id orders it first); the bucket policy and the
        # role's permissions must exist before CloudTrail checks them at creation.
        return aws.cloudtrail.Trail(
            name,
            name=self._trail_name,
            s3_bucket_name=bucket.id,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            kms_key_id=self._key.arn,
            # CloudTrail takes the log group's ARN with the log stream wildcard.
            cloud_watch_logs_group_arn=group.arn.apply(lambda arn: f"{arn}:*"),
            cloud_watch_logs_role_arn=writer.arn,
            tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, may_write]),
        )

    # --- findings ---------------------------------------------------------------------------------

    def _to_topic(self, name: str, pattern: dict[str, Any], description: str) -> None:
        rule = aws.cloudwatch.EventRule(
            name,
            description=description,
            event_pattern=json.dumps(pattern),
            tags=self._tags,
            opts=self._child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-topic",
            rule=rule.name,
            target_id="alarm-topic",
            arn=self._args.topic.arn,
            opts=pulumi.ResourceOptions.merge(
                self._child, pulumi.ResourceOptions(depends_on=list(self._args.topic.ready))
            ),
        )

    def _guardduty(self) -> aws.guardduty.Detector:
        name = f"{self._name}-guardduty"
        detector = aws.guardduty.Detector(
            name,
            enable=True,
            # New findings go out within 5 minutes regardless; this paces repeats of an ongoing
            # finding, each of which is one more e-mail (GuardDuty User Guide, "Processing
            # GuardDuty findings with EventBridge": FIFTEEN_MINUTES, ONE_HOUR or SIX_HOURS).
            finding_publishing_frequency="SIX_HOURS",
            tags=self._tags,
            opts=self._child,
        )
        for feature, extras in GUARDDUTY_FEATURES.items():
            aws.guardduty.DetectorFeature(
                f"{name}-{feature.lower().replace('_', '-')}",
                detector_id=detector.id,
                name=feature,
                status="ENABLED",
                additional_configurations=[
                    aws.guardduty.DetectorFeatureAdditionalConfigurationArgs(
                        name=extra, status="ENABLED"
                    )
                    for extra in extras
                ]
                or None,
                opts=self._child,
            )
        severity = self._settings.guardduty_min_severity
        self._to_topic(
            f"{name}-findings",
            guardduty_pattern(GUARDDUTY_SEVERITY_FLOOR[severity]),
            f"GuardDuty findings of severity {severity} or above",
        )
        return detector

    def _security_hub(self) -> None:
        name, ctx = f"{self._name}-securityhub", self._ctx
        hub = aws.securityhub.Account(
            name,
            enable_default_standards=False,
            control_finding_generator="SECURITY_CONTROL",
            auto_enable_controls=True,
            opts=self._child,
        )
        # The standard's ARN is regional (pulumi-aws StandardsSubscription docs; Security Hub
        # DescribeStandards).
        aws.securityhub.StandardsSubscription(
            f"{name}-fsbp",
            standards_arn=f"arn:{ctx.partition}:securityhub:{ctx.region}::standards/"
            "aws-foundational-security-best-practices/v/1.0.0",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[hub]),
        )
        self._to_topic(
            f"{name}-findings",
            security_hub_pattern(),
            "Security Hub failed controls of high or critical severity",
        )

    # --- AWS Config -------------------------------------------------------------------------------

    def _config(self, bucket: aws.s3.Bucket, policy: aws.s3.BucketPolicy) -> None:
        name, ctx = f"{self._name}-config", self._ctx
        # The service-linked role: Security Hub control Config.1 requires it.
        service_role = (
            aws.iam.ServiceLinkedRole(
                f"{name}-role",
                aws_service_name="config.amazonaws.com",
                tags=self._tags,
                opts=self._child,
            )
            if self._settings.create_config_role
            else None
        )
        recorder = aws.cfg.Recorder(
            name,
            name=name,
            role_arn=f"arn:{ctx.partition}:iam::{ctx.account_id}:role/aws-service-role/"
            "config.amazonaws.com/AWSServiceRoleForConfig",
            recording_group=aws.cfg.RecorderRecordingGroupArgs(
                all_supported=True,
                include_global_resource_types=self._settings.record_global_resources,
            ),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[service_role] if service_role else []
            ),
        )
        channel = aws.cfg.DeliveryChannel(
            f"{name}-delivery",
            name=name,
            s3_bucket_name=bucket.id,
            s3_key_prefix=CONFIG_PREFIX,
            s3_kms_key_arn=self._key.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[recorder, policy]),
        )
        # Recording starts only once there is a channel to deliver to (AWS Config
        # StartConfigurationRecorder refuses without one).
        aws.cfg.RecorderStatus(
            f"{name}-status",
            name=recorder.name,
            is_enabled=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[channel]),
        )
        for rule, identifier in CONFIG_RULES.items():
            aws.cfg.Rule(
                f"{name}-{rule}",
                source=aws.cfg.RuleSourceArgs(owner="AWS", source_identifier=identifier),
                tags=self._tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[recorder]),
            )

    # --- IAM Access Analyzer ----------------------------------------------------------------------

    def _access_analyzer(self) -> aws.accessanalyzer.Analyzer:
        name = f"{self._name}-analyzer"
        analyzer = aws.accessanalyzer.Analyzer(
            name, analyzer_name=name, type="ACCOUNT", tags=self._tags, opts=self._child
        )
        self._to_topic(
            f"{name}-findings",
            access_analyzer_pattern(),
            "IAM Access Analyzer: a resource is shared outside the account",
        )
        return analyzer
