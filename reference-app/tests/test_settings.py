from __future__ import annotations

import pytest

from app.settings import Broker, Cache, Database, Settings, SettingsError

# A task with every tier, as the program injects it (values as in a dev stack).
EVERY_TIER = {
    "AWS_REGION": "eu-west-1",
    "DB_HOST": "platform-dev-database.cluster-abc.eu-west-1.rds.amazonaws.com",
    "DB_READER_HOST": "platform-dev-database.cluster-ro-abc.eu-west-1.rds.amazonaws.com",
    "DB_PORT": "5432",
    "DB_NAME": "app",
    "DB_USERNAME": "app",
    "DB_IAM_AUTH": "1",
    "UPLOAD_S3_BUCKET": "platform-dev-uploads",
    "AMQP_URL": "amqps://b-1.mq.eu-west-1.amazonaws.com:5671",
    "AMQP_USERNAME": "app",
    "AMQP_PASSWORD": "broker-password",
    "CACHE_HOST": "master.platform-dev-cache.cache.amazonaws.com",
    "CACHE_READER_HOST": "replica.platform-dev-cache.cache.amazonaws.com",
    "CACHE_PORT": "6379",
    "CACHE_TLS": "true",
    "CACHE_AUTH_TOKEN": "cache-token",
}


def test_every_tier_is_read() -> None:
    settings = Settings.from_environ(EVERY_TIER)
    assert settings.region == "eu-west-1"
    assert settings.database == Database(
        host=EVERY_TIER["DB_HOST"],
        reader_host=EVERY_TIER["DB_READER_HOST"],
        port=5432,
        name="app",
        username="app",
    )
    assert settings.uploads_bucket == "platform-dev-uploads"
    assert settings.broker == Broker(EVERY_TIER["AMQP_URL"], "app", "broker-password")
    assert settings.cache == Cache(
        host=EVERY_TIER["CACHE_HOST"],
        reader_host=EVERY_TIER["CACHE_READER_HOST"],
        port=6379,
        tls=True,
        auth_token="cache-token",
    )
    assert settings.configured() == ["database", "uploads", "broker", "cache"]


def test_no_tier_is_a_valid_task() -> None:
    assert Settings.from_environ({}) == Settings()
    assert Settings.from_environ({}).configured() == []


def test_secrets_stay_out_of_the_repr() -> None:
    assert "broker-password" not in repr(Settings.from_environ(EVERY_TIER))
    assert "cache-token" not in repr(Settings.from_environ(EVERY_TIER))


def test_every_problem_is_reported_at_once_without_secret_values() -> None:
    environ = {
        **EVERY_TIER,
        "DB_PORT": "five",
        "DB_IAM_AUTH": "0",
        "AMQP_USERNAME": "",
        "CACHE_HOST": "",
    }
    with pytest.raises(SettingsError) as error:
        Settings.from_environ(environ)
    message = str(error.value)
    assert "DB_PORT: 'five' is not a port number" in message
    assert "DB_IAM_AUTH must be 1" in message
    assert "AMQP_USERNAME missing" in message
    assert "CACHE_HOST missing" in message
    assert "broker-password" not in message
    assert "cache-token" not in message


def test_the_database_needs_the_region_to_sign_tokens() -> None:
    environ = {k: v for k, v in EVERY_TIER.items() if k != "AWS_REGION"}
    with pytest.raises(SettingsError, match="AWS_REGION is missing"):
        Settings.from_environ(environ)


def test_the_local_url_does_not_mix_with_the_platforms_database() -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL is for local use"):
        Settings.from_environ({**EVERY_TIER, "DATABASE_URL": "sqlite:///notes.db"})
    local = Settings.from_environ({"DATABASE_URL": "sqlite:///notes.db"})
    assert (local.database_url, local.database, local.configured()) == (
        "sqlite:///notes.db",
        None,
        ["database"],
    )
