"""Batch and Step Functions: private jobs that retry and time out, observable state machines."""

from __future__ import annotations

from collections.abc import Iterable

from .core import Config, Props, mapping, parsed, resource_rule

JOB = "aws:batch/jobDefinition:JobDefinition"
ENVIRONMENT = "aws:batch/computeEnvironment:ComputeEnvironment"
MACHINE = "aws:sfn/stateMachine:StateMachine"


def _environment_private(props: Props, _: Config) -> Iterable[str]:
    resources = props.get("computeResources") or {}
    if not resources.get("subnets") or not resources.get("securityGroupIds"):
        yield "names no subnets and security groups of its own"


def _job_private(props: Props, _: Config) -> Iterable[str]:
    container = mapping(parsed(props.get("containerProperties")))
    if mapping(container.get("networkConfiguration")).get("assignPublicIp") == "ENABLED":
        yield "gives its jobs public IP addresses"


def _retry_and_timeout(props: Props, _: Config) -> Iterable[str]:
    if not (props.get("retryStrategy") or {}).get("attempts"):
        yield "never retries a job the infrastructure failed"
    if not (props.get("timeout") or {}).get("attemptDurationSeconds"):
        yield "lets an attempt run forever"


def _observable(props: Props, _: Config) -> Iterable[str]:
    if (props.get("loggingConfiguration") or {}).get("level", "OFF") == "OFF":
        yield "writes no execution logs"
    if not (props.get("tracingConfiguration") or {}).get("enabled"):
        yield "has X-Ray tracing off"


RULES = [
    resource_rule(
        "batch-compute-private",
        "Batch compute environments run in named private subnets and security groups.",
        types=[ENVIRONMENT],
        check=_environment_private,
        fix="Give computeResources the private subnets and an egress-only security group.",
    ),
    resource_rule(
        "batch-jobs-no-public-ip",
        "Batch Fargate jobs get no public IP address.",
        types=[JOB],
        check=_job_private,
        fix="Set networkConfiguration.assignPublicIp to DISABLED and egress through NAT or endpoints.",
    ),
    resource_rule(
        "batch-job-retry-and-timeout",
        "Batch job definitions retry infrastructure failures and time out.",
        types=[JOB],
        check=_retry_and_timeout,
        fix="Add retryStrategy (attempts, evaluateOnExit) and timeout.attemptDurationSeconds.",
    ),
    resource_rule(
        "sfn-logging-and-tracing",
        "State machines log executions and trace with X-Ray.",
        types=[MACHINE],
        check=_observable,
        fix="Set loggingConfiguration.level to ERROR or ALL and tracingConfiguration.enabled to true.",
    ),
]
