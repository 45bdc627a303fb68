"""``courier``: the operator's command line (couriers, deliveries, migrations, the local stack).

Every command runs core's use cases through the CLI's container (:mod:`courier_cli.runtime`). Failures
become an exit code and one line on stderr in one place: :class:`CourierGroup` with
:mod:`courier_cli.errors`.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer
from typer._click.core import Context
from typer.core import TyperGroup

from courier_adapters.commandline import package_version
from courier_cli import couriers, db, delivery, dev, orders, outbox, transfer
from courier_cli.errors import EXIT_PIPE_CLOSED, PASS_THROUGH, report
from courier_cli.runtime import CliState, configure_cli_logging


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
            state = ctx.find_object(CliState)
            raise typer.Exit(report(exc, debug=state is not None and state.debug)) from None


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
        typer.echo(f"courier {package_version('courier-cli')}")
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
    ctx.obj = CliState(debug=debug)
    configure_cli_logging(debug)


def main() -> None:
    """Console script ``courier``."""
    app()
