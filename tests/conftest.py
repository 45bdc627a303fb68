"""Fixtures shared by every tier: a real PostgreSQL (embedded unless COURIER_TEST_DATABASE_URL)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from courier_adapters.containers import Adapters, UseCases
from courier_adapters.postgres.database import PostgresDatabase
from courier_adapters.postgres.embedded import ensure_runtime_dir
from courier_adapters.settings import Settings, load_settings
from tests.support.postgres import TestServer, running_test_server
from tests.support.redis import flush, test_redis_url

ensure_runtime_dir()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TestServer]:
    with running_test_server() as server:
        yield server


@pytest.fixture
def embedded_dir() -> Iterator[Path]:
    """A data directory for an embedded PostgreSQL, outside pytest's temporary tree.

    The server runs as its own system user; pytest makes its base directory private (0700) whenever
    a pytest session starts, which would cut a server living under it off from its files.
    """
    path = Path(tempfile.mkdtemp(prefix="courier-embedded-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def database_url(pg_server: TestServer) -> Iterator[str]:
    """A fresh, migrated database for this test only."""
    url = pg_server.create()
    yield url
    pg_server.drop(url)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings({"COURIER_DATABASE_URL": database_url}, dotenv=None)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[PostgresDatabase]:
    db = PostgresDatabase(database_url, max_size=20)
    await db.open()
    yield db
    await db.close()


@pytest.fixture
async def containers(settings: Settings) -> AsyncIterator[tuple[Adapters, UseCases]]:
    """The apps' containers wired to this test's database."""
    assert settings.database_url is not None
    adapters = Adapters(settings=settings, database_url=settings.database_url)
    await adapters.database().open()
    yield adapters, UseCases(adapters=adapters)
    await adapters.database().close()


@pytest.fixture
def use_cases(containers: tuple[Adapters, UseCases]) -> UseCases:
    return containers[1]


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    with test_redis_url() as url:
        yield url


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """A Redis database emptied for this test (COURIER_TEST_REDIS_URL, the machine's, or our own)."""
    flush(redis_server_url)
    return redis_server_url
