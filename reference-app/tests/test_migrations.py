from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from app.models import Base

FOLDER = Path(__file__).parents[1]


def test_upgrade_creates_exactly_the_models_schema(
    database_url: str, alembic_config: Config
) -> None:
    command.upgrade(alembic_config, "head")
    engine = create_engine(database_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert set(inspect(connection).get_table_names()) == {"notes", "alembic_version"}
    engine.dispose()


def test_downgrade_to_base_removes_the_table(database_url: str, alembic_config: Config) -> None:
    command.upgrade(alembic_config, "head")
    command.downgrade(alembic_config, "base")
    engine = create_engine(database_url)
    with engine.connect() as connection:
        assert inspect(connection).get_table_names() == ["alembic_version"]
    engine.dispose()


def test_there_is_one_head(alembic_config: Config) -> None:
    assert len(ScriptDirectory.from_config(alembic_config).get_heads()) == 1


def test_the_migration_command_runs_from_the_images_working_directory(database_url: str) -> None:
    # The service's migration command, as the one-off task runs it: `alembic upgrade head` in the
    # folder the image copies to its working directory, the database from the environment.
    alembic = Path(sys.executable).parent / "alembic"
    done = subprocess.run(
        [str(alembic), "upgrade", "head"],
        cwd=FOLDER,
        env={"PATH": os.environ.get("PATH", ""), "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Running upgrade  -> 0001" in done.stderr
    engine = create_engine(database_url)
    with engine.connect() as connection:
        assert "notes" in inspect(connection).get_table_names()
    engine.dispose()
