"""``courier db ...``: the database's migrations (``COURIER_DATABASE_URL``, or the embedded database)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from courier_cli import lazy
from courier_cli.errors import EXIT_DOMAIN, UsageProblem
from courier_cli.output import JSON_OPTION, PLAIN_HELP, emit, note

if TYPE_CHECKING:
    from courier_adapters.bootstrap import DatabaseTarget

# alembic, psycopg and the adapters are imported when a command runs: `courier db --help` needs none.

app = typer.Typer(
    rich_markup_mode=PLAIN_HELP,
    help="Migrate the database (COURIER_DATABASE_URL, or the embedded one).",
    no_args_is_help=True,
)
Json = Annotated[bool, JSON_OPTION]


@contextmanager
def _database(ctx: typer.Context) -> Iterator[DatabaseTarget]:
    """The database the command works on, checked reachable (not migrated)."""
    import psycopg

    from courier_cli.runtime import CONNECT_TIMEOUT, database

    with database(lazy.state(ctx).settings, migrate_now=False) as target:
        # alembic would report an unreachable server with a long SQLAlchemy message; psycopg's is one line.
        with psycopg.connect(target.url, connect_timeout=CONNECT_TIMEOUT):
            pass
        yield target


@contextmanager
def _revision_checked() -> Iterator[None]:
    """An unknown revision is the operator's mistake (exit 2), not a failure of courier."""
    from alembic.util import CommandError

    try:
        yield
    except CommandError as exc:
        raise UsageProblem(str(exc)) from exc


def _state(safe_url: str, url: str) -> dict[str, Any]:
    from courier_adapters.postgres import migrate

    current, head = migrate.current(url), migrate.head()
    return {"database": safe_url, "current": current, "head": head, "up_to_date": current == head}


@app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="The revision to reach.")] = "head",
    as_json: Json = False,
) -> None:
    """Apply the migrations up to REVISION (the newest by default).

    Example: courier db upgrade

    Another server: COURIER_DATABASE_URL=postgresql://courier:pw@127.0.0.1:5432/courier courier db upgrade
    """
    with _database(ctx) as target:
        from courier_adapters.postgres import migrate

        before = migrate.current(target.url)
        with _revision_checked():
            migrate.upgrade(target.url, revision)
        state = _state(target.safe_url, target.url)
    emit({**state, "previous": before}, as_json=as_json)


@app.command("current")
def current(ctx: typer.Context, as_json: Json = False) -> None:
    """Show the database's revision and the newest one.

    Example: courier db current --json
    """
    with _database(ctx) as target:
        state = _state(target.safe_url, target.url)
    emit(state, as_json=as_json)


@app.command("downgrade")
def downgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="The revision to go back to ('base' undoes every one).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: Json = False,
) -> None:
    """Undo migrations down to REVISION (this drops tables and their data).

    Example: courier db downgrade 0001 --yes
    """
    with _database(ctx) as target:
        if not yes:
            typer.confirm(f"Downgrade {target.safe_url} to {revision}? Data may be lost", abort=True)
        from courier_adapters.postgres import migrate

        before = migrate.current(target.url)
        with _revision_checked():
            migrate.downgrade(target.url, revision)
        state = _state(target.safe_url, target.url)
    emit({**state, "previous": before}, as_json=as_json)


@app.command("check")
def check(ctx: typer.Context, as_json: Json = False) -> None:
    """Look for broken invariants: busy couriers without a delivery, active deliveries of couriers
    that are not busy, couriers with two active deliveries, wrong delivery counters, assigned orders
    still waiting. Exit 0 when all hold, 1 when any is broken (each listed with up to 20 ids).

    Example: courier db check --json
    """
    from courier_adapters.postgres import invariants

    with _database(ctx) as target:
        violations = invariants.check(target.url)
    result = {
        "database": target.safe_url,
        "ok": not violations,
        "violations": [{"invariant": v.invariant, "keys": v.keys} for v in violations],
    }
    if as_json:
        emit(result, as_json=True)
    elif violations:
        for violation in violations:
            note(f"broken: {violation}")
    else:
        note(f"all invariants hold ({len(invariants.CHECKS)} checked) in {target.safe_url}")
    if violations:
        raise typer.Exit(code=EXIT_DOMAIN)
