"""The checked-in generated code is what ``make proto`` produces now, and the contract is the spec's."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from google.protobuf.descriptor import FieldDescriptor

from courier_adapters.grpc.gen.orders.v1 import orders_pb2

ROOT = Path(__file__).resolve().parents[3]


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("proto_generate", ROOT / "proto" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("proto_generate", module)
    spec.loader.exec_module(module)
    return module


def test_checked_in_generated_code_is_not_stale(tmp_path):
    generator = load_generator()
    generator.generate(tmp_path)
    stale = generator.differences(tmp_path, generator.DEFAULT_OUT)
    assert stale == [], f"generated code is stale, run `make proto`: {stale}"


def test_staleness_check_notices_an_edited_file(tmp_path):
    generator = load_generator()
    fresh, edited = tmp_path / "fresh", tmp_path / "edited"
    generator.generate(fresh)
    generator.generate(edited)
    target = edited / "orders" / "v1" / "orders_pb2.py"
    target.write_text(target.read_text() + "\n# hand edit\n")
    (edited / "leftover_pb2.py").write_text("")
    assert generator.differences(fresh, edited) == ["leftover_pb2.py", "orders/v1/orders_pb2.py"]


def test_service_and_methods_keep_their_wire_names():
    service = orders_pb2.DESCRIPTOR.services_by_name["OrdersService"]
    assert orders_pb2.DESCRIPTOR.package == "orders.v1"
    assert service.full_name == "orders.v1.OrdersService"
    methods = {m.name: (m.input_type.full_name, m.output_type.full_name) for m in service.methods}
    assert methods == {
        "GetOrders": ("orders.v1.GetOrdersRequest", "orders.v1.GetOrdersResponse"),
        "GetOrderById": ("orders.v1.GetOrderByIdRequest", "orders.v1.GetOrderByIdResponse"),
    }


def _fields(message: str) -> dict[str, tuple[int, int, str]]:
    descriptor = orders_pb2.DESCRIPTOR.message_types_by_name[message]
    return {
        f.name: (f.number, f.type, f.message_type.full_name if f.message_type else "")
        for f in descriptor.fields
    }


def test_messages_keep_the_spec_field_numbers_and_types():
    string, int64, message = (
        FieldDescriptor.TYPE_STRING,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_MESSAGE,
    )
    ts = "google.protobuf.Timestamp"
    assert _fields("Item") == {"name": (1, string, ""), "price": (2, int64, ""), "quantity": (3, int64, "")}
    assert _fields("DeliveryAddress") == {
        name: (number, string, "")
        for number, name in enumerate(["street", "house", "apartment", "floor", "comment"], start=1)
    }
    assert _fields("Order") == {
        "id": (1, string, ""),
        "user_id": (2, string, ""),
        "order_number": (3, string, ""),
        "fio": (4, string, ""),
        "restaurant_id": (5, string, ""),
        "items": (6, message, "orders.v1.Item"),
        "total_price": (7, int64, ""),
        "address": (8, message, "orders.v1.DeliveryAddress"),
        "status": (9, string, ""),
        "created_at": (10, message, ts),
        "updated_at": (11, message, ts),
        "estimated_delivery": (12, message, ts),
    }
    assert _fields("GetOrdersRequest") == {"from": (1, message, ts)}
    assert _fields("GetOrdersResponse") == {"orders": (1, message, "orders.v1.Order")}
    assert _fields("GetOrderByIdRequest") == {"id": (1, string, "")}
    assert _fields("GetOrderByIdResponse") == {"order": (1, message, "orders.v1.Order")}
    assert orders_pb2.DESCRIPTOR.message_types_by_name["Order"].fields_by_name["items"].is_repeated
