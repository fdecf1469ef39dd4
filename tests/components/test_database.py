"""Database: Aurora PostgreSQL per stack, its protection, access and the settings guarding it."""

from __future__ import annotations

import json
from functools import cache

import pytest

from components.common import StackContext
from components.database import Database, DatabaseArgs
from components.network import Network, NetworkArgs
from components.settings import Settings, SettingsError, parse_settings
from tests.conftest import STACKS, Offline, statements
from tests.conftest import stack_run as stack_run_of_program
from tooling.offline import OfflineRun, stack_config

CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/db-key-key-id"


def build(settings: Settings, ctx: StackContext) -> Database:
    network = Network("net", NetworkArgs(settings=settings.config.network, ctx=ctx))
    database = Database(
        "db", DatabaseArgs(settings=settings.config.database, ctx=ctx, network=network)
    )
    database.admit("service", "sg-service")
    database.admit("batch", "sg-batch")
    return database


@cache
def stack_run(stack: str) -> OfflineRun:
    # The backup copy needs the program's second-region provider: component runs leave it out.
    return Offline().component(build, stack, {"platform:database": _without_copy(stack)})


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
        text = json.dumps(resource.inputs).lower()
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
    assert sorted(r["referencedSecurityGroupId"] for r in rules) == ["sg-batch", "sg-service"]
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


def test_service_reads_the_secret_by_reference_and_nothing_else() -> None:
    run = stack_run_of_program("prod")
    task = run.one("aws:ecs/taskDefinition:TaskDefinition", "service-task")
    [app] = json.loads(task.inputs["containerDefinitions"])
    secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-abc-AbCdEf"
    assert {"name": "DB_PASSWORD", "valueFrom": f"{secret}:password::"} in app["secrets"]
    assert {
        "name": "DB_HOST",
        "value": "platform-prod-database.cluster-abc.eu-west-1.rds.amazonaws.com",
    } in app["environment"]
    policy = statements(
        run.one("aws:iam/rolePolicy:RolePolicy", "service-execution-policy").inputs["policy"]
    )
    reads = next(s for s in policy if s["Action"] == ["secretsmanager:GetSecretValue"])
    assert reads["Resource"] == [secret]
    decrypt = next(s for s in policy if s["Action"] == ["kms:Decrypt"])
    assert (
        "arn:aws:kms:eu-west-1:123456789012:key/platform-prod-database-key-key-id"
        in decrypt["Resource"]
    )
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
