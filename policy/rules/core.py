"""What every rule shares: how it reads props and config, and how it words a violation."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    PolicyResource,
    ResourceRemediation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

Props = Mapping[str, Any]
Config = Mapping[str, Any]
ResourceCheck = Callable[[Props, Config], Iterable[str]]
StackCheck = Callable[[StackValidationArgs, Config], Iterable[tuple[str, str | None]]]
OPEN_CIDRS = ("0.0.0.0/0", "::/0")


def defaults(schema: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    return {key: spec["default"] for key, spec in (schema or {}).items() if "default" in spec}


def effective_config(
    schema: Mapping[str, Mapping[str, Any]] | None, given: Config
) -> dict[str, Any]:
    """Schema defaults under whatever the policy config file sets (the CLI fills them in too)."""
    return {**defaults(schema), **{k: v for k, v in given.items() if k != "enforcementLevel"}}


def _schema(schema: Mapping[str, Mapping[str, Any]] | None) -> PolicyConfigSchema | None:
    return (
        PolicyConfigSchema(properties={k: dict(v) for k, v in schema.items()}) if schema else None
    )


def resource_rule(
    name: str,
    description: str,
    *,
    types: Sequence[str] | Callable[[str], bool],
    check: ResourceCheck,
    fix: str,
    severity: Severity = Severity.HIGH,
    schema: Mapping[str, Mapping[str, Any]] | None = None,
    remediate: ResourceRemediation | None = None,
) -> ResourceValidationPolicy:
    """A rule over single resources of `types` (a list, or a test of the type token): `check`
    yields what is wrong, `fix` says how to fix it; both end up in one violation message."""
    applies = types if callable(types) else types.__contains__

    def validate(args: ResourceValidationArgs, report: Callable[..., None]) -> None:
        if not applies(args.resource_type):
            return
        config = effective_config(schema, args.get_config())
        for problem in check(args.props, config):
            report(f"{args.resource_type} '{args.name}' {problem}. {fix}")

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        config_schema=_schema(schema),
        severity=severity,
        remediation_steps=fix,
        remediate=remediate,
    )


def stack_rule(
    name: str,
    description: str,
    *,
    check: StackCheck,
    fix: str,
    severity: Severity = Severity.HIGH,
    schema: Mapping[str, Mapping[str, Any]] | None = None,
) -> StackValidationPolicy:
    """A rule over the whole stack: `check` yields (problem, urn) pairs."""

    def validate(args: StackValidationArgs, report: Callable[..., None]) -> None:
        config = effective_config(schema, args.get_config())
        for problem, urn in check(args, config):
            report(f"{problem}. {fix}", urn)

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        config_schema=_schema(schema),
        severity=severity,
        remediation_steps=fix,
    )


def document(value: Any) -> dict[str, Any]:
    """A JSON policy document given as text or as data; {} when absent."""
    if not value:
        return {}
    return json.loads(value) if isinstance(value, str) else dict(value)


def listed(value: Any) -> list[Any]:
    """IAM fields hold one value or a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def statements(value: Any) -> list[dict[str, Any]]:
    return [dict(s) for s in listed(document(value).get("Statement"))]


def containers(value: Any) -> list[dict[str, Any]]:
    """ECS container definitions given as JSON text or data."""
    if not value:
        return []
    parsed = json.loads(value) if isinstance(value, str) else value
    return [dict(c) for c in parsed]


def depends_on(resource: PolicyResource, target: PolicyResource) -> bool:
    """Whether `resource` takes an input from `target` (directly)."""
    linked = [
        *resource.dependencies,
        *(d for ds in resource.property_dependencies.values() for d in ds),
    ]
    return any(d.urn == target.urn for d in linked)
