"""Service: an ECS Fargate service behind an ALB, with ECR, autoscaling, a cron task and WAF."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.common import (
    StackContext,
    Statement,
    allow,
    bucket_policy,
    dns_certificate,
    ecr_pull,
    expiry_rule,
    fitted,
    kms_key,
    log_group,
    logs_key_statement,
    private_bucket,
    role,
    service_trust,
    target_tracking,
    tcp_rule,
    web_acl,
)
from components.naming import Limit, child
from components.network import Network
from components.settings import Capacity, ScheduledTaskSettings, ServiceSettings
from components.tagging import component_tags

COMPONENT = "service"
CONTAINER = "app"
CLOUDFRONT_ORIGIN_FACING = "com.amazonaws.global.cloudfront.origin-facing"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.3 and 1.2 only

# ECS Exec's SSM agent writes under these paths; with a read-only root it crashes unless each is
# a writable volume (the workaround in aws/containers-roadmap#1359 and
# aws-containers/amazon-ecs-exec-checker#71; the ECS Exec guide's considerations say a read-only
# root is otherwise unsupported). Volume name -> container path.
EXEC_AGENT_VOLUMES = {
    "exec-managed-agents": "/managed-agents",
    "exec-ssm-lib": "/var/lib/amazon/ssm",
    "exec-ssm-log": "/var/log/amazon/ssm",
}

CAPACITY_STRATEGY: dict[Capacity, list[tuple[str, int, int]]] = {
    # (capacity provider, base, weight)
    Capacity.SPOT: [("FARGATE_SPOT", 0, 1)],
    Capacity.MIXED: [("FARGATE", 1, 1), ("FARGATE_SPOT", 0, 1)],
    Capacity.ON_DEMAND: [("FARGATE", 0, 1)],
}


@dataclass(frozen=True, kw_only=True)
class UploadsAccess:
    """The pipeline's uploads bucket as the API uses it: bucket name and ARN, the prefix the
    pipeline watches (the only one the tasks may touch), and the bucket's customer KMS key."""

    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    prefix: str
    key_arn: pulumi.Input[str]


@dataclass(frozen=True, kw_only=True)
class ServiceArgs:
    """settings: the `service` section. network: where it runs. The rest is wiring from other
    components: secrets injected by reference (name -> ARN[:json-key::]), the ARNs the execution
    role may read and the keys it may decrypt them with, the task role's own statements, and the
    uploads bucket (UPLOAD_S3_BUCKET and object access under its prefix) when there is one."""

    settings: ServiceSettings
    ctx: StackContext
    network: Network
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    readable_secret_arns: Sequence[pulumi.Input[str]] = ()
    decrypt_key_arns: Sequence[pulumi.Input[str]] = ()
    task_statements: Sequence[Statement] = ()
    uploads: UploadsAccess | None = None


class Service(pulumi.ComponentResource):
    """ECR repository, ECS cluster, Fargate service behind an ALB, autoscaling, cron task, WAF."""

    url: pulumi.Output[str]
    alb_dns_name: pulumi.Output[str]
    alb_arn: pulumi.Output[str]
    alb_arn_suffix: pulumi.Output[str]
    target_group_arn_suffix: pulumi.Output[str]
    cluster_name: pulumi.Output[str]
    service_name: pulumi.Output[str]
    repository_url: pulumi.Output[str]
    alb_security_group_id: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:service:Service", name, None, opts)
        self._name, self._args = name, args
        self._settings, self._ctx = args.settings, args.ctx
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
        repository = self._repository()
        self.repository_url = repository.repository_url
        group = log_group(
            f"{name}-logs",
            path=f"/{self._ctx.project}/{self._ctx.stack}/{COMPONENT}",
            ctx=self._ctx,
            key=self._key,
            parent=self,
            tags=self._tags,
        )
        self.log_group_name = group.name
        # ECS Exec sessions (commands and their output) are an audit trail: their own group.
        exec_group = log_group(
            f"{name}-exec-logs",
            path=f"/{self._ctx.project}/{self._ctx.stack}/{COMPONENT}/exec",
            ctx=self._ctx,
            key=self._key,
            parent=self,
            tags=self._tags,
        )
        self._exec_group = exec_group
        cluster, capacity = self._cluster(exec_group)
        alb_sg, service_sg = self._security_groups()
        alb, target_group = self._load_balancer(alb_sg)
        listeners = self._listeners(alb, target_group)
        execution_role = self._execution_role(repository, group)
        task_role = self._task_role()
        task_definition = self._task_definition(
            f"{name}-task", repository, group, execution_role, task_role, command=None
        )
        service = self._service(
            cluster,
            capacity=capacity,
            task_definition=task_definition,
            service_sg=service_sg,
            target_group=target_group,
            listeners=listeners,
        )
        self._autoscaling(cluster, service, alb, target_group)
        if self._settings.schedule:
            self._scheduled_task(
                schedule=self._settings.schedule,
                task_definition=self._task_definition(
                    f"{name}-job",
                    repository,
                    group,
                    execution_role,
                    task_role,
                    command=self._settings.schedule.command,
                ),
                cluster=cluster,
                capacity=capacity,
                service_sg=service_sg,
                execution_role=execution_role,
                task_role=task_role,
            )
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
        self.target_group_arn_suffix = target_group.arn_suffix
        self.cluster_name = cluster.name
        self.service_name = service.name
        self.alb_security_group_id = alb_sg.id
        self.security_group_id = service_sg.id
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
                "targetGroupArnSuffix": self.target_group_arn_suffix,
                "clusterName": self.cluster_name,
                "serviceName": self.service_name,
                "repositoryUrl": self.repository_url,
                "albSecurityGroupId": self.alb_security_group_id,
                "securityGroupId": self.security_group_id,
                "logGroupName": self.log_group_name,
            }
        )

    # --- image and cluster ------------------------------------------------------------------------

    def _repository(self) -> aws.ecr.Repository:
        settings = self._settings
        repository = aws.ecr.Repository(
            f"{self._name}-repo",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                scan_on_push=True
            ),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(
                    encryption_type="KMS", kms_key=self._key.arn
                )
            ],
            force_delete=not self._ctx.protect_data,
            tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self, protect=self._ctx.protect_data),
        )
        rules = [
            {
                "rulePriority": 1,
                "description": f"Expire untagged images after {settings.ecr_untagged_days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": settings.ecr_untagged_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"Keep the last {settings.ecr_keep_images} tagged images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": settings.ecr_keep_images,
                },
                "action": {"type": "expire"},
            },
        ]
        aws.ecr.LifecyclePolicy(
            f"{self._name}-repo-lifecycle",
            repository=repository.name,
            policy=pulumi.Output.json_dumps({"rules": rules}),
            opts=self._child,
        )
        return repository

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
                for provider, base, weight in CAPACITY_STRATEGY[self._settings.capacity]
            ],
            opts=self._child,
        )
        return cluster, capacity

    # --- network ----------------------------------------------------------------------------------

    def _security_groups(self) -> tuple[aws.ec2.SecurityGroup, aws.ec2.SecurityGroup]:
        vpc_id = self._args.network.vpc_id
        port = self._settings.container_port
        alb_sg = aws.ec2.SecurityGroup(
            f"{self._name}-alb-sg",
            description="Load balancer: HTTP and HTTPS from the internet",
            vpc_id=vpc_id,
            tags={**self._tags, "Name": f"{self._name}-alb"},
            opts=self._child,
        )
        service_sg = aws.ec2.SecurityGroup(
            f"{self._name}-tasks-sg",
            description="Service tasks: the container port from the load balancer only",
            vpc_id=vpc_id,
            tags={**self._tags, "Name": f"{self._name}-tasks"},
            opts=self._child,
        )
        rule = {"parent": self, "tags": self._tags}
        if self._settings.origin_only:
            self._admit_cloudfront_only(alb_sg)
        else:
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
                        **rule,
                    )
        tcp_rule(
            f"{self._name}-alb-out-tasks",
            direction="out",
            group_id=alb_sg.id,
            ports=(port, port),
            description="To the service tasks on the container port",
            peer_group_id=service_sg.id,
            **rule,
        )
        tcp_rule(
            f"{self._name}-tasks-in-alb",
            direction="in",
            group_id=service_sg.id,
            ports=(port, port),
            description="Container port from the load balancer",
            peer_group_id=alb_sg.id,
            **rule,
        )
        tcp_rule(
            f"{self._name}-tasks-out-https",
            direction="out",
            group_id=service_sg.id,
            ports=(443, 443),
            description="HTTPS to AWS APIs and the internet (through NAT or endpoints)",
            cidr_ipv4="0.0.0.0/0",
            **rule,
        )
        tcp_rule(
            f"{self._name}-tasks-out-vpc",
            direction="out",
            group_id=service_sg.id,
            ports=(0, 65535),
            description="TCP inside the VPC (database and internal services)",
            cidr_ipv4=self._args.network.cidr,
            **rule,
        )
        return alb_sg, service_sg

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

    def _load_balancer(
        self, alb_sg: aws.ec2.SecurityGroup
    ) -> tuple[aws.lb.LoadBalancer, aws.lb.TargetGroup]:
        logs, log_policy = self._access_log_bucket()
        alb = aws.lb.LoadBalancer(
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
        settings = self._settings
        tg_name, tg_opts = fitted(f"{self._name}-tg", Limit.TARGET_GROUP, self._child)
        target_group = aws.lb.TargetGroup(
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
        return alb, target_group

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
            statements=[
                # Regions from before August 2022 deliver as the regional ELB account, newer ones
                # as the log delivery service; granting both keeps the stack region-independent.
                {
                    "Sid": "ElbAccountWrites",
                    "Effect": "Allow",
                    "Principal": {"AWS": elb_account.arn},
                    "Action": "s3:PutObject",
                    "Resource": objects,
                },
                {
                    "Sid": "LogDeliveryWrites",
                    "Effect": "Allow",
                    "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": objects,
                },
            ],
            parent=self,
        )
        return bucket, policy

    def _listeners(
        self, alb: aws.lb.LoadBalancer, target_group: aws.lb.TargetGroup
    ) -> list[aws.lb.Listener]:
        forward = aws.lb.ListenerDefaultActionArgs(
            type="forward", target_group_arn=target_group.arn
        )
        domain, zone = self._settings.domain_name, self._settings.hosted_zone_id
        if not (domain and zone):
            http = aws.lb.Listener(
                f"{self._name}-http",
                load_balancer_arn=alb.arn,
                port=80,
                protocol="HTTP",
                default_actions=[forward],
                tags=self._tags,
                opts=self._child,
            )
            return [http]
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
            default_actions=[forward],
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
        return [https, redirect]

    # --- roles ------------------------------------------------------------------------------------

    def _execution_role(
        self, repository: aws.ecr.Repository, group: aws.cloudwatch.LogGroup
    ) -> aws.iam.Role:
        statements: list[Statement] = [
            *ecr_pull(repository.arn),
            allow(
                ["logs:CreateLogStream", "logs:PutLogEvents"], [group.arn.apply(lambda a: f"{a}:*")]
            ),
            allow(["kms:Decrypt"], [self._key.arn, *self._args.decrypt_key_arns]),
        ]
        secret_arns = [
            *self._args.readable_secret_arns,
            *(arn for arn in self._settings.secrets.values() if ":secretsmanager:" in arn),
        ]
        parameter_arns = [arn for arn in self._settings.secrets.values() if ":ssm:" in arn]
        if secret_arns:
            statements.append(allow(["secretsmanager:GetSecretValue"], secret_arns))
        if parameter_arns:
            statements.append(allow(["ssm:GetParameters"], parameter_arns))
        return role(
            f"{self._name}-execution",
            description="ECS agent: pull the image, write logs, read the service's secrets",
            trust=[service_trust(self._ctx, "ecs-tasks", source_arn=self._ctx.arn("ecs", "*"))],
            statements=statements,
            parent=self,
            tags=self._tags,
        )

    def _task_role(self) -> aws.iam.Role:
        statements = list(self._args.task_statements)
        uploads = self._args.uploads
        if uploads:
            prefix = uploads.prefix
            objects = pulumi.Output.from_input(uploads.bucket_arn).apply(
                lambda arn: f"{arn}/{prefix}*"
            )
            # No s3:ListBucket: the API reads and deletes objects it knows the keys of.
            statements.append(allow(["s3:PutObject", "s3:GetObject", "s3:DeleteObject"], [objects]))
            # SSE-KMS: uploading needs GenerateDataKey, downloading Decrypt (S3 user guide,
            # UsingKMSEncryption.html, "Permissions").
            statements.append(allow(["kms:GenerateDataKey", "kms:Decrypt"], [uploads.key_arn]))
        if self._settings.enable_exec:
            # The SSM message channels ECS Exec opens have no resource-level permissions.
            statements.append(
                allow(
                    [
                        "ssmmessages:CreateControlChannel",
                        "ssmmessages:CreateDataChannel",
                        "ssmmessages:OpenControlChannel",
                        "ssmmessages:OpenDataChannel",
                    ],
                    ["*"],
                )
            )
            statements.append(allow(["kms:Decrypt"], [self._key.arn]))
            # The agent writes the session log itself, with the task role (ECS Developer Guide,
            # ecs-exec.html, "IAM permissions required for ECS Exec": logs:DescribeLogGroups on *,
            # CreateLogStream, DescribeLogStreams and PutLogEvents on the group).
            statements.append(allow(["logs:DescribeLogGroups"], ["*"]))
            streams = self._exec_group.arn.apply(lambda arn: f"{arn}:*")
            statements.append(
                allow(
                    ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                    [streams],
                )
            )
        return role(
            f"{self._name}-task",
            description="The application's own permissions",
            trust=[service_trust(self._ctx, "ecs-tasks", source_arn=self._ctx.arn("ecs", "*"))],
            statements=statements,
            parent=self,
            tags=self._tags,
        )

    # --- tasks ------------------------------------------------------------------------------------

    def _image(self, repository: aws.ecr.Repository) -> pulumi.Input[str]:
        image = self._settings.image
        if "/" in image:
            return image
        return repository.repository_url.apply(lambda url: f"{url}:{image}")

    def _task_definition(
        self,
        name: str,
        repository: aws.ecr.Repository,
        group: aws.cloudwatch.LogGroup,
        execution_role: aws.iam.Role,
        task_role: aws.iam.Role,
        *,
        command: Sequence[str] | None,
    ) -> aws.ecs.TaskDefinition:
        settings, port = self._settings, self._settings.container_port
        environment: dict[str, pulumi.Input[str]] = {
            **settings.environment,
            **self._args.environment,
        }
        if self._args.uploads:
            environment["UPLOAD_S3_BUCKET"] = self._args.uploads.bucket_name
        # Only the service runs with ECS Exec enabled; the scheduled job does not.
        agent_volumes = EXEC_AGENT_VOLUMES if settings.enable_exec and not command else {}
        container: dict[str, object] = {
            "name": CONTAINER,
            "image": self._image(repository),
            "essential": True,
            "readonlyRootFilesystem": True,
            # The root filesystem is read-only; /tmp (and the exec agent's directories) are
            # task-scoped scratch volumes.
            "mountPoints": [
                {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False},
                *(
                    {"sourceVolume": volume, "containerPath": path, "readOnly": False}
                    for volume, path in agent_volumes.items()
                ),
            ],
            "linuxParameters": {"initProcessEnabled": True},
            "environment": [{"name": key, "value": value} for key, value in environment.items()],
            "secrets": [
                {"name": key, "valueFrom": value}
                for key, value in {**settings.secrets, **self._args.secrets}.items()
            ],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": group.name,
                    "awslogs-region": self._ctx.region,
                    "awslogs-stream-prefix": "job" if command else CONTAINER,
                },
            },
        }
        if command:
            container["command"] = list(command)
        else:
            container["portMappings"] = [{"containerPort": port, "protocol": "tcp"}]
            # Without a command the target group's HTTP check alone decides health: a command
            # needs its tools in the image, and a missing one fails every task.
            check = settings.container_health_check
            if check:
                container["healthCheck"] = {
                    "command": list(check.command),
                    "interval": check.interval,
                    "timeout": check.timeout,
                    "retries": check.retries,
                    "startPeriod": check.start_period,
                }
        return aws.ecs.TaskDefinition(
            name,
            family=name,
            cpu=str(settings.cpu),
            memory=str(settings.memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture=settings.cpu_architecture.value
            ),
            execution_role_arn=execution_role.arn,
            task_role_arn=task_role.arn,
            # Volumes with neither a host path nor EFS are Fargate bind mounts on the task's
            # ephemeral storage: writable, private to the task, gone when it stops.
            volumes=[
                aws.ecs.TaskDefinitionVolumeArgs(name=volume) for volume in ["tmp", *agent_volumes]
            ],
            container_definitions=pulumi.Output.json_dumps([container]),
            tags=self._tags,
            opts=self._child,
        )

    def _service(
        self,
        cluster: aws.ecs.Cluster,
        *,
        capacity: aws.ecs.ClusterCapacityProviders,
        task_definition: aws.ecs.TaskDefinition,
        service_sg: aws.ec2.SecurityGroup,
        target_group: aws.lb.TargetGroup,
        listeners: list[aws.lb.Listener],
    ) -> aws.ecs.Service:
        settings = self._settings
        return aws.ecs.Service(
            f"{self._name}-service",
            cluster=cluster.arn,
            task_definition=task_definition.arn,
            desired_count=settings.desired_tasks,
            capacity_provider_strategies=[
                aws.ecs.ServiceCapacityProviderStrategyArgs(
                    capacity_provider=provider, base=base, weight=weight
                )
                for provider, base, weight in CAPACITY_STRATEGY[settings.capacity]
            ],
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=self._args.network.private_subnet_ids,
                security_groups=[service_sg.id],
                assign_public_ip=False,
            ),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=target_group.arn,
                    container_name=CONTAINER,
                    container_port=settings.container_port,
                )
            ],
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(
                enable=True, rollback=True
            ),
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            health_check_grace_period_seconds=settings.health_check_grace_seconds,
            enable_execute_command=settings.enable_exec,
            propagate_tags="SERVICE",
            enable_ecs_managed_tags=True,
            tags=self._tags,
            # Autoscaling owns the task count once the service exists. A capacity provider strategy
            # fails ("capacity provider ... is not associated with the cluster") until the
            # providers are attached, and the cluster ARN alone does not order that: depend on
            # them (aws/containers-roadmap#631; terraform-provider-aws orders its ECS task tests
            # on aws_ecs_cluster_capacity_providers the same way).
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[capacity, *listeners],
                ignore_changes=["desiredCount"],
            ),
        )

    def _autoscaling(
        self,
        cluster: aws.ecs.Cluster,
        service: aws.ecs.Service,
        alb: aws.lb.LoadBalancer,
        target_group: aws.lb.TargetGroup,
    ) -> None:
        settings = self._settings
        target = aws.appautoscaling.Target(
            f"{self._name}-scaling",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", cluster.name, "/", service.name),
            min_capacity=settings.min_tasks,
            max_capacity=settings.max_tasks,
            tags=self._tags,
            opts=self._child,
        )
        metrics: list[tuple[str, str, int, pulumi.Input[str] | None]] = [
            ("cpu", "ECSServiceAverageCPUUtilization", settings.cpu_target_percent, None),
            (
                "requests",
                "ALBRequestCountPerTarget",
                settings.requests_per_target,
                pulumi.Output.concat(alb.arn_suffix, "/", target_group.arn_suffix),
            ),
        ]
        for suffix, metric, value, label in metrics:
            target_tracking(
                f"{self._name}-scale-{suffix}",
                target=target,
                metric=metric,
                value=value,
                label=label,
                parent=self,
            )

    # --- scheduled task ---------------------------------------------------------------------------

    def _scheduled_task(
        self,
        *,
        schedule: ScheduledTaskSettings,
        task_definition: aws.ecs.TaskDefinition,
        cluster: aws.ecs.Cluster,
        capacity: aws.ecs.ClusterCapacityProviders,
        service_sg: aws.ec2.SecurityGroup,
        execution_role: aws.iam.Role,
        task_role: aws.iam.Role,
    ) -> None:
        dead_letters = aws.sqs.Queue(
            f"{self._name}-job-dlq",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=14 * 24 * 3600,
            tags=self._tags,
            opts=self._child,
        )
        family_arn = self._ctx.arn("ecs", f"task-definition/{self._name}-job:*")
        scheduler_role = role(
            f"{self._name}-scheduler",
            description="EventBridge Scheduler: run the cron task, nothing else",
            trust=[service_trust(self._ctx, "scheduler")],
            statements=[
                allow(
                    ["ecs:RunTask"],
                    [family_arn],
                    Condition={"ArnEquals": {"ecs:cluster": cluster.arn}},
                ),
                allow(["iam:PassRole"], [execution_role.arn, task_role.arn]),
                allow(["sqs:SendMessage"], [dead_letters.arn]),
                # The schedule's data is encrypted with the service key; the execution role reads
                # it back when the schedule fires (granted as the AWS CDK's scheduler targets do,
                # aws-cdk #27609; EventBridge Scheduler User Guide, encryption-rest.html).
                allow(["kms:Decrypt"], [self._key.arn]),
            ],
            parent=self,
            tags=self._tags,
        )
        aws.scheduler.Schedule(
            f"{self._name}-job-schedule",
            description=f"{self._name}: {' '.join(schedule.command)}",
            schedule_expression=schedule.expression,
            schedule_expression_timezone=schedule.timezone,
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            kms_key_arn=self._key.arn,
            target=aws.scheduler.ScheduleTargetArgs(
                arn=cluster.arn,
                role_arn=scheduler_role.arn,
                ecs_parameters=aws.scheduler.ScheduleTargetEcsParametersArgs(
                    task_definition_arn=task_definition.arn,
                    task_count=1,
                    capacity_provider_strategies=[
                        aws.scheduler.ScheduleTargetEcsParametersCapacityProviderStrategyArgs(
                            capacity_provider=provider, base=base, weight=weight
                        )
                        for provider, base, weight in CAPACITY_STRATEGY[self._settings.capacity]
                    ],
                    network_configuration=aws.scheduler.ScheduleTargetEcsParametersNetworkConfigurationArgs(
                        subnets=self._args.network.private_subnet_ids,
                        security_groups=[service_sg.id],
                        assign_public_ip=False,
                    ),
                ),
                retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                    maximum_retry_attempts=3, maximum_event_age_in_seconds=3600
                ),
                dead_letter_config=aws.scheduler.ScheduleTargetDeadLetterConfigArgs(
                    arn=dead_letters.arn
                ),
            ),
            # Its capacity provider strategy needs the providers attached, as the service's does.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[capacity]),
        )
