"""Network: the inputs handed to awsx, endpoints, flow logs and the locked default security group."""

from __future__ import annotations

import json
import re

import pytest

from components.common import StackContext
from components.network import INTERFACE_ENDPOINT_SERVICES, Network, NetworkArgs
from components.settings import Settings
from tests.conftest import Offline, statements
from tooling.offline import ACCOUNT_ID, OfflineRun, ProgramError

VPC = "awsx:ec2:Vpc"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"


def build(settings: Settings, ctx: StackContext) -> Network:
    return Network("net", NetworkArgs(settings=settings.config.network, ctx=ctx))


def network_with(offline: Offline, stack: str = "prod", **values: object) -> OfflineRun:
    section = {"cidr": "10.30.0.0/16", **values}
    return offline.component(build, stack, {"platform:network": json.dumps(section)})


@pytest.mark.parametrize(
    "mode, strategy", [("single", "Single"), ("perAz", "OnePerAz"), ("none", "None")]
)
def test_nat_mode_is_handed_to_awsx(offline: Offline, mode: str, strategy: str) -> None:
    vpc = network_with(offline, natMode=mode).one(VPC)
    assert vpc.remote
    assert vpc.inputs["natGateways"] == {"strategy": strategy}


def test_vpc_inputs(offline: Offline) -> None:
    vpc = network_with(offline, zones=2).one(VPC)
    assert vpc.inputs["cidrBlock"] == "10.30.0.0/16"
    assert vpc.inputs["availabilityZoneNames"] == ["eu-west-1a", "eu-west-1b"]
    assert vpc.inputs["enableDnsHostnames"] is True
    assert vpc.inputs["subnetStrategy"] == "Auto"


def test_three_subnet_tiers_fill_each_zone_block_exactly(offline: Offline) -> None:
    vpc = network_with(offline, cidr="10.30.0.0/20").one(VPC).inputs
    assert vpc["availabilityZoneCidrMask"] == 22
    specs = vpc["subnetSpecs"]
    assert [(s["type"], s["cidrMask"]) for s in specs] == [
        ("Private", 23),
        ("Public", 24),
        ("Isolated", 24),
    ]
    zone_block = 2 ** (32 - 22)
    assert sum(2 ** (32 - s["cidrMask"]) for s in specs) == zone_block


def test_load_balancer_subnets_are_tagged_by_role(offline: Offline) -> None:
    specs = {
        s["name"]: s.get("tags", {}) for s in network_with(offline).one(VPC).inputs["subnetSpecs"]
    }
    assert specs["public"] == {"kubernetes.io/role/elb": "1"}
    assert specs["private"] == {"kubernetes.io/role/internal-elb": "1"}
    assert specs["isolated"] == {}


def test_s3_gateway_endpoint_is_on_every_route_table(offline: Offline) -> None:
    endpoint = network_with(offline).one(ENDPOINT, "-s3")
    assert endpoint.inputs["vpcEndpointType"] == "Gateway"
    assert endpoint.inputs["serviceName"] == "com.amazonaws.eu-west-1.s3"
    assert len(endpoint.inputs["routeTableIds"]) == 9  # 3 tiers x 3 zones


def test_interface_endpoints_when_enabled(offline: Offline) -> None:
    run = network_with(offline, interfaceEndpoints=True)
    interface = [r for r in run.of_type(ENDPOINT) if r.inputs["vpcEndpointType"] == "Interface"]
    services = sorted(
        r.inputs["serviceName"].removeprefix("com.amazonaws.eu-west-1.") for r in interface
    )
    assert services == sorted(INTERFACE_ENDPOINT_SERVICES)
    assert all(r.inputs["privateDnsEnabled"] for r in interface)
    assert all(
        r.inputs["subnetIds"] == ["subnet-private-1", "subnet-private-2", "subnet-private-3"]
        for r in interface
    )
    group = run.one("aws:ec2/securityGroup:SecurityGroup", "endpoints-sg")
    [rule] = group.inputs["ingress"]
    assert (rule["fromPort"], rule["toPort"], rule["cidrBlocks"]) == (443, 443, ["10.30.0.0/16"])


def test_no_interface_endpoints_when_disabled(offline: Offline) -> None:
    run = network_with(offline, interfaceEndpoints=False)
    assert [r.inputs["vpcEndpointType"] for r in run.of_type(ENDPOINT)] == ["Gateway"]
    assert run.of_type("aws:ec2/securityGroup:SecurityGroup") == []


def test_default_security_group_has_no_rules(offline: Offline) -> None:
    group = network_with(offline).one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert group.inputs.get("ingress", []) == []
    assert group.inputs.get("egress", []) == []


def test_flow_logs_capture_all_traffic_into_the_encrypted_group(offline: Offline) -> None:
    run = network_with(offline)
    flow_log = run.one("aws:ec2/flowLog:FlowLog")
    group = run.one("aws:cloudwatch/logGroup:LogGroup", "flow-logs")
    key = run.one("aws:kms/key:Key")
    assert flow_log.inputs["trafficType"] == "ALL"
    assert flow_log.inputs["logDestinationType"] == "cloud-watch-logs"
    assert flow_log.inputs["logDestination"].endswith(f"log-group:{group.inputs['name']}")
    assert group.inputs["kmsKeyId"].endswith(":key/net-logs-key-key-id")
    assert key.inputs["enableKeyRotation"] is True


@pytest.mark.parametrize("stack, days", [("dev", 7), ("staging", 30), ("prod", 365)])
def test_flow_log_retention_follows_the_stack(offline: Offline, stack: str, days: int) -> None:
    run = offline.component(build, stack)
    assert run.one("aws:cloudwatch/logGroup:LogGroup").inputs["retentionInDays"] == days


def test_log_key_lets_only_cloudwatch_logs_of_this_account_use_it(offline: Offline) -> None:
    key = network_with(offline).one("aws:kms/key:Key")
    [logs] = [s for s in statements(key.inputs["policy"]) if s.get("Sid") == "CloudWatchLogs"]
    assert logs["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    assert logs["Condition"] == {
        "ArnLike": {
            "kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:eu-west-1:123456789012:log-group:*"
        }
    }


def test_flow_log_role_is_limited_to_its_log_group(offline: Offline) -> None:
    run = network_with(offline)
    role = run.one("aws:iam/role:Role", "flow-logs")
    [trust] = statements(role.inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    [grant] = statements(run.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    group_arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/platform/prod/network/flow-logs"
    assert grant["Resource"] == [group_arn, f"{group_arn}:*"]
    assert "*" not in grant["Action"]


def test_key_is_protected_only_when_data_is(offline: Offline) -> None:
    assert offline.component(build, "prod").one("aws:kms/key:Key").protect is True
    assert offline.component(build, "dev").one("aws:kms/key:Key").protect is False


def test_every_child_is_inside_the_component(offline: Offline) -> None:
    run = network_with(offline)
    component = run.one("platform:network:Network")
    orphans = [
        r.name for r in run.resources if r is not component and run.component_of(r) is not component
    ]
    assert orphans == []


def test_too_few_zones_in_the_region_is_a_clear_error(offline: Offline) -> None:
    with pytest.raises(
        ProgramError, match=re.escape("platform:network.zones = 4, but region eu-west-1 has only 3")
    ):
        offline.component(
            lambda s, c: Network(
                "net", NetworkArgs(settings=s.config.network.model_copy(update={"zones": 4}), ctx=c)
            ),
            "prod",
        )


OWN_PRINCIPALS = {"StringEquals": {"aws:PrincipalAccount": ACCOUNT_ID}}


def test_every_endpoint_admits_only_this_accounts_principals(offline: Offline) -> None:
    run = network_with(offline, interfaceEndpoints=True)
    for endpoint in run.of_type(ENDPOINT):
        first, *_ = statements(endpoint.inputs["policy"])
        assert first["Principal"] == {"AWS": "*"}, endpoint.name
        assert first["Condition"] == OWN_PRINCIPALS, endpoint.name


def test_the_s3_gateway_also_reaches_ecrs_layer_bucket_and_nothing_else(offline: Offline) -> None:
    # Image layers are fetched with ECR's presigned requests, not this account's credentials.
    endpoint = network_with(offline).one(ENDPOINT, "-s3")
    layers = statements(endpoint.inputs["policy"])[1]
    assert layers["Action"] == ["s3:GetObject"]
    assert layers["Resource"] == ["arn:aws:s3:::prod-eu-west-1-starport-layer-bucket/*"]
    assert len(statements(endpoint.inputs["policy"])) == 2


def test_sts_lets_web_identities_assume_only_this_accounts_roles(offline: Offline) -> None:
    run = network_with(offline, interfaceEndpoints=True)
    federated = statements(run.one(ENDPOINT, "-sts").inputs["policy"])[1]
    assert federated["Principal"] == {"Federated": "*"}
    assert federated["Action"] == ["sts:AssumeRoleWithWebIdentity"]
    assert federated["Resource"] == [f"arn:aws:iam::{ACCOUNT_ID}:role/*"]
    assert federated["Condition"] == {"StringEquals": {"aws:ResourceAccount": ACCOUNT_ID}}
