"""Courier management use cases, against the in-memory ports."""

from datetime import timedelta

import pytest

from courier_core import AssignOrder, CreateCourier, ListCouriers, UpdateCourier
from courier_core.errors import (
    CourierExists,
    CourierHasActiveDelivery,
    CourierNotFound,
    InvalidInput,
    PreconditionFailed,
)
from courier_core.model import CourierStatus, TransportType
from courier_core.testing import FakeClock, Services


def create(
    name: str = "Ivan",
    phone: str = "+79990001122",
    status: str = "available",
    transport_type: str | None = None,
) -> CreateCourier:
    return CreateCourier(name=name, phone=phone, status=status, transport_type=transport_type)


async def test_creates_a_courier_on_foot_by_default(services: Services) -> None:
    courier = await services.couriers.create(create(name="  Ivan "))
    assert (courier.id, courier.name, courier.transport_type) == (1, "Ivan", TransportType.ON_FOOT)
    assert await services.couriers.get(1) == courier
    assert services.uow.started[-1].committed


async def test_refuses_a_phone_already_taken_and_commits_nothing(services: Services) -> None:
    await services.couriers.create(create())
    with pytest.raises(CourierExists):
        await services.couriers.create(create(name="Petr"))
    assert not services.uow.started[-1].committed
    assert len((await services.couriers.list(ListCouriers())).items) == 1


async def test_a_client_cannot_create_a_busy_courier(services: Services) -> None:
    with pytest.raises(InvalidInput) as err:
        await services.couriers.create(create(status="busy"))
    assert err.value.field == "status"
    assert services.uow.started == []


async def test_get_of_an_unknown_or_bad_id(services: Services) -> None:
    with pytest.raises(CourierNotFound):
        await services.couriers.get(7)
    with pytest.raises(InvalidInput):
        await services.couriers.get(0)


async def test_lists_by_id_with_filters_and_keyset_paging(services: Services) -> None:
    for i in range(5):
        await services.couriers.create(
            create(phone=f"+7999000000{i}", transport_type="car" if i % 2 else "scooter")
        )
    first = await services.couriers.list(ListCouriers(limit=2))
    assert [c.id for c in first.items] == [1, 2] and first.next == 2
    rest = await services.couriers.list(ListCouriers(limit=2, after=4))
    assert [c.id for c in rest.items] == [5] and rest.next is None
    cars = await services.couriers.list(ListCouriers(transport_type="car"))
    assert [c.id for c in cars.items] == [2, 4]
    busy = await services.couriers.list(ListCouriers(status="busy"))
    assert busy.items == []
    for bad in (ListCouriers(limit=0), ListCouriers(after=-1), ListCouriers(status="tired")):
        with pytest.raises(InvalidInput):
            await services.couriers.list(bad)


async def test_updates_only_the_given_fields(services: Services, clock: FakeClock) -> None:
    created = await services.couriers.create(create())
    clock.advance(timedelta(seconds=5))
    updated = await services.couriers.update(UpdateCourier(id=1, transport_type="car"))
    assert updated.transport_type is TransportType.CAR
    assert (updated.name, updated.phone) == (created.name, created.phone)
    assert updated.updated_at > created.updated_at
    assert updated.version == created.version + 1


async def test_update_needs_a_field_and_a_known_courier(services: Services) -> None:
    with pytest.raises(InvalidInput):
        await services.couriers.update(UpdateCourier(id=1))
    with pytest.raises(CourierNotFound):
        await services.couriers.update(UpdateCourier(id=1, name="Petr"))
    with pytest.raises(InvalidInput) as err:
        await services.couriers.update(UpdateCourier(id=1, status="busy"))
    assert err.value.field == "status"


async def test_update_refuses_a_taken_phone_and_a_stale_version(services: Services) -> None:
    await services.couriers.create(create())
    await services.couriers.create(create(phone="+79990001133"))
    with pytest.raises(CourierExists):
        await services.couriers.update(UpdateCourier(id=2, phone="+79990001122"))
    with pytest.raises(PreconditionFailed):
        await services.couriers.update(UpdateCourier(id=2, name="Petr", expected_version=99))


async def test_a_busy_courier_keeps_its_status_and_cannot_be_deleted(services: Services) -> None:
    await services.couriers.create(create())
    await services.deliveries.assign(AssignOrder(order_id="o-1"))
    with pytest.raises(CourierHasActiveDelivery):
        await services.couriers.update(UpdateCourier(id=1, status="paused"))
    with pytest.raises(CourierHasActiveDelivery):
        await services.couriers.delete(1)
    assert (await services.couriers.get(1)).status is CourierStatus.BUSY


async def test_soft_delete_hides_the_courier_and_frees_its_phone(services: Services) -> None:
    await services.couriers.create(create())
    await services.couriers.delete(1)
    with pytest.raises(CourierNotFound):
        await services.couriers.get(1)
    with pytest.raises(CourierNotFound):
        await services.couriers.delete(1)
    with pytest.raises(CourierNotFound):
        await services.couriers.update(UpdateCourier(id=1, name="Petr"))
    again = await services.couriers.create(create())
    assert again.id == 2
    assert [c.id for c in (await services.couriers.list(ListCouriers())).items] == [2]
