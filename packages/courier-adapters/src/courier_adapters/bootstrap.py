"""Start-up steps shared by every app: find the database (embedded or configured) and migrate it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from courier_adapters.postgres import embedded, migrate
from courier_adapters.postgres.embedded import EmbeddedPostgres
from courier_adapters.postgres.errors import redact_url
from courier_adapters.settings import Settings

log = logging.getLogger("courier.bootstrap")


@dataclass
class DatabaseTarget:
    """The database a process uses, and the embedded server behind it when there is one."""

    url: str
    embedded: EmbeddedPostgres | None = None

    @property
    def safe_url(self) -> str:
        return redact_url(self.url)

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def resolve_database(settings: Settings, *, migrate_now: bool | None = None) -> DatabaseTarget:
    """``COURIER_DATABASE_URL``, or the embedded server of ``COURIER_DATA_DIR`` (started if needed).

    Migrates when ``migrate_now`` says so, or by default when ``COURIER_MIGRATE_ON_START`` (on for the
    embedded database) says so.
    """
    if settings.database_url:
        target = DatabaseTarget(settings.database_url)
    else:
        server = embedded.start(settings.data_dir)
        target = DatabaseTarget(server.url(), server)
        log.info(
            "using the embedded PostgreSQL",
            extra={"data_dir": str(server.data_dir), "owner": server.owner},
        )
    if settings.should_migrate_on_start if migrate_now is None else migrate_now:
        migrate.upgrade_if_behind(target.url)
    return target
