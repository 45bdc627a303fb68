"""Translation of driver errors into core's error tree, at the adapter's boundary."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors

from courier_core.errors import (
    Contention,
    CourierError,
    CourierExists,
    CourierNotAvailable,
    DeliveryExists,
    DependencyUnavailable,
)

_UNIQUE_CONSTRAINTS: dict[str, type[CourierError]] = {
    "couriers_phone_live_key": CourierExists,
    "deliveries_order_id_key": DeliveryExists,
    "deliveries_one_active_per_courier": CourierNotAvailable,
}
_URL_PASSWORD = re.compile(r"(://[^:/@?#]*:)[^@/?#]*@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)
_DSN_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` (a URI or a ``key=value`` conninfo) with every password replaced by ``***``."""
    if "://" in url:
        return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", url))
    return _DSN_PASSWORD.sub(r"\1***", url)


def translate(exc: BaseException) -> CourierError | None:
    """Core's error for a driver error, or ``None`` when it is not one courier maps."""
    if isinstance(exc, pg_errors.UniqueViolation):
        error = _UNIQUE_CONSTRAINTS.get(exc.diag.constraint_name or "")
        return None if error is None else error()
    if isinstance(exc, pg_errors.DeadlockDetected | pg_errors.SerializationFailure):
        return Contention()  # nothing was written: the use case runs again
    if isinstance(exc, pg_errors.QueryCanceled):  # statement_timeout or a cancelled request
        return DependencyUnavailable("database statement timed out")
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction):  # a failover left us on a standby
        return DependencyUnavailable("database is read-only")
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return DependencyUnavailable("database unavailable: no connection")
    if isinstance(exc, psycopg.OperationalError):  # shutdowns, lost connections, refused connects
        return DependencyUnavailable("database unavailable")
    if isinstance(exc, psycopg.InterfaceError):  # connection closed under us
        return DependencyUnavailable("database connection lost")
    return None


@contextmanager
def translated() -> Iterator[None]:
    """Map psycopg's errors to core's: unique violations to conflicts, outages to unavailable."""
    try:
        yield
    except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
        mapped = translate(exc)
        if mapped is None:
            raise
        raise mapped from exc
