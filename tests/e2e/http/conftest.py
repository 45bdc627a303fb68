"""End-to-end fixtures: ``courier-api`` as a real process on its own database."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.http.server import ApiProcess, start_api
from tests.support.postgres import TestServer

_phones = itertools.count(1)


def new_phone() -> str:
    """A phone no other courier of the session has."""
    return f"+7{next(_phones):010d}"


@pytest.fixture(scope="module")
def shared_db(pg_server: TestServer) -> Iterator[str]:
    """One database for a module's shared server (tests there use distinct phones and order ids)."""
    url = pg_server.create()
    yield url
    pg_server.drop(url)


@pytest.fixture(scope="module")
def server(shared_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """A ``courier-api`` shared by the tests of a module (rate limit off, expiry worker on)."""
    with start_api(shared_db, tmp_path_factory.mktemp("api")) as api:
        yield api
        assert api.stop() == 0


@pytest.fixture
async def http(server: ApiProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30.0) as client:
        yield client


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
