"""Profiling of a running courier-consumer on ``COURIER_ADMIN_ADDR``."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from courier_adapters.kafka.embedded import free_port
from tests.e2e.consumer.conftest import ConsumerProcess


def test_courier_consumer_serves_profiles_on_its_admin_address(
    start_consumer: Callable[..., ConsumerProcess],
) -> None:
    port = free_port()
    consumer = start_consumer(admin_addr=f"127.0.0.1:{port}")
    consumer.wait_ready()
    answer = httpx.get(f"http://127.0.0.1:{port}/debug/profile?seconds=0.5", timeout=30)
    assert answer.status_code == 200
    assert b"pyinstrument" in answer.content
    assert httpx.get(f"http://127.0.0.1:{port}/nope", timeout=10).status_code == 404
