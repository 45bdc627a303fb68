"""Profiling on demand: a real profile of the running loop, served only on loopback."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from courier_adapters.profiling import AdminServer, parse_admin_addr
from courier_adapters.settings import SettingsError, load_settings


async def busy_work(stop: asyncio.Event) -> int:
    count = 0
    while not stop.is_set():
        count += sum(i * i for i in range(2000))
        await asyncio.sleep(0)
    return count


@pytest.mark.parametrize("fmt", ["html", "speedscope"])
async def test_profiles_what_the_loop_runs(fmt: str) -> None:
    server = AdminServer("127.0.0.1:0")
    await server.start()
    stop = asyncio.Event()
    worker = asyncio.create_task(busy_work(stop))
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.get(
                f"http://127.0.0.1:{server.port}/debug/profile", params={"seconds": "0.5", "format": fmt}
            )
    finally:
        stop.set()
        await worker
        await server.stop()
    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    if fmt == "speedscope":
        frames = json.loads(answer.content)["shared"]["frames"]
        assert any(f["name"] == "busy_work" for f in frames)
    else:
        assert b"busy_work" in answer.content


async def test_bad_requests_get_clear_answers() -> None:
    server = AdminServer("127.0.0.1:0")
    await server.start()
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            base = f"http://127.0.0.1:{server.port}"
            assert (await client.get(f"{base}/")).status_code == 404
            assert (await client.get(f"{base}/debug/profile?seconds=9999")).status_code == 400
            assert (await client.get(f"{base}/debug/profile?format=svg")).status_code == 400
    finally:
        await server.stop()


@pytest.mark.parametrize("addr", ["0.0.0.0:6060", "10.1.2.3:6060", "example.com:6060", "6060", "127.0.0.1:x"])
def test_only_loopback_addresses_are_accepted(addr: str) -> None:
    with pytest.raises(ValueError):
        parse_admin_addr(addr)
    with pytest.raises(SettingsError, match="COURIER_ADMIN_ADDR"):
        load_settings({"COURIER_ADMIN_ADDR": addr}, dotenv=None)


def test_loopback_addresses_are_accepted() -> None:
    assert parse_admin_addr("[::1]:6060") == ("::1", 6060)
    assert load_settings({"COURIER_ADMIN_ADDR": "localhost:6060"}, dotenv=None).admin_addr == "localhost:6060"
