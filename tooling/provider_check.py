"""What pulumi-aws's Check adds to a resource's inputs before the engine analyzes or creates it.

Two things the program never sends but every policy and every AWS call sees:

- **Auto-names.** A resource given no physical name gets `<logical name>-<7 random hex chars>`
  (pulumi-terraform-bridge `tfbridge.AutoName` -> `resource.NewUniqueHex(prefix, 7, max)`), and
  the provider *refuses at preview* when that is longer than the type's maximum. pulumi-aws v7
  auto-names every resource with an input `name` property, up to 255 characters
  (provider/autonaming.go `setAutonaming`), except where provider/resources.go declares another
  property or a lower maximum: `AUTONAME_OVERRIDES` below, each with its source.
- **`tagsAll`**: the provider's `default_tags` merged under the resource's own `tags`, on every
  resource with both `tags` and `tags_all` (provider/tags.go `applyTags`, a PreCheckCallback;
  provider/autonaming.go `hasNonComputedTagsAndTagsAll`).

The same rules give the physical names the harness checks against AWS's limits
(`name_problems`), so a name AWS or the provider would refuse fails a test, not a deploy.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import keyword
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import pulumi._types as pulumi_types
from pulumi.runtime.rpc import UNKNOWN

RANDOM_CHARS = 7
DEFAULT_MAX = 255


@dataclass(frozen=True)
class AutoName:
    """Which input property the provider fills, and the longest value it accepts."""

    prop: str
    max_length: int
    lowercase: bool = False


# Where pulumi-aws v7 differs from AutoName("name", 255): provider/resource_overrides.go
# (`resourceOverrides`), provider/aliases.go (the target group) and provider/compatibility.go (the
# bucket), each an explicit `tfbridge.AutoName*` field. Types without an input `name` and no entry
# here (RDS clusters and instances, task definitions, EKS add-ons, composite alarms, dashboards)
# are not auto-named.
AUTONAME_OVERRIDES: dict[str, AutoName] = {
    "aws:lb/targetGroup:TargetGroup": AutoName("name", 32),
    "aws:iam/role:Role": AutoName("name", 64),
    "aws:cloudwatch/eventRule:EventRule": AutoName("name", 64),
    "aws:lambda/function:Function": AutoName("name", 64),
    "aws:sqs/queue:Queue": AutoName("name", 80),
    "aws:sns/topic:Topic": AutoName("name", 80),
    "aws:s3/bucket:Bucket": AutoName("bucket", 63, lowercase=True),
    "aws:kms/alias:Alias": AutoName("name", 238),
    "aws:mq/broker:Broker": AutoName("brokerName", 55),
    "aws:elasticache/replicationGroup:ReplicationGroup": AutoName(
        "replicationGroupId", 40, lowercase=True
    ),
    "aws:eks/nodeGroup:NodeGroup": AutoName("nodeGroupName", 255),
    "aws:cloudwatch/eventTarget:EventTarget": AutoName("targetId", 255),
}

# The real limit of a physical name where it is stricter than the provider's auto-name check:
# the upstream provider's validation, which runs at Check (hashicorp/terraform-provider-aws
# internal/service/<service>/...), or the AWS API where nothing upstream checks. An explicit or
# auto-generated name over it fails at preview (validation) or at create (API).
NAME_LIMITS: dict[str, tuple[str, int]] = {
    "aws:lb/targetGroup:TargetGroup": ("name", 32),  # elbv2/validate.go validTargetGroupName
    "aws:iam/role:Role": ("name", 64),  # iam/role.go roleNameMaxLen
    "aws:cloudwatch/eventRule:EventRule": ("name", 64),  # events/validate.go validateRuleName
    "aws:cloudwatch/eventTarget:EventTarget": ("targetId", 64),  # events validateTargetID
    "aws:s3/bucket:Bucket": ("bucket", 63),  # s3/bucket.go
    "aws:sqs/queue:Queue": ("name", 80),  # sqs/queue.go, .fifo included
    "aws:lb/loadBalancer:LoadBalancer": ("name", 32),  # elbv2/validate.go validName
    "aws:iam/policy:Policy": ("name", 128),  # iam/policy.go policyNameMaxLen
    "aws:iam/rolePolicy:RolePolicy": ("name", 128),  # iam/role_policy.go
    "aws:iam/instanceProfile:InstanceProfile": ("name", 128),  # iam/instance_profile.go
    "aws:ec2/launchTemplate:LaunchTemplate": ("name", 125),  # verify ValidLaunchTemplateName
    "aws:batch/computeEnvironment:ComputeEnvironment": ("name", 128),  # batch/validate.go
    "aws:batch/jobQueue:JobQueue": ("name", 128),
    "aws:batch/jobDefinition:JobDefinition": ("name", 128),
    "aws:sfn/stateMachine:StateMachine": ("name", 80),  # sfn/state_machine.go
    "aws:eks/cluster:Cluster": ("name", 100),  # eks/validate.go validClusterName
    "aws:eks/nodeGroup:NodeGroup": ("nodeGroupName", 63),  # eks/node_group.go
    "aws:wafv2/webAcl:WebAcl": ("name", 128),  # wafv2/web_acl.go
    "aws:scheduler/schedule:Schedule": ("name", 64),  # scheduler/schedule.go
    "aws:scheduler/scheduleGroup:ScheduleGroup": ("name", 64),
    "aws:cloudfront/function:Function": ("name", 64),  # AWS API FunctionSummary, no TF check
    "aws:cloudfront/originAccessControl:OriginAccessControl": ("name", 64),
    "aws:backup/vault:Vault": ("name", 50),  # backup/vault.go
    "aws:backup/selection:Selection": ("name", 50),  # backup/selection.go
    "aws:cloudtrail/trail:Trail": ("name", 128),  # cloudtrail/trail.go
    "aws:budgets/budget:Budget": ("name", 100),  # AWS Budgets API BudgetName, no TF check
    "aws:cfg/rule:Rule": ("name", 128),  # configservice/config_rule.go StringLenBetween
    "aws:cfg/recorder:Recorder": ("name", 256),  # PutConfigurationRecorder Name
    "aws:cfg/deliveryChannel:DeliveryChannel": ("name", 256),  # PutDeliveryChannel Name
    "aws:accessanalyzer/analyzer:Analyzer": ("analyzerName", 255),  # Access Analyzer CreateAnalyzer
    "aws:mq/broker:Broker": ("brokerName", 50),  # mq/broker.go ValidateBrokerName
    # elasticache/validate.go validateReplicationGroupID: 1-40 characters (stored lower case).
    "aws:elasticache/replicationGroup:ReplicationGroup": ("replicationGroupId", 40),
    "aws:ecs/taskDefinition:TaskDefinition": ("family", 255),
    "aws:rds/cluster:Cluster": ("clusterIdentifier", 63),  # RDS CreateDBCluster (Aurora)
    "aws:rds/clusterInstance:ClusterInstance": ("identifier", 63),  # RDS CreateDBInstance
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": ("alarmName", 255),
    "aws:cloudwatch/dashboard:Dashboard": ("dashboardName", 255),
}

# Names AWS (or the upstream validation) accepts only in lower case, while the generic auto-name
# keeps the logical name's case: rds/validate.go validSubnetGroupName, validParamGroupName; the
# ECR API's repository name pattern.
LOWERCASE_NAMES = frozenset(
    {
        "aws:rds/subnetGroup:SubnetGroup",
        "aws:rds/clusterParameterGroup:ClusterParameterGroup",
        "aws:rds/parameterGroup:ParameterGroup",
        "aws:ecr/repository:Repository",
    }
)


@cache
def _resource_class(token: str) -> type | None:
    package, module, name = token.split(":")
    if package != "aws":
        return None
    python_module = module.split("/")[0]
    # A module named like a Python keyword gets a trailing underscore (pulumi_aws.lambda_).
    python_module += "_" if keyword.iskeyword(python_module) else ""
    path = "pulumi_aws" if python_module == "index" else f"pulumi_aws.{python_module}"
    return getattr(importlib.import_module(path), name, None)


@cache
def input_names(token: str) -> frozenset[str]:
    """The input property names of an AWS type (camelCase), read from the SDK."""
    cls = _resource_class(token)
    if cls is None:
        return frozenset()
    args_class = getattr(importlib.import_module(cls.__module__), f"{token.rsplit(':', 1)[1]}Args")
    return frozenset(pulumi_types.input_type_py_to_pulumi_names(args_class).values())


@cache
def output_names(token: str) -> frozenset[str]:
    """The output property names of an AWS type (camelCase), read from the SDK."""
    cls = _resource_class(token)
    return frozenset(pulumi_types.resource_types(cls)) if cls is not None else frozenset()


def is_taggable(token: str) -> bool:
    """Whether pulumi-aws computes `tagsAll` for the type: it has both `tags` and `tagsAll`."""
    cls = _resource_class(token)
    if cls is None:
        return False
    return "tags" in inspect.signature(cls._internal_init).parameters and (
        "tagsAll" in output_names(token)
    )


def autoname_of(token: str) -> AutoName | None:
    if token in AUTONAME_OVERRIDES:
        return AUTONAME_OVERRIDES[token]
    return AutoName("name", DEFAULT_MAX) if "name" in input_names(token) else None


def random_suffix(urn: str) -> str:
    """Stands for the provider's 7 random hex characters; stable per resource for repeatable runs."""
    return hashlib.sha256(urn.encode()).hexdigest()[:RANDOM_CHARS]


def autoname_value(name: str, urn: str, rule: AutoName) -> str:
    value = f"{name}-{random_suffix(urn)}"
    return value.lower() if rule.lowercase else value


def checked(
    token: str,
    name: str,
    urn: str,
    inputs: Mapping[str, Any],
    default_tags: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The inputs as the provider's Check returns them: auto-name and `tagsAll` filled in."""
    result = dict(inputs)
    rule = autoname_of(token)
    if rule is not None and not result.get(rule.prop) and not result.get("namePrefix"):
        result[rule.prop] = autoname_value(name, urn, rule)
    if is_taggable(token):
        tags = result.get("tags") or {}
        # Any unknown tag makes tagsAll unknown (provider/tags.go mergeTags).
        known = isinstance(tags, Mapping) and UNKNOWN not in (tags, *tags.values())
        result["tagsAll"] = {**(default_tags or {}), **tags} if known else UNKNOWN
    return result


@dataclass(frozen=True)
class NameProblem:
    urn: str
    type: str
    prop: str
    value: str
    why: str

    def __str__(self) -> str:
        return f"{self.type} {self.prop} {self.value!r} {self.why} ({self.urn})"


def name_problems(
    token: str, urn: str, sent: Mapping[str, Any], checked_inputs: Mapping[str, Any]
) -> list[NameProblem]:
    """What the provider (auto-name over its maximum) or AWS (a name over the service's limit, or
    in a case it refuses) would reject in a resource's physical name."""
    problems: list[NameProblem] = []
    rule = autoname_of(token)
    if rule is not None and not sent.get(rule.prop) and not sent.get("namePrefix"):
        value = checked_inputs.get(rule.prop)
        if isinstance(value, str) and len(value) > rule.max_length:
            why = f"(auto-named) is {len(value)} characters; the provider refuses over {rule.max_length}"
            return [NameProblem(urn, token, rule.prop, value, why)]
    prop, limit = NAME_LIMITS.get(token, (rule.prop if rule else "name", 0))
    value = checked_inputs.get(prop)
    if not isinstance(value, str) or value == UNKNOWN:
        return problems
    if limit and len(value) > limit:
        why = f"is {len(value)} characters; AWS accepts at most {limit}"
        problems.append(NameProblem(urn, token, prop, value, why))
    if token in LOWERCASE_NAMES and value != value.lower():
        problems.append(NameProblem(urn, token, prop, value, "has upper case; AWS accepts lower"))
    return problems
