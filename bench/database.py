"""PostgreSQL for the benchmark: the embedded server in a temporary directory, migrated, seeded.

Each data set is its own database, copied from one migrated template and filled with
``INSERT ... SELECT generate_series``, so seeding 1,000,000 couriers takes seconds, not minutes.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg

from courier_adapters.postgres import embedded, migrate

log = logging.getLogger("bench.database")
TEMPLATE = "bench_template"

# Names are letters only (the domain forbids digits): the id's digits spelt as letters.
SEED_COURIERS = """
INSERT INTO couriers (name, phone, status, transport_type)
SELECT 'Bench ' || translate(g::text, '0123456789', 'abcdefghij'),
       '+7' || lpad(g::text, 10, '0'),
       'available',
       (ARRAY['on_foot', 'scooter', 'car'])[1 + g %% 3]
FROM generate_series(1, %(count)s) AS g
"""


@dataclass
class BenchPostgres:
    """The embedded server and the databases made on it."""

    server: embedded.EmbeddedPostgres
    databases: dict[str, str] = field(default_factory=dict)
    version: str = ""

    def database(self, name: str, *, couriers: int) -> str:
        """A fresh migrated database holding ``couriers`` available couriers; its URL."""
        started = time.monotonic()
        admin = self.server.url("postgres")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        embedded.create_database(admin, name, template=TEMPLATE)
        url = self.server.url(name)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SEED_COURIERS, {"count": couriers})
            conn.execute("VACUUM ANALYZE couriers")
            conn.execute("CHECKPOINT")  # the seed's dirty pages are written now, not during a case
        self.databases[name] = url
        log.info("database %s: %d couriers in %.1f s", name, couriers, time.monotonic() - started)
        return url

    def count(self, url: str, query: str) -> int:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(query).fetchone()
        return int(row[0]) if row else 0


@contextmanager
def bench_postgres() -> Iterator[BenchPostgres]:
    """Start an embedded PostgreSQL in a temporary directory with a migrated template; stop it after."""
    with tempfile.TemporaryDirectory(prefix="courier-bench-pg-") as directory:
        server = embedded.start(directory)
        try:
            admin = server.url("postgres")
            embedded.create_database(admin, TEMPLATE, template="template0")
            migrate.upgrade(server.url(TEMPLATE))
            with psycopg.connect(admin, autocommit=True) as conn:
                row = conn.execute("SHOW server_version").fetchone()
            yield BenchPostgres(server=server, version=str(row[0]) if row else "")
        finally:
            server.stop()
