"""``courier db upgrade|current|downgrade`` on a database that was never migrated."""

from __future__ import annotations

import json

import psycopg

from courier_adapters.postgres import migrate
from tests.integration.cli.conftest import Cli, single_line_error


def _state(cli: Cli, url: str) -> dict[str, object]:
    result = cli("db", "current", "--json", env={"COURIER_DATABASE_URL": url})
    assert result.exit_code == 0, result.stderr
    state: dict[str, object] = json.loads(result.stdout)
    return state


def test_upgrade_then_downgrade_an_empty_database(cli: Cli, unmigrated_url: str) -> None:
    head = migrate.head()
    assert _state(cli, unmigrated_url)["current"] is None
    upgraded = cli("db", "upgrade", "--json", env={"COURIER_DATABASE_URL": unmigrated_url})
    assert upgraded.exit_code == 0, upgraded.stderr
    assert json.loads(upgraded.stdout) | {"database": ""} == {
        "database": "",
        "current": head,
        "head": head,
        "up_to_date": True,
        "previous": None,
    }
    assert migrate.current(unmigrated_url) == head
    down = cli("db", "downgrade", "base", "--yes", env={"COURIER_DATABASE_URL": unmigrated_url})
    assert down.exit_code == 0, down.stderr
    assert _state(cli, unmigrated_url)["current"] is None


def test_upgrade_is_idempotent_and_current_says_up_to_date(cli: Cli) -> None:
    first = cli("db", "upgrade")
    assert first.exit_code == 0, first.stderr
    assert _state(cli, cli.env["COURIER_DATABASE_URL"] or "")["up_to_date"] is True
    table = cli("db", "current")
    assert table.exit_code == 0
    assert migrate.head() in table.stdout


def test_downgrade_asks_first_and_does_nothing_when_refused(cli: Cli) -> None:
    result = cli("db", "downgrade", "base", input="n\n")
    assert result.exit_code == 1
    assert migrate.current(cli.env["COURIER_DATABASE_URL"] or "") == migrate.head()


def test_upgrade_of_an_unknown_revision_is_an_error_without_traceback(cli: Cli) -> None:
    result = cli("db", "upgrade", "not-a-revision")
    assert result.exit_code == 2
    assert "not-a-revision" in single_line_error(result)


def test_check_passes_on_sound_data_and_names_what_is_broken(cli: Cli, database_url: str) -> None:
    sound = cli("db", "check", "--json")
    assert sound.exit_code == 0, sound.stderr
    assert json.loads(sound.stdout)["ok"] is True
    with psycopg.connect(database_url, autocommit=True) as conn:  # broken behind courier's back
        conn.execute(
            "INSERT INTO couriers (name, phone, status, transport_type) VALUES ('A', '+70000000001', 'busy', 'car')"
        )
    broken = cli("db", "check", "--json")
    assert broken.exit_code == 1
    assert json.loads(broken.stdout)["violations"] == [
        {"invariant": "busy courier without an active delivery", "keys": ["1"]}
    ]
    table = cli("db", "check")
    assert table.exit_code == 1
    assert "broken: busy courier without an active delivery: 1" in table.stderr
