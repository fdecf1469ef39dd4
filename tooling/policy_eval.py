"""Run the policy pack offline exactly as `pulumi preview` / `pulumi up` run it.

The engine never calls a rule directly: it starts the pack's analyzer server and sends it gRPC
requests. This module builds those same requests and hands them to pulumi_policy's own analyzer
servicer, so every rule receives what it receives under the engine:

- `ConfigureAnalyzer` first, with every policy's enforcement level and its properties (schema
  defaults under the stack's policy config file, as the CLI fills them in), as a protobuf `Struct`:
  numbers arrive as floats.
- `Analyze` per resource, with its *inputs* after the provider's Check (auto-names, `tagsAll`;
  see tooling/provider_check.py) as a `Struct`: lists and maps reach rules as read-only proxies,
  numbers as floats, and values unknown during a preview as the engine's unknown sentinel, which
  raise when read (the servicer turns that into an advisory "can't run during preview").
- `AnalyzeStack` once, with every resource's *outputs* (in a preview, a new resource's computed
  outputs are unknown), parent, dependencies and property dependencies.

A rule that raises anything else makes the real preview fail; here it raises too.
Sources: pulumi `pkg/resource/plugin/analyzer_plugin.go` (MarshalProperties with KeepUnknowns and
KeepSecrets, no resource references), pulumi `pkg/resource/deploy/step_generator.go` (Analyze gets
checked inputs, AnalyzeStack the final outputs), pulumi_policy `policy.py`
(`_PolicyAnalyzerServicer`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi.runtime.rpc import _special_resource_sig, _special_sig_key
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ResourceValidationPolicy,
    StackValidationPolicy,
)
from pulumi_policy.policy import _PolicyAnalyzerServicer

from policy.rules import POLICIES
from policy.rules.core import APPLIES_TO
from tooling.offline import OfflineRun, Resource, collections_deferred

POLICY_DIR = Path(__file__).resolve().parent.parent / "policy"
PACK = "platform-guard"
LEVEL_ORDER = {"mandatory": 0, "advisory": 1}
_LEVELS = {
    "advisory": proto.ADVISORY,
    "mandatory": proto.MANDATORY,
    "disabled": proto.DISABLED,
    "remediate": proto.REMEDIATE,
}
_LEVEL_NAMES = {value: name for name, value in _LEVELS.items()}
_PREVIEW_SKIP = "during preview: "


@dataclass(frozen=True)
class Verdict:
    """One diagnostic: which rule, at which level, on which resource, and why. `deferred` marks
    the advisory the engine prints when a rule reads a value unknown until the update."""

    policy: str
    level: str
    resource: str
    message: str
    deferred: bool = False


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


class PolicyConfigError(ValueError):
    """A policy config value its rule's schema refuses: the CLI validates the merged config
    against each schema before it starts the pack (pulumi pkg/resource/analyzer/config.go)."""


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def _type_problems(where: str, value: Any, spec: Mapping[str, Any]) -> list[str]:
    expected = spec.get("type")
    if not isinstance(expected, str) or expected not in _JSON_TYPES:
        return []
    wrong_bool = isinstance(value, bool) and expected in ("integer", "number")
    if wrong_bool or not isinstance(value, _JSON_TYPES[expected]):
        return [f"{where}: {value!r} is not of type {expected}"]
    items = spec.get("items")
    if not (isinstance(value, list) and isinstance(items, Mapping)):
        return []
    return [p for i, v in enumerate(value) for p in _type_problems(f"{where}[{i}]", v, items)]


def validate_policy_config(config: Mapping[str, Any], policies: Sequence[Policy]) -> None:
    """Raise PolicyConfigError naming every value of `config` its rule's schema refuses."""
    problems: list[str] = []
    for policy in policies:
        schema = policy.config_schema
        properties: Mapping[str, Mapping[str, Any]] = schema.properties if schema else {}
        for key, value in rule_config(policy.name, config).items():
            if key in properties:
                problems += _type_problems(f"{policy.name}.{key}", value, properties[key])
    if problems:
        raise PolicyConfigError("invalid policy config: " + "; ".join(problems))


def _schema_defaults(policy: Policy) -> dict[str, Any]:
    schema = policy.config_schema
    properties: Mapping[str, Mapping[str, Any]] = schema.properties if schema else {}
    return {key: spec["default"] for key, spec in properties.items() if "default" in spec}


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


class Analyzer:
    """The pack's analyzer servicer, configured from a stack's policy config file."""

    def __init__(self, config: Mapping[str, Any], policies: Sequence[Policy] = POLICIES):
        validate_policy_config(config, policies)
        self._config = config
        self._policies = {policy.name: policy for policy in policies}
        self._servicer = self._configured(list(policies))
        self._by_type: dict[str, _PolicyAnalyzerServicer | None] = {}

    def _configured(self, policies: list[Policy]) -> _PolicyAnalyzerServicer:
        servicer = _PolicyAnalyzerServicer(PACK, "0.0.1", policies, EnforcementLevel.MANDATORY)
        request = proto.ConfigureAnalyzerRequest()
        for policy in policies:
            entry = request.policyConfig[policy.name]
            entry.enforcementLevel = _LEVELS[level_of(policy.name, self._config)]
            entry.properties.CopyFrom(
                _struct({**_schema_defaults(policy), **rule_config(policy.name, self._config)})
            )
        servicer.Configure(request, None)
        return servicer

    def _for_type(self, type_: str) -> _PolicyAnalyzerServicer | None:
        """A servicer with the resource policies that can report on `type_`: a factory-made rule
        returns without reading anything for other types (policy/rules/core.py APPLIES_TO), so
        leaving it out gives the same diagnostics, several times faster. Policies of unknown
        scope are always kept. None when no resource policy can report on the type."""
        if type_ not in self._by_type:
            kept: list[Policy] = [
                policy
                for policy in self._policies.values()
                if isinstance(policy, ResourceValidationPolicy)
                and APPLIES_TO.get(policy.name, lambda _: True)(type_)
            ]
            self._by_type[type_] = self._configured(kept) if kept else None
        return self._by_type[type_]

    def resource(
        self,
        type_: str,
        props: Mapping[str, Any],
        *,
        urn: str = "",
        name: str = "res",
        protect: bool = False,
        parent: str = "",
        provider: proto.AnalyzerProviderResource | None = None,
    ) -> list[Verdict]:
        """The diagnostics of every resource policy for one resource's checked inputs."""
        request = proto.AnalyzeRequest(
            provider=provider,
            type=type_,
            urn=urn or f"urn:pulumi:stack::project::{type_}::{name}",
            name=name,
            properties=_struct(props),
            options=proto.AnalyzerResourceOptions(protect=protect, parent=parent),
        )
        servicer = self._for_type(type_)
        if servicer is None:
            return []
        return self._verdicts(servicer.Analyze(request, None), request.urn)

    def stack(self, resources: Iterable[proto.AnalyzerResource]) -> list[Verdict]:
        """The diagnostics of every stack policy for the whole stack's outputs."""
        request = proto.AnalyzeStackRequest(resources=list(resources))
        return self._verdicts(self._servicer.AnalyzeStack(request, None), "")

    def _verdicts(self, response: proto.AnalyzeResponse, urn: str) -> list[Verdict]:
        verdicts: list[Verdict] = []
        for diagnostic in response.diagnostics:
            policy = self._policies[diagnostic.policyName]
            deferred = _PREVIEW_SKIP in diagnostic.message and not diagnostic.urn
            message = str(diagnostic.message).removeprefix(policy.description).lstrip("\n")
            verdicts.append(
                Verdict(
                    policy=policy.name,
                    level=_LEVEL_NAMES[diagnostic.enforcementLevel],
                    resource=diagnostic.urn or urn,
                    message=message,
                    deferred=deferred,
                )
            )
        return verdicts


# --- from an offline run to the engine's requests -------------------------------------------------


def engine_value(value: Any, ids: Mapping[str, str]) -> Any:
    """A recorded wire value as the engine marshals it for analyzers: resource references become
    the resource's id (custom) or URN (component); secrets and unknowns stay as they are."""
    if isinstance(value, Mapping):
        if value.get(_special_sig_key) == _special_resource_sig:
            urn = str(value.get("urn", ""))
            return str(value.get("id") or ids.get(urn) or urn)
        return {str(k): engine_value(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [engine_value(v, ids) for v in value]
    return value


def _provider(
    resource: Resource, by_urn: Mapping[str, Resource]
) -> proto.AnalyzerProviderResource | None:
    """The provider the engine sends beside a resource: its type, name, URN and inputs."""
    provider = by_urn.get((resource.provider or "").rsplit("::", 1)[0])
    if provider is None:
        return None
    return proto.AnalyzerProviderResource(
        type=provider.type,
        urn=provider.urn,
        name=provider.name,
        properties=_struct(provider.checked_inputs),
    )


def analyzer_resource(
    type_: str,
    urn: str,
    name: str,
    outputs: Mapping[str, Any],
    *,
    parent: str = "",
    protect: bool = False,
    dependencies: Sequence[str] = (),
    property_dependencies: Mapping[str, Sequence[str]] | None = None,
) -> proto.AnalyzerResource:
    """One resource of an `AnalyzeStack` request, as the engine builds it."""
    analyzed = proto.AnalyzerResource(
        type=type_,
        urn=urn,
        name=name,
        properties=_struct(outputs),
        options=proto.AnalyzerResourceOptions(protect=protect, parent=parent),
        parent=parent,
        dependencies=list(dependencies),
    )
    for key, urns in (property_dependencies or {}).items():
        analyzed.propertyDependencies[key].urns.extend(urns)
    return analyzed


def _stack_resource(resource: Resource, ids: Mapping[str, str]) -> proto.AnalyzerResource:
    return analyzer_resource(
        resource.type,
        resource.urn,
        resource.name,
        engine_value(resource.outputs, ids),
        parent=resource.parent or "",
        protect=resource.protect,
        dependencies=resource.dependencies,
        property_dependencies=resource.property_dependencies,
    )


def _analyzed_inputs(resource: Resource, ids: Mapping[str, str]) -> dict[str, Any]:
    """What `Analyze` receives for a resource. The program's registration of a remote component
    (awsx, pulumi-eks) never reaches the analyzers: the engine analyzes the registration the
    component's provider makes inside `construct` (pulumi pkg/resource/deploy/source_eval.go:
    "Remote components don't go through the step generator"), and the Node.js SDK those
    providers ship (pulumi-eks locks @pulumi/pulumi 3.173; components send their inputs only
    since 3.203) registers a component with no properties. Its children are analyzed instead
    (tooling/offline.py `_REMOTE_CHILDREN`)."""
    if resource.remote:
        return {}
    return engine_value(resource.checked_inputs, ids)


def evaluate(
    run: OfflineRun, config: Mapping[str, Any], policies: Sequence[Policy] = POLICIES
) -> list[Verdict]:
    """Every diagnostic of every enabled rule for the run, as the engine would report them
    (preview or update, as the run was made), mandatory ones first."""
    with collections_deferred():
        verdicts = _evaluated(run, Analyzer(config, policies), policies)
    return sorted(verdicts, key=lambda v: (LEVEL_ORDER.get(v.level, 2), v.policy, v.resource))


def _evaluated(run: OfflineRun, analyzer: Analyzer, policies: Sequence[Policy]) -> list[Verdict]:
    """The diagnostics of every registration (Analyze), then of the whole stack (AnalyzeStack)."""
    ids = {r.urn: r.id for r in run.resources}
    verdicts: list[Verdict] = []
    by_urn = {r.urn: r for r in run.resources}
    # Every registration is analyzed, providers and components included.
    for resource in run.resources:
        verdicts += analyzer.resource(
            resource.type,
            _analyzed_inputs(resource, ids),
            urn=resource.urn,
            name=resource.name,
            protect=resource.protect,
            parent=resource.parent or "",
            provider=_provider(resource, by_urn),
        )
    if any(isinstance(p, StackValidationPolicy) for p in policies):
        # Reads (stack references) are analyzed with the stack only: the engine's read steps
        # never call Analyze, but what they read joins the stack's resources
        # (pulumi pkg/resource/deploy/step_generator.go GenerateReadSteps, AnalyzeResources).
        stack = [*run.resources, *run.reads]
        verdicts += analyzer.stack(_stack_resource(r, ids) for r in stack)
    return verdicts
