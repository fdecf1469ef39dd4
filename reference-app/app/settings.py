"""What the platform tells the application, read from the environment in one place.

Every tier is optional (a stack may turn it off): a tier is configured when any of its variables is
set, and then all of them must be. The names are the ones the program injects into the task
(README: The reference application); `tests/stacks/test_reference_app.py` holds the two to each
other. Only this module reads the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Local use only (never injected by the platform): a SQLAlchemy URL such as sqlite:///notes.db
# that replaces the DB_* variables.
LOCAL_DATABASE_URL = "DATABASE_URL"
# Each tier's variables, as the program injects them (components/database.py, messaging.py, cache.py).
DATABASE_VARIABLES = (
    "DB_HOST",
    "DB_READER_HOST",
    "DB_PORT",
    "DB_NAME",
    "DB_USERNAME",
    "DB_IAM_AUTH",
)
BROKER_VARIABLES = ("AMQP_URL", "AMQP_USERNAME", "AMQP_PASSWORD")
CACHE_VARIABLES = ("CACHE_HOST", "CACHE_READER_HOST", "CACHE_PORT", "CACHE_TLS", "CACHE_AUTH_TOKEN")


class SettingsError(ValueError):
    """The environment names a tier but leaves part of it out, or holds a bad value."""


@dataclass(frozen=True)
class Database:
    """A database identity: its own role, logging in with an IAM token (DB_IAM_AUTH=1)."""

    host: str
    reader_host: str
    port: int
    name: str
    username: str


@dataclass(frozen=True)
class Broker:
    """Amazon MQ for RabbitMQ: the AMQPS URL and the credentials ECS injects from the secret."""

    url: str
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Cache:
    """ElastiCache for Valkey: primary for writes, readers for reads, TLS and an AUTH token."""

    host: str
    reader_host: str
    port: int
    tls: bool
    auth_token: str = field(repr=False)


@dataclass(frozen=True)
class Settings:
    """The task's region and the tiers it was given; None for a tier that is off."""

    region: str | None = None
    database: Database | None = None
    database_url: str | None = None
    uploads_bucket: str | None = None
    broker: Broker | None = None
    cache: Cache | None = None

    def configured(self) -> list[str]:
        """The tiers this task was given (names only: `/` is public)."""
        tiers = {
            "database": self.database is not None or self.database_url is not None,
            "uploads": self.uploads_bucket is not None,
            "broker": self.broker is not None,
            "cache": self.cache is not None,
        }
        return [name for name, on in tiers.items() if on]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read every variable, report every problem at once (never a value of a secret)."""
        problems: list[str] = []
        region = environ.get("AWS_REGION") or None  # set by ECS in every task
        database_url = environ.get(LOCAL_DATABASE_URL) or None
        db = _tier(environ, problems, *DATABASE_VARIABLES)
        amqp = _tier(environ, problems, *BROKER_VARIABLES)
        cache = _tier(environ, problems, *CACHE_VARIABLES)
        if db and database_url:
            problems.append(
                f"{LOCAL_DATABASE_URL} is for local use: unset it or the DB_* variables"
            )
        if db and db["DB_IAM_AUTH"] != "1":
            problems.append("DB_IAM_AUTH must be 1: database identities log in with IAM tokens")
        if db and not region:
            problems.append("AWS_REGION is missing: IAM tokens are signed for the region")
        settings = cls(
            region=region,
            database=_database(db, problems) if db else None,
            database_url=database_url,
            uploads_bucket=environ.get("UPLOAD_S3_BUCKET") or None,
            broker=Broker(amqp["AMQP_URL"], amqp["AMQP_USERNAME"], amqp["AMQP_PASSWORD"])
            if amqp
            else None,
            cache=_cache(cache, problems) if cache else None,
        )
        if problems:
            raise SettingsError("reference-app settings: " + "; ".join(problems))
        return settings


def _database(db: dict[str, str], problems: list[str]) -> Database:
    return Database(
        host=db["DB_HOST"],
        reader_host=db["DB_READER_HOST"],
        port=_port(db, "DB_PORT", problems),
        name=db["DB_NAME"],
        username=db["DB_USERNAME"],
    )


def _cache(cache: dict[str, str], problems: list[str]) -> Cache:
    return Cache(
        host=cache["CACHE_HOST"],
        reader_host=cache["CACHE_READER_HOST"],
        port=_port(cache, "CACHE_PORT", problems),
        tls=cache["CACHE_TLS"] == "true",
        auth_token=cache["CACHE_AUTH_TOKEN"],
    )


def _tier(environ: Mapping[str, str], problems: list[str], *names: str) -> dict[str, str] | None:
    """A tier's variables when any is set (all must be), None when the tier is off."""
    values = {name: environ.get(name, "") for name in names}
    if not any(values.values()):
        return None
    if missing := [name for name, value in values.items() if not value]:
        problems.append(f"{', '.join(missing)} missing: the tier's other variables are set")
    return values


def _port(values: dict[str, str], name: str, problems: list[str]) -> int:
    if values[name].isdigit() and 0 < int(values[name]) < 65536:
        return int(values[name])
    problems.append(f"{name}: {values[name]!r} is not a port number (1-65535)")
    return 0
