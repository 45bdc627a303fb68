"""The business routes (``api.md``): handlers over core's use cases, and their operation table.

The table is mounted twice, under ``/api/v1`` and at the root (the seed's paths).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode

import msgspec

from courier_core import views
from courier_core.errors import InvalidInput, PreconditionFailed
from courier_core.model import MAX_ID, RESERVED_ORDER_IDS, DeliveryCursor, DryRun, Queued
from courier_core.usecases import (
    AssignOrder,
    CourierService,
    CreateCourier,
    DeliveryService,
    HandOver,
    ListCouriers,
    ListDeliveries,
    UpdateCourier,
)
from courier_http import bodies, schemas
from courier_http.errors import ApiError
from courier_http.exchange import Call, Reply
from courier_http.routing import Operation, QueryParam

API_PREFIX = "/api/v1"
_encode = msgspec.json.Encoder().encode
CREATED = "courier's profile created successfully"
UPDATED = "courier's profile updated successfully"
DELETED = "courier's profile deleted successfully"


class Services(Protocol):
    """Where the handlers find the use cases (filled in when the app starts)."""

    @property
    def couriers(self) -> CourierService: ...

    @property
    def deliveries(self) -> DeliveryService: ...


def path_id(text: str) -> int:
    """A path id: decimal digits, 1 to 2^63-1, else 400 ``invalid_id``."""
    if not (text.isascii() and text.isdigit() and len(text) <= 19) or not 1 <= int(text) <= MAX_ID:
        raise ApiError.of("invalid_id", field="id")
    return int(text)


def bad_query(name: str, detail: str) -> ApiError:
    return ApiError.of("invalid_request", message=f"bad query parameter {name!r}: {detail}", field=name)


def query_args(call: Call, allowed: frozenset[str], *, seed: bool = False) -> dict[str, str]:
    """The query's parameters; ``seed`` (the unversioned paths): unknown ones are ignored, as the
    seed did (``GET /couriers?page=1``)."""
    args: dict[str, str] = {}
    for name, value in call.query():
        if name not in allowed:
            if seed:
                continue
            raise bad_query(name, "unknown parameter")
        if name in args:
            raise bad_query(name, "given more than once")
        args[name] = value
    return args


def query_int(args: dict[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    text = args.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= 19) or not minimum <= int(text) <= maximum:
        raise bad_query(name, f"an integer from {minimum} to {maximum}")
    return int(text)


def query_bool(args: dict[str, str], name: str) -> bool:
    text = args.get(name)
    if text is None or text == "false":
        return False
    if text == "true":
        return True
    raise bad_query(name, "true or false")


def encode_cursor(cursor: DeliveryCursor) -> str:
    raw = msgspec.json.encode([cursor.assigned_at.isoformat(), cursor.order_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> DeliveryCursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        stamp, order_id = msgspec.json.decode(raw, type=tuple[str, str])
        assigned_at = datetime.fromisoformat(stamp)
    except (binascii.Error, msgspec.DecodeError, ValueError):
        raise bad_query("after", "not a cursor from a Link header") from None
    if assigned_at.tzinfo is None:
        raise bad_query("after", "not a cursor from a Link header")
    return DeliveryCursor(assigned_at=assigned_at, order_id=order_id)


def next_link(path: str, args: dict[str, str], **position: str) -> tuple[bytes, bytes]:
    query = {k: v for k, v in args.items() if k not in ("after", "after_id")} | position
    return (b"link", f'<{API_PREFIX}{path}?{urlencode(query)}>; rel="next"'.encode())


def etag(version: int) -> tuple[bytes, bytes]:
    return (b"etag", f'"{version}"'.encode())


def if_match(header: bytes | None) -> int | None:
    """The courier version an ``If-Match`` asks for (``None``: no condition; ``-1``: cannot match)."""
    if header is None or header.strip() == b"*":
        return None
    tag = header.strip().removeprefix(b"W/").strip(b'"')
    return int(tag) if tag.isdigit() and len(tag) <= 18 else -1


def listing(call: Call, items: list[dict[str, Any]], headers: list[tuple[bytes, bytes]]) -> Reply:
    """A list answer with an ``ETag`` of its content: 304 when ``If-None-Match`` already has it."""
    body = _encode(items)
    tag = b'W/"%s"' % hashlib.blake2b(body, digest_size=12).hexdigest().encode()
    headers = [*headers, (b"etag", tag)]
    known = call.header(b"if-none-match")
    if known is not None and tag in (t.strip() for t in known.split(b",")):
        return Reply(304, None, headers)
    return Reply(200, body, headers, content_type=b"application/json")


# Fixed paths under /delivery/: never an order id (GET /delivery/assign is a wrong method, 405).
POST_ONLY = (b"allow", b"POST")
SEED_TRANSPORT_KEY = "transport-type"  # the seed's key of a courier's transport type


def seed_courier(view: dict[str, Any]) -> dict[str, Any]:
    """A courier object for a seed client: ``transport-type`` (the seed's key) beside ``transport_type``."""
    view[SEED_TRANSPORT_KEY] = view["transport_type"]
    return view


class _Decoders:
    """The body decoders of the business routes at one prefix (the handlers' and the
    Idempotency-Key's: one reading of a body)."""

    def __init__(self, seed: bool) -> None:
        self.create = bodies.BodyDecoder(bodies.CreateCourierBody, seed=bodies.SEED_COURIER if seed else None)
        self.update = bodies.BodyDecoder(bodies.UpdateCourierBody, seed=bodies.SEED_UPDATE if seed else None)
        self.order = bodies.BodyDecoder(bodies.OrderBody, seed=bodies.SEED_ORDER if seed else None)
        self.assign = bodies.BodyDecoder(bodies.AssignBody, seed=bodies.SEED_ORDER if seed else None)
        self.handover = bodies.BodyDecoder(bodies.HandoverBody)


class BusinessApi:
    """Handlers of the business routes; ``seed``: those of the unversioned paths (the seed's clients:
    lenient bodies and queries, ``transport-type`` in courier objects; ``api.md``, "Seed clients")."""

    def __init__(self, services: Services, *, seed: bool = False) -> None:
        self.s = services
        self.seed = seed
        self.bodies = _Decoders(seed)

    def _query(self, call: Call, allowed: frozenset[str]) -> dict[str, str]:
        return query_args(call, allowed, seed=self.seed)

    async def list_couriers(self, call: Call) -> Reply:
        args = self._query(call, frozenset({"status", "transport_type", "limit", "after", "after_id"}))
        limit = query_int(args, "limit", 100, minimum=1, maximum=1000)
        after = query_int(args, "after", 0, minimum=0, maximum=MAX_ID)
        after = query_int(args, "after_id", after, minimum=0, maximum=MAX_ID)  # the alias wins
        query = ListCouriers(
            status=args.get("status"), transport_type=args.get("transport_type"), limit=limit, after=after
        )
        try:
            page = await self.s.couriers.list(query)
        except InvalidInput as exc:
            raise bad_query(exc.field, exc.message) from None
        headers = [] if page.next is None else [next_link("/couriers", args, after_id=str(page.next))]
        items = [views.courier_view(c) for c in page.items]
        return listing(call, [seed_courier(c) for c in items] if self.seed else items, headers)

    async def get_courier(self, call: Call) -> Reply:
        courier = await self.s.couriers.get(path_id(call.path_params["id"]))
        view = views.courier_view(courier)
        return Reply(200, seed_courier(view) if self.seed else view, [etag(courier.version)])

    async def create_courier(self, call: Call) -> Reply:
        body = self.bodies.create.decode(call.body)
        courier = await self.s.couriers.create(
            CreateCourier(body.name, body.phone, body.status, body.transport_type)
        )
        location = (b"location", f"{API_PREFIX}/courier/{courier.id}".encode())
        return Reply(201, {"id": courier.id, "message": CREATED}, [location])

    async def update_courier(self, call: Call) -> Reply:
        body, emptied = self.bodies.update.decode_seed(call.body)
        expected = if_match(call.header(b"if-match"))
        if emptied and body.name is body.phone is body.status is body.transport_type is None:
            # The seed's PUT sends every field, "" for unchanged: nothing left to change is a 200.
            current = await self.s.couriers.get(body.id)
            if expected is not None and expected != current.version:
                raise PreconditionFailed()
            return Reply(200, {"message": UPDATED}, [etag(current.version)])
        courier = await self.s.couriers.update(
            UpdateCourier(body.id, body.name, body.phone, body.status, body.transport_type, expected)
        )
        return Reply(200, {"message": UPDATED}, [etag(courier.version)])

    async def delete_courier(self, call: Call) -> Reply:
        await self.s.couriers.delete(path_id(call.path_params["id"]))
        return Reply(200, {"message": DELETED})

    async def assign(self, call: Call) -> Reply:
        body = self.bodies.assign.decode(call.body)
        result = await self.s.deliveries.assign(
            AssignOrder(
                order_id=body.order_id,
                courier_id=body.courier_id,
                exclude_courier_ids=tuple(body.exclude_courier_ids or ()),
                wait=bool(body.wait),
                dry_run=bool(body.dry_run),
            )
        )
        if isinstance(result, Queued):
            return Reply(202, views.queued_view(result))
        if isinstance(result, DryRun):
            return Reply(200, views.dry_run_view(result))
        return Reply(200, views.assignment_view(result))

    async def unassign(self, call: Call) -> Reply:
        outcome = await self.s.deliveries.unassign(self.bodies.order.decode(call.body).order_id)
        return Reply(200, views.outcome_view(outcome))

    async def complete(self, call: Call) -> Reply:
        outcome = await self.s.deliveries.complete(self.bodies.order.decode(call.body).order_id)
        return Reply(200, views.outcome_view(outcome))

    async def get_delivery(self, call: Call) -> Reply:
        if call.path_params["order_id"] in RESERVED_ORDER_IDS:  # GET /delivery/assign: POST only
            error = ApiError.of("method_not_allowed", 405)
            error.headers = (POST_ONLY,)
            raise error
        delivery = await self.s.deliveries.get(call.path_params["order_id"])
        return Reply(200, views.delivery_view(delivery))

    async def get_decision(self, call: Call) -> Reply:
        decision = await self.s.deliveries.decision(call.path_params["order_id"])
        return Reply(200, views.decision_view(decision))

    async def hand_over(self, call: Call) -> Reply:
        courier_id = path_id(call.path_params["id"])
        body = self.bodies.handover.decode(call.body)
        handover = await self.s.deliveries.hand_over(HandOver(courier_id, body.to_courier_id))
        return Reply(200, views.handover_view(handover))

    async def courier_history(self, call: Call) -> Reply:
        courier_id = path_id(call.path_params["id"])
        limit = query_int(self._query(call, frozenset({"limit"})), "limit", 100, minimum=1, maximum=1000)
        entries = await self.s.couriers.history(courier_id, limit=limit)
        return listing(call, [views.history_view(e) for e in entries], [])

    async def delivery_history(self, call: Call) -> Reply:
        limit = query_int(self._query(call, frozenset({"limit"})), "limit", 100, minimum=1, maximum=1000)
        entries = await self.s.deliveries.history(call.path_params["order_id"], limit=limit)
        return listing(call, [views.history_view(e) for e in entries], [])

    async def waiting_orders(self, call: Call) -> Reply:
        args = self._query(call, frozenset({"limit"}))
        waiting = await self.s.deliveries.waiting(
            limit=query_int(args, "limit", 100, minimum=1, maximum=1000)
        )
        now = datetime.now(UTC)
        return Reply(200, [views.waiting_view(w, now=now) for w in waiting])

    async def list_deliveries(self, call: Call) -> Reply:
        args = self._query(call, frozenset({"status", "courier_id", "at_risk", "limit", "after"}))
        limit = query_int(args, "limit", 100, minimum=1, maximum=1000)
        courier_id: Any = None
        if "courier_id" in args:
            courier_id = query_int(args, "courier_id", 0, minimum=1, maximum=MAX_ID)
        after = decode_cursor(args["after"]) if "after" in args else None
        query = ListDeliveries(
            status=args.get("status"),
            courier_id=courier_id,
            at_risk=query_bool(args, "at_risk"),
            limit=limit,
            after=after,
        )
        try:
            page = await self.s.deliveries.list(query)
        except InvalidInput as exc:
            raise bad_query(exc.field, exc.message) from None
        headers = (
            [] if page.next is None else [next_link("/deliveries", args, after=encode_cursor(page.next))]
        )
        return listing(call, [views.delivery_view(d) for d in page.items], headers)


def _q(name: str, description: str, **schema: Any) -> QueryParam:
    return QueryParam(name, description, schema or {"type": "string"})


CURSOR_FORMAT = "cursor"  # base64url, from a Link header: nothing a client makes up
LIMIT = _q("limit", "page size (default 100)", type="integer", minimum=1, maximum=1000)
HISTORY_LIMIT = _q("limit", "changes, oldest first (default 100)", type="integer", minimum=1, maximum=1000)
IF_MATCH = QueryParam(
    "If-Match", "the courier's ETag as read: 412 when it changed since", {"type": "string"}, where="header"
)


def operations(api: BusinessApi) -> list[Operation]:
    """Every business operation, in routing order (fixed paths before ``/delivery/{order_id}``)."""
    op: Callable[..., Operation] = Operation
    return [
        op("GET", "/couriers", api.list_couriers, "List couriers by id (keyset paging, Link rel=next)",
           answer=list[schemas.Courier], errors=(400,),
           query=(_q("status", "filter", enum=["available", "busy", "paused"]),
                  _q("transport_type", "filter", enum=["on_foot", "scooter", "car"]), LIMIT,
                  _q("after", "couriers with a larger id", type="integer", minimum=0, maximum=MAX_ID),
                  _q("after_id", "alias of after", type="integer", minimum=0, maximum=MAX_ID)),
           etag=True, answer_headers=("Link",)),
        op("GET", "/courier/{id}", api.get_courier, "Get a courier",
           answer=schemas.Courier, errors=(400, 404), answer_headers=("ETag",)),
        op("DELETE", "/courier/{id}", api.delete_courier, "Delete a courier (soft)",
           answer=schemas.Message, errors=(400, 404, 409)),
        op("POST", "/courier", api.create_courier, "Create a courier", status=201,
           body=bodies.CreateCourierBody, answer=schemas.Created, errors=(400, 409, 413),
           answer_headers=("Location",), meaning=api.bodies.create.decode),
        op("PUT", "/courier", api.update_courier, "Change some of a courier's fields",
           body=bodies.UpdateCourierRequest, answer=schemas.Message, errors=(400, 404, 409, 412, 413),
           query=(IF_MATCH,), answer_headers=("ETag",), meaning=api.bodies.update.decode_seed),
        op("POST", "/delivery/assign", api.assign, "Assign an order to a courier",
           body=bodies.AssignRequest, answer=schemas.AssignAnswer, errors=(400, 404, 409, 413),
           also=((202, schemas.Queued),), meaning=api.bodies.assign.decode),
        op("POST", "/delivery/unassign", api.unassign, "Undo an order's active delivery",
           body=bodies.OrderBody, answer=schemas.Outcome, errors=(400, 404, 413),
           meaning=api.bodies.order.decode),
        op("POST", "/delivery/complete", api.complete, "Complete an order's delivery",
           body=bodies.OrderBody, answer=schemas.Outcome, errors=(400, 404, 413),
           meaning=api.bodies.order.decode),
        op("GET", "/delivery/{order_id}", api.get_delivery, "Get an order's delivery",
           answer=schemas.Delivery, errors=(400, 404, 405)),
        op("GET", "/deliveries", api.list_deliveries, "List deliveries, newest assignment first",
           answer=list[schemas.Delivery], errors=(400,),
           query=(_q("status", "filter", enum=["active", "completed", "expired"]),
                  _q("courier_id", "filter", **bodies.ID_SCHEMA),
                  _q("at_risk", "true: only active deliveries past 80 % of their window (400 with another "
                     "status)", type="boolean"), LIMIT,
                  _q("after", "opaque cursor from the Link header", type="string", format=CURSOR_FORMAT)),
           etag=True, answer_headers=("Link",)),
    ]  # fmt: skip


def v1_operations(api: BusinessApi) -> list[Operation]:
    """Operations beyond the seed (``dispatch-plus.md``): under ``/api/v1`` only."""
    op: Callable[..., Operation] = Operation
    return [
        op("GET", "/orders/waiting", api.waiting_orders,
           "Orders waiting for a courier, oldest first, with their age",
           answer=list[schemas.Waiting], errors=(400,), query=(LIMIT,)),
        op("POST", "/courier/{id}/handover", api.hand_over,
           "Move the courier's active delivery to another available courier (deadline kept), all or nothing",
           body=bodies.HandoverBody, answer=schemas.Handover, errors=(400, 404, 409, 413),
           meaning=api.bodies.handover.decode),
        op("GET", "/courier/{id}/history", api.courier_history,
           "The courier's changes (status, profile), oldest first, with who made them",
           answer=list[schemas.HistoryEntry], errors=(400, 404), query=(HISTORY_LIMIT,), etag=True),
        op("GET", "/delivery/{order_id}/decision", api.get_decision,
           "Why the order's delivery went to its courier (its latest assignment)",
           answer=schemas.Decision, errors=(400, 404)),
        op("GET", "/delivery/{order_id}/history", api.delivery_history,
           "The order's delivery changes, oldest first, with who made them (empty when none)",
           answer=list[schemas.HistoryEntry], errors=(400,), query=(HISTORY_LIMIT,), etag=True),
    ]  # fmt: skip
