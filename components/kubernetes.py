"""Kubernetes: an EKS cluster with managed node groups, add-ons, IRSA and in-cluster controllers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components.common import (
    StackContext,
    Statement,
    allow,
    attach_managed,
    instance_trust,
    kms_key,
    log_group,
    logs_key_statement,
    role,
)
from components.naming import child
from components.network import Network
from components.settings import CapacityType, KubernetesSettings, NodeGroupSettings
from components.tagging import component_tags

COMPONENT = "kubernetes"
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
CLUSTER_ADMIN_POLICY = "arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# get, list and watch on every resource, Secrets included (Amazon EKS User Guide, "Review access
# policy permissions"): what a refresh needs, since a Helm release's state is a Secret in its
# namespace, which AmazonEKSViewPolicy does not let a principal read.
CLUSTER_VIEW_POLICY = "arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy"

# Helm charts, pinned. The load balancer controller's IAM policy belongs to its release: upgrade
# the chart and data/aws-load-balancer-controller-<app version>.json together.
LOAD_BALANCER_CONTROLLER = ("aws-load-balancer-controller", "1.13.3", "v2.13.3")
LOAD_BALANCER_CONTROLLER_REPO = "https://aws.github.io/eks-charts"
CLUSTER_AUTOSCALER_CHART = "9.52.1"
CLUSTER_AUTOSCALER_REPO = "https://kubernetes.github.io/autoscaler"
POLICY_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class ServiceAccount:
    """A Kubernetes service account that assumes an IAM role through IRSA."""

    namespace: str
    name: str

    @property
    def subject(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"


# The service accounts our add-ons and controllers run as; each IRSA role trusts exactly one.
VPC_CNI = ServiceAccount("kube-system", "aws-node")
EBS_CSI = ServiceAccount("kube-system", "ebs-csi-controller-sa")
CLOUDWATCH = ServiceAccount("amazon-cloudwatch", "cloudwatch-agent")
LOAD_BALANCER = ServiceAccount("kube-system", "aws-load-balancer-controller")
AUTOSCALER = ServiceAccount("kube-system", "cluster-autoscaler")


@dataclass(frozen=True, kw_only=True)
class KubernetesArgs:
    """settings: the `kubernetes` section. network: the VPC; nodes live in its private subnets."""

    settings: KubernetesSettings
    ctx: StackContext
    network: Network


def irsa_trust(
    provider_arn: pulumi.Input[str], issuer: pulumi.Input[str], account: ServiceAccount
) -> pulumi.Output[str]:
    """Trust for one service account of this cluster's OIDC provider, and no other."""
    return pulumi.Output.all(provider_arn, issuer).apply(
        lambda values: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": values[0]},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {
                            "StringEquals": {
                                f"{values[1]}:sub": account.subject,
                                f"{values[1]}:aud": "sts.amazonaws.com",
                            }
                        },
                    }
                ],
            }
        )
    )


def load_balancer_controller_policy(ctx: StackContext) -> list[Statement]:
    """The controller's documented IAM policy, kept as data, in this stack's partition."""
    version = LOAD_BALANCER_CONTROLLER[2]
    text = (POLICY_DIR / f"aws-load-balancer-controller-{version}.json").read_text()
    document = json.loads(text.replace("arn:aws:", f"arn:{ctx.partition}:"))
    return document["Statement"]


def autoscaler_policy(ctx: StackContext, cluster_name: str) -> list[Statement]:
    """Read what it needs; resize and terminate only the Auto Scaling groups EKS tags as this
    cluster's node groups."""
    return [
        allow(
            [
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations",
                "autoscaling:DescribeScalingActivities",
                "autoscaling:DescribeTags",
                "ec2:DescribeImages",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:GetInstanceTypesFromInstanceRequirements",
            ],
            # These describe calls have no resource-level permissions.
            ["*"],
        ),
        allow(["eks:DescribeNodegroup"], [ctx.arn("eks", f"nodegroup/{cluster_name}/*/*")]),
        allow(
            ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
            ["*"],
            Condition={
                "StringEquals": {
                    f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"
                }
            },
        ),
    ]


class Kubernetes(pulumi.ComponentResource):
    """EKS cluster, node groups, add-ons, IRSA roles, load balancer controller and autoscaler."""

    cluster_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_provider_url: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    provider: k8s.Provider
    load_balancer_controller: k8s.helm.v3.Release
    node_role_arn: pulumi.Output[str]
    node_security_group_id: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]

    def __init__(self, name: str, args: KubernetesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:kubernetes:Kubernetes", name, None, opts)
        self._name, self._ctx, self._settings = name, args.ctx, args.settings
        self._tags = component_tags(COMPONENT)
        self._child = pulumi.ResourceOptions(parent=self)
        # Releases whose admission webhooks every later release must find serving.
        self._webhooks: list[pulumi.Resource] = []
        settings, ctx = args.settings, args.ctx
        physical_name = child(name)

        key = kms_key(
            f"{name}-key",
            ctx=ctx,
            description=f"{name}: Kubernetes secrets envelope encryption and control plane logs",
            statements=[logs_key_statement(ctx)],
            parent=self,
            tags=self._tags,
        )
        # EKS writes to /aws/eks/<cluster>/cluster; creating it first sets retention and KMS.
        logs = log_group(
            f"{name}-control-plane-logs",
            path=f"/aws/eks/{physical_name}/cluster",
            ctx=ctx,
            key=key,
            parent=self,
            tags=self._tags,
        )
        cluster = self._cluster(physical_name, args.network, key, logs)
        self._provider_arn, self._issuer = cluster.oidc_provider_arn, cluster.oidc_issuer
        eks_cluster_name = cluster.eks_cluster.apply(lambda created: created.name)

        networking = [
            self._addon("vpc-cni", eks_cluster_name, irsa=(VPC_CNI, "AmazonEKS_CNI_Policy")),
            self._addon("kube-proxy", eks_cluster_name),
            self._addon("eks-pod-identity-agent", eks_cluster_name),
        ]
        node_role, node_policies = self._node_role()
        node_groups = [
            self._node_group(
                group_name,
                group,
                cluster_name=eks_cluster_name,
                node_role=node_role,
                network=args.network,
                after=[*networking, *node_policies],
            )
            for group_name, group in settings.node_groups.items()
        ]
        # These run as pods: created once nodes can schedule them.
        coredns = self._addon("coredns", eks_cluster_name, after=node_groups)
        self._addon(
            "aws-ebs-csi-driver",
            eks_cluster_name,
            irsa=(EBS_CSI, "service-role/AmazonEBSCSIDriverPolicy"),
            after=node_groups,
        )
        # The Metrics API that HorizontalPodAutoscalers read: an EKS community add-on since
        # 2025-03-31 (Amazon EKS User Guide, "Community add-ons"), two replicas by default.
        self._addon("metrics-server", eks_cluster_name, after=node_groups)
        # Container Insights: node and cluster metrics for the observability alarms.
        self._addon(
            "amazon-cloudwatch-observability",
            eks_cluster_name,
            irsa=(CLOUDWATCH, "CloudWatchAgentServerPolicy"),
            after=node_groups,
        )
        api_access = self._api_access(cluster.cluster_security_group_id)
        # Whoever runs `pulumi up` reaches the API only once its access rules exist.
        kubernetes = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=cluster.kubeconfig_json,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*node_groups, coredns, *api_access]
            ),
        )
        # The controller's webhooks admit every later release's Services and pods: it goes first.
        controller = self._load_balancer_controller(physical_name, args.network, kubernetes)
        self._webhooks.append(controller)
        self._cluster_autoscaler(physical_name, kubernetes)

        self.cluster_name = eks_cluster_name
        self.endpoint = cluster.eks_cluster.apply(lambda created: created.endpoint)
        self.oidc_provider_arn = cluster.oidc_provider_arn
        self.oidc_provider_url = cluster.oidc_provider_url
        self.oidc_issuer = cluster.oidc_issuer
        self.provider = kubernetes
        self.load_balancer_controller = controller
        self.node_role_arn = node_role.arn
        # Managed nodes without their own security groups use the cluster security group.
        self.node_security_group_id = cluster.cluster_security_group_id
        self.kubeconfig = pulumi.Output.secret(cluster.kubeconfig_json)
        self.register_outputs(
            {
                "clusterName": self.cluster_name,
                "endpoint": self.endpoint,
                "oidcProviderArn": self.oidc_provider_arn,
                "oidcProviderUrl": self.oidc_provider_url,
                "oidcIssuer": self.oidc_issuer,
                "nodeRoleArn": self.node_role_arn,
                "nodeSecurityGroupId": self.node_security_group_id,
                "kubeconfig": self.kubeconfig,
            }
        )

    # --- control plane ----------------------------------------------------------------------------

    def _cluster(
        self,
        physical_name: str,
        network: Network,
        key: aws.kms.Key,
        logs: aws.cloudwatch.LogGroup,
    ) -> eks.Cluster:
        settings, ctx = self._settings, self._ctx
        policies = {
            "admin": CLUSTER_ADMIN_POLICY.format(partition=ctx.partition),
            "viewer": CLUSTER_VIEW_POLICY.format(partition=ctx.partition),
        }
        principals = [
            *(("admin", arn) for arn in settings.admin_role_arns),
            *(("viewer", arn) for arn in settings.viewer_role_arns),
        ]
        return eks.Cluster(
            f"{self._name}-cluster",
            name=physical_name,
            version=settings.version,
            vpc_id=network.vpc_id,
            private_subnet_ids=network.private_subnet_ids,
            public_subnet_ids=network.public_subnet_ids,
            node_associate_public_ip_address=False,
            endpoint_private_access=True,
            endpoint_public_access=settings.endpoint_public_access,
            public_access_cidrs=settings.public_access_cidrs or None,
            # Access entries only: no aws-auth ConfigMap to drift or lock everyone out.
            authentication_mode=eks.AuthenticationMode.API,
            # Keyed by kind and role name, so removing one principal never renames another's
            # entry. Viewers (the CI preview role) read everything, Secrets included, and change
            # nothing.
            access_entries={
                f"{kind}-{arn.split(':role/', 1)[1].replace('/', '-')}": eks.AccessEntryArgs(
                    principal_arn=arn,
                    access_policies={
                        f"cluster-{kind}": eks.AccessPolicyAssociationArgs(
                            policy_arn=policies[kind],
                            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(
                                type="cluster"
                            ),
                        )
                    },
                )
                for kind, arn in principals
            },
            enabled_cluster_log_types=list(LOG_TYPES),
            encryption_config_key_arn=key.arn,
            create_oidc_provider=True,
            # The AWS default is EXTENDED: a silent sixfold control plane price once the version
            # leaves standard support.
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            deletion_protection=ctx.protect_data,
            # Nodes come from our managed node groups; add-ons are EKS add-ons managed below.
            skip_default_node_group=True,
            skip_default_security_groups=True,
            bootstrap_self_managed_addons=False,
            use_default_vpc_cni=True,
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
            kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(enabled=False),
            tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self, protect=ctx.protect_data, depends_on=[logs]),
        )

    def _api_access(
        self, cluster_security_group_id: pulumi.Output[str]
    ) -> list[aws.vpc.SecurityGroupIngressRule]:
        """The deployer's way to the private endpoint: TCP 443 on the cluster security group,
        one rule per configured source, named by its key.

        EKS attaches its cluster security group (vpcConfig.clusterSecurityGroupId) to the
        network interfaces of the private endpoint and, with skipDefaultSecurityGroups, no other;
        by default it admits only itself. AWS: "You must ensure that your Amazon EKS control plane
        security group contains rules to allow ingress traffic on port 443 from your connected
        network" (docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html, private access;
        sec-group-reqs.html for the cluster security group)."""
        settings = self._settings
        # (rule name part, source security group, source CIDR): the key names the rule, so
        # adding or removing one source never touches another's.
        sources: list[tuple[str, str | None, str | None]] = [
            *(
                (f"sg-{key}", group, None)
                for key, group in settings.api_access_security_groups.items()
            ),
            *((f"cidr-{key}", None, cidr) for key, cidr in settings.api_access_cidrs.items()),
        ]
        return [
            aws.vpc.SecurityGroupIngressRule(
                f"{self._name}-api-{part}",
                security_group_id=cluster_security_group_id,
                description=f"Kubernetes API on the private endpoint from the deployer ({part})",
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                referenced_security_group_id=group,
                cidr_ipv4=cidr,
                tags=self._tags,
                opts=self._child,
            )
            for part, group, cidr in sources
        ]

    def _irsa_role(
        self, part: str, account: ServiceAccount, statements: list[Statement]
    ) -> aws.iam.Role:
        return role(
            f"{self._name}-{part}",
            description=f"IRSA: {account.subject} in {self._name}",
            trust=irsa_trust(self._provider_arn, self._issuer, account),
            statements=statements,
            parent=self,
            tags=self._tags,
        )

    def _addon(
        self,
        addon: str,
        cluster_name: pulumi.Output[str],
        *,
        irsa: tuple[ServiceAccount, str] | None = None,
        after: list[aws.eks.NodeGroup] | None = None,
    ) -> aws.eks.Addon:
        """An EKS add-on at the default build for the cluster's version. `irsa`, for one that
        calls AWS: the service account it runs as and the AWS managed policy its own role gets."""
        service_role = None
        waits: list[pulumi.Resource] = list(after or [])
        if irsa is not None:
            account, policy = irsa
            service_role = self._irsa_role(addon, account, [])
            # Created after, and deleted before, the policy its pods call AWS with.
            waits += [
                attach_managed(
                    f"{self._name}-{addon}-policy",
                    role=service_role,
                    policy=policy,
                    ctx=self._ctx,
                    parent=self,
                )
            ]
        version = aws.eks.get_addon_version(
            addon_name=addon,
            kubernetes_version=self._settings.version,
            most_recent=False,
            opts=pulumi.InvokeOptions(parent=self),
        )
        return aws.eks.Addon(
            f"{self._name}-{addon}",
            cluster_name=cluster_name,
            addon_name=addon,
            addon_version=version.version,
            service_account_role_arn=service_role.arn if service_role else None,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=waits),
        )

    # --- nodes ------------------------------------------------------------------------------------

    def _node_role(self) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
        """The node role and its policy attachments: node groups depend on both, so a destroy
        removes the instances before the policies they need to leave the cluster cleanly."""
        # Pods get AWS access from IRSA; the nodes' own role holds only what kubelet needs, and
        # trusts EC2 as AWS documents node roles (instance_trust: no aws:SourceAccount).
        node_role = role(
            f"{self._name}-nodes",
            description=f"{self._name}: managed node group instances",
            trust=[instance_trust()],
            statements=[],
            parent=self,
            tags=self._tags,
        )
        attachments = [
            attach_managed(
                f"{self._name}-nodes-{policy}",
                role=node_role,
                policy=policy,
                ctx=self._ctx,
                parent=self,
            )
            for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly")
        ]
        return node_role, attachments

    def _node_group(
        self,
        group_name: str,
        group: NodeGroupSettings,
        *,
        cluster_name: pulumi.Output[str],
        node_role: aws.iam.Role,
        network: Network,
        after: list[pulumi.Resource],
    ) -> aws.eks.NodeGroup:
        """`after`: the networking add-ons and the node role's policy attachments."""
        prefix = f"{self._name}-{group_name}"
        instance_tags = {**self._tags, "Name": prefix}
        template = aws.ec2.LaunchTemplate(
            f"{prefix}-template",
            description=f"{prefix}: IMDSv2 and an encrypted gp3 root volume",
            update_default_version=True,
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                # 2 (the EKS default) lets containers read instance metadata such as the region;
                # their AWS credentials come from IRSA.
                http_put_response_hop_limit=2,
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=group.disk_size_gib,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=instance_tags)
                for kind in ("instance", "volume")
            ],
            tags=self._tags,
            opts=self._child,
        )
        return aws.eks.NodeGroup(
            prefix,
            cluster_name=cluster_name,
            node_group_name_prefix=f"{group_name}-",
            node_role_arn=node_role.arn,
            subnet_ids=network.private_subnet_ids,
            version=self._settings.version,
            ami_type="AL2023_ARM_64_STANDARD" if group.arm else "AL2023_x86_64_STANDARD",
            instance_types=group.instance_types,
            capacity_type="SPOT" if group.capacity_type is CapacityType.SPOT else "ON_DEMAND",
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=group.min_size, desired_size=group.desired_size, max_size=group.max_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(
                max_unavailable_percentage=group.max_unavailable_percent
            ),
            node_repair_config=aws.eks.NodeGroupNodeRepairConfigArgs(enabled=True),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            labels={"platform/node-group": group_name, **group.labels},
            tags=self._tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=after,
                # The Cluster Autoscaler owns the node count once the group exists.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )

    # --- in-cluster controllers -------------------------------------------------------------------

    def _release(
        self,
        part: str,
        *,
        chart: str,
        version: str,
        repo: str,
        values: dict[str, Any],
        provider: k8s.Provider,
        after: list[pulumi.Resource],
    ) -> k8s.helm.v3.Release:
        """A pinned chart in kube-system. Every release after the load balancer controller's waits
        for it: its service mutator webhook (failurePolicy Fail) rejects a chart's Services while
        its pods are not ready ("no endpoints available for service
        aws-load-balancer-webhook-service", kubernetes-sigs/aws-load-balancer-controller#4140;
        installed one after the other "there is no issue", #3170)."""
        return k8s.helm.v3.Release(
            f"{self._name}-{part}",
            name=part,
            chart=chart,
            version=version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo),
            namespace="kube-system",
            values=values,
            # A failed install or upgrade rolls back instead of leaving a half-applied release.
            atomic=True,
            cleanup_on_fail=True,
            # Wait until the release's pods are ready (atomic implies it; stated, not inferred).
            # The controller is ready only once its webhook server runs (v2.13.3 main.go:
            # AddReadyzCheck("ready-webhook", ...StartedChecker()); chart readinessProbe /readyz),
            # so every release that waits for this one finds the webhook serving.
            skip_await=False,
            # Seconds for each Kubernetes operation, readiness included.
            timeout=600,
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, depends_on=[*self._webhooks, *after]
            ),
        )

    def _service_account_values(
        self, account: ServiceAccount, irsa: aws.iam.Role
    ) -> dict[str, Any]:
        return {
            "create": True,
            "name": account.name,
            "annotations": {"eks.amazonaws.com/role-arn": irsa.arn},
        }

    def _load_balancer_controller(
        self, cluster_name: str, network: Network, provider: k8s.Provider
    ) -> k8s.helm.v3.Release:
        irsa = self._irsa_role(
            "load-balancer-controller", LOAD_BALANCER, load_balancer_controller_policy(self._ctx)
        )
        chart, version, _ = LOAD_BALANCER_CONTROLLER
        return self._release(
            "aws-load-balancer-controller",
            chart=chart,
            version=version,
            repo=LOAD_BALANCER_CONTROLLER_REPO,
            values={
                "clusterName": cluster_name,
                # Given, so the controller never has to ask instance metadata.
                "region": self._ctx.region,
                "vpcId": network.vpc_id,
                "serviceAccount": self._service_account_values(LOAD_BALANCER, irsa),
                # Kept on, and pinned (chart 1.13.3's default): it sets loadBalancerClass
                # service.k8s.aws/nlb on new LoadBalancer Services, which the in-tree controller
                # would otherwise take (docs/guide/service/nlb.md, v2.13.3). The first-install
                # race it causes is closed by the release order (see _release).
                "enableServiceMutatorWebhook": True,
                # No chart-made `alb` class (it has no parameters: an Ingress naming it would get
                # an ALB without logs or WAF) and no legacy kubernetes.io/ingress.class
                # annotation: Ingresses reach the controller only through the classes of
                # components/ingress_classes.py (chart values, v2.13.3 helm README).
                "createIngressClassResource": False,
                "ingressClassParams": {"create": False},
                "disableIngressClassAnnotation": True,
            },
            provider=provider,
            after=[irsa],
        )

    def _cluster_autoscaler(self, cluster_name: str, provider: k8s.Provider) -> None:
        irsa = self._irsa_role(
            "cluster-autoscaler", AUTOSCALER, autoscaler_policy(self._ctx, cluster_name)
        )
        self._release(
            "cluster-autoscaler",
            chart="cluster-autoscaler",
            version=CLUSTER_AUTOSCALER_CHART,
            repo=CLUSTER_AUTOSCALER_REPO,
            values={
                "cloudProvider": "aws",
                "awsRegion": self._ctx.region,
                "autoDiscovery": {"clusterName": cluster_name},
                # The autoscaler's minor version must match the cluster's.
                "image": {"tag": f"v{self._settings.version}.0"},
                "rbac": {"serviceAccount": self._service_account_values(AUTOSCALER, irsa)},
                "extraArgs": {"balance-similar-node-groups": True, "expander": "least-waste"},
            },
            provider=provider,
            after=[irsa],
        )
