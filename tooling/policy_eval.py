"""Run the policy pack offline over an offline run of the program, as `pulumi preview` would.

Used by the tests and the offline plan; the pack itself (`policy/__main__.py`) never imports it.
Props are the resources' inputs plus `tagsAll` computed from their provider's default tags, as
the AWS provider computes it before the engine hands resources to the analyzer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.rules import POLICIES
from tooling.offline import OfflineRun, Resource

POLICY_DIR = Path(__file__).resolve().parent.parent / "policy"
LEVEL_ORDER = {"mandatory": 0, "advisory": 1}


@dataclass(frozen=True)
class Verdict:
    """One violation: which rule, at which enforcement level, on which resource, and why."""

    policy: str
    level: str
    resource: str
    message: str


def stack_policy_config(stack: str) -> dict[str, Any]:
    return json.loads((POLICY_DIR / f"config.{stack}.json").read_text())


def level_of(name: str, config: Mapping[str, Any]) -> str:
    entry = config.get(name, config.get("all", "mandatory"))
    if isinstance(entry, Mapping):
        return str(entry.get("enforcementLevel", config.get("all", "mandatory")))
    return str(entry)


def rule_config(name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    entry = config.get(name)
    return (
        {k: v for k, v in entry.items() if k != "enforcementLevel"}
        if isinstance(entry, Mapping)
        else {}
    )


def _analyzed(run: OfflineRun) -> list[Resource]:
    # The engine analyzes custom resources and remote components; local components carry no props.
    return [
        r
        for r in run.resources
        if (r.custom or r.remote) and not r.type.startswith("pulumi:providers:")
    ]


def _props(resource: Resource, default_tags: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    props = dict(resource.inputs)
    provider = (resource.provider or "").rsplit("::", 1)[0]
    if provider in default_tags and resource.type.startswith("aws:") and "tags" in props:
        props["tagsAll"] = {**default_tags[provider], **(props.get("tags") or {})}
    return props


def _default_tags(run: OfflineRun) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for provider in run.of_type("pulumi:providers:aws"):
        raw = provider.inputs.get("defaultTags")
        if raw:
            tags[provider.urn] = dict(
                (json.loads(raw) if isinstance(raw, str) else raw).get("tags", {})
            )
    return tags


def _options(resource: Resource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=list(resource.ignore_changes),
        delete_before_replace=resource.delete_before_replace,
        aliases=list(resource.aliases),
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent,
    )


def evaluate(
    run: OfflineRun, config: Mapping[str, Any], policies: Sequence[Policy] = POLICIES
) -> list[Verdict]:
    """Every violation of every enabled rule, mandatory ones first."""
    resources = _analyzed(run)
    tags = _default_tags(run)
    props = {r.urn: _props(r, tags) for r in resources}
    verdicts: list[Verdict] = []
    for policy in policies:
        level = level_of(policy.name, config)
        if level == "disabled":
            continue

        def report(
            message: str, urn: str | None = None, *, name: str = policy.name, lvl: str = level
        ) -> None:
            verdicts.append(Verdict(name, lvl, urn or "", message))

        settings = rule_config(policy.name, config)
        if isinstance(policy, ResourceValidationPolicy):
            for resource in resources:
                args = ResourceValidationArgs(
                    resource.type, props[resource.urn], resource.urn, resource.name,
                    _options(resource), None, settings,
                )  # fmt: skip
                policy.validate(
                    args, lambda message, urn=None, r=resource: report(message, urn or r.urn)
                )
        elif isinstance(policy, StackValidationPolicy):
            policy.validate(
                StackValidationArgs(_stack_resources(resources, props), settings), report
            )
    return sorted(verdicts, key=lambda v: (LEVEL_ORDER.get(v.level, 2), v.policy, v.resource))


def _stack_resources(
    resources: list[Resource], props: Mapping[str, dict[str, Any]]
) -> list[PolicyResource]:
    by_urn = {
        r.urn: PolicyResource(r.type, props[r.urn], r.urn, r.name, _options(r), None, None, [], {})
        for r in resources
    }
    for resource in resources:
        policy_resource = by_urn[resource.urn]
        policy_resource.dependencies.extend(by_urn[u] for u in resource.dependencies if u in by_urn)
        for key, urns in resource.property_dependencies.items():
            policy_resource.property_dependencies[key] = [by_urn[u] for u in urns if u in by_urn]
    return list(by_urn.values())
