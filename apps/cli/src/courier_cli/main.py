"""``courier``: the operator's command line (couriers, deliveries, migrations, the local stack).

Every command runs core's use cases through the CLI's container (:mod:`courier_cli.runtime`), imported
only when a command runs (:mod:`courier_cli.lazy`): ``courier --help`` and ``--version`` load no
driver. Failures become an exit code and one line on stderr in one place: :class:`CourierGroup` with
:mod:`courier_cli.errors`.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer
from typer._click.core import Context
from typer.core import TyperGroup

from courier_cli import couriers, db, delivery, dev, lazy, orders, outbox, transfer
from courier_cli.errors import EXIT_PIPE_CLOSED, PASS_THROUGH, report
from courier_cli.output import PLAIN_HELP


class CourierGroup(TyperGroup):
    """The root command: turns any failure of a subcommand into its exit code (see errors.py)."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except PASS_THROUGH:
            raise
        except BrokenPipeError:  # the reader left (`courier couriers export | head`): stop quietly
            _silence_stdout()
            raise typer.Exit(EXIT_PIPE_CLOSED) from None
        except Exception as exc:
            raise typer.Exit(report(exc, debug=lazy.debugging(ctx))) from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's own flush at exit meets no closed pipe either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


app = typer.Typer(
    cls=CourierGroup,
    name="courier",
    add_completion=True,  # courier --install-completion (bash, zsh, fish, PowerShell)
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=PLAIN_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(couriers.app, name="couriers")
transfer.register(couriers.app)
app.add_typer(delivery.app, name="delivery")
app.add_typer(orders.app, name="orders")
app.add_typer(outbox.app, name="outbox")
app.add_typer(db.app, name="db")
app.add_typer(dev.app, name="dev")


def _print_version(given: bool) -> None:
    if given:
        # importlib.metadata, not courier_adapters.commandline.package_version: that module loads the
        # settings and, with them, psycopg (a quarter of a second for one line).
        from importlib import metadata  # 0.06 s to import: only for --version

        try:
            number = metadata.version("courier-cli")
        except metadata.PackageNotFoundError:
            number = "0+unknown"
        typer.echo(f"courier {number}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and library logs.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print courier's version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """courier's admin CLI. Configuration comes from COURIER_* variables (or .env).

    Example: courier couriers list --status available
    """
    ctx.meta[lazy.DEBUG] = debug  # the runtime, and logging, are set up when a command needs them


def main() -> None:
    """Console script ``courier``."""
    app()
