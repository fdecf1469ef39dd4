"""Database runbooks as commands: snapshot now, point-in-time restore into a new cluster, failover
drill, and a psql session through SSM. Each reads the stack's identifiers from
`pulumi stack output --json` and talks to AWS with the caller's credentials.

    python -m tooling.dbops snapshot --stack STACK [--confirm-prod]
    python -m tooling.dbops restore  --stack STACK (--time 2026-11-27T09:30:00Z | --latest)
                                     [--confirm-prod]
    python -m tooling.dbops failover --stack STACK [--target INSTANCE] [--timeout 600]
                                     [--confirm-prod]
    python -m tooling.dbops connect  --stack STACK [--db-user operator] [--local-port 15432]
                                     [--confirm-prod]

Exits 2 on bad usage (prod without --confirm-prod included), 1 when AWS refuses or the drill times
out. Nothing here changes or removes the stack's own cluster, apart from the failover it is asked
for: a restore always creates a new cluster beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    # Type stubs only (types-boto3 rds, ec2, ssm): boto3 builds the clients at run time.
    from types_boto3_ec2 import EC2Client
    from types_boto3_rds import RDSClient
    from types_boto3_rds.type_defs import (
        DBClusterTypeDef,
        RestoreDBClusterToPointInTimeMessageTypeDef,
        ServerlessV2ScalingConfigurationTypeDef,
        TagTypeDef,
        WaiterConfigTypeDef,
    )
    from types_boto3_ssm import SSMClient

PROD = "prod"
# RDS identifiers (DB cluster, DB instance, cluster snapshot): letters, digits and hyphens, a
# letter first, no two hyphens in a row, no hyphen last; at most 63 characters for clusters and
# instances, 255 for snapshots (RDS API Reference, CreateDBCluster DBClusterIdentifier,
# CreateDBInstance DBInstanceIdentifier, CreateDBClusterSnapshot DBClusterSnapshotIdentifier).
_IDENTIFIER = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]*(?<!-)$")
CLUSTER_ID_MAX, SNAPSHOT_ID_MAX = 63, 255
# Waiters poll every 30 s (the botocore rds waiter default); a restore can take an hour.
WAIT: WaiterConfigTypeDef = {"Delay": 30, "MaxAttempts": 120}
TAGS: list[TagTypeDef] = [{"Key": "CreatedBy", "Value": "tooling.dbops"}]

Outputs = Mapping[str, object]


class UsageError(Exception):
    """Bad input or a refusal before anything is called: exit 2."""


class DrillError(Exception):
    """AWS refused, or the drill did not finish in time: exit 1."""


def pulumi_outputs(stack: str) -> Outputs:
    """The stack's outputs, through the Pulumi CLI (the one seam tests replace)."""
    result = subprocess.run(
        ["pulumi", "stack", "output", "--json", "--stack", stack],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise UsageError(f"pulumi stack output --stack {stack} failed: {result.stderr.strip()}")
    parsed: object = json.loads(result.stdout)
    if not isinstance(parsed, dict):
        raise UsageError(f"pulumi stack output --stack {stack} did not return an object")
    return {str(key): value for key, value in parsed.items()}


@dataclass(frozen=True)
class Clients:
    """The AWS clients of the stack's region."""

    region: str
    rds: RDSClient
    ec2: EC2Client
    ssm: SSMClient


def aws_clients(region: str) -> Clients:
    return Clients(
        region=region,
        rds=boto3.client("rds", region_name=region),
        ec2=boto3.client("ec2", region_name=region),
        ssm=boto3.client("ssm", region_name=region),
    )


class Shell(Protocol):
    """The local programs `connect` runs: the AWS CLI's SSM session and psql."""

    def missing(self, programs: Sequence[str]) -> list[str]: ...

    def forward(self, argv: Sequence[str], port: int) -> AbstractContextManager[None]: ...

    def run(self, argv: Sequence[str], env: Mapping[str, str]) -> int: ...


class LocalShell:
    def missing(self, programs: Sequence[str]) -> list[str]:
        return [program for program in programs if shutil.which(program) is None]

    @contextmanager
    def forward(self, argv: Sequence[str], port: int) -> Iterator[None]:
        """Runs the port-forwarding session while the block runs, once the local port answers."""
        session = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL)
        try:
            for _ in range(60):
                if session.poll() is not None:
                    raise DrillError("the SSM session ended before it forwarded the port")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.5)
            else:
                raise DrillError(f"nothing answers on 127.0.0.1:{port} after 30 s")
            yield
        finally:
            session.terminate()
            session.wait(timeout=10)

    def run(self, argv: Sequence[str], env: Mapping[str, str]) -> int:
        return subprocess.run(list(argv), env={**os.environ, **env}, check=False).returncode


@dataclass(frozen=True)
class Context:
    """What a command needs: the stack's outputs, AWS clients, local programs, a clock and where
    to print."""

    stack: str
    outputs: Outputs
    aws: Clients
    out: TextIO
    shell: Shell
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = time.sleep

    @property
    def rds(self) -> RDSClient:
        return self.aws.rds

    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not isinstance(value, str) or not value:
            raise UsageError(f"stack {self.stack} has no output {key!r}: run `pulumi up` first")
        return value

    def say(self, line: str) -> None:
        print(line, file=self.out)


def identifier(text: str, limit: int, what: str) -> str:
    """`text` if RDS accepts it as an identifier of `what`, else a UsageError saying why."""
    if len(text) > limit or not _IDENTIFIER.match(text):
        raise UsageError(
            f"{what} {text!r} is not an RDS identifier: 1 to {limit} letters, digits and "
            "hyphens, a letter first, no '--', no hyphen last"
        )
    return text


def stamp(moment: datetime) -> str:
    """UTC time for identifiers: 20261127-093000."""
    return moment.astimezone(UTC).strftime("%Y%m%d-%H%M%S")


# --- snapshot -------------------------------------------------------------------------------------


def snapshot(ctx: Context, _: argparse.Namespace) -> None:
    cluster = ctx.output("databaseClusterIdentifier")
    name = identifier(f"{cluster}-manual-{stamp(ctx.now())}", SNAPSHOT_ID_MAX, "snapshot")
    started = ctx.now()
    ctx.rds.create_db_cluster_snapshot(
        DBClusterSnapshotIdentifier=name, DBClusterIdentifier=cluster, Tags=TAGS
    )
    ctx.say(f"snapshot {name} of {cluster}: creating")
    ctx.rds.get_waiter("db_cluster_snapshot_available").wait(
        DBClusterSnapshotIdentifier=name, WaiterConfig=WAIT
    )
    elapsed = (ctx.now() - started).total_seconds()
    ctx.say(f"snapshot {name}: available after {elapsed:.0f} s")
    ctx.say(
        "It is kept until deleted (manual snapshots are not expired by the backup retention): "
        f"aws rds delete-db-cluster-snapshot --db-cluster-snapshot-identifier {name}"
    )


# --- restore --------------------------------------------------------------------------------------


def _cluster(ctx: Context, cluster: str) -> DBClusterTypeDef:
    found = ctx.rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"]
    if not found:
        raise DrillError(f"RDS knows no cluster {cluster}")
    return found[0]


def _known(value: str | None, what: str) -> str:
    """A field RDS always returns for an existing cluster; a DrillError if it did not."""
    if not value:
        raise DrillError(f"RDS returned no {what}")
    return value


def _writer_or_none(cluster: DBClusterTypeDef) -> str | None:
    """The writer, or None while there is none (as in the window of a failover)."""
    writers = [
        _known(member.get("DBInstanceIdentifier"), "instance identifier")
        for member in cluster.get("DBClusterMembers", [])
        if member.get("IsClusterWriter")
    ]
    return writers[0] if writers else None


def _writer(cluster: DBClusterTypeDef) -> str:
    writer = _writer_or_none(cluster)
    if writer is None:
        raise DrillError(f"cluster {cluster.get('DBClusterIdentifier')} has no writer now")
    return writer


def _restore_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise UsageError(
            f"--time {value!r}: not an ISO 8601 time such as 2026-11-27T09:30:00Z"
        ) from error
    if moment.tzinfo is None:
        raise UsageError(f"--time {value!r}: give the zone (Z for UTC)")
    return moment.astimezone(UTC)


def _restore_request(
    existing: DBClusterTypeDef, target: str, moment: datetime | None
) -> RestoreDBClusterToPointInTimeMessageTypeDef:
    # The copy sits beside the original: same subnets, security groups, key, parameters and
    # capacity range; never the original's identifier.
    request: RestoreDBClusterToPointInTimeMessageTypeDef = {
        "DBClusterIdentifier": target,
        "SourceDBClusterIdentifier": _known(existing.get("DBClusterIdentifier"), "identifier"),
        "DBSubnetGroupName": _known(existing.get("DBSubnetGroup"), "subnet group"),
        "VpcSecurityGroupIds": [
            group["VpcSecurityGroupId"]
            for group in existing.get("VpcSecurityGroups", [])
            if "VpcSecurityGroupId" in group
        ],
        "KmsKeyId": _known(existing.get("KmsKeyId"), "KMS key"),
        "DBClusterParameterGroupName": _known(
            existing.get("DBClusterParameterGroup"), "parameter group"
        ),
        "EnableIAMDatabaseAuthentication": True,
        "EnableCloudwatchLogsExports": ["postgresql"],
        "CopyTagsToSnapshot": True,
        "DeletionProtection": True,
        "Tags": TAGS,
    }
    if moment is None:
        request["UseLatestRestorableTime"] = True
    else:
        request["RestoreToTime"] = moment
    scaling = existing.get("ServerlessV2ScalingConfiguration")
    if scaling and "MinCapacity" in scaling and "MaxCapacity" in scaling:
        capacity: ServerlessV2ScalingConfigurationTypeDef = {
            "MinCapacity": scaling["MinCapacity"],
            "MaxCapacity": scaling["MaxCapacity"],
        }
        request["ServerlessV2ScalingConfiguration"] = capacity
    return request


def restore(ctx: Context, args: argparse.Namespace) -> None:
    source = ctx.output("databaseClusterIdentifier")
    moment: datetime | None = None if args.latest else _restore_time(args.time)
    suffix = "latest" if moment is None else stamp(moment)
    target = identifier(f"{source}-pitr-{suffix}", CLUSTER_ID_MAX, "new cluster")
    existing = _cluster(ctx, source)
    writer = ctx.rds.describe_db_instances(DBInstanceIdentifier=_writer(existing))["DBInstances"]
    ctx.rds.restore_db_cluster_to_point_in_time(**_restore_request(existing, target, moment))
    ctx.say(f"restoring {source} to {suffix} into the new cluster {target}")
    ctx.rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier=target, WaiterConfig=WAIT)
    instance = identifier(f"{target}-1", CLUSTER_ID_MAX, "new instance")
    ctx.rds.create_db_instance(
        DBInstanceIdentifier=instance,
        DBClusterIdentifier=target,
        Engine=existing.get("Engine", "aurora-postgresql"),
        DBInstanceClass=writer[0].get("DBInstanceClass", "db.serverless"),
        PubliclyAccessible=False,
        Tags=TAGS,
    )
    ctx.rds.get_waiter("db_instance_available").wait(
        DBInstanceIdentifier=instance, WaiterConfig=WAIT
    )
    restored = _cluster(ctx, target)
    # A restored cluster without a MasterUserSecret has the source's password as it was: hand it
    # back to RDS to manage. One that has it already is left alone (ModifyDBCluster documents
    # ManageMasterUserPassword for turning management on, not for a cluster that has it).
    if not restored.get("MasterUserSecret"):
        ctx.rds.modify_db_cluster(
            DBClusterIdentifier=target,
            ManageMasterUserPassword=True,
            MasterUserSecretKmsKeyId=_known(existing.get("KmsKeyId"), "KMS key"),
            ApplyImmediately=True,
        )
    ctx.say(f"new cluster {target} with instance {instance}: available")
    ctx.say(f"  writer endpoint: {restored.get('Endpoint')}")
    ctx.say(f"  reader endpoint: {restored.get('ReaderEndpoint')}")
    ctx.say("What to switch afterwards (the stack still manages the original cluster):")
    ctx.say(
        f"  1. check the data on {target}: python -m tooling.dbops connect --stack {ctx.stack} "
        f"--endpoint {restored.get('Endpoint')};"
    )
    ctx.say(
        f"  2. either copy what was lost back into {source} (pg_dump the tables from {target}), "
        "or point the service at the new endpoints (DB_HOST, DB_READER_HOST) and its new "
        "master secret, and plan the stack's move to it with `pulumi import`;"
    )
    ctx.say(
        f"  3. delete {target} when done: it has deletion protection on "
        f"(aws rds modify-db-cluster --db-cluster-identifier {target} --no-deletion-protection)."
    )


# --- failover drill -------------------------------------------------------------------------------


def failover(ctx: Context, args: argparse.Namespace) -> None:
    cluster = ctx.output("databaseClusterIdentifier")
    current = _cluster(ctx, cluster)
    before = _writer(current)
    members = len(current.get("DBClusterMembers", []))
    if members < 2:
        raise UsageError(f"cluster {cluster} has {members} instance: a failover needs a reader")
    started = ctx.now()
    ctx.say(f"failover of {cluster}: writer before {before}")
    if args.target:
        ctx.rds.failover_db_cluster(
            DBClusterIdentifier=cluster, TargetDBInstanceIdentifier=args.target
        )
    else:
        ctx.rds.failover_db_cluster(DBClusterIdentifier=cluster)
    while True:
        elapsed = (ctx.now() - started).total_seconds()
        if elapsed > args.timeout:
            raise DrillError(f"the writer is still {before} after {elapsed:.0f} s")
        ctx.sleep(args.poll)
        # No writer yet is "not yet": RDS promotes the reader only after demoting the writer.
        writer = _writer_or_none(_cluster(ctx, cluster))
        if writer is not None and writer != before:
            break
    elapsed = (ctx.now() - started).total_seconds()
    ctx.say(f"writer after {writer}; elapsed {elapsed:.0f} s")


# --- connect --------------------------------------------------------------------------------------

# The programs connect needs on the operator's machine: the AWS CLI with its Session Manager
# plugin (Systems Manager User Guide, "Install the Session Manager plugin for the AWS CLI") and psql.
CONNECT_PROGRAMS = ("aws", "session-manager-plugin", "psql")
# Port forwarding to a host the instance reaches (Systems Manager User Guide, "Port forwarding
# to a remote host": document AWS-StartPortForwardingSessionToRemoteHost).
FORWARD_DOCUMENT = "AWS-StartPortForwardingSessionToRemoteHost"


def _private_subnet(ctx: Context) -> str:
    subnets = ctx.outputs.get("privateSubnetIds")
    if not isinstance(subnets, list) or not subnets or not isinstance(subnets[0], str):
        raise UsageError(f"stack {ctx.stack} has no output 'privateSubnetIds'")
    return subnets[0]


def _await_ssm(ctx: Context, instance: str, timeout: float, poll: float) -> None:
    """Until the instance's SSM agent reports Online, at most `timeout` seconds."""
    started = ctx.now()
    while True:
        found = ctx.aws.ssm.describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [instance]}]
        )["InstanceInformationList"]
        if any(info.get("PingStatus") == "Online" for info in found):
            return
        if (ctx.now() - started).total_seconds() > timeout:
            raise DrillError(f"the SSM agent of {instance} is not online after {timeout:.0f} s")
        ctx.sleep(poll)


def connect(ctx: Context, args: argparse.Namespace) -> None:
    missing = ctx.shell.missing(CONNECT_PROGRAMS)
    if missing:
        raise UsageError(f"connect needs {', '.join(missing)} on this machine (README)")
    template = ctx.output("databaseAccessLaunchTemplateId")
    endpoint = args.endpoint or ctx.output("databaseEndpoint")
    database = ctx.output("databaseName")
    subnet = _private_subnet(ctx)
    launched = ctx.aws.ec2.run_instances(
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        InstanceType=args.instance_type,
        SubnetId=subnet,
        MinCount=1,
        MaxCount=1,
    )
    instance = _known(launched["Instances"][0].get("InstanceId"), "instance ID")
    ctx.say(f"access instance {instance}: launching in {subnet}")
    try:
        ctx.aws.ec2.get_waiter("instance_running").wait(
            InstanceIds=[instance], WaiterConfig={"Delay": 5, "MaxAttempts": 60}
        )
        _await_ssm(ctx, instance, timeout=args.timeout, poll=5)
        # A token, not a password: valid 15 minutes for new connections, signed locally with the
        # caller's credentials (needs rds-db:connect on this user; README).
        token = ctx.rds.generate_db_auth_token(
            DBHostname=endpoint, Port=5432, DBUsername=args.db_user, Region=ctx.aws.region
        )
        parameters = {
            "host": [endpoint],
            "portNumber": ["5432"],
            "localPortNumber": [str(args.local_port)],
        }
        forward = ["aws", "ssm", "start-session", "--region", ctx.aws.region, "--target"]
        forward += [instance, "--document-name", FORWARD_DOCUMENT]
        forward += ["--parameters", json.dumps(parameters)]
        # TLS is required (rds.force_ssl); the certificate names the endpoint, not 127.0.0.1,
        # so psql encrypts without checking the name.
        psql = [
            "psql",
            f"host=127.0.0.1 port={args.local_port} dbname={database} user={args.db_user} "
            "sslmode=require",
        ]
        ctx.say(f"psql as {args.db_user} to {endpoint} through 127.0.0.1:{args.local_port}")
        with ctx.shell.forward(forward, args.local_port):
            code = ctx.shell.run(psql, {"PGPASSWORD": token})
        ctx.say(f"psql exited with {code}")
    finally:
        ctx.aws.ec2.terminate_instances(InstanceIds=[instance])
        ctx.say(f"access instance {instance}: terminating")


# --- command line ---------------------------------------------------------------------------------

Command = Callable[[Context, argparse.Namespace], None]


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m tooling.dbops", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    commands = root.add_subparsers(dest="command", required=True)

    def command(name: str, run: Command, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--stack", required=True, help="dev, staging or prod")
        sub.add_argument(
            "--confirm-prod", action="store_true", help="required to act on the prod stack"
        )
        sub.set_defaults(run=run)
        return sub

    command(
        "snapshot",
        snapshot,
        "Take a manual cluster snapshot now, named <cluster>-manual-<UTC time>, and wait for it.",
    )
    when = command(
        "restore",
        restore,
        "Restore the cluster to a point in time into a NEW cluster <cluster>-pitr-<time> with "
        "one instance (never over the existing one), then print what to switch.",
    ).add_mutually_exclusive_group(required=True)
    when.add_argument("--time", help="UTC time to restore to, ISO 8601 (2026-11-27T09:30:00Z)")
    when.add_argument("--latest", action="store_true", help="the latest restorable time")
    drill = command(
        "failover",
        failover,
        "Fail the cluster over to a reader and report the writer before and after and the time "
        "it took (polls until the writer changes).",
    )
    drill.add_argument("--target", help="the reader to promote (default: RDS chooses)")
    drill.add_argument("--timeout", type=int, default=600, help="seconds to wait (default 600)")
    drill.add_argument("--poll", type=float, default=5, help="seconds between checks (default 5)")
    session = command(
        "connect",
        connect,
        "Open psql on the cluster through SSM port forwarding: launches the stack's access "
        "instance, authenticates with an IAM token, terminates the instance when psql exits.",
    )
    session.add_argument("--db-user", default="operator", help="database user with rds_iam")
    session.add_argument(
        "--endpoint",
        help="another cluster endpoint, such as a restored copy's (default: the writer)",
    )
    session.add_argument("--local-port", type=int, default=15432, help="local port (15432)")
    session.add_argument(
        "--instance-type", default="t4g.nano", help="Graviton type for the instance (t4g.nano)"
    )
    session.add_argument(
        "--timeout", type=int, default=300, help="seconds to wait for the instance (300)"
    )
    return root


def main(
    argv: Sequence[str] | None = None,
    *,
    outputs: Callable[[str], Outputs] = pulumi_outputs,
    clients: Callable[[str], Clients] = aws_clients,
    shell: Shell | None = None,
    out: TextIO = sys.stdout,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    args = parser().parse_args(argv)
    try:
        if args.stack == PROD and not args.confirm_prod:
            raise UsageError(f"{args.command} acts on prod: add --confirm-prod if you mean it")
        found = outputs(args.stack)
        region = found.get("region")
        if not isinstance(region, str):
            raise UsageError(f"stack {args.stack} has no output 'region': run `pulumi up` first")
        ctx = Context(args.stack, found, clients(region), out, shell or LocalShell(), now, sleep)
        run: Command = args.run
        run(ctx, args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (DrillError, ClientError, BotoCoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
