"""Operational routes, at the root only and never rate limited: ping, health, readiness, metrics, docs."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import psycopg
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from psycopg.conninfo import conninfo_to_dict

from courier_adapters.metrics import DatabaseCollector
from courier_adapters.postgres.database import PostgresDatabase
from courier_http import schemas
from courier_http.auth import bearer, metrics_token_ok, unauthorized
from courier_http.errors import unavailable
from courier_http.exchange import Call, Reply
from courier_http.routing import Operation

PROBE_TIMEOUT = 2.0


def sockets_gone(url: str) -> bool:
    """Whether every Unix-domain socket ``url`` connects through has vanished from its directory.

    The pool's open connections keep answering ``SELECT 1`` after the server's directory was deleted
    (the embedded server keeps its socket in its data directory), but no new connection can be made
    and PostgreSQL shuts itself down within a minute: not ready. TCP hosts are left to the ping.
    """
    sockets = _unix_sockets(url)
    return bool(sockets) and not any(s.exists() for s in sockets)


@functools.lru_cache(maxsize=8)
def _unix_sockets(url: str) -> tuple[Path, ...]:
    """The socket files of ``url`` when every host is a directory (parsed once per URL, not per probe)."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return ()
    hosts = str(params.get("host") or "").split(",")
    ports = str(params.get("port") or "5432").split(",")
    if not all(host.startswith("/") for host in hosts):
        return ()
    return tuple(
        Path(host) / f".s.PGSQL.{ports[i] if i < len(ports) else ports[-1]}" for i, host in enumerate(hosts)
    )


class Probes(Protocol):
    """What the operational routes look at (filled in when the app starts)."""

    @property
    def database(self) -> PostgresDatabase | None: ...

    @property
    def collector(self) -> DatabaseCollector | None: ...


class OperationalApi:
    """Handlers of the operational routes."""

    def __init__(
        self,
        probes: Probes,
        *,
        scrape: CollectorRegistry,
        document: Callable[[], dict[str, Any]],
        metrics_token: str | None = None,
    ) -> None:
        self._metrics_token = metrics_token
        self._probes = probes
        self._scrape = scrape
        self._document = document
        self._cached: dict[str, Any] | None = None

    async def ping(self, call: Call) -> Reply:
        return Reply(200, {"message": "pong"})

    async def healthcheck(self, call: Call) -> Reply:
        return Reply(204)

    async def readyz(self, call: Call) -> Reply:
        database = self._probes.database
        ready = False
        if database is not None and not sockets_gone(database.url):
            with contextlib.suppress(TimeoutError):
                ready = await asyncio.wait_for(database.ping(), PROBE_TIMEOUT)
        if not ready:
            raise unavailable()
        return Reply(200, {"status": "ready"})

    async def metrics(self, call: Call) -> Reply:
        if not metrics_token_ok(self._metrics_token, call.scope):
            raise unauthorized(sent=bearer(call.scope) is not None)
        collector = self._probes.collector
        if collector is not None:
            try:
                await asyncio.wait_for(collector.refresh(), PROBE_TIMEOUT)
            except TimeoutError:
                collector.forget()
        body = generate_latest(self._scrape)
        return Reply(200, body, content_type=CONTENT_TYPE_LATEST.encode())

    async def openapi(self, call: Call) -> Reply:
        if self._cached is None:
            self._cached = self._document()
        return Reply(200, self._cached)


def operations(api: OperationalApi) -> list[Operation]:
    return [
        Operation("GET", "/ping", api.ping, "Liveness answer with a body", answer=schemas.Message),
        Operation("GET", "/healthcheck", api.healthcheck, "Liveness: the process is up", status=204),
        Operation("HEAD", "/healthcheck", api.healthcheck, "Liveness: the process is up", status=204),
        Operation(
            "GET",
            "/readyz",
            api.readyz,
            "Readiness: the database answers",
            answer=schemas.Ready,
            errors=(503,),
        ),
        Operation(
            "GET", "/metrics", api.metrics, "Prometheus text exposition", content_type=CONTENT_TYPE_LATEST
        ),
        Operation("GET", "/openapi.json", api.openapi, "This document"),
    ]
