"""Engines for the writer and the readers, logging in with a fresh IAM token per connection.

Aurora IAM database authentication (Aurora User Guide, "IAM database authentication" and
"Connecting to your DB cluster using IAM authentication"): the token replaces the password, is
signed locally with the task role's credentials (no API call), and opens connections for 15
minutes only; open connections stay open. So a token is generated for every new connection of the
pool, never once at start. TLS: `sslmode=verify-full` against the RDS CA bundle baked into the
image (Aurora User Guide, "Using SSL/TLS to encrypt a connection to a DB cluster": the global
bundle from truststore.pki.rds.amazonaws.com), so the server's certificate and host name are
checked; `require` would encrypt but accept any server, which an IAM token should not be sent to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from sqlalchemy import URL, Engine, create_engine, event

from app.settings import Database, Settings

if TYPE_CHECKING:
    from types_boto3_rds import RDSClient

# Where the Dockerfile puts the RDS global CA bundle (tests/test_image.py holds the two together).
RDS_CA_BUNDLE = "/etc/ssl/certs/rds-global-bundle.pem"

# (host, port, username) -> token: the password of one new connection.
TokenSource = Callable[[str, int, str], str]


@dataclass(frozen=True)
class Engines:
    """Writes go to the writer (DB_HOST); reads may go to the readers (DB_READER_HOST), which
    trail the writer by Aurora's replica lag: read your own writes from the writer."""

    writer: Engine
    reader: Engine


def rds_tokens(rds: RDSClient) -> TokenSource:
    def token(host: str, port: int, username: str) -> str:
        return rds.generate_db_auth_token(DBHostname=host, Port=port, DBUsername=username)

    return token


def create_engines(settings: Settings, tokens: TokenSource | None = None) -> Engines | None:
    """The platform's database (IAM, TLS), a local URL, or None when the task has no database."""
    if settings.database_url:
        local = create_engine(settings.database_url, pool_pre_ping=True)
        return Engines(writer=local, reader=local)
    if settings.database:
        tokens = tokens or rds_tokens(boto3.client("rds", region_name=settings.region))
        return Engines(
            writer=iam_engine(settings.database, settings.database.host, tokens),
            reader=iam_engine(settings.database, settings.database.reader_host, tokens),
        )
    return None


def iam_engine(database: Database, host: str, tokens: TokenSource) -> Engine:
    url = URL.create(
        "postgresql+psycopg",
        username=database.username,
        host=host,
        port=database.port,
        database=database.name,
    )
    engine = create_engine(
        url,
        connect_args={"sslmode": "verify-full", "sslrootcert": RDS_CA_BUNDLE},
        # A connection dropped by a failover or a restart is replaced before it is used.
        pool_pre_ping=True,
    )

    def with_token(
        _dialect: object, _record: object, _cargs: object, cparams: dict[str, object]
    ) -> None:
        cparams["password"] = tokens(host, database.port, database.username)

    event.listen(engine, "do_connect", with_token)
    return engine
