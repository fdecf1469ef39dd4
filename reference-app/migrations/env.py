"""Alembic's entry point: migrate the database the app itself uses (the writer, IAM, TLS)."""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context

from app.database import create_engines
from app.models import Base
from app.settings import Settings

config = context.config
# From the command line (the migration task) only: a caller in-process keeps its own logging.
if config.cmd_opts is not None and config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

engines = create_engines(Settings.from_environ(os.environ))
if engines is None:
    raise SystemExit("no database configured: set the DB_* variables, or DATABASE_URL locally")

with engines.writer.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
engines.writer.dispose()
