"""Migrations build the schema (never metadata.create_all), go down cleanly, and match the metadata."""

from __future__ import annotations

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, pool

from courier_adapters.postgres import migrate
from courier_adapters.postgres.schema import metadata
from tests.support.postgres import TestServer

pytestmark = pytest.mark.integration


@pytest.fixture
def empty_database(pg_server: TestServer):
    url = pg_server.create(template="template0")
    yield url
    pg_server.drop(url)


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows} - {"alembic_version"}


def test_upgrade_downgrade_upgrade(empty_database: str) -> None:
    assert migrate.current(empty_database) is None
    migrate.upgrade(empty_database)
    assert migrate.current(empty_database) == migrate.head()
    assert tables(empty_database) == set(metadata.tables)
    migrate.downgrade(empty_database, "base")
    assert migrate.current(empty_database) is None
    assert tables(empty_database) == set()
    migrate.upgrade(empty_database)
    assert tables(empty_database) == set(metadata.tables)


def columns(url: str, table: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,)
        ).fetchall()
    return {r[0] for r in rows}


def test_each_revision_downgrades_one_step(empty_database: str) -> None:
    migrate.upgrade(empty_database)
    migrate.downgrade(empty_database, "-1")
    assert migrate.current(empty_database) == "0003"
    assert "position" not in columns(empty_database, "outbox")
    for revision, dropped in (("0002", "outbox"), ("0001", "processed_events")):
        migrate.downgrade(empty_database, "-1")
        assert migrate.current(empty_database) == revision
        assert dropped not in tables(empty_database)
    migrate.upgrade(empty_database)
    assert migrate.current(empty_database) == migrate.head()


def test_migrated_schema_matches_the_metadata(database_url: str) -> None:
    engine = create_engine(migrate.sqlalchemy_url(database_url), poolclass=pool.NullPool)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        (
            "INSERT INTO couriers (name, phone, status, transport_type) VALUES ('A', '+70000000000', 'tired', 'car')",
            psycopg.errors.CheckViolation,
        ),
        (
            "INSERT INTO couriers (name, phone, status, transport_type) VALUES ('A', '+70000000000', 'busy', 'bike')",
            psycopg.errors.CheckViolation,
        ),
        (
            "INSERT INTO couriers (name, phone, status, transport_type) VALUES ('A', '123', 'busy', 'car')",
            psycopg.errors.CheckViolation,
        ),
        (
            "INSERT INTO deliveries (order_id, courier_id, status, assigned_at, deadline)"
            " VALUES ('o', 999, 'active', now(), now())",
            psycopg.errors.ForeignKeyViolation,
        ),
    ],
)
def test_the_database_enforces_the_rules_too(database_url: str, statement: str, error: type) -> None:
    with psycopg.connect(database_url) as conn, pytest.raises(error):
        conn.execute(statement)


def test_one_active_delivery_per_courier_and_one_delivery_per_order(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO couriers (name, phone, status, transport_type) VALUES"
            " ('A', '+70000000001', 'busy', 'car'), ('B', '+70000000002', 'busy', 'car')"
        )
        insert = (
            "INSERT INTO deliveries (order_id, courier_id, status, assigned_at, deadline)"
            " VALUES (%s, %s, 'active', now(), now())"
        )
        conn.execute(insert, ("o1", 1))
        with pytest.raises(psycopg.errors.UniqueViolation, match="deliveries_one_active_per_courier"):
            conn.execute(insert, ("o2", 1))
        with pytest.raises(psycopg.errors.UniqueViolation, match="deliveries_order_id_key"):
            conn.execute(insert, ("o1", 2))


def test_up_to_date_answers_without_alembic_as_alembic_would(empty_database: str) -> None:
    # The CLI asks this on every command (courier_adapters.bootstrap) instead of importing alembic.
    assert migrate.script_head() == migrate.head()
    assert not migrate.up_to_date(empty_database)  # no alembic_version table yet
    assert migrate.upgrade_if_behind(empty_database)
    assert migrate.up_to_date(empty_database)
    assert not migrate.upgrade_if_behind(empty_database)  # at the head: nothing run
    migrate.downgrade(empty_database, "-1")
    assert not migrate.up_to_date(empty_database)
    assert migrate.upgrade_if_behind(empty_database)
    assert migrate.current(empty_database) == migrate.head()


def test_outbox_positions_keep_the_ids_already_handed_out(empty_database: str) -> None:
    """A stream client's Last-Event-ID from before 0004 (an id) is a position after it."""
    migrate.upgrade(empty_database, "0003")
    insert = (
        "INSERT INTO outbox (event_id, type, key, occurred_at, payload)"
        " SELECT gen_random_uuid(), 'courier.created', n::text, now(), '{}' FROM generate_series(1, 3) n"
    )
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute(insert)
        conn.execute("DELETE FROM outbox WHERE key = '2'")
    migrate.upgrade(empty_database)
    with psycopg.connect(empty_database, autocommit=True) as conn:
        assert conn.execute("SELECT id, position FROM outbox ORDER BY id").fetchall() == [(1, 1), (3, 3)]
        conn.execute(insert)
        assert conn.execute("SELECT nextval('outbox_position_seq')").fetchone() == (4,)
        assert conn.execute("SELECT count(*) FROM outbox WHERE position IS NULL").fetchone() == (3,)
