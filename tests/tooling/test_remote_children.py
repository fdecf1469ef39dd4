"""Remote components (awsx, pulumi_eks) as the engine sees them: their own registration reaches the
policy pack with no properties, and the resources they create are checked in their place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi_policy import ResourceValidationArgs, ResourceValidationPolicy

from tests.conftest import settings_for, stack_run
from tooling.policy_eval import evaluate

EKS = "eks:index:Cluster"


def test_the_vpc_and_subnets_awsx_creates_are_recorded_under_it() -> None:
    run = stack_run("dev")
    component = run.one("awsx:ec2:Vpc")
    vpc = run.one("aws:ec2/vpc:Vpc")
    assert vpc.parent == component.urn
    assert vpc.checked_inputs["cidrBlock"] == settings_for("dev").config.network.cidr
    subnets = run.of_type("aws:ec2/subnet:Subnet")
    assert len(subnets) == 9
    public = {s.name for s in subnets if s.checked_inputs["mapPublicIpOnLaunch"]}
    assert public == {f"{component.name}-public-{n}" for n in (1, 2, 3)}


def test_the_cluster_pulumi_eks_creates_carries_the_components_settings() -> None:
    run = stack_run("dev")
    component = run.one(EKS)
    cluster = run.one("aws:eks/cluster:Cluster")
    assert cluster.parent == component.urn
    vpc_config = cluster.checked_inputs["vpcConfig"]
    settings = settings_for("dev").config.kubernetes
    assert vpc_config["endpointPublicAccess"] is settings.endpoint_public_access
    assert vpc_config["publicAccessCidrs"] == settings.public_access_cidrs
    key = component.checked_inputs["encryptionConfigKeyArn"]
    assert cluster.checked_inputs["encryptionConfig"] == {
        "provider": {"keyArn": key},
        "resources": ["secrets"],
    }
    assert cluster.checked_inputs["upgradePolicy"] == {"supportType": "STANDARD"}
    role = run.one("aws:iam/role:Role", "cluster-eksRole-role")
    assert role.parent == component.urn


def probe(seen: list[dict[str, Any]]) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, _: Callable[..., None]) -> None:
        if args.resource_type == EKS:
            seen.append(dict(args.props))

    return ResourceValidationPolicy(name="probe", description="Records props.", validate=validate)


def test_a_remote_component_reaches_the_analyzer_with_no_properties() -> None:
    seen: list[dict[str, Any]] = []
    evaluate(stack_run("dev"), {"all": "mandatory"}, [probe(seen)])
    assert seen == [{}]
