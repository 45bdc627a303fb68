"""alembic environment: migrates the database named by the caller (``courier db upgrade``) or by
``COURIER_DATABASE_URL`` when alembic's own CLI is used."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

from courier_adapters.postgres.migrate import sqlalchemy_url
from courier_adapters.postgres.schema import metadata

config = context.config
target_metadata = metadata


def _url() -> str:
    url = config.attributes.get("url") or os.environ.get("COURIER_DATABASE_URL")
    if not url:
        raise SystemExit("no database: set COURIER_DATABASE_URL or use `courier db upgrade`")
    return sqlalchemy_url(url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
