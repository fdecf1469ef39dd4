"""The whole program, for each stack's real config file, run offline."""

from __future__ import annotations

import json
import re

import pytest

from components.settings import SettingsError
from tests.conftest import STACKS, Offline, is_taggable, stack_run
from tooling.offline import OfflineError, OfflineRun, ProgramError, run_stack, stack_config

PROVIDER = "pulumi:providers:aws"
EXPECTED_OUTPUTS = {
    "region",
    "vpcId",
    "vpcCidr",
    "zoneNames",
    "publicSubnetIds",
    "privateSubnetIds",
    "isolatedSubnetIds",
    "serviceUrl",
    "albDnsName",
    "clusterName",
    "serviceName",
    "repositoryUrl",
    "databaseEndpoint",
    "databaseReaderEndpoint",
    "databasePort",
    "databaseSecretArn",
    "databaseClusterIdentifier",
    "uploadsBucket",
    "resultsBucket",
    "jobQueueArn",
    "jobDefinitionArn",
    "stateMachineArn",
    "alarmTopicArn",
    "dashboardName",
    "kubernetesClusterName",
    "kubernetesEndpoint",
    "kubernetesOidcProviderArn",
    "kubernetesOidcProviderUrl",
    "kubernetesNodeRoleArn",
    "kubernetesNodeSecurityGroupId",
    "kubeconfig",
    "siteUrl",
    "siteDistributionId",
    "siteDistributionDomainName",
    "siteBucket",
}


def run(stack: str) -> OfflineRun:
    return stack_run(stack)


@pytest.mark.parametrize("stack", STACKS)
def test_program_exports_the_expected_outputs(stack: str) -> None:
    outputs = run(stack).outputs
    assert set(outputs) >= EXPECTED_OUTPUTS
    assert len(outputs["zoneNames"]) == 3
    assert len(outputs["privateSubnetIds"]) == 3


@pytest.mark.parametrize("stack", STACKS)
def test_the_main_provider_carries_the_default_tags(stack: str) -> None:
    provider = run(stack).one(PROVIDER, f"platform-{stack}-aws")
    # Provider configuration reaches the engine as JSON text.
    assert json.loads(provider.inputs["defaultTags"])["tags"] == {
        "Project": "platform",
        "Environment": stack,
        "ManagedBy": "pulumi",
        "Owner": "platform-team",
        "CostCenter": f"platform-{stack}",
    }
    assert provider.inputs["region"] == "eu-west-1"


def _urn_of(reference: str) -> str:
    return reference.rsplit("::", 1)[0]  # a provider reference is `<urn>::<id>`


@pytest.mark.parametrize("stack", STACKS)
def test_every_aws_resource_uses_a_tagged_provider(stack: str) -> None:
    result = run(stack)
    tagged = {p.urn for p in result.of_type(PROVIDER) if "defaultTags" in p.inputs}
    custom = [r for r in result.resources if r.type.startswith("aws:")]
    remote = [r for r in result.resources if r.remote]
    assert custom and remote
    assert [r.name for r in custom if _urn_of(r.provider or "") not in tagged] == []
    # Remote components get a provider map, handed on to every child they create.
    assert [r.name for r in remote if _urn_of(r.providers.get("aws", "")) not in tagged] == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_taggable_resource_carries_its_component_tag(stack: str) -> None:
    result = run(stack)
    missing = [
        r.name
        for r in result.resources
        if is_taggable(r) and "Component" not in (r.inputs.get("tags") or {})
    ]
    assert missing == []


@pytest.mark.parametrize(
    "stack, gateways", [("dev", "Single"), ("staging", "Single"), ("prod", "OnePerAz")]
)
def test_nat_gateways_per_stack(stack: str, gateways: str) -> None:
    vpc = run(stack).one("awsx:ec2:Vpc")
    assert vpc.inputs["natGateways"]["strategy"] == gateways
    assert len(vpc.inputs["availabilityZoneNames"]) == 3


@pytest.mark.parametrize("stack, endpoints", [("dev", 1), ("staging", 1), ("prod", 6)])
def test_endpoints_per_stack(stack: str, endpoints: int) -> None:
    assert len(run(stack).of_type("aws:ec2/vpcEndpoint:VpcEndpoint")) == endpoints


@pytest.mark.parametrize("stack", STACKS)
def test_protection_follows_the_stack(stack: str) -> None:
    keys = run(stack).of_type("aws:kms/key:Key")
    assert keys and all(key.protect is (stack != "dev") for key in keys)


def test_bad_stack_config_fails_before_any_resource_is_registered() -> None:
    bad = {
        "platform:network": json.dumps({"cidr": "10.0.0.0/8", "zones": 9}),
        "platform:netwrok": "{}",
    }
    with pytest.raises(ProgramError) as caught:
        run_stack("prod", overrides=bad)
    assert isinstance(caught.value.__cause__, SettingsError)
    message = str(caught.value)
    assert "stack 'prod': invalid configuration (3 problems)" in message
    assert caught.value.run.resources == []


def test_missing_stack_file_is_a_clear_error() -> None:
    with pytest.raises(
        OfflineError,
        match=re.escape("no stack file Pulumi.qa.yaml; stacks here: dev, prod, staging"),
    ):
        stack_config("qa")


def test_runs_do_not_share_state(offline: Offline) -> None:
    first = offline.stack("dev")
    second = offline.stack("dev")
    assert len(first.resources) == len(second.resources)
    assert sorted(r.urn for r in first.resources) == sorted(r.urn for r in second.resources)


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_belongs_to_a_component(stack: str) -> None:
    result = run(stack)
    loose = [
        r.name
        for r in result.resources
        if not r.type.startswith(("pulumi:providers:", "platform:"))
        and result.component_of(r) is None
    ]
    assert loose == []


@pytest.mark.parametrize("stack", STACKS)
def test_resource_names_carry_the_stack_prefix(stack: str) -> None:
    prefix = f"platform-{stack}-"
    assert [r.name for r in run(stack).resources if not r.name.startswith(prefix)] == []
