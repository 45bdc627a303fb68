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

import psycopg
import sqlalchemy.exc
import typer
from typer.exceptions import TyperException

from courier_adapters.postgres.errors import redact_url
from courier_adapters.settings import SettingsError
from courier_cli.stack import StackError
from courier_core.errors import CourierError, DependencyUnavailable

EXIT_OK = 0
EXIT_DOMAIN = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_PIPE_CLOSED = 141

# Failures to reach the database, as the drivers report them (adapters map theirs to DependencyUnavailable).
UNREACHABLE = (psycopg.OperationalError, sqlalchemy.exc.OperationalError, ConnectionError, TimeoutError)
# typer's own exceptions already carry their exit code and message (usage errors exit 2).
PASS_THROUGH = (typer.Exit, typer.Abort, TyperException)


class UsageProblem(Exception):
    """A mistake of the operator that typer cannot see (a CSV without the needed columns)."""


def exit_code(exc: BaseException) -> int:
    """The exit code for ``exc`` (see the table above); anything unexpected exits 1."""
    if isinstance(exc, (DependencyUnavailable, *UNREACHABLE)):
        return EXIT_UNAVAILABLE
    if isinstance(exc, SettingsError | UsageProblem):
        return EXIT_USAGE
    return EXIT_DOMAIN


def describe(exc: BaseException) -> str:
    """One line for the operator, with any password in a URL masked."""
    if isinstance(exc, CourierError):
        text = exc.message
    elif isinstance(exc, SettingsError):
        text = f"bad configuration: {exc}"
    elif isinstance(exc, UsageProblem | StackError):
        text = str(exc)
    elif isinstance(exc, UNREACHABLE):
        text = f"database unavailable: {_first_line(exc)}"
    else:
        text = f"unexpected error ({type(exc).__name__}): {_first_line(exc)}"
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
    cause = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.orig is not None else exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__
