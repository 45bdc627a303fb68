"""One PostgreSQL server for the test session, a migrated template, and a fresh database per test.

The server is the embedded one (started in a temporary directory, owned by the session) unless
``COURIER_TEST_DATABASE_URL`` names a database on another server: then that server is used and the
databases the session creates there are dropped at the end.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from courier_adapters.postgres import embedded, migrate
from courier_adapters.postgres.embedded import EmbeddedPostgres, database_url


@dataclass
class TestServer:
    __test__ = False  # not a test class, despite its name

    """Where test databases are created; ``admin_url`` points at a database we may connect to."""

    admin_url: str
    template: str = ""
    prefix: str = field(default_factory=lambda: f"courier_t{uuid.uuid4().hex[:8]}")
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def url(self, database: str) -> str:
        return database_url(self.admin_url, database)

    def create(self, *, template: str | None = None, name: str | None = None) -> str:
        """Create a fresh database (a copy of the migrated template by default); return its URL."""
        name = name or f"{self.prefix}_{next(self._counter)}"
        embedded.create_database(self.admin_url, name, template=template or self.template)
        return self.url(name)

    def drop(self, url: str) -> None:
        name = url.split("?")[0].rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def drop_all(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE %s", (self.prefix + "%",)
                )
            ]
        for name in names:
            self.drop(self.url(name))


@contextmanager
def _postgres_container() -> Iterator[str]:
    """A PostgreSQL container (``make test-containers``, where a Docker engine exists)."""
    from testcontainers.community.postgres import PostgresContainer  # only with Docker

    with PostgresContainer("postgres:17-alpine", driver=None) as container:
        yield container.get_connection_url()


@contextmanager
def _server_url() -> Iterator[tuple[str, EmbeddedPostgres | None]]:
    external = os.environ.get("COURIER_TEST_DATABASE_URL")
    if external:
        yield external, None
    elif os.environ.get("COURIER_TEST_CONTAINERS") == "1":
        with _postgres_container() as url:
            yield url, None
    else:
        with tempfile.TemporaryDirectory(prefix="courier-test-pg-") as holder:
            server = embedded.start(holder)
            try:
                yield server.url("postgres"), server
            finally:
                server.stop()


@contextmanager
def running_test_server() -> Iterator[TestServer]:
    """The session's server: COURIER_TEST_DATABASE_URL's, a container's, or an embedded one."""
    with _server_url() as (admin_url, _):
        server = TestServer(admin_url=admin_url)
        server.template = f"{server.prefix}_template"
        migrate.upgrade(server.create(template="template0", name=server.template))
        try:
            yield server
        finally:
            server.drop_all()


@contextmanager
def role_with_password(database_url: str) -> Iterator[tuple[str, str]]:
    """A URL to ``database_url``'s database as a new role with a password; the password.

    The embedded server trusts local connections, so the password is not checked there; it still
    travels in every URL, which is what a test of leaks needs. The role is dropped at the end.
    """
    role, password = f"courier_secret_{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), password))
        for grant in (
            "GRANT ALL ON SCHEMA public TO {}",
            "GRANT ALL ON ALL TABLES IN SCHEMA public TO {}",
            "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {}",
        ):
            conn.execute(sql.SQL(grant).format(sql.Identifier(role)))
    params = conninfo_to_dict(database_url)
    host, port = str(params.get("host") or ""), params.get("port")
    if host.startswith("/"):
        url = f"postgresql://{role}:{password}@/{params['dbname']}?host={host}"
    else:
        url = f"postgresql://{role}:{password}@{host}{f':{port}' if port else ''}/{params['dbname']}"
    try:
        yield url, password
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
