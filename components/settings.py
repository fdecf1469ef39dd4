"""Typed, validated stack settings: the only module that reads `pulumi.Config`.

Every `platform:` key of a stack file maps to one field below. Each field has a default, so a stack
file only overrides what differs. `load_settings()` validates everything at once and raises a single
`SettingsError` that lists every problem, before any resource is registered.
"""

from __future__ import annotations

import difflib
import enum
import ipaddress
import itertools
import json
import re
import typing
import unicodedata
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Annotated, TypeVar

import pulumi
import pulumi.runtime.config as runtime_config
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from components import examples
from components.naming import MAX_PROJECT_LENGTH, MAX_STACK_LENGTH

NAMESPACE = "platform"

# The only values CloudWatch Logs accepts for retention_in_days.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)  # fmt: skip

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
# The regions of the commercial `aws` partition: the AWS Regions table of
# docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html, and the same names as
# the `pulumi_aws.Region` enum of pulumi-aws 7.51 without other partitions' (cn-, us-gov-, iso,
# eusc-); a test keeps the two equal when pulumi-aws is upgraded. Opt-in regions must be enabled
# for the account before use.
AWS_REGIONS = ("af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2",
               "ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2",
               "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6",
               "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2",
               "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3",
               "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1",
               "us-east-1", "us-east-2", "us-west-1", "us-west-2")  # fmt: skip


class SettingsError(pulumi.RunError):
    """Invalid stack configuration. A RunError, so Pulumi prints the message without a traceback."""


# --- reusable validators --------------------------------------------------------------------------


Number = TypeVar("Number", int, float)
Value = TypeVar("Value")


def between(low: Number, high: Number) -> AfterValidator:
    """Validator: the value lies in [low, high]."""

    def check(value: Number) -> Number:
        if not low <= value <= high:
            raise ValueError(f"{value} is not between {low} and {high}")
        return value

    return AfterValidator(check)


def one_of(allowed: tuple[Value, ...]) -> AfterValidator:
    """Validator: the value is one of `allowed`."""

    def check(value: Value) -> Value:
        if value not in allowed:
            raise ValueError(f"{value} is not one of {', '.join(map(str, allowed))}")
        return value

    return AfterValidator(check)


def all_match(pattern: re.Pattern[str], what: str) -> AfterValidator:
    """Validator: every string of the list matches `pattern`; the error lists those that do not."""

    def check(values: list[str]) -> list[str]:
        bad = [value for value in values if not pattern.match(value)]
        if bad:
            raise ValueError(f"not {what}: {', '.join(bad)}")
        return values

    return AfterValidator(check)


def _vpc_cidr(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"not a valid IPv4 CIDR block ({error})") from None
    problems = [
        # AWS accepts /16 to /28; the program's subnet layout needs at least a /20.
        f"prefix /{network.prefixlen} is outside the allowed /16 to /20"
        if not 16 <= network.prefixlen <= 20
        else None,
        f"not in a private range ({', '.join(map(str, PRIVATE_VPC_RANGES))})"
        if not any(network.subnet_of(r) for r in PRIVATE_VPC_RANGES)
        else None,
    ]
    raise_problems(problems)
    return str(network)


# The private ranges a VPC block may come from: RFC 1918 and the RFC 6598 shared space that the
# Amazon VPC User Guide lists beside them ("VPC CIDR blocks", IPv4 VPC CIDR blocks:
# docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html). AWS also takes publicly routable
# blocks, which this program refuses: the addresses would be unreachable on the internet.
PRIVATE_VPC_RANGES = tuple(
    ipaddress.IPv4Network(block)
    for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)


@cache
def _time_zones() -> frozenset[str]:
    # The system's tz database, else the tzdata package's (zoneinfo looks in both).
    return frozenset(zoneinfo.available_timezones())


def time_zone(value: str) -> str:
    """Validator: an IANA time zone name (EventBridge Scheduler's scheduleExpressionTimezone)."""
    zones = _time_zones()
    if value not in zones:
        close = difflib.get_close_matches(value, sorted(zones), n=1, cutoff=0.8)
        hint = f"; did you mean {close[0]!r}?" if close else " such as 'Europe/Berlin' or 'UTC'"
        if not zones:
            hint = " (this machine has no IANA time zone database: pip install tzdata)"
        raise ValueError(f"not an IANA time zone{hint}")
    return value


def aws_region(value: str | None) -> str | None:
    """Validator: a region of the commercial AWS partition (AWS_REGIONS), or none."""
    if value is not None and value not in AWS_REGIONS:
        raise ValueError("not an AWS commercial region; one of " + ", ".join(sorted(AWS_REGIONS)))
    return value


# Kubernetes label syntax (kubernetes.io/docs/concepts/overview/working-with-objects/labels/
# #syntax-and-character-set): a key is an optional DNS subdomain prefix (at most 253 characters)
# and '/', then a name of at most 63 characters; a value is empty or a name-like string of at most
# 63 characters.
_LABEL_NAME = re.compile(r"^[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _label_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if "/" in key and (len(prefix) > 253 or not _LABEL_PREFIX.match(prefix)):
        return f"label key {key!r}: the prefix must be a lower-case DNS subdomain of at most 253 characters"
    if len(name) > 63 or not _LABEL_NAME.match(name):
        return (
            f"label key {key!r}: the name must be 1 to 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


def kubernetes_labels(labels: dict[str, str]) -> dict[str, str]:
    """Validator: label keys and values that the Kubernetes API accepts."""
    problems = [_label_key_problem(key) for key in labels]
    problems += [
        f"label {key}: value {value!r} must be empty or 1 to 63 letters, digits, '-', '_' or '.', "
        "starting and ending with a letter or digit"
        for key, value in labels.items()
        if value and (len(value) > 63 or not _LABEL_NAME.match(value))
    ]
    raise_problems(problems)
    return labels


# AWS tag rules (Tagging AWS resources, "Tag naming limits and requirements":
# docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html; the same in the EC2 and Batch API
# references): keys 1-128 and values 0-256 Unicode characters; letters, digits, spaces and
# + - = . _ : / @; the prefix aws: (any case) is reserved for AWS.
_TAG_SYMBOLS = frozenset("+-=._:/@")


def _tag_problem(text: str, what: str, limit: int) -> str | None:
    if len(text) > limit:
        return f"{len(text)} characters; a tag {what} holds at most {limit}"
    if text.lower().startswith("aws:"):
        return f"the prefix 'aws:' is reserved for AWS in tag {what}s"
    bad = sorted(
        {
            c
            for c in text
            if c not in _TAG_SYMBOLS and unicodedata.category(c)[0] not in ("L", "N", "Z")
        }
    )
    if bad:
        return f"{', '.join(map(repr, bad))} is not allowed in a tag {what} (letters, digits, spaces and + - = . _ : / @)"
    return None


def tag_value(value: str) -> str:
    """Validator: a value AWS accepts for a tag."""
    raise_problems([_tag_problem(value, "value", 256)])
    return value


def tag_key(value: str) -> str:
    """Validator: a key AWS accepts for a tag."""
    raise_problems(["a tag key cannot be empty" if not value else _tag_problem(value, "key", 128)])
    return value


class Section(BaseModel):
    """Base of every settings section: immutable, camelCase keys, unknown keys rejected."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
    )


# --- network --------------------------------------------------------------------------------------


class NatMode(enum.StrEnum):
    """How private subnets reach the internet."""

    SINGLE = "single"  # one NAT gateway for all zones: cheap, one zone's outage cuts egress
    PER_AZ = "perAz"  # one NAT gateway per zone: zone-independent egress
    NONE = "none"  # no NAT: private subnets reach AWS only through endpoints


class NetworkSettings(Section):
    """`platform:network`."""

    cidr: Annotated[str, AfterValidator(_vpc_cidr)] = Field(
        "10.0.0.0/16", description="VPC IPv4 block, prefix /16 to /20."
    )
    zones: Annotated[int, between(2, 3)] = Field(3, description="Availability zones used, 2 to 3.")
    nat_mode: NatMode = Field(NatMode.PER_AZ, description="single, perAz or none.")
    interface_endpoints: bool = Field(
        True,
        description="Interface endpoints for ECR, CloudWatch Logs, Secrets Manager and STS.",
    )


# --- shared rules ---------------------------------------------------------------------------------

# The cpu (units) -> memory (MiB) pairs Fargate accepts, for ECS tasks and Batch jobs alike.
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}


def fargate_problem(cpu: int, memory: int, *, cpu_text: str, memory_key: str) -> str | None:
    """Why (cpu units, memory MiB) is not a Fargate size, or None when it is. `cpu_text` is how
    the setting reads to the user ("cpu 256", "vcpu 0.25")."""
    if cpu not in FARGATE_MEMORY:
        return f"{cpu_text} is not a Fargate CPU size"
    allowed = FARGATE_MEMORY[cpu]
    if memory not in allowed:
        return (
            f"{memory_key} {memory} does not fit {cpu_text} on Fargate; allowed: "
            f"{allowed[0]} to {allowed[-1]} in steps of {allowed[1] - allowed[0]}"
        )
    return None


def raise_problems(problems: list[str | None]) -> None:
    """A model validator's ending: one ValueError listing every problem found, if any, one per
    line (the loader reports each line as a problem of its own)."""
    found = [problem for problem in problems if problem]
    if found:
        raise ValueError("\n".join(found))


def ordered(values: dict[str, float]) -> str | None:
    """Why the named values are not in non-decreasing order (min <= desired <= max), or None."""
    pairs = list(values.items())
    for (low_key, low), (high_key, high) in itertools.pairwise(pairs):
        if low > high:
            return f"{low_key} ({low}) is greater than {high_key} ({high})"
    return None


_CRON_FIELD = re.compile(r"^[0-9A-Z*?,/#LW-]+$")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")


def _schedule_expression(value: str) -> str:
    if cron := re.fullmatch(r"cron\((.+)\)", value):
        fields = cron[1].split()
        if len(fields) != 6 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(
                "a cron expression needs 6 fields: minutes hours day month weekday year"
            )
        if "?" not in (fields[2], fields[4]):
            raise ValueError("in a cron expression, day-of-month or day-of-week must be '?'")
        return value
    if rate := _RATE.match(value):
        if int(rate[1]) < 1 or (int(rate[1]) == 1) != (not rate[2].endswith("s")):
            raise ValueError(
                "a rate needs a positive count and a unit that agrees (1 hour, 2 hours)"
            )
        return value
    raise ValueError("not a schedule: use cron(0 3 * * ? *) or rate(1 hour)")


_REFERENCE = re.compile(
    r"^(?:[a-z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")


# A digest as ECR and `docker buildx` report it (OCI image spec, descriptor.md "Digests": the
# sha256 algorithm, 64 lower-case hex characters).
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
# A private ECR registry: <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn] (ECR User Guide,
# Registries.html "Private registry concepts"; FIPS endpoints: ECR service endpoints table).
PRIVATE_ECR = re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")
RELEASE_PATH = (
    "ship it with the release workflow (it sets platform:release for one `up`), or give a "
    "digest of the service's own repository, 'sha256:<64 hex>'"
)


def _image(value: str) -> str:
    if DIGEST.match(value):
        return value
    if "/" not in value:
        # A tag of the service's own repository was how CI deployed before releases (issue #22);
        # releases deploy digests, and ecs-image-by-digest refuses an ECR tag.
        raise ValueError(
            f"a bare tag of the service's own repository is no longer deployed: {RELEASE_PATH}, "
            "or a full reference of another registry"
        )
    if not _REFERENCE.match(value) or not (":" in value.rsplit("/", 1)[1] or "@" in value):
        raise ValueError("not an image reference with a tag or digest (registry/name:tag)")
    if PRIVATE_ECR.match(value) and "@sha256:" not in value:
        raise ValueError(
            "an image of a private ECR registry runs only by digest (@sha256:<64 hex>), as "
            f"releases deploy it (policy ecs-image-by-digest): {RELEASE_PATH}"
        )
    return value


def _digest(value: str | None) -> str | None:
    if value is not None and not DIGEST.match(value):
        raise ValueError("not a digest sha256:<64 hex>")
    return value


_SOURCE = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


def _source(value: str | None) -> str | None:
    if value is not None and (not _SOURCE.match(value) or ".." in value.split("/")):
        raise ValueError(
            "not a relative folder of the repository (letters, digits, '.', '_', '-' between "
            "'/'; no leading '/', no '..')"
        )
    return value


_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:\d{12}:secret:|ssm:[a-z0-9-]+:\d{12}:parameter/)\S+$"
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ZONE_ID = re.compile(r"^Z[A-Z0-9]{4,31}$")


def _secret_references(values: dict[str, str]) -> dict[str, str]:
    # The value is never repeated: what was pasted here instead of an ARN may be the secret itself.
    raise_problems(
        [
            f"{name!r} is not an environment variable name" if not _ENV_NAME.match(name) else None
            for name in values
        ]
        + [
            f"{name}: the value (not shown) is not a Secrets Manager secret or SSM parameter ARN"
            for name, arn in values.items()
            if not _SECRET_ARN.match(arn)
        ]
    )
    return values


def _environment(values: dict[str, str]) -> dict[str, str]:
    bad = [name for name in values if not _ENV_NAME.match(name)]
    if bad:
        raise ValueError(f"not environment variable names: {', '.join(bad)}")
    return values


def _domain(value: str | None) -> str | None:
    if value is not None and not _DOMAIN.match(value):
        raise ValueError("not a lower-case DNS name such as app.example.com")
    return value


def _zone_id(value: str | None) -> str | None:
    if value is not None and not _ZONE_ID.match(value):
        raise ValueError("not a Route53 hosted zone id such as Z0123456789ABCDEFGHIJ")
    return value


# --- service --------------------------------------------------------------------------------------


class Capacity(enum.StrEnum):
    """Which Fargate capacity runs the service's tasks."""

    SPOT = "spot"  # all Fargate Spot: about 70% cheaper, tasks may be reclaimed
    MIXED = "mixed"  # a base of on-demand tasks, the rest shared with Spot
    ON_DEMAND = "onDemand"  # all on-demand


class CpuArchitecture(enum.StrEnum):
    X86_64 = "X86_64"
    ARM64 = "ARM64"


class ScheduledTaskSettings(Section):
    """`platform:service.schedule`: a cron job run as a Fargate task from the service's image."""

    expression: Annotated[str, AfterValidator(_schedule_expression)] = Field(
        description="EventBridge Scheduler expression: cron(m h dom mon dow y) or rate(n unit)."
    )
    timezone: Annotated[str, AfterValidator(time_zone)] = Field(
        "UTC", description="IANA time zone the cron expression is read in."
    )
    command: Annotated[list[str], Field(min_length=1)] = Field(
        description="Command the job's container runs instead of the image's default."
    )


class MigrationSettings(Section):
    """`platform:service.migration`: the one-off task a release runs before the service switches
    to its new image (issue #22): the service's image and environment, another command."""

    command: Annotated[list[str], Field(min_length=1)] = Field(
        description="Command the migration container runs, e.g. [alembic, upgrade, head]."
    )
    timeout_minutes: Annotated[int, between(1, 120)] = Field(
        15, description="Minutes the release waits for the task to stop before it fails."
    )


def _health_command(value: list[str]) -> list[str]:
    if len(value) < 2 or value[0] not in ("CMD", "CMD-SHELL"):
        raise ValueError("must start with CMD or CMD-SHELL followed by the command")
    return value


class ContainerHealthCheckSettings(Section):
    """`platform:service.containerHealthCheck`: a command ECS runs inside the container. The
    ranges are those of the ECS HealthCheck API (docs.aws.amazon.com/AmazonECS/latest/APIReference/
    API_HealthCheck.html: interval 5-300 s, timeout 2-60 s, retries 1-10, startPeriod 0-300 s)."""

    command: Annotated[list[str], AfterValidator(_health_command)] = Field(
        description="[CMD, exe, args...] or [CMD-SHELL, 'shell line']; it needs its tools in the "
        "image (python:*-slim has no curl or wget)."
    )
    interval: Annotated[int, between(5, 300)] = Field(30, description="Seconds between checks.")
    timeout: Annotated[int, between(2, 60)] = Field(
        5, description="Seconds a check may take before it counts as failed."
    )
    retries: Annotated[int, between(1, 10)] = Field(
        3, description="Consecutive failures before the container is unhealthy."
    )
    start_period: Annotated[int, between(0, 300)] = Field(
        60, description="Seconds after start during which failures are not counted."
    )


class EcsServiceRuntime(Section):
    """What each Fargate service sets for itself: image, size, port, health, environment,
    scaling and its cron job. The `platform:service` section holds these for the single service
    of a stack without `platform:services` (the entry `app`)."""

    image: Annotated[str, AfterValidator(_image)] = Field(
        "public.ecr.aws/nginx/nginx-unprivileged:stable-alpine",
        description="A full image reference (registry/name:tag or @sha256:...), or a digest "
        "'sha256:<64 hex>' of the service's own ECR repository. A released digest wins over it.",
    )
    source: Annotated[str | None, AfterValidator(_source)] = Field(
        "reference-app",
        description="Repository folder whose Dockerfile the release workflow builds for this "
        "service; null: not built by releases (an external image).",
    )
    migration: MigrationSettings | None = Field(
        None, description="One-off task a release runs before switching the service."
    )
    cpu: int = Field(1024, description="Task CPU units; with memory, a Fargate combination.")
    memory: int = Field(2048, description="Task memory in MiB.")
    tmp_permissions: bool = Field(
        True,
        description="Run a `tmp-permissions` init container from the service's own image "
        "(`chmod 1777 /tmp` as root) in every task; false for an image that declares "
        "VOLUME /tmp or has no chmod (distroless).",
    )
    cpu_architecture: CpuArchitecture = Field(
        CpuArchitecture.X86_64, description="X86_64 or ARM64 (Graviton, about 20% cheaper)."
    )
    container_port: Annotated[int, between(1, 65535)] = Field(
        8080, description="Port the container listens on."
    )
    health_check_path: Annotated[str, Field(pattern=r"^/\S*$")] = Field(
        "/", description="HTTP path the load balancer's target group health check probes."
    )
    container_health_check: ContainerHealthCheckSettings | None = Field(
        None,
        description="Container health check command; none by default (the load balancer's "
        "check decides, and the image needs no curl or wget).",
    )
    environment: Annotated[dict[str, str], AfterValidator(_environment)] = Field(
        default_factory=dict, description="Plain environment variables (never secrets)."
    )
    secrets: Annotated[dict[str, str], AfterValidator(_secret_references)] = Field(
        default_factory=dict,
        description="Environment variable name -> Secrets Manager or SSM parameter ARN, "
        "injected by reference; the execution role may read exactly these.",
    )
    min_tasks: Annotated[int, between(1, 100)] = Field(3, description="Autoscaling minimum.")
    desired_tasks: Annotated[int, between(1, 100)] = Field(
        3, description="Tasks at creation; autoscaling owns the count afterwards."
    )
    max_tasks: Annotated[int, between(1, 1000)] = Field(12, description="Autoscaling maximum.")
    capacity: Capacity = Field(Capacity.ON_DEMAND, description="spot, mixed or onDemand.")
    cpu_target_percent: Annotated[int, between(10, 90)] = Field(
        60, description="Target average CPU for scaling."
    )
    requests_per_target: Annotated[int, between(10, 100000)] = Field(
        1000, description="Target ALB requests per task per minute for scaling."
    )
    enable_exec: bool = Field(False, description="ECS Exec into running tasks (keep off in prod).")
    deregistration_delay: Annotated[int, between(0, 3600)] = Field(
        30, description="Seconds the ALB drains a task before deregistering it."
    )
    health_check_grace_seconds: Annotated[int, between(0, 3600)] = Field(
        60, description="Seconds after start before failed health checks stop a task."
    )
    ecr_keep_images: Annotated[int, between(1, 1000)] = Field(
        30, description="Tagged images kept in the repository."
    )
    ecr_untagged_days: Annotated[int, between(1, 365)] = Field(
        7, description="Days before untagged images expire."
    )
    schedule: ScheduledTaskSettings | None = Field(
        None, description="Optional cron job from the service's image."
    )

    @model_validator(mode="after")
    def _sized(self) -> EcsServiceRuntime:
        problems = [
            fargate_problem(
                self.cpu,
                self.memory,
                cpu_text=f"cpu {self.cpu}",
                memory_key="memory",
            )
            if self.cpu in FARGATE_MEMORY
            else f"cpu {self.cpu} is not a Fargate CPU size ({', '.join(map(str, FARGATE_MEMORY))})",
            ordered(
                {
                    "minTasks": self.min_tasks,
                    "desiredTasks": self.desired_tasks,
                    "maxTasks": self.max_tasks,
                }
            ),
        ]
        raise_problems(problems)
        return self


# Listener rule conditions (ELB Application Load Balancer guide, rule-condition-types.html,
# "Condition basics", "Host conditions", "Path conditions"): at most 3 values per condition, 5 per
# rule, 5 wildcards per rule; a host name or path pattern of up to 128 characters, in the
# characters listed there. Priorities are 1 to 50000 (ELB API Reference, RulePriorityPair).
MAX_VALUES_PER_CONDITION = 3
MAX_VALUES_PER_RULE = 5
MAX_WILDCARDS_PER_RULE = 5
MAX_RULE_PRIORITY = 50000
# A host name needs at least one "." and only letters (or wildcards) after the last one.
_HOST_PATTERN = re.compile(r"^(?=.{1,128}$)[A-Za-z0-9.*?-]*\.[A-Za-z*?]+$")
_PATH_PATTERN = re.compile(r"^[/*][A-Za-z0-9_.$/~\"'@:+&*?-]{0,127}$")


PATTERN_RULES = {
    "host pattern": "up to 128 letters, digits, '-', '.', '*' and '?', with a '.' followed only "
    "by letters or wildcards",
    "path pattern": "up to 128 characters starting with '/' or '*': letters, digits and "
    "_ - . $ / ~ \" ' @ : + & * ?",
}


def _patterns(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(values: list[str]) -> list[str]:
        raise_problems(
            [
                f"at most {MAX_VALUES_PER_CONDITION} {what}s per rule condition, not {len(values)}"
                if len(values) > MAX_VALUES_PER_CONDITION
                else None,
                *(
                    f"{value!r} is not a {what} ({PATTERN_RULES[what]})"
                    for value in values
                    if not pattern.match(value)
                ),
            ]
        )
        return values

    return AfterValidator(check)


class EcsServiceSettings(EcsServiceRuntime):
    """`platform:services.<name>`: one Fargate service behind the shared load balancer, and how
    the load balancer routes to it."""

    host_patterns: Annotated[list[str], _patterns(_HOST_PATTERN, "host pattern")] = Field(
        default_factory=list,
        description="Host names (wildcards * and ?) routed to this service, e.g. api.example.com.",
    )
    path_patterns: Annotated[list[str], _patterns(_PATH_PATTERN, "path pattern")] = Field(
        default_factory=list,
        description="URL paths (case-sensitive, wildcards * and ?) routed to this service, "
        "e.g. /reports/*; with hostPatterns, a request must match both.",
    )
    priority: Annotated[int | None, between(1, MAX_RULE_PRIORITY)] = Field(
        None,
        description="Listener rule priority, 1 to 50000, unique per stack; lower is evaluated "
        "first. Required with hostPatterns or pathPatterns.",
    )
    default: bool = Field(
        False,
        description="Receive what no other service's rule matches (the listeners' default "
        "action); at most one service. Without one, unmatched requests get a 404.",
    )

    @model_validator(mode="after")
    def _routed(self) -> EcsServiceSettings:
        patterns = [*self.host_patterns, *self.path_patterns]
        wildcards = sum(value.count("*") + value.count("?") for value in patterns)
        raise_problems(
            [
                "default: true takes no hostPatterns, pathPatterns or priority (it receives "
                "what no rule matches)"
                if self.default and (patterns or self.priority is not None)
                else None,
                "no route: set hostPatterns and/or pathPatterns with a priority, or default: true"
                if not self.default and not patterns
                else None,
                "hostPatterns/pathPatterns need a priority (1 to 50000)"
                if patterns and self.priority is None
                else None,
                f"hostPatterns and pathPatterns hold {len(patterns)} values; a listener rule "
                f"takes at most {MAX_VALUES_PER_RULE}"
                if len(patterns) > MAX_VALUES_PER_RULE
                else None,
                f"hostPatterns and pathPatterns hold {wildcards} wildcards; a listener rule takes "
                f"at most {MAX_WILDCARDS_PER_RULE}"
                if wildcards > MAX_WILDCARDS_PER_RULE
                else None,
            ]
        )
        return self


# The entry today's single service becomes: its resources keep their names (and URNs, through
# aliases), so a stack moving to `platform:services` replaces nothing.
LEGACY_SERVICE = "app"
# Service names start physical names (roles, target groups, log groups, alarms): lower-case letters,
# digits and single hyphens, and short enough that every name fits (tests/stacks/test_names.py).
MAX_SERVICE_NAME_LENGTH = 20
_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def route_problems(services: Mapping[str, EcsServiceSettings]) -> list[str | None]:
    """Service names that do not fit, and what the shared load balancer cannot route: shared
    priorities, the same patterns twice, more than one default service."""
    by_priority: dict[int, list[str]] = {}
    by_patterns: dict[tuple[frozenset[str], frozenset[str]], list[str]] = {}
    for name, service in sorted(services.items()):
        if service.priority is not None:
            by_priority.setdefault(service.priority, []).append(name)
        if service.host_patterns or service.path_patterns:
            key = (frozenset(service.host_patterns), frozenset(service.path_patterns))
            by_patterns.setdefault(key, []).append(name)
    defaults = sorted(name for name, service in services.items() if service.default)
    return [
        *(
            f"services: {name!r} is not a service name: 1 to {MAX_SERVICE_NAME_LENGTH} "
            "lower-case letters, digits and single hyphens, starting with a letter"
            for name in sorted(services)
            if len(name) > MAX_SERVICE_NAME_LENGTH or not _SERVICE_NAME.match(name)
        ),
        *(
            f"services.{' and services.'.join(names)}: priority {priority} is used more than "
            "once; each listener rule needs its own"
            for priority, names in by_priority.items()
            if len(names) > 1
        ),
        *(
            f"services.{' and services.'.join(names)}: the same hostPatterns and pathPatterns; "
            "the second rule would never match"
            for names in by_patterns.values()
            if len(names) > 1
        ),
        f"services.{' and services.'.join(defaults)}: default is true in each; at most one "
        "service receives what no rule matches"
        if len(defaults) > 1
        else None,
    ]


class ServiceSettings(EcsServiceRuntime):
    """`platform:service`: what the services share (cluster, load balancer, WAF, certificate),
    and the single service `app` of a stack without `platform:services`."""

    enabled: bool = Field(
        True,
        description="Create the Fargate services: their repositories, the cluster, load "
        "balancer, WAF and scheduled tasks.",
    )
    domain_name: Annotated[str | None, AfterValidator(_domain)] = Field(
        None, description="DNS name of the service; with it: ACM certificate, HTTPS, alias record."
    )
    hosted_zone_id: Annotated[str | None, AfterValidator(_zone_id)] = Field(
        None, description="Route53 hosted zone of domainName (required with it)."
    )
    waf: bool = Field(True, description="Regional WAF web ACL on the load balancer.")
    origin_only: bool = Field(
        False,
        description="Admit only CloudFront's origin-facing addresses to the load balancer, so the "
        "API is reached through the static site's /api/* path alone.",
    )
    waf_rate_limit: Annotated[int, between(100, 2_000_000_000)] = Field(
        2000, description="Requests per 5 minutes from one IP before WAF blocks it."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ServiceSettings:
        raise_problems(
            [
                "domainName needs hostedZoneId (the Route53 zone that validates its certificate)"
                if self.domain_name and not self.hosted_zone_id
                else None
            ]
        )
        return self

    def runtime_keys_set(self) -> list[str]:
        """The per-service keys this section sets (camelCase), which `platform:services` moves."""
        return sorted(
            to_camel(name)
            for name in self.model_fields_set
            if name in EcsServiceRuntime.model_fields
        )

    def as_app(self) -> EcsServiceSettings:
        """The single service this section describes: the entry `app`, the listeners' default."""
        runtime = self.model_dump(by_alias=True, include=set(EcsServiceRuntime.model_fields))
        return EcsServiceSettings.model_validate({**runtime, "default": True})


class ReleaseStage(enum.StrEnum):
    """The two `up`s of a release (RELEASE_CONTRACT.md): migration tasks first, then services."""

    MIGRATE = "migrate"  # only the migration task definitions take the new images
    SERVE = "serve"  # the services switch to them


def _json_object(value: object) -> object:
    """`platform:release` arrives as a string when the runner sets it (`config-map`, `make
    RELEASE=`); decode_values leaves a string that is not JSON as it is."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(f"not a JSON object ({error.msg} at character {error.pos})") from None


class ReleaseSettings(Section):
    """`platform:release`: set by the release workflow on the runner for one `up`, never in a
    stack file. Which digest each service's migration (stage migrate) or the service itself
    (stage serve) runs; null forgets a service's released digest."""

    stage: ReleaseStage = Field(description="migrate or serve.")
    images: dict[str, Annotated[str | None, AfterValidator(_digest)]] = Field(
        default_factory=dict, description="Service name -> 'sha256:<64 hex>' or null."
    )


# --- database -------------------------------------------------------------------------------------

# Aurora version policy: the cluster pins the major only ("16"). RDS creates it at that major's
# default minor (docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/
# Aurora.VersionPolicy.Versioning.html, "Default Amazon Aurora versions") and applies minor
# upgrades in the maintenance window; the provider keeps "16" in state while engineVersionActual
# moves on (terraform-provider-aws internal/service/rds/engine_version.go, compareActualEngineVersion),
# so no `up` ever asks RDS to go back to an older minor ("Cannot upgrade aurora-postgresql from 12.8
# to 12.4": ministryofjustice/cloud-platform-environments#7615). Major-only versions are accepted by
# the API (aws-cloudformation/cfn-lint#3976).
# Majors in Aurora standard support, read 2026-11-27: 13 left it on 2026-02-28 and 14 leaves it on
# 2027-02-28 (AWS notices quoted in aws-samples/aws-fault-injection-simulator-workshop-v2#177 and
# guardian/giant#850); 18 is offered since mid-2026 (endoflife-date/endoflife.date#10302; the
# describe-db-engine-versions catalog of 2026-08-06 in ministackorg/ministack lists 14.x to 18.x,
# no plain 16.6 any more). Re-check docs.aws.amazon.com/AmazonRDS/latest/AuroraPostgreSQLReleaseNotes/
# aurorapostgresql-release-calendar.html when a major leaves standard support.
AURORA_POSTGRESQL_MAJORS = ("14", "15", "16", "17", "18")
_PAST_STANDARD_SUPPORT = {"11": "2024-02-29", "12": "2025-02-28", "13": "2026-02-28"}
_PG_VERSION = re.compile(r"^(\d{1,2})(?:\.(\d{1,2}))?$")
# The first minor of each major that lets Serverless v2 scale to 0 ACU and pause; the default
# minors of every offered major are past it, so this only explains a (rejected) minor pin.
_AUTO_PAUSE_SINCE = {13: 15, 14: 12, 15: 7, 16: 3, 17: 4, 18: 0}
# RDS windows (ModifyDBCluster PreferredBackupWindow / PreferredMaintenanceWindow): hh24:mi-hh24:mi
# and ddd:hh24:mi-ddd:hh24:mi in UTC, each at least 30 minutes, and they must not conflict
# (docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBCluster.html).
_TIME = r"([01]\d|2[0-3]):([0-5]\d)"
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY = f"({'|'.join(_DAYS)})"
_TIME_OF_DAY = re.compile(f"^{_TIME}$")
_WINDOW = re.compile(f"^{_TIME}-{_TIME}$")
_WEEKLY_WINDOW = re.compile(f"^{_DAY}:{_TIME}-{_DAY}:{_TIME}$")
_DAY_MINUTES, _WEEK_MINUTES, _MIN_WINDOW_MINUTES = 1440, 10080, 30
# AWS Backup may start a scheduled job up to start_window minutes late; the provider's default is
# 60 (terraform-provider-aws internal/service/backup/plan.go) and StartWindowMinutes "must be at
# least 60 minutes" (AWS Backup API, BackupRuleInput). The plan sets it explicitly.
AWS_BACKUP_START_WINDOW = 60
AWS_BACKUP_COMPLETION_WINDOW = 180


def _pg_version(value: str) -> str:
    found = _PG_VERSION.match(value)
    if not found:
        raise ValueError(
            "not an Aurora PostgreSQL engine version: a major version "
            f"({', '.join(AURORA_POSTGRESQL_MAJORS)}), such as '16'"
        )
    major = found[1]
    if major in _PAST_STANDARD_SUPPORT:
        raise ValueError(
            f"Aurora PostgreSQL {major} is past Aurora standard support (ended "
            f"{_PAST_STANDARD_SUPPORT[major]}): a new cluster is enrolled in paid RDS Extended "
            f"Support; use {', '.join(AURORA_POSTGRESQL_MAJORS)}"
        )
    if major not in AURORA_POSTGRESQL_MAJORS:
        raise ValueError(
            f"Aurora PostgreSQL offers the majors {', '.join(AURORA_POSTGRESQL_MAJORS)} "
            "in standard support"
        )
    return value


def _version_text(value: object) -> object:
    # `engineVersion: 16` unquoted in YAML arrives as a number; a float (16.10) is not trusted.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


PgVersion = Annotated[str, BeforeValidator(_version_text), AfterValidator(_pg_version)]


def _minutes(hours: str, minutes: str) -> int:
    return int(hours) * 60 + int(minutes)


def _daily_span(value: str) -> tuple[int, int]:
    """(start, length) in minutes of a daily window on the day's clock."""
    found = _WINDOW.match(value)
    if not found:
        raise ValueError("not a daily window hh24:mi-hh24:mi (UTC), such as 02:00-03:00")
    start = _minutes(found[1], found[2])
    return start, (_minutes(found[3], found[4]) - start) % _DAY_MINUTES


def _weekly_span(value: str) -> tuple[int, int]:
    """(start, length) in minutes of a weekly window on the week's clock (Monday 00:00 is 0)."""
    found = _WEEKLY_WINDOW.match(value)
    if not found:
        raise ValueError(
            "not a weekly window ddd:hh24:mi-ddd:hh24:mi (UTC), days mon to sun, such as "
            "sun:03:30-sun:04:30"
        )
    start = _DAYS.index(found[1]) * _DAY_MINUTES + _minutes(found[2], found[3])
    end = _DAYS.index(found[4]) * _DAY_MINUTES + _minutes(found[5], found[6])
    return start, (end - start) % _WEEK_MINUTES


def _long_enough(span: tuple[int, int]) -> None:
    if span[1] < _MIN_WINDOW_MINUTES:
        raise ValueError(f"{span[1]} minutes long; RDS needs at least {_MIN_WINDOW_MINUTES}")


def _daily_window(value: str) -> str:
    _long_enough(_daily_span(value))
    return value


def _weekly_window(value: str) -> str:
    _long_enough(_weekly_span(value))
    return value


def _time_of_day(value: str) -> str:
    if not _TIME_OF_DAY.match(value):
        raise ValueError("not a time of day hh24:mi (UTC), such as 05:00")
    return value


def _overlap(a: tuple[int, int], b: tuple[int, int], period: int) -> bool:
    """Whether two half-open spans (start, length) overlap on a clock of `period` minutes, so
    either may run past midnight or past the end of the week."""
    return (b[0] - a[0]) % period < a[1] or (a[0] - b[0]) % period < b[1]


def _overlaps_weekly(daily: tuple[int, int], weekly: tuple[int, int]) -> bool:
    """Whether a span that recurs every day overlaps a weekly span on any day."""
    return any(
        _overlap((day * _DAY_MINUTES + daily[0], daily[1]), weekly, _WEEK_MINUTES)
        for day in range(7)
    )


def _acu(value: float) -> float:
    if not 0 <= value <= 256 or (value * 2) != int(value * 2):
        raise ValueError(f"{value} ACU is not what Aurora accepts: 0 to 256 in steps of 0.5")
    return value


# pgAudit session audit classes (github.com/pgaudit/pgaudit README, "pgaudit.log"): a class may be
# excluded with a leading "-". "all" is never a default: it logs every statement with its values.
PGAUDIT_CLASSES = ("read", "write", "function", "role", "ddl", "misc", "misc_set", "all", "none")


def _audit_classes(values: list[str]) -> list[str]:
    bad = [value for value in values if value.lower().removeprefix("-") not in PGAUDIT_CLASSES]
    if bad:
        raise ValueError(
            f"not pgAudit classes: {', '.join(bad)}; allowed: {', '.join(PGAUDIT_CLASSES)} "
            "(a leading '-' excludes a class)"
        )
    if not values:
        raise ValueError("empty: list at least one class, or 'none' to log nothing")
    return [value.lower() for value in values]


class DatabaseMode(enum.StrEnum):
    SERVERLESS = "serverless"  # Serverless v2: capacity in ACU between min and max
    PROVISIONED = "provisioned"  # fixed instance class


# A service's PostgreSQL identity (components/data/database_identity_handler.py checks the same
# at run time): a lower-case identifier, no reserved prefix, no system database.
_PG_IDENTIFIER = r"^[a-z][a-z0-9_]{0,62}$"
_PG_RESERVED_PREFIXES = ("pg_", "rds")
_PG_SYSTEM_DATABASES = ("postgres", "template0", "template1", "rdsadmin")


class DatabaseIdentitySettings(Section):
    """`platform:database.identities.<name>`: one service's login role (named `<name>`)."""

    database: Annotated[str | None, Field(pattern=_PG_IDENTIFIER)] = Field(
        None, description="The database the role owns; defaults to the identity's name."
    )


class DatabaseSettings(Section):
    """`platform:database`."""

    enabled: bool = Field(
        True, description="Create the Aurora cluster, its key, secret and backups."
    )
    engine_version: PgVersion = Field(
        "16",
        description="Aurora PostgreSQL major version (14 to 18), pinned; AWS applies the minor "
        "upgrades in the maintenance window (see the Aurora version policy in README.md).",
    )
    mode: DatabaseMode = Field(DatabaseMode.SERVERLESS, description="serverless or provisioned.")
    min_capacity: Annotated[float, AfterValidator(_acu)] = Field(
        2, description="Serverless v2 minimum ACU; 0 pauses an idle cluster."
    )
    max_capacity: Annotated[float, AfterValidator(_acu)] = Field(
        16, description="Serverless v2 maximum ACU."
    )
    seconds_until_auto_pause: Annotated[int, between(300, 86400)] = Field(
        300, description="Idle seconds before a 0-ACU cluster pauses."
    )
    instance_class: Annotated[str, Field(pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")] = Field(
        "db.r7g.large", description="Instance class in provisioned mode."
    )
    instances: Annotated[int, between(1, 15)] = Field(
        3, description="Instances: one writer, the rest readers, spread across zones."
    )
    database_name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")] = Field(
        "app", description="Database created at launch."
    )
    master_username: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,15}$")] = Field(
        "platform_admin",
        description="Master user; its password is managed by RDS in Secrets Manager.",
    )
    backup_retention_days: Annotated[int, between(1, 35)] = Field(
        30, description="Automated backup retention."
    )
    backup_window: Annotated[str, AfterValidator(_daily_window)] = Field(
        "02:00-03:00",
        description="Daily RDS backup window, UTC (hh24:mi-hh24:mi), at least 30 minutes, never "
        "overlapping the maintenance window.",
    )
    maintenance_window: Annotated[str, AfterValidator(_weekly_window)] = Field(
        "sun:03:30-sun:04:30",
        description="Weekly maintenance window, UTC (ddd:hh24:mi-ddd:hh24:mi), at least 30 "
        "minutes; minor version upgrades are applied in it.",
    )
    slow_query_ms: Annotated[int, between(50, 60000)] = Field(
        500, description="Statements slower than this are logged."
    )
    performance_insights_days: Annotated[int, one_of((7, *range(31, 731, 31), 731))] = Field(
        7, description="Performance Insights retention: 7 (free), a multiple of 31, or 731."
    )
    monitoring_interval: Annotated[int, one_of((0, 1, 5, 10, 15, 30, 60))] = Field(
        60, description="Enhanced monitoring interval in seconds; 0 turns it off."
    )
    reader_autoscaling: bool = Field(True, description="Scale readers on their average CPU.")
    reader_min: Annotated[int, between(1, 15)] = Field(2, description="Readers at least.")
    reader_max: Annotated[int, between(1, 15)] = Field(6, description="Readers at most.")
    reader_cpu_percent: Annotated[int, between(10, 90)] = Field(
        60, description="Target average reader CPU."
    )
    backup_copy_region: Annotated[str | None, Field(pattern=_REGION.pattern)] = Field(
        None, description="With a region: AWS Backup daily plan with a copy to that region."
    )
    aws_backup_start: Annotated[str, AfterValidator(_time_of_day)] = Field(
        "05:00",
        description="Daily AWS Backup job start, UTC (hh24:mi), with backupCopyRegion; the job "
        f"may start up to {AWS_BACKUP_START_WINDOW} minutes later, and that start window may "
        "overlap neither the backup nor the maintenance window.",
    )
    audit_log: Annotated[list[str], AfterValidator(_audit_classes)] = Field(
        default_factory=lambda: ["ddl", "role"],
        description="pgAudit statement classes logged (pgaudit.log): read, write, function, role, "
        "ddl, misc, misc_set, all or none; 'all' logs every statement and is never the default.",
    )
    log_connections: bool = Field(True, description="Log every connection (log_connections).")
    log_disconnections: bool = Field(
        True, description="Log every session's end and duration (log_disconnections)."
    )
    secret_rotation_days: Annotated[int, between(1, 365)] = Field(
        30, description="Days between rotations of the RDS-managed master secret."
    )
    allow_major_version_upgrade: bool = Field(
        False,
        description="Acknowledges a change of engineVersion to another major: without it the plan "
        "refuses the change and RDS is never asked to upgrade (see the Aurora version policy).",
    )
    identities: dict[str, DatabaseIdentitySettings] = Field(
        default_factory=lambda: {"app": DatabaseIdentitySettings.model_validate({})},
        description="Per-service login roles, each owning its own database and logging in with "
        "IAM tokens; created in the cluster on `up` through the RDS Data API (README: Database "
        "identities). The service connects as `app`.",
    )

    def identity_database(self, name: str) -> str:
        """The database identity `name` owns."""
        return self.identities[name].database or name

    @model_validator(mode="after")
    def _consistent(self) -> DatabaseSettings:
        major, _, minor_text = self.engine_version.partition(".")
        minor = int(minor_text) if minor_text else None
        since = _AUTO_PAUSE_SINCE[int(major)]
        problems = [
            ordered({"minCapacity": self.min_capacity, "maxCapacity": self.max_capacity}),
            f"engineVersion = {self.engine_version!r}: pins a minor version, which the automatic "
            "minor upgrades overtake (a later `up` would then ask RDS to downgrade, which it "
            f"rejects); set the major only, such as {major!r}"
            if minor is not None
            else None,
            f"minCapacity 0 (auto-pause) needs engine version {major}.{since} or newer"
            if self.mode is DatabaseMode.SERVERLESS
            and self.min_capacity == 0
            and minor is not None
            and minor < since
            else None,
            ordered({"readerMin": self.reader_min, "readerMax": self.reader_max})
            if self.reader_autoscaling
            else None,
            *self._window_problems(),
            *self._identity_problems(),
        ]
        raise_problems(problems)
        return self

    def _identity_problems(self) -> list[str]:
        problems: list[str] = []
        owners: dict[str, str] = {}
        for name in self.identities:
            key = f"identities.{name}"
            if not re.match(_PG_IDENTIFIER, name):
                problems.append(f"{key}: {name!r} is not a lower-case PostgreSQL identifier")
            elif name.startswith(_PG_RESERVED_PREFIXES) or name == self.master_username:
                problems.append(
                    f"{key}: {name!r} is reserved (pg_* and rds* roles, the master user "
                    f"{self.master_username!r}); choose another role name"
                )
            database = self.identity_database(name)
            if database in _PG_SYSTEM_DATABASES or database.startswith(_PG_RESERVED_PREFIXES):
                problems.append(f"{key}.database: {database!r} belongs to PostgreSQL or RDS")
            elif database in owners:
                problems.append(
                    f"{key}.database: {database!r} is already owned by identity "
                    f"{owners[database]!r}; each service owns its own database"
                )
            owners.setdefault(database, name)
        # The Data API, which creates the identities, does not run on T instance classes
        # (Aurora User Guide, "Limitations for the Amazon RDS Data API").
        if (
            self.identities
            and self.mode is DatabaseMode.PROVISIONED
            and self.instance_class.startswith("db.t")
        ):
            problems.append(
                f"instanceClass {self.instance_class!r}: the RDS Data API that creates the "
                "identities does not run on T instance classes; choose another class"
            )
        return problems

    def _window_problems(self) -> list[str]:
        backup, maintenance = _daily_span(self.backup_window), _weekly_span(self.maintenance_window)
        problems: list[str] = []
        if _overlaps_weekly(backup, maintenance):
            problems.append(
                f"backupWindow {self.backup_window!r} overlaps maintenanceWindow "
                f"{self.maintenance_window!r} (RDS rejects windows that conflict)"
            )
        if self.backup_copy_region:
            hours, _, minutes = self.aws_backup_start.partition(":")
            start = _minutes(hours, minutes)
            job = (start, AWS_BACKUP_START_WINDOW)
            latest = (start + AWS_BACKUP_START_WINDOW) % _DAY_MINUTES
            starts = (
                f"awsBackupStart {self.aws_backup_start!r}: AWS Backup may start the job from "
                f"{self.aws_backup_start} to {latest // 60:02d}:{latest % 60:02d} UTC (its "
                f"{AWS_BACKUP_START_WINDOW}-minute start window), which overlaps"
            )
            if _overlap(job, backup, _DAY_MINUTES):
                problems.append(f"{starts} backupWindow {self.backup_window!r}")
            if _overlaps_weekly(job, maintenance):
                problems.append(f"{starts} maintenanceWindow {self.maintenance_window!r}")
        return problems


# --- messaging and cache --------------------------------------------------------------------------

# The RabbitMQ lines Amazon MQ offers, and the instance families each runs on: 4.3 and 4.2 only
# on mq.m7g (Amazon MQ Developer Guide, "RabbitMQ 4"; 4.3 is reached from 4.2 only, "RabbitMQ
# 4.3"), 3.13 on mq.t3, mq.m5 and mq.m7g ("Managing Amazon MQ for RabbitMQ engine versions"). A
# new broker names the line only ("4.2"); Amazon MQ picks and upgrades the patch version.
RABBITMQ_VERSIONS: Mapping[str, tuple[str, ...]] = {
    "3.13": ("mq.t3.", "mq.m5.", "mq.m7g."),
    "4.2": ("mq.m7g.",),
    "4.3": ("mq.m7g.",),
}
# mq.t3.micro runs single-instance brokers only (Amazon MQ Developer Guide, "Amazon MQ for
# RabbitMQ broker instance types").
SINGLE_INSTANCE_ONLY = ("mq.t3.micro",)
_MQ_INSTANCE = re.compile(r"^mq\.[a-z0-9]+\.[a-z0-9]+$")
_WEEKLY_START = re.compile(f"^{_DAY}:{_TIME}$")
# Valkey versions of ElastiCache node-based clusters (ElastiCache User Guide, "Engine versions
# and upgrading in ElastiCache"): a replication group names major.minor, the only form the
# provider accepts for Valkey (terraform-provider-aws elasticache/validate.go
# validValkeyVersionString, `^[7-9]\.[0-9]+$`).
VALKEY_VERSIONS = ("7.2", "8.0", "8.1", "8.2", "9.0")
_CACHE_NODE = re.compile(r"^cache\.[a-z0-9]+\.[a-z0-9]+$")
# ElastiCache: "The minimum maintenance window is a 60 minute period" (API reference,
# CreateReplicationGroup PreferredMaintenanceWindow).
_CACHE_MIN_WINDOW_MINUTES = 60


def _weekly_start(value: str) -> str:
    if not _WEEKLY_START.match(value):
        raise ValueError("not a weekly start ddd:hh24:mi (UTC), days mon to sun, such as sun:05:00")
    return value


class BrokerDeployment(enum.StrEnum):
    SINGLE_INSTANCE = "singleInstance"  # one node in one zone: a restart is an outage
    CLUSTER_MULTI_AZ = "clusterMultiAz"  # three nodes across three zones behind one endpoint

    @property
    def aws(self) -> str:
        """The DeploymentMode value Amazon MQ takes."""
        return {"singleInstance": "SINGLE_INSTANCE", "clusterMultiAz": "CLUSTER_MULTI_AZ"}[self]


class MessagingSettings(Section):
    """`platform:messaging`: Amazon MQ for RabbitMQ."""

    enabled: bool = Field(True, description="Create the RabbitMQ broker.")
    engine_version: Annotated[
        str, BeforeValidator(_version_text), one_of(tuple(RABBITMQ_VERSIONS))
    ] = Field(
        "4.2", description="RabbitMQ line, 3.13, 4.2 or 4.3; Amazon MQ applies the patch versions."
    )
    instance_type: Annotated[str, Field(pattern=_MQ_INSTANCE.pattern)] = Field(
        "mq.m7g.large", description="Broker instance type (each node of a cluster)."
    )
    deployment: BrokerDeployment = Field(
        BrokerDeployment.CLUSTER_MULTI_AZ, description="singleInstance or clusterMultiAz."
    )
    maintenance_start: Annotated[str, AfterValidator(_weekly_start)] = Field(
        "sun:05:00", description="Weekly maintenance start, UTC (ddd:hh24:mi)."
    )
    # Amazon MQ API reference, User Username: 2-100 letters, digits, '-', '.', '_' and '~'.
    admin_username: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.~-]{2,100}$")] = Field(
        "platform_admin",
        description="Broker administrator; its password is generated into Secrets Manager.",
    )

    @model_validator(mode="after")
    def _supported(self) -> MessagingSettings:
        families = RABBITMQ_VERSIONS[self.engine_version]
        raise_problems(
            [
                f"instanceType {self.instance_type!r} does not run RabbitMQ "
                f"{self.engine_version} (engineVersion); it runs on {', '.join(f + '*' for f in families)}"
                if not self.instance_type.startswith(families)
                else None,
                f"instanceType {self.instance_type!r} runs single-instance brokers only; "
                "deployment clusterMultiAz needs mq.m5 or mq.m7g"
                if self.instance_type in SINGLE_INSTANCE_ONLY
                and self.deployment is BrokerDeployment.CLUSTER_MULTI_AZ
                else None,
            ]
        )
        return self


class CacheSettings(Section):
    """`platform:cache`: an ElastiCache for Valkey replication group."""

    enabled: bool = Field(True, description="Create the Valkey replication group.")
    engine_version: Annotated[str, BeforeValidator(_version_text), one_of(VALKEY_VERSIONS)] = Field(
        "8.2", description="Valkey major.minor; ElastiCache applies the patch versions."
    )
    node_type: Annotated[str, Field(pattern=_CACHE_NODE.pattern)] = Field(
        "cache.m7g.large", description="Node type of every node."
    )
    nodes: Annotated[int, between(1, 6)] = Field(
        3,
        description="Nodes: one primary and the rest replicas across zones; 2 or more turn on "
        "automatic failover and Multi-AZ.",
    )
    snapshot_retention_days: Annotated[int, between(0, 35)] = Field(
        7, description="Daily snapshots kept; 0 keeps none."
    )
    snapshot_window: Annotated[str, AfterValidator(_daily_window)] = Field(
        "03:00-04:00", description="Daily snapshot window, UTC (hh24:mi-hh24:mi)."
    )
    maintenance_window: Annotated[str, AfterValidator(_weekly_window)] = Field(
        "sun:05:00-sun:06:00",
        description="Weekly maintenance window, UTC (ddd:hh24:mi-ddd:hh24:mi), at least 60 "
        "minutes, never overlapping the snapshot window.",
    )

    @model_validator(mode="after")
    def _windows(self) -> CacheSettings:
        snapshot, maintenance = (
            _daily_span(self.snapshot_window),
            _weekly_span(self.maintenance_window),
        )
        raise_problems(
            [
                f"maintenanceWindow {self.maintenance_window!r} is {maintenance[1]} minutes "
                f"long; ElastiCache needs at least {_CACHE_MIN_WINDOW_MINUTES}"
                if maintenance[1] < _CACHE_MIN_WINDOW_MINUTES
                else None,
                f"snapshotWindow {self.snapshot_window!r} overlaps maintenanceWindow "
                f"{self.maintenance_window!r} (ElastiCache rejects windows that overlap)"
                if self.snapshot_retention_days and _overlaps_weekly(snapshot, maintenance)
                else None,
            ]
        )
        return self


# --- pipeline -------------------------------------------------------------------------------------

BATCH_VCPUS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*/$")
# The results prefix is written into a Step Functions intrinsic string: no quotes or braces.
_RESULTS_PREFIX = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*/$")
# What the state machine passes to every job (AWS Batch parameter substitution, `Ref::<name>`).
JOB_PARAMETERS = ("bucket", "key", "source", "destination")
# The AWS CLI v2 image (entrypoint `aws`), pinned: tag 2.31.23 exists on ECR Public
# (public.ecr.aws/aws-cli/aws-cli, also pinned by digest in public repositories); AWS CLI User
# Guide, "Run the official Amazon ECR Public or Docker images for the AWS CLI".
DEFAULT_JOB_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.31.23"
# `aws s3 cp` between buckets is a server-side copy; metadata-directive keeps content type and
# metadata with HeadObject only (no tagging calls, so no tagging permissions).
DEFAULT_JOB_COMMAND = (
    "s3",
    "cp",
    "Ref::source",
    "Ref::destination",
    "--copy-props",
    "metadata-directive",
    "--only-show-errors",
)


def _full_image(value: str) -> str:
    # The pipeline has no repository of its own: a bare tag would name nothing.
    last = value.rsplit("/", 1)[-1]
    if "/" not in value or not _REFERENCE.match(value) or not (":" in last or "@" in last):
        raise ValueError("not a full image reference with a tag or digest (registry/name:tag)")
    return value


def _job_command(values: list[str]) -> list[str]:
    # AWS Batch documents substitution of whole arguments ("Ref::inputfile"), nothing inside one.
    problems = []
    for value in values:
        if "Ref::" not in value:
            continue
        name = value.removeprefix("Ref::")
        if not value.startswith("Ref::") or "Ref::" in name:
            problems.append(f"{value!r}: a placeholder must be a whole argument")
        elif name not in JOB_PARAMETERS:
            allowed = ", ".join(f"Ref::{p}" for p in JOB_PARAMETERS[:-1])
            problems.append(
                f"{value} is not passed by the state machine; use {allowed} or "
                f"Ref::{JOB_PARAMETERS[-1]}"
            )
    if problems:
        raise ValueError("; ".join(problems))
    return values


class ComputeOrder(enum.StrEnum):
    """Which Batch compute environment the job queue tries first."""

    SPOT_FIRST = "spotFirst"  # Fargate Spot, then on-demand when Spot has no capacity
    ON_DEMAND_FIRST = "onDemandFirst"  # on-demand, then Spot


class ObjectLockMode(enum.StrEnum):
    """S3 Object Lock retention modes (S3 User Guide, "Locking objects with Object Lock")."""

    GOVERNANCE = "governance"  # principals with s3:BypassGovernanceRetention may still delete
    COMPLIANCE = "compliance"  # nobody, the root user included, deletes before the days pass


class ObjectLockSettings(Section):
    """`platform:pipeline.resultsObjectLock`: default retention of every new results version."""

    mode: ObjectLockMode = Field(description="governance or compliance.")
    # S3's DefaultRetention takes a positive number of days; 100 years bounds typos.
    days: Annotated[int, between(1, 36500)] = Field(
        description="Days each new object version is locked against deletion and overwrite."
    )


class PipelineSettings(Section):
    """`platform:pipeline`."""

    enabled: bool = Field(
        True,
        description="Create the uploads and results buckets, the Batch queue and the state "
        "machine.",
    )
    image: Annotated[str, AfterValidator(_full_image)] = Field(
        DEFAULT_JOB_IMAGE,
        description="Job image: a full reference (registry/name:tag or @sha256:...). Default: "
        "the AWS CLI, which copies each upload to the results prefix.",
    )
    command: Annotated[list[str], Field(min_length=1), AfterValidator(_job_command)] = Field(
        default_factory=lambda: list(DEFAULT_JOB_COMMAND),
        description="Job command (the image's CMD; arguments of `aws` for the default image). "
        "Whole-argument placeholders: Ref::bucket, Ref::key (the upload), Ref::source "
        "(s3://bucket/key) and Ref::destination (s3://results/<resultsPrefix><key>).",
    )
    results_prefix: Annotated[str, Field(pattern=_RESULTS_PREFIX.pattern)] = Field(
        "processed/", description="Ref::destination lies under this prefix of the results bucket."
    )
    scratch_gib: Annotated[int, between(21, 200)] | None = Field(
        None,
        description="Fargate ephemeral storage in GiB (21-200) behind the writable /tmp; "
        "None keeps the Fargate default of 20 GiB.",
    )
    vcpu: Annotated[float, one_of(BATCH_VCPUS)] = Field(1.0, description="vCPUs per job.")
    memory: int = Field(2048, description="MiB per job; with vcpu, a Fargate combination.")
    max_vcpus: Annotated[int, between(1, 4096)] = Field(
        64, description="vCPUs all running jobs may use together."
    )
    compute_order: ComputeOrder = Field(
        ComputeOrder.ON_DEMAND_FIRST, description="spotFirst or onDemandFirst."
    )
    attempt_timeout_seconds: Annotated[int, between(60, 1_209_600)] = Field(
        3600, description="Each attempt is stopped after this many seconds."
    )
    retry_attempts: Annotated[int, between(1, 10)] = Field(
        3, description="Attempts per job when the infrastructure fails (Spot reclaim, pull errors)."
    )
    input_prefix: Annotated[str, Field(pattern=_PREFIX.pattern)] = Field(
        "incoming/", description="Uploads under this prefix start the pipeline."
    )
    uploads_expire_days: Annotated[int, between(1, 3650)] = Field(
        365, description="Uploaded objects expire after this many days."
    )
    uploads_noncurrent_days: Annotated[int, between(1, 3650)] = Field(
        30, description="Overwritten or deleted upload versions expire after this many days."
    )
    abort_multipart_days: Annotated[int, between(1, 365)] = Field(
        7, description="Incomplete multipart uploads are aborted after this many days."
    )
    results_ia_days: Annotated[int, between(30, 3650)] = Field(
        30, description="Results move to Standard-IA after this many days (S3 minimum 30)."
    )
    results_glacier_days: Annotated[int, between(31, 3650)] = Field(
        90, description="Results move to Glacier Flexible Retrieval after this many days."
    )
    results_expire_days: Annotated[int, between(32, 36500)] = Field(
        1825, description="Results expire after this many days."
    )
    results_object_lock: ObjectLockSettings | None = Field(
        None,
        description="S3 Object Lock (WORM) on the results bucket: {mode, days}. Default: off. "
        "Object Lock can only be switched on when the bucket is created (the bucket's "
        "objectLockEnabled forces a replacement, which protect refuses in staging and prod) "
        "and never switched off again.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> PipelineSettings:
        problems = [
            fargate_problem(
                int(self.vcpu * 1024),
                self.memory,
                cpu_text=f"vcpu {self.vcpu}",
                memory_key="memory",
            ),
            None
            if self.results_ia_days < self.results_glacier_days < self.results_expire_days
            else f"resultsIaDays ({self.results_ia_days}) < resultsGlacierDays "
            f"({self.results_glacier_days}) < resultsExpireDays ({self.results_expire_days}) "
            "must hold: a transition after expiry never happens",
        ]
        raise_problems(problems)
        return self


# --- observability --------------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


class ObservabilitySettings(Section):
    """`platform:observability`: where alarms go and when they fire."""

    alarm_emails: Annotated[list[str], all_match(_EMAIL, "e-mail addresses")] = Field(
        default_factory=list, description="Addresses subscribed to alarm notifications."
    )
    evaluation_periods: Annotated[int, between(1, 60)] = Field(
        3, description="Consecutive one-minute periods over threshold before an alarm fires."
    )
    alb_5xx_per_minute: Annotated[int, between(1, 100_000)] = Field(
        10, alias="alb5xxPerMinute", description="Load balancer 5xx responses per minute."
    )
    target_5xx_percent: Annotated[float, between(0.1, 100.0)] = Field(
        5.0,
        alias="target5xxPercent",
        description="Share of requests the service answers with 5xx, in percent.",
    )
    p99_latency_seconds: Annotated[float, between(0.05, 60.0)] = Field(
        2.0, description="p99 target response time, in seconds."
    )
    service_cpu_percent: Annotated[int, between(1, 100)] = Field(
        85, description="Service average CPU, in percent."
    )
    service_memory_percent: Annotated[int, between(1, 100)] = Field(
        85, description="Service average memory, in percent."
    )
    db_cpu_percent: Annotated[int, between(1, 100)] = Field(
        80, description="Aurora CPU per role, in percent."
    )
    db_freeable_memory_mib: Annotated[int, between(16, 1_000_000)] = Field(
        256, description="Aurora freeable memory below this many MiB."
    )
    db_connections: Annotated[int, between(1, 100_000)] = Field(
        500, description="Aurora connections per role."
    )
    db_acu_percent: Annotated[int, between(1, 100)] = Field(
        90, description="Serverless v2 capacity used, in percent of the maximum."
    )
    db_replica_lag_ms: Annotated[int, between(1, 3_600_000)] = Field(
        2000, description="Aurora reader lag, in milliseconds."
    )
    nat_dropped_packets: Annotated[int, between(1, 1_000_000_000)] = Field(
        100, description="Packets a NAT gateway drops per minute."
    )
    cloudfront_5xx_percent: Annotated[float, between(0.1, 100.0)] = Field(
        5.0,
        alias="cloudfront5xxPercent",
        description="Share of CloudFront requests answered with 5xx, in percent.",
    )
    eks_node_cpu_percent: Annotated[int, between(1, 100)] = Field(
        80, description="EKS node average CPU, in percent."
    )
    eks_node_memory_percent: Annotated[int, between(1, 100)] = Field(
        85, description="EKS node average memory, in percent."
    )
    broker_memory_percent: Annotated[int, between(1, 100)] = Field(
        80, description="RabbitMQ memory used, in percent of its memory alarm limit."
    )
    broker_disk_free_factor: Annotated[float, between(1.0, 100.0)] = Field(
        2.0,
        description="RabbitMQ free disk below this multiple of its disk alarm limit (publishers "
        "block at 1).",
    )
    broker_connections: Annotated[int, between(1, 1_000_000)] = Field(
        1000, description="RabbitMQ connections."
    )
    broker_messages: Annotated[int, between(1, 1_000_000_000)] = Field(
        10_000, description="RabbitMQ messages waiting in all queues (ready and unacknowledged)."
    )
    broker_unacked_messages: Annotated[int, between(1, 1_000_000_000)] = Field(
        1000, description="RabbitMQ messages delivered and not yet acknowledged."
    )
    cache_engine_cpu_percent: Annotated[int, between(1, 100)] = Field(
        80, description="Valkey engine thread CPU per node, in percent."
    )
    cache_memory_percent: Annotated[int, between(1, 100)] = Field(
        80, description="Valkey memory used per node, in percent of its maxmemory."
    )
    cache_evictions: Annotated[int, between(1, 1_000_000_000)] = Field(
        100, description="Keys evicted per node per minute."
    )
    cache_connections: Annotated[int, between(1, 65_000)] = Field(
        1000, description="Client connections per node."
    )
    cache_replication_lag_seconds: Annotated[float, between(0.1, 3600.0)] = Field(
        5.0, description="Replica lag behind the primary, in seconds."
    )
    cache_swap_mib: Annotated[int, between(1, 1_000_000)] = Field(
        50, description="Swap used per node, in MiB."
    )


# --- kubernetes -----------------------------------------------------------------------------------

# Kubernetes versions in EKS standard support on 2026-11-22; the policy pack's
# eks-supported-version rule lists the same ones.
KUBERNETES_VERSIONS = ("1.34", "1.35", "1.36")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_NODE_GROUP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_GRAVITON = re.compile(r"^[a-z]+\d+[a-z]*g[a-z]*\.")  # m7g.large, c7gn.xlarge, r8gd.large


class CapacityType(enum.StrEnum):
    """How a node group buys its instances."""

    ON_DEMAND = "onDemand"
    SPOT = "spot"  # up to 90% cheaper; nodes can be reclaimed with two minutes' notice


def _public_cidrs(values: list[str]) -> list[str]:
    problems = []
    for value in values:
        try:
            ipaddress.IPv4Network(value, strict=True)
        except ValueError as error:
            problems.append(f"{value!r} is not an IPv4 CIDR block ({error})")
    raise_problems(problems)
    return values


# Sources admitted to the private API endpoint. Security group IDs are "sg-" and 8 or 17
# lower-case hex characters (docs.aws.amazon.com/AWSEC2/latest/UserGuide/resource-ids.html).
_SECURITY_GROUP_ID = re.compile(r"^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_API_ACCESS_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
# The private endpoint is reached from the VPC or a network connected to it (VPN, peering, transit
# gateway), so only private addresses can arrive: RFC 1918 and the RFC 6598 shared space.
_PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(block)
    for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
# Each source is one inbound rule on the cluster security group (default quota: 60 inbound rules
# per security group, docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html).
_MAX_API_SOURCES = 20


def _api_access_name(value: str) -> str:
    if not _API_ACCESS_NAME.match(value):
        raise ValueError(
            f"{value!r}: names are lower-case letters, digits and '-', starting with a letter, "
            "up to 32 characters (each names its security group rule)"
        )
    return value


def _security_group_id(value: str) -> str:
    if not _SECURITY_GROUP_ID.match(value):
        raise ValueError("not a security group ID (sg- and 8 or 17 hex characters)")
    return value


def _private_cidr(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"not an IPv4 CIDR block ({error})") from None
    if network.prefixlen == 0:
        raise ValueError("admits every address: list the private CIDR of the runner or VPN")
    if not any(network.subnet_of(block) for block in _PRIVATE_RANGES):
        raise ValueError(
            "not a private range; the private endpoint is reached only from the VPC or a "
            f"connected network: use a block inside {', '.join(map(str, _PRIVATE_RANGES))}"
        )
    return str(network)


ApiAccessName = Annotated[str, AfterValidator(_api_access_name)]


class NodeGroupSettings(Section):
    """One managed node group in `platform:kubernetes.nodeGroups`."""

    instance_types: Annotated[list[str], Field(min_length=1, max_length=20)] = Field(
        default_factory=lambda: ["m7i.large"],
        description="EC2 instance types; list several similar ones for spot capacity.",
    )
    capacity_type: CapacityType = Field(CapacityType.ON_DEMAND, description="onDemand or spot.")
    min_size: Annotated[int, between(0, 100)] = Field(3, description="Fewest nodes.")
    desired_size: Annotated[int, between(0, 100)] = Field(
        3, description="Nodes at creation; the Cluster Autoscaler owns the count afterwards."
    )
    max_size: Annotated[int, between(1, 100)] = Field(9, description="Most nodes.")
    disk_size_gib: Annotated[int, between(20, 16384)] = Field(
        50, description="Encrypted gp3 root volume per node, in GiB."
    )
    labels: Annotated[dict[str, str], AfterValidator(kubernetes_labels)] = Field(
        default_factory=dict, description="Kubernetes labels on every node of the group."
    )
    max_unavailable_percent: Annotated[int, between(1, 100)] = Field(
        33, description="Share of nodes replaced at once during a rolling update."
    )

    @model_validator(mode="after")
    def _consistent(self) -> NodeGroupSettings:
        bad = [t for t in self.instance_types if not _INSTANCE_TYPE.match(t)]
        arm = {_GRAVITON.match(t) is not None for t in self.instance_types}
        raise_problems(
            [
                f"instanceTypes: not EC2 instance types: {', '.join(bad)}" if bad else None,
                "instanceTypes mix ARM (Graviton) and x86 types; one node group runs one AMI "
                f"architecture: {', '.join(self.instance_types)}"
                if len(arm) > 1
                else None,
                ordered(
                    {
                        "minSize": self.min_size,
                        "desiredSize": self.desired_size,
                        "maxSize": self.max_size,
                    }
                ),
            ]
        )
        return self

    @property
    def arm(self) -> bool:
        """Whether the group runs on Graviton (ARM64) instances."""
        return _GRAVITON.match(self.instance_types[0]) is not None


# --- EKS workloads: namespaces, service accounts and the AWS access of each -----------------------

# Namespace and service account names are RFC 1123 labels (Kubernetes docs, "Object Names and
# IDs"); kube-* namespaces and default belong to the cluster.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_WORKLOAD_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
# Kubernetes resource quantities: a decimal number with an optional suffix (Kubernetes API
# reference, "Quantity": m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei).
_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
Quantity = Annotated[str, Field(pattern=_QUANTITY.pattern)]


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS label (lower-case letters, digits and '-', up to 63)"
        )
    return value


# A database identity names a PostgreSQL login role and database: lower-case, up to 63 bytes
# (PostgreSQL docs, "Identifiers and Key Words": NAMEDATALEN - 1).
_IDENTITY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _identity(value: str | None) -> str | None:
    if value is not None and not _IDENTITY.match(value):
        raise ValueError(
            f"{value!r}: identity names are lower-case letters, digits and '_', starting with "
            "a letter, up to 63 characters"
        )
    return value


def _workload_namespace(value: str) -> str:
    if value in _RESERVED_NAMESPACES or value.startswith("kube-"):
        raise ValueError(f"{value!r} belongs to the cluster; give the workload its own namespace")
    return _dns_label(value)


class PipelineBucket(enum.StrEnum):
    """The pipeline buckets a workload may reach."""

    UPLOADS = "uploads"
    RESULTS = "results"


class BucketAccess(Section):
    """One S3 prefix of a pipeline bucket in `workloads.<name>.s3`."""

    bucket: PipelineBucket = Field(description="uploads or results.")
    prefix: Annotated[str, Field(pattern=_PREFIX.pattern)] = Field(
        description="Key prefix ending in '/', such as reports/."
    )
    write: bool = Field(False, description="Also put and delete objects under the prefix.")


class WorkloadSettings(Section):
    """One application on EKS in `platform:kubernetes.workloads`: where it runs and the AWS access
    its IRSA role gets (nothing by default)."""

    namespace: Annotated[str, AfterValidator(_workload_namespace)] = Field(
        description="Kubernetes namespace, created with a quota and a limit range."
    )
    service_account: Annotated[str, AfterValidator(_dns_label)] = Field(
        description="Kubernetes service account the pods run as; the only one the role trusts."
    )
    s3: list[BucketAccess] = Field(
        default_factory=list, description="Prefixes of the pipeline buckets it reads (or writes)."
    )
    start_pipeline: bool = Field(
        False, description="Allow states:StartExecution on the pipeline's state machine."
    )
    secrets: Annotated[list[str], all_match(_SECRET_NAME, "Secrets Manager secret names")] = Field(
        default_factory=list,
        description="Secrets Manager secrets it reads, by name in this stack's account and region.",
    )
    database: Annotated[str | None, AfterValidator(_identity)] = Field(
        None, description="The database identity it connects as (IAM database authentication)."
    )


class NamespaceSettings(Section):
    """Quota and container defaults of a workload namespace (`kubernetes.namespaceDefaults`, or
    `kubernetes.namespaces.<name>` for one namespace). Quantities as Kubernetes writes them."""

    requests_cpu: Quantity = Field("2", description="Sum of the pods' CPU requests.")
    requests_memory: Quantity = Field("4Gi", description="Sum of the pods' memory requests.")
    limits_cpu: Quantity = Field("4", description="Sum of the pods' CPU limits.")
    limits_memory: Quantity = Field("8Gi", description="Sum of the pods' memory limits.")
    pods: Annotated[int, between(1, 1000)] = Field(30, description="Most pods.")
    services_load_balancers: Annotated[int, between(0, 20)] = Field(
        0, description="Most Services of type LoadBalancer (expose through the IngressClass)."
    )
    default_request_cpu: Quantity = Field("100m", description="A container's CPU request if unset.")
    default_request_memory: Quantity = Field(
        "128Mi", description="A container's memory request if unset."
    )
    default_limit_cpu: Quantity = Field("500m", description="A container's CPU limit if unset.")
    default_limit_memory: Quantity = Field(
        "512Mi", description="A container's memory limit if unset."
    )


class KubernetesSettings(Section):
    """`platform:kubernetes`: the EKS cluster, its node groups and in-cluster controllers."""

    enabled: bool = Field(True, description="Create the EKS cluster.")
    version: Annotated[str, one_of(KUBERNETES_VERSIONS)] = Field(
        "1.34", description="Kubernetes version, pinned; upgrade one minor version at a time."
    )
    endpoint_public_access: bool = Field(
        False, description="Public API endpoint (the private one is always on)."
    )
    public_access_cidrs: Annotated[list[str], AfterValidator(_public_cidrs)] = Field(
        default_factory=list,
        description="CIDRs allowed to the public endpoint; required when it is on.",
    )
    admin_role_arns: Annotated[list[str], all_match(_ROLE_ARN, "IAM role ARNs")] = Field(
        default_factory=list,
        description="IAM roles given cluster-admin through access entries.",
    )
    api_access_security_groups: Annotated[
        dict[ApiAccessName, Annotated[str, AfterValidator(_security_group_id)]],
        Field(max_length=_MAX_API_SOURCES),
    ] = Field(
        default_factory=dict,
        description="Security groups (by a name of your choice) admitted to the private API "
        "endpoint on 443, such as a deploy runner's in this VPC or a peered one.",
    )
    api_access_cidrs: Annotated[
        dict[ApiAccessName, Annotated[str, AfterValidator(_private_cidr)]],
        Field(max_length=_MAX_API_SOURCES),
    ] = Field(
        default_factory=dict,
        description="Private CIDRs (by a name of your choice) admitted to the private API "
        "endpoint on 443, such as a VPN's or a connected network's.",
    )
    node_groups: Annotated[dict[str, NodeGroupSettings], Field(min_length=1)] = Field(
        default_factory=lambda: {"general": NodeGroupSettings.model_validate({})},
        description="Managed node groups by name (lower-case, up to 20 characters).",
    )
    viewer_role_arns: Annotated[list[str], all_match(_ROLE_ARN, "IAM role ARNs")] = Field(
        default_factory=list,
        description="IAM roles given read-only Kubernetes access (AmazonEKSAdminViewPolicy) "
        "through access entries, such as the CI preview role, so `pulumi preview --refresh` "
        "can read what the program manages in the cluster.",
    )
    workloads: dict[str, WorkloadSettings] = Field(
        default_factory=dict,
        description="Applications by name (lower-case, up to 20 characters): namespace, "
        "service account and the AWS access of each one's IRSA role.",
    )
    waf: bool = Field(
        True,
        description="Internet-facing Ingresses must carry the cluster's regional WAF web ACL "
        "(an admission policy refuses them otherwise).",
    )
    waf_rate_limit: Annotated[int, between(100, 2_000_000_000)] = Field(
        2000, description="Requests per 5 minutes from one IP before the Ingress WAF blocks it."
    )
    namespace_defaults: NamespaceSettings = Field(
        default_factory=lambda: NamespaceSettings.model_validate({}),
        description="Quota and container defaults of every workload namespace.",
    )
    namespaces: dict[str, NamespaceSettings] = Field(
        default_factory=dict,
        description="Quota and container defaults of one workload namespace, by its name, "
        "instead of namespaceDefaults.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> KubernetesSettings:
        bad_names = [n for n in self.node_groups if not _NODE_GROUP_NAME.match(n)]
        raise_problems(
            [
                f"nodeGroups: names must be lower-case letters, digits and '-', starting with a "
                f"letter, up to 20 characters: {', '.join(bad_names)}"
                if bad_names
                else None,
                "endpointPublicAccess is true but publicAccessCidrs is empty: list the CIDRs "
                "allowed to reach the API"
                if self.endpoint_public_access and not self.public_access_cidrs
                else None,
                "publicAccessCidrs is set but endpointPublicAccess is false: the CIDRs would "
                "have no effect"
                if self.public_access_cidrs and not self.endpoint_public_access
                else None,
                *self._workload_problems(),
            ]
        )
        return self

    def _workload_problems(self) -> list[str | None]:
        """Names that would clash: two workloads on one service account, a namespace setting
        for a namespace no workload uses, a viewer that is also an admin."""
        bad_names = [n for n in self.workloads if not _WORKLOAD_NAME.match(n)]
        accounts: dict[tuple[str, str], list[str]] = {}
        for name, workload in self.workloads.items():
            accounts.setdefault((workload.namespace, workload.service_account), []).append(name)
        used = {w.namespace for w in self.workloads.values()}
        return [
            f"workloads: names must be lower-case letters, digits and '-', starting with a "
            f"letter, up to 20 characters: {', '.join(bad_names)}"
            if bad_names
            else None,
            *(
                f"workloads: {', '.join(names)} share the service account {ns}/{sa}; each "
                "workload's role trusts exactly one service account, so give each its own"
                for (ns, sa), names in accounts.items()
                if len(names) > 1
            ),
            f"namespaces: {', '.join(sorted(set(self.namespaces) - used))} is used by no "
            "workload; remove it or add the workload"
            if set(self.namespaces) - used
            else None,
            f"viewerRoleArns: {', '.join(sorted(set(self.viewer_role_arns) & set(self.admin_role_arns)))} "
            "is also in adminRoleArns; a role gets one access entry, list it once"
            if set(self.viewer_role_arns) & set(self.admin_role_arns)
            else None,
        ]

    @property
    def open_to_internet(self) -> bool:
        """Whether the public endpoint admits every address."""
        return self.endpoint_public_access and any(
            ipaddress.IPv4Network(cidr).prefixlen == 0 for cidr in self.public_access_cidrs
        )


# --- static site ----------------------------------------------------------------------------------

PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")
# Fetch directives and the others a policy may set (CSP Level 3).
CSP_DIRECTIVES = frozenset(
    {
        "default-src", "script-src", "script-src-elem", "script-src-attr", "style-src",
        "style-src-elem", "style-src-attr", "img-src", "font-src", "connect-src", "media-src",
        "object-src", "frame-src", "child-src", "worker-src", "manifest-src", "base-uri",
        "form-action", "frame-ancestors", "upgrade-insecure-requests", "sandbox",
        "report-uri", "report-to", "require-trusted-types-for", "trusted-types",
    }
)  # fmt: skip
_CSP_SOURCE = re.compile(r"^('[a-z0-9+/=-]+'|[A-Za-z0-9*][A-Za-z0-9.*:/?#@%&=+_~-]*)$")


def _content_security_policy(value: str) -> str:
    directives = [part.strip() for part in value.split(";") if part.strip()]
    if not directives:
        raise ValueError("empty: give at least default-src")
    problems: list[str | None] = []
    seen: set[str] = set()
    for directive in directives:
        name, *sources = directive.split()
        if name not in CSP_DIRECTIVES:
            problems.append(f"unknown directive {name!r}")
        elif name in seen:
            problems.append(f"directive {name!r} appears twice")
        seen.add(name)
        bad = [source for source in sources if not _CSP_SOURCE.match(source)]
        if bad:
            problems.append(f"{name}: malformed sources {' '.join(bad)} (quote keywords: 'self')")
    raise_problems(problems)
    return "; ".join(directives)


class StaticSiteSettings(Section):
    """`platform:staticSite`: the S3 + CloudFront site, sharing one domain with the service API."""

    enabled: bool = Field(True, description="Create the site bucket and distribution.")
    domain_name: Annotated[str | None, AfterValidator(_domain)] = Field(
        None,
        description="DNS name of the site; with it: a us-east-1 certificate and alias records.",
    )
    hosted_zone_id: Annotated[str | None, AfterValidator(_zone_id)] = Field(
        None, description="Route53 hosted zone of domainName (required with it)."
    )
    price_class: Annotated[str, one_of(PRICE_CLASSES)] = Field(
        "PriceClass_100", description="Edge locations used: PriceClass_100, _200 or _All."
    )
    spa_fallback: bool = Field(
        True, description="Serve /index.html for paths without a file extension (client routing)."
    )
    content_security_policy: Annotated[str, AfterValidator(_content_security_policy)] = Field(
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; "
        "form-action 'self'",
        description="Content-Security-Policy header sent with every response.",
    )
    api_origin: bool = Field(
        True, description="Route /api/* to the service's load balancer (one origin, no CORS)."
    )
    waf: bool = Field(True, description="CLOUDFRONT-scope WAF web ACL (created in us-east-1).")
    waf_rate_limit: Annotated[int, between(100, 2_000_000_000)] = Field(
        2000, description="Requests per 5 minutes from one IP before WAF blocks it."
    )
    access_log_days: Annotated[int, between(1, 3650)] = Field(
        90, description="Days access logs are kept in the log bucket."
    )

    @model_validator(mode="after")
    def _consistent(self) -> StaticSiteSettings:
        if self.domain_name and not self.hosted_zone_id:
            raise ValueError(
                "domainName needs hostedZoneId (the Route53 zone that validates its certificate "
                "and holds its alias records)"
            )
        return self


# --- CI access ------------------------------------------------------------------------------------

# GitHub names (owner and repository: letters, digits, `_.-`), each optionally followed by its
# immutable numeric ID after `@`: repositories created or renamed on github.com since 2026-07-15
# (and those opted in) send `repo:OWNER@OWNER_ID/REPO@REPO_ID:...` as the OIDC subject; `@` never
# appears in GitHub names (GitHub docs, "OpenID Connect reference", Immutable subject claims).
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+(@[0-9]+)?/[A-Za-z0-9_.-]+(@[0-9]+)?$")
_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/\S+$")
# IAM MaxSessionDuration: 3600 to 43200 seconds (IAM API reference, CreateRole); at least 4:
# the deploy job may run 230 minutes (up.yml timeout-minutes) on one session.
SESSION_HOURS = (4, 12)


class DeployBoundary(enum.StrEnum):
    """What caps the CI deploy role's managed policies."""

    DENY_ESCALATION = "denyEscalation"
    NONE = "none"


class CiRoleSettings(Section):
    """The two roles GitHub Actions assumes through OIDC for one stack: a read-only preview role
    (pull requests, drift checks) and a deploy role (the stack's GitHub environment only)."""

    repository: Annotated[str, Field(pattern=_REPOSITORY.pattern)] = Field(
        "example-org/platform",
        description="GitHub owner/name allowed to assume the roles, or owner@ID/name@ID (the "
        "two IDs together, as GitHub sends them): then both the name form and the immutable form "
        "are trusted, since GitHub switches between them on rename, transfer or opt-in.",
    )
    create_oidc_provider: bool = Field(
        True,
        description="Create the account's GitHub OIDC provider; false when another stack in the "
        "same account already did (one provider per URL per account).",
    )
    policy_arns: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["arn:aws:iam::aws:policy/AdministratorAccess"],
        description="Managed policies of the deploy role (Pulumi manages IAM, so it needs wide "
        "rights), capped by `boundary`; or your organisation's scoped deploy policy.",
    )
    boundary: DeployBoundary = Field(
        DeployBoundary.DENY_ESCALATION,
        description="denyEscalation: a permissions boundary the component creates caps the "
        "managed policies and denies IAM users/access keys, changes to the role itself or to its "
        "boundary, and Organizations/Account actions. none: the managed policies apply "
        "unbounded (bare AdministratorAccess), which the policy pack reports.",
    )
    preview_policy_arns: list[str] = Field(
        default_factory=lambda: ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        description="Managed policies of the preview role: what `pulumi preview --refresh` reads. "
        "The role's own policy adds the state and secrets key and denies reading data.",
    )
    session_hours: Annotated[int, between(*SESSION_HOURS)] = Field(
        4,
        description="Longest session of both roles (IAM MaxSessionDuration); the workflows ask "
        "for it with role-duration-seconds. A first prod deploy outlasts the default hour.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> CiRoleSettings:
        owner, name = self.repository.split("/")
        raise_problems(
            [
                f"policyArns: not IAM policy ARNs: {', '.join(bad)}"
                if (bad := [a for a in self.policy_arns if not _POLICY_ARN.match(a)])
                else None,
                f"previewPolicyArns: not IAM policy ARNs: {', '.join(bad)}"
                if (bad := [a for a in self.preview_policy_arns if not _POLICY_ARN.match(a)])
                else None,
                f"repository = {self.repository!r}: give both immutable IDs (owner@ID/name@ID) "
                "or neither; GitHub sends both"
                if ("@" in owner) != ("@" in name)
                else None,
            ]
        )
        return self


class CiAccessSettings(CiRoleSettings):
    """`platform:ciAccess`: CI roles built inside this stack (the earlier way; new setups create
    them with the bootstrap program, tooling/bootstrap)."""

    enabled: bool = Field(False, description="Create the deploy role (and the OIDC provider).")


# --- account baseline and budget -----------------------------------------------------------------


class FindingSeverity(enum.StrEnum):
    """The lowest GuardDuty finding severity sent to the alarm topic."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


# The lower bound of each GuardDuty severity level (GuardDuty User Guide, "Severity levels of
# GuardDuty findings": Low 1.0-3.9, Medium 4.0-6.9, High 7.0-8.9, Critical 9.0-10.0).
GUARDDUTY_SEVERITY_FLOOR: Mapping[FindingSeverity, float] = {
    FindingSeverity.LOW: 1.0,
    FindingSeverity.MEDIUM: 4.0,
    FindingSeverity.HIGH: 7.0,
    FindingSeverity.CRITICAL: 9.0,
}
_ACCOUNT_ID = re.compile(r"^\d{12}$")


def _account_id(value: str) -> str:
    if not _ACCOUNT_ID.match(value):
        raise ValueError("not an AWS account ID (12 digits, quoted in YAML)")
    return value


class AccountBaselineSettings(Section):
    """`platform:accountBaseline`: the account-wide guards (CloudTrail, GuardDuty, Security Hub,
    AWS Config, IAM Access Analyzer). Exactly one stack per AWS account turns it on."""

    enabled: bool = Field(
        False,
        description="Create the account baseline; on in exactly one stack per account (prod's "
        "stack file turns it on; a dev or staging stack in an account of its own turns it on too).",
    )
    account_id: Annotated[str, AfterValidator(_account_id)] | None = Field(
        None,
        description="The 12-digit AWS account the stack deploys into; when set, an update in "
        "another account is refused, and tests/stacks refuse two stack files that declare one "
        "account and both turn the baseline on.",
    )
    log_days: Annotated[int, between(1, 3653)] = Field(
        365, description="Days CloudTrail and AWS Config files are kept in the baseline bucket."
    )
    object_lock_days: Annotated[int, between(1, 3653)] | None = Field(
        None,
        description="S3 Object Lock (governance mode) on the baseline bucket for this many days; "
        "only at the bucket's creation (AWS turns it on when the bucket is created).",
    )
    guardduty_min_severity: FindingSeverity = Field(
        FindingSeverity.MEDIUM,
        description="Lowest GuardDuty finding severity sent to the alarm topic: low, medium, "
        "high or critical.",
    )
    record_global_resources: bool = Field(
        True,
        description="AWS Config records global resources (IAM) here; false when another region "
        "of the account already records them (exactly one region should).",
    )
    create_config_role: bool = Field(
        False,
        description="Create AWS Config's service-linked role. Off by default: "
        "CreateServiceLinkedRole fails where AWSServiceRoleForConfig exists (any account that "
        "used Config, Security Hub or Control Tower); create it once with the CLI instead "
        "(README, Account baseline).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> AccountBaselineSettings:
        lock = self.object_lock_days
        if lock is not None and lock > self.log_days:
            raise ValueError(
                f"objectLockDays ({lock}) is longer than logDays ({self.log_days}): the "
                "lifecycle could not expire what the lock still holds"
            )
        return self


class BudgetSettings(Section):
    """`platform:budget`: the stack's monthly AWS Budget on its tagged costs."""

    monthly_limit: Annotated[float, between(1.0, 10_000_000.0)] | None = Field(
        None,
        description="Monthly limit in USD; none: no budget (the policy pack refuses a protected "
        "stack without one). `make plan` prints the suggested limit.",
    )
    actual_percent: Annotated[int, between(1, 1000)] = Field(
        80, description="Notify when actual spend passes this share of the limit, in percent."
    )
    forecast_percent: Annotated[int, between(1, 1000)] = Field(
        100, description="Notify when forecast spend passes this share of the limit, in percent."
    )


# AWS Budgets takes at most 10 e-mail subscribers (and one SNS topic) per notification (AWS Billing
# and Cost Management API Reference, NotificationWithSubscribers).
BUDGET_MAX_EMAILS = 10


# --- the whole stack ------------------------------------------------------------------------------


class StackConfig(Section):
    """Every `platform:` key of a stack file."""

    owner: Annotated[str, Field(min_length=1), AfterValidator(tag_value)] = Field(
        "platform-team", description="Owner tag on every resource."
    )
    cost_center: Annotated[str, Field(min_length=1), AfterValidator(tag_value)] = Field(
        "unassigned", description="CostCenter tag on every resource."
    )
    log_retention_days: Annotated[int, one_of(LOG_RETENTION_DAYS)] = Field(
        365, description="Retention of every CloudWatch log group, in days."
    )
    protect_data: bool = Field(
        True,
        description="Protect stateful resources: Pulumi protect, deletion protection, "
        "final snapshots, retained buckets. Off only where destroying everything is intended.",
    )
    service: ServiceSettings = Field(
        default_factory=lambda: ServiceSettings.model_validate({}),
        description="The Fargate service: see ServiceSettings.",
    )
    services: dict[str, EcsServiceSettings] = Field(
        default_factory=dict,
        description="Several Fargate services behind the shared load balancer, by name: see "
        "EcsServiceSettings. Without it, platform:service describes the one service `app`.",
    )
    release: Annotated[ReleaseSettings | None, BeforeValidator(_json_object)] = Field(
        None,
        description="Runner-only (never in a stack file): the release being deployed; see "
        "ReleaseSettings.",
    )
    database: DatabaseSettings = Field(
        default_factory=lambda: DatabaseSettings.model_validate({}),
        description="Aurora PostgreSQL: see DatabaseSettings.",
    )
    messaging: MessagingSettings = Field(
        default_factory=lambda: MessagingSettings.model_validate({}),
        description="Amazon MQ for RabbitMQ: see MessagingSettings.",
    )
    cache: CacheSettings = Field(
        default_factory=lambda: CacheSettings.model_validate({}),
        description="ElastiCache for Valkey: see CacheSettings.",
    )
    pipeline: PipelineSettings = Field(
        default_factory=lambda: PipelineSettings.model_validate({}),
        description="Uploads -> Step Functions -> Batch -> results: see PipelineSettings.",
    )
    observability: ObservabilitySettings = Field(
        default_factory=lambda: ObservabilitySettings.model_validate({}),
        description="Alarms and notifications: see ObservabilitySettings.",
    )
    ci_access: CiAccessSettings = Field(
        default_factory=lambda: CiAccessSettings.model_validate({}),
        description="GitHub Actions deploy role: see CiAccessSettings.",
    )
    static_site: StaticSiteSettings = Field(
        default_factory=lambda: StaticSiteSettings.model_validate({}),
        description="The S3 + CloudFront site: see StaticSiteSettings.",
    )
    kubernetes: KubernetesSettings = Field(
        default_factory=lambda: KubernetesSettings.model_validate({}),
        description="The EKS cluster: see KubernetesSettings.",
    )
    network: NetworkSettings = Field(
        default_factory=lambda: NetworkSettings.model_validate({}),
        description="The VPC: see NetworkSettings.",
    )
    account_baseline: AccountBaselineSettings = Field(
        default_factory=lambda: AccountBaselineSettings.model_validate({}),
        description="Account-wide guards: see AccountBaselineSettings.",
    )
    budget: BudgetSettings = Field(
        default_factory=lambda: BudgetSettings.model_validate({}),
        description="The stack's monthly budget: see BudgetSettings.",
    )

    @model_validator(mode="after")
    def _production_rules(self) -> StackConfig:
        # protectData marks a stack that holds data worth keeping: prod and staging.
        # Every rule names the keys it reads, so the loader can tell a rule's finding from one
        # caused by a default standing in for an invalid value (see _model_level_problems).
        backup_region = self.database.backup_copy_region
        raise_problems(
            [
                "service.originOnly: the load balancer would admit only CloudFront, but no "
                "distribution routes to it; set staticSite.enabled and staticSite.apiOrigin true"
                if self.service.enabled
                and self.service.origin_only
                and not (self.static_site.enabled and self.static_site.api_origin)
                else None,
                *self._tier_problems(),
                *self._services_problems(),
                *self._release_problems(),
                *self._migration_problems(),
                "kubernetes.publicAccessCidrs: 0.0.0.0/0 opens the cluster API to the whole "
                "internet, which a stack with protectData true may not do; list your VPN or "
                "office CIDRs, or turn endpointPublicAccess off"
                if self.protect_data and self.kubernetes.open_to_internet
                else None,
                # Checked here until DatabaseSettings.backupCopyRegion carries the aws_region
                # validator itself.
                f"database.backupCopyRegion = {backup_region!r}: not an AWS commercial region"
                if backup_region is not None and backup_region not in AWS_REGIONS
                else None,
            ]
        )
        return self

    @model_validator(mode="after")
    def _budget_rules(self) -> StackConfig:
        emails = self.observability.alarm_emails
        if self.budget.monthly_limit is not None and len(emails) > BUDGET_MAX_EMAILS:
            raise ValueError(
                f"observability.alarmEmails: {len(emails)} addresses, but the notifications of "
                f"budget.monthlyLimit take at most {BUDGET_MAX_EMAILS}; list fewer (subscribe "
                "the rest to the alarm topic) or unset the limit"
            )
        return self

    def ecs_services(self) -> dict[str, EcsServiceSettings]:
        """The Fargate services to run, by name: `platform:services`, else the `app` of
        `platform:service`; none while service.enabled is false."""
        if not self.service.enabled:
            return {}
        return dict(self.services) or {LEGACY_SERVICE: self.service.as_app()}

    def _services_problems(self) -> list[str | None]:
        moved = self.service.runtime_keys_set() if self.services else []
        return [
            f"service.{', service.'.join(moved)}: with platform:services, each service sets "
            "these itself; move them to services.<name> (today's service is services.app)"
            if moved
            else None,
            *route_problems(self.services),
        ]

    def _release_problems(self) -> list[str | None]:
        if self.release is None:
            return []
        services = self.ecs_services()
        known = ", ".join(sorted(services)) or "none"
        return [
            f"release.images: {name!r} is not a service of this stack (services: {known})"
            for name in sorted(self.release.images)
            if name not in services
        ]

    def _migration_problems(self) -> list[str | None]:
        """A migration logs in to the database as its service's identity (IAM token): a service
        without one would run its migration with no database variables and no rds-db:connect.
        The single service `app` needs identities.app anyway (_tier_problems). With the database
        off there is nothing to migrate and no identity to log in as."""
        if not self.database.enabled:
            return [
                f"{key}.migration: needs the database (it logs in as the service's database "
                "identity), but database.enabled is false; turn the database on, or remove the "
                "migration"
                for key in self._migration_keys()
            ]
        if not self.service.enabled:
            return []
        return [
            f"services.{name}.migration: needs database.identities.{name} (the migration logs "
            "in as the service's database identity); declare it, or remove the migration"
            for name, service in sorted(self.services.items())
            if service.migration and name not in self.database.identities
        ]

    def _migration_keys(self) -> list[str]:
        """Where each running service that declares a migration sets it."""
        if self.services:
            return [f"services.{name}" for name, s in self.ecs_services().items() if s.migration]
        app = self.ecs_services().get(LEGACY_SERVICE)
        return ["service"] if app and app.migration else []

    def _tier_problems(self) -> list[str | None]:
        """Tiers that are on but need one that is off. What merely depends on a tier that is off
        (admits, environment, alarms, outputs) is left out with it by the program; a tier's own
        keys, and the observability thresholds that tune it, stay valid and unused while it is
        off, so turning it back on is one key."""
        return [
            "staticSite.apiOrigin: with staticSite.enabled, the site sends /api/* to the "
            "service's load balancer, but service.enabled is false; set staticSite.apiOrigin "
            "false, or service.enabled true"
            if self.static_site.enabled and self.static_site.api_origin and not self.service.enabled
            else None,
            "database.identities: the service connects to the database as identity 'app', which "
            "is not declared; add identities.app (or turn the service or the database off)"
            if self.service.enabled
            and not self.services
            and self.database.enabled
            and "app" not in self.database.identities
            else None,
            *(
                f"kubernetes.workloads.{name}: reaches the pipeline (s3, startPipeline), but "
                "pipeline.enabled is false; remove that access, or turn the pipeline on"
                for name, workload in self.kubernetes.workloads.items()
                if self.kubernetes.enabled
                and (workload.s3 or workload.start_pipeline)
                and not self.pipeline.enabled
            ),
            *(
                f"kubernetes.workloads.{name}.database: {workload.database!r}, but "
                "database.enabled is false; remove it, or turn the database on"
                for name, workload in self.kubernetes.workloads.items()
                if self.kubernetes.enabled and workload.database and not self.database.enabled
            ),
            *(
                f"kubernetes.workloads.{name}.database: {workload.database!r} is not one of "
                f"database.identities ({', '.join(sorted(self.database.identities))}); declare "
                "it there, or name a declared identity"
                for name, workload in self.kubernetes.workloads.items()
                if self.kubernetes.enabled
                and self.database.enabled
                and workload.database
                and workload.database not in self.database.identities
            ),
        ]


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The validated settings of one stack."""

    project: str
    stack: str
    region: str
    config: StackConfig
    # Top-level keys (without namespace) whose values Pulumi holds as secrets: never shown.
    secret_keys: frozenset[str] = frozenset()


# --- across stacks --------------------------------------------------------------------------------


def check_account(settings: Settings, account_id: str) -> None:
    """Refuse to deploy a stack whose file names another account than the credentials reach."""
    declared = settings.config.account_baseline.account_id
    if declared is not None and declared != account_id:
        raise SettingsError(
            f"stack {settings.stack!r}: platform:accountBaseline.accountId = {declared!r}, but "
            f"the AWS credentials deploy into account {account_id}; use that account's "
            "credentials or correct the stack file"
        )


def baseline_owner_problems(stacks: Mapping[str, StackConfig]) -> list[str]:
    """Stack files that would both own the baseline of one account: each names the account with
    accountBaseline.accountId and turns accountBaseline.enabled on. Stacks that declare no account
    cannot be compared. The program sees only its own stack's config (other stack files may live
    elsewhere, or hold values only the CLI can decrypt), so tests/stacks runs this over every
    Pulumi.<stack>.yaml of the project."""
    owners: dict[str, list[str]] = {}
    for stack, config in sorted(stacks.items()):
        baseline = config.account_baseline
        if baseline.enabled and baseline.account_id is not None:
            owners.setdefault(baseline.account_id, []).append(stack)
    return [
        f"stacks {', '.join(names)}: platform:accountBaseline.enabled is true in each, and each "
        f"declares account {account}; exactly one stack per account may own the baseline "
        "(turn it off in all but one)"
        for account, names in owners.items()
        if len(names) > 1
    ]


# --- loading --------------------------------------------------------------------------------------


def load_settings() -> Settings:
    """Read and validate the current stack's configuration. An update (`pulumi up`) of a stack
    whose file still holds example values stops here; a preview only warns."""
    settings = parse_settings(
        project=pulumi.get_project(),
        stack=pulumi.get_stack(),
        region=pulumi.Config("aws").get("region"),
        raw=_read_namespace(NAMESPACE),
        secret_keys=_secret_names(NAMESPACE),
    )
    found = examples.example_values(settings)
    if found and pulumi.runtime.is_dry_run():
        pulumi.log.warn(examples.warning(settings.stack, found))
    elif found and not examples.accepted_by_offline_harness():
        raise SettingsError(examples.refusal(settings.stack, found))
    return settings


def parse_settings(
    *,
    project: str,
    stack: str,
    region: str | None,
    raw: Mapping[str, object],
    secret_keys: frozenset[str] = frozenset(),
) -> Settings:
    """Validate raw config values (camelCase keys without namespace); raise one SettingsError.
    Values under `secret_keys` (and secret references) never appear in it."""
    problems = _name_length_problems(project, stack)
    if not region:
        problems.append("aws:region: not set; run `pulumi config set aws:region <region>`")
    elif not _REGION.match(region):
        problems.append(f"aws:region = {region!r}: not an AWS region name such as 'eu-west-1'")
    elif region not in AWS_REGIONS:
        problems.append(f"aws:region = {region!r}: not an AWS commercial region")
    config: StackConfig | None = None
    try:
        config = StackConfig.model_validate(dict(raw))
    except ValidationError as error:
        errors = error.errors()
        problems.extend(line for d in errors for line in _describe(d, secret_keys))
        failed = [d["loc"] for d in errors]
        problems.extend(
            line
            for loc, message in _rules_hidden_by(StackConfig, dict(raw), failed)
            for line in _rule_lines(loc, message)
        )
    if problems or config is None or region is None:
        raise SettingsError(_scrub(_summary(stack, problems), raw, secret_keys))
    return Settings(
        project=project, stack=stack, region=region, config=config, secret_keys=secret_keys
    )


Loc = tuple[int | str, ...]
# Settings that hold references to secrets; a wrong value there may be the secret itself.
# "*" stands for any one key (a service's name).
SECRET_PATHS: tuple[Loc, ...] = (("service", "secrets"), ("services", "*", "secrets"))


def _is_secret(loc: Loc, secret_keys: frozenset[str]) -> bool:
    return bool(loc) and (loc[0] in secret_keys or any(_under(loc, path) for path in SECRET_PATHS))


def _under(loc: Loc, path: Loc) -> bool:
    return len(loc) >= len(path) and all(
        p in ("*", part) for p, part in zip(path, loc[: len(path)], strict=True)
    )


def _scrub(text: str, raw: Mapping[str, object], secret_keys: frozenset[str]) -> str:
    """`text` with every secret string (of 4 characters or more) replaced by [secret]."""
    secrets = [raw.get(key) for key in secret_keys]
    secrets += [_at(raw, path) for path in SECRET_PATHS]
    for secret in sorted(_strings(secrets), key=len, reverse=True):
        text = text.replace(secret, examples.SECRET_SHOWN_AS)
    return text


def _at(raw: object, path: Loc) -> object:
    """The value at `path` ("*" collects every key's value below it)."""
    for index, part in enumerate(path):
        if part == "*" and isinstance(raw, dict):
            return [_at(value, path[index + 1 :]) for value in raw.values()]
        raw = raw.get(part) if isinstance(raw, dict) else None
    return raw


def _strings(value: object) -> set[str]:
    if isinstance(value, str):
        return {value} if len(value) >= 4 else set()
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return {text for item in value for text in _strings(item)}
    return set()


def _rules_hidden_by(
    model: type[BaseModel], raw: object, failed: list[Loc]
) -> list[tuple[Loc, str]]:
    """The findings of model rules that pydantic skipped because a field (or section) under them
    failed: each model is validated again without the failed values, so defaults stand in, and a
    finding that names a failed key is dropped (a rule's message names the keys it reads), since
    it would judge a default rather than the value given. Locations relative to `model`."""
    failed_here = {loc[0] for loc in failed if loc}
    if not isinstance(raw, dict) or not failed_here:
        return []
    found = [((), message) for message in _own_rule_findings(model, raw, failed)]
    fields = {field.alias or name: field.annotation for name, field in model.model_fields.items()}
    for key in sorted(failed_here, key=str):
        inner = [loc[1:] for loc in failed if loc[:1] == (key,)]
        section, keyed = _section_of(fields.get(str(key)))
        value = raw.get(key)
        if section is not None and not keyed:
            found += [((key, *loc), m) for loc, m in _rules_hidden_by(section, value, inner)]
        elif section is not None and isinstance(value, dict):
            for name in sorted({loc[0] for loc in inner if loc}, key=str):
                below = [loc[1:] for loc in inner if loc[:1] == (name,)]
                found += [
                    ((key, name, *loc), m)
                    for loc, m in _rules_hidden_by(section, value.get(name), below)
                ]
    return found


def _own_rule_findings(
    model: type[BaseModel], raw: dict[str, object], failed: list[Loc]
) -> list[str]:
    """The model's own rules, judged with the failed values removed (a failed value inside a
    list or a section removes the list or section as a whole when it must)."""
    paths = [_field_path(loc) for loc in failed]
    for _ in range(8):  # each round removes what a default made fail; a few rounds suffice
        try:
            model.model_validate(_without(raw, paths))
            return []
        except ValidationError as error:
            errors = error.errors()
        messages = [d["msg"].removeprefix("Value error, ") for d in errors if not d["loc"]]
        if messages:
            dotted = [".".join(map(str, path)) for path in paths]
            return [
                line
                for message in messages
                for line in message.splitlines()
                if not any(_names(line, key) for key in dotted)
            ]
        more = [path for d in errors if (path := _field_path(d["loc"])) not in paths]
        if not more:
            return []
        paths += more
    return []


def _field_path(loc: Loc) -> Loc:
    """The settings path of a location, cut before the first list index."""
    cut = next((i for i, part in enumerate(loc) if isinstance(part, int)), len(loc))
    return loc[:cut]


def _without(raw: dict[str, object], paths: list[Loc]) -> dict[str, object]:
    """A copy of `raw` without the values at `paths`."""
    copy = json.loads(json.dumps(raw))
    for path in sorted(paths, key=len):
        node = copy
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and path:
            node.pop(path[-1], None)
    return copy


def _names(message: str, key: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(key)}(?![\w])", message) is not None


def _section_of(annotation: object) -> tuple[type[BaseModel] | None, bool]:
    """The settings model a field holds (itself, optional, or as the values of a mapping by
    name), and whether it is such a mapping."""
    keyed = typing.get_origin(annotation) is dict
    candidates = (
        typing.get_args(annotation)[1:] if keyed else (annotation, *typing.get_args(annotation))
    )
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate, keyed
    return None, keyed


def _rule_lines(loc: Loc, message: str) -> list[str]:
    if not loc:
        # A rule across sections names its own keys, relative to the namespace.
        return [f"{NAMESPACE}:{line}" for line in message.splitlines()]
    return [f"{_key(loc)}: {line}" for line in message.splitlines()]


# Project and stack names start every physical name: ALB and target group names allow letters,
# digits and single hyphens; RDS identifiers and S3 buckets only lower case (elbv2 and rds
# validate.go in terraform-provider-aws; S3 bucket naming rules).
_NAME_PART = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def _name_length_problems(project: str, stack: str) -> list[str]:
    """Physical names are proven to fit AWS's limits only up to these lengths and characters."""
    problems: list[str] = []
    for what, value, limit in (
        ("project", project, MAX_PROJECT_LENGTH),
        ("stack", stack, MAX_STACK_LENGTH),
    ):
        if len(value) > limit:
            problems.append(
                f"{what} name {value!r} is {len(value)} characters; at most {limit} are "
                "supported, so that every resource name fits its AWS limit"
            )
        if not _NAME_PART.match(value):
            problems.append(
                f"{what} name {value!r}: use lower-case letters, digits and single hyphens, "
                "starting with a letter (it starts every AWS resource name)"
            )
    return problems


def _read_namespace(namespace: str) -> dict[str, object]:
    # pulumi.Config cannot list keys, so the key names come from the runtime's config map; the
    # values are still read through pulumi.Config.
    prefix = f"{namespace}:"
    keys = {*runtime_config.CONFIG.get(), *runtime_config.get_config_env()}
    config = pulumi.Config(namespace)
    names = [key.removeprefix(prefix) for key in keys if key.startswith(prefix)]
    return decode_values({name: config.get(name) for name in names})


def _secret_names(namespace: str) -> frozenset[str]:
    """The keys of the namespace that Pulumi holds as secrets (`pulumi config set --secret`)."""
    prefix = f"{namespace}:"
    keys = {*runtime_config.CONFIG.get(), *runtime_config.get_config_env()}
    secret = {*runtime_config.get_config_secret_keys_env()}
    return frozenset(
        key.removeprefix(prefix)
        for key in keys
        if key.startswith(prefix) and (runtime_config.is_config_secret(key) or key in secret)
    )


def decode_values(values: Mapping[str, str | None]) -> dict[str, object]:
    """Config values arrive as strings; objects and lists among them as JSON."""
    return {key: _decoded(text) for key, text in sorted(values.items())}


def _decoded(text: str | None) -> object:
    """JSON objects and lists decoded; text that only looks like one stays text, so its key's
    validation reports it with every other problem."""
    if not text or text[0] not in "[{":
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _summary(stack: str, problems: list[str]) -> str:
    lines = "\n".join(f"  - {problem}" for problem in problems)
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return f"stack {stack!r}: invalid configuration ({count}):\n{lines}"


def _describe(detail: ErrorDetails, secret_keys: frozenset[str] = frozenset()) -> list[str]:
    """One line per problem (a validator lists several on separate lines)."""
    loc = detail["loc"]
    key = _key(loc)
    if detail["type"] == "extra_forbidden":
        return [f"{key}: unknown key{_suggestion(loc)}"]
    message = detail["msg"].removeprefix("Value error, ")
    value = detail.get("input")
    if (
        not loc
        or detail["type"] == "missing"
        or isinstance(value, dict)
        or _is_secret(loc, secret_keys)
    ):
        return _rule_lines(loc, message)
    return [f"{key} = {value!r}: {line}" for line in message.splitlines()]


def _key(loc: tuple[int | str, ...]) -> str:
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return f"{NAMESPACE}:{path.removeprefix('.')}"


def _suggestion(loc: tuple[int | str, ...]) -> str:
    model = _model_at(loc[:-1])
    if model is None:
        return ""
    known = [field.alias or name for name, field in model.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    allowed = ", ".join(known)
    hint = f"; did you mean {_key((*loc[:-1], close[0]))!r}?" if close else ""
    return f"{hint} (known keys here: {allowed})"


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = StackConfig
    for part in loc:
        fields = {field.alias or name: field for name, field in model.model_fields.items()}
        annotation = fields[part].annotation if part in fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def defaults_of(section: type[Section]) -> dict[str, object]:
    """The documented default of every field of a section, keyed by its config name."""
    return {
        field.alias or name: field.get_default(call_default_factory=True)
        for name, field in section.model_fields.items()
    }
