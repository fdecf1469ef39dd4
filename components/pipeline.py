"""Pipeline: S3 uploads -> EventBridge -> Step Functions -> AWS Batch (Fargate) -> S3 results."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.common import (
    StackContext,
    Statement,
    allow,
    bucket_policy,
    ecr_pull,
    events_key_statement,
    expiry_rule,
    kms_key,
    log_group,
    logs_key_statement,
    policy_document,
    private_bucket,
    role,
    service_trust,
    tcp_rule,
)
from components.network import Network
from components.notifications import Topic
from components.settings import (
    JOB_PARAMETERS,
    ComputeOrder,
    ObjectLockSettings,
    PipelineSettings,
)
from components.tagging import component_tags

COMPONENT = "pipeline"
JOB_NAME = "process-upload"
# The job's writable scratch space: the root file system stays read-only. On Fargate a volume with
# only a name is a bind mount on the task's ephemeral storage (AWS Batch API, Volume: `host` is not
# applicable to Fargate; EphemeralStorage sizeInGiB 21-200, default 20 GiB).
SCRATCH_VOLUME = "scratch"
SCRATCH_PATH = "/tmp"
# Errors of the Batch API itself (throttling, service faults), worth retrying from the state machine.
TRANSIENT_BATCH_ERRORS = ["Batch.AWSBatchException", "Batch.ServerException"]
_PRIVATE_ECR = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+)")

LOG_DELIVERY_ACTIONS = [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
]
XRAY_ACTIONS = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
]

COMPUTE_TYPES = {
    ComputeOrder.SPOT_FIRST: ("FARGATE_SPOT", "FARGATE"),
    ComputeOrder.ON_DEMAND_FIRST: ("FARGATE", "FARGATE_SPOT"),
}


@dataclass(frozen=True, kw_only=True)
class PipelineArgs:
    """settings: the `pipeline` section. network: private subnets for jobs. topic: where failed
    executions are reported."""

    settings: PipelineSettings
    ctx: StackContext
    network: Network
    topic: Topic


def state_machine_definition(
    *,
    queue_arn: pulumi.Input[str],
    job_definition_arn: pulumi.Input[str],
    topic_arn: pulumi.Input[str],
    results_bucket: pulumi.Input[str],
    results_prefix: str,
) -> dict[str, Any]:
    """The Amazon States Language definition, as data: submit the job and wait for it (.sync),
    retry Batch API faults with backoff, report any failure to the topic, then fail.

    The job receives the upload as `bucket` and `key`, and as whole S3 URIs: `source`, and
    `destination` under the results prefix (AWS Batch substitutes whole `Ref::` arguments, so
    the URIs are composed here). Bucket names and the validated prefix hold no quotes or braces."""
    destination = pulumi.Output.concat(
        "States.Format('s3://", results_bucket, f"/{results_prefix}{{}}', $.detail.object.key)"
    )
    return {
        "Comment": "Process one uploaded object with AWS Batch",
        "StartAt": "ProcessUpload",
        "States": {
            "ProcessUpload": {
                "Type": "Task",
                "Resource": "arn:aws:states:::batch:submitJob.sync",
                "Parameters": {
                    "JobName": JOB_NAME,
                    "JobQueue": queue_arn,
                    "JobDefinition": job_definition_arn,
                    "Parameters": {
                        "bucket.$": "$.detail.bucket.name",
                        "key.$": "$.detail.object.key",
                        "source.$": "States.Format('s3://{}/{}', $.detail.bucket.name, "
                        "$.detail.object.key)",
                        "destination.$": destination,
                    },
                },
                "Retry": [
                    {
                        "ErrorEquals": TRANSIENT_BATCH_ERRORS,
                        "IntervalSeconds": 10,
                        "MaxAttempts": 4,
                        "BackoffRate": 2.0,
                        "JitterStrategy": "FULL",
                    }
                ],
                "Catch": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "ResultPath": "$.error",
                        "Next": "ReportFailure",
                    }
                ],
                "ResultPath": "$.job",
                "Next": "Done",
            },
            "ReportFailure": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {
                    "TopicArn": topic_arn,
                    "Subject": "Pipeline job failed",
                    "Message.$": "States.Format('Processing s3://{}/{} failed: {}', "
                    "$.detail.bucket.name, $.detail.object.key, $.error.Cause)",
                },
                "ResultPath": None,
                "Next": "Failed",
            },
            "Failed": {
                "Type": "Fail",
                "Error": "PipelineJobFailed",
                "Cause": "The Batch job failed; the notification topic has the details.",
            },
            "Done": {"Type": "Succeed"},
        },
    }


class Pipeline(pulumi.ComponentResource):
    """Uploads and results buckets, Batch compute, job queue and definition, state machine, trigger."""

    uploads_bucket: pulumi.Output[str]
    uploads_bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    results_bucket: pulumi.Output[str]
    job_queue_arn: pulumi.Output[str]
    job_queue_name: pulumi.Output[str]
    job_definition_arn: pulumi.Output[str]
    state_machine_arn: pulumi.Output[str]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: PipelineArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:pipeline:Pipeline", name, None, opts)
        self._name, self._args = name, args
        self._settings, self._ctx = args.settings, args.ctx
        self._tags = component_tags(COMPONENT)
        self._child = pulumi.ResourceOptions(parent=self)

        self._key = kms_key(
            f"{name}-key",
            ctx=self._ctx,
            description=f"{name}: buckets, logs and the trigger's dead-letter queue",
            statements=[
                logs_key_statement(self._ctx),
                # EventBridge writes undeliverable events into the KMS-encrypted dead-letter
                # queue; no source condition (see the helper), the queue policy names the rule.
                events_key_statement("EventBridgeDeadLetters"),
            ],
            parent=self,
            tags=self._tags,
        )
        uploads = self._bucket("uploads", self._uploads_lifecycle())
        lock = self._settings.results_object_lock
        results = self._bucket("results", self._results_lifecycle(), object_lock=lock is not None)
        if lock is not None:
            self._default_retention(results, lock)
        if self._ctx.protect_data:
            self._access_logs({"uploads": uploads, "results": results})
        aws.s3.BucketNotification(
            f"{name}-uploads-events", bucket=uploads.id, eventbridge=True, opts=self._child
        )
        security_group = self._security_group()
        queue = self._job_queue(security_group)
        job_definition = self._job_definition(uploads, results)
        state_machine = self._state_machine(queue, job_definition, results)
        self._trigger(uploads, state_machine)

        self.uploads_bucket = uploads.bucket
        self.uploads_bucket_arn = uploads.arn
        self.key_arn = self._key.arn
        self.results_bucket = results.bucket
        self.job_queue_arn = queue.arn
        self.job_queue_name = queue.name
        self.job_definition_arn = job_definition.arn
        self.state_machine_arn = state_machine.arn
        self.security_group_id = security_group.id
        self.register_outputs(
            {
                "uploadsBucket": self.uploads_bucket,
                "resultsBucket": self.results_bucket,
                "jobQueueArn": self.job_queue_arn,
                "jobDefinitionArn": self.job_definition_arn,
                "stateMachineArn": self.state_machine_arn,
                "securityGroupId": self.security_group_id,
            }
        )

    # --- buckets ----------------------------------------------------------------------------------

    def _bucket(
        self,
        role_name: str,
        rules: list[aws.s3.BucketLifecycleConfigurationRuleArgs],
        *,
        object_lock: bool = False,
    ) -> aws.s3.Bucket:
        name = f"{self._name}-{role_name}"
        bucket = private_bucket(
            name,
            ctx=self._ctx,
            parent=self,
            tags=self._tags,
            key=self._key,
            versioned=True,
            object_lock=object_lock,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=bucket.id, rules=rules, opts=self._child
        )
        bucket_policy(f"{name}-policy", bucket=bucket, statements=[], parent=self)
        return bucket

    def _default_retention(self, bucket: aws.s3.Bucket, lock: ObjectLockSettings) -> None:
        """Every new object version is locked for the configured days (S3 API DefaultRetention:
        Mode GOVERNANCE or COMPLIANCE, Days)."""
        retention = aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
            mode=lock.mode.value.upper(), days=lock.days
        )
        aws.s3.BucketObjectLockConfiguration(
            f"{self._name}-results-object-lock",
            bucket=bucket.id,
            rule=aws.s3.BucketObjectLockConfigurationRuleArgs(default_retention=retention),
            opts=self._child,
        )

    def _access_logs(self, sources: dict[str, aws.s3.Bucket]) -> None:
        """Server access logs of the data buckets, each under its own prefix of one log bucket
        kept as long as the stack's logs. Log delivery writes only to buckets with SSE-S3
        default encryption (S3 User Guide, "Enabling Amazon S3 server access logging", as quoted
        in aws-cdk#23513), so the log bucket has no KMS key; the bucket policy admits the logging service only for these
        sources in this account ("Permissions for log delivery": aws:SourceArn and
        aws:SourceAccount)."""
        name = f"{self._name}-access-logs"
        logs = private_bucket(
            name, ctx=self._ctx, parent=self, tags=self._tags, key=None, versioned=False
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=logs.id,
            rules=[expiry_rule("expire-access-logs", current_days=self._ctx.log_retention_days)],
            opts=self._child,
        )
        delivery = {
            "Sid": "S3ServerAccessLogs",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": logs.arn.apply(lambda arn: f"{arn}/*"),
            "Condition": {
                "StringEquals": {"aws:SourceAccount": self._ctx.account_id},
                "ArnLike": {"aws:SourceArn": [bucket.arn for bucket in sources.values()]},
            },
        }
        bucket_policy(f"{name}-policy", bucket=logs, statements=[delivery], parent=self)
        for role_name, bucket in sources.items():
            aws.s3.BucketLogging(
                f"{self._name}-{role_name}-access-logging",
                bucket=bucket.id,
                target_bucket=logs.id,
                target_prefix=f"{role_name}/",
                opts=self._child,
            )

    def _uploads_lifecycle(self) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
        settings = self._settings
        return [
            expiry_rule(
                "expire-uploads",
                current_days=settings.uploads_expire_days,
                noncurrent_days=settings.uploads_noncurrent_days,
                abort_multipart_days=settings.abort_multipart_days,
            )
        ]

    def _results_lifecycle(self) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
        settings = self._settings
        transition = aws.s3.BucketLifecycleConfigurationRuleTransitionArgs
        return [
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="tier-and-expire-results",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                transitions=[
                    transition(days=settings.results_ia_days, storage_class="STANDARD_IA"),
                    transition(days=settings.results_glacier_days, storage_class="GLACIER"),
                ],
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                    days=settings.results_expire_days
                ),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=settings.abort_multipart_days
                ),
            )
        ]

    # --- batch ------------------------------------------------------------------------------------

    def _security_group(self) -> aws.ec2.SecurityGroup:
        group = aws.ec2.SecurityGroup(
            f"{self._name}-jobs-sg",
            description="Batch jobs: outbound only, nothing may connect in",
            vpc_id=self._args.network.vpc_id,
            tags={**self._tags, "Name": f"{self._name}-jobs"},
            opts=self._child,
        )
        rule = {"direction": "out", "group_id": group.id, "parent": self, "tags": self._tags}
        tcp_rule(
            f"{self._name}-jobs-out-https",
            ports=(443, 443),
            description="HTTPS to S3, ECR, Logs and the internet",
            cidr_ipv4="0.0.0.0/0",
            **rule,
        )
        tcp_rule(
            f"{self._name}-jobs-out-vpc",
            ports=(0, 65535),
            description="TCP inside the VPC (database)",
            cidr_ipv4=self._args.network.cidr,
            **rule,
        )
        return group

    def _job_queue(self, security_group: aws.ec2.SecurityGroup) -> aws.batch.JobQueue:
        environments = [
            aws.batch.ComputeEnvironment(
                f"{self._name}-{compute_type.lower().replace('_', '-')}",
                type="MANAGED",
                compute_resources=aws.batch.ComputeEnvironmentComputeResourcesArgs(
                    type=compute_type,
                    max_vcpus=self._settings.max_vcpus,
                    subnets=self._args.network.private_subnet_ids,
                    security_group_ids=[security_group.id],
                ),
                tags=self._tags,
                opts=self._child,
            )
            for compute_type in COMPUTE_TYPES[self._settings.compute_order]
        ]
        # Replacing a compute environment in place fails: AWS Batch still sees the old queue
        # relationship moments after the queue was pointed elsewhere (pulumi-aws issue 6233), even
        # with create-before-delete. So a compute environment change replaces the queue too: the
        # new queue is created on the new environments, the old queue is deleted (the provider
        # waits until it is gone), and only then the old environment. Environments and the queue
        # are auto-named, so old and new never collide. Jobs still queued on the old queue are
        # cancelled by the replacement: change compute settings when the queue is idle.
        return aws.batch.JobQueue(
            f"{self._name}-queue",
            state="ENABLED",
            priority=1,
            compute_environment_orders=[
                aws.batch.JobQueueComputeEnvironmentOrderArgs(
                    order=order, compute_environment=environment.arn
                )
                for order, environment in enumerate(environments, start=1)
            ],
            tags=self._tags,
            opts=pulumi.ResourceOptions(
                parent=self, replace_on_changes=["computeEnvironmentOrders"]
            ),
        )

    def _job_definition(
        self, uploads: aws.s3.Bucket, results: aws.s3.Bucket
    ) -> aws.batch.JobDefinition:
        settings, ctx = self._settings, self._ctx
        group = log_group(
            f"{self._name}-job-logs",
            path=f"/{ctx.project}/{ctx.stack}/{COMPONENT}/jobs",
            ctx=ctx,
            key=self._key,
            parent=self,
            tags=self._tags,
        )
        trust = [service_trust(ctx, "ecs-tasks", source_arn=ctx.arn("ecs", "*"))]
        execution_role = role(
            f"{self._name}-job-execution",
            description="Batch on Fargate: pull the job image and write its logs",
            trust=trust,
            statements=self._pull_statements(group),
            parent=self,
            tags=self._tags,
        )
        prefix = settings.input_prefix
        job_role = role(
            f"{self._name}-job",
            description="The job: read new uploads, write results",
            trust=trust,
            statements=[
                allow(["s3:GetObject"], [uploads.arn.apply(lambda arn: f"{arn}/{prefix}*")]),
                allow(["s3:PutObject"], [results.arn.apply(lambda arn: f"{arn}/*")]),
                allow(["kms:Decrypt", "kms:GenerateDataKey"], [self._key.arn]),
            ],
            parent=self,
            tags=self._tags,
        )
        container = {
            "image": settings.image,
            "command": settings.command,
            "jobRoleArn": job_role.arn,
            "executionRoleArn": execution_role.arn,
            "resourceRequirements": [
                {"type": "VCPU", "value": f"{settings.vcpu:g}"},
                {"type": "MEMORY", "value": str(settings.memory)},
            ],
            "environment": [
                {"name": "RESULTS_BUCKET", "value": results.bucket},
                {"name": "RESULTS_PREFIX", "value": settings.results_prefix},
                # SDKs and the CLI call this region's S3 endpoint (reachable through the VPC's
                # gateway endpoint even without NAT) instead of guessing one.
                {"name": "AWS_DEFAULT_REGION", "value": ctx.region},
            ],
            "readonlyRootFilesystem": True,
            "volumes": [{"name": SCRATCH_VOLUME}],
            "mountPoints": [
                {"sourceVolume": SCRATCH_VOLUME, "containerPath": SCRATCH_PATH, "readOnly": False}
            ],
            # Absent: Fargate's default 20 GiB.
            **(
                {"ephemeralStorage": {"sizeInGiB": settings.scratch_gib}}
                if settings.scratch_gib is not None
                else {}
            ),
            "fargatePlatformConfiguration": {"platformVersion": "LATEST"},
            "networkConfiguration": {"assignPublicIp": "DISABLED"},
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": group.name,
                    "awslogs-region": ctx.region,
                    "awslogs-stream-prefix": JOB_NAME,
                },
            },
        }
        exit_rule = aws.batch.JobDefinitionRetryStrategyEvaluateOnExitArgs
        return aws.batch.JobDefinition(
            f"{self._name}-job",
            type="container",
            platform_capabilities=["FARGATE"],
            container_properties=pulumi.Output.json_dumps(container),
            # Every parameter the state machine passes, empty until it does.
            parameters=dict.fromkeys(JOB_PARAMETERS, ""),
            retry_strategy=aws.batch.JobDefinitionRetryStrategyArgs(
                attempts=settings.retry_attempts,
                # Retry what the infrastructure did to the job; an application error exits at once.
                evaluate_on_exits=[
                    exit_rule(action="RETRY", on_status_reason="Your Spot Task was interrupted*"),
                    exit_rule(action="RETRY", on_status_reason="Host EC2*"),
                    exit_rule(action="RETRY", on_status_reason="ResourceInitializationError*"),
                    exit_rule(action="RETRY", on_reason="CannotPullContainerError*"),
                    exit_rule(action="EXIT", on_exit_code="*"),
                ],
            ),
            timeout=aws.batch.JobDefinitionTimeoutArgs(
                attempt_duration_seconds=settings.attempt_timeout_seconds
            ),
            propagate_tags=True,
            tags=self._tags,
            opts=self._child,
        )

    def _pull_statements(self, group: aws.cloudwatch.LogGroup) -> list[Statement]:
        statements = [
            allow(
                ["logs:CreateLogStream", "logs:PutLogEvents"], [group.arn.apply(lambda a: f"{a}:*")]
            )
        ]
        ecr = _PRIVATE_ECR.match(self._settings.image)
        if ecr:
            account, region, repository = ecr.groups()
            repository_arn = (
                f"arn:{self._ctx.partition}:ecr:{region}:{account}:repository/{repository}"
            )
            statements += ecr_pull(repository_arn)
        return statements

    # --- orchestration ----------------------------------------------------------------------------

    def _state_machine(
        self,
        queue: aws.batch.JobQueue,
        job_definition: aws.batch.JobDefinition,
        results: aws.s3.Bucket,
    ) -> aws.sfn.StateMachine:
        ctx, topic = self._ctx, self._args.topic
        group = log_group(
            f"{self._name}-states-logs",
            # The /aws/vendedlogs/ prefix keeps Step Functions from growing the account's
            # CloudWatch Logs resource policy, which has a hard size limit.
            path=f"/aws/vendedlogs/states/{self._name}",
            ctx=ctx,
            key=self._key,
            parent=self,
            tags=self._tags,
        )
        definition_family = job_definition.arn.apply(lambda arn: arn.rsplit(":", 1)[0] + ":*")
        machine_role = role(
            f"{self._name}-states",
            description="Step Functions: run this pipeline's Batch job and report failures",
            trust=[service_trust(ctx, "states")],
            statements=[
                allow(["batch:SubmitJob"], [queue.arn, definition_family]),
                allow(["batch:TerminateJob"], [ctx.arn("batch", "job/*")]),
                # DescribeJobs has no resource-level permissions: AWS requires "*".
                allow(["batch:DescribeJobs"], ["*"]),
                # The managed rule that lets .sync wait for Batch job state changes.
                allow(
                    ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                    [ctx.arn("events", "rule/StepFunctionsGetEventsForBatchJobsRule")],
                ),
                allow(["sns:Publish"], [topic.arn]),
                allow(["kms:Decrypt", "kms:GenerateDataKey*"], [topic.key_arn]),
                # Log delivery and X-Ray APIs have no resource-level permissions: AWS requires "*".
                allow(LOG_DELIVERY_ACTIONS, ["*"]),
                allow(XRAY_ACTIONS, ["*"]),
            ],
            parent=self,
            tags=self._tags,
        )
        definition = state_machine_definition(
            queue_arn=queue.arn,
            job_definition_arn=job_definition.arn,
            topic_arn=topic.arn,
            results_bucket=results.bucket,
            results_prefix=self._settings.results_prefix,
        )
        return aws.sfn.StateMachine(
            f"{self._name}-states",
            type="STANDARD",
            role_arn=machine_role.arn,
            definition=pulumi.Output.json_dumps(definition),
            # Every state transition with its input and output: the audit trail of which upload
            # became which result. The data is an S3 event (bucket, key) and the Batch job's
            # description, no object content; the group is KMS-encrypted.
            logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                level="ALL",
                include_execution_data=True,
                log_destination=group.arn.apply(lambda arn: f"{arn}:*"),
            ),
            tracing_configuration=aws.sfn.StateMachineTracingConfigurationArgs(enabled=True),
            tags=self._tags,
            opts=self._child,
        )

    def _trigger(self, uploads: aws.s3.Bucket, state_machine: aws.sfn.StateMachine) -> None:
        ctx, prefix = self._ctx, self._settings.input_prefix
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-uploads",
            description=f"Object Created under {prefix} starts the pipeline",
            event_pattern=pulumi.Output.json_dumps(
                {
                    "source": ["aws.s3"],
                    "detail-type": ["Object Created"],
                    "detail": {
                        "bucket": {"name": [uploads.bucket]},
                        "object": {"key": [{"prefix": prefix}]},
                    },
                }
            ),
            tags=self._tags,
            opts=self._child,
        )
        dead_letters = aws.sqs.Queue(
            f"{self._name}-trigger-dlq",
            kms_master_key_id=self._key.arn,
            message_retention_seconds=14 * 24 * 3600,
            tags=self._tags,
            opts=self._child,
        )
        aws.sqs.QueuePolicy(
            f"{self._name}-trigger-dlq-policy",
            queue_url=dead_letters.url,
            policy=_policy_for_dead_letters(dead_letters.arn, rule.arn),
            opts=self._child,
        )
        starter = role(
            f"{self._name}-trigger",
            description="EventBridge: start this pipeline's state machine, nothing else",
            trust=[service_trust(ctx, "events")],
            statements=[allow(["states:StartExecution"], [state_machine.arn])],
            parent=self,
            tags=self._tags,
        )
        aws.cloudwatch.EventTarget(
            f"{self._name}-uploads-target",
            rule=rule.name,
            arn=state_machine.arn,
            role_arn=starter.arn,
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_event_age_in_seconds=3600, maximum_retry_attempts=10
            ),
            dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=dead_letters.arn),
            opts=self._child,
        )


def _policy_for_dead_letters(
    queue_arn: pulumi.Output[str], rule_arn: pulumi.Output[str]
) -> pulumi.Output[str]:
    return policy_document(
        [
            {
                "Sid": "EventBridgeDeadLetters",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ]
    )
