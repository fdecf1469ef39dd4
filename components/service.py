"""Service: the Fargate services of a stack behind one ALB, with the cluster, WAF and certificate
they share. Each service is an `EcsService` (components/ecs_service.py); this component owns the
load balancer, so it also owns each service's target group and listener rule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.common import (
    StackContext,
    alb_log_writes,
    bucket_policy,
    dns_certificate,
    expiry_rule,
    fitted,
    kms_key,
    log_group,
    logs_key_statement,
    private_bucket,
    tcp_rule,
    web_acl,
)
from components.ecs_service import (
    CAPACITY_STRATEGY,
    EcsService,
    EcsServiceArgs,
    SharedPlatform,
    UploadsAccess,
    Wiring,
)
from components.naming import Limit, child
from components.network import Network
from components.release import ServiceImages
from components.settings import (
    LEGACY_SERVICE,
    Capacity,
    EcsServiceSettings,
    ServiceSettings,
)
from components.tagging import component_tags

COMPONENT = "service"
CLOUDFRONT_ORIGIN_FACING = "com.amazonaws.global.cloudfront.origin-facing"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.3 and 1.2 only

__all__ = ["TLS_POLICY", "Service", "ServiceArgs", "UploadsAccess", "Wiring"]


@dataclass(frozen=True, kw_only=True)
class ServiceArgs:
    """settings: the `service` section (what the services share). services: the services by
    name (`StackConfig.ecs_services()`); none given, the section's own `app`. network: where they
    run. wiring: what every service gets from other components; service_wiring: what only one
    service gets, by its name, added to it. images: the digests each service and its migration
    run, by name (none: the configured `image`)."""

    settings: ServiceSettings
    ctx: StackContext
    network: Network
    services: Mapping[str, EcsServiceSettings] | None = None
    wiring: Wiring = field(default_factory=Wiring)
    service_wiring: Mapping[str, Wiring] = field(default_factory=dict)
    images: Mapping[str, ServiceImages] = field(default_factory=dict)


class Service(pulumi.ComponentResource):
    """KMS key, ECS cluster, ALB with listeners, a target group and rule per service, WAF, and
    one `EcsService` per service."""

    url: pulumi.Output[str]
    alb_dns_name: pulumi.Output[str]
    alb_arn: pulumi.Output[str]
    alb_arn_suffix: pulumi.Output[str]
    cluster_name: pulumi.Output[str]
    alb_security_group_id: pulumi.Output[str]
    services: dict[str, EcsService]

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:service:Service", name, None, opts)
        self._name, self._args = name, args
        self._settings, self._ctx = args.settings, args.ctx
        self._services = dict(
            args.services if args.services is not None else {LEGACY_SERVICE: args.settings.as_app()}
        )
        self._tags = component_tags(COMPONENT)
        self._child = pulumi.ResourceOptions(parent=self)

        self._key = kms_key(
            f"{name}-key",
            ctx=self._ctx,
            description=f"{name}: image repository and logs",
            statements=[logs_key_statement(self._ctx)],
            parent=self,
            tags=self._tags,
        )
        # ECS Exec sessions (commands and their output) are an audit trail: their own group.
        exec_group = log_group(
            f"{name}-exec-logs",
            path=f"/{self._ctx.project}/{self._ctx.stack}/{COMPONENT}/exec",
            ctx=self._ctx,
            key=self._key,
            parent=self,
            tags=self._tags,
        )
        cluster, capacity = self._cluster(exec_group)
        alb_sg = self._alb_security_group()
        alb = self._load_balancer(alb_sg)
        target_groups = {
            service: self._target_group(service, settings)
            for service, settings in sorted(self._services.items())
        }
        serving, listeners = self._listeners(alb, self._default_group(target_groups))
        routes = self._rules(serving, target_groups)
        shared = SharedPlatform(
            cluster=cluster,
            capacity=capacity,
            alb=alb,
            alb_security_group=alb_sg,
            key=self._key,
            exec_group=exec_group,
        )
        self.services = {
            service: EcsService(
                f"{name}-{service}",
                EcsServiceArgs(
                    settings=settings,
                    ctx=self._ctx,
                    network=args.network,
                    shared=shared,
                    target_group=target_groups[service],
                    routes=routes.get(service, listeners),
                    prefix=self._prefix(service),
                    log_path=self._log_path(service),
                    wiring=args.wiring.plus(args.service_wiring.get(service)),
                    moved_from=self if service == LEGACY_SERVICE else None,
                    images=args.images.get(service, ServiceImages()),
                ),
                opts=self._child,
            )
            for service, settings in sorted(self._services.items())
        }
        if self._settings.waf:
            acl = web_acl(
                f"{name}-waf",
                scope="REGIONAL",
                rate_limit=self._settings.waf_rate_limit,
                ctx=self._ctx,
                parent=self,
                tags=self._tags,
                log_key=self._key,
            )
            aws.wafv2.WebAclAssociation(
                f"{name}-waf-alb", resource_arn=alb.arn, web_acl_arn=acl.arn, opts=self._child
            )

        self.alb_dns_name = alb.dns_name
        self.alb_arn = alb.arn
        self.alb_arn_suffix = alb.arn_suffix
        self.cluster_name = cluster.name
        self.alb_security_group_id = alb_sg.id
        domain = self._settings.domain_name
        self.url = (
            pulumi.Output.from_input(f"https://{domain}")
            if domain
            else alb.dns_name.apply(lambda dns: f"http://{dns}")
        )
        self.register_outputs(
            {
                "url": self.url,
                "albDnsName": self.alb_dns_name,
                "albArnSuffix": self.alb_arn_suffix,
                "clusterName": self.cluster_name,
                "albSecurityGroupId": self.alb_security_group_id,
                "services": {service: ecs.service_name for service, ecs in self.services.items()},
            }
        )

    # --- names ------------------------------------------------------------------------------------

    def _prefix(self, service: str) -> str:
        """The logical-name prefix of a service's resources: today's single service, `app`,
        keeps the names it had before there were several."""
        return self._name if service == LEGACY_SERVICE else child(self._name, service)

    def _log_path(self, service: str) -> str:
        base = f"/{self._ctx.project}/{self._ctx.stack}"
        return f"{base}/{COMPONENT}" if service == LEGACY_SERVICE else f"{base}/services/{service}"

    def _default_capacity(self) -> Capacity:
        """The cluster's default strategy, for tasks started by hand: the default service's
        capacity, else the first service's by name (each service and job sets its own)."""
        default = [s for _, s in sorted(self._services.items()) if s.default]
        first = [*default, *(s for _, s in sorted(self._services.items()))]
        return first[0].capacity if first else Capacity.ON_DEMAND

    # --- cluster ----------------------------------------------------------------------------------

    def _cluster(
        self, exec_group: aws.cloudwatch.LogGroup
    ) -> tuple[aws.ecs.Cluster, aws.ecs.ClusterCapacityProviders]:
        # OVERRIDE sends each ECS Exec session's output to the named log group; DEFAULT would
        # leave it to the awslogs driver, i.e. nowhere for a read-only Fargate task (ECS Developer
        # Guide, ecs-exec.html, "Logging and Auditing using ECS Exec").
        cluster = aws.ecs.Cluster(
            f"{self._name}-cluster",
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            configuration=aws.ecs.ClusterConfigurationArgs(
                execute_command_configuration=aws.ecs.ClusterConfigurationExecuteCommandConfigurationArgs(
                    kms_key_id=self._key.arn,
                    logging="OVERRIDE",
                    log_configuration=aws.ecs.ClusterConfigurationExecuteCommandConfigurationLogConfigurationArgs(
                        cloud_watch_log_group_name=exec_group.name,
                        cloud_watch_encryption_enabled=True,
                    ),
                )
            ),
            tags=self._tags,
            opts=self._child,
        )
        capacity = aws.ecs.ClusterCapacityProviders(
            f"{self._name}-capacity",
            cluster_name=cluster.name,
            capacity_providers=["FARGATE", "FARGATE_SPOT"],
            default_capacity_provider_strategies=[
                aws.ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs(
                    capacity_provider=provider, base=base, weight=weight
                )
                for provider, base, weight in CAPACITY_STRATEGY[self._default_capacity()]
            ],
            opts=self._child,
        )
        return cluster, capacity

    # --- network ----------------------------------------------------------------------------------

    def _alb_security_group(self) -> aws.ec2.SecurityGroup:
        alb_sg = aws.ec2.SecurityGroup(
            f"{self._name}-alb-sg",
            description="Load balancer: HTTP and HTTPS from the internet",
            vpc_id=self._args.network.vpc_id,
            tags={**self._tags, "Name": f"{self._name}-alb"},
            opts=self._child,
        )
        if self._settings.origin_only:
            self._admit_cloudfront_only(alb_sg)
            return alb_sg
        for listener_port in (80, 443):
            for family, cidr in (("ipv4", "0.0.0.0/0"), ("ipv6", "::/0")):
                tcp_rule(
                    f"{self._name}-alb-in-{listener_port}-{family}",
                    direction="in",
                    group_id=alb_sg.id,
                    ports=(listener_port, listener_port),
                    description=f"Port {listener_port} from the internet ({family})",
                    cidr_ipv4=cidr if family == "ipv4" else None,
                    cidr_ipv6=cidr if family == "ipv6" else None,
                    parent=self,
                    tags=self._tags,
                )
        return alb_sg

    def _admit_cloudfront_only(self, alb_sg: aws.ec2.SecurityGroup) -> None:
        # The prefix list counts as one rule per entry (about 55) against the group's quota of
        # 60, so it is admitted on the one port CloudFront uses to reach the origin.
        port = 443 if self._settings.domain_name else 80
        cloudfront = aws.ec2.get_managed_prefix_list(
            name=CLOUDFRONT_ORIGIN_FACING, opts=pulumi.InvokeOptions(parent=self)
        )
        tcp_rule(
            f"{self._name}-alb-in-{port}-cloudfront",
            direction="in",
            group_id=alb_sg.id,
            ports=(port, port),
            description=f"Port {port} from CloudFront's origin-facing servers only",
            prefix_list_id=cloudfront.id,
            parent=self,
            tags=self._tags,
        )

    # --- load balancer ----------------------------------------------------------------------------

    def _load_balancer(self, alb_sg: aws.ec2.SecurityGroup) -> aws.lb.LoadBalancer:
        logs, log_policy = self._access_log_bucket()
        return aws.lb.LoadBalancer(
            f"{self._name}-alb",
            name=child(self._name, "alb", limit=Limit.ALB),
            load_balancer_type="application",
            internal=False,
            subnets=self._args.network.public_subnet_ids,
            security_groups=[alb_sg.id],
            drop_invalid_header_fields=True,
            enable_deletion_protection=self._ctx.protect_data,
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(
                bucket=logs.bucket, prefix="alb", enabled=True
            ),
            tags=self._tags,
            # ALB checks at creation that it may write its logs, so the policy must exist first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_policy]),
        )

    def _target_group(self, service: str, settings: EcsServiceSettings) -> aws.lb.TargetGroup:
        # Auto-named from the logical name: a target group name has at most 32 characters.
        tg_name, tg_opts = fitted(f"{self._prefix(service)}-tg", Limit.TARGET_GROUP, self._child)
        return aws.lb.TargetGroup(
            tg_name,
            target_type="ip",
            port=settings.container_port,
            protocol="HTTP",
            vpc_id=self._args.network.vpc_id,
            deregistration_delay=settings.deregistration_delay,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                path=settings.health_check_path,
                matcher="200-399",
                interval=15,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            tags=self._tags,
            opts=tg_opts,
        )

    def _default_group(
        self, target_groups: Mapping[str, aws.lb.TargetGroup]
    ) -> aws.lb.TargetGroup | None:
        return next((target_groups[name] for name, s in self._services.items() if s.default), None)

    def _access_log_bucket(self) -> tuple[aws.s3.Bucket, aws.s3.BucketPolicy]:
        # ALB log delivery cannot write with a customer KMS key: SSE-S3 is the only option.
        bucket = private_bucket(
            f"{self._name}-alb-logs",
            ctx=self._ctx,
            parent=self,
            tags=self._tags,
            key=None,
            versioned=False,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{self._name}-alb-logs-lifecycle",
            bucket=bucket.id,
            rules=[expiry_rule("expire-access-logs", current_days=self._ctx.log_retention_days)],
            opts=self._child,
        )
        elb_account = aws.elb.get_service_account(opts=pulumi.InvokeOptions(parent=self))
        objects = bucket.arn.apply(lambda arn: f"{arn}/alb/AWSLogs/{self._ctx.account_id}/*")
        policy = bucket_policy(
            f"{self._name}-alb-logs-policy",
            bucket=bucket,
            statements=alb_log_writes(elb_account.arn, objects),
            parent=self,
        )
        return bucket, policy

    def _listeners(
        self, alb: aws.lb.LoadBalancer, default_group: aws.lb.TargetGroup | None
    ) -> tuple[aws.lb.Listener, list[aws.lb.Listener]]:
        """The listener that serves (HTTPS with a domain, else HTTP) and every listener. What
        no rule matches goes to the default service, or gets a 404 when there is none."""
        fallback = (
            aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=default_group.arn)
            if default_group
            else aws.lb.ListenerDefaultActionArgs(
                type="fixed-response",
                fixed_response=aws.lb.ListenerDefaultActionFixedResponseArgs(
                    content_type="text/plain", status_code="404", message_body="Not found"
                ),
            )
        )
        domain, zone = self._settings.domain_name, self._settings.hosted_zone_id
        if not (domain and zone):
            http = aws.lb.Listener(
                f"{self._name}-http",
                load_balancer_arn=alb.arn,
                port=80,
                protocol="HTTP",
                default_actions=[fallback],
                tags=self._tags,
                opts=self._child,
            )
            return http, [http]
        certificate = dns_certificate(
            self._name, domain=domain, zone_id=zone, parent=self, tags=self._tags
        )
        https = aws.lb.Listener(
            f"{self._name}-https",
            load_balancer_arn=alb.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=certificate.certificate_arn,
            default_actions=[fallback],
            tags=self._tags,
            opts=self._child,
        )
        redirect = aws.lb.Listener(
            f"{self._name}-http",
            load_balancer_arn=alb.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="redirect",
                    redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                        protocol="HTTPS", port="443", status_code="HTTP_301"
                    ),
                )
            ],
            tags=self._tags,
            opts=self._child,
        )
        aws.route53.Record(
            f"{self._name}-alias",
            zone_id=zone,
            name=domain,
            type="A",
            aliases=[
                aws.route53.RecordAliasArgs(
                    name=alb.dns_name, zone_id=alb.zone_id, evaluate_target_health=True
                )
            ],
            opts=self._child,
        )
        return https, [https, redirect]

    def _rules(
        self, serving: aws.lb.Listener, target_groups: Mapping[str, aws.lb.TargetGroup]
    ) -> dict[str, list[pulumi.Resource]]:
        """One rule on the serving listener per routed service (HTTP redirects everything to
        HTTPS when there is a domain, so it needs none): its hosts and paths, one condition
        each, both required."""
        rules: dict[str, list[pulumi.Resource]] = {}
        for service, settings in sorted(self._services.items()):
            if settings.priority is None:
                continue
            conditions: list[aws.lb.ListenerRuleConditionArgs] = []
            if settings.host_patterns:
                conditions.append(
                    aws.lb.ListenerRuleConditionArgs(
                        host_header=aws.lb.ListenerRuleConditionHostHeaderArgs(
                            values=list(settings.host_patterns)
                        )
                    )
                )
            if settings.path_patterns:
                conditions.append(
                    aws.lb.ListenerRuleConditionArgs(
                        path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(
                            values=list(settings.path_patterns)
                        )
                    )
                )
            rule = aws.lb.ListenerRule(
                f"{self._prefix(service)}-rule",
                listener_arn=serving.arn,
                priority=settings.priority,
                actions=[
                    aws.lb.ListenerRuleActionArgs(
                        type="forward", target_group_arn=target_groups[service].arn
                    )
                ],
                conditions=conditions,
                tags=self._tags,
                opts=self._child,
            )
            rules[service] = [rule]
        return rules
