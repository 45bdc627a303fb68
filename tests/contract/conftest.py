"""Each repository contract runs against the in-memory fake and the PostgreSQL adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from courier_adapters.postgres.database import PostgresDatabase
from courier_adapters.postgres.uow import PostgresUnitOfWorkFactory
from courier_core.testing import FakeClock, InMemoryStore, InMemoryUnitOfWorkFactory


@pytest.fixture(params=["memory", "postgres"])
async def uow_factory(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], Any]]:
    if request.param == "memory":
        yield InMemoryUnitOfWorkFactory(InMemoryStore(FakeClock()))
        return
    database = PostgresDatabase(request.getfixturevalue("database_url"))
    await database.open()
    yield PostgresUnitOfWorkFactory(database)
    await database.close()
