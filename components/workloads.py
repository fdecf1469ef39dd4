"""EKS workloads: a namespace with a quota and a limit range for each, and per workload a service
account whose IRSA role holds exactly the AWS access its settings list."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.common import StackContext, Statement, allow, role
from components.kubernetes import ServiceAccount, irsa_trust
from components.settings import (
    BucketAccess,
    KubernetesSettings,
    NamespaceSettings,
    PipelineBucket,
    WorkloadSettings,
)
from components.tagging import component_tags

COMPONENT = "kubernetes"
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
# Pod Security Admission: refuse privileged pods, warn on what "restricted" would refuse
# (Kubernetes docs, "Pod Security Standards" and "Enforce Pod Security Standards with Namespace
# Labels").
POD_SECURITY_LABELS = {
    "pod-security.kubernetes.io/enforce": "baseline",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}


@dataclass(frozen=True, kw_only=True)
class PipelineTargets:
    """What a workload may reach of the pipeline: its buckets, their key, its state machine."""

    uploads_bucket: pulumi.Input[str]
    results_bucket: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    state_machine_arn: pulumi.Input[str]


@dataclass(frozen=True, kw_only=True)
class WorkloadsArgs:
    """settings: the `kubernetes` section (its `workloads`, `namespaces`, `namespaceDefaults`).
    provider: the cluster's Kubernetes provider. oidc_provider_arn / oidc_issuer: the cluster's
    IRSA identity provider. pipeline: the pipeline, when it exists (settings refuse workloads that
    reach it otherwise)."""

    settings: KubernetesSettings
    ctx: StackContext
    provider: k8s.Provider
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    pipeline: PipelineTargets | None = None


def bucket_statements(
    ctx: StackContext, access: BucketAccess, bucket: pulumi.Input[str]
) -> list[Statement]:
    """List and read (and with `write`, put and delete) under one prefix of one bucket. The
    s3:prefix condition limits ListBucket to the prefix (Amazon S3 User Guide, "Bucket policy
    examples using condition keys": s3:prefix)."""
    bucket_arn = pulumi.Output.concat(f"arn:{ctx.partition}:s3:::", bucket)
    objects = pulumi.Output.concat(bucket_arn, "/", access.prefix, "*")
    actions = ["s3:GetObject"]
    if access.write:
        actions += ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    return [
        allow(
            ["s3:ListBucket"],
            [bucket_arn],
            Condition={"StringLike": {"s3:prefix": [f"{access.prefix}*"]}},
        ),
        allow(actions, [objects]),
    ]


def secret_arn(ctx: StackContext, name: str) -> str:
    """A secret of this account and region by name: Secrets Manager appends '-' and six random
    characters to a secret's ARN, which '-??????' matches and nothing longer (AWS Secrets Manager
    User Guide, "Permissions policy examples": "?????? matches the 6 random characters")."""
    return ctx.arn("secretsmanager", f"secret:{name}-??????")


def workload_statements(
    ctx: StackContext, workload: WorkloadSettings, pipeline: PipelineTargets | None
) -> list[Statement]:
    """Exactly the access the workload's settings list; nothing when they list nothing."""
    statements: list[Statement] = []
    if pipeline is not None:
        buckets = {
            PipelineBucket.UPLOADS: pipeline.uploads_bucket,
            PipelineBucket.RESULTS: pipeline.results_bucket,
        }
        for access in workload.s3:
            statements += bucket_statements(ctx, access, buckets[access.bucket])
        if workload.s3:
            # Both pipeline buckets are encrypted with the pipeline's key (SSE-KMS): reads
            # decrypt, writes generate data keys.
            writes = any(access.write for access in workload.s3)
            key_actions = ["kms:Decrypt", *(["kms:GenerateDataKey"] if writes else [])]
            statements.append(allow(key_actions, [pipeline.key_arn]))
        if workload.start_pipeline:
            statements.append(allow(["states:StartExecution"], [pipeline.state_machine_arn]))
    if workload.secrets:
        statements.append(
            allow(
                ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                [secret_arn(ctx, name) for name in workload.secrets],
            )
        )
    return statements


class Workloads(pulumi.ComponentResource):
    """Namespaces (quota, limit range, Pod Security labels) and, per workload, an IRSA role
    trusting exactly its service account, and that service account annotated with the role."""

    role_arns: dict[str, pulumi.Output[str]]
    role_names: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: WorkloadsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:kubernetes:Workloads", name, None, opts)
        self._name, self._args = name, args
        self._tags = component_tags(COMPONENT)
        settings = args.settings
        in_cluster = pulumi.ResourceOptions(parent=self, provider=args.provider)
        namespaces = {
            namespace: self._namespace(
                namespace,
                settings.namespaces.get(namespace, settings.namespace_defaults),
                in_cluster,
            )
            for namespace in sorted({w.namespace for w in settings.workloads.values()})
        }
        roles = {
            workload_name: self._workload(
                workload_name, workload, namespaces[workload.namespace], in_cluster
            )
            for workload_name, workload in settings.workloads.items()
        }
        self.role_arns = {n: r.arn for n, r in roles.items()}
        self.role_names = {n: r.name for n, r in roles.items()}
        self.register_outputs({"roleArns": self.role_arns, "roleNames": self.role_names})

    def workload_role_name(self, workload: str) -> pulumi.Output[str]:
        """The IRSA role of one workload, for grants made elsewhere (database connect)."""
        return self.role_names[workload]

    def _namespace(
        self, namespace: str, limits: NamespaceSettings, in_cluster: pulumi.ResourceOptions
    ) -> k8s.core.v1.Namespace:
        prefix = f"{self._name}-namespace-{namespace}"
        created = k8s.core.v1.Namespace(
            prefix,
            # Named, not auto-named: the Kubernetes provider would append a random suffix.
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=namespace,
                labels={"app.kubernetes.io/managed-by": "pulumi", **POD_SECURITY_LABELS},
            ),
            opts=in_cluster,
        )
        inside = pulumi.ResourceOptions.merge(
            in_cluster, pulumi.ResourceOptions(depends_on=[created])
        )
        k8s.core.v1.ResourceQuota(
            f"{prefix}-quota",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="workload-quota", namespace=namespace),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(
                hard={
                    "requests.cpu": limits.requests_cpu,
                    "requests.memory": limits.requests_memory,
                    "limits.cpu": limits.limits_cpu,
                    "limits.memory": limits.limits_memory,
                    "pods": str(limits.pods),
                    "services.loadbalancers": str(limits.services_load_balancers),
                }
            ),
            opts=inside,
        )
        # With a CPU/memory quota, a pod that names no requests or limits is refused; the limit
        # range fills them in (Kubernetes docs, "Resource Quotas": "Compute Resource Quota").
        k8s.core.v1.LimitRange(
            f"{prefix}-limits",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="workload-limits", namespace=namespace),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default_request={
                            "cpu": limits.default_request_cpu,
                            "memory": limits.default_request_memory,
                        },
                        default={
                            "cpu": limits.default_limit_cpu,
                            "memory": limits.default_limit_memory,
                        },
                    )
                ]
            ),
            opts=inside,
        )
        return created

    def _workload(
        self,
        workload_name: str,
        workload: WorkloadSettings,
        namespace: k8s.core.v1.Namespace,
        in_cluster: pulumi.ResourceOptions,
    ) -> aws.iam.Role:
        args = self._args
        account = ServiceAccount(workload.namespace, workload.service_account)
        irsa = role(
            f"{self._name}-{workload_name}",
            description=f"IRSA: {account.subject} (workload {workload_name})",
            trust=irsa_trust(args.oidc_provider_arn, args.oidc_issuer, account),
            statements=workload_statements(args.ctx, workload, args.pipeline),
            parent=self,
            tags=self._tags,
        )
        k8s.core.v1.ServiceAccount(
            f"{self._name}-{workload_name}-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=workload.service_account,
                namespace=workload.namespace,
                annotations={ROLE_ANNOTATION: irsa.arn},
                labels={"app.kubernetes.io/managed-by": "pulumi"},
            ),
            opts=pulumi.ResourceOptions.merge(
                in_cluster, pulumi.ResourceOptions(depends_on=[namespace])
            ),
        )
        return irsa
