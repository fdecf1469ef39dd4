"""Pipeline: buckets, Batch, the state machine and its trigger, per stack."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.common import StackContext
from components.network import Network, NetworkArgs
from components.notifications import Notifications, NotificationsArgs
from components.pipeline import LOG_DELIVERY_ACTIONS, XRAY_ACTIONS, Pipeline, PipelineArgs
from components.settings import Settings, SettingsError, parse_settings
from tests.conftest import STACKS, Offline, component_run, statements
from tooling.offline import OfflineRun, stack_config

BUCKET = "aws:s3/bucket:Bucket"
COMPUTE_ENVIRONMENT = "aws:batch/computeEnvironment:ComputeEnvironment"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/pipe-key-key-id"
# Actions AWS offers no resource-level permissions for; anything else must name its resource.
WILDCARD_ONLY = {
    "ecr:GetAuthorizationToken",
    "batch:DescribeJobs",
    *LOG_DELIVERY_ACTIONS,
    *XRAY_ACTIONS,
}


def build(settings: Settings, ctx: StackContext) -> Pipeline:
    network = Network("net", NetworkArgs(settings=settings.config.network, ctx=ctx))
    alerts = Notifications("alerts", NotificationsArgs(emails=[], ctx=ctx))
    return Pipeline(
        "pipe",
        PipelineArgs(
            settings=settings.config.pipeline, ctx=ctx, network=network, topic=alerts.topic
        ),
    )


def stack_run(stack: str) -> OfflineRun:
    return component_run(build, stack)


def definition(run: OfflineRun) -> dict[str, Any]:
    return json.loads(run.one("aws:sfn/stateMachine:StateMachine").inputs["definition"])


STATE_FIELDS = {
    "Task": {
        "Type",
        "Resource",
        "Parameters",
        "Retry",
        "Catch",
        "ResultPath",
        "Next",
        "End",
        "Comment",
        "TimeoutSeconds",
    },
    "Fail": {"Type", "Error", "Cause", "Comment"},
    "Succeed": {"Type", "Comment"},
}


def asl_problems(machine: dict[str, Any]) -> list[str]:
    """Structural checks of Amazon States Language for the state types this pipeline uses."""
    states: dict[str, dict[str, Any]] = machine.get("States", {})
    problems = [] if machine.get("StartAt") in states else ["StartAt names no state"]
    for name, state in states.items():
        kind = state.get("Type")
        if kind not in STATE_FIELDS:
            problems.append(f"{name}: unknown Type {kind}")
            continue
        problems += [
            f"{name}: field {f} not allowed in {kind}" for f in set(state) - STATE_FIELDS[kind]
        ]
        if kind == "Task":
            if ("Next" in state) == bool(state.get("End")):
                problems.append(f"{name}: a Task needs exactly one of Next and End")
            targets = [state.get("Next")] + [c["Next"] for c in state.get("Catch", [])]
            problems += [f"{name}: goes to unknown {t}" for t in targets if t and t not in states]
            for retry in state.get("Retry", []):
                if not retry.get("ErrorEquals") or retry.get("BackoffRate", 1) < 1:
                    problems.append(f"{name}: bad Retry {retry}")
            for catch in state.get("Catch", []):
                if not catch.get("ErrorEquals") or "Next" not in catch:
                    problems.append(f"{name}: bad Catch {catch}")
            for key, value in state.get("Parameters", {}).items():
                if key.endswith(".$") and not str(value).startswith(("$", "States.")):
                    problems.append(f"{name}: {key} is not a path or intrinsic")
    reachable, frontier = set(), [machine.get("StartAt")]
    while frontier:
        current = frontier.pop()
        if current in reachable or current not in states:
            continue
        reachable.add(current)
        state = states[current]
        frontier += [state.get("Next")] + [c["Next"] for c in state.get("Catch", [])]
    problems += [f"{name}: unreachable" for name in set(states) - reachable]
    return problems


@pytest.mark.parametrize("stack", STACKS)
def test_definition_is_valid_states_language(stack: str) -> None:
    assert asl_problems(definition(stack_run(stack))) == []


def test_the_validator_rejects_a_broken_definition() -> None:
    broken = {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "x", "Next": "Nowhere"}}}
    assert asl_problems(broken) == ["A: goes to unknown Nowhere"]


def test_definition_waits_for_the_job_retries_and_reports_failures() -> None:
    run = stack_run("prod")
    states = definition(run)["States"]
    task = states["ProcessUpload"]
    assert task["Resource"] == "arn:aws:states:::batch:submitJob.sync"
    parameters = task["Parameters"]["Parameters"]
    assert (parameters["bucket.$"], parameters["key.$"]) == (
        "$.detail.bucket.name",
        "$.detail.object.key",
    )
    assert task["Retry"][0]["BackoffRate"] == 2.0
    assert task["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ReportFailure"}
    ]
    assert states["ReportFailure"]["Resource"] == "arn:aws:states:::sns:publish"
    topic = run.physical_name("aws:sns/topic:Topic", "alerts-topic")
    assert (
        states["ReportFailure"]["Parameters"]["TopicArn"]
        == f"arn:aws:sns:eu-west-1:123456789012:{topic}"
    )
    assert states["ReportFailure"]["Next"] == "Failed"
    assert states["Failed"]["Type"] == "Fail"


def test_state_machine_logs_and_traces() -> None:
    machine = stack_run("prod").one("aws:sfn/stateMachine:StateMachine").inputs
    assert machine["type"] == "STANDARD"
    # Every event with its data (sfn-log-all-execution-data): which upload became which result.
    assert machine["loggingConfiguration"]["level"] == "ALL"
    assert machine["loggingConfiguration"]["includeExecutionData"] is True
    assert machine["tracingConfiguration"] == {"enabled": True}


@pytest.mark.parametrize("stack", STACKS)
def test_iam_documents_name_their_resources(stack: str) -> None:
    for policy in stack_run(stack).of_type("aws:iam/rolePolicy:RolePolicy"):
        for statement in statements(policy.inputs["policy"]):
            if "*" in statement["Resource"]:
                assert set(statement["Action"]) <= WILDCARD_ONLY, (policy.name, statement)


def role_statements(run: OfflineRun, role: str) -> dict[str, list[str]]:
    policy = statements(
        run.one("aws:iam/rolePolicy:RolePolicy", f"pipe-{role}-policy").inputs["policy"]
    )
    return {action: s["Resource"] for s in policy for action in s["Action"]}


def test_job_role_reads_the_input_prefix_and_writes_results_only() -> None:
    run = stack_run("prod")
    grants = role_statements(run, "job")
    uploads = run.physical_name(BUCKET, "pipe-uploads")
    results = run.physical_name(BUCKET, "pipe-results")
    assert grants["s3:GetObject"] == [f"arn:aws:s3:::{uploads}/incoming/*"]
    assert grants["s3:PutObject"] == [f"arn:aws:s3:::{results}/*"]
    assert grants["kms:Decrypt"] == [KEY]
    assert set(grants) == {"s3:GetObject", "s3:PutObject", "kms:Decrypt", "kms:GenerateDataKey"}


def test_state_machine_role_is_scoped_to_this_queue_definition_and_topic() -> None:
    run = stack_run("prod")
    grants = role_statements(run, "states")
    queue = run.physical_name("aws:batch/jobQueue:JobQueue", "pipe-queue")
    job = run.physical_name("aws:batch/jobDefinition:JobDefinition", "pipe-job")
    topic = run.physical_name("aws:sns/topic:Topic", "alerts-topic")
    assert grants["batch:SubmitJob"] == [
        f"arn:aws:batch:eu-west-1:123456789012:job-queue/{queue}",
        f"arn:aws:batch:eu-west-1:123456789012:job-definition/{job}:*",
    ]
    assert grants["sns:Publish"] == [f"arn:aws:sns:eu-west-1:123456789012:{topic}"]
    assert grants["events:PutRule"] == [
        "arn:aws:events:eu-west-1:123456789012:rule/StepFunctionsGetEventsForBatchJobsRule"
    ]


def test_trigger_starts_only_this_state_machine_with_retries_and_a_dead_letter_queue() -> None:
    run = stack_run("prod")
    rule = json.loads(run.one("aws:cloudwatch/eventRule:EventRule").inputs["eventPattern"])
    assert rule["detail-type"] == ["Object Created"]
    assert rule["detail"]["object"]["key"] == [{"prefix": "incoming/"}]
    assert rule["detail"]["bucket"]["name"] == [run.physical_name(BUCKET, "pipe-uploads")]
    machine = run.physical_name("aws:sfn/stateMachine:StateMachine", "pipe-states")
    assert role_statements(run, "trigger") == {
        "states:StartExecution": [f"arn:aws:states:eu-west-1:123456789012:stateMachine:{machine}"]
    }
    target = run.one("aws:cloudwatch/eventTarget:EventTarget").inputs
    assert target["retryPolicy"]["maximumRetryAttempts"] == 10
    queue = run.one("aws:sqs/queue:Queue").inputs
    assert queue["kmsMasterKeyId"] == KEY
    dlq = run.physical_name("aws:sqs/queue:Queue", "pipe-trigger-dlq")
    assert target["deadLetterConfig"]["arn"] == f"arn:aws:sqs:eu-west-1:123456789012:{dlq}"


@pytest.mark.parametrize("stack, protected", [("dev", False), ("staging", True), ("prod", True)])
def test_buckets_per_stack(stack: str, protected: bool) -> None:
    run = stack_run(stack)
    buckets = run.of_type(BUCKET)
    # Protected stacks add the data buckets' access log bucket (tested below).
    assert len(buckets) == 2 + protected
    assert all(
        b.inputs["forceDestroy"] is (not protected) and b.protect is protected for b in buckets
    )
    assert len(run.of_type("aws:s3/bucketVersioning:BucketVersioning")) == 2
    blocks = run.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert len(blocks) == 2 + protected and all(
        all(v for k, v in b.inputs.items() if k != "bucket") for b in blocks
    )
    for encryption in (
        e
        for e in run.of_type(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        )
        if "access-logs" not in e.name
    ):
        [rule] = encryption.inputs["rules"]
        assert rule["applyServerSideEncryptionByDefault"] == {
            "sseAlgorithm": "aws:kms",
            "kmsMasterKeyId": KEY,
        }
        assert rule["bucketKeyEnabled"] is True
    for policy in (
        p for p in run.of_type("aws:s3/bucketPolicy:BucketPolicy") if "access-logs" not in p.name
    ):
        assert [s["Sid"] for s in statements(policy.inputs["policy"])] == ["DenyInsecureTransport"]
    assert run.one("aws:s3/bucketNotification:BucketNotification").inputs["eventbridge"] is True


def test_lifecycle_days() -> None:
    run = stack_run("prod")
    [uploads] = run.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "uploads-lifecycle"
    ).inputs["rules"]
    assert uploads["expiration"] == {"days": 365}
    assert uploads["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
    assert uploads["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    [results] = run.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "results-lifecycle"
    ).inputs["rules"]
    assert [(t["days"], t["storageClass"]) for t in results["transitions"]] == [
        (30, "STANDARD_IA"),
        (90, "GLACIER"),
    ]
    assert results["expiration"] == {"days": 1825}


@pytest.mark.parametrize(
    "stack, order, vcpus",
    [
        ("dev", ["FARGATE_SPOT", "FARGATE"], 4),
        ("staging", ["FARGATE_SPOT", "FARGATE"], 16),
        ("prod", ["FARGATE", "FARGATE_SPOT"], 64),
    ],
)
def test_compute_environment_order_per_stack(stack: str, order: list[str], vcpus: int) -> None:
    run = stack_run(stack)
    # Keyed by the name AWS knows each environment by, which the queue's ARNs end with.
    environments = {
        run.physical_name(COMPUTE_ENVIRONMENT, r.name): r.inputs["computeResources"]
        for r in run.of_type(COMPUTE_ENVIRONMENT)
    }
    queue = run.one("aws:batch/jobQueue:JobQueue")
    ordered = sorted(queue.inputs["computeEnvironmentOrders"], key=lambda o: o["order"])
    names = [o["computeEnvironment"].rsplit("/", 1)[1] for o in ordered]
    assert [environments[n]["type"] for n in names] == order
    assert all(e["maxVcpus"] == vcpus for e in environments.values())
    assert all(
        e["subnets"] == ["subnet-private-1", "subnet-private-2", "subnet-private-3"]
        for e in environments.values()
    )
    assert "computeEnvironmentOrders" in queue.replace_on_changes


def test_job_definition_runs_on_fargate_with_retries_and_timeout() -> None:
    job = stack_run("prod").one("aws:batch/jobDefinition:JobDefinition").inputs
    assert job["platformCapabilities"] == ["FARGATE"]
    assert job["timeout"] == {"attemptDurationSeconds": 3600}
    strategy = job["retryStrategy"]
    assert strategy["attempts"] == 3
    assert strategy["evaluateOnExits"][-1] == {"action": "EXIT", "onExitCode": "*"}
    assert {"action": "RETRY", "onStatusReason": "Your Spot Task was interrupted*"} in strategy[
        "evaluateOnExits"
    ]
    container = json.loads(job["containerProperties"])
    assert container["resourceRequirements"] == [
        {"type": "VCPU", "value": "1"},
        {"type": "MEMORY", "value": "2048"},
    ]
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert container["networkConfiguration"] == {"assignPublicIp": "DISABLED"}
    assert job["propagateTags"] is True


def test_eventbridge_may_write_to_the_encrypted_dead_letter_queue_without_a_source_condition() -> (
    None
):
    # The EventBridge User Guide grants events.amazonaws.com on the key of an encrypted SQS
    # target with no condition; the queue policy, not the key, is scoped to the rule.
    key_policy = statements(stack_run("prod").one("aws:kms/key:Key", "pipe-key").inputs["policy"])
    grants = [s for s in key_policy if s["Principal"].get("Service") == "events.amazonaws.com"]
    assert grants == [
        {
            "Sid": "EventBridgeDeadLetters",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
        }
    ]


def test_jobs_security_group_admits_nothing() -> None:
    run = stack_run("prod")
    into = [
        r
        for r in run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == "sg-pipe-jobs-sg"
    ]
    assert into == []


def pipeline_error(**values: object) -> str:
    with pytest.raises(SettingsError) as caught:
        parse_settings(
            project="platform", stack="prod", region="eu-west-1", raw={"pipeline": values}
        )
    return str(caught.value)


def test_memory_that_does_not_fit_the_vcpu_is_reported() -> None:
    assert "memory 8192 does not fit vcpu 0.5 on Fargate; allowed: 1024 to 4096" in pipeline_error(
        vcpu=0.5, memory=8192
    )


def test_max_vcpus_below_one_is_reported() -> None:
    assert "platform:pipeline.maxVcpus = 0: 0 is not between 1 and 4096" in pipeline_error(
        maxVcpus=0
    )


def test_transition_after_expiry_is_reported() -> None:
    message = pipeline_error(resultsIaDays=400, resultsGlacierDays=500, resultsExpireDays=365)
    assert (
        "resultsIaDays (400) < resultsGlacierDays (500) < resultsExpireDays (365) must hold"
        in message
    )


# --- the default job ------------------------------------------------------------------------------


def container(run: OfflineRun) -> dict[str, Any]:
    return json.loads(
        run.one("aws:batch/jobDefinition:JobDefinition").inputs["containerProperties"]
    )


def test_default_job_image_is_the_pinned_public_aws_cli() -> None:
    assert container(stack_run("prod"))["image"] == "public.ecr.aws/aws-cli/aws-cli:2.31.23"


def test_default_job_copies_the_upload_to_the_results_prefix() -> None:
    # The image's entrypoint is `aws`: the command is its arguments. Each placeholder is a whole
    # argument, the form AWS Batch documents for parameter substitution.
    assert container(stack_run("prod"))["command"] == [
        "s3",
        "cp",
        "Ref::source",
        "Ref::destination",
        "--copy-props",
        "metadata-directive",
        "--only-show-errors",
    ]


def test_state_machine_passes_the_copy_source_and_destination() -> None:
    run = stack_run("prod")
    results = run.physical_name(BUCKET, "pipe-results")
    parameters = definition(run)["States"]["ProcessUpload"]["Parameters"]["Parameters"]
    assert parameters["source.$"] == (
        "States.Format('s3://{}/{}', $.detail.bucket.name, $.detail.object.key)"
    )
    assert parameters["destination.$"] == (
        f"States.Format('s3://{results}/processed/{{}}', $.detail.object.key)"
    )


def test_job_definition_declares_every_parameter_the_state_machine_passes() -> None:
    run = stack_run("prod")
    passed = definition(run)["States"]["ProcessUpload"]["Parameters"]["Parameters"]
    declared = run.one("aws:batch/jobDefinition:JobDefinition").inputs["parameters"]
    assert sorted(declared) == sorted(name.removesuffix(".$") for name in passed)


def test_job_root_stays_read_only_with_a_writable_scratch_volume_at_tmp() -> None:
    job = container(stack_run("prod"))
    assert job["readonlyRootFilesystem"] is True
    assert job["volumes"] == [{"name": "scratch"}]
    assert job["mountPoints"] == [
        {"sourceVolume": "scratch", "containerPath": "/tmp", "readOnly": False}
    ]


def test_job_uses_fargate_default_ephemeral_storage_unless_set(offline: Offline) -> None:
    assert "ephemeralStorage" not in container(stack_run("prod"))
    run = offline.component(build, "prod", {"platform:pipeline": json.dumps({"scratchGib": 50})})
    assert container(run)["ephemeralStorage"] == {"sizeInGiB": 50}


def test_job_role_covers_the_default_copy_and_nothing_more() -> None:
    run = stack_run("prod")
    grants = role_statements(run, "job")
    uploads = run.physical_name(BUCKET, "pipe-uploads")
    results = run.physical_name(BUCKET, "pipe-results")
    # s3 cp between buckets: HeadObject and CopyObject (or UploadPartCopy) read the source with
    # s3:GetObject and write with s3:PutObject; SSE-KMS on both sides needs Decrypt and
    # GenerateDataKey on the pipeline key, which encrypts both buckets.
    assert grants == {
        "s3:GetObject": [f"arn:aws:s3:::{uploads}/incoming/*"],
        "s3:PutObject": [f"arn:aws:s3:::{results}/*"],
        "kms:Decrypt": [KEY],
        "kms:GenerateDataKey": [KEY],
    }


@pytest.mark.parametrize(
    "values, message",
    [
        (
            {"image": "aws-cli"},
            "platform:pipeline.image = 'aws-cli': not a full image reference with a tag or "
            "digest (registry/name:tag)",
        ),
        ({"command": []}, "platform:pipeline.command = []"),
        (
            {"command": ["s3", "cp", "Ref::upload", "Ref::destination"]},
            "Ref::upload is not passed by the state machine; use Ref::bucket, Ref::key, "
            "Ref::source or Ref::destination",
        ),
        (
            {"command": ["s3", "cp", "s3://Ref::bucket/Ref::key", "Ref::destination"]},
            "'s3://Ref::bucket/Ref::key': a placeholder must be a whole argument",
        ),
        (
            {"resultsPrefix": "out"},
            "platform:pipeline.resultsPrefix = 'out'",
        ),
        ({"scratchGib": 20}, "platform:pipeline.scratchGib = 20: 20 is not between 21 and 200"),
    ],
)
def test_bad_job_settings_are_reported(values: dict[str, object], message: str) -> None:
    assert message in pipeline_error(**values)


# --- server access logs and object lock (issue 18) ------------------------------------------------

LOGGING = "aws:s3/bucketLogging:BucketLogging"
LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"


def pipeline_with(stack: str, **values: object) -> OfflineRun:
    section = {**json.loads(stack_config(stack)["platform:pipeline"]), **values}
    return Offline().component(build, stack, {"platform:pipeline": json.dumps(section)})


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_protected_stacks_log_every_request_to_the_data_buckets(stack: str) -> None:
    run = stack_run(stack)
    targets = {r.name: r.inputs for r in run.of_type(LOGGING)}
    assert set(targets) == {"pipe-uploads-access-logging", "pipe-results-access-logging"}
    for name, inputs in targets.items():
        role = name.removeprefix("pipe-").removesuffix("-access-logging")
        assert inputs["bucket"] == f"pipe-{role}-id"
        assert inputs["targetBucket"] == "pipe-access-logs-id"
        assert inputs["targetPrefix"] == f"{role}/"


def test_dev_keeps_no_access_logs() -> None:
    run = stack_run("dev")
    assert run.of_type(LOGGING) == []
    assert {r.name for r in run.of_type(BUCKET)} == {"pipe-uploads", "pipe-results"}


def test_the_access_log_bucket_uses_s3_keys_and_admits_only_the_logging_service() -> None:
    run = stack_run("prod")
    [rule] = run.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "access-logs-encryption",
    ).inputs["rules"]
    # Server access log delivery writes only to SSE-S3 destinations (S3 User Guide, "Enabling
    # Amazon S3 server access logging").
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    logs = run.physical_name(BUCKET, "pipe-access-logs")
    delivery, _deny = statements(
        run.one("aws:s3/bucketPolicy:BucketPolicy", "access-logs-policy").inputs["policy"]
    )
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Action"] == "s3:PutObject"
    assert delivery["Resource"] == f"arn:aws:s3:::{logs}/*"
    assert delivery["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {
            "aws:SourceArn": [
                f"arn:aws:s3:::{run.physical_name(BUCKET, 'pipe-uploads')}",
                f"arn:aws:s3:::{run.physical_name(BUCKET, 'pipe-results')}",
            ]
        },
    }
    [expiry] = run.one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "access-logs-lifecycle"
    ).inputs["rules"]
    assert expiry["expiration"] == {"days": 365}  # prod's log retention
    assert run.one(BUCKET, "pipe-access-logs").protect


def test_object_lock_is_off_unless_asked_for() -> None:
    run = stack_run("prod")
    assert run.of_type(LOCK) == []
    assert "objectLockEnabled" not in run.one(BUCKET, "pipe-results").inputs


def test_object_lock_keeps_results_for_the_configured_days_and_mode() -> None:
    run = pipeline_with("prod", resultsObjectLock={"mode": "compliance", "days": 400})
    assert run.one(BUCKET, "pipe-results").inputs["objectLockEnabled"] is True
    assert "objectLockEnabled" not in run.one(BUCKET, "pipe-uploads").inputs
    lock = run.one(LOCK, "results-object-lock").inputs
    assert lock["bucket"] == "pipe-results-id"
    assert lock["rule"] == {"defaultRetention": {"mode": "COMPLIANCE", "days": 400}}


@pytest.mark.parametrize(
    "value, words",
    [
        ({"mode": "legal", "days": 30}, "platform:pipeline.resultsObjectLock.mode = 'legal'"),
        ({"mode": "governance", "days": 0}, "platform:pipeline.resultsObjectLock.days = 0: 0 is not between 1 and 36500"),
        ({"mode": "governance"}, "platform:pipeline.resultsObjectLock.days"),
        ({"mode": "governance", "days": 30, "years": 1}, "platform:pipeline.resultsObjectLock.years"),
    ],
)  # fmt: skip
def test_a_bad_object_lock_is_reported(value: dict[str, object], words: str) -> None:
    assert words in pipeline_error(resultsObjectLock=value)
