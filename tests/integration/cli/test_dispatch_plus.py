"""``courier delivery assign`` options, ``decision``, ``history``; ``courier orders waiting``;
``courier couriers handover|history``: against real PostgreSQL, changes recorded as the CLI's."""

from __future__ import annotations

from tests.integration.cli.conftest import Cli, single_line_error


def test_dry_run_says_who_and_why_and_changes_nothing(cli: Cli) -> None:
    busy_before = cli.create("Ivan", "+79990000001")
    cli.json("delivery", "assign", "o-0")
    cli.json("delivery", "complete", "o-0")
    fresh = cli.create("Anna", "+79990000002", transport="scooter")
    answer = cli.json("delivery", "assign", "o-1", "--dry-run")
    assert answer["dry_run"] is True
    assert (answer["order_id"], answer["courier_id"], answer["transport_type"]) == ("o-1", fresh, "scooter")
    decision = answer["decision"]
    assert decision["strategy"] == "least_loaded"
    assert (decision["candidates"], decision["courier_deliveries"], decision["tied"]) == (2, 0, 1)
    assert single_line_error(cli("delivery", "get", "o-1")) == "error: delivery not found"
    assert cli.json("couriers", "get", str(fresh))["status"] == "available"
    assert cli.json("couriers", "get", str(busy_before))["status"] == "available"
    table = cli("delivery", "assign", "o-1", "--dry-run")
    assert table.exit_code == 0, table.stderr
    assert "least_loaded" in table.stdout and "dry_run" in table.stdout


def test_excluded_couriers_are_never_picked(cli: Cli) -> None:
    first = cli.create("Ivan", "+79990000001")
    second = cli.create("Anna", "+79990000002")
    third = cli.create("Oleg", "+79990000003")
    answer = cli.json("delivery", "assign", "o-1", "--exclude-courier-ids", f"{first},{second}")
    assert answer["courier_id"] == third
    decision = cli.json("delivery", "decision", "o-1")
    assert decision["excluded_courier_ids"] == [first, second]
    assert decision["courier_id"] == third
    nobody = cli("delivery", "assign", "o-2", "--exclude-courier-ids", f"{first}, {second}")
    assert nobody.exit_code == 1
    assert single_line_error(nobody) == "error: no available couriers"
    for bad in ("1,x", "0", "3,-1", "99999999999999999999"):
        result = cli("delivery", "assign", "o-2", "--exclude-courier-ids", bad)
        assert result.exit_code == 2, (bad, result.stderr)
        assert "Invalid value for '--exclude-courier-ids'" in result.stderr


def test_decision_of_an_order_never_assigned_exits_1(cli: Cli) -> None:
    result = cli("delivery", "decision", "o-404")
    assert result.exit_code == 1
    assert single_line_error(result).startswith("error: ")
    assert "assignment decision" in result.stderr


def test_a_waiting_order_is_listed_and_given_the_next_courier(cli: Cli) -> None:
    assert cli.json("orders", "waiting") == []
    queued = cli.json("delivery", "assign", "o-1", "--wait")
    assert (queued["order_id"], queued["status"]) == ("o-1", "waiting")
    cli.json("delivery", "assign", "o-2", "--wait")
    waiting = cli.json("orders", "waiting")
    assert [w["order_id"] for w in waiting] == ["o-1", "o-2"]
    assert set(waiting[0]) == {"order_id", "since", "age_seconds"}
    assert waiting[0]["age_seconds"] >= 0
    assert [w["order_id"] for w in cli.json("orders", "waiting", "--limit", "1")] == ["o-1"]
    table = cli("orders", "waiting")
    assert table.exit_code == 0
    assert "o-1" in table.stdout and "AGE SECONDS" in table.stdout
    courier = cli.create("Ivan", "+79990000001")  # takes the oldest waiting order at once
    assert cli.json("delivery", "get", "o-1")["courier_id"] == courier
    assert [w["order_id"] for w in cli.json("orders", "waiting")] == ["o-2"]
    assert cli.json("delivery", "decision", "o-1")["strategy"] == "waiting_queue"


def test_handover_moves_the_delivery_and_keeps_its_deadline(cli: Cli) -> None:
    source = cli.create("Ivan", "+79990000001")
    assigned = cli.json("delivery", "assign", "o-1")
    target = cli.create("Anna", "+79990000002", transport="scooter")
    moved = cli.json("couriers", "handover", str(source), "--to", str(target))
    assert moved == {
        "order_id": "o-1",
        "from_courier_id": source,
        "courier_id": target,
        "delivery_deadline": assigned["delivery_deadline"],
    }
    assert cli.json("delivery", "get", "o-1")["courier_id"] == target
    assert cli.json("couriers", "get", str(source))["status"] == "available"
    assert cli.json("couriers", "get", str(target))["status"] == "busy"
    table = cli("couriers", "handover", str(target), "--to", str(source))
    assert table.exit_code == 0, table.stderr
    assert "from_courier_id" in table.stdout


def test_handover_refusals_exit_1_and_change_nothing(cli: Cli) -> None:
    source = cli.create("Ivan", "+79990000001")
    cli.json("delivery", "assign", "o-1")
    busy = cli.create("Anna", "+79990000002")
    cli.json("delivery", "assign", "o-2")
    paused = cli.create("Oleg", "+79990000003", status="paused")
    cases = [
        ((str(source), "--to", str(busy)), "error: courier is not available"),
        ((str(source), "--to", str(paused)), "error: courier is not available"),
        ((str(paused), "--to", str(source)), "error: delivery not found"),
        ((str(source), "--to", "999"), "error: courier 999 not found"),
    ]
    for args, message in cases:
        result = cli("couriers", "handover", *args)
        assert result.exit_code == 1, (args, result.stderr)
        assert single_line_error(result) == message, args
    same = cli("couriers", "handover", str(source), "--to", str(source))
    assert same.exit_code == 1
    assert "same courier" in single_line_error(same)
    assert cli.json("delivery", "get", "o-1")["courier_id"] == source
    missing_target = cli("couriers", "handover", str(source))
    assert missing_target.exit_code == 2  # --to is required


def test_history_records_each_change_once_with_the_cli_as_actor(cli: Cli) -> None:
    courier = cli.create("Ivan", "+79990000001")
    cli.json("couriers", "update", str(courier), "--status", "paused")
    cli.json("couriers", "update", str(courier), "--status", "available")
    cli.json("delivery", "assign", "o-1")
    cli.json("delivery", "complete", "o-1")
    entries = cli.json("couriers", "history", str(courier))
    assert [(e["change"], e["from"], e["to"]) for e in entries] == [
        ("created", None, "available"),
        ("status", "available", "paused"),
        ("status", "paused", "available"),
        ("status", "available", "busy"),
        ("status", "busy", "available"),
    ]
    assert {e["actor"] for e in entries} == {"cli"}
    assert set(entries[0]) == {"change", "from", "to", "actor", "at", "details"}
    assert [e["change"] for e in cli.json("couriers", "history", str(courier), "--limit", "2")] == [
        "created",
        "status",
    ]
    delivery = cli.json("delivery", "history", "o-1")
    assert [(e["change"], e["to"], e["actor"]) for e in delivery] == [
        ("assigned", "active", "cli"),
        ("completed", "completed", "cli"),
    ]
    assert delivery[0]["details"]["courier_id"] == courier
    table = cli("delivery", "history", "o-1")
    assert table.exit_code == 0
    assert "assigned" in table.stdout and f"courier_id={courier}" in table.stdout
    assert cli.json("delivery", "history", "o-never") == []
    unknown = cli("couriers", "history", "999")
    assert unknown.exit_code == 1
    assert single_line_error(unknown) == "error: courier not found"
