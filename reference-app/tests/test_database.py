"""The platform's database path: an IAM token as the password of every new connection, over TLS
verified against the RDS CA bundle."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy import Engine, event

from app.database import RDS_CA_BUNDLE, create_engines, rds_tokens
from app.settings import Database, Settings

DATABASE = Database(
    host="writer.example", reader_host="reader.example", port=5432, name="app", username="app"
)
SETTINGS = Settings(region="eu-west-1", database=DATABASE)


class CapturedError(Exception):
    """Stops the connection attempt once the driver's arguments are known."""


def connect_params(engine: Engine) -> dict[str, object]:
    """What the engine hands psycopg.connect for a new connection (no server needed)."""
    seen: dict[str, object] = {}

    def capture(
        _dialect: object, _record: object, _cargs: object, cparams: dict[str, object]
    ) -> None:
        seen.update(cparams)
        raise CapturedError

    event.listen(engine, "do_connect", capture)
    with pytest.raises(CapturedError):
        engine.connect()
    event.remove(engine, "do_connect", capture)
    return seen


def test_every_new_connection_gets_a_fresh_token_as_its_password() -> None:
    issued: list[tuple[str, int, str]] = []

    def tokens(host: str, port: int, username: str) -> str:
        issued.append((host, port, username))
        return f"token-{len(issued)}"

    engines = create_engines(SETTINGS, tokens)
    assert engines is not None
    passwords = [connect_params(engines.writer)["password"] for _ in range(2)]
    reader = connect_params(engines.reader)
    assert passwords == ["token-1", "token-2"]
    assert reader["password"] == "token-3"
    assert issued == [
        ("writer.example", 5432, "app"),
        ("writer.example", 5432, "app"),
        ("reader.example", 5432, "app"),
    ]


@pytest.mark.parametrize("side", ["writer", "reader"])
def test_tls_is_required_and_verified_against_the_rds_bundle(side: str) -> None:
    engines = create_engines(SETTINGS, lambda host, port, username: "token")
    assert engines is not None
    params = connect_params(engines.writer if side == "writer" else engines.reader)
    assert params["sslmode"] == "verify-full"
    assert params["sslrootcert"] == RDS_CA_BUNDLE
    assert (params["user"], params["dbname"], params["port"]) == ("app", "app", 5432)


def test_the_token_is_signed_by_boto3_without_an_api_call() -> None:
    rds = boto3.client(
        "rds",
        region_name="eu-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="not-a-secret",
    )
    engines = create_engines(SETTINGS, rds_tokens(rds))
    assert engines is not None
    # Any API call would fail: the stubber has no response queued.
    with Stubber(rds):
        password = connect_params(engines.writer)["password"]
    assert isinstance(password, str)
    assert password.startswith("writer.example:5432/?Action=connect&DBUser=app&")
    assert "X-Amz-Signature=" in password
    assert "eu-west-1%2Frds-db%2Faws4_request" in password


def test_without_a_token_source_the_tasks_credentials_sign_for_its_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As in a task: credentials from the environment (ECS serves the task role's), AWS_REGION read
    # by the settings and nothing else.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    engines = create_engines(Settings(region="ap-southeast-2", database=DATABASE))
    assert engines is not None
    password = connect_params(engines.reader)["password"]
    assert isinstance(password, str)
    assert password.startswith("reader.example:5432/?Action=connect&DBUser=app&")
    assert "ap-southeast-2%2Frds-db%2Faws4_request" in password
