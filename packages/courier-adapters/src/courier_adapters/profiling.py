"""CPU profiles of a running process on demand, served on ``COURIER_ADMIN_ADDR`` (loopback only).

    curl -o profile.html 'http://127.0.0.1:6060/debug/profile?seconds=10'
    curl -o profile.json 'http://127.0.0.1:6060/debug/profile?seconds=10&format=speedscope'

pyinstrument samples the event loop's thread from inside the process: no ptrace capability is needed
(py-spy needs one, which a non-root container lacks), its overhead is a sampling timer, and it renders
an HTML page or a speedscope file (https://www.speedscope.app) that a person can open. One profile
runs at a time; the server is a few lines of asyncio, with no framework, so the consumer can serve it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
from urllib.parse import parse_qs, urlsplit

from pyinstrument import Profiler
from pyinstrument.renderers import SpeedscopeRenderer

log = logging.getLogger("courier.profiling")
MAX_SECONDS = 300.0


def parse_admin_addr(text: str) -> tuple[str, int]:
    """``127.0.0.1:6060`` → (host, port); anything but a loopback address is refused."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:  # 0: any free port
        raise ValueError(f"{text!r} is not HOST:PORT")
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"{host!r} is not a loopback address: profiling is served on loopback only")
    return host, int(port)


class AdminServer:
    """``GET /debug/profile?seconds=N&format=html|speedscope`` on a loopback address."""

    def __init__(self, addr: str) -> None:
        self.host, self.port = parse_admin_addr(addr)
        self._server: asyncio.Server | None = None
        self._busy = asyncio.Lock()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("profiling served", extra={"url": f"http://{self.host}:{self.port}/debug/profile"})

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            method, target, *_ = request.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            status, headers, body = await self._route(method, target)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            status, headers, body = "400 Bad Request", {}, b"bad request\n"
        head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(head.encode("latin-1") + b"\r\n" + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def _route(self, method: str, target: str) -> tuple[str, dict[str, str], bytes]:
        url = urlsplit(target)
        if method != "GET" or url.path != "/debug/profile":
            return "404 Not Found", {}, b"try GET /debug/profile?seconds=10&format=html|speedscope\n"
        query = parse_qs(url.query)
        seconds = float(query.get("seconds", ["10"])[0])
        fmt = query.get("format", ["html"])[0]
        if not 0 < seconds <= MAX_SECONDS or fmt not in ("html", "speedscope"):
            return "400 Bad Request", {}, f"seconds: 0-{MAX_SECONDS:g}; format: html|speedscope\n".encode()
        if self._busy.locked():
            return "409 Conflict", {}, b"a profile is already running\n"
        async with self._busy:
            body = await profile(seconds, fmt)
        kind, ext = ("text/html", "html") if fmt == "html" else ("application/json", "speedscope.json")
        return (
            "200 OK",
            {
                "Content-Type": kind,
                "Content-Disposition": f'attachment; filename="courier-profile.{ext}"',
            },
            body,
        )


async def serve_profiles(addr: str | None) -> AdminServer | None:
    """Start the profiling server on ``addr`` (``COURIER_ADMIN_ADDR``; ``None``: off).

    With several API workers only one can listen on the address: the first one does, the others say
    so and go on (a profile of one worker shows what every worker spends its time on).
    """
    if not addr:
        return None
    server = AdminServer(addr)
    try:
        await server.start()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        log.info("profiling is served by another process on %s", addr)
        return None
    return server


async def profile(seconds: float, fmt: str = "html") -> bytes:
    """Sample everything this event loop's thread runs for ``seconds``."""
    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()
    try:
        await asyncio.sleep(seconds)
    finally:
        profiler.stop()
    if fmt == "speedscope":
        return profiler.output(SpeedscopeRenderer()).encode()
    return profiler.output_html().encode()
