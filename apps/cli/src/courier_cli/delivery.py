"""``courier delivery ...``: assign (or try), unassign, complete, get, list; why and what happened."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from courier_cli.lazy import run
from courier_cli.output import JSON_OPTION, PLAIN_HELP, emit, print_json, print_record, print_table
from courier_core.errors import InvalidInput
from courier_core.model import Assignment, DeliveryStatus, DryRun, validate_courier_id
from courier_core.usecases import AssignOrder, ListDeliveries
from courier_core.views import (
    assignment_view,
    decision_view,
    delivery_view,
    dry_run_view,
    history_view,
    outcome_view,
    queued_view,
)

if TYPE_CHECKING:
    from courier_cli.runtime import Cli

app = typer.Typer(
    rich_markup_mode=PLAIN_HELP,
    help="Assign orders to couriers and follow their deliveries.",
    no_args_is_help=True,
)

OrderId = Annotated[str, typer.Argument(help="The order service's id of the order.", show_default=False)]
Json = Annotated[bool, JSON_OPTION]
DELIVERY_COLUMNS = ("order_id", "courier_id", "status", "assigned_at", "deadline", "finished_at")
HISTORY_COLUMNS = ("at", "change", "from", "to", "actor", "details")
HistoryLimit = Annotated[int, typer.Option(min=1, max=1000, help="At most this many changes, oldest first.")]


def courier_ids(text: str) -> str:
    """``1,2,3``: courier ids separated by commas (a usage error otherwise)."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    try:
        ids = [validate_courier_id(int(p) if p.isascii() and p.isdigit() else p) for p in parts]
    except InvalidInput:
        raise typer.BadParameter(f"{text!r}: courier ids separated by commas, e.g. 1,2") from None
    return ",".join(map(str, ids))


@app.command("assign")
def assign(
    ctx: typer.Context,
    order_id: OrderId,
    courier_id: Annotated[
        int | None, typer.Option(help="This courier (it must be available), not the least-loaded one.")
    ] = None,
    exclude_courier_ids: Annotated[
        str | None,
        typer.Option(parser=courier_ids, metavar="ID,ID...", help="Never pick these couriers (e.g. 3,7)."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Only say which courier would be picked and why; change nothing."),
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Queue the order when no courier is free instead of failing.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Assign an order to the available courier with the fewest deliveries (or to --courier-id).

    Example: courier delivery assign f819526d-6a7c-48eb-b535-43989469d1ca --exclude-courier-ids 3,7 --dry-run
    """
    excluded = tuple(int(i) for i in exclude_courier_ids.split(",") if i) if exclude_courier_ids else ()
    command = AssignOrder(
        order_id=order_id, courier_id=courier_id, exclude_courier_ids=excluded, wait=wait, dry_run=dry_run
    )

    async def work(cli: Cli) -> dict[str, Any]:
        result = await cli.use_cases.deliveries().assign(command)
        if isinstance(result, DryRun):
            return dry_run_view(result)
        return assignment_view(result) if isinstance(result, Assignment) else queued_view(result)

    answer = run(ctx, work)
    if as_json or "decision" not in answer:
        emit(answer, as_json=as_json)
        return
    print_record({k: v for k, v in answer.items() if k != "decision"})
    print_record(answer["decision"])


@app.command("decision")
def decision(ctx: typer.Context, order_id: OrderId, as_json: Json = False) -> None:
    """Why the order went to its courier: strategy, candidates, the courier's delivery count, tie-break.

    Example: courier delivery decision f819526d-6a7c-48eb-b535-43989469d1ca
    """

    async def work(cli: Cli) -> dict[str, Any]:
        return decision_view(await cli.use_cases.deliveries().decision(order_id))

    emit(run(ctx, work), as_json=as_json)


@app.command("history")
def history(ctx: typer.Context, order_id: OrderId, limit: HistoryLimit = 100, as_json: Json = False) -> None:
    """Every change of the order's delivery, oldest first: what, from → to, who (api, cli, consumer...), when.

    Example: courier delivery history f819526d-6a7c-48eb-b535-43989469d1ca --json
    """

    async def work(cli: Cli) -> list[dict[str, Any]]:
        return [history_view(e) for e in await cli.use_cases.deliveries().history(order_id, limit=limit)]

    print_history(run(ctx, work), as_json=as_json)


def print_history(entries: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        print_json(entries)
        return
    print_table([{**e, "details": _details(e["details"])} for e in entries], HISTORY_COLUMNS)


def _details(details: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in details.items())


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
