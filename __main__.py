"""The platform program: load the stack's settings, build the components, export their outputs."""

import pulumi

from components.account_baseline import AccountBaseline, AccountBaselineArgs
from components.budget import Budget, BudgetArgs
from components.cache import Cache, CacheArgs
from components.ci_access import CiAccess, CiAccessArgs
from components.common import lookup_context
from components.database import Database, DatabaseArgs
from components.ingress_classes import IngressClasses, IngressClassesArgs
from components.kubernetes import Kubernetes, KubernetesArgs
from components.messaging import Messaging, MessagingArgs
from components.naming import Naming
from components.network import Network, NetworkArgs
from components.notifications import Notifications, NotificationsArgs
from components.observability import Observability, ObservabilityArgs, alarm_name_prefix
from components.pipeline import Pipeline, PipelineArgs
from components.release import deployed_images, health_url, released_images, service_images
from components.service import Service, ServiceArgs, UploadsAccess, Wiring
from components.settings import LEGACY_SERVICE, DatabaseMode, check_account, load_settings
from components.static_site import ApiOrigin, StaticSite, StaticSiteArgs
from components.tagging import aws_provider
from components.workloads import PipelineTargets, Workloads, WorkloadsArgs

settings = load_settings()
naming = Naming(settings.project, settings.stack)
provider = aws_provider(naming.component("aws"), settings)
ctx = lookup_context(
    project=settings.project,
    stack=settings.stack,
    log_retention_days=settings.config.log_retention_days,
    protect_data=settings.config.protect_data,
    provider=provider,
)
with_provider = pulumi.ResourceOptions(providers=[provider])
# A stack file that names its account refuses any other before anything is registered.
check_account(settings, ctx.account_id)
site_settings = settings.config.static_site
# CloudFront takes certificates and WAF web ACLs from us-east-1, and publishes its metrics there.
edge_provider = (
    aws_provider(naming.component("aws-us-east-1"), settings, "us-east-1")
    if site_settings.enabled
    else None
)

notifications = Notifications(
    naming.component("notifications"),
    NotificationsArgs(
        emails=settings.config.observability.alarm_emails, ctx=ctx, edge_provider=edge_provider
    ),
    opts=with_provider,
)

network = Network(
    naming.component("network"),
    NetworkArgs(settings=settings.config.network, ctx=ctx),
    opts=with_provider,
)

# Every tier but the network, notifications and observability is optional (`<tier>.enabled`). A
# tier that is off is None, and what another tier takes from it (admits, environment, alarms,
# outputs) is wired only when both exist; settings.py refuses the combinations that cannot work
# before anything is registered.
backup_region = settings.config.database.backup_copy_region
database = (
    Database(
        naming.component("database"),
        DatabaseArgs(
            settings=settings.config.database,
            ctx=ctx,
            network=network,
            backup_provider=aws_provider(naming.component("aws-backup"), settings, backup_region)
            if backup_region
            else None,
            topic=notifications.topic,
        ),
        opts=with_provider,
    )
    if settings.config.database.enabled
    else None
)

pipeline = (
    Pipeline(
        naming.component("pipeline"),
        PipelineArgs(
            settings=settings.config.pipeline, ctx=ctx, network=network, topic=notifications.topic
        ),
        opts=with_provider,
    )
    if settings.config.pipeline.enabled
    else None
)

# The broker and the cache: clients get their endpoints in the environment and their credentials
# by reference, like the database's; each is admitted below once its clients exist.
messaging = (
    Messaging(
        naming.component("messaging"),
        MessagingArgs(settings=settings.config.messaging, ctx=ctx, network=network),
        opts=with_provider,
    )
    if settings.config.messaging.enabled
    else None
)
cache = (
    Cache(
        naming.component("cache"),
        CacheArgs(settings=settings.config.cache, ctx=ctx, network=network),
        opts=with_provider,
    )
    if settings.config.cache.enabled
    else None
)
tiers = [tier for tier in (messaging, cache) if tier]

# What the service's tasks receive from the other tiers. Credentials are read by reference: ECS
# resolves them at task start.
service_environment: dict[str, pulumi.Input[str]] = {}
service_secrets: dict[str, pulumi.Input[str]] = {}
service_secret_arns: list[pulumi.Input[str]] = []
service_key_arns: list[pulumi.Input[str]] = []
# --- database identities of the services (issue #21): each its own role and database ------------
# A service whose name is a declared identity logs in as that identity with an IAM token
# (rds-db:connect on that user only); no service ever sees the master secret
# (tests/stacks/test_master_secret.py).
service_wiring: dict[str, Wiring] = {
    name: Wiring(
        database_environment=database.identity(name).environment(),
        database_statements=[database.connect_statement(name)],
    )
    for name in settings.config.ecs_services()
    if database and name in settings.config.database.identities
}
for tier in tiers:
    service_environment |= tier.environment()
    service_secrets |= tier.secrets()
    service_secret_arns.append(tier.secret_arn)
    service_key_arns.append(tier.key_arn)

# --- releases (issue #22): which digest each service and its migration run -----------------------
ecs_services = settings.config.ecs_services()
release = settings.config.release
deployed = (
    deployed_images(
        naming.component("deployed-images"),
        organization=pulumi.get_organization(),
        project=settings.project,
        stack=settings.stack,
    )
    if ecs_services
    else None
)
images = service_images(ecs_services, release, deployed, stack=settings.stack) if deployed else {}

# The API writes uploads where the pipeline watches for them.
service = (
    Service(
        naming.component("service"),
        ServiceArgs(
            settings=settings.config.service,
            services=settings.config.ecs_services(),
            ctx=ctx,
            network=network,
            wiring=Wiring(
                environment=service_environment,
                secrets=service_secrets,
                readable_secret_arns=service_secret_arns,
                decrypt_key_arns=service_key_arns,
                uploads=UploadsAccess(
                    bucket_name=pipeline.uploads_bucket,
                    bucket_arn=pipeline.uploads_bucket_arn,
                    prefix=settings.config.pipeline.input_prefix,
                    key_arn=pipeline.key_arn,
                )
                if pipeline
                else None,
            ),
            service_wiring=service_wiring,
            images=images,
        ),
        opts=with_provider,
    )
    if settings.config.service.enabled
    else None
)

# The site's /api/* reaches the service by the name its certificate covers, else over HTTP
# (settings refuse apiOrigin without the service).
service_domain = settings.config.service.domain_name
static_site = (
    StaticSite(
        naming.component("static-site"),
        StaticSiteArgs(
            settings=site_settings,
            ctx=ctx,
            edge_provider=edge_provider,
            api=ApiOrigin(domain=service_domain or service.alb_dns_name, https=bool(service_domain))
            if service and site_settings.api_origin
            else None,
        ),
        opts=with_provider,
    )
    if edge_provider
    else None
)

kubernetes = (
    Kubernetes(
        naming.component("kubernetes"),
        KubernetesArgs(settings=settings.config.kubernetes, ctx=ctx, network=network),
        opts=with_provider,
    )
    if settings.config.kubernetes.enabled
    else None
)

# The cluster's applications: namespaces, service accounts with their IRSA roles, and the ingress
# classes their ALBs are made from (logs, TLS policy, WAF).
kubernetes_settings = settings.config.kubernetes
workloads = (
    Workloads(
        naming.component("kubernetes-workloads"),
        WorkloadsArgs(
            settings=kubernetes_settings,
            ctx=ctx,
            provider=kubernetes.provider,
            oidc_provider_arn=kubernetes.oidc_provider_arn,
            oidc_issuer=kubernetes.oidc_issuer,
            pipeline=PipelineTargets(
                uploads_bucket=pipeline.uploads_bucket,
                results_bucket=pipeline.results_bucket,
                key_arn=pipeline.key_arn,
                state_machine_arn=pipeline.state_machine_arn,
            )
            if pipeline
            else None,
        ),
        opts=with_provider,
    )
    if kubernetes and kubernetes_settings.workloads
    else None
)
# EKS workloads' database logins: IAM authentication as their declared identity (settings refuse
# an identity the database does not declare).
if database and workloads:
    for workload_name, workload in kubernetes_settings.workloads.items():
        if workload.database:
            database.grant_connect(
                workload.database,
                client=f"workload-{workload_name}",
                role_name=workloads.workload_role_name(workload_name),
            )

ingress_classes = (
    IngressClasses(
        naming.component("kubernetes-ingress"),
        IngressClassesArgs(
            settings=kubernetes_settings,
            ctx=ctx,
            provider=kubernetes.provider,
            after=[kubernetes.load_balancer_controller],
        ),
        opts=with_provider,
    )
    if kubernetes
    else None
)

# The database, the broker and the cache admit exactly the clients that exist: the pipeline's
# Batch jobs, every service (`app` under today's client name "service") and the EKS nodes.
clients = {
    "batch": pipeline.security_group_id if pipeline else None,
    **{
        "service" if name == LEGACY_SERVICE else f"service-{name}": ecs.security_group_id
        for name, ecs in (service.services if service else {}).items()
    },
    "eks": kubernetes.node_security_group_id if kubernetes else None,
}
for server in (database, *tiers):
    for client, security_group_id in clients.items():
        if server and security_group_id is not None:
            server.admit(client, security_group_id)

observability = Observability(
    naming.component("observability"),
    ObservabilityArgs(
        settings=settings.config.observability,
        topic=notifications.topic,
        ctx=ctx,
        network=network,
        service=service,
        database=database,
        database_mode=settings.config.database.mode,
        database_instances=settings.config.database.instances,
        database_pauses=settings.config.database.mode is DatabaseMode.SERVERLESS
        and settings.config.database.min_capacity == 0,
        pipeline=pipeline,
        kubernetes=kubernetes,
        static_site=static_site,
        messaging=messaging,
        cache=cache,
        edge_topic=notifications.edge_topic,
        edge_provider=edge_provider,
    ),
    opts=with_provider,
)


pulumi.export("region", settings.region)
pulumi.export("vpcId", network.vpc_id)
pulumi.export("vpcCidr", network.cidr)
pulumi.export("zoneNames", network.zone_names)
pulumi.export("publicSubnetIds", network.public_subnet_ids)
pulumi.export("privateSubnetIds", network.private_subnet_ids)
pulumi.export("isolatedSubnetIds", network.isolated_subnet_ids)
pulumi.export("alarmTopicArn", notifications.topic.arn)
pulumi.export("dashboardName", observability.dashboard_name)
pulumi.export("alarmNamePrefix", alarm_name_prefix(settings.stack))
pulumi.export("alarmRegions", observability.alarm_regions)

if service:
    pulumi.export("serviceUrl", service.url)
    pulumi.export("albDnsName", service.alb_dns_name)
    pulumi.export("clusterName", service.cluster_name)
    # What other components and CI need of each service (task role for grants, image repository),
    # and what a release needs (RELEASE_CONTRACT.md): the image and task definition it runs, its
    # target group, where its health path answers, how to run its migration.
    pulumi.export("releasedImages", released_images(images))
    pulumi.export(
        "services",
        {
            name: {
                "serviceName": ecs.service_name,
                "repositoryUrl": ecs.repository_url,
                "securityGroupId": ecs.security_group_id,
                "taskRoleName": ecs.task_role_name,
                "taskRoleArn": ecs.task_role_arn,
                "image": ecs.image,
                "taskDefinitionArn": ecs.task_definition_arn,
                "targetGroupArn": ecs.target_group_arn,
                "healthUrl": service.url.apply(
                    lambda url, name=name: health_url(
                        url, name, ecs_services, origin_only=settings.config.service.origin_only
                    )
                ),
                "migration": ecs.migration.output() if ecs.migration else None,
            }
            for name, ecs in service.services.items()
        },
    )
    if app := service.services.get(LEGACY_SERVICE):
        pulumi.export("serviceName", app.service_name)
        pulumi.export("repositoryUrl", app.repository_url)

if database:
    pulumi.export("databaseEndpoint", database.endpoint)
    pulumi.export("databaseReaderEndpoint", database.reader_endpoint)
    pulumi.export("databasePort", database.port)
    pulumi.export("databaseSecretArn", database.secret_arn)
    pulumi.export("databaseClusterIdentifier", database.cluster_identifier)
    # What `python -m tooling.dbops connect` needs (README: Database operations).
    pulumi.export("databaseName", settings.config.database.database_name)
    pulumi.export("databaseClusterResourceId", database.cluster_resource_id)
    pulumi.export("databaseAccessLaunchTemplateId", database.access_launch_template_id)

if pipeline:
    pulumi.export("uploadsBucket", pipeline.uploads_bucket)
    pulumi.export("resultsBucket", pipeline.results_bucket)
    pulumi.export("jobQueueArn", pipeline.job_queue_arn)
    pulumi.export("jobDefinitionArn", pipeline.job_definition_arn)
    pulumi.export("stateMachineArn", pipeline.state_machine_arn)

if static_site:
    pulumi.export("siteUrl", static_site.url)
    pulumi.export("siteDistributionId", static_site.distribution_id)
    pulumi.export("siteDistributionDomainName", static_site.domain_name)
    pulumi.export("siteBucket", static_site.bucket_name)

if messaging:
    pulumi.export("messagingAmqpsEndpoint", messaging.amqps_endpoint)
    pulumi.export("messagingConsoleUrl", messaging.console_url)
    pulumi.export("messagingSecretArn", messaging.secret_arn)

if cache:
    pulumi.export("cachePrimaryEndpoint", cache.primary_endpoint)
    pulumi.export("cacheReaderEndpoint", cache.reader_endpoint)
    pulumi.export("cachePort", cache.port)
    pulumi.export("cacheSecretArn", cache.secret_arn)

if kubernetes:
    pulumi.export("kubernetesClusterName", kubernetes.cluster_name)
    pulumi.export("kubernetesEndpoint", kubernetes.endpoint)
    pulumi.export("kubernetesOidcProviderArn", kubernetes.oidc_provider_arn)
    pulumi.export("kubernetesOidcProviderUrl", kubernetes.oidc_provider_url)
    pulumi.export("kubernetesNodeRoleArn", kubernetes.node_role_arn)
    pulumi.export("kubernetesNodeSecurityGroupId", kubernetes.node_security_group_id)
    pulumi.export("kubeconfig", kubernetes.kubeconfig)
if ingress_classes:
    pulumi.export("ingressLogBucket", ingress_classes.log_bucket)
    if ingress_classes.web_acl_arn is not None:
        pulumi.export("ingressWebAclArn", ingress_classes.web_acl_arn)
if workloads:
    pulumi.export("workloadRoleArns", workloads.role_arns)

if settings.config.ci_access.enabled:
    ci_access = CiAccess(
        naming.component("ci-access"),
        CiAccessArgs(settings=settings.config.ci_access, ctx=ctx),
        opts=with_provider,
    )
    pulumi.export("deployRoleArn", ci_access.role_arn)

# --- account guards: the stack's budget, and the account baseline where this stack owns it -------
budget_settings = settings.config.budget
if budget_settings.monthly_limit is not None:
    budget = Budget(
        naming.component("budget"),
        BudgetArgs(
            settings=budget_settings,
            ctx=ctx,
            topic=notifications.topic,
            emails=settings.config.observability.alarm_emails,
        ),
        opts=with_provider,
    )
    pulumi.export("budgetName", budget.budget_name)

baseline_settings = settings.config.account_baseline
if baseline_settings.enabled:
    baseline = AccountBaseline(
        naming.component("baseline"),
        AccountBaselineArgs(settings=baseline_settings, ctx=ctx, topic=notifications.topic),
        opts=with_provider,
    )
    pulumi.export("trailArn", baseline.trail_arn)
    pulumi.export("auditBucket", baseline.bucket_name)
    pulumi.export("guardDutyDetectorId", baseline.detector_id)
