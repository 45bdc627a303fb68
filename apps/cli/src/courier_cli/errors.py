"""The one place where failures become exit codes and one line on stderr.

=====  =========================================================================================
code   meaning
=====  =========================================================================================
0      success
1      a domain error: not found, conflict, a value the domain refuses (core's ``CourierError``)
2      bad usage: typer's own checks (missing option, not an integer...), a bad configuration
3      a dependency is unavailable: the database cannot be reached or answers too late
141    the reader of standard output left (``courier couriers export | head``): nothing is printed,
       as with any tool a closed pipe stops (128 + SIGPIPE)
=====  =========================================================================================

Tracebacks are shown only with ``courier --debug``.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

import typer
from typer.exceptions import TyperException

from courier_cli.stack import StackError
from courier_core.errors import CourierError, DependencyUnavailable

EXIT_OK = 0
EXIT_DOMAIN = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_PIPE_CLOSED = 141

# typer's own exceptions already carry their exit code and message (usage errors exit 2).
PASS_THROUGH = (typer.Exit, typer.Abort, TyperException)


class UsageProblem(Exception):
    """A mistake of the operator that typer cannot see (a CSV without the needed columns)."""


def _loaded(module: str, name: str) -> Any:
    """``module.name`` if the module was imported, else ``None``.

    The drivers and the settings are imported only when a command runs (courier_cli.lazy); an error
    cannot be one of their classes unless they were, and a usage error must not import them.
    """
    found = sys.modules.get(module)
    return getattr(found, name) if found is not None else None


def _unreachable() -> tuple[type[BaseException], ...]:
    """Failures to reach the database, as the drivers report them (adapters map theirs to
    DependencyUnavailable)."""
    drivers = (_loaded("psycopg", "OperationalError"), _loaded("sqlalchemy.exc", "OperationalError"))
    return (*(d for d in drivers if d is not None), ConnectionError, TimeoutError)


def _is_settings_error(exc: BaseException) -> bool:
    settings_error = _loaded("courier_adapters.settings", "SettingsError")
    return settings_error is not None and isinstance(exc, settings_error)


def exit_code(exc: BaseException) -> int:
    """The exit code for ``exc`` (see the table above); anything unexpected exits 1."""
    if isinstance(exc, (DependencyUnavailable, *_unreachable())):
        return EXIT_UNAVAILABLE
    if isinstance(exc, UsageProblem) or _is_settings_error(exc):
        return EXIT_USAGE
    return EXIT_DOMAIN


def describe(exc: BaseException) -> str:
    """One line for the operator, with any password in a URL masked."""
    if isinstance(exc, CourierError):
        text = exc.message
    elif _is_settings_error(exc):
        text = f"bad configuration: {exc}"
    elif isinstance(exc, UsageProblem | StackError):
        text = str(exc)
    elif isinstance(exc, _unreachable()):
        text = f"database unavailable: {_first_line(exc)}"
    else:
        text = f"unexpected error ({type(exc).__name__}): {_first_line(exc)}"
    from courier_adapters.postgres.errors import redact_url  # psycopg: only when there is an error

    return redact_url(text)


def report(exc: BaseException, *, debug: bool) -> int:
    """Print ``exc`` on stderr (its traceback too when ``debug``); return its exit code."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    plain = isinstance(exc, CourierError | UsageProblem | StackError) and not isinstance(
        exc, DependencyUnavailable
    )
    hint = "" if debug or plain else " (--debug shows details)"
    print(f"error: {describe(exc)}{hint}", file=sys.stderr)
    return exit_code(exc)


def _first_line(exc: BaseException) -> str:
    # psycopg's and SQLAlchemy's messages span lines (hints, the statement, a background link).
    cause: BaseException = exc
    dbapi_error = _loaded("sqlalchemy.exc", "DBAPIError")
    if dbapi_error is not None and isinstance(exc, dbapi_error) and exc.orig is not None:
        cause = exc.orig
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__
