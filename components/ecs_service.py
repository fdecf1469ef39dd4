"""One Fargate service on the shared cluster and load balancer: its image repository, log group,
roles, security group, task definition, service, autoscaling and cron job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.common import (
    StackContext,
    Statement,
    allow,
    ecr_pull,
    fitted,
    log_group,
    role,
    service_trust,
    target_tracking,
    tcp_rule,
)
from components.naming import Limit, child
from components.network import Network
from components.release import ServiceImages
from components.settings import (
    DIGEST,
    Capacity,
    EcsServiceSettings,
    MigrationSettings,
    ScheduledTaskSettings,
)
from components.tagging import component_tags

COMPONENT = "service"
CONTAINER = "app"

# ECS Exec's SSM agent writes under these paths; with a read-only root it crashes unless each is
# a writable volume (the workaround in aws/containers-roadmap#1359 and
# aws-containers/amazon-ecs-exec-checker#71; the ECS Exec guide's considerations say a read-only
# root is otherwise unsupported). Volume name -> container path.
EXEC_AGENT_VOLUMES = {
    "exec-managed-agents": "/managed-agents",
    "exec-ssm-lib": "/var/lib/amazon/ssm",
    "exec-ssm-log": "/var/log/amazon/ssm",
}

# Fargate's empty bind volume is owned by root with mode 0755 unless the image declares the same
# path with VOLUME, whose ownership it then takes ("By default, the volume permissions are set to
# 0755 and the owner as root. These permissions can be customized in the Dockerfile": ECS
# Developer Guide, bind-mounts.html). A non-root image without that (the default placeholder,
# nginx-unprivileged, runs as uid 101 and writes /tmp/nginx.pid and its temp files there) could
# not write its /tmp and would never start. Fargate has no tmpfs and no mount options, so a short
# non-essential container opens the volume as a normal /tmp is (1777, sticky) before the app
# starts: the init container AWS recommends in aws/containers-roadmap#938 (2021-06-25). It runs the
# task's own image (already pulled, pinned like the app, from wherever the app comes from: no
# third-party image, no other registry, no NAT gateway needed), so the image needs `chmod`;
# `tmpPermissions: false` leaves /tmp to an image that declares VOLUME /tmp or has no chmod.
SCRATCH = "tmp"
SCRATCH_PATH = "/tmp"
SCRATCH_INIT = "tmp-permissions"

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
class Wiring:
    """What the tasks get from other components: secrets injected by reference (name ->
    ARN[:json-key::]), plain environment, the database login's variables (which the migration
    gets too), the ARNs the execution role may read and the keys it may decrypt them with, the
    task role's own statements, and the uploads bucket, if any."""

    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    database_environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    readable_secret_arns: Sequence[pulumi.Input[str]] = ()
    decrypt_key_arns: Sequence[pulumi.Input[str]] = ()
    # The database logins (rds-db:connect): the service's task role and its migration's get them.
    database_statements: Sequence[Statement] = ()
    task_statements: Sequence[Statement] = ()
    uploads: UploadsAccess | None = None

    def plus(self, own: Wiring | None) -> Wiring:
        """This wiring with one service's own added (its values win on a shared name); the
        uploads bucket is the shared one unless the service names its own."""
        if own is None:
            return self
        return Wiring(
            secrets={**self.secrets, **own.secrets},
            environment={**self.environment, **own.environment},
            database_environment={**self.database_environment, **own.database_environment},
            readable_secret_arns=[*self.readable_secret_arns, *own.readable_secret_arns],
            decrypt_key_arns=[*self.decrypt_key_arns, *own.decrypt_key_arns],
            database_statements=[*self.database_statements, *own.database_statements],
            task_statements=[*self.task_statements, *own.task_statements],
            uploads=own.uploads or self.uploads,
        )


@dataclass(frozen=True, kw_only=True)
class SharedPlatform:
    """What the services share, from the Service component: the cluster and its capacity
    providers, the load balancer and its security group, the key for images, logs and schedules, and
    the ECS Exec session log group."""

    cluster: aws.ecs.Cluster
    capacity: aws.ecs.ClusterCapacityProviders
    alb: aws.lb.LoadBalancer
    alb_security_group: aws.ec2.SecurityGroup
    key: aws.kms.Key
    exec_group: aws.cloudwatch.LogGroup


@dataclass(frozen=True, kw_only=True)
class EcsServiceArgs:
    """settings: the service's entry. shared: the cluster and load balancer it runs behind.
    target_group: where the load balancer sends its requests; routes: the listeners or rules that
    attach that group (ECS refuses a group no listener uses). prefix: the start of its children's
    logical names and of its task families; log_path: its log group. moved_from: the component
    its children were registered under before (today's single service), so they keep their
    URNs through aliases. images: the digests it and its migration run (components/release.py)."""

    settings: EcsServiceSettings
    ctx: StackContext
    network: Network
    shared: SharedPlatform
    target_group: aws.lb.TargetGroup
    routes: Sequence[pulumi.Resource]
    prefix: str
    log_path: str
    wiring: Wiring = field(default_factory=Wiring)
    moved_from: pulumi.Resource | None = None
    images: ServiceImages = field(default_factory=ServiceImages)


@dataclass(frozen=True, kw_only=True)
class Migration:
    """What a release needs to run a service's migration with ECS RunTask (RELEASE_CONTRACT.md):
    its task definition and container, the service's network, where its logs go, how long to
    wait."""

    task_definition_arn: pulumi.Output[str]
    container_name: str
    subnet_ids: pulumi.Input[Sequence[str]]
    security_group_ids: list[pulumi.Output[str]]
    log_group_name: pulumi.Output[str]
    log_stream_prefix: str
    timeout_minutes: int

    def output(self) -> dict[str, object]:
        """The stack output's value (camelCase keys)."""
        return {
            "taskDefinitionArn": self.task_definition_arn,
            "containerName": self.container_name,
            "subnetIds": self.subnet_ids,
            "securityGroupIds": self.security_group_ids,
            "logGroupName": self.log_group_name,
            "logStreamPrefix": self.log_stream_prefix,
            "timeoutMinutes": self.timeout_minutes,
        }


# awslogs names each stream <prefix>/<container name>/<task id> (ECS Developer Guide,
# using_awslogs.html, "awslogs-stream-prefix"): the release links the migration's log stream.
MIGRATION_STREAM_PREFIX = "migration"


def moved_from(parent: pulumi.Resource) -> pulumi.ResourceTransformation:
    """Aliases every child (and every name alias it already has) to `parent`, where it was
    registered before: the engine then finds the existing resource instead of creating one."""

    def add_aliases(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        if args.type_.startswith("platform:"):
            return None
        renamed = [
            pulumi.Alias(name=alias.name, parent=parent)
            for alias in args.opts.aliases or []
            if isinstance(alias, pulumi.Alias) and alias.name is not None
        ]
        aliases = pulumi.ResourceOptions(aliases=[pulumi.Alias(parent=parent), *renamed])
        return pulumi.ResourceTransformationResult(
            args.props, pulumi.ResourceOptions.merge(args.opts, aliases)
        )

    return add_aliases


class EcsService(pulumi.ComponentResource):
    """One Fargate service: ECR repository, log group, roles, security group, task definition,
    service behind its target group, autoscaling and an optional cron task."""

    service_name: pulumi.Output[str]
    repository_url: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    task_role_name: pulumi.Output[str]
    task_role_arn: pulumi.Output[str]
    execution_role_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]
    target_group_arn_suffix: pulumi.Output[str]
    target_group_arn: pulumi.Output[str]
    image: pulumi.Output[str]
    task_definition_arn: pulumi.Output[str]
    migration: Migration | None
    min_tasks: int

    def __init__(self, name: str, args: EcsServiceArgs, opts: pulumi.ResourceOptions | None = None):
        moved = (
            pulumi.ResourceOptions(transformations=[moved_from(args.moved_from)])
            if args.moved_from
            else None
        )
        super().__init__(
            "platform:service:EcsService", name, None, pulumi.ResourceOptions.merge(opts, moved)
        )
        self._name, self._args = args.prefix, args
        self._settings, self._ctx, self._shared = args.settings, args.ctx, args.shared
        self._key = args.shared.key
        self._exec_group = args.shared.exec_group
        self._tags = component_tags(COMPONENT)
        self._child = pulumi.ResourceOptions(parent=self)

        repository = self._repository()
        group = log_group(
            f"{self._name}-logs",
            path=args.log_path,
            ctx=self._ctx,
            key=self._key,
            parent=self,
            tags=self._tags,
        )
        service_sg = self._security_group()
        execution_role = self._execution_role(
            f"{self._name}-execution",
            repository,
            group,
            description="ECS agent: pull the image, write logs, read the service's secrets",
            tier_secret_arns=args.wiring.readable_secret_arns,
            tier_key_arns=args.wiring.decrypt_key_arns,
        )
        task_role = self._task_role()
        image = self._image(repository, args.images.running)
        task_definition = self._task_definition(
            f"{self._name}-task", image, group, execution_role, task_role, command=None
        )
        cluster, capacity = self._shared.cluster, self._shared.capacity
        service = self._service(
            cluster, capacity=capacity, task_definition=task_definition, service_sg=service_sg
        )
        self._autoscaling(cluster, service)
        if self._settings.schedule:
            self._scheduled_task(
                schedule=self._settings.schedule,
                task_definition=self._task_definition(
                    f"{self._name}-job",
                    image,
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
        self.service_name = service.name
        self.repository_url = repository.repository_url
        self.security_group_id = service_sg.id
        self.task_role_name = task_role.name
        self.task_role_arn = task_role.arn
        self.execution_role_arn = execution_role.arn
        self.log_group_name = group.name
        self.target_group_arn_suffix = args.target_group.arn_suffix
        self.target_group_arn = args.target_group.arn
        self.image = image
        self.task_definition_arn = task_definition.arn
        self.migration = (
            self._migration(self._settings.migration, repository, group, service_sg)
            if self._settings.migration
            else None
        )
        self.min_tasks = self._settings.min_tasks
        self.register_outputs(
            {
                "serviceName": self.service_name,
                "repositoryUrl": self.repository_url,
                "securityGroupId": self.security_group_id,
                "taskRoleName": self.task_role_name,
                "taskRoleArn": self.task_role_arn,
                "executionRoleArn": self.execution_role_arn,
                "logGroupName": self.log_group_name,
                "targetGroupArnSuffix": self.target_group_arn_suffix,
                "image": self.image,
                "taskDefinitionArn": self.task_definition_arn,
                "migration": self.migration.output() if self.migration else None,
            }
        )

    # --- image ------------------------------------------------------------------------------------

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

    # --- network ----------------------------------------------------------------------------------

    def _security_group(self) -> aws.ec2.SecurityGroup:
        vpc_id = self._args.network.vpc_id
        port = self._settings.container_port
        alb_sg = self._shared.alb_security_group
        service_sg = aws.ec2.SecurityGroup(
            f"{self._name}-tasks-sg",
            description="Service tasks: the container port from the load balancer only",
            vpc_id=vpc_id,
            tags={**self._tags, "Name": f"{self._name}-tasks"},
            opts=self._child,
        )
        rule = {"parent": self, "tags": self._tags}
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
        return service_sg

    # --- roles ------------------------------------------------------------------------------------

    def _tasks_trust(self) -> list[Statement]:
        """ECS tasks of this account's clusters assume the roles of the service's tasks."""
        return [service_trust(self._ctx, "ecs-tasks", source_arn=self._ctx.arn("ecs", "*"))]

    def _execution_role(
        self,
        name: str,
        repository: aws.ecr.Repository,
        group: aws.cloudwatch.LogGroup,
        *,
        description: str,
        tier_secret_arns: Sequence[pulumi.Input[str]],
        tier_key_arns: Sequence[pulumi.Input[str]],
    ) -> aws.iam.Role:
        """The ECS agent's role: pull the image, write the logs, decrypt with the service key and
        `tier_key_arns`, read the service's own secrets and `tier_secret_arns`."""
        return role(
            name,
            description=description,
            trust=self._tasks_trust(),
            statements=[
                *ecr_pull(repository.arn),
                allow(
                    ["logs:CreateLogStream", "logs:PutLogEvents"],
                    [group.arn.apply(lambda a: f"{a}:*")],
                ),
                allow(["kms:Decrypt"], [self._key.arn, *tier_key_arns]),
                *self._secret_reads(tier_secret_arns),
            ],
            parent=self,
            tags=self._tags,
        )

    def _secret_reads(self, tier_secret_arns: Sequence[pulumi.Input[str]]) -> list[Statement]:
        """Reading the service's own `secrets` (Secrets Manager or SSM, by ARN) and the given
        tiers' secrets: exactly those, nothing else."""
        own = self._settings.secrets.values()
        secret_arns = [*tier_secret_arns, *(arn for arn in own if ":secretsmanager:" in arn)]
        parameter_arns = [arn for arn in own if ":ssm:" in arn]
        statements: list[Statement] = []
        if secret_arns:
            statements.append(allow(["secretsmanager:GetSecretValue"], secret_arns))
        if parameter_arns:
            statements.append(allow(["ssm:GetParameters"], parameter_arns))
        return statements

    def _task_role(self) -> aws.iam.Role:
        statements = [*self._args.wiring.database_statements, *self._args.wiring.task_statements]
        uploads = self._args.wiring.uploads
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
            trust=self._tasks_trust(),
            statements=statements,
            parent=self,
            tags=self._tags,
        )

    # --- tasks ------------------------------------------------------------------------------------

    def _image(
        self, repository: aws.ecr.Repository, released: pulumi.Input[str | None]
    ) -> pulumi.Output[str]:
        """`<repository>@<digest>` for a `released` digest (or a configured one), else the
        configured full reference (known in a preview: no repository URL in it)."""
        configured = self._settings.image

        def chosen(running: str | None) -> pulumi.Input[str]:
            digest = running or (configured if DIGEST.match(configured) else None)
            if digest is None:
                return configured
            return repository.repository_url.apply(lambda url: f"{url}@{digest}")

        return pulumi.Output.from_input(released).apply(chosen)

    def _task_definition(
        self,
        name: str,
        image: pulumi.Input[str],
        group: aws.cloudwatch.LogGroup,
        execution_role: aws.iam.Role,
        task_role: aws.iam.Role,
        *,
        command: Sequence[str] | None,
        stream_prefix: str | None = None,
        family: str | None = None,
        migration: bool = False,
    ) -> aws.ecs.TaskDefinition:
        settings, port = self._settings, self._settings.container_port
        environment, secrets = self._environment(migration=migration)
        logs = {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": group.name,
                "awslogs-region": self._ctx.region,
                "awslogs-stream-prefix": stream_prefix or ("job" if command else CONTAINER),
            },
        }
        scratch = {"sourceVolume": SCRATCH, "containerPath": SCRATCH_PATH, "readOnly": False}
        # Only the service runs with ECS Exec enabled; the scheduled job does not.
        agent_volumes = EXEC_AGENT_VOLUMES if settings.enable_exec and not command else {}
        container: dict[str, object] = {
            "name": CONTAINER,
            "image": image,
            "essential": True,
            "readonlyRootFilesystem": True,
            # The root filesystem is read-only; /tmp (and the exec agent's directories) are
            # task-scoped scratch volumes.
            "mountPoints": [
                scratch,
                *(
                    {"sourceVolume": volume, "containerPath": path, "readOnly": False}
                    for volume, path in agent_volumes.items()
                ),
            ],
            "linuxParameters": {"initProcessEnabled": True},
            "environment": [{"name": key, "value": value} for key, value in environment.items()],
            "secrets": [{"name": key, "valueFrom": value} for key, value in secrets.items()],
            "logConfiguration": logs,
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
        init = settings.tmp_permissions
        if init:
            # SUCCESS: the init container ran to completion with exit code 0 (ECS API
            # Reference, ContainerDependency).
            container["dependsOn"] = [{"containerName": SCRATCH_INIT, "condition": "SUCCESS"}]
        scratch_init: dict[str, object] = {
            "name": SCRATCH_INIT,
            "image": image,
            "essential": False,
            # root, to change the mode of the root-owned volume; nothing else: no variables,
            # no secrets, no port, a read-only root.
            "user": "0",
            # entryPoint is Docker's Entrypoint (--entrypoint), command its Cmd (ECS API
            # Reference, ContainerDefinition): the image's own ENTRYPOINT never runs, and the
            # process is exactly `chmod 1777 /tmp`.
            "entryPoint": ["chmod"],
            "command": ["1777", SCRATCH_PATH],
            "readonlyRootFilesystem": True,
            "mountPoints": [scratch],
            "environment": [],
            "secrets": [],
            "logConfiguration": {
                **logs,
                "options": {**logs["options"], "awslogs-stream-prefix": SCRATCH_INIT},
            },
        }
        return aws.ecs.TaskDefinition(
            name,
            family=family or name,
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
                aws.ecs.TaskDefinitionVolumeArgs(name=volume)
                for volume in [SCRATCH, *agent_volumes]
            ],
            container_definitions=pulumi.Output.json_dumps(
                [container, scratch_init] if init else [container]
            ),
            tags=self._tags,
            opts=self._child,
        )

    def _environment(
        self, *, migration: bool
    ) -> tuple[dict[str, pulumi.Input[str]], dict[str, pulumi.Input[str]]]:
        """The variables and secret references of the service's containers. A migration gets
        the service's own variables and secrets (an app may need e.g. SECRET_KEY at import) and
        its database login (an IAM token): no broker or cache credentials, no uploads bucket."""
        settings, wiring = self._settings, self._args.wiring
        if migration:
            return {**settings.environment, **wiring.database_environment}, dict(settings.secrets)
        environment: dict[str, pulumi.Input[str]] = {
            **settings.environment,
            **wiring.environment,
            **wiring.database_environment,
        }
        if wiring.uploads:
            environment["UPLOAD_S3_BUCKET"] = wiring.uploads.bucket_name
        return environment, {**settings.secrets, **wiring.secrets}

    def _service(
        self,
        cluster: aws.ecs.Cluster,
        *,
        capacity: aws.ecs.ClusterCapacityProviders,
        task_definition: aws.ecs.TaskDefinition,
        service_sg: aws.ec2.SecurityGroup,
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
                    target_group_arn=self._args.target_group.arn,
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
            # Autoscaling owns the task count once the service exists. ECS refuses a target group
            # no listener uses, so the listener or rule that routes to it comes first. A capacity
            # provider strategy
            # fails ("capacity provider ... is not associated with the cluster") until the
            # providers are attached, and the cluster ARN alone does not order that: depend on
            # them (aws/containers-roadmap#631; terraform-provider-aws orders its ECS task tests
            # on aws_ecs_cluster_capacity_providers the same way).
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[capacity, *self._args.routes],
                ignore_changes=["desiredCount"],
            ),
        )

    def _autoscaling(
        self,
        cluster: aws.ecs.Cluster,
        service: aws.ecs.Service,
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
                pulumi.Output.concat(
                    self._shared.alb.arn_suffix, "/", self._args.target_group.arn_suffix
                ),
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

    # --- migration --------------------------------------------------------------------------------

    def _migration(
        self,
        migration: MigrationSettings,
        repository: aws.ecr.Repository,
        group: aws.cloudwatch.LogGroup,
        service_sg: aws.ec2.SecurityGroup,
    ) -> Migration:
        """The one-off task a release runs (ECS RunTask) before the service switches images:
        the service's size, architecture, network, variables and own secrets, its database
        login, the migration's command and image, and roles of its own. Nothing of the service
        depends on it, so defining or changing it never touches the running service."""
        name = f"{self._name}-migration"
        # The release's new digest, else whatever the service runs.
        images = self._args.images
        task_definition = self._task_definition(
            name,
            self._image(repository, images.migration or images.running),
            group,
            # The service's execution role reads the broker's, the cache's and the service's own
            # secrets; the migration gets only the service's own (its login is an IAM token).
            # Their decryption is granted as the service's execution role has it: the service key.
            self._execution_role(
                f"{name}-execution",
                repository,
                group,
                description="ECS agent of the migration: pull the image, write logs, read the "
                "service's own secrets",
                tier_secret_arns=[],
                tier_key_arns=[],
            ),
            self._migration_role(name),
            command=migration.command,
            stream_prefix=MIGRATION_STREAM_PREFIX,
            # A family: up to 255 letters, digits, hyphens and underscores (ECS API Reference,
            # RegisterTaskDefinition "family").
            family=child(name, limit=Limit.ECS),
            migration=True,
        )
        return Migration(
            task_definition_arn=task_definition.arn,
            container_name=CONTAINER,
            subnet_ids=self._args.network.private_subnet_ids,
            security_group_ids=[service_sg.id],
            log_group_name=group.name,
            log_stream_prefix=MIGRATION_STREAM_PREFIX,
            timeout_minutes=migration.timeout_minutes,
        )

    def _migration_role(self, name: str) -> aws.iam.Role:
        # A schema change needs the database and nothing else: the service's database login
        # (rds-db:connect as its own identity), none of its uploads bucket, ECS Exec or other
        # grants. Its execution role (image, logs, the service's own secrets) is its own too.
        return role(
            name,
            description="Database migration: log in to the service's database, nothing else",
            trust=self._tasks_trust(),
            statements=list(self._args.wiring.database_statements),
            parent=self,
            tags=self._tags,
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
        # A schedule's name has at most 64 characters (provider_check): longer ones are fitted.
        schedule_name, schedule_opts = fitted(
            f"{self._name}-job-schedule",
            Limit.SCHEDULE,
            pulumi.ResourceOptions(parent=self, depends_on=[capacity]),
        )
        aws.scheduler.Schedule(
            schedule_name,
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
            opts=schedule_opts,
        )
