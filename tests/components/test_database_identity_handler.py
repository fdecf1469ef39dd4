"""The identities function's SQL: idempotent, and no name reaches SQL unchecked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from components.data.database_identity_handler import (
    DATABASE_EXISTS,
    RESUME_ATTEMPTS,
    IdentityError,
    checked_database,
    checked_identifier,
    handler,
    ownership_statements,
    provision,
    role_statements,
)

CLUSTER = "arn:aws:rds:eu-west-1:123456789012:cluster:platform-dev-database"
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-abc-AbCdEf"


class ClientError(Exception):
    """What botocore raises: the error code under response["Error"]["Code"]."""

    def __init__(self, code: str):
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


class FakeDataApi:
    """Records every ExecuteStatement; answers the existence query from `databases`, and fails
    the first `resuming` calls as a paused cluster does."""

    def __init__(self, databases: set[str], resuming: int = 0, error: str | None = None):
        self.databases, self.resuming, self.error = databases, resuming, error
        self.calls: list[dict[str, Any]] = []

    def execute_statement(self, **kwargs: Any) -> Mapping[str, Any]:
        if self.error:
            raise ClientError(self.error)
        if self.resuming:
            self.resuming -= 1
            raise ClientError("DatabaseResumingException")
        self.calls.append(kwargs)
        if kwargs["sql"] == DATABASE_EXISTS:
            name = kwargs["parameters"][0]["value"]["stringValue"]
            return {"records": [[{"longValue": 1}]] if name in self.databases else []}
        return {}


def run(client: FakeDataApi, sleeps: list[float] | None = None) -> dict[str, object]:
    return provision(
        client,
        cluster_arn=CLUSTER,
        secret_arn=SECRET,
        master="platform_admin",
        username="orders",
        database="orders_db",
        sleep=(sleeps if sleeps is not None else []).append,
    )


def test_a_new_identity_gets_its_role_then_its_database_then_ownership() -> None:
    client = FakeDataApi(databases=set())
    assert run(client) == {"username": "orders", "database": "orders_db", "createdDatabase": True}
    assert [call["sql"] for call in client.calls] == [
        *role_statements("orders", "platform_admin"),
        DATABASE_EXISTS,
        'CREATE DATABASE "orders_db"',
        'ALTER DATABASE "orders_db" OWNER TO "orders"',
        'REVOKE ALL ON DATABASE "orders_db" FROM PUBLIC',
    ]
    # Every statement in the maintenance database, against this cluster with the master secret,
    # and none in a transaction (CREATE DATABASE cannot run in one).
    for call in client.calls:
        assert call["resourceArn"] == CLUSTER
        assert call["secretArn"] == SECRET
        assert call["database"] == "postgres"
        assert "transactionId" not in call


def test_running_again_creates_nothing_twice() -> None:
    client = FakeDataApi(databases={"orders_db"})
    assert run(client)["createdDatabase"] is False
    sql = [call["sql"] for call in client.calls]
    assert not [statement for statement in sql if statement.startswith("CREATE DATABASE")]
    # The role is created only inside IF NOT EXISTS.
    [create_role] = [statement for statement in sql if "CREATE ROLE" in statement]
    assert "IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'orders')" in create_role


def test_the_role_logs_in_with_iam_tokens_and_the_master_may_hand_it_a_database() -> None:
    statements = role_statements("orders", "platform_admin")
    assert 'GRANT rds_iam TO "orders"' in statements
    assert 'GRANT "orders" TO "platform_admin"' in statements


def test_a_paused_cluster_is_waited_for() -> None:
    sleeps: list[float] = []
    client = FakeDataApi(databases=set(), resuming=2)
    assert run(client, sleeps)["createdDatabase"] is True
    assert sleeps == [15, 15]


def test_a_cluster_that_never_resumes_fails_the_invocation() -> None:
    client = FakeDataApi(databases=set(), resuming=RESUME_ATTEMPTS)
    with pytest.raises(ClientError):
        run(client)


def test_other_errors_fail_at_once() -> None:
    sleeps: list[float] = []
    with pytest.raises(ClientError):
        run(FakeDataApi(databases=set(), error="ForbiddenException"), sleeps)
    assert sleeps == []


UNSAFE = ['x"; DROP DATABASE app; --', "orders'", "Orders", "1orders", "", "a" * 64]
RESERVED = ["pg_orders", "rds_iam", "rdsadmin"]


@pytest.mark.parametrize("name", [*UNSAFE, *RESERVED, None, 42])
def test_names_that_are_not_safe_identifiers_are_refused(name: object) -> None:
    with pytest.raises(IdentityError):
        checked_identifier(name, "username")


@pytest.mark.parametrize("name", [*UNSAFE, *RESERVED])
def test_an_unsafe_username_never_reaches_sql(name: str) -> None:
    client = FakeDataApi(databases=set())
    with pytest.raises(IdentityError):
        provision(
            client,
            cluster_arn=CLUSTER,
            secret_arn=SECRET,
            master="platform_admin",
            username=name,
            database="orders_db",
        )
    assert client.calls == []


@pytest.mark.parametrize("name", [*UNSAFE, "postgres", "template1", "rdsadmin"])
def test_an_unsafe_or_system_database_is_refused(name: str) -> None:
    with pytest.raises(IdentityError):
        checked_database(name)
    with pytest.raises(IdentityError):
        ownership_statements(name, "orders")


def test_an_input_without_a_field_is_refused_before_any_call() -> None:
    event = {"clusterArn": CLUSTER, "secretArn": SECRET, "masterUsername": "platform_admin"}
    with pytest.raises(IdentityError, match="no username"):
        handler({**event, "database": "orders_db"}, None)
