"""Ingress classes of the AWS Load Balancer Controller whose ALBs are protected by default:
TLS policy, access logs and invalid-header dropping set by `IngressClassParams` (which the
controller applies over any Ingress annotation), and on internet-facing ALBs the regional WAF,
required by an admission policy.

What IngressClassParams can enforce (aws-load-balancer-controller v2.13, docs/guide/ingress/
ingress_class.md and apis/elbv2/v1beta1/ingressclassparams_types.go): namespaceSelector, group,
scheme, inboundCIDRs, certificateArn, sslPolicy, subnets, ipAddressType, tags,
loadBalancerAttributes. It has no WAF field: the controller takes a web ACL only from each
Ingress's `alb.ingress.kubernetes.io/wafv2-acl-arn` annotation, and when no Ingress names one it
leaves the ALB without any. The closest enforceable control is admission: a
ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1, GA since Kubernetes 1.30) refuses an
Ingress of the internet-facing class that does not name this cluster's web ACL."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.common import (
    StackContext,
    alb_log_writes,
    bucket_policy,
    expiry_rule,
    private_bucket,
    web_acl,
)
from components.settings import KubernetesSettings
from components.tagging import component_tags

COMPONENT = "kubernetes"
CONTROLLER = "ingress.k8s.aws/alb"
PARAMS_API = "elbv2.k8s.aws/v1beta1"
WAF_ANNOTATION = "alb.ingress.kubernetes.io/wafv2-acl-arn"
# TLS 1.3 and 1.2 only, as the ECS service's listeners.
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
INTERNET_FACING = "alb-internet-facing"
INTERNAL = "alb-internal"
SCHEMES = {INTERNET_FACING: "internet-facing", INTERNAL: "internal"}


@dataclass(frozen=True, kw_only=True)
class IngressClassesArgs:
    """settings: the `kubernetes` section (`waf`, `wafRateLimit`). provider: the cluster's
    Kubernetes provider. after: the load balancer controller's release, which installs the
    IngressClassParams CRD."""

    settings: KubernetesSettings
    ctx: StackContext
    provider: k8s.Provider
    after: list[pulumi.Resource]


def params_spec(scheme: str, log_bucket: str, prefix: str) -> dict[str, object]:
    """What every ALB of one class gets, whatever its Ingress annotations say."""
    return {
        "scheme": scheme,
        "ipAddressType": "ipv4",
        "sslPolicy": TLS_POLICY,
        # ALB attribute names: Elastic Load Balancing User Guide, "Load balancer attributes".
        "loadBalancerAttributes": [
            {"key": "access_logs.s3.enabled", "value": "true"},
            {"key": "access_logs.s3.bucket", "value": log_bucket},
            {"key": "access_logs.s3.prefix", "value": prefix},
            {"key": "routing.http.drop_invalid_header_fields.enabled", "value": "true"},
        ],
    }


def waf_required_expression(acl_arn: str) -> str:
    """CEL: the Ingress names exactly this web ACL in the controller's annotation."""
    annotation = json.dumps(WAF_ANNOTATION)
    return (
        f"has(object.metadata.annotations) && {annotation} in object.metadata.annotations && "
        f"object.metadata.annotations[{annotation}] == {json.dumps(acl_arn)}"
    )


class IngressClasses(pulumi.ComponentResource):
    """`alb-internet-facing` and `alb-internal` classes, their access-log bucket, and (with
    `waf`) the regional web ACL every internet-facing Ingress must name."""

    log_bucket: pulumi.Output[str]
    web_acl_arn: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: IngressClassesArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("platform:kubernetes:IngressClasses", name, None, opts)
        self._name, self._ctx = name, args.ctx
        self._tags = component_tags(COMPONENT)
        logs, log_policy = self._access_log_bucket()
        in_cluster = pulumi.ResourceOptions(
            parent=self, provider=args.provider, depends_on=[*args.after, log_policy]
        )
        for class_name, scheme in SCHEMES.items():
            params = k8s.apiextensions.CustomResource(
                f"{name}-{class_name}-params",
                api_version=PARAMS_API,
                kind="IngressClassParams",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=class_name),
                spec=logs.bucket.apply(
                    lambda bucket, s=scheme, c=class_name: params_spec(s, bucket, c)
                ),
                opts=in_cluster,
            )
            k8s.networking.v1.IngressClass(
                f"{name}-{class_name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=class_name),
                spec=k8s.networking.v1.IngressClassSpecArgs(
                    controller=CONTROLLER,
                    parameters=k8s.networking.v1.IngressClassParametersReferenceArgs(
                        api_group="elbv2.k8s.aws", kind="IngressClassParams", name=class_name
                    ),
                ),
                opts=pulumi.ResourceOptions.merge(
                    in_cluster, pulumi.ResourceOptions(depends_on=[params])
                ),
            )
        self.web_acl_arn = None
        if args.settings.waf:
            acl = web_acl(
                f"{name}-waf",
                scope="REGIONAL",
                rate_limit=args.settings.waf_rate_limit,
                ctx=args.ctx,
                parent=self,
                tags=self._tags,
            )
            self._require_waf(acl.arn, in_cluster)
            self.web_acl_arn = acl.arn
        self.log_bucket = logs.bucket
        self.register_outputs({"logBucket": self.log_bucket, "webAclArn": self.web_acl_arn})

    def _require_waf(self, acl_arn: pulumi.Output[str], in_cluster: pulumi.ResourceOptions) -> None:
        policy_name = "platform-internet-facing-ingress-waf"
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{self._name}-waf-policy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=policy_name),
            spec=k8s.admissionregistration.v1.ValidatingAdmissionPolicySpecArgs(
                failure_policy="Fail",
                match_constraints=k8s.admissionregistration.v1.MatchResourcesArgs(
                    resource_rules=[
                        k8s.admissionregistration.v1.NamedRuleWithOperationsArgs(
                            api_groups=["networking.k8s.io"],
                            api_versions=["v1"],
                            operations=["CREATE", "UPDATE"],
                            resources=["ingresses"],
                        )
                    ]
                ),
                match_conditions=[
                    k8s.admissionregistration.v1.MatchConditionArgs(
                        name="internet-facing-class",
                        expression=f"has(object.spec.ingressClassName) && "
                        f"object.spec.ingressClassName == {json.dumps(INTERNET_FACING)}",
                    )
                ],
                validations=[
                    k8s.admissionregistration.v1.ValidationArgs(
                        expression=acl_arn.apply(waf_required_expression),
                        message=acl_arn.apply(
                            lambda arn: (
                                f"Ingresses of class {INTERNET_FACING} must set the "
                                f"annotation {WAF_ANNOTATION}: {arn}"
                            )
                        ),
                    )
                ],
            ),
            opts=in_cluster,
        )
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{self._name}-waf-binding",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=policy_name),
            spec=k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpecArgs(
                policy_name=policy_name, validation_actions=["Deny"]
            ),
            opts=pulumi.ResourceOptions.merge(
                in_cluster, pulumi.ResourceOptions(depends_on=[policy])
            ),
        )

    def _access_log_bucket(self) -> tuple[aws.s3.Bucket, aws.s3.BucketPolicy]:
        # ALB log delivery cannot write with a customer KMS key: SSE-S3 is the only option
        # (Elastic Load Balancing User Guide, "Enable access logs": bucket requirements).
        name = f"{self._name}-alb-logs"
        bucket = private_bucket(
            name, ctx=self._ctx, parent=self, tags=self._tags, key=None, versioned=False
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[expiry_rule("expire-access-logs", current_days=self._ctx.log_retention_days)],
            opts=pulumi.ResourceOptions(parent=self),
        )
        elb_account = aws.elb.get_service_account(opts=pulumi.InvokeOptions(parent=self))
        # Each class logs under its own prefix: <prefix>/AWSLogs/<account>/...
        objects = [
            bucket.arn.apply(lambda arn, c=c: f"{arn}/{c}/AWSLogs/{self._ctx.account_id}/*")
            for c in SCHEMES
        ]
        policy = bucket_policy(
            f"{name}-policy",
            bucket=bucket,
            statements=alb_log_writes(elb_account.arn, objects),
            parent=self,
        )
        return bucket, policy
