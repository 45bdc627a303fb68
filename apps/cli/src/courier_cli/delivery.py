"""``courier delivery ...``: assign, unassign, complete, get and list deliveries."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from courier_cli.output import JSON_OPTION, emit, print_json, print_table
from courier_cli.runtime import Cli, run
from courier_core.model import Assignment, DeliveryStatus
from courier_core.usecases import AssignOrder, ListDeliveries
from courier_core.views import assignment_view, delivery_view, outcome_view, queued_view

app = typer.Typer(help="Assign orders to couriers and follow their deliveries.", no_args_is_help=True)

OrderId = Annotated[str, typer.Argument(help="The order service's id of the order.", show_default=False)]
Json = Annotated[bool, JSON_OPTION]
DELIVERY_COLUMNS = ("order_id", "courier_id", "status", "assigned_at", "deadline", "finished_at")


@app.command("assign")
def assign(
    ctx: typer.Context,
    order_id: OrderId,
    courier_id: Annotated[
        int | None, typer.Option(help="This courier (it must be available), not the least-loaded one.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Queue the order when no courier is free instead of failing.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Assign an order to the available courier with the fewest deliveries.

    Example: courier delivery assign f819526d-6a7c-48eb-b535-43989469d1ca
    """
    command = AssignOrder(order_id=order_id, courier_id=courier_id, wait=wait)

    async def work(cli: Cli) -> dict[str, Any]:
        result = await cli.use_cases.deliveries().assign(command)
        return assignment_view(result) if isinstance(result, Assignment) else queued_view(result)

    emit(run(ctx, work), as_json=as_json)


@app.command("unassign")
def unassign(ctx: typer.Context, order_id: OrderId, as_json: Json = False) -> None:
    """Undo an order's active delivery (as if it never happened); its courier is available again.

    Example: courier delivery unassign f819526d-6a7c-48eb-b535-43989469d1ca
    """

    async def work(cli: Cli) -> dict[str, Any]:
        return outcome_view(await cli.use_cases.deliveries().unassign(order_id))

    emit(run(ctx, work), as_json=as_json)


@app.command("complete")
def complete(ctx: typer.Context, order_id: OrderId, as_json: Json = False) -> None:
    """Mark an order's delivery completed; its courier is available again.

    Example: courier delivery complete f819526d-6a7c-48eb-b535-43989469d1ca
    """

    async def work(cli: Cli) -> dict[str, Any]:
        return outcome_view(await cli.use_cases.deliveries().complete(order_id))

    emit(run(ctx, work), as_json=as_json)


@app.command("get")
def get(ctx: typer.Context, order_id: OrderId, as_json: Json = False) -> None:
    """Show an order's delivery.

    Example: courier delivery get f819526d-6a7c-48eb-b535-43989469d1ca --json
    """

    async def work(cli: Cli) -> dict[str, Any]:
        return delivery_view(await cli.use_cases.deliveries().get(order_id))

    emit(run(ctx, work), as_json=as_json)


@app.command("list")
def list_deliveries(
    ctx: typer.Context,
    status: Annotated[DeliveryStatus | None, typer.Option(help="Only deliveries with this status.")] = None,
    courier_id: Annotated[int | None, typer.Option(help="Only this courier's deliveries.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many deliveries.")] = 100,
    as_json: Json = False,
) -> None:
    """List deliveries, newest assignment first.

    Example: courier delivery list --status active --limit 20
    """
    query = ListDeliveries(status=status, courier_id=courier_id, limit=limit)

    async def work(cli: Cli) -> list[dict[str, Any]]:
        page = await cli.use_cases.deliveries().list(query)
        return [delivery_view(d) for d in page.items]

    deliveries = run(ctx, work)
    if as_json:
        print_json(deliveries)
    else:
        print_table(deliveries, DELIVERY_COLUMNS)
