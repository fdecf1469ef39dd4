"""Fixtures of the reference app's tests: a migrated SQLite database and a client on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

ALEMBIC_INI = Path(__file__).parents[1] / "alembic.ini"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'notes.db'}"


@pytest.fixture
def alembic_config(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Config:
    """Alembic as the migration task runs it: migrations/env.py reads the environment."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    return Config(str(ALEMBIC_INI))


@pytest.fixture
def client(database_url: str, alembic_config: Config) -> Iterator[TestClient]:
    command.upgrade(alembic_config, "head")
    with TestClient(create_app(Settings(database_url=database_url))) as client:
        yield client
