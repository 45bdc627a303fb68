"""Run courier's alembic migrations against any PostgreSQL (``courier db upgrade|current|downgrade``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import psycopg

from courier_adapters.postgres.errors import redact_url

if TYPE_CHECKING:
    from alembic.config import Config

# alembic (and SQLAlchemy's engine) take about a second to import: they are imported by the functions
# that migrate. Whether a database is already at the head is answered without them (up_to_date), so
# that a CLI command on a migrated database never pays for them.
_REVISION = re.compile(r"^(down_revision|revision)\s*(?::[^=]+)?=\s*(.+?)\s*$", re.MULTILINE)


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
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(_config(url), revision)


def upgrade_if_behind(url: str, connect_timeout: float = 10.0) -> bool:
    """Migrate ``url`` to the head unless it is there already; whether it migrated."""
    if up_to_date(url, connect_timeout=connect_timeout):
        return False
    upgrade(url)
    return True


def script_head() -> str | None:
    """The newest revision, read from the scripts' ``revision``/``down_revision`` lines; ``None`` when
    they do not name exactly one head (alembic then decides: :func:`head`)."""
    revisions: dict[str, str | None] = {}
    for path in (migrations_dir() / "versions").glob("*.py"):
        found = dict(_REVISION.findall(path.read_text(encoding="utf-8")))
        if "revision" not in found:
            return None
        revision = found["revision"].strip("\"'")
        down = found.get("down_revision", "None")
        revisions[revision] = None if down == "None" else down.strip("\"'")
    heads = set(revisions) - {down for down in revisions.values() if down is not None}
    return heads.pop() if len(heads) == 1 else None


def up_to_date(url: str, *, connect_timeout: float = 10.0) -> bool:
    """Whether the database at ``url`` is at the scripts' head (one query, no alembic)."""
    newest = script_head()
    if newest is None:
        return False
    with psycopg.connect(url, connect_timeout=int(connect_timeout), autocommit=True) as conn:
        table = conn.execute("SELECT to_regclass('alembic_version')").fetchone()
        if table is None or table[0] is None:
            return False
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    return [row[0] for row in rows] == [newest]


def head() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_config("postgresql://unused"))
    revision = script.get_current_head()
    assert revision is not None
    return revision


def current(url: str) -> str | None:
    """The database's revision, or ``None`` when it was never migrated."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, pool

    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


__all__ = [
    "current",
    "downgrade",
    "head",
    "migrations_dir",
    "redact_url",
    "script_head",
    "sqlalchemy_url",
    "up_to_date",
    "upgrade",
    "upgrade_if_behind",
]
