"""The domain's validation rules and the courier's state changes."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from courier_core.errors import CourierHasActiveDelivery, InvalidInput
from courier_core.model import (
    Courier,
    CourierChanges,
    CourierStatus,
    DeadlinePolicy,
    DeliveryStatus,
    KnownOrder,
    TransportType,
    is_finished_status,
    validate_client_status,
    validate_courier_id,
    validate_delivery_status,
    validate_limit,
    validate_name,
    validate_order_id,
    validate_phone,
    validate_status_filter,
    validate_transport_type,
)

NOW = datetime(2026, 11, 24, 10, 15, 30, tzinfo=UTC)


def make_courier(**fields: object) -> Courier:
    values: dict[str, object] = {
        "id": 1,
        "name": "Ivan",
        "phone": "+79990001122",
        "status": CourierStatus.AVAILABLE,
        "transport_type": TransportType.CAR,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(fields)
    return Courier(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ivan", "Ivan"),
        ("Anna-Maria", "Anna-Maria"),
        ("O'Neil", "O'Neil"),
        ("Иван Петров", "Иван Петров"),
        ("  Ivan  ", "Ivan"),
        ("Jose\u0301", "José"),  # NFC: e + combining acute becomes one letter
        ("李小龙", "李小龙"),
        ("अनिल", "अनिल"),  # Devanagari: letters with vowel signs (combining marks)
        ("தமிழ்", "தமிழ்"),
        ("সুমন", "সুমন"),
        ("a" * 100, "a" * 100),
    ],
)
def test_accepts_names_of_letters_with_single_separators(raw: str, expected: str) -> None:
    assert validate_name(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "Ivan2",
        "Ivan  Petrov",
        "-Ivan",
        "Ivan-",
        "Ivan--Petrov",
        "a" * 101,
        "Iv@n",
        42,
        None,
        "\u0301Ivan",
    ],
)
def test_refuses_bad_names(raw: object) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_name(raw)
    assert err.value.field == "name"


@given(st.text(max_size=120))
def test_name_validation_never_raises_anything_but_invalid_input(raw: str) -> None:
    try:
        name = validate_name(raw)
    except InvalidInput:
        return
    assert 1 <= len(name) <= 100
    assert not any(c.isdigit() for c in name)


@pytest.mark.parametrize("raw", ["+79990001122", "+00000000000"])
def test_accepts_plus_and_eleven_digits(raw: str) -> None:
    assert validate_phone(raw) == raw


@pytest.mark.parametrize(
    "raw", ["79990001122", "+7999000112", "+799900011223", "+7999000112a", "+７９９９０００１１２２", 7, None]
)
def test_refuses_bad_phones(raw: object) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_phone(raw)
    assert err.value.field == "phone"


def test_clients_may_set_available_or_paused_but_never_busy() -> None:
    assert validate_client_status("available") is CourierStatus.AVAILABLE
    assert validate_client_status("paused") is CourierStatus.PAUSED
    for bad in ("busy", "AVAILABLE", "", None, 1):
        with pytest.raises(InvalidInput) as err:
            validate_client_status(bad)
        assert err.value.field == "status"


def test_filters_accept_every_status_and_transport() -> None:
    assert validate_status_filter("busy") is CourierStatus.BUSY
    assert validate_transport_type("scooter") is TransportType.SCOOTER
    assert validate_delivery_status("expired") is DeliveryStatus.EXPIRED
    for check, field in (
        (validate_status_filter, "status"),
        (validate_transport_type, "transport_type"),
        (validate_delivery_status, "status"),
    ):
        with pytest.raises(InvalidInput) as err:
            check("bike")
        assert err.value.field == field


@pytest.mark.parametrize("raw", [0, -1, 2**63, True, "1", 1.0, None])
def test_courier_ids_are_integers_from_1_to_2_pow_63_minus_1(raw: object) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_courier_id(raw)
    assert err.value.field == "id"
    assert validate_courier_id(2**63 - 1) == 2**63 - 1


@pytest.mark.parametrize("raw", ["", "   ", "x" * 256, "a\x00b", "tab\there", 5, None])
def test_refuses_bad_order_ids(raw: object) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_order_id(raw)
    assert err.value.field == "order_id"


def test_accepts_order_ids_up_to_255_characters() -> None:
    assert validate_order_id("f819526d-6a7c-48eb-b535-43989469d1ca")
    assert validate_order_id("я" * 255) == "я" * 255


@pytest.mark.parametrize("raw", [0, 1001, True, -5])
def test_limits_are_from_1_to_1000(raw: int) -> None:
    with pytest.raises(InvalidInput):
        validate_limit(raw)
    assert validate_limit(1000) == 1000


def test_deadline_depends_on_transport_and_is_configurable() -> None:
    policy = DeadlinePolicy()
    assert policy.deadline(TransportType.ON_FOOT, NOW) == NOW + timedelta(minutes=30)
    assert policy.deadline(TransportType.SCOOTER, NOW) == NOW + timedelta(minutes=15)
    assert policy.deadline(TransportType.CAR, NOW) == NOW + timedelta(minutes=5)
    custom = DeadlinePolicy(car=timedelta(seconds=90))
    assert custom.deadline(TransportType.CAR, NOW) == NOW + timedelta(seconds=90)
    with pytest.raises(ValueError, match="positive"):
        DeadlinePolicy(scooter=timedelta(0))


def test_starting_a_delivery_makes_the_courier_busy_and_counts_it() -> None:
    courier = make_courier(total_deliveries=3)
    delivery = courier.start_delivery("o-1", now=NOW, policy=DeadlinePolicy())
    assert courier.status is CourierStatus.BUSY
    assert courier.total_deliveries == 4
    assert delivery.status is DeliveryStatus.ACTIVE
    assert delivery.deadline == NOW + timedelta(minutes=5)
    with pytest.raises(ValueError, match="not available"):
        courier.start_delivery("o-2", now=NOW, policy=DeadlinePolicy())


def test_finishing_keeps_the_count_but_giving_back_lowers_it() -> None:
    finished = make_courier(status=CourierStatus.BUSY, total_deliveries=2)
    finished.finish_delivery()
    assert (finished.status, finished.total_deliveries) == (CourierStatus.AVAILABLE, 2)
    given_back = make_courier(status=CourierStatus.BUSY, total_deliveries=2)
    given_back.give_back_delivery()
    assert (given_back.status, given_back.total_deliveries) == (CourierStatus.AVAILABLE, 1)


def test_a_busy_courier_refuses_status_changes_and_deletion() -> None:
    courier = make_courier(status=CourierStatus.BUSY)
    with pytest.raises(CourierHasActiveDelivery):
        courier.change(CourierChanges(status=CourierStatus.PAUSED))
    with pytest.raises(CourierHasActiveDelivery):
        courier.ensure_deletable()
    assert courier.change(CourierChanges(name="Petr")) is False
    assert courier.name == "Petr"


def test_change_reports_when_the_courier_becomes_available() -> None:
    courier = make_courier(status=CourierStatus.PAUSED)
    assert courier.change(CourierChanges(status=CourierStatus.AVAILABLE, phone="+70000000000"))
    assert courier.phone == "+70000000000"
    assert not courier.change(CourierChanges(transport_type=TransportType.ON_FOOT))
    assert CourierChanges().is_empty()


@pytest.mark.parametrize(
    "status", ["cancelled", "canceled", "deleted", "completed", "delivered", "DELIVERED"]
)
def test_finished_statuses(status: str) -> None:
    assert is_finished_status(status)
    assert KnownOrder("o", status, NOW).is_finished


@pytest.mark.parametrize("status", ["created", "pending", "cooking", "delivering", "updated", "whatever"])
def test_unfinished_statuses(status: str) -> None:
    assert not KnownOrder("o", status, NOW).is_finished


def test_a_finished_order_is_never_replaced_and_wins_a_tie() -> None:
    cancelled = KnownOrder("o", "cancelled", NOW)
    assert not KnownOrder("o", "created", NOW + timedelta(hours=1)).replaces(cancelled)
    pending = KnownOrder("o", "pending", NOW)
    assert KnownOrder("o", "deleted", NOW).replaces(pending)
    assert not KnownOrder("o", "created", NOW).replaces(pending)
    assert KnownOrder("o", "cooking", NOW + timedelta(seconds=1)).replaces(pending)


def test_an_order_status_has_at_most_32_characters() -> None:
    with pytest.raises(InvalidInput):
        KnownOrder("o", "x" * 33, NOW)
    with pytest.raises(InvalidInput):
        KnownOrder("o", "", NOW)
