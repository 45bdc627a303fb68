"""The per-layer attribution of py-spy samples (bench/profile.py)."""

from __future__ import annotations

from collections import Counter

from bench.profile import Frame, breakdown, charge, layer_of, parse_frame, per_request

ROOT = "<module> (courier-api:10);Runner.run (asyncio/runners.py:118)"
MIDDLEWARE = "RequestIdMiddleware.__call__ (courier_http/middleware.py:63)"
USE_CASE = "CourierService.get (courier_core/usecases/couriers.py:88)"


def test_parses_py_spy_frames_with_class_and_path() -> None:
    frame = parse_frame("RequestIdMiddleware.__call__ (courier_http/middleware.py:63)")

    assert frame == Frame(name="RequestIdMiddleware.__call__", path="courier_http/middleware.py")


def test_middleware_frames_are_named_after_their_class() -> None:
    assert layer_of(parse_frame(MIDDLEWARE)) == "middleware RequestIdMiddleware"


def test_standard_library_helpers_are_charged_to_their_caller() -> None:
    stack = [parse_frame(f) for f in (MIDDLEWARE, "uuid4 (uuid.py:723)", "_parse (re/_parser.py:9)")]

    assert charge(stack) == "middleware RequestIdMiddleware"


def test_a_package_path_is_matched_by_whole_components_only() -> None:
    # "re/" must not match inside "courier_core/", nor "http/" inside "uvicorn/protocols/http/".
    assert layer_of(parse_frame(USE_CASE)) == "use cases (courier_core.usecases)"
    uvicorn = parse_frame("RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:524)")
    assert layer_of(uvicorn) == "uvicorn + httptools (HTTP protocol)"


def test_each_sample_goes_to_its_innermost_layer() -> None:
    raw = "\n".join(
        [
            f"{ROOT};{MIDDLEWARE} 3",
            f"{ROOT};{MIDDLEWARE};{USE_CASE} 2",
            f"{ROOT};{MIDDLEWARE};{USE_CASE};AsyncCursor.execute (psycopg/cursor_async.py:113) 5",
            " 4",  # py-spy's line for samples without a stack
        ]
    )

    assert breakdown(raw) == Counter(
        {"middleware RequestIdMiddleware": 3, "use cases (courier_core.usecases)": 2, "driver (psycopg)": 5}
    )


def test_shares_times_cpu_per_request_give_each_layers_microseconds() -> None:
    layers = per_request(
        Counter({"driver (psycopg)": 3, "logging (courier_adapters.logs, logging)": 1}), 200.0
    )

    assert [(x["layer"], x["share"], x["us_per_request"]) for x in layers] == [
        ("driver (psycopg)", 0.75, 150.0),
        ("logging (courier_adapters.logs, logging)", 0.25, 50.0),
    ]
    assert per_request(Counter(), 200.0) == []


def test_consumer_frames_are_told_apart_from_the_kafka_client_and_adapter() -> None:
    assert layer_of(parse_frame("Worker.run (courier_consumer/worker.py:10)")) == "courier_consumer.worker"
    adapter = parse_frame("publish (courier_adapters/kafka/dead_letters.py:5)")
    assert layer_of(adapter) == "Kafka adapter (courier_adapters.kafka)"
    assert (
        layer_of(parse_frame("KafkaConsumer.poll (kafka/consumer/group.py:1)"))
        == "Kafka client (kafka-python)"
    )


def test_threads_blocked_in_select_or_a_lock_are_not_cpu_work() -> None:
    raw = "\n".join(
        [
            f"{ROOT};KafkaClient.poll (kafka/client_async.py:1);EpollSelector.select (selectors.py:468) 9",
            f"{ROOT};_worker (concurrent/futures/thread.py:81);Condition.wait (threading.py:320) 4",
            f"{ROOT};KafkaClient.poll (kafka/client_async.py:1) 2",
        ]
    )

    assert breakdown(raw) == Counter({"Kafka client (kafka-python)": 2})
