"""The stack rules of the network, edge and data controls, through the engine's AnalyzeStack path:
each companion must take its property from the resource it covers, not merely wait on it."""

from __future__ import annotations

from typing import Any

from pulumi.runtime.proto import analyzer_pb2 as proto

from tests.policy.cases import CASES  # noqa: F401  (cases first: cases_controls builds on it)
from tooling.policy_eval import Analyzer, analyzer_resource

ACL = "aws:wafv2/webAcl:WebAcl"
ACL_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
ALB = "aws:lb/loadBalancer:LoadBalancer"
CLUSTER = "aws:rds/cluster:Cluster"
MEMBER = "aws:rds/clusterInstance:ClusterInstance"
REPOSITORY = "aws:ecr/repository:Repository"
REPOSITORY_LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"


def resource(
    type_: str,
    name: str,
    props: dict[str, Any] | None = None,
    *,
    through: dict[str, proto.AnalyzerResource] | None = None,
    waits_on: list[proto.AnalyzerResource] | None = None,
) -> proto.AnalyzerResource:
    """A resource whose inputs `through` come from other resources' outputs (property
    dependencies), and which `waits_on` others only by ordering (depends_on)."""
    linked = {key: [r.urn] for key, r in (through or {}).items()}
    return analyzer_resource(
        type_,
        f"urn:{name}",
        name,
        props or {},
        dependencies=[*(r.urn for r in (through or {}).values()), *(r.urn for r in waits_on or [])],
        property_dependencies=linked,
    )


def found(
    rule: str, resources: list[proto.AnalyzerResource], config: dict[str, Any] | None = None
) -> list[str]:
    analyzer = Analyzer(
        {"all": "disabled", rule: {"enforcementLevel": "mandatory", **(config or {})}}
    )
    return [v.message for v in analyzer.stack(resources)]


def test_every_web_acl_logs_through_its_own_logging_configuration() -> None:
    acl, other = resource(ACL, "app"), resource(ACL, "site")
    logged = resource(ACL_LOGGING, "app-logs", through={"resourceArn": acl})
    assert found("waf-logging", [acl, logged]) == []
    assert found("waf-logging", [acl]) == [
        "web ACL app logs no requests. Add an aws.wafv2.WebAclLoggingConfiguration whose "
        "resourceArn is the web ACL's ARN, to a KMS-encrypted log group named aws-waf-logs-*."
    ]
    # A logging configuration of another ACL that merely waits on this one covers nothing.
    waiting = resource(ACL_LOGGING, "site-logs", through={"resourceArn": other}, waits_on=[acl])
    assert [m.split(".")[0] for m in found("waf-logging", [acl, other, waiting])] == [
        "web ACL app logs no requests"
    ]


def test_every_internet_facing_alb_has_a_web_acl() -> None:
    alb = resource(ALB, "web", {"loadBalancerType": "application", "internal": False})
    acl = resource(ACL, "acl")
    association = resource(ASSOCIATION, "assoc", through={"resourceArn": alb, "webAclArn": acl})
    assert found("alb-waf", [alb, acl, association]) == []
    assert found("alb-waf", [alb, acl])[0].startswith(
        "internet-facing load balancer web has no WAF web ACL"
    )
    # Only the ACL's ARN comes from the load balancer: not its resourceArn.
    wrong = resource(ASSOCIATION, "assoc", through={"webAclArn": alb})
    assert len(found("alb-waf", [alb, wrong])) == 1
    internal = resource(ALB, "api", {"internal": True})
    network = resource(ALB, "nlb", {"loadBalancerType": "network"})
    assert found("alb-waf", [internal, network]) == []
    aliased = resource("aws:alb/loadBalancer:LoadBalancer", "old", {})
    assert len(found("alb-waf", [aliased])) == 1


def test_databases_run_the_configured_number_of_instances() -> None:
    cluster = resource(CLUSTER, "db")
    members = [resource(MEMBER, f"db-{i}", through={"clusterIdentifier": cluster}) for i in (1, 2)]
    assert found("rds-multi-az", [cluster, *members]) == []
    assert found("rds-multi-az", [cluster, members[0]])[0].startswith(
        "database db runs 1 instance(s), fewer than 2 across availability zones"
    )
    assert found("rds-multi-az", [cluster, members[0]], {"minInstances": 1}) == []
    assert len(found("rds-multi-az", [cluster, *members], {"minInstances": 3})) == 1
    # An instance of another cluster that waits on this one is not one of its instances.
    other = resource(CLUSTER, "other")
    stray = resource(MEMBER, "other-1", through={"clusterIdentifier": other}, waits_on=[cluster])
    assert len(found("rds-multi-az", [cluster, members[0], other, stray], {"minInstances": 2})) == 2
    single = resource("aws:rds/instance:Instance", "solo", {"multiAz": False})
    assert len(found("rds-multi-az", [single])) == 1
    assert (
        found("rds-multi-az", [resource("aws:rds/instance:Instance", "ha", {"multiAz": True})])
        == []
    )


def test_every_repository_has_a_lifecycle_policy() -> None:
    repository, other = resource(REPOSITORY, "app"), resource(REPOSITORY, "tools")
    policy = resource(REPOSITORY_LIFECYCLE, "app-lifecycle", through={"repository": repository})
    assert found("ecr-lifecycle-policy", [repository, policy]) == []
    assert found("ecr-lifecycle-policy", [repository, other, policy])[0].startswith(
        "repository tools has no lifecycle policy"
    )


def test_every_bucket_has_its_own_lifecycle_configuration() -> None:
    bucket, other = (
        resource("aws:s3/bucket:Bucket", "data"),
        resource("aws:s3/bucket:Bucket", "logs"),
    )
    lifecycle = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    own = resource(lifecycle, "data-lifecycle", through={"bucket": bucket})
    assert found("s3-lifecycle-configured", [bucket, own]) == []
    # A configuration of another bucket that merely waits on this one does not cover it.
    waiting = resource(lifecycle, "logs-lifecycle", through={"bucket": other}, waits_on=[bucket])
    assert found("s3-lifecycle-configured", [bucket, other, waiting]) == [
        "bucket data has no lifecycle configuration. Add an aws.s3.BucketLifecycleConfiguration "
        "whose bucket is the bucket's ID (expire or tier objects, expire noncurrent versions, "
        "abort incomplete multipart uploads)."
    ]
