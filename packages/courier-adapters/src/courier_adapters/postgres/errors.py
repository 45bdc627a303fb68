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


@contextmanager
def translated() -> Iterator[None]:
    """Map psycopg's errors to core's: unique violations to conflicts, outages to unavailable."""
    try:
        yield
    except pg_errors.UniqueViolation as exc:
        error = _UNIQUE_CONSTRAINTS.get(exc.diag.constraint_name or "")
        if error is None:
            raise
        raise error() from exc
    except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure) as exc:
        raise Contention() from exc  # nothing was written: the use case runs again
    except pg_errors.QueryCanceled as exc:  # statement_timeout or a cancelled request
        raise DependencyUnavailable("database statement timed out") from exc
    except pg_errors.ReadOnlySqlTransaction as exc:  # a failover left us on a standby
        raise DependencyUnavailable("database is read-only") from exc
    except (pg_errors.AdminShutdown, pg_errors.CannotConnectNow, pg_errors.CrashShutdown) as exc:
        raise DependencyUnavailable("database unavailable") from exc
    except psycopg_pool.PoolTimeout as exc:
        raise DependencyUnavailable("database unavailable: no connection") from exc
    except psycopg.OperationalError as exc:
        raise DependencyUnavailable("database unavailable") from exc
    except psycopg.InterfaceError as exc:  # connection closed under us
        raise DependencyUnavailable("database connection lost") from exc
