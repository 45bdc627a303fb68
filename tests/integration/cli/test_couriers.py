"""``courier couriers list|get|create|update|delete`` against real PostgreSQL, with their exit codes."""

from __future__ import annotations

import re

from tests.integration.cli.conftest import Cli, single_line_error

COURIER_KEYS = ["id", "name", "phone", "status", "transport_type", "created_at", "updated_at"]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_create_prints_the_courier_object_of_the_http_api(cli: Cli) -> None:
    courier = cli.json(
        "couriers", "create", "--name", "Ivan", "--phone", "+79990001122", "--status", "available",
        "--transport-type", "car",
    )  # fmt: skip
    assert list(courier) == COURIER_KEYS
    assert courier["name"] == "Ivan"
    assert courier["phone"] == "+79990001122"
    assert (courier["status"], courier["transport_type"]) == ("available", "car")
    assert TIMESTAMP.match(courier["created_at"])
    assert cli.json("couriers", "get", str(courier["id"])) == courier


def test_create_defaults_transport_to_on_foot(cli: Cli) -> None:
    courier = cli.json(
        "couriers", "create", "--name", "Anna", "--phone", "+79990001123", "--status", "paused"
    )
    assert courier["transport_type"] == "on_foot"
    assert courier["status"] == "paused"


def test_list_json_is_the_array_of_courier_objects_filtered_and_paged(cli: Cli) -> None:
    first = cli.create("Ivan", "+79990000001", "available", "car")
    second = cli.create("Anna", "+79990000002", "paused", "scooter")
    third = cli.create("Oleg", "+79990000003", "available", "scooter")
    assert [c["id"] for c in cli.json("couriers", "list")] == [first, second, third]
    assert [c["id"] for c in cli.json("couriers", "list", "--status", "available")] == [first, third]
    assert [c["id"] for c in cli.json("couriers", "list", "--transport-type", "scooter")] == [second, third]
    assert [c["id"] for c in cli.json("couriers", "list", "--limit", "2", "--after", str(first))] == [
        second,
        third,
    ]


def test_list_table_shows_couriers_and_says_when_more_follow(cli: Cli) -> None:
    cli.create("Ivan", "+79990000001")
    cli.create("Anna", "+79990000002")
    result = cli("couriers", "list", "--limit", "1")
    assert result.exit_code == 0
    assert "Ivan" in result.stdout and "+79990000001" in result.stdout
    assert "Anna" not in result.stdout
    assert "--after 1" in result.stderr


def test_update_changes_only_the_given_fields(cli: Cli) -> None:
    courier_id = cli.create("Ivan", "+79990000001", "available", "car")
    updated = cli.json("couriers", "update", str(courier_id), "--status", "paused")
    assert (updated["name"], updated["status"], updated["transport_type"]) == ("Ivan", "paused", "car")
    renamed = cli.json("couriers", "update", str(courier_id), "--name", "Иван Петров")
    assert (renamed["name"], renamed["status"]) == ("Иван Петров", "paused")


def test_delete_hides_the_courier_and_frees_its_phone(cli: Cli) -> None:
    courier_id = cli.create("Ivan", "+79990000001")
    deleted = cli.json("couriers", "delete", str(courier_id))
    assert deleted == {"id": courier_id, "message": "courier's profile deleted successfully"}
    result = cli("couriers", "get", str(courier_id))
    assert result.exit_code == 1
    assert single_line_error(result) == "error: courier not found"
    assert cli.create("Anna", "+79990000001") != courier_id


def test_a_taken_phone_is_a_domain_error(cli: Cli) -> None:
    cli.create("Ivan", "+79990000001")
    result = cli("couriers", "create", "--name", "Anna", "--phone", "+79990000001", "--status", "available")
    assert result.exit_code == 1
    assert single_line_error(result) == "error: courier with this parameters already exists"
    assert result.stdout == ""


def test_values_the_domain_refuses_exit_1(cli: Cli) -> None:
    bad_name = cli("couriers", "create", "--name", "R2D2", "--phone", "+79990000001", "--status", "available")
    assert bad_name.exit_code == 1
    assert single_line_error(bad_name) == "error: invalid courier's name"
    bad_phone = cli("couriers", "create", "--name", "Ivan", "--phone", "12345", "--status", "available")
    assert bad_phone.exit_code == 1
    assert single_line_error(bad_phone) == "error: invalid courier's phone"
    assert cli.json("couriers", "list") == []


def test_usage_mistakes_exit_2(cli: Cli) -> None:
    missing = cli("couriers", "create", "--name", "Ivan", "--status", "available")
    assert missing.exit_code == 2
    assert "--phone" in missing.stderr
    busy = cli("couriers", "create", "--name", "Ivan", "--phone", "+79990000001", "--status", "busy")
    assert busy.exit_code == 2
    assert "available, paused" in busy.stderr
    assert cli("couriers", "get", "abc").exit_code == 2
    assert cli("couriers", "list", "--limit", "0").exit_code == 2
    assert cli("couriers", "list", "--status", "sleeping").exit_code == 2
    assert cli("couriers", "frobnicate").exit_code == 2
    assert cli.json("couriers", "list") == []


def test_unknown_courier_exits_1_for_every_verb(cli: Cli) -> None:
    for args in (("get", "42"), ("update", "42", "--status", "paused"), ("delete", "42")):
        result = cli("couriers", *args)
        assert result.exit_code == 1, args
        assert single_line_error(result) == "error: courier not found"


def test_update_without_a_field_is_refused(cli: Cli) -> None:
    courier_id = cli.create("Ivan", "+79990000001")
    result = cli("couriers", "update", str(courier_id))
    assert result.exit_code == 1
    assert "nothing to update" in single_line_error(result)


def test_a_busy_courier_can_be_neither_paused_nor_deleted(cli: Cli) -> None:
    courier_id = cli.create("Ivan", "+79990000001")
    cli.json("delivery", "assign", "order-1")
    for args in (("update", str(courier_id), "--status", "paused"), ("delete", str(courier_id))):
        result = cli("couriers", *args)
        assert result.exit_code == 1
        assert single_line_error(result) == "error: courier has an active delivery"
    assert cli.json("couriers", "get", str(courier_id))["status"] == "busy"


def test_every_command_has_help_with_an_example(cli: Cli) -> None:
    commands = [
        ("couriers", name) for name in ("list", "get", "create", "update", "delete", "import", "export")
    ]
    commands += [("delivery", name) for name in ("assign", "unassign", "complete", "get", "list")]
    commands += [("db", name) for name in ("upgrade", "current", "downgrade")]
    commands += [("dev", "up")]
    for command in commands:
        result = cli(*command, "--help")
        assert result.exit_code == 0, command
        assert f"Example: courier {command[0]} {command[1]}" in result.stdout, command
    assert "Example: courier" in cli("--help").stdout
