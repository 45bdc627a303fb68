"""The commands' one door to :mod:`courier_cli.runtime`, imported when a command first needs it.

The runtime pulls in the adapters (SQLAlchemy, psycopg, dependency-injector, alembic...): about a
second of imports that ``courier --help``, ``courier --version``, a command's ``--help`` and a usage
error never need. Command modules therefore import only this module and name runtime's types under
``TYPE_CHECKING``; the root callback records ``--debug`` in the click context's ``meta`` and
:func:`state` builds runtime's :class:`~courier_cli.runtime.CliState` from it on first use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer
from typer._click.core import Context

if TYPE_CHECKING:
    from courier_cli.runtime import Cli, CliState

T = TypeVar("T")
DEBUG = "courier_cli.debug"  # ctx.meta key: ``courier --debug`` was given


def debugging(ctx: Context) -> bool:
    return bool(ctx.meta.get(DEBUG, False))


def state(ctx: typer.Context) -> CliState:
    """The command's :class:`CliState`, kept on the root context; made (and logging set up) once."""
    from courier_cli.runtime import CliState, configure_cli_logging

    root = ctx.find_root()
    found = root.find_object(CliState)
    if found is None:
        found = CliState(debug=debugging(ctx))
        root.obj = found
        configure_cli_logging(found.debug)
    return found


def run(ctx: typer.Context, work: Callable[[Cli], Awaitable[T]]) -> T:
    """:func:`courier_cli.runtime.run`: ``work`` against the database with the CLI's container."""
    state(ctx)
    from courier_cli import runtime

    return runtime.run(ctx, work)
