"""Database runbooks as commands: snapshot now, point-in-time restore into a new cluster, failover
drill. Each reads the stack's identifiers from `pulumi stack output --json` and talks to RDS.

    python -m tooling.dbops snapshot --stack STACK [--confirm-prod]
    python -m tooling.dbops restore  --stack STACK (--time 2026-11-27T09:30:00Z | --latest)
                                     [--confirm-prod]
    python -m tooling.dbops failover --stack STACK [--target INSTANCE] [--timeout 600]
                                     [--confirm-prod]

Exits 2 on bad usage (prod without --confirm-prod included), 1 when AWS refuses or the drill times
out. Nothing here changes or removes the stack's own cluster, apart from the failover it is asked
for: a restore always creates a new cluster beside it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    # Type stubs only (types-boto3-rds): boto3 builds the client at run time.
    from types_boto3_rds import RDSClient
    from types_boto3_rds.type_defs import (
        DBClusterTypeDef,
        RestoreDBClusterToPointInTimeMessageTypeDef,
        ServerlessV2ScalingConfigurationTypeDef,
        TagTypeDef,
        WaiterConfigTypeDef,
    )

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


def rds_client(region: str) -> RDSClient:
    return boto3.client("rds", region_name=region)


@dataclass(frozen=True)
class Context:
    """What a command needs: the stack's outputs, an RDS client, a clock and where to print."""

    stack: str
    outputs: Outputs
    rds: RDSClient
    out: TextIO
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = time.sleep

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


def _writer(cluster: DBClusterTypeDef) -> str:
    writers = [
        _known(member.get("DBInstanceIdentifier"), "instance identifier")
        for member in cluster.get("DBClusterMembers", [])
        if member.get("IsClusterWriter")
    ]
    if not writers:
        raise DrillError(f"cluster {cluster.get('DBClusterIdentifier')} has no writer now")
    return writers[0]


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
    # A restored cluster takes the source's password as it was; hand it back to RDS to manage.
    ctx.rds.modify_db_cluster(
        DBClusterIdentifier=target,
        ManageMasterUserPassword=True,
        MasterUserSecretKmsKeyId=_known(existing.get("KmsKeyId"), "KMS key"),
        ApplyImmediately=True,
    )
    restored = _cluster(ctx, target)
    ctx.say(f"new cluster {target} with instance {instance}: available")
    ctx.say(f"  writer endpoint: {restored.get('Endpoint')}")
    ctx.say(f"  reader endpoint: {restored.get('ReaderEndpoint')}")
    ctx.say("What to switch afterwards (the stack still manages the original cluster):")
    ctx.say(f"  1. check the data on {target} (make db-connect reaches it by endpoint);")
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
        writer = _writer(_cluster(ctx, cluster))
        if writer != before:
            break
    elapsed = (ctx.now() - started).total_seconds()
    ctx.say(f"writer after {writer}; elapsed {elapsed:.0f} s")


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
    return root


def main(
    argv: Sequence[str] | None = None,
    *,
    outputs: Callable[[str], Outputs] = pulumi_outputs,
    client: Callable[[str], RDSClient] = rds_client,
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
        ctx = Context(args.stack, found, client(region), out, now, sleep)
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
