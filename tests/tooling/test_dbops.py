"""Database runbooks: the RDS calls each command makes, with their parameters and in their order,
against a stubbed client (botocore Stubber checks both and refuses anything else)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import ANY, Stubber
from types_boto3_rds import RDSClient

from tooling import dbops

CLUSTER = "platform-staging-database"
OUTPUTS = {"region": "eu-west-1", "databaseClusterIdentifier": CLUSTER}
START = datetime(2026, 11, 27, 9, 30, 0, tzinfo=UTC)
KEY = "arn:aws:kms:eu-west-1:123456789012:key/db"


class Clock:
    """A clock that moves only when the command sleeps (or by `step` on each reading)."""

    def __init__(self, step: float = 0) -> None:
        self.moment, self.step, self.slept = START, step, 0.0

    def now(self) -> datetime:
        self.moment += timedelta(seconds=self.step)
        return self.moment

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.moment += timedelta(seconds=seconds)


@pytest.fixture
def rds() -> Iterator[tuple[RDSClient, Stubber]]:
    client = boto3.client(
        "rds",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def run(
    client: RDSClient, *argv: str, clock: Clock | None = None, outputs: object = None
) -> tuple[int, str, list[str]]:
    clock = clock or Clock()
    out, asked = io.StringIO(), []

    def read_outputs(stack: str) -> dbops.Outputs:
        asked.append(stack)
        return OUTPUTS if outputs is None else {}

    def make_client(region: str) -> RDSClient:
        assert region == "eu-west-1"
        return client

    code = dbops.main(
        list(argv),
        outputs=read_outputs,
        client=make_client,
        out=out,
        now=clock.now,
        sleep=clock.sleep,
    )
    return code, out.getvalue(), asked


def cluster(writer: str, *readers: str, name: str = CLUSTER) -> dict[str, object]:
    members = [{"DBInstanceIdentifier": writer, "IsClusterWriter": True}]
    members += [{"DBInstanceIdentifier": r, "IsClusterWriter": False} for r in readers]
    return {
        "DBClusters": [
            {
                "DBClusterIdentifier": name,
                "Engine": "aurora-postgresql",
                "DBClusterMembers": members,
                "DBSubnetGroup": "platform-staging-database-subnets",
                "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-db", "Status": "active"}],
                "KmsKeyId": KEY,
                "DBClusterParameterGroup": "platform-staging-database-params",
                "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 4.0},
                "Endpoint": f"{name}.cluster-abc.eu-west-1.rds.amazonaws.com",
                "ReaderEndpoint": f"{name}.cluster-ro-abc.eu-west-1.rds.amazonaws.com",
                "Status": "available",
            }
        ]
    }


# --- every command --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["snapshot", "--stack", "prod"],
        ["restore", "--stack", "prod", "--latest"],
        ["failover", "--stack", "prod"],
    ],
)
def test_prod_is_refused_without_confirmation_before_anything_is_called(
    rds: tuple[RDSClient, Stubber], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    client, _ = rds
    code, _, asked = run(client, *argv)
    assert code == 2
    assert asked == []
    assert "--confirm-prod" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["snapshot", "restore", "failover"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        dbops.main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "--stack" in text and "--confirm-prod" in text


def test_a_stack_without_outputs_is_a_usage_error(
    rds: tuple[RDSClient, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    client, _ = rds
    code, _, _ = run(client, "snapshot", "--stack", "dev", outputs={})
    assert code == 2
    assert "no output 'region'" in capsys.readouterr().err


# --- snapshot -------------------------------------------------------------------------------------


def test_snapshot_is_named_after_the_cluster_and_utc_time_and_awaited(
    rds: tuple[RDSClient, Stubber],
) -> None:
    client, stubber = rds
    name = f"{CLUSTER}-manual-20261127-093000"
    stubber.add_response(
        "create_db_cluster_snapshot",
        {"DBClusterSnapshot": {"DBClusterSnapshotIdentifier": name, "Status": "creating"}},
        {
            "DBClusterSnapshotIdentifier": name,
            "DBClusterIdentifier": CLUSTER,
            "Tags": [{"Key": "CreatedBy", "Value": "tooling.dbops"}],
        },
    )
    stubber.add_response(
        "describe_db_cluster_snapshots",
        {"DBClusterSnapshots": [{"DBClusterSnapshotIdentifier": name, "Status": "available"}]},
        {"DBClusterSnapshotIdentifier": name},
    )
    code, out, asked = run(client, "snapshot", "--stack", "staging")
    assert (code, asked) == (0, ["staging"])
    assert f"snapshot {name}: available" in out


@pytest.mark.parametrize(
    "text, accepted",
    [
        ("platform-prod-database-manual-20261127-093000", True),
        ("1platform", False),
        ("platform--prod", False),
        ("platform-", False),
        ("platform_prod", False),
        ("a" * 64, False),
    ],
)
def test_identifiers_follow_the_rds_rules(text: str, accepted: bool) -> None:
    if accepted:
        assert dbops.identifier(text, dbops.CLUSTER_ID_MAX, "cluster") == text
    else:
        with pytest.raises(dbops.UsageError):
            dbops.identifier(text, dbops.CLUSTER_ID_MAX, "cluster")


# --- restore --------------------------------------------------------------------------------------


def test_restore_creates_a_new_cluster_and_instance_beside_the_original(
    rds: tuple[RDSClient, Stubber],
) -> None:
    client, stubber = rds
    target = f"{CLUSTER}-pitr-20261127-080000"
    moment = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)
    stubber.add_response(
        "describe_db_clusters", cluster("db-1", "db-2"), {"DBClusterIdentifier": CLUSTER}
    )
    stubber.add_response(
        "describe_db_instances",
        {"DBInstances": [{"DBInstanceIdentifier": "db-1", "DBInstanceClass": "db.serverless"}]},
        {"DBInstanceIdentifier": "db-1"},
    )
    stubber.add_response(
        "restore_db_cluster_to_point_in_time",
        {"DBCluster": {"DBClusterIdentifier": target}},
        {
            "DBClusterIdentifier": target,
            "SourceDBClusterIdentifier": CLUSTER,
            "RestoreToTime": moment,
            "DBSubnetGroupName": "platform-staging-database-subnets",
            "VpcSecurityGroupIds": ["sg-db"],
            "KmsKeyId": KEY,
            "DBClusterParameterGroupName": "platform-staging-database-params",
            "EnableIAMDatabaseAuthentication": True,
            "EnableCloudwatchLogsExports": ["postgresql"],
            "CopyTagsToSnapshot": True,
            "DeletionProtection": True,
            "ServerlessV2ScalingConfiguration": {"MinCapacity": 0.5, "MaxCapacity": 4.0},
            "Tags": [{"Key": "CreatedBy", "Value": "tooling.dbops"}],
        },
    )
    stubber.add_response(
        "describe_db_clusters", cluster("x", name=target), {"DBClusterIdentifier": target}
    )
    stubber.add_response(
        "create_db_instance",
        {"DBInstance": {"DBInstanceIdentifier": f"{target}-1"}},
        {
            "DBInstanceIdentifier": f"{target}-1",
            "DBClusterIdentifier": target,
            "Engine": "aurora-postgresql",
            "DBInstanceClass": "db.serverless",
            "PubliclyAccessible": False,
            "Tags": ANY,
        },
    )
    stubber.add_response(
        "describe_db_instances",
        {"DBInstances": [{"DBInstanceIdentifier": f"{target}-1", "DBInstanceStatus": "available"}]},
        {"DBInstanceIdentifier": f"{target}-1"},
    )
    stubber.add_response(
        "modify_db_cluster",
        {"DBCluster": {"DBClusterIdentifier": target}},
        {
            "DBClusterIdentifier": target,
            "ManageMasterUserPassword": True,
            "MasterUserSecretKmsKeyId": KEY,
            "ApplyImmediately": True,
        },
    )
    stubber.add_response(
        "describe_db_clusters", cluster(f"{target}-1", name=target), {"DBClusterIdentifier": target}
    )
    code, out, _ = run(client, "restore", "--stack", "staging", "--time", "2026-11-27T08:00:00Z")
    assert code == 0
    assert f"new cluster {target} with instance {target}-1: available" in out
    assert f"writer endpoint: {target}.cluster-abc" in out
    assert "What to switch afterwards" in out and "DB_HOST" in out


def test_restore_to_the_latest_time_names_it_so(rds: tuple[RDSClient, Stubber]) -> None:
    client, stubber = rds
    stubber.add_response("describe_db_clusters", cluster("db-1"), {"DBClusterIdentifier": CLUSTER})
    stubber.add_response(
        "describe_db_instances",
        {"DBInstances": [{"DBInstanceIdentifier": "db-1", "DBInstanceClass": "db.serverless"}]},
        {"DBInstanceIdentifier": "db-1"},
    )
    stubber.add_client_error(
        "restore_db_cluster_to_point_in_time",
        "InvalidRestoreFault",
        "no restorable time",
        expected_params={
            "DBClusterIdentifier": f"{CLUSTER}-pitr-latest",
            "SourceDBClusterIdentifier": CLUSTER,
            "UseLatestRestorableTime": True,
            "DBSubnetGroupName": ANY,
            "VpcSecurityGroupIds": ANY,
            "KmsKeyId": ANY,
            "DBClusterParameterGroupName": ANY,
            "EnableIAMDatabaseAuthentication": True,
            "EnableCloudwatchLogsExports": ANY,
            "CopyTagsToSnapshot": True,
            "DeletionProtection": True,
            "ServerlessV2ScalingConfiguration": ANY,
            "Tags": ANY,
        },
    )
    code, _, _ = run(client, "restore", "--stack", "staging", "--latest")
    # AWS's refusal ends the command with 1 and nothing after it is called.
    assert code == 1


@pytest.mark.parametrize("time", ["yesterday", "2026-11-27T08:00:00"])
def test_restore_time_must_be_iso_with_a_zone(
    rds: tuple[RDSClient, Stubber], time: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client, _ = rds
    code, _, _ = run(client, "restore", "--stack", "staging", "--time", time)
    assert code == 2
    assert "--time" in capsys.readouterr().err


# --- failover drill -------------------------------------------------------------------------------


def test_failover_reports_the_writer_before_and_after_and_the_time(
    rds: tuple[RDSClient, Stubber],
) -> None:
    client, stubber = rds
    ask = {"DBClusterIdentifier": CLUSTER}
    stubber.add_response("describe_db_clusters", cluster("db-1", "db-2"), ask)
    stubber.add_response("failover_db_cluster", {"DBCluster": {}}, ask)
    stubber.add_response("describe_db_clusters", cluster("db-1", "db-2"), ask)
    stubber.add_response("describe_db_clusters", cluster("db-2", "db-1"), ask)
    clock = Clock()
    code, out, _ = run(client, "failover", "--stack", "staging", "--poll", "5", clock=clock)
    assert code == 0
    assert "writer before db-1" in out
    assert "writer after db-2; elapsed 10 s" in out
    assert clock.slept == 10


def test_failover_to_a_named_reader(rds: tuple[RDSClient, Stubber]) -> None:
    client, stubber = rds
    ask = {"DBClusterIdentifier": CLUSTER}
    stubber.add_response("describe_db_clusters", cluster("db-1", "db-2", "db-3"), ask)
    stubber.add_response(
        "failover_db_cluster", {"DBCluster": {}}, {**ask, "TargetDBInstanceIdentifier": "db-3"}
    )
    stubber.add_response("describe_db_clusters", cluster("db-3", "db-1", "db-2"), ask)
    code, out, _ = run(client, "failover", "--stack", "staging", "--target", "db-3")
    assert code == 0 and "writer after db-3" in out


def test_failover_gives_up_after_the_timeout(
    rds: tuple[RDSClient, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = rds
    ask = {"DBClusterIdentifier": CLUSTER}
    stubber.add_response("describe_db_clusters", cluster("db-1", "db-2"), ask)
    stubber.add_response("failover_db_cluster", {"DBCluster": {}}, ask)
    for _ in range(3):
        stubber.add_response("describe_db_clusters", cluster("db-1", "db-2"), ask)
    argv = ["failover", "--stack", "staging", "--poll", "10", "--timeout", "25"]
    code, _, _ = run(client, *argv)
    assert code == 1
    assert "still db-1 after 30 s" in capsys.readouterr().err


def test_failover_of_a_single_instance_cluster_is_refused(
    rds: tuple[RDSClient, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = rds
    stubber.add_response("describe_db_clusters", cluster("db-1"), {"DBClusterIdentifier": CLUSTER})
    code, _, _ = run(client, "failover", "--stack", "dev")
    assert code == 2
    assert "needs a reader" in capsys.readouterr().err
