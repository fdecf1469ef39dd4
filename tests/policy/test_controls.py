"""The stack rules of the network, edge and data controls, through the engine's AnalyzeStack path:
each companion must take its property from the resource it covers, not merely wait on it."""

from __future__ import annotations

from typing import Any

from pulumi.runtime.proto import analyzer_pb2 as proto

from tests.policy.cases import CASES, doc  # noqa: F401  (cases first: cases_controls builds on it)
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


NACL = "aws:ec2/networkAcl:NetworkAcl"
NACL_RULE = "aws:ec2/networkAclRule:NetworkAclRule"


def entry(number: int, action: str, cidr: str = "0.0.0.0/0", *, low: int = 22, high: int = 22,
          protocol: str = "tcp") -> dict[str, Any]:  # fmt: skip
    """An inline NACL ingress entry (ruleNo, action, cidrBlock or ipv6CidrBlock)."""
    block = "ipv6CidrBlock" if ":" in cidr else "cidrBlock"
    return {"ruleNo": number, "action": action, block: cidr, "protocol": protocol,
            "fromPort": low, "toPort": high}  # fmt: skip


def rule_of(acl: proto.AnalyzerResource, name: str, number: int, action: str, **more: Any) -> Any:
    """A standalone NetworkAclRule whose networkAclId comes from `acl`."""
    props = {"ruleNumber": number, "ruleAction": action, "egress": False, "protocol": "6",
             "cidrBlock": "0.0.0.0/0", "fromPort": 22, "toPort": 22, **more}  # fmt: skip
    return resource(NACL_RULE, name, props, through={"networkAclId": acl})


def test_nacl_entries_are_read_in_rule_number_order() -> None:
    # VPC User Guide, "Network ACL rules": rules are evaluated from the lowest number up, and the
    # first rule that matches the traffic decides, whatever a higher-numbered rule says.
    denied_first = resource(
        NACL, "a", {"ingress": [entry(200, "allow", low=0, high=65535), entry(100, "deny")]}
    )
    assert found("nacl-no-open-admin-ports", [denied_first]) == [
        "network ACL a admits 0.0.0.0/0 on admin port 3389 (rule 200). Limit the rule to known "
        "CIDRs or deny 22 and 3389 from 0.0.0.0/0 and ::/0 in a lower-numbered rule; use SSM "
        "Session Manager instead of open admin ports."
    ]
    allowed_first = resource(NACL, "a", {"ingress": [entry(100, "allow"), entry(90 + 30, "deny")]})
    assert len(found("nacl-no-open-admin-ports", [allowed_first])) == 1
    # A deny of part of the internet shadows nothing; a deny of IPv4 does not cover IPv6.
    partial = resource(
        NACL, "a", {"ingress": [entry(10, "deny", "1.2.3.0/24"), entry(20, "allow")]}
    )
    assert len(found("nacl-no-open-admin-ports", [partial])) == 1
    v6 = resource(NACL, "a", {"ingress": [entry(10, "deny"), entry(20, "allow", "::/0")]})
    assert [m.split(".")[0] for m in found("nacl-no-open-admin-ports", [v6])] == [
        "network ACL a admits ::/0 on admin port 22 (rule 20)"
    ]
    # However the whole family is written.
    spelled = resource(
        NACL, "a", {"ingress": [entry(10, "deny", "0.0.0.0/0"), entry(20, "allow", "::0/0")]}
    )
    assert found("nacl-no-open-admin-ports", [spelled])[0].startswith(
        "network ACL a admits ::/0 on admin port 22"
    )
    every = resource(NACL, "a", {"ingress": [entry(10, "deny", protocol="-1", low=0, high=0),
                                             entry(20, "allow", low=0, high=65535)]})  # fmt: skip
    assert found("nacl-no-open-admin-ports", [every]) == []


def test_standalone_nacl_rules_are_ordered_with_the_rest_of_their_acl() -> None:
    acl = resource(NACL, "a", {"ingress": [entry(100, "deny")]})
    later = rule_of(acl, "open-ssh", 200, "allow")
    assert found("nacl-no-open-admin-ports", [acl, later]) == []
    earlier = rule_of(acl, "open-ssh", 50, "allow")
    assert found("nacl-no-open-admin-ports", [acl, earlier])[0].startswith(
        "network ACL a admits 0.0.0.0/0 on admin port 22 (rule 50)"
    )
    # A deny in another ACL protects nothing here; an egress rule is not ingress.
    other = resource(NACL, "b", {"ingress": []})
    elsewhere = rule_of(other, "open-ssh", 200, "allow", cidrBlock=None, ipv6CidrBlock="::/0")
    assert [
        m.split(" (")[0] for m in found("nacl-no-open-admin-ports", [acl, other, elsewhere])
    ] == ["network ACL b admits ::/0 on admin port 22"]
    outbound = rule_of(other, "out", 10, "allow", egress=True)
    assert found("nacl-no-open-admin-ports", [other, outbound]) == []
    # A rule of an ACL the stack does not create is grouped by the ACL's ID.
    literal = resource(NACL_RULE, "r", {"networkAclId": "acl-123", "ruleNumber": 1, "ruleAction": "allow",
                                        "protocol": "all", "cidrBlock": "0.0.0.0/0"})  # fmt: skip
    assert len(found("nacl-no-open-admin-ports", [literal])) == 2


CLUSTER_ECS = "aws:ecs/cluster:Cluster"
SERVICE = "aws:ecs/service:Service"
GROUP = "aws:cloudwatch/logGroup:LogGroup"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/k"


def exec_cluster(group: proto.AnalyzerResource | None = None, **changes: Any) -> Any:
    settings = {"kmsKeyId": KEY_ARN, "logging": "OVERRIDE",
                "logConfiguration": {"cloudWatchLogGroupName": "/p/exec", "cloudWatchEncryptionEnabled": True},
                **changes}  # fmt: skip
    props = {"configuration": {"executeCommandConfiguration": settings}}
    return resource(CLUSTER_ECS, "app", props, through={"configuration": group} if group else None)


def test_exec_logging_is_needed_only_where_a_service_enables_exec() -> None:
    bare = resource(CLUSTER_ECS, "app", {})
    assert found("ecs-exec-session-logging", [bare]) == []
    quiet = resource(SERVICE, "svc", {"enableExecuteCommand": False}, through={"cluster": bare})
    assert found("ecs-exec-session-logging", [bare, quiet]) == []
    noisy = resource(SERVICE, "svc", {"enableExecuteCommand": True}, through={"cluster": bare})
    assert found("ecs-exec-session-logging", [bare, noisy])[0].startswith(
        "ECS cluster app leaves ECS Exec session logging at DEFAULT (no audited log group) (service svc enables exec)"
    )
    # A service of another cluster that merely waits on this one does not count.
    other = resource(CLUSTER_ECS, "other", {})
    stray = resource(
        SERVICE, "svc", {"enableExecuteCommand": True}, through={"cluster": other}, waits_on=[bare]
    )
    flagged = {m.split(" ")[2] for m in found("ecs-exec-session-logging", [bare, other, stray])}
    assert flagged == {"other"}


def test_exec_sessions_go_to_a_customer_key_encrypted_log_group() -> None:
    group = resource(GROUP, "exec-logs", {"name": "/p/exec", "kmsKeyId": KEY_ARN})
    assert found("ecs-exec-session-logging", [exec_cluster(group), group]) == []
    plain = resource(GROUP, "exec-logs", {"name": "/p/exec"})
    assert found("ecs-exec-session-logging", [exec_cluster(plain), plain])[0].startswith(
        "ECS cluster app logs ECS Exec sessions to log group /p/exec, which has no customer KMS key"
    )
    # Found by name too, when the group's name is written out.
    assert len(found("ecs-exec-session-logging", [exec_cluster(), plain])) == 1
    problems = {
        "without encryption": exec_cluster(
            group, logConfiguration={"cloudWatchLogGroupName": "/p/exec"}
        ),
        "to no CloudWatch log group": exec_cluster(group, logConfiguration={"s3BucketName": "b"}),
        "with no customer key (kmsKeyId)": exec_cluster(group, kmsKeyId=None),
        "at NONE": exec_cluster(group, logging="NONE"),
    }
    for words, cluster in problems.items():
        messages = found("ecs-exec-session-logging", [cluster, group])
        assert any(words in m for m in messages), (words, messages)


ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
ENDPOINT_POLICY = "aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy"
OWN_ACCOUNT = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "*", "Resource": "*",
               "Condition": {"StringEquals": {"aws:PrincipalAccount": "123456789012"}}}  # fmt: skip
# What AWS attaches to an endpoint created without a policy (AWS PrivateLink Guide, "Default
# endpoint policy"); the provider reads it back as the endpoint's `policy` output.
FULL_ACCESS = {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}


def test_every_gateway_and_interface_endpoint_has_its_own_policy() -> None:
    scoped = resource(ENDPOINT, "s3", {"vpcEndpointType": "Gateway", "policy": doc(OWN_ACCOUNT)})
    assert found("vpc-endpoint-has-policy", [scoped]) == []
    bare = resource(ENDPOINT, "ecr", {"vpcEndpointType": "Interface"})
    assert found("vpc-endpoint-has-policy", [bare]) == [
        "VPC endpoint ecr has no endpoint policy (AWS's default allows every principal every "
        "action). Give the endpoint a policy limited to this account's principals "
        "(aws:PrincipalAccount) or resources (aws:ResourceAccount), with the AWS-owned "
        "resources the workloads need."
    ]
    # No type means Gateway; AWS's default policy read back as the output is no policy either.
    default = resource(ENDPOINT, "s3", {"policy": doc(FULL_ACCESS)})
    assert len(found("vpc-endpoint-has-policy", [default])) == 1
    # A Gateway Load Balancer endpoint takes no policy.
    appliance = resource(ENDPOINT, "gwlb", {"vpcEndpointType": "GatewayLoadBalancer"})
    assert found("vpc-endpoint-has-policy", [appliance]) == []


def test_an_endpoint_policy_resource_counts_for_its_own_endpoint_only() -> None:
    endpoint, other = resource(ENDPOINT, "sts", {}), resource(ENDPOINT, "logs", {})
    policy = resource(ENDPOINT_POLICY, "sts-policy", {"policy": doc(OWN_ACCOUNT)},
                      through={"vpcEndpointId": endpoint}, waits_on=[other])  # fmt: skip
    assert [
        m.split(" has")[0] for m in found("vpc-endpoint-has-policy", [endpoint, other, policy])
    ] == ["VPC endpoint logs"]
    opened = resource(ENDPOINT_POLICY, "sts-policy", {"policy": doc(FULL_ACCESS)},
                      through={"vpcEndpointId": endpoint})  # fmt: skip
    assert len(found("vpc-endpoint-has-policy", [endpoint, opened])) == 1


S3_BUCKET = "aws:s3/bucket:Bucket"
BUCKET_LOGGING = "aws:s3/bucketLogging:BucketLogging"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
DATA = {"bucketPatterns": ["*-uploads", "*-results"]}


def test_data_buckets_log_their_requests_to_another_bucket() -> None:
    uploads, logs = resource(S3_BUCKET, "pipe-uploads"), resource(S3_BUCKET, "pipe-access-logs")
    logging = resource(BUCKET_LOGGING, "uploads-logging", {"targetPrefix": "uploads/"},
                       through={"bucket": uploads, "targetBucket": logs})  # fmt: skip
    assert found("s3-access-logging", [uploads, logs, logging]) == []
    assert found("s3-access-logging", [uploads, logs]) == [
        "bucket pipe-uploads has no server access logging. Add an aws.s3.BucketLogging whose "
        "bucket is this bucket's ID and whose targetBucket is an SSE-S3 log bucket that admits "
        "logging.s3.amazonaws.com for this account's sources."
    ]
    # Log buckets are exempt by name; only the configured data buckets are checked.
    site = resource(S3_BUCKET, "site")
    assert [m.split(" has")[0] for m in found("s3-access-logging", [uploads, site, logs])] == [
        "bucket pipe-uploads",
        "bucket site",
    ]
    assert len(found("s3-access-logging", [uploads, site, logs], DATA)) == 1
    # A configuration of another bucket that waits on this one does not cover it.
    results = resource(S3_BUCKET, "pipe-results")
    stray = resource(BUCKET_LOGGING, "results-logging", through={"bucket": results, "targetBucket": logs},
                     waits_on=[uploads])  # fmt: skip
    assert [
        m.split(" has")[0] for m in found("s3-access-logging", [uploads, results, stray], DATA)
    ] == ["bucket pipe-uploads"]
    looped = resource(
        BUCKET_LOGGING, "uploads-logging", through={"bucket": uploads, "targetBucket": uploads}
    )
    assert found("s3-access-logging", [uploads, looped], DATA)[0].startswith(
        "bucket pipe-uploads logs its requests into itself"
    )


LOCKED = {"objectLockEnabled": True}


def lock_of(bucket: proto.AnalyzerResource, mode: str = "GOVERNANCE", days: int = 30) -> Any:
    rule = {"defaultRetention": {"mode": mode, "days": days}}
    return resource(OBJECT_LOCK, f"{bucket.name}-lock", {"rule": rule}, through={"bucket": bucket})


def test_object_lock_is_checked_only_where_the_stack_asks_for_it() -> None:
    results = resource(S3_BUCKET, "pipe-results")
    assert found("s3-object-lock", [results]) == []
    asked = {"bucketPatterns": ["*-results"]}
    assert found("s3-object-lock", [results], asked) == [
        "bucket pipe-results is not created with S3 Object Lock. Set the pipeline's "
        "resultsObjectLock (objectLockEnabled on a new bucket, and an "
        "aws.s3.BucketObjectLockConfiguration with a default retention)."
    ]
    locked = resource(S3_BUCKET, "pipe-results", LOCKED)
    assert found("s3-object-lock", [locked, lock_of(locked)], asked) == []
    assert found("s3-object-lock", [locked], asked)[0].startswith(
        "bucket pipe-results has no default Object Lock retention"
    )
    strict = {**asked, "modes": ["COMPLIANCE"], "minDays": 365}
    assert [
        m.split(". ")[0] for m in found("s3-object-lock", [locked, lock_of(locked)], strict)
    ] == [
        "bucket pipe-results locks objects in GOVERNANCE mode, not one of COMPLIANCE",
        "bucket pipe-results locks objects for 30 days, fewer than 365",
    ]
    years = resource(OBJECT_LOCK, "y", {"rule": {"defaultRetention": {"mode": "COMPLIANCE", "years": 1}}},
                     through={"bucket": locked})  # fmt: skip
    assert found("s3-object-lock", [locked, years], strict) == []
