"""``courier dev ...``: the local stack."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run courier locally.", no_args_is_help=True)
