"""Kubernetes: the inputs handed to pulumi_eks, node groups, add-ons, IRSA roles and Helm releases."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.common import StackContext
from components.kubernetes import (
    AUTOSCALER,
    CLOUDWATCH,
    EBS_CSI,
    LOAD_BALANCER,
    LOAD_BALANCER_CONTROLLER,
    LOG_TYPES,
    VPC_CNI,
    Kubernetes,
    KubernetesArgs,
    ServiceAccount,
)
from components.network import Network, NetworkArgs
from components.settings import Settings
from tests.conftest import STACKS, Offline, component_run, statements
from tests.conftest import stack_run as program_run
from tooling.offline import OfflineRun, ProgramError, run_stack

CLUSTER = "eks:index:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ADDON = "aws:eks/addon:Addon"
ROLE = "aws:iam/role:Role"
INLINE = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
RELEASE = "kubernetes:helm.sh/v3:Release"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
K8S_PROVIDER = "pulumi:providers:kubernetes"
CLUSTER_SG = "sg-k8s-cluster"
RUNNER_SG = "sg-0123456789abcdef0"
BASTION_SG = "sg-0fedcba9876543210"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/k8s-key-key-id"
ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
PROVIDER_ARN = f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"
PRIVATE_SUBNETS = ["subnet-private-1", "subnet-private-2", "subnet-private-3"]


def build(settings: Settings, ctx: StackContext) -> Kubernetes:
    network = Network("net", NetworkArgs(settings=settings.config.network, ctx=ctx))
    return Kubernetes(
        "k8s", KubernetesArgs(settings=settings.config.kubernetes, ctx=ctx, network=network)
    )


def stack_run(stack: str) -> OfflineRun:
    return component_run(build, stack)


def kubernetes_with(offline: Offline, stack: str = "prod", **values: object) -> OfflineRun:
    return offline.component(build, stack, {"platform:kubernetes": json.dumps(values)})


def cluster(stack: str) -> dict[str, Any]:
    return stack_run(stack).one(CLUSTER).inputs


# --- the control plane ----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_cluster_is_pinned_encrypted_logged_and_on_standard_support(stack: str) -> None:
    inputs = cluster(stack)
    assert inputs["version"] == "1.34"
    assert inputs["authenticationMode"] == "API"
    assert inputs["enabledClusterLogTypes"] == list(LOG_TYPES)
    assert inputs["encryptionConfigKeyArn"] == KEY_ARN
    assert inputs["createOidcProvider"] is True
    assert inputs["upgradePolicy"] == {"supportType": "STANDARD"}
    assert inputs["skipDefaultNodeGroup"] is True
    assert inputs["endpointPrivateAccess"] is True
    assert inputs["nodeAssociatePublicIpAddress"] is False
    assert inputs["privateSubnetIds"] == PRIVATE_SUBNETS


@pytest.mark.parametrize(
    "stack, public, cidrs",
    [
        ("dev", True, ["203.0.113.0/24"]),
        ("staging", True, ["203.0.113.0/24"]),
        ("prod", False, None),
    ],
)
def test_public_endpoint_per_stack(stack: str, public: bool, cidrs: list[str] | None) -> None:
    inputs = cluster(stack)
    assert inputs["endpointPublicAccess"] is public
    assert inputs.get("publicAccessCidrs") == cidrs


@pytest.mark.parametrize("stack, protected", [("dev", False), ("staging", True), ("prod", True)])
def test_deletion_protection_and_protect_follow_the_stack(stack: str, protected: bool) -> None:
    resource = stack_run(stack).one(CLUSTER)
    assert resource.inputs["deletionProtection"] is protected
    assert resource.protect is protected


def test_the_cluster_manages_no_add_ons_or_security_groups_of_its_own() -> None:
    inputs = cluster("prod")
    assert inputs["bootstrapSelfManagedAddons"] is False
    assert inputs["useDefaultVpcCni"] is True
    assert inputs["corednsAddonOptions"]["enabled"] is False
    assert inputs["kubeProxyAddonOptions"]["enabled"] is False
    assert inputs["skipDefaultSecurityGroups"] is True


def test_secrets_key_rotates_and_control_plane_logs_are_kept() -> None:
    run = stack_run("prod")
    assert run.one("aws:kms/key:Key", "k8s-key").inputs["enableKeyRotation"] is True
    logs = run.one("aws:cloudwatch/logGroup:LogGroup", "control-plane-logs").inputs
    assert logs["name"] == "/aws/eks/k8s/cluster"
    assert logs["retentionInDays"] == 365
    assert logs["kmsKeyId"] == KEY_ARN
    # The cluster is created after its log group, so EKS never creates it unencrypted.
    group_urn = run.one("aws:cloudwatch/logGroup:LogGroup", "control-plane-logs").urn
    assert group_urn in run.one(CLUSTER).dependencies


def test_admin_roles_get_cluster_admin_through_access_entries(offline: Offline) -> None:
    admins = [
        "arn:aws:iam::123456789012:role/platform-admins",
        "arn:aws:iam::123456789012:role/sre",
    ]
    inputs = kubernetes_with(offline, adminRoleArns=admins).one(CLUSTER).inputs
    entries = inputs["accessEntries"]
    assert {key: entry["principalArn"] for key, entry in entries.items()} == {
        "admin-platform-admins": admins[0],
        "admin-sre": admins[1],
    }
    for entry in entries.values():
        policy = entry["accessPolicies"]["cluster-admin"]
        assert policy["policyArn"].endswith(":cluster-access-policy/AmazonEKSClusterAdminPolicy")
        assert policy["accessScope"] == {"type": "cluster"}


def test_viewer_roles_get_read_only_access_entries_beside_the_admins(offline: Offline) -> None:
    admin = "arn:aws:iam::123456789012:role/platform-admins"
    viewer = "arn:aws:iam::123456789012:role/ci/platform-prod-preview"
    run = kubernetes_with(offline, adminRoleArns=[admin], viewerRoleArns=[viewer])
    entries = run.one(CLUSTER).inputs["accessEntries"]
    # The admin's entry keeps its key and policy name: adding a viewer changes nothing of it.
    assert entries["admin-platform-admins"]["accessPolicies"].keys() == {"cluster-admin"}
    policy = entries["viewer-ci-platform-prod-preview"]["accessPolicies"]["cluster-viewer"]
    assert entries["viewer-ci-platform-prod-preview"]["principalArn"] == viewer
    assert policy == {
        "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy",
        "accessScope": {"type": "cluster"},
    }


def test_a_role_cannot_be_both_admin_and_viewer() -> None:
    arn = "arn:aws:iam::123456789012:role/sre"
    section = {"adminRoleArns": [arn], "viewerRoleArns": [arn]}
    with pytest.raises(ProgramError) as failure:
        run_stack("prod", overrides={"platform:kubernetes": json.dumps(section)})
    assert f"viewerRoleArns: {arn} is also in adminRoleArns" in str(failure.value)


def test_no_access_entries_unless_configured() -> None:
    assert cluster("prod")["accessEntries"] == {}


# --- the deployer's access to the API -------------------------------------------------------------


def test_deployer_security_groups_reach_the_api_on_443_only(offline: Offline) -> None:
    run = kubernetes_with(
        offline, apiAccessSecurityGroups={"ci-runner": RUNNER_SG, "bastion": BASTION_SG}
    )
    rules = {rule.name: rule.inputs for rule in run.of_type(INGRESS)}
    assert {name: rule["referencedSecurityGroupId"] for name, rule in rules.items()} == {
        "k8s-api-sg-ci-runner": RUNNER_SG,
        "k8s-api-sg-bastion": BASTION_SG,
    }
    for rule in rules.values():
        # The EKS-created cluster security group: the one on the private endpoint's ENIs.
        assert rule["securityGroupId"] == CLUSTER_SG
        assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 443, 443)
        assert "cidrIpv4" not in rule
        assert rule["tags"] == {"Component": "kubernetes"}


def test_deployer_cidrs_reach_the_api_on_443_only(offline: Offline) -> None:
    run = kubernetes_with(
        offline, apiAccessCidrs={"vpn": "10.99.0.0/16", "runners": "192.168.10.0/24"}
    )
    rules = {rule.name: rule.inputs for rule in run.of_type(INGRESS)}
    assert {name: rule["cidrIpv4"] for name, rule in rules.items()} == {
        "k8s-api-cidr-vpn": "10.99.0.0/16",
        "k8s-api-cidr-runners": "192.168.10.0/24",
    }
    for rule in rules.values():
        assert rule["securityGroupId"] == CLUSTER_SG
        assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 443, 443)
        assert "referencedSecurityGroupId" not in rule


def test_api_access_rules_are_children_of_the_component(offline: Offline) -> None:
    run = kubernetes_with(offline, apiAccessSecurityGroups={"ci-runner": RUNNER_SG})
    owner = run.component_of(run.one(INGRESS))
    assert owner is not None
    assert owner.name == "k8s"


def test_removing_one_source_keeps_the_others_rule(offline: Offline) -> None:
    both = kubernetes_with(offline, apiAccessCidrs={"a": "10.1.0.0/16", "b": "10.2.0.0/16"})
    only_b = kubernetes_with(offline, apiAccessCidrs={"b": "10.2.0.0/16"})
    # Keyed by name, not position: dropping "a" leaves "b"'s rule (its URN) untouched.
    b_urn = both.one(INGRESS, "k8s-api-cidr-b").urn
    assert [rule.urn for rule in only_b.of_type(INGRESS)] == [b_urn]


def test_no_api_access_rules_unless_configured() -> None:
    assert stack_run("prod").of_type(INGRESS) == []


def test_the_kubernetes_provider_waits_for_the_api_access_rules(offline: Offline) -> None:
    run = kubernetes_with(
        offline,
        apiAccessSecurityGroups={"ci-runner": RUNNER_SG},
        apiAccessCidrs={"vpn": "10.99.0.0/16"},
    )
    rules = {rule.urn for rule in run.of_type(INGRESS)}
    assert len(rules) == 2
    assert rules <= set(run.one(K8S_PROVIDER).dependencies)


def test_every_bad_api_access_entry_is_reported_at_once() -> None:
    section = {
        "apiAccessCidrs": {"vpn": "0.0.0.0/0", "office": "52.94.0.0/16"},
        "apiAccessSecurityGroups": {"runner": "runner-sg"},
    }
    with pytest.raises(ProgramError) as failure:
        run_stack("prod", overrides={"platform:kubernetes": json.dumps(section)})
    message = str(failure.value)
    assert "platform:kubernetes.apiAccessCidrs.vpn = '0.0.0.0/0'" in message
    assert "platform:kubernetes.apiAccessCidrs.office = '52.94.0.0/16'" in message
    assert "platform:kubernetes.apiAccessSecurityGroups.runner = 'runner-sg'" in message


# --- nodes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stack, capacity, sizes, types",
    [
        ("dev", "SPOT", (1, 1, 3), ["t3.medium", "t3a.medium"]),
        ("staging", "ON_DEMAND", (2, 2, 4), ["m7i.large"]),
        ("prod", "ON_DEMAND", (3, 3, 9), ["m7i.large"]),
    ],
)
def test_node_groups_per_stack(
    stack: str, capacity: str, sizes: tuple[int, int, int], types: list[str]
) -> None:
    group = stack_run(stack).one(NODE_GROUP).inputs
    assert group["capacityType"] == capacity
    scaling = group["scalingConfig"]
    assert (scaling["minSize"], scaling["desiredSize"], scaling["maxSize"]) == sizes
    assert group["instanceTypes"] == types
    assert group["subnetIds"] == PRIVATE_SUBNETS
    assert group["amiType"] == "AL2023_x86_64_STANDARD"
    assert group["version"] == "1.34"


def test_node_groups_roll_gradually_and_leave_the_count_to_the_autoscaler() -> None:
    group = stack_run("prod").one(NODE_GROUP)
    assert group.inputs["updateConfig"] == {"maxUnavailablePercentage": 33}
    assert group.inputs["nodeRepairConfig"] == {"enabled": True}
    assert group.ignore_changes == ("scalingConfig.desiredSize",)
    assert group.inputs["labels"] == {"platform/node-group": "general"}


@pytest.mark.parametrize("stack, disk", [("dev", 30), ("prod", 50)])
def test_launch_template_requires_imdsv2_and_encrypts_the_root_volume(
    stack: str, disk: int
) -> None:
    run = stack_run(stack)
    template = run.one(TEMPLATE).inputs
    assert template["metadataOptions"]["httpTokens"] == "required"
    assert template["metadataOptions"]["httpPutResponseHopLimit"] == 2
    (volume,) = template["blockDeviceMappings"]
    assert volume["ebs"] == {
        "volumeSize": disk,
        "volumeType": "gp3",
        "encrypted": "true",
        "deleteOnTermination": "true",
    }
    group = run.one(NODE_GROUP).inputs
    assert group["launchTemplate"]["id"] == "lt-k8s-general-template"
    assert "diskSize" not in group


def test_graviton_groups_get_the_arm_image(offline: Offline) -> None:
    run = kubernetes_with(
        offline, nodeGroups={"arm": {"instanceTypes": ["m7g.large", "c7g.large"]}}
    )
    assert run.one(NODE_GROUP).inputs["amiType"] == "AL2023_ARM_64_STANDARD"


def test_each_configured_group_is_its_own_node_group(offline: Offline) -> None:
    run = kubernetes_with(
        offline,
        nodeGroups={
            "general": {},
            "batch": {"capacityType": "spot", "minSize": 0, "desiredSize": 0, "labels": {"x": "y"}},
        },
    )
    groups = {g.name: g.inputs for g in run.of_type(NODE_GROUP)}
    assert set(groups) == {"k8s-general", "k8s-batch"}
    assert groups["k8s-batch"]["capacityType"] == "SPOT"
    assert groups["k8s-batch"]["labels"] == {"platform/node-group": "batch", "x": "y"}
    assert groups["k8s-batch"]["nodeGroupNamePrefix"] == "batch-"


def test_node_role_holds_only_what_nodes_need() -> None:
    run = stack_run("prod")
    role = run.one(ROLE, "k8s-nodes")
    trust = statements(role.inputs["assumeRolePolicy"])
    assert [s["Principal"] for s in trust] == [{"Service": "ec2.amazonaws.com"}]
    attached = [a.inputs["policyArn"] for a in run.of_type(ATTACHMENT) if "nodes" in a.name]
    assert sorted(attached) == [
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    ]
    # The CNI plugin has its own IRSA role: the node role carries no pod-network rights.
    assert not [i for i in run.of_type(INLINE) if i.name.startswith("k8s-nodes")]


def test_node_groups_wait_for_the_node_role_policies(offline: Offline) -> None:
    run = kubernetes_with(offline, nodeGroups={"general": {}, "batch": {"capacityType": "spot"}})
    attachments = {a.urn for a in run.of_type(ATTACHMENT) if a.name.startswith("k8s-nodes-")}
    assert len(attachments) == 2
    groups = run.of_type(NODE_GROUP)
    assert len(groups) == 2
    for group in groups:
        # Created after, and deleted before, the policies their instances need.
        assert attachments <= set(group.dependencies), group.name


# --- add-ons --------------------------------------------------------------------------------------


def test_add_ons_are_installed_at_the_default_build_for_the_version() -> None:
    run = stack_run("prod")
    addons = {a.inputs["addonName"]: a.inputs for a in run.of_type(ADDON)}
    assert set(addons) == {
        "vpc-cni",
        "kube-proxy",
        "eks-pod-identity-agent",
        "coredns",
        "aws-ebs-csi-driver",
        "amazon-cloudwatch-observability",
        "metrics-server",
    }
    for addon in addons.values():
        assert addon["addonVersion"] == "v1.0.0-eksbuild.1"
        assert addon["clusterName"] == "k8s"
        assert addon["resolveConflictsOnCreate"] == "OVERWRITE"
    assert run.invokes.count("aws:eks/getAddonVersion:getAddonVersion") == len(addons)


def test_networking_add_ons_come_before_nodes_and_pods_after() -> None:
    run = stack_run("prod")
    urns = {a.inputs["addonName"]: a.urn for a in run.of_type(ADDON)}
    group = run.one(NODE_GROUP)
    for before in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent"):
        assert urns[before] in group.dependencies
    for after in (
        "coredns",
        "aws-ebs-csi-driver",
        "amazon-cloudwatch-observability",
        "metrics-server",
    ):
        addon = next(a for a in run.of_type(ADDON) if a.urn == urns[after])
        assert group.urn in addon.dependencies


@pytest.mark.parametrize(
    "addon, policy",
    [
        ("vpc-cni", "AmazonEKS_CNI_Policy"),
        ("aws-ebs-csi-driver", "service-role/AmazonEBSCSIDriverPolicy"),
        ("amazon-cloudwatch-observability", "CloudWatchAgentServerPolicy"),
    ],
)
def test_add_ons_that_call_aws_have_their_own_role(addon: str, policy: str) -> None:
    run = stack_run("prod")
    installed = run.one(ADDON, f"k8s-{addon}").inputs
    role = run.physical_name(ROLE, f"k8s-{addon}")
    assert installed["serviceAccountRoleArn"] == f"arn:aws:iam::123456789012:role/{role}"
    attachment = run.one(ATTACHMENT, f"k8s-{addon}-policy").inputs
    assert attachment["policyArn"] == f"arn:aws:iam::aws:policy/{policy}"


@pytest.mark.parametrize(
    "addon", ["vpc-cni", "aws-ebs-csi-driver", "amazon-cloudwatch-observability"]
)
def test_add_ons_with_a_role_wait_for_its_policy(addon: str) -> None:
    run = stack_run("prod")
    attachment = run.one(ATTACHMENT, f"k8s-{addon}-policy")
    assert attachment.urn in run.one(ADDON, f"k8s-{addon}").dependencies


# --- IRSA -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role_name, account",
    [
        ("k8s-vpc-cni", VPC_CNI),
        ("k8s-aws-ebs-csi-driver", EBS_CSI),
        ("k8s-amazon-cloudwatch-observability", CLOUDWATCH),
        ("k8s-load-balancer-controller", LOAD_BALANCER),
        ("k8s-cluster-autoscaler", AUTOSCALER),
    ],
)
def test_irsa_roles_trust_exactly_one_service_account(
    role_name: str, account: ServiceAccount
) -> None:
    (trust,) = statements(stack_run("prod").one(ROLE, role_name).inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Federated": PROVIDER_ARN}
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    # StringEquals, never StringLike: no wildcard can widen the subject.
    assert trust["Condition"] == {
        "StringEquals": {
            f"{ISSUER}:sub": f"system:serviceaccount:{account.namespace}:{account.name}",
            f"{ISSUER}:aud": "sts.amazonaws.com",
        }
    }


def test_load_balancer_controller_policy_is_the_documented_one() -> None:
    run = stack_run("prod")
    policy = statements(run.one(INLINE, "k8s-load-balancer-controller-policy").inputs["policy"])
    version = LOAD_BALANCER_CONTROLLER[2]
    with open(f"components/data/aws-load-balancer-controller-{version}.json") as data:
        assert policy == json.load(data)["Statement"]


def test_cluster_autoscaler_may_only_resize_this_clusters_node_groups() -> None:
    run = stack_run("prod")
    policy = statements(run.one(INLINE, "k8s-cluster-autoscaler-policy").inputs["policy"])
    writes = [s for s in policy if "autoscaling:SetDesiredCapacity" in s["Action"]]
    assert writes == [
        {
            "Effect": "Allow",
            "Action": [
                "autoscaling:SetDesiredCapacity",
                "autoscaling:TerminateInstanceInAutoScalingGroup",
            ],
            "Resource": ["*"],
            "Condition": {
                "StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/k8s": "owned"}
            },
        }
    ]
    describe = next(s for s in policy if s["Action"] == ["eks:DescribeNodegroup"])
    assert describe["Resource"] == ["arn:aws:eks:eu-west-1:123456789012:nodegroup/k8s/*/*"]


# --- Helm releases --------------------------------------------------------------------------------

_EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


@pytest.mark.parametrize(
    "release, account, chart, repo",
    [
        (
            "aws-load-balancer-controller",
            LOAD_BALANCER,
            "aws-load-balancer-controller",
            "https://aws.github.io/eks-charts",
        ),
        (
            "cluster-autoscaler",
            AUTOSCALER,
            "cluster-autoscaler",
            "https://kubernetes.github.io/autoscaler",
        ),
    ],
)
def test_helm_releases_are_pinned_and_bound_to_their_irsa_role(
    release: str, account: ServiceAccount, chart: str, repo: str
) -> None:
    run = stack_run("prod")
    installed = run.one(RELEASE, release)
    inputs = installed.inputs
    assert inputs["chart"] == chart
    assert _EXACT_VERSION.match(inputs["version"]), inputs["version"]
    assert inputs["repositoryOpts"] == {"repo": repo}
    assert inputs["namespace"] == account.namespace
    assert inputs["atomic"] is True
    values = inputs["values"]
    service_account = values.get("serviceAccount") or values["rbac"]["serviceAccount"]
    assert service_account["create"] is True
    assert service_account["name"] == account.name
    role = run.physical_name(ROLE, f"k8s-{release.removeprefix('aws-')}")
    assert service_account["annotations"] == {
        "eks.amazonaws.com/role-arn": f"arn:aws:iam::123456789012:role/{role}"
    }
    # Installed through the cluster's own Kubernetes provider, once nodes and DNS are up.
    provider = run.one("pulumi:providers:kubernetes")
    assert installed.provider is not None
    assert installed.provider.startswith(provider.urn)
    assert run.one(ADDON, "k8s-coredns").urn in provider.dependencies
    assert run.one(NODE_GROUP).urn in provider.dependencies


def test_load_balancer_controller_is_told_its_cluster_region_and_vpc() -> None:
    values = stack_run("prod").one(RELEASE, "aws-load-balancer-controller").inputs["values"]
    assert values["clusterName"] == "k8s"
    assert values["region"] == "eu-west-1"
    assert values["vpcId"] == "vpc-net-vpc"
    assert (
        stack_run("prod").one(RELEASE, "aws-load-balancer-controller").inputs["version"]
        == (LOAD_BALANCER_CONTROLLER[1])
    )


def test_only_after_the_load_balancer_controller_do_other_releases_install() -> None:
    run = stack_run("prod")
    controller = run.one(RELEASE, "aws-load-balancer-controller")
    releases = run.of_type(RELEASE)
    # Its service mutator webhook (failurePolicy Fail) rejects every new Service until its pods
    # are ready: each other chart's Services must wait (aws-load-balancer-controller#4140).
    assert {r.name for r in releases if controller.urn in r.dependencies} == {
        "k8s-cluster-autoscaler"
    }
    assert not {r.urn for r in releases} & set(controller.dependencies)


def test_the_load_balancer_controller_release_waits_until_its_pods_are_ready() -> None:
    inputs = stack_run("prod").one(RELEASE, "aws-load-balancer-controller").inputs
    assert inputs["skipAwait"] is False
    assert inputs["atomic"] is True
    assert inputs["timeout"] == 600


def test_ingresses_reach_the_controller_only_through_the_platform_classes() -> None:
    values = stack_run("prod").one(RELEASE, "aws-load-balancer-controller").inputs["values"]
    assert values["createIngressClassResource"] is False
    assert values["ingressClassParams"] == {"create": False}
    assert values["disableIngressClassAnnotation"] is True


def test_the_service_mutator_webhook_is_kept_and_pinned() -> None:
    values = stack_run("prod").one(RELEASE, "aws-load-balancer-controller").inputs["values"]
    assert values["enableServiceMutatorWebhook"] is True


@pytest.mark.parametrize("version", ["1.34", "1.35", "1.36"])
def test_autoscaler_image_matches_the_cluster_minor_version(offline: Offline, version: str) -> None:
    run = kubernetes_with(offline, version=version)
    values = run.one(RELEASE, "cluster-autoscaler").inputs["values"]
    assert values["image"] == {"tag": f"v{version}.0"}
    assert values["autoDiscovery"] == {"clusterName": "k8s"}
    assert run.one(CLUSTER).inputs["version"] == version


# --- program wiring -------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_nodes_reach_the_database_and_the_kubeconfig_is_secret(stack: str) -> None:
    run = program_run(stack)
    rule = run.one(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "database-from-eks"
    ).inputs
    assert rule["referencedSecurityGroupId"] == f"sg-platform-{stack}-kubernetes-cluster"
    assert (rule["fromPort"], rule["toPort"]) == (5432, 5432)
    assert "kubeconfig" in run.secret_outputs
    assert run.outputs["kubernetesClusterName"] == f"platform-{stack}-kubernetes"


def test_a_stack_without_kubernetes_has_no_cluster() -> None:
    run = program_run("dev", overrides={"platform:kubernetes": json.dumps({"enabled": False})})
    assert not run.of_type(CLUSTER)
    assert "kubeconfig" not in run.outputs


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "section, stack, message",
    [
        (
            {"nodeGroups": {"general": {"minSize": 5, "desiredSize": 5, "maxSize": 3}}},
            "prod",
            "platform:kubernetes.nodeGroups.general: desiredSize (5) is greater than maxSize (3)",
        ),
        (
            {"version": "1.29"},
            "prod",
            "platform:kubernetes.version = '1.29': 1.29 is not one of 1.34, 1.35, 1.36",
        ),
        (
            {"endpointPublicAccess": True, "publicAccessCidrs": ["10.0.0.0/33"]},
            "dev",
            "'10.0.0.0/33' is not an IPv4 CIDR block",
        ),
        (
            {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]},
            "prod",
            "platform:kubernetes.publicAccessCidrs: 0.0.0.0/0 opens the cluster API to the whole "
            "internet",
        ),
        (
            {"endpointPublicAccess": True},
            "prod",
            "endpointPublicAccess is true but publicAccessCidrs is empty",
        ),
        (
            {"publicAccessCidrs": ["198.51.100.0/24"]},
            "prod",
            "publicAccessCidrs is set but endpointPublicAccess is false",
        ),
        (
            {"nodeGroups": {"general": {"instanceTypes": ["m7g.large", "m7i.large"]}}},
            "prod",
            "instanceTypes mix ARM (Graviton) and x86 types",
        ),
        ({"nodeGroups": {"General_1": {}}}, "prod", "nodeGroups: names must be lower-case"),
        ({"adminRoleArns": ["platform-admins"]}, "prod", "not IAM role ARNs: platform-admins"),
        (
            {"apiAccessCidrs": {"vpn": "0.0.0.0/0"}},
            "prod",
            "platform:kubernetes.apiAccessCidrs.vpn = '0.0.0.0/0': admits every address",
        ),
        (
            {"apiAccessCidrs": {"office": "52.94.0.0/16"}},
            "prod",
            "platform:kubernetes.apiAccessCidrs.office = '52.94.0.0/16': not a private range",
        ),
        (
            {"apiAccessCidrs": {"vpn": "10.99.0.1/16"}},
            "prod",
            "platform:kubernetes.apiAccessCidrs.vpn = '10.99.0.1/16': not an IPv4 CIDR block",
        ),
        (
            {"apiAccessSecurityGroups": {"runner": "runner-sg"}},
            "prod",
            "platform:kubernetes.apiAccessSecurityGroups.runner = 'runner-sg': not a security "
            "group ID",
        ),
        (
            {"apiAccessSecurityGroups": {"CI_Runner": RUNNER_SG}},
            "prod",
            "'CI_Runner': names are lower-case letters, digits and '-'",
        ),
    ],
)
def test_bad_kubernetes_settings_fail_before_anything_is_registered(
    section: dict[str, Any], stack: str, message: str
) -> None:
    with pytest.raises(ProgramError) as failure:
        run_stack(stack, overrides={"platform:kubernetes": json.dumps(section)})
    assert message in str(failure.value)
    assert f"stack {stack!r}" in str(failure.value)
    assert failure.value.run.resources == []


def test_an_open_public_endpoint_is_allowed_only_where_nothing_is_protected() -> None:
    section = {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}
    run = run_stack("dev", overrides={"platform:kubernetes": json.dumps(section)})
    assert run.one(CLUSTER).inputs["publicAccessCidrs"] == ["0.0.0.0/0"]
