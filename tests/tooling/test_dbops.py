"""Database runbooks: the RDS calls each command makes, with their parameters and in their order,
against a stubbed client (botocore Stubber checks both and refuses anything else)."""

from __future__ import annotations

import io
import json
import socket
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import boto3
import pytest
from botocore.stub import ANY, Stubber
from types_boto3_ec2 import EC2Client
from types_boto3_rds import RDSClient
from types_boto3_ssm import SSMClient

from tooling import dbops

CLUSTER = "platform-staging-database"
ENDPOINT = f"{CLUSTER}.cluster-abc.eu-west-1.rds.amazonaws.com"
OUTPUTS = {
    "region": "eu-west-1",
    "databaseClusterIdentifier": CLUSTER,
    "databaseEndpoint": ENDPOINT,
    "databaseName": "app",
    "databaseAccessLaunchTemplateId": "lt-0123456789abcdef0",
    "privateSubnetIds": ["subnet-private-1", "subnet-private-2"],
}
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


# Fake credentials: the Stubber answers every call, and the IAM token is signed locally.
KEY_ID, SECRET = "testing", "testing"


Client = TypeVar("Client", RDSClient, EC2Client, SSMClient)


def stubbed(client: Client) -> Iterator[tuple[Client, Stubber]]:
    """The client with a Stubber that also fails the test if a stubbed call was never made."""
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def rds() -> Iterator[tuple[RDSClient, Stubber]]:
    yield from stubbed(
        boto3.client(
            "rds", region_name="eu-west-1", aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
        )
    )


@pytest.fixture
def ec2() -> Iterator[tuple[EC2Client, Stubber]]:
    yield from stubbed(
        boto3.client(
            "ec2", region_name="eu-west-1", aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
        )
    )


@pytest.fixture
def ssm() -> Iterator[tuple[SSMClient, Stubber]]:
    yield from stubbed(
        boto3.client(
            "ssm", region_name="eu-west-1", aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
        )
    )


@dataclass
class FakeShell:
    """Records what connect would run; `absent` programs are not installed."""

    absent: Sequence[str] = ()
    calls: list[tuple[str, list[str], dict[str, str]]] = field(default_factory=list)

    def missing(self, programs: Sequence[str]) -> list[str]:
        return [p for p in programs if p in self.absent]

    @contextmanager
    def forward(self, argv: Sequence[str], port: int) -> Iterator[None]:
        self.calls.append(("forward", list(argv), {"port": str(port)}))
        yield
        self.calls.append(("forward-ended", [], {}))

    def run(self, argv: Sequence[str], env: Mapping[str, str]) -> int:
        self.calls.append(("run", list(argv), dict(env)))
        return 0


def run(
    client: RDSClient,
    *argv: str,
    clock: Clock | None = None,
    outputs: object = None,
    ec2: EC2Client | None = None,
    ssm: SSMClient | None = None,
    shell: FakeShell | None = None,
) -> tuple[int, str, list[str]]:
    clock = clock or Clock()
    out, asked = io.StringIO(), []

    def read_outputs(stack: str) -> dbops.Outputs:
        asked.append(stack)
        return OUTPUTS if outputs is None else {}

    def make_clients(region: str) -> dbops.Clients:
        assert region == "eu-west-1"
        return dbops.Clients(
            region=region,
            rds=client,
            ec2=ec2
            or boto3.client(
                "ec2", region_name=region, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
            ),
            ssm=ssm
            or boto3.client(
                "ssm", region_name=region, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
            ),
        )

    code = dbops.main(
        list(argv),
        outputs=read_outputs,
        clients=make_clients,
        shell=shell or FakeShell(),
        out=out,
        now=clock.now,
        sleep=clock.sleep,
    )
    return code, out.getvalue(), asked


def cluster(
    writer: str, *readers: str, name: str = CLUSTER, writing: bool = True, secret: bool = False
) -> dict[str, object]:
    """A described cluster; `writing=False`: no member is writer (the window of a failover);
    `secret`: RDS manages its master password (MasterUserSecret)."""
    members = [{"DBInstanceIdentifier": writer, "IsClusterWriter": writing}]
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
                **(
                    {"MasterUserSecret": {"SecretArn": "arn:secret", "KmsKeyId": KEY}}
                    if secret
                    else {}
                ),
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
        ["connect", "--stack", "prod"],
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


@pytest.mark.parametrize("command", ["snapshot", "restore", "failover", "connect"])
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


@pytest.mark.parametrize("managed", [False, True], ids=["hands-back-password", "already-managed"])
def test_restore_creates_a_new_cluster_and_instance_beside_the_original(
    rds: tuple[RDSClient, Stubber], managed: bool
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
    # The restored cluster is described first: one that already has a MasterUserSecret (RDS
    # manages the source's password) is not modified (Stubber refuses an unexpected call).
    stubber.add_response(
        "describe_db_clusters",
        cluster(f"{target}-1", name=target, secret=managed),
        {"DBClusterIdentifier": target},
    )
    if not managed:
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
    code, out, _ = run(client, "restore", "--stack", "staging", "--time", "2026-11-27T08:00:00Z")
    assert code == 0
    assert f"new cluster {target} with instance {target}-1: available" in out
    assert f"writer endpoint: {target}.cluster-abc" in out
    assert "What to switch afterwards" in out and "DB_HOST" in out
    assert f"connect --stack staging --endpoint {target}.cluster-abc" in out


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


def test_failover_waits_through_the_window_without_a_writer(
    rds: tuple[RDSClient, Stubber],
) -> None:
    # During a failover RDS may report no member as writer for a while: that is "not yet".
    client, stubber = rds
    ask = {"DBClusterIdentifier": CLUSTER}
    nobody = cluster("db-1", "db-2", writing=False)
    stubber.add_response("describe_db_clusters", cluster("db-1", "db-2"), ask)
    stubber.add_response("failover_db_cluster", {"DBCluster": {}}, ask)
    stubber.add_response("describe_db_clusters", nobody, ask)
    stubber.add_response("describe_db_clusters", cluster("db-2", "db-1"), ask)
    code, out, _ = run(client, "failover", "--stack", "staging", "--poll", "5", clock=Clock())
    assert code == 0
    assert "writer after db-2; elapsed 10 s" in out


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


# --- connect --------------------------------------------------------------------------------------


def test_connect_launches_forwards_runs_psql_with_a_token_and_terminates(
    rds: tuple[RDSClient, Stubber],
    ec2: tuple[EC2Client, Stubber],
    ssm: tuple[SSMClient, Stubber],
) -> None:
    (rds_client, _), (ec2_client, ec2_stub), (ssm_client, ssm_stub) = rds, ec2, ssm
    instance = "i-0123456789abcdef0"
    ec2_stub.add_response(
        "run_instances",
        {"Instances": [{"InstanceId": instance}]},
        {
            "LaunchTemplate": {"LaunchTemplateId": "lt-0123456789abcdef0", "Version": "$Latest"},
            "InstanceType": "t4g.nano",
            "SubnetId": "subnet-private-1",
            "MinCount": 1,
            "MaxCount": 1,
        },
    )
    ec2_stub.add_response(
        "describe_instances",
        {"Reservations": [{"Instances": [{"InstanceId": instance, "State": {"Name": "running"}}]}]},
        {"InstanceIds": [instance]},
    )
    filters = {"Filters": [{"Key": "InstanceIds", "Values": [instance]}]}
    ssm_stub.add_response("describe_instance_information", {"InstanceInformationList": []}, filters)
    ssm_stub.add_response(
        "describe_instance_information",
        {"InstanceInformationList": [{"InstanceId": instance, "PingStatus": "Online"}]},
        filters,
    )
    ec2_stub.add_response(
        "terminate_instances",
        {"TerminatingInstances": [{"InstanceId": instance}]},
        {"InstanceIds": [instance]},
    )
    shell = FakeShell()
    clock = Clock()
    code, out, _ = run(
        rds_client, "connect", "--stack", "staging", ec2=ec2_client, ssm=ssm_client, shell=shell,
        clock=clock,
    )  # fmt: skip
    assert code == 0
    assert clock.slept == 5  # one wait for the SSM agent
    [(kind, forward, port), (_, psql, env), (ended, _, _)] = shell.calls
    assert (kind, ended, port) == ("forward", "forward-ended", {"port": "15432"})
    assert forward[:7] == [
        "aws",
        "ssm",
        "start-session",
        "--region",
        "eu-west-1",
        "--target",
        instance,
    ]
    assert forward[7:9] == ["--document-name", "AWS-StartPortForwardingSessionToRemoteHost"]
    assert json.loads(forward[10]) == {
        "host": [ENDPOINT],
        "portNumber": ["5432"],
        "localPortNumber": ["15432"],
    }
    assert psql == [
        "psql",
        "host=127.0.0.1 port=15432 dbname=app user=operator sslmode=require",
    ]
    # An IAM authentication token for the endpoint and user, not a password.
    token = env["PGPASSWORD"]
    assert token.startswith(f"{ENDPOINT}:5432/?Action=connect&DBUser=operator")
    assert "X-Amz-Signature=" in token
    assert out.splitlines()[-1] == f"access instance {instance}: terminating"


def test_connect_terminates_the_instance_when_it_never_comes_online(
    rds: tuple[RDSClient, Stubber],
    ec2: tuple[EC2Client, Stubber],
    ssm: tuple[SSMClient, Stubber],
    capsys: pytest.CaptureFixture[str],
) -> None:
    (rds_client, _), (ec2_client, ec2_stub), (ssm_client, ssm_stub) = rds, ec2, ssm
    instance = "i-0123456789abcdef0"
    ec2_stub.add_response("run_instances", {"Instances": [{"InstanceId": instance}]}, None)
    ec2_stub.add_response(
        "describe_instances",
        {"Reservations": [{"Instances": [{"InstanceId": instance, "State": {"Name": "running"}}]}]},
        None,
    )
    # Checked at 0, 5, 10 and 15 s: past the 10 s timeout.
    for _ in range(4):
        ssm_stub.add_response(
            "describe_instance_information", {"InstanceInformationList": []}, None
        )
    ec2_stub.add_response(
        "terminate_instances", {"TerminatingInstances": []}, {"InstanceIds": [instance]}
    )
    shell = FakeShell()
    argv = ["connect", "--stack", "staging", "--timeout", "10"]
    code, _, _ = run(rds_client, *argv, ec2=ec2_client, ssm=ssm_client, shell=shell)
    assert code == 1
    assert shell.calls == []
    assert "not online after 10 s" in capsys.readouterr().err


def test_connect_needs_the_session_plugin_and_psql_before_launching_anything(
    rds: tuple[RDSClient, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    client, _ = rds
    shell = FakeShell(absent=("session-manager-plugin", "psql"))
    code, _, _ = run(client, "connect", "--stack", "staging", shell=shell)
    assert code == 2
    assert "needs session-manager-plugin, psql" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_local_forward_waits_for_the_port_and_stops_the_session() -> None:
    port = _free_port()
    listener = (
        "import socket, time; s = socket.socket(); "
        f"s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(60)"
    )
    with dbops.LocalShell().forward([sys.executable, "-c", listener], port):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_local_forward_reports_a_session_that_ends_early() -> None:
    with (
        pytest.raises(dbops.DrillError, match="ended before it forwarded"),
        dbops.LocalShell().forward([sys.executable, "-c", "pass"], _free_port()),
    ):
        pass
