"""Database: Aurora PostgreSQL per stack, its protection, access and the settings guarding it."""

from __future__ import annotations

import base64
import json
from functools import cache

import pytest

from components.common import StackContext
from components.database import (
    IDENTITY_HANDLER_DIGEST,
    Database,
    DatabaseArgs,
    cluster_parameters,
)
from components.network import Network, NetworkArgs
from components.settings import (
    AURORA_POSTGRESQL_MAJORS,
    DatabaseSettings,
    Settings,
    SettingsError,
    defaults_of,
    parse_settings,
)
from tests.conftest import STACKS, Offline, component_run, settings_for, statements, tiers_off
from tests.conftest import stack_run as stack_run_of_program
from tooling.offline import OfflineRun, stack_config
from tooling.plan import diff as plan_diff

CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/db-key-key-id"
MASTER_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-abc-AbCdEf"
DATABASE_KEY = "arn:aws:kms:eu-west-1:123456789012:key/platform-prod-database-key-key-id"
# arn:<partition>:rds-db:<region>:<account>:dbuser:<cluster resource id>/<username>
DB_USER_ARN = "arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABCDEFGHIJKLMNOPQRSTUVWXY2/{}"
FUNCTION = "aws:lambda/function:Function"
INVOCATION = "aws:lambda/invocation:Invocation"


def build(settings: Settings, ctx: StackContext) -> Database:
    network = Network("net", NetworkArgs(settings=settings.config.network, ctx=ctx))
    database = Database(
        "db", DatabaseArgs(settings=settings.config.database, ctx=ctx, network=network)
    )
    database.admit("service", "sg-service")
    database.admit("batch", "sg-batch")
    return database


def stack_run(stack: str) -> OfflineRun:
    # The backup copy needs the program's second-region provider: component runs leave it out.
    return component_run(build, stack, {"platform:database": _without_copy(stack)})


def _without_copy(stack: str) -> str:
    section = json.loads(stack_config(stack)["platform:database"])
    section.pop("backupCopyRegion", None)
    return json.dumps(section)


@pytest.mark.parametrize("stack", STACKS)
def test_storage_and_secret_use_the_customer_key(stack: str) -> None:
    cluster = stack_run(stack).one(CLUSTER).inputs
    assert cluster["storageEncrypted"] is True
    assert cluster["kmsKeyId"] == KEY_ARN
    assert cluster["masterUserSecretKmsKeyId"] == KEY_ARN
    assert cluster["manageMasterUserPassword"] is True
    assert cluster["iamDatabaseAuthenticationEnabled"] is True
    assert stack_run(stack).one("aws:kms/key:Key", "db-key").inputs["enableKeyRotation"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_no_password_anywhere_in_inputs(stack: str) -> None:
    for resource in stack_run(stack).resources:
        text = json.dumps(resource.checked_inputs).lower()
        assert "masterpassword" not in text, resource.name


@pytest.mark.parametrize("stack", STACKS)
def test_only_isolated_subnets(stack: str) -> None:
    group = stack_run(stack).one("aws:rds/subnetGroup:SubnetGroup")
    assert group.inputs["subnetIds"] == [
        "subnet-isolated-1",
        "subnet-isolated-2",
        "subnet-isolated-3",
    ]
    assert all(i.inputs["publiclyAccessible"] is False for i in stack_run(stack).of_type(INSTANCE))


def test_security_group_sources_are_exactly_the_admitted_clients() -> None:
    run = stack_run("prod")
    rules = [
        r.inputs
        for r in run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == "sg-db-sg"
    ]
    # The clients, and the operator access instance `dbops connect` launches when asked.
    assert sorted(r["referencedSecurityGroupId"] for r in rules) == [
        "sg-batch",
        "sg-db-access-sg",
        "sg-service",
    ]
    assert {(r["fromPort"], r["toPort"]) for r in rules} == {(5432, 5432)}
    assert not any("cidrIpv4" in r or "cidrIpv6" in r for r in rules)
    group = run.one("aws:ec2/securityGroup:SecurityGroup", "db-sg").inputs
    assert group.get("ingress", []) == [] and group.get("egress", []) == []


@pytest.mark.parametrize("stack, count", [("dev", 1), ("staging", 2), ("prod", 3)])
def test_instances_spread_across_zones(stack: str, count: int) -> None:
    instances = sorted(stack_run(stack).of_type(INSTANCE), key=lambda r: r.name)
    assert len(instances) == count
    zones = [i.inputs["availabilityZone"] for i in instances]
    assert len(set(zones)) == count
    assert [i.inputs["promotionTier"] for i in instances] == list(range(count))
    assert all(i.inputs["instanceClass"] == "db.serverless" for i in instances)
    assert all(i.inputs["performanceInsightsKmsKeyId"] == KEY_ARN for i in instances)


@pytest.mark.parametrize("stack, days", [("dev", 1), ("staging", 7), ("prod", 30)])
def test_backup_retention_per_stack(stack: str, days: int) -> None:
    assert stack_run(stack).one(CLUSTER).inputs["backupRetentionPeriod"] == days


@pytest.mark.parametrize("stack, protected", [("dev", False), ("staging", True), ("prod", True)])
def test_protection_per_stack(stack: str, protected: bool) -> None:
    run = stack_run(stack)
    cluster = run.one(CLUSTER)
    assert cluster.inputs["deletionProtection"] is protected
    assert cluster.inputs["skipFinalSnapshot"] is (not protected)
    assert ("finalSnapshotIdentifier" in cluster.inputs) is protected
    assert cluster.protect is protected
    assert all(i.protect is protected for i in run.of_type(INSTANCE))


@pytest.mark.parametrize("stack", STACKS)
def test_ssl_is_forced_and_slow_statements_logged(stack: str) -> None:
    group = stack_run(stack).one("aws:rds/clusterParameterGroup:ClusterParameterGroup").inputs
    parameters = {p["name"]: p["value"] for p in group["parameters"]}
    assert parameters["rds.force_ssl"] == "1"
    assert parameters["log_min_duration_statement"] == "500"
    assert group["family"] == "aurora-postgresql16"


@pytest.mark.parametrize("stack", STACKS)
def test_postgresql_logs_go_to_the_precreated_group(stack: str) -> None:
    run = stack_run(stack)
    group = run.one("aws:cloudwatch/logGroup:LogGroup", "postgresql-logs").inputs
    assert group["name"] == "/aws/rds/cluster/db/postgresql"
    assert group["kmsKeyId"] == KEY_ARN
    assert run.one(CLUSTER).inputs["enabledCloudwatchLogsExports"] == ["postgresql"]


@pytest.mark.parametrize(
    "stack, scaling",
    [("dev", (0, 2, 300)), ("staging", (0.5, 4, None)), ("prod", (2, 16, None))],
)
def test_serverless_capacity_per_stack(
    stack: str, scaling: tuple[float, float, int | None]
) -> None:
    config = stack_run(stack).one(CLUSTER).inputs["serverlessv2ScalingConfiguration"]
    assert (
        config["minCapacity"],
        config["maxCapacity"],
        config.get("secondsUntilAutoPause"),
    ) == scaling


def test_enhanced_monitoring_and_reader_scaling_only_in_prod() -> None:
    prod, dev = stack_run("prod"), stack_run("dev")
    assert all(i.inputs["monitoringInterval"] == 30 for i in prod.of_type(INSTANCE))
    assert all("monitoringRoleArn" in i.inputs for i in prod.of_type(INSTANCE))
    assert all(i.inputs["monitoringInterval"] == 0 for i in dev.of_type(INSTANCE))
    target = prod.one("aws:appautoscaling/target:Target").inputs
    assert (target["minCapacity"], target["maxCapacity"]) == (2, 6)
    assert target["scalableDimension"] == "rds:cluster:ReadReplicaCount"
    assert dev.of_type("aws:appautoscaling/target:Target") == []


def test_prod_copies_backups_to_the_second_region() -> None:
    run = stack_run_of_program("prod")
    provider = run.one("pulumi:providers:aws", "aws-backup")
    assert provider.inputs["region"] == "eu-central-1"
    copy_vault = run.one("aws:backup/vault:Vault", "backup-copy-vault")
    assert copy_vault.provider is not None and copy_vault.provider.startswith(provider.urn)
    plan = run.one("aws:backup/plan:Plan").inputs
    # The copy vault's own ARN, whose name is the provider's auto-name.
    copy_vault_arn = copy_vault.outputs["arn"]
    assert run.physical_name("aws:backup/vault:Vault", "backup-copy-vault") in copy_vault_arn
    assert plan["rules"][0]["copyActions"][0]["destinationVaultArn"] == copy_vault_arn
    selection = run.one("aws:backup/selection:Selection").inputs
    assert selection["resources"] == [
        "arn:aws:rds:eu-west-1:123456789012:cluster:platform-prod-database"
    ]
    assert stack_run_of_program("dev").of_type("aws:backup/plan:Plan") == []


def test_service_connects_as_its_own_identity_with_an_iam_token() -> None:
    run = stack_run_of_program("prod")
    task = run.one("aws:ecs/taskDefinition:TaskDefinition", "service-task")
    [app, _init] = json.loads(task.inputs["containerDefinitions"])
    environment = {entry["name"]: entry["value"] for entry in app["environment"]}
    assert {k: v for k, v in environment.items() if k.startswith("DB_")} == {
        "DB_HOST": "platform-prod-database.cluster-abc.eu-west-1.rds.amazonaws.com",
        "DB_READER_HOST": "platform-prod-database.cluster-ro-abc.eu-west-1.rds.amazonaws.com",
        "DB_PORT": "5432",
        "DB_NAME": "app",
        "DB_USERNAME": "app",
        "DB_IAM_AUTH": "1",
    }
    assert not [entry for entry in app["secrets"] if entry["name"].startswith("DB_")]
    assert "rds!cluster" not in task.inputs["containerDefinitions"]
    execution = run.one("aws:iam/rolePolicy:RolePolicy", "service-execution-policy")
    assert MASTER_SECRET not in execution.inputs["policy"]
    assert DATABASE_KEY not in execution.inputs["policy"]
    task_policy = statements(
        run.one("aws:iam/rolePolicy:RolePolicy", "service-task-policy").inputs["policy"]
    )
    connect = [s for s in task_policy if "rds-db:connect" in s["Action"]]
    assert connect == [
        {"Effect": "Allow", "Action": ["rds-db:connect"], "Resource": [DB_USER_ARN.format("app")]}
    ]
    rule = run.one(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "database-from-service"
    )
    assert rule.inputs["referencedSecurityGroupId"] == "sg-platform-prod-service-tasks-sg"


def database_error(**values: object) -> str:
    with pytest.raises(SettingsError) as caught:
        parse_settings(
            project="platform", stack="prod", region="eu-west-1", raw={"database": values}
        )
    return str(caught.value)


def test_min_acu_above_max_is_reported() -> None:
    assert "minCapacity (8.0) is greater than maxCapacity (4.0)" in database_error(
        minCapacity=8, maxCapacity=4
    )


@pytest.mark.parametrize("acu", [0.3, 300])
def test_acu_outside_what_aurora_accepts_is_reported(acu: float) -> None:
    assert (
        f"{float(acu)} ACU is not what Aurora accepts: 0 to 256 in steps of 0.5"
        in database_error(maxCapacity=acu)
    )


@pytest.mark.parametrize("days", [0, 36])
def test_retention_outside_1_to_35_is_reported(days: int) -> None:
    assert f"backupRetentionDays = {days}: {days} is not between 1 and 35" in database_error(
        backupRetentionDays=days
    )


def test_zero_instances_is_reported() -> None:
    assert "platform:database.instances = 0: 0 is not between 1 and 15" in database_error(
        instances=0
    )


def test_non_postgresql_engine_version_is_reported() -> None:
    message = database_error(engineVersion="8.0.mysql_aurora.3.05.2")
    assert "not an Aurora PostgreSQL engine version" in message


def test_auto_pause_needs_a_recent_engine() -> None:
    message = database_error(engineVersion="16.1", minCapacity=0)
    assert "minCapacity 0 (auto-pause) needs engine version 16.3 or newer" in message


# --- issue 17.4: the reader autoscaling target waits for the instances -----------------------------


def test_reader_scaling_target_waits_for_every_instance() -> None:
    # Application Auto Scaling manages the readers of a cluster that already has its instances and
    # is available; registered earlier, it races their creation.
    run = stack_run("prod")
    target = run.one("aws:appautoscaling/target:Target")
    instances = {i.urn for i in run.of_type(INSTANCE)}
    assert len(instances) == 3
    assert instances <= set(target.dependencies), target.urn


# --- issue 17.10: the major version is pinned, AWS applies the minor upgrades ----------------------


def _with_database(stack: str, **values: object) -> OfflineRun:
    section = {**json.loads(_without_copy(stack)), **values}
    return Offline().component(build, stack, {"platform:database": json.dumps(section)})


@pytest.mark.parametrize("stack", STACKS)
def test_cluster_and_instances_pin_the_major_version_only(stack: str) -> None:
    run = stack_run(stack)
    assert run.one(CLUSTER).inputs["engineVersion"] == "16"
    assert [i.inputs["engineVersion"] for i in run.of_type(INSTANCE)] == ["16"] * len(
        run.of_type(INSTANCE)
    )
    assert all(i.inputs["autoMinorVersionUpgrade"] is True for i in run.of_type(INSTANCE))


def test_engine_version_changes_are_never_ignored() -> None:
    # A major upgrade in config must reach RDS: the minor drift is handled by pinning the major.
    assert "engineVersion" not in stack_run("prod").one(CLUSTER).ignore_changes


def test_parameter_group_family_follows_the_major() -> None:
    run = _with_database("staging", engineVersion="17")
    group = run.one("aws:rds/clusterParameterGroup:ClusterParameterGroup").inputs
    assert group["family"] == "aurora-postgresql17"
    assert run.one(CLUSTER).inputs["engineVersion"] == "17"


def test_default_engine_version_is_an_offered_major() -> None:
    assert defaults_of(DatabaseSettings)["engineVersion"] == "16"
    assert "16" in AURORA_POSTGRESQL_MAJORS


def test_minor_version_pin_is_reported() -> None:
    message = database_error(engineVersion="16.6")
    assert "engineVersion = '16.6': pins a minor version" in message
    assert "set the major only, such as '16'" in message


@pytest.mark.parametrize("major", ["11", "13"])
def test_major_past_standard_support_is_reported(major: str) -> None:
    message = database_error(engineVersion=major)
    assert f"platform:database.engineVersion = '{major}': Aurora PostgreSQL {major}" in message
    assert "past Aurora standard support" in message


def test_major_aurora_does_not_offer_is_reported() -> None:
    message = database_error(engineVersion="19")
    assert "platform:database.engineVersion = '19': Aurora PostgreSQL offers" in message
    assert "14, 15, 16, 17, 18" in message


def test_unquoted_major_is_read_as_the_major() -> None:
    settings = parse_settings(
        project="platform",
        stack="prod",
        region="eu-west-1",
        raw={"database": {"engineVersion": 17}},
    )
    assert settings.config.database.engine_version == "17"


# --- issue 17.11: backup and maintenance windows ---------------------------------------------------


@pytest.mark.parametrize("window", ["2:00-03:00", "02:00-24:00", "02:00 03:00", "sun:02:00-03:00"])
def test_malformed_backup_window_is_reported(window: str) -> None:
    assert (
        f"platform:database.backupWindow = {window!r}: not a daily window hh24:mi-hh24:mi (UTC)"
        in database_error(backupWindow=window)
    )


@pytest.mark.parametrize(
    "window", ["sun:03:30-04:30", "sunday:03:30-sunday:04:30", "xyz:03:30-sun:04:30"]
)
def test_malformed_maintenance_window_is_reported(window: str) -> None:
    assert (
        f"platform:database.maintenanceWindow = {window!r}: not a weekly window "
        "ddd:hh24:mi-ddd:hh24:mi (UTC)" in database_error(maintenanceWindow=window)
    )


@pytest.mark.parametrize(
    "window, minutes", [("02:00-02:29", 29), ("23:50-00:10", 20), ("02:00-02:00", 0)]
)
def test_backup_window_under_30_minutes_is_reported(window: str, minutes: int) -> None:
    assert (
        f"platform:database.backupWindow = {window!r}: {minutes} minutes long; RDS needs at least 30"
        in database_error(backupWindow=window)
    )


@pytest.mark.parametrize(
    "window, minutes", [("sun:03:30-sun:03:45", 15), ("sun:23:50-mon:00:10", 20)]
)
def test_maintenance_window_under_30_minutes_is_reported(window: str, minutes: int) -> None:
    assert (
        f"platform:database.maintenanceWindow = {window!r}: {minutes} minutes long; RDS needs at "
        "least 30" in database_error(maintenanceWindow=window)
    )


def test_backup_window_overlapping_maintenance_is_reported() -> None:
    message = database_error(backupWindow="03:00-04:00", maintenanceWindow="sun:03:30-sun:04:30")
    assert "backupWindow '03:00-04:00' overlaps maintenanceWindow 'sun:03:30-sun:04:30'" in message


def test_backup_window_across_midnight_overlapping_maintenance_is_reported() -> None:
    message = database_error(backupWindow="23:30-00:30", maintenanceWindow="wed:00:00-wed:01:00")
    assert "backupWindow '23:30-00:30' overlaps maintenanceWindow 'wed:00:00-wed:01:00'" in message


def test_maintenance_window_across_the_week_boundary_overlapping_backups_is_reported() -> None:
    message = database_error(backupWindow="00:00-00:45", maintenanceWindow="sun:23:30-mon:00:30")
    assert "backupWindow '00:00-00:45' overlaps maintenanceWindow 'sun:23:30-mon:00:30'" in message


def test_windows_on_either_side_of_midnight_are_accepted() -> None:
    settings = parse_settings(
        project="platform",
        stack="prod",
        region="eu-west-1",
        raw={
            "database": {"backupWindow": "22:00-23:30", "maintenanceWindow": "sun:23:30-mon:01:00"}
        },
    )
    assert settings.config.database.backup_window == "22:00-23:30"


@pytest.mark.parametrize("start", ["4:00", "04:60", "0400"])
def test_malformed_aws_backup_start_is_reported(start: str) -> None:
    assert (
        f"platform:database.awsBackupStart = {start!r}: not a time of day hh24:mi (UTC)"
        in database_error(awsBackupStart=start, backupCopyRegion="eu-central-1")
    )


def test_aws_backup_start_in_the_sunday_maintenance_window_is_reported() -> None:
    # The old fixed schedule, cron(0 4 * * ? *), against the default maintenance window.
    message = database_error(awsBackupStart="04:00", backupCopyRegion="eu-central-1")
    assert (
        "awsBackupStart '04:00': AWS Backup may start the job from 04:00 to 05:00 UTC "
        "(its 60-minute start window), which overlaps maintenanceWindow 'sun:03:30-sun:04:30'"
        in message
    )


def test_aws_backup_start_window_reaching_the_backup_window_is_reported() -> None:
    message = database_error(awsBackupStart="01:30", backupCopyRegion="eu-central-1")
    assert (
        "awsBackupStart '01:30': AWS Backup may start the job from 01:30 to 02:30 UTC "
        "(its 60-minute start window), which overlaps backupWindow '02:00-03:00'" in message
    )


def test_aws_backup_start_is_not_checked_without_aws_backup() -> None:
    settings = parse_settings(
        project="platform",
        stack="dev",
        region="eu-west-1",
        raw={"database": {"awsBackupStart": "02:30"}},
    )
    assert settings.config.database.aws_backup_start == "02:30"


def test_every_window_problem_is_reported_at_once() -> None:
    message = database_error(
        backupWindow="02:00-02:10", maintenanceWindow="sun:3:30-sun:04:30", awsBackupStart="25:00"
    )
    assert "backupWindow = '02:00-02:10': 10 minutes long" in message
    assert "maintenanceWindow = 'sun:3:30-sun:04:30': not a weekly window" in message
    assert "awsBackupStart = '25:00': not a time of day" in message
    assert "(3 problems)" in message


@pytest.mark.parametrize(
    "stack, backup, maintenance",
    [
        ("dev", "02:00-03:00", "sun:03:30-sun:04:30"),
        ("staging", "02:00-03:00", "sat:03:30-sat:04:30"),
        ("prod", "02:00-03:00", "sun:03:30-sun:04:30"),
    ],
)
def test_windows_per_stack(stack: str, backup: str, maintenance: str) -> None:
    cluster = stack_run(stack).one(CLUSTER).inputs
    assert (cluster["preferredBackupWindow"], cluster["preferredMaintenanceWindow"]) == (
        backup,
        maintenance,
    )


def test_aws_backup_job_starts_after_both_windows() -> None:
    [rule] = stack_run_of_program("prod").one("aws:backup/plan:Plan").inputs["rules"]
    assert rule["schedule"] == "cron(0 5 * * ? *)"
    assert rule["scheduleExpressionTimezone"] == "Etc/UTC"
    assert (rule["startWindow"], rule["completionWindow"]) == (60, 180)


# --- issue 23: events, audit, rotation --------------------------------------------------------------

SUBSCRIPTION = "aws:rds/eventSubscription:EventSubscription"


def parameters_of(run: OfflineRun) -> dict[str, tuple[str, str]]:
    group = run.one("aws:rds/clusterParameterGroup:ClusterParameterGroup").inputs
    return {p["name"]: (p["value"], p.get("applyMethod", "immediate")) for p in group["parameters"]}


@pytest.mark.parametrize("stack", STACKS)
def test_pgaudit_is_preloaded_at_the_next_reboot_and_logs_ddl_and_roles(stack: str) -> None:
    parameters = parameters_of(stack_run(stack))
    # shared_preload_libraries is static: RDS refuses the immediate apply method for it.
    assert parameters["shared_preload_libraries"] == (
        "pg_stat_statements,pgaudit",
        "pending-reboot",
    )
    assert parameters["pgaudit.log"] == ("ddl,role", "immediate")
    assert parameters["log_connections"] == ("1", "immediate")
    assert parameters["log_disconnections"] == ("1", "immediate")


@pytest.mark.parametrize(
    "major, on, expected",
    [
        ("16", True, "1"),
        ("17", False, "0"),
        # PostgreSQL 18 made log_connections a list; what `on` logged before is its first three
        # aspects (PostgreSQL 18 documentation, "log_connections"; commit 9219093 "Modularize
        # log_connections output").
        ("18", True, "receipt,authentication,authorization"),
        ("18", False, None),
    ],
)
def test_connection_logging_uses_each_majors_own_value(
    major: str, on: bool, expected: str | None
) -> None:
    settings = parse_settings(
        project="platform",
        stack="prod",
        region="eu-west-1",
        raw={"database": {"engineVersion": major, "logConnections": on}},
    )
    parameters = cluster_parameters(settings.config.database)
    value = parameters.get("log_connections")
    assert (value[0] if value else None) == expected


def test_audit_classes_and_connection_logging_follow_the_stack(offline: Offline) -> None:
    section = {"instances": 1, "auditLog": ["write", "DDL", "-misc"], "logDisconnections": False}
    parameters = parameters_of(
        offline.component(build, "dev", {"platform:database": json.dumps(section)})
    )
    assert parameters["pgaudit.log"] == ("write,ddl,-misc", "immediate")
    assert parameters["log_disconnections"] == ("0", "immediate")


def test_audit_log_all_is_never_the_default() -> None:
    assert defaults_of(DatabaseSettings)["auditLog"] == ["ddl", "role"]


def test_unknown_audit_class_is_reported() -> None:
    message = database_error(auditLog=["ddl", "selects"])
    assert "platform:database.auditLog" in message
    assert "not pgAudit classes: selects; allowed: read, write, function" in message


def test_empty_audit_log_is_reported() -> None:
    assert "empty: list at least one class, or 'none'" in database_error(auditLog=[])


@pytest.mark.parametrize("stack, days", [("dev", 7), ("staging", 30), ("prod", 365)])
def test_audit_logs_keep_the_stack_retention_and_a_year_in_prod(stack: str, days: int) -> None:
    run = stack_run_of_program(stack)
    group = run.one("aws:cloudwatch/logGroup:LogGroup", "database-postgresql-logs").inputs
    # The cluster identifier is fixed by the program, so RDS writes into this very group.
    assert group["name"] == f"/aws/rds/cluster/platform-{stack}-database/postgresql"
    assert run.one(CLUSTER).inputs["clusterIdentifier"] == f"platform-{stack}-database"
    assert group["retentionInDays"] == days


@pytest.mark.parametrize("stack", STACKS)
def test_cluster_and_instance_events_reach_the_alarm_topic(stack: str) -> None:
    run = stack_run_of_program(stack)
    topic = run.one("aws:sns/topic:Topic", "notifications-topic").outputs["arn"]
    cluster = run.one(SUBSCRIPTION, "database-cluster-events").inputs
    assert cluster["snsTopic"] == topic
    assert cluster["sourceType"] == "db-cluster"
    assert cluster["sourceIds"] == [f"platform-{stack}-database"]
    assert set(cluster["eventCategories"]) == {
        "configuration change", "failover", "failure", "maintenance", "notification",
    }  # fmt: skip
    instance = run.one(SUBSCRIPTION, "database-instance-events").inputs
    assert instance["snsTopic"] == topic
    assert instance["sourceType"] == "db-instance"
    count = {"dev": 1, "staging": 2, "prod": 3}[stack]
    assert instance["sourceIds"] == [f"platform-{stack}-database-{n}" for n in range(1, count + 1)]
    assert {"availability", "failover", "failure", "low storage"} <= set(
        instance["eventCategories"]
    )


def test_failed_backup_and_copy_jobs_of_the_cluster_reach_the_topic() -> None:
    run = stack_run_of_program("prod")
    rule = run.one("aws:cloudwatch/eventRule:EventRule", "database-backup-failed").inputs
    pattern = json.loads(rule["eventPattern"])
    assert pattern == {
        "source": ["aws.backup"],
        "detail-type": ["Backup Job State Change", "Copy Job State Change"],
        "detail": {
            "state": ["FAILED", "ABORTED", "EXPIRED", "PARTIAL"],
            "resourceArn": ["arn:aws:rds:eu-west-1:123456789012:cluster:platform-prod-database"],
        },
    }
    target = run.one("aws:cloudwatch/eventTarget:EventTarget", "database-backup-failed-topic")
    topic = run.one("aws:sns/topic:Topic", "notifications-topic").outputs["arn"]
    assert target.inputs["arn"] == topic
    # Without AWS Backup (dev, staging) there is no job to watch.
    assert not [
        r
        for r in stack_run_of_program("dev").of_type("aws:cloudwatch/eventRule:EventRule")
        if "backup" in r.name
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_master_secret_rotates_on_the_stack_schedule_without_a_function(stack: str) -> None:
    run = stack_run_of_program(stack)
    rotation = run.one("aws:secretsmanager/secretRotation:SecretRotation").inputs
    cluster = run.one(CLUSTER)
    assert rotation["secretId"] == cluster.outputs["masterUserSecrets"][0]["secretArn"]
    assert rotation["rotationRules"] == {"automaticallyAfterDays": 30}
    assert "rotationLambdaArn" not in rotation
    assert rotation["rotateImmediately"] is False


def test_rotation_days_outside_1_to_365_are_reported() -> None:
    assert "secretRotationDays = 400: 400 is not between 1 and 365" in database_error(
        secretRotationDays=400
    )


@pytest.mark.parametrize("acknowledged", [False, True])
def test_major_upgrades_are_allowed_only_when_acknowledged(
    offline: Offline, acknowledged: bool
) -> None:
    section = {"instances": 1, "allowMajorVersionUpgrade": acknowledged}
    run = offline.component(build, "dev", {"platform:database": json.dumps(section)})
    assert run.one(CLUSTER).inputs["allowMajorVersionUpgrade"] is acknowledged


# --- issue 23.6: a major version change needs the stack file's acknowledgement ---------------------


def cluster_plan(version: str, acknowledged: bool | None = None) -> dict[str, object]:
    inputs: dict[str, object] = {"engineVersion": version, "clusterIdentifier": "platform-prod-db"}
    if acknowledged is not None:
        inputs["allowMajorVersionUpgrade"] = acknowledged
    cluster = {"urn": "urn:cluster", "type": CLUSTER, "name": "platform-prod-database-cluster"}
    return {"resources": [{**cluster, "inputs": inputs, "replaceOnChanges": [], "dependsOn": {}}]}


@pytest.mark.parametrize(
    "before, after, acknowledged, refused",
    [
        ("16", "17", False, True),
        ("16", "17", None, True),
        ("16", "17", True, False),
        ("16", "16", False, False),
        # A minor pin written before the major-only policy is not a major change.
        ("16.4", "16", False, False),
        # RDS never downgrades a major: no acknowledgement makes it possible.
        ("17", "16", True, True),
    ],
)
def test_plan_refuses_an_unacknowledged_major_version_change(
    before: str, after: str, acknowledged: bool | None, refused: bool
) -> None:
    changes = plan_diff(cluster_plan(after, acknowledged), cluster_plan(before, False))
    upgrades = [line for line in changes.stateful if "major version" in line]
    assert bool(upgrades) is refused
    if refused:
        assert f"{before} -> {after}" in upgrades[0]
        assert ("database.allowMajorVersionUpgrade" in upgrades[0]) is (after > before)


# --- issue 23.5: the operator access `dbops connect` launches ---------------------------------------


def test_access_template_is_locked_down_and_terminates_itself() -> None:
    run = stack_run("prod")
    template = run.one("aws:ec2/launchTemplate:LaunchTemplate", "db-access").inputs
    assert template["imageId"].startswith("resolve:ssm:/aws/service/ami-amazon-linux-latest/")
    assert template["metadataOptions"]["httpTokens"] == "required"
    assert template["metadataOptions"]["httpPutResponseHopLimit"] == 1
    [device] = template["blockDeviceMappings"]
    assert device["ebs"]["encrypted"] == "true"
    assert template["vpcSecurityGroupIds"] == ["sg-db-access-sg"]
    assert "networkInterfaces" not in template  # no public address: the CLI picks a private subnet
    assert template["instanceInitiatedShutdownBehavior"] == "terminate"
    script = base64.b64decode(template["userData"]).decode()
    assert "shutdown -h +240" in script
    # The CLI chooses a small instance type at launch; the template pins none.
    assert "instanceType" not in template


def test_access_group_reaches_only_postgresql_and_https() -> None:
    run = stack_run("prod")
    egress = [
        r.inputs
        for r in run.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if r.inputs["securityGroupId"] == "sg-db-access-sg"
    ]
    assert sorted(
        (r["fromPort"], r.get("referencedSecurityGroupId"), r.get("cidrIpv4")) for r in egress
    ) == [
        (443, None, "0.0.0.0/0"),
        (5432, "sg-db-sg", None),
    ]
    assert not [
        r
        for r in run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == "sg-db-access-sg"
    ]


def test_access_role_holds_only_the_ssm_managed_policy() -> None:
    run = stack_run("prod")
    attached = [
        r.inputs["policyArn"]
        for r in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if "access" in r.name
    ]
    assert attached == ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]
    assert not [r for r in run.of_type("aws:iam/rolePolicy:RolePolicy") if "access" in r.name]


# --- per-service identities (issue #21) -----------------------------------------------------------


def build_identities(settings: Settings, ctx: StackContext) -> Database:
    database = build(settings, ctx)
    database.grant_connect("orders", client="orders-irsa", role_name="orders-irsa-role")
    return database


IDENTITIES = json.dumps(
    {"identities": {"app": {}, "orders": {"database": "orders_db"}}, "backupCopyRegion": None}
)


@cache
def identities_run() -> OfflineRun:
    return Offline().component(build_identities, "dev", {"platform:database": IDENTITIES})


def test_one_invocation_per_identity_with_its_role_and_database() -> None:
    run = identities_run()
    inputs = {
        invocation.name: json.loads(invocation.inputs["input"])
        for invocation in run.of_type(INVOCATION)
    }
    cluster = "arn:aws:rds:eu-west-1:123456789012:cluster:db"
    common = {"clusterArn": cluster, "secretArn": MASTER_SECRET, "masterUsername": "platform_admin"}
    assert inputs == {
        "db-identity-app": {**common, "username": "app", "database": "app"},
        "db-identity-orders": {**common, "username": "orders", "database": "orders_db"},
    }
    function = run.one(FUNCTION)
    for invocation in run.of_type(INVOCATION):
        assert invocation.inputs["functionName"] == function.checked_inputs["name"]
        # Re-run when the SQL changes; created only (never invoked on delete: data stays).
        assert invocation.inputs["triggers"] == {"handler": IDENTITY_HANDLER_DIGEST}
        assert invocation.inputs.get("lifecycleScope") in (None, "CREATE_ONLY")


def test_invocations_wait_for_the_writer_and_the_function_s_permissions() -> None:
    run = identities_run()
    writer = run.one(INSTANCE, "db-1").urn
    policy = run.one("aws:iam/rolePolicy:RolePolicy", "db-identities-policy").urn
    for invocation in run.of_type(INVOCATION):
        assert {writer, policy} <= set(invocation.dependencies), invocation.urn


def test_identities_function_runs_outside_the_vpc_with_encrypted_kept_logs() -> None:
    run = identities_run()
    function = run.one(FUNCTION).inputs
    assert function["runtime"] == "python3.13"
    assert function["handler"] == "index.handler"
    assert "vpcConfig" not in function
    assert "environment" not in function
    group = run.one("aws:cloudwatch/logGroup:LogGroup", "db-identities-logs").inputs
    assert function["loggingConfig"]["logGroup"] == group["name"] == "/aws/lambda/db-identities"
    assert group["kmsKeyId"] == KEY_ARN
    assert group["retentionInDays"] == 7


def test_identities_function_may_only_run_sql_on_this_cluster_with_the_master_secret() -> None:
    run = identities_run()
    policy = statements(
        run.one("aws:iam/rolePolicy:RolePolicy", "db-identities-policy").inputs["policy"]
    )
    by_action = {tuple(s["Action"]): s for s in policy}
    assert set(by_action) == {
        ("rds-data:ExecuteStatement",),
        ("secretsmanager:GetSecretValue",),
        ("kms:Decrypt",),
        ("logs:CreateLogStream", "logs:PutLogEvents"),
    }
    assert by_action[("rds-data:ExecuteStatement",)]["Resource"] == [
        "arn:aws:rds:eu-west-1:123456789012:cluster:db"
    ]
    assert by_action[("secretsmanager:GetSecretValue",)]["Resource"] == [MASTER_SECRET]
    decrypt = by_action[("kms:Decrypt",)]
    assert decrypt["Resource"] == [KEY_ARN]
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    }
    trust = statements(run.one("aws:iam/role:Role", "db-identities").inputs["assumeRolePolicy"])
    assert [s["Principal"] for s in trust] == [{"Service": "lambda.amazonaws.com"}]


def test_data_api_is_on_exactly_when_there_are_identities(offline: Offline) -> None:
    assert identities_run().one(CLUSTER).inputs["enableHttpEndpoint"] is True
    # Without the service, which needs identity app.
    none = {
        **tiers_off("dev", "service"),
        "platform:database": json.dumps({"identities": {}, "backupCopyRegion": None}),
    }
    run = offline.component(build, "dev", none)
    assert run.one(CLUSTER).inputs["enableHttpEndpoint"] is False
    assert run.of_type(FUNCTION) == []
    assert run.of_type(INVOCATION) == []


def test_grant_connect_lets_one_role_log_in_as_one_user_only() -> None:
    grant = identities_run().one("aws:iam/rolePolicy:RolePolicy", "db-connect-orders-irsa")
    assert grant.inputs["role"] == "orders-irsa-role"
    assert statements(grant.inputs["policy"]) == [
        {
            "Effect": "Allow",
            "Action": ["rds-db:connect"],
            "Resource": [DB_USER_ARN.format("orders")],
        }
    ]


def test_identity_names_its_database_and_user() -> None:
    settings = settings_for("dev", {"platform:database": IDENTITIES}).config.database
    assert settings.identity_database("orders") == "orders_db"
    assert settings.identity_database("app") == "app"


@pytest.mark.parametrize(
    ("identities", "expected"),
    [
        ({"App": {}}, "identities.App: 'App' is not a lower-case PostgreSQL identifier"),
        ({"rds_app": {}}, "identities.rds_app: 'rds_app' is reserved"),
        ({"pg_app": {}}, "identities.pg_app: 'pg_app' is reserved"),
        ({"platform_admin": {}}, "identities.platform_admin: 'platform_admin' is reserved"),
        ({"app": {"database": "postgres"}}, "identities.app.database: 'postgres' belongs to"),
        (
            {"app": {}, "web": {"database": "app"}},
            "identities.web.database: 'app' is already owned by identity 'app'",
        ),
    ],
)
def test_bad_identities_are_reported(identities: dict[str, object], expected: str) -> None:
    assert expected in database_error(identities=identities)


def test_data_api_on_a_t_class_is_reported() -> None:
    message = database_error(mode="provisioned", instanceClass="db.t4g.medium")
    assert "does not run on T instance classes" in message


def test_service_without_its_identity_is_reported() -> None:
    with pytest.raises(SettingsError) as caught:
        settings_for("dev", {"platform:database": json.dumps({"identities": {"web": {}}})})
    assert "connects to the database as identity 'app', which is not declared" in str(caught.value)
