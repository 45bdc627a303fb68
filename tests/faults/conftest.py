"""Fault tests: real servers stopped, killed or cut while courier works (loopback only, bounded)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from courier_adapters.postgres import embedded, migrate
from courier_adapters.postgres.embedded import EmbeddedPostgres

pytestmark = pytest.mark.e2e


class StoppablePostgres:
    """An embedded PostgreSQL of the test's own, which the test can stop and start again.

    Its unix socket lives in its data directory, so the URL stays the same across restarts.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.server: EmbeddedPostgres | None = embedded.start(data_dir)
        self.url = self.server.url()
        migrate.upgrade(self.url)

    def stop(self) -> None:
        assert self.server is not None
        self.server.stop()
        self.server = None

    def start(self) -> None:
        self.server = embedded.start(self.data_dir)
        assert self.server.url() == self.url


@pytest.fixture
def stoppable_postgres(embedded_dir: Path) -> Iterator[StoppablePostgres]:
    postgres = StoppablePostgres(embedded_dir)
    yield postgres
    if postgres.server is not None:
        postgres.server.stop()
