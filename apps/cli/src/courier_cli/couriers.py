"""``courier couriers ...``: list, get, create, update, delete, handover, history (import and export live
in transfer.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from courier_cli.delivery import print_history
from courier_cli.lazy import run
from courier_cli.output import JSON_OPTION, PLAIN_HELP, emit, note, print_json, print_table
from courier_core.errors import InvalidInput
from courier_core.model import CourierStatus, TransportType, validate_client_status, validate_transport_type
from courier_core.usecases import CreateCourier, HandOver, ListCouriers, UpdateCourier
from courier_core.views import courier_view, handover_view, history_view

if TYPE_CHECKING:
    from courier_cli.runtime import Cli

app = typer.Typer(rich_markup_mode=PLAIN_HELP, help="Manage couriers.", no_args_is_help=True)

COURIER_COLUMNS = ("id", "name", "phone", "status", "transport_type", "created_at", "updated_at")


def _checked_by(validate: Callable[[str], object], choices: str) -> Callable[[str], str]:
    """A typer parser that asks core's validator: a refused value is a usage error (exit 2)."""

    def parse(value: str) -> str:
        try:
            return str(validate(value))
        except InvalidInput as exc:
            raise typer.BadParameter(f"{value!r}: {exc.message} (one of {choices})") from None

    return parse


def _accepted(validate: Callable[[str], object], value: str) -> bool:
    try:
        validate(value)
    except InvalidInput:
        return False
    return True


# Choices shown in --help come from core's rules, so the help and core cannot disagree.
SETTABLE = ", ".join(s.value for s in CourierStatus if _accepted(validate_client_status, s.value))
TRANSPORTS = ", ".join(t.value for t in TransportType)


def status_option(help_text: str) -> Any:
    return typer.Option(
        parser=_checked_by(validate_client_status, SETTABLE),
        metavar=f"[{SETTABLE.replace(', ', '|')}]",
        help=help_text,
    )


def transport_option(help_text: str) -> Any:
    return typer.Option(
        parser=_checked_by(validate_transport_type, TRANSPORTS),
        metavar=f"[{TRANSPORTS.replace(', ', '|')}]",
        help=help_text,
    )


StatusFilter = Annotated[CourierStatus | None, typer.Option(help="Only couriers with this status.")]
TransportFilter = Annotated[TransportType | None, typer.Option(help="Only couriers with this transport.")]
Json = Annotated[bool, JSON_OPTION]
CourierId = Annotated[int, typer.Argument(help="The courier's id.", show_default=False)]


@app.command("list")
def list_couriers(
    ctx: typer.Context,
    status: StatusFilter = None,
    transport_type: TransportFilter = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many couriers.")] = 100,
    after: Annotated[int, typer.Option(min=0, help="Couriers with an id larger than this.")] = 0,
    as_json: Json = False,
) -> None:
    """List couriers by id.

    Example: courier couriers list --status available --transport-type car --limit 20
    """
    query = ListCouriers(status=status, transport_type=transport_type, limit=limit, after=after)

    async def work(cli: Cli) -> tuple[list[dict[str, Any]], int | None]:
        page = await cli.use_cases.couriers().list(query)
        return [courier_view(c) for c in page.items], page.next

    couriers, more_after = run(ctx, work)
    if as_json:
        print_json(couriers)
        return
    print_table(couriers, COURIER_COLUMNS)
    if more_after is not None:
        note(f"more couriers follow: add --after {more_after}")


@app.command("get")
def get_courier(ctx: typer.Context, courier_id: CourierId, as_json: Json = False) -> None:
    """Show one courier.

    Example: courier couriers get 1 --json
    """

    async def work(cli: Cli) -> dict[str, Any]:
        return courier_view(await cli.use_cases.couriers().get(courier_id))

    emit(run(ctx, work), as_json=as_json)


@app.command("create")
def create_courier(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Letters, with single spaces, hyphens or apostrophes.")],
    phone: Annotated[str, typer.Option(help="+ and 11 digits, unique among couriers.")],
    status: Annotated[str, status_option("The courier's status.")],
    transport_type: Annotated[
        str, transport_option("How the courier travels.")
    ] = TransportType.ON_FOOT.value,
    as_json: Json = False,
) -> None:
    """Register a courier (an available one takes the oldest waiting order at once).

    Example: courier couriers create --name Ivan --phone +79990001122 --status available --transport-type car
    """
    command = CreateCourier(name=name, phone=phone, status=status, transport_type=transport_type)

    async def work(cli: Cli) -> dict[str, Any]:
        return courier_view(await cli.use_cases.couriers().create(command))

    emit(run(ctx, work), as_json=as_json)


@app.command("update")
def update_courier(
    ctx: typer.Context,
    courier_id: CourierId,
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    phone: Annotated[str | None, typer.Option(help="A new phone.")] = None,
    status: Annotated[str | None, status_option("A new status.")] = None,
    transport_type: Annotated[str | None, transport_option("A new transport.")] = None,
    as_json: Json = False,
) -> None:
    """Change the given fields of a courier (a busy courier's status cannot be changed).

    Example: courier couriers update 1 --status paused
    """
    command = UpdateCourier(
        id=courier_id, name=name, phone=phone, status=status, transport_type=transport_type
    )

    async def work(cli: Cli) -> dict[str, Any]:
        return courier_view(await cli.use_cases.couriers().update(command))

    emit(run(ctx, work), as_json=as_json)


@app.command("delete")
def delete_courier(ctx: typer.Context, courier_id: CourierId, as_json: Json = False) -> None:
    """Delete a courier (refused while it has an active delivery; its history is kept).

    Example: courier couriers delete 1
    """

    async def work(cli: Cli) -> None:
        await cli.use_cases.couriers().delete(courier_id)

    run(ctx, work)
    emit({"id": courier_id, "message": "courier's profile deleted successfully"}, as_json=as_json)


@app.command("handover")
def handover(
    ctx: typer.Context,
    courier_id: CourierId,
    to: Annotated[int, typer.Option("--to", help="The available courier who takes the delivery over.")],
    as_json: Json = False,
) -> None:
    """Move a courier's active delivery to another available courier, deadline kept (all or nothing).

    The first courier becomes available again (and takes the oldest waiting order, if any).

    Example: courier couriers handover 1 --to 2
    """
    command = HandOver(courier_id=courier_id, to_courier_id=to)

    async def work(cli: Cli) -> dict[str, Any]:
        return handover_view(await cli.use_cases.deliveries().hand_over(command))

    emit(run(ctx, work), as_json=as_json)


@app.command("history")
def history(
    ctx: typer.Context,
    courier_id: CourierId,
    limit: Annotated[
        int, typer.Option(min=1, max=1000, help="At most this many changes, oldest first.")
    ] = 100,
    as_json: Json = False,
) -> None:
    """Every change of a courier, oldest first: what, from → to, who (api, cli, consumer...), when.

    Example: courier couriers history 1 --json
    """

    async def work(cli: Cli) -> list[dict[str, Any]]:
        return [history_view(e) for e in await cli.use_cases.couriers().history(courier_id, limit=limit)]

    print_history(run(ctx, work), as_json=as_json)
