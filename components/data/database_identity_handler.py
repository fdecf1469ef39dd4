"""Lambda function: creates one service's PostgreSQL login role and database, idempotently.

Shipped as the function's code (index.py) and imported by the tests: the standard library and
boto3, which the Lambda Python runtime includes, and nothing else. It runs every statement
through the RDS Data API with the RDS-managed master secret, so it needs no driver, no VPC and
no network path to the cluster. Each ExecuteStatement without a transactionId is committed on
its own (RDS Data API Reference: "If a call isn't part of a transaction because it doesn't
include the transactionID parameter, changes that result from the call are committed
automatically"), which is what CREATE DATABASE needs: PostgreSQL refuses it inside a
transaction block or a DO block.

Every name that reaches SQL is checked against IDENTIFIER first and then double-quoted; the one
lookup by value (does the database exist) passes the name as a bound parameter.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import boto3

# Lower-case PostgreSQL identifiers within NAMEDATALEN (63 bytes) that need no case folding.
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# pg_ is reserved for system roles (PostgreSQL "CREATE ROLE"); RDS reserves rds* (rds_superuser,
# rds_iam, rdsadmin, ...).
RESERVED_PREFIXES = ("pg_", "rds")
# Databases RDS and PostgreSQL keep for themselves: never handed to a service.
SYSTEM_DATABASES = frozenset({"postgres", "template0", "template1", "rdsadmin"})
# The database the statements run in: every statement here is cluster-wide.
ADMIN_DATABASE = "postgres"
# A Serverless v2 cluster paused at 0 ACU answers DatabaseResumingException while it resumes
# (Data API reference, ExecuteStatement errors); the function waits and tries again.
RESUMING = "DatabaseResumingException"
RESUME_ATTEMPTS, RESUME_WAIT_SECONDS = 10, 15


class IdentityError(ValueError):
    """An identity name that must never reach SQL."""


def checked_identifier(value: object, what: str) -> str:
    """`value` if it is a safe lower-case identifier of no reserved kind, else IdentityError."""
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise IdentityError(f"{what} {value!r} is not a lower-case PostgreSQL identifier")
    if value.startswith(RESERVED_PREFIXES):
        raise IdentityError(f"{what} {value!r} starts with a reserved prefix (pg_, rds)")
    return value


def checked_database(value: object) -> str:
    database = checked_identifier(value, "database")
    if database in SYSTEM_DATABASES:
        raise IdentityError(f"database {database!r} belongs to PostgreSQL or RDS")
    return database


def role_statements(username: str, master: str) -> list[str]:
    """Create the login role if absent, let it log in with IAM tokens only (rds_iam), and make
    the master user a member so it may hand the role a database (ALTER DATABASE ... OWNER TO
    needs membership of the new owner for a non-superuser). All of them can run again."""
    user = f'"{checked_identifier(username, "username")}"'
    admin = f'"{checked_identifier(master, "master user")}"'
    return [
        # CREATE ROLE has no IF NOT EXISTS; a DO block may hold it (unlike CREATE DATABASE).
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = "
        f"'{username}') THEN CREATE ROLE {user} LOGIN; END IF; END $$",
        f"ALTER ROLE {user} LOGIN",
        # Aurora User Guide, "Creating a database account using IAM authentication".
        f"GRANT rds_iam TO {user}",
        f"GRANT {user} TO {admin}",
    ]


DATABASE_EXISTS = "SELECT 1 FROM pg_catalog.pg_database WHERE datname = :name"


def create_database(database: str) -> str:
    return f'CREATE DATABASE "{checked_database(database)}"'


def ownership_statements(database: str, username: str) -> list[str]:
    """The role owns its database (and so, from PostgreSQL 15, its public schema), and no one
    else may connect to it or create temporary tables in it."""
    name = f'"{checked_database(database)}"'
    user = f'"{checked_identifier(username, "username")}"'
    return [f"ALTER DATABASE {name} OWNER TO {user}", f"REVOKE ALL ON DATABASE {name} FROM PUBLIC"]


class DataApi(Protocol):
    """The one call of boto3's rds-data client the function makes."""

    def execute_statement(self, **kwargs: Any) -> Mapping[str, Any]: ...


def _resuming(error: Exception) -> bool:
    response: object = getattr(error, "response", None)
    if not isinstance(response, Mapping):
        return False
    details: object = response.get("Error")
    return isinstance(details, Mapping) and details.get("Code") == RESUMING


def provision(
    client: DataApi,
    *,
    cluster_arn: str,
    secret_arn: str,
    master: str,
    username: str,
    database: str,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, object]:
    """Run every statement for one identity; returns what it did."""
    statements_before = role_statements(username, master)
    statements_after = ownership_statements(database, username)

    def run(sql: str, parameters: Sequence[Mapping[str, object]] = ()) -> Mapping[str, Any]:
        for attempt in range(1, RESUME_ATTEMPTS + 1):
            try:
                return client.execute_statement(
                    resourceArn=cluster_arn,
                    secretArn=secret_arn,
                    database=ADMIN_DATABASE,
                    sql=sql,
                    parameters=list(parameters),
                )
            except Exception as error:
                if not _resuming(error) or attempt == RESUME_ATTEMPTS:
                    raise
                sleep(RESUME_WAIT_SECONDS)
        raise AssertionError("unreachable: the last attempt returns or raises")

    for sql in statements_before:
        run(sql)
    found = run(DATABASE_EXISTS, [{"name": "name", "value": {"stringValue": database}}])
    created = not found.get("records")
    if created:
        run(create_database(database))
    for sql in statements_after:
        run(sql)
    return {"username": username, "database": database, "createdDatabase": created}


def handler(event: Mapping[str, object], _context: object) -> dict[str, object]:
    """The function's entry point: the invocation's input names the cluster, the master secret,
    the master user, and the identity's username and database."""

    def text(key: str) -> str:
        value = event.get(key)
        if not isinstance(value, str) or not value:
            raise IdentityError(f"the invocation input has no {key}")
        return value

    cluster_arn, secret_arn = text("clusterArn"), text("secretArn")
    master, username, database = text("masterUsername"), text("username"), text("database")
    return provision(
        boto3.client("rds-data"),
        cluster_arn=cluster_arn,
        secret_arn=secret_arn,
        master=master,
        username=username,
        database=database,
    )
