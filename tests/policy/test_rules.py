"""Every rule passes its happy-path resource and fails each one-property change, with its message."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi.runtime.rpc import UNKNOWN
from pulumi_policy import (
    ResourceValidationPolicy,
)

from policy.rules import POLICIES
from policy.rules.core import APPLIES_TO
from tests.policy.cases import CASES, Case
from tooling.policy_eval import Analyzer, analyzer_resource, level_of, stack_policy_config

BY_NAME = {policy.name: policy for policy in POLICIES}


def only(rule: str, config: dict[str, Any] | None = None) -> Analyzer:
    """The pack's analyzer with just `rule` on (mandatory), configured as the engine would."""
    return Analyzer({"all": "disabled", rule: {"enforcementLevel": "mandatory", **(config or {})}})


def violations(
    rule: str,
    type_: str,
    props: dict[str, Any],
    config: dict[str, Any] | None = None,
    protect: bool = False,
) -> list[str]:
    """What the engine would report for one resource, through pulumi_policy's analyzer."""
    found = only(rule, config).resource(type_, props, protect=protect)
    return [v.message for v in found]


def test_the_pack_has_at_least_35_rules_with_unique_kebab_case_names() -> None:
    names = [policy.name for policy in POLICIES]
    assert len(names) >= 35
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) for name in names)


def test_every_rule_is_described_and_says_how_to_fix() -> None:
    for policy in POLICIES:
        assert policy.description.endswith("."), policy.name
        assert policy.remediation_steps, policy.name
        assert policy.severity is not None, policy.name


def test_no_rule_remediates_and_no_config_asks_for_it() -> None:
    # A finding is fixed in the program: remediation paths nobody used were removed.
    assert [
        p.name for p in POLICIES if isinstance(p, ResourceValidationPolicy) and p.has_remediation()
    ] == []
    for stack in ("dev", "staging", "prod"):
        config = stack_policy_config(stack)
        assert "remediate" not in {level_of(name, config) for name in BY_NAME}, stack


def test_every_resource_rule_comes_from_the_factory() -> None:
    # One factory: its type table lets the evaluator leave out resources of other types, and
    # no rule needs an exception in the tests.
    resource_rules = {p.name for p in POLICIES if isinstance(p, ResourceValidationPolicy)}
    assert resource_rules <= set(APPLIES_TO)


def test_every_resource_rule_has_a_case() -> None:
    covered = {case.rule for case in CASES}
    resource_rules = {p.name for p in POLICIES if isinstance(p, ResourceValidationPolicy)}
    assert resource_rules - covered == set()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.rule}:{c.type.rsplit(':', 1)[1]}")
def test_happy_path_passes(case: Case) -> None:
    assert violations(case.rule, case.type, case.good, case.config, case.protect) == []


@pytest.mark.parametrize(
    "case, bad, expected",
    [(case, bad, expected) for case in CASES for bad, expected in case.bad],
    ids=lambda value: value.rule if isinstance(value, Case) else "",
)
def test_each_violation_fails_with_its_message(
    case: Case, bad: dict[str, Any], expected: str
) -> None:
    found = violations(case.rule, case.type, bad, case.config, case.protect)
    assert found, f"{case.rule} accepted {bad}"
    assert any(expected in message for message in found), found
    assert all(message.startswith(f"{case.type} 'res' ") for message in found)


def unknown_at(props: dict[str, Any], key: str) -> dict[str, Any]:
    """`props` with one value unknown, as a first preview sends a value computed from another
    resource's outputs."""
    return {**props, key: UNKNOWN}


@pytest.mark.parametrize(
    "case, key",
    [(case, key) for case in CASES for key in case.good],
    ids=lambda value: value.rule if isinstance(value, Case) else str(value),
)
def test_an_unknown_value_defers_the_rule_and_never_breaks_it(case: Case, key: str) -> None:
    # Under the engine, reading an unknown raises inside the proxy and the servicer reports an
    # advisory "can't run during preview"; any other exception would fail the real preview.
    found = only(case.rule, case.config).resource(
        case.type, unknown_at(case.good, key), protect=case.protect
    )
    assert [v for v in found if not v.deferred] == []
    assert all(v.level == "advisory" for v in found)


def test_numbers_reach_rules_as_floats_and_print_as_integers() -> None:
    bad = {
        "ingress": [
            {"fromPort": 0, "toPort": 65535, "protocol": "tcp", "cidrBlocks": ["0.0.0.0/0"]}
        ]
    }
    found = violations("no-open-ingress", "aws:ec2/securityGroup:SecurityGroup", bad)
    assert found and "ports 0-65535" in found[0]


@pytest.mark.parametrize(
    "rule",
    ["eks-endpoint-restricted", "eks-secrets-encryption", "eks-control-plane-logging",
     "eks-supported-version", "eks-standard-support"],
)  # fmt: skip
def test_eks_rules_leave_the_component_to_the_cluster_it_creates(rule: str) -> None:
    # Under the engine a pulumi_eks component arrives with no properties at all.
    assert violations(rule, "eks:index:Cluster", {}) == []


def test_rules_ignore_other_resource_types() -> None:
    assert (
        violations("kms-key-rotation", "aws:s3/bucket:Bucket", {"enableKeyRotation": False}) == []
    )


def test_database_protection_reads_the_protect_option() -> None:
    cluster = {"deletionProtection": True, "skipFinalSnapshot": False}
    assert (
        violations("rds-deletion-protection", "aws:rds/cluster:Cluster", cluster, protect=True)
        == []
    )
    found = violations("rds-deletion-protection", "aws:rds/cluster:Cluster", cluster, protect=False)
    assert found == [
        "aws:rds/cluster:Cluster 'res' is not protected by Pulumi (protect=True). Turn on "
        "deletionProtection, protect=True and a final snapshot (lower this rule to advisory where "
        "the stack is destroyable)."
    ]
    unprotected = violations(
        "rds-deletion-protection",
        "aws:rds/cluster:Cluster",
        {"skipFinalSnapshot": True},
        protect=True,
    )
    assert len(unprotected) == 2


def test_thresholds_come_from_config() -> None:
    cluster = {"backupRetentionPeriod": 7, "storageEncrypted": True}
    assert (
        violations("rds-backup-retention", "aws:rds/cluster:Cluster", cluster, {"minDays": 7}) == []
    )
    assert violations(
        "rds-backup-retention", "aws:rds/cluster:Cluster", cluster, {"minDays": 30}
    ) == [
        "aws:rds/cluster:Cluster 'res' keeps backups 7 days, fewer than 30. Raise backupRetentionPeriod (1 to 35 days)."
    ]


# --- stack rules ----------------------------------------------------------------------------------


def resource(
    type_: str,
    name: str,
    props: dict[str, Any] | None = None,
    depends: list[proto.AnalyzerResource] | None = None,
) -> proto.AnalyzerResource:
    return analyzer_resource(
        type_, f"urn:{name}", name, props or {}, dependencies=[d.urn for d in depends or []]
    )


def stack_violations(
    rule: str, resources: list[proto.AnalyzerResource], config: dict[str, Any] | None = None
) -> list[str]:
    return [v.message for v in only(rule, config).stack(resources)]


BUCKET = "aws:s3/bucket:Bucket"


@pytest.mark.parametrize(
    "rule, companion",
    [
        (
            "s3-bucket-has-public-access-block",
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        ),
        (
            "s3-bucket-encrypted",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        ),
    ],
)
def test_bucket_companions(rule: str, companion: str) -> None:
    bucket = resource(BUCKET, "data")
    assert stack_violations(rule, [bucket, bucket_companion(companion, "c", bucket)]) == []
    other = resource(BUCKET, "other")
    found = stack_violations(rule, [bucket, other, bucket_companion(companion, "c", other)])
    assert len(found) == 1 and found[0].startswith("bucket data has no ")


def test_versioning_exempts_log_buckets() -> None:
    data, logs = resource(BUCKET, "data"), resource(BUCKET, "alb-logs")
    versioning = analyzer_resource(
        VERSIONING, "urn:v", "v", ENABLED, property_dependencies={"bucket": [data.urn]}
    )
    assert stack_violations("s3-versioning", [data, logs, versioning]) == []
    suspended = analyzer_resource(
        VERSIONING,
        "urn:v",
        "v",
        {"versioningConfiguration": {"status": "Suspended"}},
        property_dependencies={"bucket": [data.urn]},
    )
    assert stack_violations("s3-versioning", [data, logs, suspended])[0].startswith(
        "bucket data is not versioned"
    )


def test_a_flow_log_on_the_component_covers_the_vpc_inside_it() -> None:
    # awsx creates the aws.ec2.Vpc in its own provider: the program's flow log depends on the
    # component, never on the VPC, which the engine still hands the stack rule.
    component = resource("awsx:ec2:Vpc", "net")
    vpc = analyzer_resource("aws:ec2/vpc:Vpc", "urn:net-vpc", "net", {}, parent=component.urn)
    log = resource("aws:ec2/flowLog:FlowLog", "f", depends=[component])
    assert stack_violations("vpc-flow-logs", [component, vpc, log]) == []
    assert stack_violations("vpc-flow-logs", [component, vpc]) == [
        "VPC net has no flow log. Add an aws.ec2.FlowLog (traffic type ALL) for the VPC.",
        "VPC net has no flow log. Add an aws.ec2.FlowLog (traffic type ALL) for the VPC.",
    ]


@pytest.mark.parametrize("vpc_type", ["aws:ec2/vpc:Vpc", "awsx:ec2:Vpc"])
def test_every_vpc_needs_a_flow_log(vpc_type: str) -> None:
    vpc = resource(vpc_type, "main")
    assert (
        stack_violations(
            "vpc-flow-logs", [vpc, resource("aws:ec2/flowLog:FlowLog", "f", depends=[vpc])]
        )
        == []
    )
    assert stack_violations("vpc-flow-logs", [vpc])[0].startswith("VPC main has no flow log")


@pytest.mark.parametrize(
    "watched",
    [
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:rds/cluster:Cluster",
        "aws:sfn/stateMachine:StateMachine",
        "aws:cloudfront/distribution:Distribution",
        "eks:index:Cluster",
    ],
)
def test_alarm_coverage(watched: str) -> None:
    target = resource(watched, "t")
    alarm = resource("aws:cloudwatch/metricAlarm:MetricAlarm", "a", depends=[target])
    assert stack_violations("alarm-coverage", [target, alarm]) == []
    assert stack_violations("alarm-coverage", [target])[0].startswith(f"{watched} t has no alarm")


# --- issue 18: stack rules ------------------------------------------------------------------------


def bucket_companion(type_: str, name: str, bucket: Any, *waits_on: Any) -> Any:
    """A companion whose `bucket` input is `bucket`'s id and that also waits on `waits_on`."""
    return analyzer_resource(
        type_,
        f"urn:{name}",
        name,
        {},
        dependencies=[bucket.urn, *(w.urn for w in waits_on)],
        property_dependencies={"bucket": [bucket.urn]},
    )


@pytest.mark.parametrize(
    "rule, companion",
    [
        ("s3-bucket-has-public-access-block", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"),
        ("s3-bucket-encrypted", "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"),
    ],
)  # fmt: skip
def test_a_companion_counts_only_for_the_bucket_of_its_bucket_input(
    rule: str, companion: str
) -> None:
    a, b = resource(BUCKET, "a"), resource(BUCKET, "b")
    # The companion of b merely waits on a (depends_on): a still has none.
    found = stack_violations(rule, [a, b, bucket_companion(companion, "c", b, a)])
    assert len(found) == 1 and found[0].startswith("bucket a has no "), found


VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENABLED = {"versioningConfiguration": {"status": "Enabled"}}


def test_versioning_exempts_only_the_configured_name_suffixes() -> None:
    catalogs = resource(BUCKET, "product-catalogs")
    found = stack_violations("s3-versioning", [catalogs])
    assert found and found[0].startswith("bucket product-catalogs is not versioned"), found
    assert stack_violations("s3-versioning", [resource(BUCKET, "svc-alb-logs")]) == []
    assert stack_violations("s3-versioning", [resource(BUCKET, "site-logs")]) == []
    configured = {"exemptNameSuffixes": ["-archive"]}
    assert stack_violations("s3-versioning", [resource(BUCKET, "x-archive")], configured) == []


def test_versioning_matches_the_bucket_input_and_ignores_the_computed_output() -> None:
    # At a first preview the bucket's `versioning` output is unknown: a BucketVersioning decides.
    data = resource(BUCKET, "data", {"versioning": UNKNOWN})
    other = resource(BUCKET, "other", {"versioning": UNKNOWN})
    enabled = analyzer_resource(
        VERSIONING, "urn:v", "v", ENABLED,
        dependencies=[data.urn, other.urn], property_dependencies={"bucket": [data.urn]},
    )  # fmt: skip
    verdicts = only("s3-versioning").stack([data, other, enabled])
    assert [v.message for v in verdicts if not v.deferred] == [
        "bucket other is not versioned. Add an aws.s3.BucketVersioning with status Enabled, "
        "or name the bucket as a log bucket."
    ]


@pytest.mark.parametrize(
    "watched",
    ["aws:alb/loadBalancer:LoadBalancer", "aws:rds/instance:Instance", "aws:eks/cluster:Cluster"],
)
def test_alarm_coverage_of_every_alias_and_kind(watched: str) -> None:
    target = resource(watched, "t")
    alarm = resource("aws:cloudwatch/metricAlarm:MetricAlarm", "a", depends=[target])
    assert stack_violations("alarm-coverage", [target, alarm]) == []
    assert stack_violations("alarm-coverage", [target])[0].startswith(f"{watched} t has no alarm")


def test_an_alarm_on_the_eks_component_covers_the_cluster_inside_it() -> None:
    component = resource("eks:index:Cluster", "k8s")
    cluster = analyzer_resource(
        "aws:eks/cluster:Cluster", "urn:k8s-eksCluster", "k8s", {}, parent=component.urn
    )
    alarm = resource("aws:cloudwatch/metricAlarm:MetricAlarm", "a", depends=[component])
    assert stack_violations("alarm-coverage", [component, cluster, alarm]) == []
