"""The connection pool and the two ways repositories run statements.

* :class:`PoolSession`: one statement on a pooled connection in autocommit mode: a read costs one
  round trip, no ``BEGIN``/``COMMIT``.
* :class:`TransactionSession`: statements inside the open transaction of a unit of work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg import AsyncConnection, AsyncCursor
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from courier_adapters.postgres import leases
from courier_adapters.postgres.errors import translate, translated

Params = Mapping[str, Any] | Sequence[Any] | None
Row = tuple[Any, ...]


class Session(Protocol):
    """Where a repository's statements run."""

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None: ...

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]: ...

    async def execute(self, sql: str, params: Params = None) -> int: ...

    async def fetch_each(self, statements: Sequence[tuple[str, Params]]) -> list[Row | None]: ...

    def defer(self, sql: str, params: Params = None) -> None: ...

    def remember_now(self, now: datetime) -> None: ...


class PostgresDatabase:
    """A psycopg 3 async pool of autocommit connections, with courier's session settings.

    Nothing connects until :meth:`open`; ``open(wait=False)`` lets a service start while the
    database is still down (it answers 503 and recovers by itself once the pool connects).
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        statement_timeout: float | None = 5.0,
        acquire_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        application_name: str = "courier",
    ) -> None:
        options = "-c timezone=UTC"
        if statement_timeout:
            options += f" -c statement_timeout={int(statement_timeout * 1000)}"
        given = conninfo_to_dict(url).get("options")
        if given:  # the URL's own options (search_path, say) are kept, ours come after
            options = f"{given} {options}"
        self.url = url
        self.pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            timeout=acquire_timeout,
            # While the database is down the pool retries in the background for up to a day; requests
            # also open connections on demand, so it recovers by itself when the database is back.
            reconnect_timeout=86400,
            name=application_name,
            kwargs={
                "autocommit": True,
                "options": options,
                "connect_timeout": max(1, int(connect_timeout)),
                "application_name": application_name,
            },
        )

    async def open(self, *, wait: bool = True, timeout: float = 10.0) -> None:
        with translated():
            await self.pool.open(wait=wait, timeout=timeout)

    async def close(self, timeout: float = 5.0) -> None:
        await leases.settle(timeout)  # connections on their way back first
        await self.pool.close(timeout=timeout)
        leases.forget(self.pool)

    async def ping(self) -> bool:
        """Whether the database answers a query now."""
        try:
            await PoolSession(self.pool).fetch_one("SELECT 1")
        except Exception:
            return False
        return True

    def stats(self) -> dict[str, int]:
        return dict(self.pool.get_stats())


class PoolSession:
    """One statement per call on a pooled autocommit connection.

    A connection found dead (the server restarted, an idle connection was killed) is replaced and
    the statement sent once more on a new one: a single statement in autocommit mode either ran
    entirely or not at all, and the retry happens only when the connection broke before any answer.
    """

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Row]]) -> None:
        self._pool = pool

    async def _run(self, sql: str, params: Params, fetch: str) -> Any:
        for attempt in (1, 2):
            with translated():
                async with leases.lease(self._pool) as conn:
                    try:
                        cursor = await conn.execute(sql, params)
                    except psycopg.OperationalError:
                        if attempt == 1 and conn.broken:
                            continue  # the pool discards it; try once more on a fresh one
                        raise
                    if fetch == "one":
                        return await cursor.fetchone()
                    if fetch == "all":
                        return await cursor.fetchall()
                    return cursor.rowcount
        raise AssertionError("unreachable")  # pragma: no cover

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        row: Row | None = await self._run(sql, params, "one")
        return row

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        rows: list[Row] = await self._run(sql, params, "all")
        return rows

    async def execute(self, sql: str, params: Params = None) -> int:
        count: int = await self._run(sql, params, "count")
        return count

    async def fetch_each(self, statements: Sequence[tuple[str, Params]]) -> list[Row | None]:
        """Several statements pipelined on one connection: one round trip, and (one Sync) one
        implicit transaction for all of them."""
        with translated():
            async with leases.lease(self._pool) as conn:
                async with conn.pipeline():
                    cursors = [await conn.execute(sql, params) for sql, params in statements]
                return [await cursor.fetchone() for cursor in cursors]

    def defer(self, sql: str, params: Params = None) -> None:
        raise RuntimeError("outside a transaction a statement cannot wait for the next one")

    def remember_now(self, now: datetime) -> None:
        """Outside a transaction there is no transaction time to remember."""


class TransactionSession:
    """Statements inside one open transaction; remembers the transaction's ``now()``.

    With ``begin=True`` the transaction is begun by the first statement: ``BEGIN`` goes out pipelined
    with it, one round trip for both (and a transaction that sends nothing costs none). When that
    first exchange finds the connection dead (the server restarted, an idle connection was killed),
    ``replace`` gives a fresh one and the statement is sent once more: nothing had happened yet.

    The hot path: errors are mapped in a plain ``except`` (no context manager per statement).
    """

    def __init__(
        self,
        conn: AsyncConnection[Row],
        *,
        begin: bool = False,
        replace: Callable[[], Awaitable[AsyncConnection[Row]]] | None = None,
    ) -> None:
        self.conn = conn
        self.now: datetime | None = None
        self.begin_pending = begin
        self._replace = replace
        self._deferred: list[tuple[str, Params]] = []
        #: A pipeline of this transaction failed: see :meth:`rollback`.
        self.pipeline_failed = False

    def defer(self, sql: str, params: Params = None) -> None:
        """A statement whose answer nobody reads (taking a lock): it goes out pipelined ahead of the
        next statement, or with ``COMMIT``; an error it meets is raised there."""
        self._deferred.append((sql, params))

    async def _cursor(self, sql: str, params: Params) -> AsyncCursor[Row]:
        if not self.begin_pending and not self._deferred:
            return await self.conn.execute(sql, params)
        return (await self._send(((sql, params),)))[0]

    async def commit(self, statements: Sequence[tuple[str, Params]] = ()) -> None:
        """``statements`` (the journal's), then ``COMMIT``, with whatever is still pending before
        them (``BEGIN``, deferred statements): one round trip. A transaction that never sent a
        statement and has none to send costs none."""
        if self.begin_pending and not self._deferred and not statements:
            self.begin_pending = False
            return
        await self._send([*statements, ("COMMIT", None)])

    def discard(self) -> bool:
        """Forget what is pending (the transaction is rolled back); whether a ROLLBACK is due."""
        self._deferred.clear()
        begun = not self.begin_pending
        self.begin_pending = False
        return begun

    async def _send(self, statements: Sequence[tuple[str, Params]]) -> list[AsyncCursor[Row]]:
        """``statements`` pipelined (``BEGIN`` first while it is pending): one round trip."""
        # Sent again on a fresh connection only when nothing can have happened: the transaction's
        # first exchange, and no COMMIT in it (the server may have committed before the line broke).
        retry = self.begin_pending and all(sql != "COMMIT" for sql, _ in statements)
        deferred = list(self._deferred)
        try:
            return await self._pipeline(statements)
        except psycopg.OperationalError:
            if not retry or self._replace is None or not self.conn.broken:
                raise
            self.conn = await self._replace()  # nothing happened yet: again on a fresh connection
            self.begin_pending, self._deferred = True, deferred
            return await self._pipeline(statements)

    async def _pipeline(self, statements: Sequence[tuple[str, Params]]) -> list[AsyncCursor[Row]]:
        conn = self.conn
        try:
            async with conn.pipeline():
                if self.begin_pending:
                    await conn.execute("BEGIN")
                    self.begin_pending = False  # from here a failure leaves a transaction to roll back
                for sql, params in self._deferred:
                    await conn.execute(sql, params)
                self._deferred.clear()
                return [await conn.execute(sql, params) for sql, params in statements]
        except psycopg.Error:
            self.pipeline_failed = True
            raise

    async def rollback(self) -> None:
        """Roll the transaction back. After a failed pipeline, through psycopg's own ``rollback``,
        which also forgets the connection's prepared statements: a statement psycopg was preparing
        behind the one that failed was skipped by the server (the pipeline was aborted) yet may be
        taken for prepared, and every later use of it on this connection would fail with
        'prepared statement "_pg3_N" does not exist'."""
        self._deferred.clear()
        if self.pipeline_failed:
            self.pipeline_failed = False
            await self.conn.rollback()
        else:
            await self.conn.execute("ROLLBACK")  # one round trip; prepared statements stay

    async def fetch_each(self, statements: Sequence[tuple[str, Params]]) -> list[Row | None]:
        """Several statements in one round trip, run in order (each a snapshot of its own, taken
        when the one before has finished: a lock taken first is held by the reads after it);
        each one's first row."""
        try:
            cursors = await self._send(statements)
            return [await cursor.fetchone() for cursor in cursors]
        except psycopg.Error as exc:
            raise _mapped(exc) from exc

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        try:
            cursor = await self._cursor(sql, params)
            return await cursor.fetchone()
        except psycopg.Error as exc:
            raise _mapped(exc) from exc

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        try:
            cursor = await self._cursor(sql, params)
            return await cursor.fetchall()
        except psycopg.Error as exc:
            raise _mapped(exc) from exc

    async def execute(self, sql: str, params: Params = None) -> int:
        try:
            cursor = await self._cursor(sql, params)
            return cursor.rowcount
        except psycopg.Error as exc:
            raise _mapped(exc) from exc

    def remember_now(self, now: datetime) -> None:
        self.now = now


def _mapped(exc: psycopg.Error) -> BaseException:
    """Core's error for ``exc``, or ``exc`` itself when courier does not map it."""
    return translate(exc) or exc
