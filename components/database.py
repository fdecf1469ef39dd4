"""Database: Aurora PostgreSQL in the isolated subnets, encrypted, with managed credentials."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.common import (
    StackContext,
    Statement,
    allow,
    attach_managed,
    fitted,
    instance_trust,
    kms_key,
    log_group,
    logs_key_statement,
    policy_document,
    role,
    service_trust,
    target_tracking,
    tcp_rule,
)
from components.naming import Limit, child
from components.network import Network
from components.notifications import Topic
from components.settings import (
    AWS_BACKUP_COMPLETION_WINDOW,
    AWS_BACKUP_START_WINDOW,
    DatabaseMode,
    DatabaseSettings,
)
from components.tagging import component_tags

COMPONENT = "database"
PORT = 5432
ENGINE = "aurora-postgresql"
# The RDS event categories of each source type that need a person (docs.aws.amazon.com/AmazonRDS/
# latest/AuroraUserGuide/USER_Events.Messages.html, "DB cluster events" and "DB instance events";
# `aws rds describe-event-categories --source-type db-cluster|db-instance` lists them per region).
# Creation, deletion, backup and read-replica events are routine and stay out.
CLUSTER_EVENTS = ("configuration change", "failover", "failure", "maintenance", "notification")
INSTANCE_EVENTS = (
    "availability",
    "configuration change",
    "failover",
    "failure",
    "low storage",
    "maintenance",
    "notification",
    "recovery",
)
# AWS Backup job states that mean no recovery point (or no copy) was made (AWS Backup Developer
# Guide, "Monitoring AWS Backup events using Amazon EventBridge": Backup Job and Copy Job events).
BACKUP_FAILED_STATES = ("FAILED", "ABORTED", "EXPIRED", "PARTIAL")
# The operator access instance (tooling/dbops.py connect): Amazon Linux 2023 on Graviton, whose
# image ships the SSM agent; launch templates resolve an SSM public parameter given as
# "resolve:ssm:<name>" at launch (EC2 User Guide, "Use a Systems Manager parameter instead of an
# AMI ID"), so the template never pins an AMI that ages.
ACCESS_IMAGE = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
# A forgotten instance (the CLI killed before it cleans up) powers off, and so terminates, after
# this many minutes.
ACCESS_MAX_MINUTES = 240
# The function that creates each service's role and database (README: Database identities); its
# digest re-runs every identity's invocation when the SQL changes.
IDENTITY_HANDLER = Path(__file__).parent / "data" / "database_identity_handler.py"
IDENTITY_HANDLER_DIGEST = hashlib.sha256(IDENTITY_HANDLER.read_bytes()).hexdigest()
# Lambda runtimes: docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html (Python 3.13,
# Amazon Linux 2023, arm64 and x86_64); boto3 is part of the runtime.
IDENTITY_RUNTIME = "python3.13"


@dataclass(frozen=True)
class DatabaseIdentity:
    """What a service needs to connect as its own role: the writer and reader hosts, the port,
    its database and username. Its password is an IAM token generated at connect time."""

    host: pulumi.Output[str]
    reader_host: pulumi.Output[str]
    port: int
    database: str
    username: str

    def environment(self) -> dict[str, pulumi.Input[str]]:
        """The variables an application reads (README: Database identities)."""
        return {
            "DB_HOST": self.host,
            "DB_READER_HOST": self.reader_host,
            "DB_PORT": str(self.port),
            "DB_NAME": self.database,
            "DB_USERNAME": self.username,
            "DB_IAM_AUTH": "1",
        }


@dataclass(frozen=True, kw_only=True)
class DatabaseArgs:
    """settings: the `database` section. network: the isolated subnets it lives in.
    backup_provider: an AWS provider in settings.backup_copy_region, required when that is set.
    topic: where RDS events of the cluster and its instances, and failed AWS Backup jobs, go."""

    settings: DatabaseSettings
    ctx: StackContext
    network: Network
    backup_provider: aws.Provider | None = None
    topic: Topic | None = None


# PostgreSQL 18 made log_connections a list of aspects; what `on` logged up to 17 is its first
# three (PostgreSQL 18 documentation, "log_connections"), and "off" is the empty list, which is the
# default: left unset. 16 and 17 keep "1"/"0", so today's parameter groups do not change.
LIST_LOG_CONNECTIONS_FROM = 18
LOG_CONNECTIONS_ON = "receipt,authentication,authorization"


def _log_connections(settings: DatabaseSettings) -> dict[str, tuple[str, str]]:
    if int(settings.engine_version.split(".")[0]) < LIST_LOG_CONNECTIONS_FROM:
        return {"log_connections": ("1" if settings.log_connections else "0", "immediate")}
    return (
        {"log_connections": (LOG_CONNECTIONS_ON, "immediate")} if settings.log_connections else {}
    )


def cluster_parameters(settings: DatabaseSettings) -> dict[str, tuple[str, str]]:
    """The cluster parameter group's values: name -> (value, apply method)."""
    on = {True: "1", False: "0"}
    return {
        "rds.force_ssl": ("1", "immediate"),
        "log_min_duration_statement": (str(settings.slow_query_ms), "immediate"),
        # A static parameter: RDS refuses "immediate" for it, and it takes effect at the next
        # reboot of each instance ("pending-reboot", docs.aws.amazon.com/AmazonRDS/latest/
        # AuroraUserGuide/USER_WorkingWithParamGroups.html). pg_stat_statements is Aurora's own
        # default and stays loaded; pgaudit then needs `CREATE EXTENSION pgaudit` once (README).
        "shared_preload_libraries": ("pg_stat_statements,pgaudit", "pending-reboot"),
        "pgaudit.log": (",".join(settings.audit_log), "immediate"),
        **_log_connections(settings),
        "log_disconnections": (on[settings.log_disconnections], "immediate"),
    }


def _master_secret_arn(secrets: Sequence[aws.rds.outputs.ClusterMasterUserSecret]) -> str:
    arn = secrets[0].secret_arn if secrets else None
    if not arn:
        raise pulumi.RunError("RDS returned no managed master user secret for the cluster")
    return arn


class Database(pulumi.ComponentResource):
    """Aurora PostgreSQL cluster, its instances, key, parameters, logs, backups and access."""

    endpoint: pulumi.Output[str]
    reader_endpoint: pulumi.Output[str]
    port: int
    secret_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    cluster_identifier: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    instance_identifiers: list[pulumi.Output[str]]
    cluster_resource_id: pulumi.Output[str]
    access_launch_template_id: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:database:Database", name, None, opts)
        self._name, self._tags = name, component_tags(COMPONENT)
        settings, ctx = args.settings, args.ctx
        self._child = pulumi.ResourceOptions(parent=self)
        if settings.backup_copy_region and args.backup_provider is None:
            raise pulumi.RunError(f"{name}: backup_copy_region is set but no backup_provider given")

        key = kms_key(
            f"{name}-key",
            ctx=ctx,
            description=f"{name}: storage, Performance Insights, master secret and logs",
            statements=[logs_key_statement(ctx)],
            parent=self,
            tags=self._tags,
        )
        identifier = child(name, limit=Limit.RDS_IDENTIFIER)
        # RDS writes into /aws/rds/cluster/<id>/postgresql; creating it first sets retention and KMS.
        logs = log_group(
            f"{name}-postgresql-logs",
            path=f"/aws/rds/cluster/{identifier}/postgresql",
            ctx=ctx,
            key=key,
            parent=self,
            tags=self._tags,
        )
        self._security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            description="Aurora: PostgreSQL from admitted client security groups only",
            vpc_id=args.network.vpc_id,
            tags={**self._tags, "Name": f"{name}"},
            opts=self._child,
        )
        subnets = aws.rds.SubnetGroup(
            f"{name}-subnets",
            description="Isolated subnets: no route to or from the internet",
            subnet_ids=args.network.isolated_subnet_ids,
            tags=self._tags,
            opts=self._child,
        )
        # The family follows the major (settings pin the major only: see _pg_version).
        major = settings.engine_version.split(".")[0]
        parameters = aws.rds.ClusterParameterGroup(
            f"{name}-params",
            family=f"{ENGINE}{major}",
            description="Forces TLS and logs slow statements",
            parameters=[
                aws.rds.ClusterParameterGroupParameterArgs(
                    name=parameter, value=value, apply_method=method
                )
                for parameter, (value, method) in cluster_parameters(settings).items()
            ],
            tags=self._tags,
            opts=self._child,
        )
        protect = ctx.protect_data
        serverless = settings.mode is DatabaseMode.SERVERLESS
        cluster = aws.rds.Cluster(
            f"{name}-cluster",
            cluster_identifier=identifier,
            engine=ENGINE,
            engine_mode="provisioned",
            # The major only ("16"): RDS picks the default minor and upgrades it in the maintenance
            # window, while the provider keeps "16" in state, so no later `up` asks for a downgrade.
            engine_version=settings.engine_version,
            database_name=settings.database_name,
            master_username=settings.master_username,
            # RDS creates and rotates the password in Secrets Manager: it never enters config or state.
            manage_master_user_password=True,
            master_user_secret_kms_key_id=key.arn,
            storage_encrypted=True,
            kms_key_id=key.arn,
            iam_database_authentication_enabled=True,
            port=PORT,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[self._security_group.id],
            db_cluster_parameter_group_name=parameters.name,
            backup_retention_period=settings.backup_retention_days,
            preferred_backup_window=settings.backup_window,
            preferred_maintenance_window=settings.maintenance_window,
            copy_tags_to_snapshot=True,
            deletion_protection=protect,
            skip_final_snapshot=not protect,
            final_snapshot_identifier=f"{identifier}-final" if protect else None,
            enabled_cloudwatch_logs_exports=["postgresql"],
            serverlessv2_scaling_configuration=aws.rds.ClusterServerlessv2ScalingConfigurationArgs(
                min_capacity=settings.min_capacity,
                max_capacity=settings.max_capacity,
                seconds_until_auto_pause=settings.seconds_until_auto_pause
                if settings.min_capacity == 0
                else None,
            )
            if serverless
            else None,
            # Only when the stack file acknowledges a major change (the plan refuses it otherwise).
            allow_major_version_upgrade=settings.allow_major_version_upgrade,
            # The RDS Data API, through which the identities function creates each service's role
            # and database (EnableHttpEndpoint: Aurora PostgreSQL Serverless v2 and provisioned;
            # the provider calls it for both since hashicorp/terraform-provider-aws#38997).
            enable_http_endpoint=bool(settings.identities),
            apply_immediately=not protect,
            tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self, protect=protect, depends_on=[logs]),
        )
        monitoring_role = self._monitoring_role(ctx) if settings.monitoring_interval else None
        zones = args.network.zone_names
        self.instance_identifiers = []
        instances: list[aws.rds.ClusterInstance] = []
        for number in range(1, settings.instances + 1):
            instance = aws.rds.ClusterInstance(
                f"{name}-{number}",
                identifier=f"{identifier}-{number}",
                cluster_identifier=cluster.id,
                engine=aws.rds.EngineType.AURORA_POSTGRESQL,
                engine_version=cluster.engine_version,
                instance_class="db.serverless" if serverless else settings.instance_class,
                availability_zone=zones[(number - 1) % len(zones)],
                # The first instance is the preferred writer; readers fail over in order.
                promotion_tier=number - 1,
                publicly_accessible=False,
                db_subnet_group_name=subnets.name,
                performance_insights_enabled=True,
                performance_insights_kms_key_id=key.arn,
                performance_insights_retention_period=settings.performance_insights_days,
                monitoring_interval=settings.monitoring_interval,
                monitoring_role_arn=monitoring_role.arn if monitoring_role else None,
                # Minor upgrades are AWS's to apply (in the maintenance window): see the policy.
                auto_minor_version_upgrade=True,
                ca_cert_identifier="rds-ca-rsa2048-g1",
                copy_tags_to_snapshot=True,
                apply_immediately=not protect,
                tags=self._tags,
                opts=pulumi.ResourceOptions(parent=self, protect=protect),
            )
            instances.append(instance)
            self.instance_identifiers.append(instance.identifier)
        self.secret_arn = cluster.master_user_secrets.apply(_master_secret_arn)
        self.cluster_resource_id = cluster.cluster_resource_id
        self._ctx, self._settings = ctx, settings
        if settings.identities:
            self._identities(key, cluster, instances)
        if settings.reader_autoscaling and settings.instances > 1:
            self._reader_autoscaling(settings, identifier, instances)
        if settings.backup_copy_region and args.backup_provider:
            self._backups(ctx, settings, key, cluster, args.backup_provider)
        if args.topic:
            self._events(args.topic, cluster, settings.backup_copy_region is not None)
        self.access_launch_template_id = self._operator_access(ctx, args.network)

        self.endpoint = cluster.endpoint
        self.reader_endpoint = cluster.reader_endpoint
        self.port = PORT
        self._rotation(settings.secret_rotation_days)
        self.key_arn = key.arn
        self.cluster_identifier = cluster.cluster_identifier
        self.security_group_id = self._security_group.id
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "readerEndpoint": self.reader_endpoint,
                "port": self.port,
                "secretArn": self.secret_arn,
                "clusterIdentifier": self.cluster_identifier,
                "securityGroupId": self.security_group_id,
                "accessLaunchTemplateId": self.access_launch_template_id,
            }
        )

    def admit(self, client: str, security_group_id: pulumi.Input[str]) -> None:
        """Let one client security group reach PostgreSQL. `client` names the rule for good, so
        adding or removing a client never renames another client's rule."""
        tcp_rule(
            f"{self._name}-from-{client}",
            direction="in",
            group_id=self._security_group.id,
            ports=(PORT, PORT),
            description=f"PostgreSQL from {client}",
            peer_group_id=security_group_id,
            parent=self,
            tags=self._tags,
        )

    def identity(self, name: str) -> DatabaseIdentity:
        """The connection details of the identity `name` (a key of `database.identities`)."""
        if name not in self._settings.identities:
            raise pulumi.RunError(f"{self._name}: no database identity {name!r} is declared")
        return DatabaseIdentity(
            host=self.endpoint,
            reader_host=self.reader_endpoint,
            port=PORT,
            database=self._settings.identity_database(name),
            username=name,
        )

    def connect_statement(self, name: str) -> Statement:
        """An IAM statement that lets its holder log in as identity `name` and no other: the
        db-user resource is arn:<partition>:rds-db:<region>:<account>:dbuser:<cluster resource
        id>/<username> (Service Authorization Reference, "Amazon RDS IAM Authentication")."""
        username = self.identity(name).username
        user = pulumi.Output.concat(
            self._ctx.arn("rds-db", "dbuser:"), self.cluster_resource_id, "/", username
        )
        return allow(["rds-db:connect"], [user])

    def grant_connect(self, name: str, *, client: str, role_name: pulumi.Input[str]) -> None:
        """Attach to an existing role (an IRSA role, say) an inline policy that lets it log in
        as identity `name`. `client` names the policy for good, like admit()."""
        aws.iam.RolePolicy(
            f"{self._name}-connect-{client}",
            role=role_name,
            policy=policy_document([self.connect_statement(name)]),
            opts=self._child,
        )

    def _identities(
        self,
        key: aws.kms.Key,
        cluster: aws.rds.Cluster,
        instances: Sequence[aws.rds.ClusterInstance],
    ) -> None:
        """A function that creates each identity's role and database through the Data API, and
        one invocation per identity. Outside any VPC: the Data API is an AWS endpoint, so the
        function needs no subnet, security group, NAT path or PostgreSQL driver. It is the only
        reader of the master secret besides the operator runbooks (tests/stacks)."""
        ctx, name = self._ctx, self._name
        group = log_group(
            f"{name}-identities-logs",
            path=f"/aws/lambda/{name}-identities",
            ctx=ctx,
            key=key,
            parent=self,
            tags=self._tags,
        )
        function_role = role(
            f"{name}-identities",
            description="Creates the services' database roles and databases (Data API)",
            # As the Lambda Developer Guide writes the execution role's trust ("Lambda execution
            # role"): no source condition, which Lambda's AssumeRole is not documented to carry.
            trust=[
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
            statements=[],
            parent=self,
            tags=self._tags,
        )
        # The least the Data API needs (Aurora User Guide, "Authorizing access to the Amazon RDS
        # Data API"): ExecuteStatement on this cluster and the secret it signs in with; the Data
        # API reads the secret as the caller, so the caller decrypts it through Secrets Manager.
        access = aws.iam.RolePolicy(
            f"{name}-identities-policy",
            role=function_role.id,
            policy=policy_document(
                [
                    allow(["rds-data:ExecuteStatement"], [cluster.arn]),
                    allow(["secretsmanager:GetSecretValue"], [self.secret_arn]),
                    allow(
                        ["kms:Decrypt"],
                        [key.arn],
                        Condition={
                            "StringEquals": {
                                "kms:ViaService": f"secretsmanager.{ctx.region}.amazonaws.com"
                            }
                        },
                    ),
                    allow(
                        ["logs:CreateLogStream", "logs:PutLogEvents"],
                        [group.arn.apply(lambda arn: f"{arn}:*")],
                    ),
                ]
            ),
            opts=self._child,
        )
        function = aws.lambda_.Function(
            f"{name}-identities",
            description="Creates each service's PostgreSQL role and database, idempotently",
            runtime=IDENTITY_RUNTIME,
            architectures=["arm64"],
            handler="index.handler",
            code=pulumi.AssetArchive({"index.py": pulumi.FileAsset(str(IDENTITY_HANDLER))}),
            role=function_role.arn,
            # Room for a paused Serverless v2 cluster to resume (the handler retries meanwhile).
            timeout=300,
            memory_size=128,
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="Text", log_group=group.name
            ),
            tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[access]),
        )
        for identity in self._settings.identities:
            # CREATE_ONLY (the default lifecycle scope): invoked on create and on replacement,
            # which a change of input or triggers causes (pulumi-aws lambda.Invocation); never on
            # delete, so removing an identity keeps its role and data.
            aws.lambda_.Invocation(
                f"{name}-identity-{identity}",
                function_name=function.name,
                input=pulumi.Output.json_dumps(
                    {
                        "clusterArn": cluster.arn,
                        "secretArn": self.secret_arn,
                        "masterUsername": self._settings.master_username,
                        "username": identity,
                        "database": self._settings.identity_database(identity),
                    }
                ),
                triggers={"handler": IDENTITY_HANDLER_DIGEST},
                # The Data API runs statements on the writer instance only (Aurora User Guide,
                # "Limitations for the Amazon RDS Data API").
                opts=pulumi.ResourceOptions(parent=self, depends_on=[access, *instances]),
            )

    def _operator_access(self, ctx: StackContext, network: Network) -> pulumi.Output[str]:
        """What `dbops connect` launches an instance from, when asked, and terminates after: a
        template, its instance profile and a security group. Nothing runs until then."""
        group = aws.ec2.SecurityGroup(
            f"{self._name}-access-sg",
            description="Operator access: out to PostgreSQL and to SSM over HTTPS, nothing in",
            vpc_id=network.vpc_id,
            tags={**self._tags, "Name": f"{self._name}-access"},
            opts=self._child,
        )
        tcp_rule(
            f"{self._name}-access-to-db",
            direction="out",
            group_id=group.id,
            ports=(PORT, PORT),
            description="PostgreSQL on the cluster",
            peer_group_id=self._security_group.id,
            parent=self,
            tags=self._tags,
        )
        # The SSM agent reaches Systems Manager (ssm, ssmmessages, ec2messages) on 443 through
        # the NAT gateway (EC2 User Guide / Systems Manager "Setting up": outbound HTTPS).
        tcp_rule(
            f"{self._name}-access-to-ssm",
            direction="out",
            group_id=group.id,
            ports=(443, 443),
            description="HTTPS to the Systems Manager endpoints",
            cidr_ipv4="0.0.0.0/0",
            parent=self,
            tags=self._tags,
        )
        self.admit("access", group.id)
        access_role = role(
            f"{self._name}-access",
            description="Operator access instance: Systems Manager sessions only",
            trust=[instance_trust()],
            statements=[],
            parent=self,
            tags=self._tags,
        )
        attach_managed(
            f"{self._name}-access-ssm",
            role=access_role,
            policy="AmazonSSMManagedInstanceCore",
            ctx=ctx,
            parent=self,
        )
        profile = aws.iam.InstanceProfile(
            f"{self._name}-access", role=access_role.name, tags=self._tags, opts=self._child
        )
        shutdown = f"#!/bin/sh\nshutdown -h +{ACCESS_MAX_MINUTES}\n"
        template = aws.ec2.LaunchTemplate(
            f"{self._name}-access",
            description="dbops connect: a short-lived SSM port-forwarding host to PostgreSQL",
            image_id=ACCESS_IMAGE,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            vpc_security_group_ids=[group.id],
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=8,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            instance_initiated_shutdown_behavior="terminate",
            user_data=base64.b64encode(shutdown.encode()).decode(),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(
                    resource_type=kind, tags={**self._tags, "Name": f"{self._name}-access"}
                )
                for kind in ("instance", "volume")
            ],
            tags=self._tags,
            opts=self._child,
        )
        return template.id

    def _rotation(self, days: int) -> None:
        # The master secret belongs to RDS, which rotates it itself (every 7 days unless told
        # otherwise) with no Lambda function; its schedule is the secret's rotation rules, set
        # with RotateSecret and no function (Secrets Manager User Guide, "Managed rotation":
        # "To change the schedule for managed rotation"), which SecretRotation does since
        # rotation_lambda_arn became optional (hashicorp/terraform-provider-aws#34180).
        aws.secretsmanager.SecretRotation(
            f"{self._name}-secret-rotation",
            secret_id=self.secret_arn,
            rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(
                automatically_after_days=days
            ),
            # The schedule only: an `up` never rotates the password on the spot.
            rotate_immediately=False,
            opts=self._child,
        )

    def _events(self, topic: Topic, cluster: aws.rds.Cluster, aws_backup: bool) -> None:
        for source, categories, ids in (
            ("db-cluster", CLUSTER_EVENTS, [cluster.cluster_identifier]),
            # The fixed instances by id: without ids RDS reports every instance of the account
            # and region (CreateEventSubscription), other stacks' too. Autoscaled readers are
            # not covered (README, "Database operations").
            ("db-instance", INSTANCE_EVENTS, self.instance_identifiers),
        ):
            aws.rds.EventSubscription(
                f"{self._name}-{source.removeprefix('db-')}-events",
                sns_topic=topic.arn,
                source_type=source,
                source_ids=ids,
                event_categories=list(categories),
                tags=self._tags,
                opts=pulumi.ResourceOptions.merge(
                    self._child, pulumi.ResourceOptions(depends_on=list(topic.ready))
                ),
            )
        if aws_backup:
            self._backup_failures(topic, cluster)

    def _backup_failures(self, topic: Topic, cluster: aws.rds.Cluster) -> None:
        # EventBridge rather than vault notifications: those cannot filter on failure
        # (BACKUP_JOB_COMPLETED is sent for every job) and would need the topic in the copy
        # vault's region. A cross-region copy job is started, and reports, in the source region.
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-backup-failed",
            description="An AWS Backup job or cross-region copy of the cluster did not complete",
            event_pattern=pulumi.Output.json_dumps(
                {
                    "source": ["aws.backup"],
                    "detail-type": ["Backup Job State Change", "Copy Job State Change"],
                    "detail": {
                        "state": list(BACKUP_FAILED_STATES),
                        "resourceArn": [cluster.arn],
                    },
                }
            ),
            tags=self._tags,
            opts=self._child,
        )
        aws.cloudwatch.EventTarget(
            f"{self._name}-backup-failed-topic",
            rule=rule.name,
            arn=topic.arn,
            input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                input_paths={"kind": "$.detail-type", "state": "$.detail.state"},
                input_template=pulumi.Output.concat(
                    '"AWS Backup of ', cluster.cluster_identifier, ': <kind> <state>"'
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                self._child, pulumi.ResourceOptions(depends_on=list(topic.ready))
            ),
        )

    def _monitoring_role(self, ctx: StackContext) -> aws.iam.Role:
        monitoring = role(
            f"{self._name}-monitoring",
            description="Enhanced monitoring: RDS publishes OS metrics to CloudWatch Logs",
            trust=[service_trust(ctx, "monitoring.rds")],
            statements=[],
            parent=self,
            tags=self._tags,
        )
        attach_managed(
            f"{self._name}-monitoring-policy",
            role=monitoring,
            policy="service-role/AmazonRDSEnhancedMonitoringRole",
            ctx=ctx,
            parent=self,
        )
        return monitoring

    def _reader_autoscaling(
        self,
        settings: DatabaseSettings,
        identifier: str,
        instances: Sequence[aws.rds.ClusterInstance],
    ) -> None:
        target = aws.appautoscaling.Target(
            f"{self._name}-readers",
            service_namespace="rds",
            scalable_dimension="rds:cluster:ReadReplicaCount",
            resource_id=f"cluster:{identifier}",
            min_capacity=settings.reader_min,
            max_capacity=settings.reader_max,
            tags=self._tags,
            # Aurora Auto Scaling needs a cluster with its writer instance, and scales it only when
            # it is available (docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/
            # Aurora.Integrating.AutoScaling.html, "Before you begin"); registered while the
            # instances are still being created, the policy does not act on them
            # (terraform-aws-modules/terraform-aws-rds-aurora#297). The resource ID is a plain
            # string, so only this dependency orders it after every instance (and the cluster).
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(instances)),
        )
        target_tracking(
            f"{self._name}-readers-cpu",
            target=target,
            metric="RDSReaderAverageCPUUtilization",
            value=settings.reader_cpu_percent,
            cooldowns=(600, 300),
            parent=self,
        )

    def _backups(
        self,
        ctx: StackContext,
        settings: DatabaseSettings,
        key: aws.kms.Key,
        cluster: aws.rds.Cluster,
        backup_provider: aws.Provider,
    ) -> None:
        copy_key = kms_key(
            f"{self._name}-backup-copy-key",
            ctx=ctx,
            description=f"{self._name}: backup copies in the recovery region",
            statements=[],
            parent=self,
            tags=self._tags,
            provider=backup_provider,
        )
        copy_vault_name, copy_vault_opts = fitted(
            f"{self._name}-backup-copy-vault",
            Limit.BACKUP,
            pulumi.ResourceOptions(parent=self, provider=backup_provider, protect=ctx.protect_data),
        )
        copy_vault = aws.backup.Vault(
            copy_vault_name, kms_key_arn=copy_key.arn, tags=self._tags, opts=copy_vault_opts
        )
        vault_name, vault_opts = fitted(
            f"{self._name}-backup-vault",
            Limit.BACKUP,
            pulumi.ResourceOptions(parent=self, protect=ctx.protect_data),
        )
        vault = aws.backup.Vault(vault_name, kms_key_arn=key.arn, tags=self._tags, opts=vault_opts)
        hour, minute = (int(part) for part in settings.aws_backup_start.split(":"))
        plan = aws.backup.Plan(
            f"{self._name}-backup-plan",
            rules=[
                aws.backup.PlanRuleArgs(
                    rule_name="daily",
                    target_vault_name=vault.name,
                    # Daily at awsBackupStart UTC; settings keep the start window off the RDS
                    # backup and maintenance windows.
                    schedule=f"cron({minute} {hour} * * ? *)",
                    schedule_expression_timezone="Etc/UTC",
                    start_window=AWS_BACKUP_START_WINDOW,
                    completion_window=AWS_BACKUP_COMPLETION_WINDOW,
                    lifecycle=aws.backup.PlanRuleLifecycleArgs(delete_after=35),
                    copy_actions=[
                        aws.backup.PlanRuleCopyActionArgs(
                            destination_vault_arn=copy_vault.arn,
                            lifecycle=aws.backup.PlanRuleCopyActionLifecycleArgs(delete_after=35),
                        )
                    ],
                )
            ],
            tags=self._tags,
            opts=self._child,
        )
        backup_role = role(
            f"{self._name}-backup",
            description="AWS Backup: snapshot and copy this cluster",
            trust=[service_trust(ctx, "backup")],
            statements=[allow(["kms:CreateGrant", "kms:DescribeKey"], [key.arn, copy_key.arn])],
            parent=self,
            tags=self._tags,
        )
        attach_managed(
            f"{self._name}-backup-policy",
            role=backup_role,
            policy="service-role/AWSBackupServiceRolePolicyForBackup",
            ctx=ctx,
            parent=self,
        )
        selection_name, selection_opts = fitted(
            f"{self._name}-backup-selection", Limit.BACKUP, self._child
        )
        aws.backup.Selection(
            selection_name,
            plan_id=plan.id,
            iam_role_arn=backup_role.arn,
            resources=[cluster.arn],
            opts=selection_opts,
        )
