"""ECS and ECR: safe deployments, private tasks, hardened containers, scanned immutable images."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pulumi_policy import Severity

from .core import Config, Props, containers, mapping, parsed, resource_rule

SERVICE = "aws:ecs/service:Service"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
REPOSITORY = "aws:ecr/repository:Repository"
BATCH_JOB = "aws:batch/jobDefinition:JobDefinition"


def _circuit_breaker(props: Props, _: Config) -> Iterable[str]:
    breaker = props.get("deploymentCircuitBreaker") or {}
    if not (breaker.get("enable") and breaker.get("rollback")):
        yield "deploys without a circuit breaker that rolls back"


def _no_public_ip(props: Props, _: Config) -> Iterable[str]:
    if (props.get("networkConfiguration") or {}).get("assignPublicIp"):
        yield "gives its tasks public IP addresses"


def _not_privileged(props: Props, _: Config) -> Iterable[str]:
    # A Batch job definition has one container, in containerProperties.
    if mapping(parsed(props.get("containerProperties"))).get("privileged"):
        yield "runs its container privileged"
    for container in containers(props.get("containerDefinitions")):
        if container.get("privileged"):
            yield f"runs container {container.get('name')} privileged"


def _logging(props: Props, _: Config) -> Iterable[str]:
    for container in containers(props.get("containerDefinitions")):
        if not container.get("logConfiguration"):
            yield f"has container {container.get('name')} without a log configuration"


def _read_only_root(props: Props, _: Config) -> Iterable[str]:
    for container in containers(props.get("containerDefinitions")):
        if not container.get("readonlyRootFilesystem"):
            yield f"lets container {container.get('name')} write its root file system"


# A private ECR registry: <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn] (ECR User Guide,
# Registries.html "Private registry concepts"); images there come only from releases, by digest.
PRIVATE_ECR = re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")


def _by_digest(props: Props, _: Config) -> Iterable[str]:
    for container in containers(props.get("containerDefinitions")):
        image = str(container.get("image") or "")
        if PRIVATE_ECR.match(image) and "@sha256:" not in image:
            yield f"runs container {container.get('name')} from {image}, an ECR image not pinned by digest"


def _scan(props: Props, _: Config) -> Iterable[str]:
    if not (props.get("imageScanningConfiguration") or {}).get("scanOnPush"):
        yield "does not scan images on push"


def _immutable(props: Props, _: Config) -> Iterable[str]:
    if props.get("imageTagMutability") not in ("IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"):
        yield "lets a tag be moved to another image"


RULES = [
    resource_rule(
        "ecs-circuit-breaker-rollback",
        "ECS services roll back failed deployments automatically.",
        types=[SERVICE],
        check=_circuit_breaker,
        fix="Set deploymentCircuitBreaker to enable=true, rollback=true.",
    ),
    resource_rule(
        "ecs-no-public-ip",
        "ECS service tasks get no public IP address.",
        types=[SERVICE],
        check=_no_public_ip,
        fix="Run tasks in private subnets with assignPublicIp=false; reach them through a load balancer.",
    ),
    resource_rule(
        "ecs-not-privileged",
        "ECS task definitions and Batch job definitions run no privileged containers.",
        types=[TASK, BATCH_JOB],
        check=_not_privileged,
        severity=Severity.CRITICAL,
        fix="Remove privileged: true; grant the specific Linux capabilities needed instead.",
    ),
    resource_rule(
        "ecs-container-logging",
        "Every container sends its logs somewhere.",
        types=[TASK],
        check=_logging,
        fix="Add a logConfiguration (awslogs into a KMS-encrypted log group with retention).",
    ),
    resource_rule(
        "ecs-read-only-root",
        "Containers run with a read-only root file system.",
        types=[TASK],
        check=_read_only_root,
        severity=Severity.MEDIUM,
        fix="Set readonlyRootFilesystem to true and mount a volume where the app must write.",
    ),
    resource_rule(
        "ecs-image-by-digest",
        "Task definitions run images of private ECR registries by digest only.",
        types=[TASK],
        check=_by_digest,
        fix="Deploy the image through a release (platform:release), which pins "
        "<repository>@sha256:<digest>; an ECR tag bypasses the release's scan and migration.",
    ),
    resource_rule(
        "ecr-scan-on-push",
        "ECR repositories scan images on push.",
        types=[REPOSITORY],
        check=_scan,
        fix="Set imageScanningConfiguration.scanOnPush to true.",
    ),
    resource_rule(
        "ecr-immutable-tags",
        "ECR repositories keep tags immutable.",
        types=[REPOSITORY],
        check=_immutable,
        fix="Set imageTagMutability to IMMUTABLE and deploy each release under a new tag.",
    ),
]
