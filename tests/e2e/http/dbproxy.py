"""A loopback TCP proxy in front of the test PostgreSQL that a test can cut and restore.

It stands for a database outage: stopping it closes the listener and every proxied connection;
starting it again on the same port lets new connections through.
"""

from __future__ import annotations

import asyncio
from typing import Any

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.e2e.http.server import free_port
from tests.support.tcpproxy import Streams, TcpProxy


class DatabaseProxy(TcpProxy):
    """``url`` reaches the database of ``target_url`` through 127.0.0.1:``port`` while running."""

    def __init__(self, target_url: str) -> None:
        self._target = conninfo_to_dict(target_url)
        super().__init__(free_port(), self._open_upstream)

    @property
    def url(self) -> str:
        params: dict[str, Any] = {
            k: v for k, v in self._target.items() if k not in ("host", "port", "hostaddr")
        }
        return make_conninfo(**params, host="127.0.0.1", port=str(self.port))

    async def _open_upstream(self) -> Streams:
        host = str(self._target.get("host") or "/tmp")
        port = int(self._target.get("port") or 5432)
        if host.startswith("/"):
            return await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
        return await asyncio.open_connection(host, port)
