"""Run courier's alembic migrations against any PostgreSQL (``courier db upgrade|current|downgrade``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from courier_adapters.postgres.errors import redact_url


def migrations_dir() -> Path:
    """The ``migrations/`` folder: shipped inside the wheel, or at the root of a source checkout."""
    here = Path(__file__).resolve().parent
    shipped = here / "migrations"
    if (shipped / "env.py").exists():
        return shipped
    for parent in here.parents:
        candidate = parent / "migrations"
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("courier's migrations/ folder was not found")


def sqlalchemy_url(url: str) -> str:
    """Turn a libpq URL (``postgresql://...``) into SQLAlchemy's psycopg 3 form."""
    parts = urlsplit(url)
    if parts.scheme in ("postgresql", "postgres"):
        return urlunsplit(("postgresql+psycopg", *parts[1:]))
    return url


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(_config(url), revision)


def head() -> str:
    script = ScriptDirectory.from_config(_config("postgresql://unused"))
    revision = script.get_current_head()
    assert revision is not None
    return revision


def current(url: str) -> str | None:
    """The database's revision, or ``None`` when it was never migrated."""
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


__all__ = ["current", "downgrade", "head", "migrations_dir", "redact_url", "sqlalchemy_url", "upgrade"]
