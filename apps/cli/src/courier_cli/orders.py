"""``courier orders ...``: the orders waiting for a courier."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from courier_cli.lazy import run
from courier_cli.output import JSON_OPTION, PLAIN_HELP, print_json, print_table
from courier_core.views import waiting_view

if TYPE_CHECKING:
    from courier_cli.runtime import Cli

app = typer.Typer(rich_markup_mode=PLAIN_HELP, help="Orders waiting for a courier.", no_args_is_help=True)

WAITING_COLUMNS = ("order_id", "since", "age_seconds")


@app.command("waiting")
def waiting(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many orders.")] = 100,
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Orders waiting for a courier, oldest first, with their age (the next courier freed takes the first).

    Example: courier orders waiting --limit 20
    """

    async def work(cli: Cli) -> list[dict[str, Any]]:
        orders = await cli.use_cases.deliveries().waiting(limit=limit)
        now = datetime.now(UTC)
        return [waiting_view(w, now=now) for w in orders]

    orders = run(ctx, work)
    if as_json:
        print_json(orders)
        return
    print_table([{**o, "age_seconds": f"{o['age_seconds']:.1f}"} for o in orders], WAITING_COLUMNS)
