"""Typed, validated stack settings: the only module that reads `pulumi.Config`.

Every `platform:` key of a stack file maps to one field below. Each field has a default, so a stack
file only overrides what differs. `load_settings()` validates everything at once and raises a single
`SettingsError` that lists every problem, before any resource is registered.
"""

from __future__ import annotations

import difflib
import enum
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, TypeVar

import pulumi
import pulumi.runtime.config as runtime_config
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

NAMESPACE = "platform"

# The only values CloudWatch Logs accepts for retention_in_days.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)  # fmt: skip

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")


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


def _vpc_cidr(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"not a valid IPv4 CIDR block ({error})") from None
    if not 16 <= network.prefixlen <= 20:
        raise ValueError(f"prefix /{network.prefixlen} is outside the allowed /16 to /20")
    return str(network)


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


# --- the whole stack ------------------------------------------------------------------------------


class StackConfig(Section):
    """Every `platform:` key of a stack file."""

    owner: Annotated[str, Field(min_length=1)] = Field(
        "platform-team", description="Owner tag on every resource."
    )
    cost_center: Annotated[str, Field(min_length=1)] = Field(
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
    network: NetworkSettings = Field(
        default_factory=lambda: NetworkSettings.model_validate({}),
        description="The VPC: see NetworkSettings.",
    )


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The validated settings of one stack."""

    project: str
    stack: str
    region: str
    config: StackConfig


# --- loading --------------------------------------------------------------------------------------


def load_settings() -> Settings:
    """Read and validate the current stack's configuration."""
    return parse_settings(
        project=pulumi.get_project(),
        stack=pulumi.get_stack(),
        region=pulumi.Config("aws").get("region"),
        raw=_read_namespace(NAMESPACE),
    )


def parse_settings(
    *, project: str, stack: str, region: str | None, raw: Mapping[str, object]
) -> Settings:
    """Validate raw config values (camelCase keys without namespace); raise one SettingsError."""
    problems: list[str] = []
    if not region:
        problems.append("aws:region: not set; run `pulumi config set aws:region <region>`")
    elif not _REGION.match(region):
        problems.append(f"aws:region = {region!r}: not an AWS region name such as 'eu-west-1'")
    config: StackConfig | None = None
    try:
        config = StackConfig.model_validate(dict(raw))
    except ValidationError as error:
        problems.extend(_describe(detail) for detail in error.errors())
    if problems or config is None or region is None:
        raise SettingsError(_summary(stack, problems))
    return Settings(project=project, stack=stack, region=region, config=config)


def _read_namespace(namespace: str) -> dict[str, object]:
    # pulumi.Config cannot list keys, so the key names come from the runtime's config map; the
    # values are still read through pulumi.Config.
    prefix = f"{namespace}:"
    keys = {*runtime_config.CONFIG.get(), *runtime_config.get_config_env()}
    config = pulumi.Config(namespace)
    names = [key.removeprefix(prefix) for key in keys if key.startswith(prefix)]
    return decode_values({name: config.get(name) for name in names})


def decode_values(values: Mapping[str, str | None]) -> dict[str, object]:
    """Config values arrive as strings; objects and lists among them as JSON."""
    return {
        key: json.loads(text) if text and text[0] in "[{" else text
        for key, text in sorted(values.items())
    }


def _summary(stack: str, problems: list[str]) -> str:
    lines = "\n".join(f"  - {problem}" for problem in problems)
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return f"stack {stack!r}: invalid configuration ({count}):\n{lines}"


def _describe(detail: ErrorDetails) -> str:
    loc = detail["loc"]
    key = _key(loc)
    if detail["type"] == "extra_forbidden":
        return f"{key}: unknown key{_suggestion(loc)}"
    message = detail["msg"].removeprefix("Value error, ")
    value = detail.get("input")
    if detail["type"] == "missing" or isinstance(value, dict):
        return f"{key}: {message}"
    return f"{key} = {value!r}: {message}"


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
