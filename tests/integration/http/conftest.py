"""The HTTP app in-process (httpx.ASGITransport) on this test's real PostgreSQL database."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from courier_adapters.settings import Settings
from courier_http.app import create_app


@pytest.fixture
def http_settings(settings: Settings) -> Settings:
    """No rate limit and no expiry worker unless a test asks for them."""
    return dataclasses.replace(settings, rate_limit_scope="off", release_interval=0.0)


@pytest.fixture
async def app(http_settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(http_settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://courier.test") as http:
        yield http
