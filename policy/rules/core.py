"""What every rule shares: how it reads props and config, and how it words a violation.

Rules never see plain Python data under the engine: props and config come from a protobuf
`Struct`, so lists are read-only sequence proxies (not `list`), maps are mapping proxies (not
`dict`), every number is a float (`30` arrives as `30.0`), and a value unknown during a preview
raises `UnknownValueError` when it is read, which the engine turns into an advisory. Every rule
reads through the helpers here, which accept any `Sequence`/`Mapping`, print numbers as people
write them, and turn a malformed JSON document into a violation instead of an exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

Props = Mapping[str, Any]
Config = Mapping[str, Any]
ResourceCheck = Callable[[Props, Config], Iterable[str]]
# A check that needs more than props (the resource options, its logical name): the whole args.
ArgsCheck = Callable[[ResourceValidationArgs, Config], Iterable[str]]
StackCheck = Callable[[StackValidationArgs, Config], Iterable[tuple[str, str | None]]]
OPEN_CIDRS = ("0.0.0.0/0", "::/0")

# The one table of type tokens that have aliases: the provider registers every `aws.lb` resource
# also as `aws.alb` (pulumi-aws resources.go: the alb module's types alias the lb ones), and a
# program may use either; every rule names the kind here, never one spelling.
TYPES: Mapping[str, tuple[str, ...]] = {
    "load_balancer": ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer"),
    "listener": ("aws:lb/listener:Listener", "aws:alb/listener:Listener"),
    "listener_rule": ("aws:lb/listenerRule:ListenerRule", "aws:alb/listenerRule:ListenerRule"),
    "target_group": ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup"),
}

# Condition keys that pin a `Principal: *` statement to a known source; a condition on anything
# else (aws:SecureTransport, aws:UserAgent...) still admits the whole world. IAM global
# condition keys: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
SOURCE_KEYS = (
    "aws:sourcearn",
    "aws:sourceaccount",
    "aws:sourceowner",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
)


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


class MalformedDocumentError(ValueError):
    """A JSON document (policy, container definitions) that does not parse: a violation."""


# The resource types each factory-made rule applies to, by rule name. Its `validate` returns before
# reading anything for any other type, so an evaluator may leave those calls out.
APPLIES_TO: dict[str, Callable[[str], bool]] = {}


def resource_rule(
    name: str,
    description: str,
    *,
    types: Sequence[str] | Callable[[str], bool],
    check: ResourceCheck | None = None,
    check_args: ArgsCheck | None = None,
    fix: str,
    severity: Severity = Severity.HIGH,
    schema: Mapping[str, Mapping[str, Any]] | None = None,
) -> ResourceValidationPolicy:
    """A rule over single resources of `types` (a list, or a test of the type token): `check`
    yields what is wrong, `fix` says how to fix it; both end up in one violation message.
    A rule that needs the resource options or the logical name passes `check_args` instead,
    which receives the whole `ResourceValidationArgs`."""
    applies = types if callable(types) else types.__contains__
    if (check is None) == (check_args is None):
        raise ValueError(f"{name}: give exactly one of check and check_args")
    APPLIES_TO[name] = applies

    def validate(args: ResourceValidationArgs, report: Callable[..., None]) -> None:
        if not applies(args.resource_type):
            return
        config = effective_config(schema, args.get_config())
        try:
            if check is not None:
                problems = list(check(args.props, config))
            else:
                assert check_args is not None
                problems = list(check_args(args, config))
        except MalformedDocumentError as error:
            problems = [str(error)]
        for problem in problems:
            report(f"{args.resource_type} '{args.name}' {problem}. {fix}")

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        config_schema=_schema(schema),
        severity=severity,
        remediation_steps=fix,
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


def parsed(value: Any) -> Any:
    """A JSON document given as text (parsed) or as data (as it is); None when absent."""
    if not value:
        return None
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise MalformedDocumentError(
            f"has a policy document that is not valid JSON ({error})"
        ) from None


def document(value: Any) -> Mapping[str, Any]:
    """A JSON policy document given as text or as data; {} when absent."""
    found = parsed(value)
    if found is None:
        return {}
    if not isinstance(found, Mapping):
        raise MalformedDocumentError("has a policy document that is not a JSON object")
    return found


def listed(value: Any) -> list[Any]:
    """One value or a sequence of them (IAM fields hold either), as a list; [] when absent."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]


def mapping(value: Any) -> Mapping[str, Any]:
    """A map-valued prop, or {} when it is absent or not a map."""
    return value if isinstance(value, Mapping) else {}


def statements(value: Any) -> list[Mapping[str, Any]]:
    return [mapping(s) for s in listed(document(value).get("Statement"))]


def containers(value: Any) -> list[Mapping[str, Any]]:
    """ECS container definitions given as JSON text or data."""
    return [mapping(c) for c in listed(parsed(value))]


def given(props: Props, key: str) -> bool:
    """Whether the program set `key`, without reading its value (a secret, or unknown until
    another resource is created: reading that would defer the rule to the update)."""
    return key in set(props)


def number(value: Any) -> str:
    """A number as people write it: the engine's 30.0 prints as 30."""
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def depends_on(resource: PolicyResource, target: PolicyResource, prop: str | None = None) -> bool:
    """Whether `resource` takes an input from `target` (directly); with `prop`, whether its
    input `prop` does (a bucket companion's `bucket`), which `depends_on` ordering never fakes."""
    if prop is not None:
        linked = list(resource.property_dependencies.get(prop) or [])
    else:
        linked = [
            *resource.dependencies,
            *(d for ds in resource.property_dependencies.values() for d in ds),
        ]
    return any(d.urn == target.urn for d in linked)


def unattached(
    args: StackValidationArgs, owners: Collection[str], companions: Collection[str], prop: str
) -> Iterator[PolicyResource]:
    """The resources of types `owners` that no resource of types `companions` takes as its input
    `prop` (a bucket's encryption through `bucket`, a web ACL's logging through `resourceArn`):
    a companion that merely waits on one (`depends_on`) is not attached to it."""
    attached = [r for r in args.resources if r.resource_type in companions]
    for owner in args.resources:
        if owner.resource_type in owners and not any(
            depends_on(companion, owner, prop) for companion in attached
        ):
            yield owner


def pins_source(condition: object, keys: Collection[str] = SOURCE_KEYS) -> bool:
    """Whether a statement's Condition names its callers by one of `keys` with fixed values. An
    ...IfExists test (which absent keys pass) or a value of "*" pins nobody."""
    for operator, block in mapping(condition).items():
        if "ifexists" in str(operator).lower():
            continue
        for key, values in mapping(block).items():
            pinned = [str(value) for value in listed(values)]
            if str(key).lower() in keys and pinned and "*" not in pinned:
                return True
    return False


def everyone(statement: Mapping[str, Any], keys: Collection[str] = SOURCE_KEYS) -> bool:
    """Whether an Allow statement admits any principal at all: `Principal: *`, `{"AWS": "*"}`
    or a NotPrincipal (everyone but the few named), unless a condition pins the source by one
    of `keys`."""
    if statement.get("Effect") != "Allow" or pins_source(statement.get("Condition"), keys):
        return False
    if statement.get("NotPrincipal") is not None:
        return True
    principal = statement.get("Principal")
    return principal == "*" or "*" in listed(mapping(principal).get("AWS"))
