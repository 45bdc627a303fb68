"""``courier delivery assign|unassign|complete|get|list`` against real PostgreSQL."""

from __future__ import annotations

from tests.integration.cli.conftest import Cli, single_line_error


def test_assign_picks_the_least_loaded_courier_and_prints_the_seed_answer(cli: Cli) -> None:
    busy_before = cli.create("Ivan", "+79990000001", "available", "car")
    cli.json("delivery", "assign", "o-0")
    cli.json("delivery", "complete", "o-0")
    fresh = cli.create("Anna", "+79990000002", "available", "scooter")
    assignment = cli.json("delivery", "assign", "o-1")
    assert list(assignment) == ["courier_id", "order_id", "transport_type", "delivery_deadline"]
    assert (assignment["courier_id"], assignment["order_id"]) == (fresh, "o-1")
    assert assignment["transport_type"] == "scooter"
    assert cli.json("couriers", "get", str(fresh))["status"] == "busy"
    assert cli.json("couriers", "get", str(busy_before))["status"] == "available"


def test_get_shows_the_delivery_object(cli: Cli) -> None:
    courier_id = cli.create("Ivan", "+79990000001")
    assignment = cli.json("delivery", "assign", "o-1")
    delivery = cli.json("delivery", "get", "o-1")
    assert list(delivery) == ["order_id", "courier_id", "status", "assigned_at", "deadline", "finished_at"]
    assert (delivery["courier_id"], delivery["status"], delivery["finished_at"]) == (
        courier_id,
        "active",
        None,
    )
    assert delivery["deadline"] == assignment["delivery_deadline"]
    table = cli("delivery", "get", "o-1")
    assert table.exit_code == 0
    assert "active" in table.stdout and "o-1" in table.stdout


def test_complete_frees_the_courier_and_keeps_the_delivery(cli: Cli) -> None:
    courier_id = cli.create("Ivan", "+79990000001")
    cli.json("delivery", "assign", "o-1")
    outcome = cli.json("delivery", "complete", "o-1")
    assert outcome == {"order_id": "o-1", "status": "completed", "courier_id": courier_id}
    assert cli.json("delivery", "get", "o-1")["status"] == "completed"
    assert cli.json("couriers", "get", str(courier_id))["status"] == "available"
    again = cli.json("delivery", "complete", "o-1")
    assert again["status"] == "completed"


def test_unassign_forgets_the_delivery(cli: Cli) -> None:
    courier_id = cli.create("Ivan", "+79990000001")
    cli.json("delivery", "assign", "o-1")
    outcome = cli.json("delivery", "unassign", "o-1")
    assert outcome == {"order_id": "o-1", "status": "unassigned", "courier_id": courier_id}
    missing = cli("delivery", "get", "o-1")
    assert missing.exit_code == 1
    assert single_line_error(missing) == "error: delivery not found"
    assert cli.json("delivery", "assign", "o-1")["courier_id"] == courier_id


def test_conflicts_and_missing_deliveries_exit_1(cli: Cli) -> None:
    no_courier = cli("delivery", "assign", "o-1")
    assert no_courier.exit_code == 1
    assert single_line_error(no_courier) == "error: no available couriers"
    cli.create("Ivan", "+79990000001")
    cli.create("Anna", "+79990000002")
    cli.json("delivery", "assign", "o-1")
    twice = cli("delivery", "assign", "o-1")
    assert twice.exit_code == 1
    assert single_line_error(twice) == "error: this delivery already exists"
    for verb in ("unassign", "complete", "get"):
        result = cli("delivery", verb, "o-404")
        assert result.exit_code == 1, verb
        assert single_line_error(result) == "error: delivery not found"


def test_assign_to_a_chosen_courier_that_is_paused_is_refused(cli: Cli) -> None:
    paused = cli.create("Ivan", "+79990000001", "paused")
    result = cli("delivery", "assign", "o-1", "--courier-id", str(paused))
    assert result.exit_code == 1
    assert single_line_error(result) == "error: courier is not available"


def test_a_waiting_order_goes_to_the_next_courier_created(cli: Cli) -> None:
    queued = cli.json("delivery", "assign", "o-1", "--wait")
    assert (queued["order_id"], queued["status"]) == ("o-1", "waiting")
    courier_id = cli.create("Ivan", "+79990000001")
    assert cli.json("delivery", "get", "o-1")["courier_id"] == courier_id


def test_list_shows_deliveries_newest_first_with_filters(cli: Cli) -> None:
    cli.create("Ivan", "+79990000001")
    cli.create("Anna", "+79990000002")
    cli.json("delivery", "assign", "o-1")
    cli.json("delivery", "assign", "o-2")
    cli.json("delivery", "complete", "o-1")
    assert [d["order_id"] for d in cli.json("delivery", "list")] == ["o-2", "o-1"]
    assert [d["order_id"] for d in cli.json("delivery", "list", "--status", "active")] == ["o-2"]
    table = cli("delivery", "list")
    assert table.exit_code == 0 and "o-1" in table.stdout and "o-2" in table.stdout
