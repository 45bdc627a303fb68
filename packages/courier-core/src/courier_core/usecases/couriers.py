"""Use cases of courier management: create, get, list, update, delete."""

from __future__ import annotations

from dataclasses import dataclass

from courier_core.errors import CourierNotFound, InvalidInput, PreconditionFailed
from courier_core.model import (
    MAX_ID,
    Courier,
    CourierChanges,
    HistoryEntry,
    NewCourier,
    Page,
    Subject,
    TransportType,
    validate_client_status,
    validate_courier_id,
    validate_limit,
    validate_name,
    validate_phone,
    validate_status_filter,
    validate_transport_type,
)
from courier_core.ports import CourierRepository, HistoryRepository, UnitOfWork, UnitOfWorkFactory
from courier_core.usecases import journal
from courier_core.usecases.transactions import in_transaction
from courier_core.usecases.waiting import WaitingQueue


@dataclass(frozen=True, slots=True)
class CreateCourier:
    name: object
    phone: object
    status: object
    transport_type: object = None


@dataclass(frozen=True, slots=True)
class UpdateCourier:
    """A partial update; ``None`` fields stay as they are."""

    id: object
    name: object = None
    phone: object = None
    status: object = None
    transport_type: object = None
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class ListCouriers:
    status: object = None
    transport_type: object = None
    limit: int = 100
    after: int = 0


def new_courier(command: CreateCourier) -> NewCourier:
    """Validate a creation request (``on_foot`` when no transport is given); the one place for it."""
    return NewCourier(
        name=validate_name(command.name),
        phone=validate_phone(command.phone),
        status=validate_client_status(command.status),
        transport_type=(
            TransportType.ON_FOOT
            if command.transport_type in (None, "")
            else validate_transport_type(command.transport_type)
        ),
    )


class CourierService:
    """Courier management. Writes run in one transaction each; reads are single statements."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        couriers: CourierRepository,
        waiting: WaitingQueue,
        history: HistoryRepository,
    ) -> None:
        self._uow = uow
        self._couriers = couriers
        self._waiting = waiting
        self._history = history

    async def create(self, command: CreateCourier) -> Courier:
        """Register a courier; an available one takes the oldest waiting order at once."""
        new = new_courier(command)

        async def work(uow: UnitOfWork) -> Courier:
            courier = await uow.couriers.add(new)
            await journal.courier_created(uow, courier)
            return await self._waiting.offer(uow, courier) or courier  # None unless available and wanted

        return await in_transaction(self._uow, work)

    async def get(self, courier_id: object) -> Courier:
        courier = await self._couriers.get(validate_courier_id(courier_id))
        if courier is None:
            raise CourierNotFound()
        return courier

    async def history(self, courier_id: object, *, limit: int = 100) -> list[HistoryEntry]:
        """The courier's changes, oldest first. Raises ``CourierNotFound`` when it has none."""
        checked = validate_courier_id(courier_id)
        entries = await self._history.list(Subject.COURIER, str(checked), limit=validate_limit(limit))
        if not entries:
            raise CourierNotFound()
        return entries

    async def list(self, query: ListCouriers) -> Page[Courier, int]:
        """Couriers by id, ``limit`` at most, after ``after``; ``next`` is set when more follow."""
        limit = validate_limit(query.limit)
        if (
            isinstance(query.after, bool)
            or not isinstance(query.after, int)
            or not 0 <= query.after <= MAX_ID
        ):
            raise InvalidInput("after", "after must be a non-negative integer")
        couriers = await self._couriers.list(
            status=None if query.status is None else validate_status_filter(query.status),
            transport_type=(
                None if query.transport_type is None else validate_transport_type(query.transport_type)
            ),
            after=query.after,
            limit=limit + 1,
        )
        if len(couriers) > limit:
            return Page(items=couriers[:limit], next=couriers[limit - 1].id)
        return Page(items=couriers)

    async def update(self, command: UpdateCourier) -> Courier:
        """Change the given fields. A busy courier's status cannot be changed by an operator."""
        courier_id = validate_courier_id(command.id)
        changes = CourierChanges(
            name=None if command.name is None else validate_name(command.name),
            phone=None if command.phone is None else validate_phone(command.phone),
            status=None if command.status is None else validate_client_status(command.status),
            transport_type=(
                None if command.transport_type is None else validate_transport_type(command.transport_type)
            ),
        )
        if changes.is_empty():
            raise InvalidInput("request", "nothing to update: give name, phone, status or transport_type")

        async def work(uow: UnitOfWork) -> Courier:
            courier = await uow.couriers.get(courier_id, for_update=True)
            if courier is None:
                raise CourierNotFound()
            if command.expected_version is not None and command.expected_version != courier.version:
                raise PreconditionFailed()
            if courier.change(changes):  # it became available: the oldest waiting order is its
                await self._waiting.give_courier(uow, courier)
            saved = await uow.couriers.save(courier)
            await journal.courier_changed(uow, courier, saved=saved)
            return saved

        return await in_transaction(self._uow, work)

    async def delete(self, courier_id: object) -> None:
        """Soft-delete a courier; refused while it has an active delivery."""
        checked_id = validate_courier_id(courier_id)

        async def work(uow: UnitOfWork) -> None:
            courier = await uow.couriers.get(checked_id, for_update=True)
            if courier is None:
                raise CourierNotFound()
            courier.ensure_deletable()
            await uow.couriers.delete(checked_id)
            await journal.courier_deleted(uow, courier)

        await in_transaction(self._uow, work)
