"""The access log's hot path: one JSON line per request without the cost of ``logging``.

Going through ``logging`` (a ``LogRecord``, the JSON formatter, a write and a flush per line) cost about
as much CPU as the rest of a read request. Here a line is encoded with msgspec, in the same shape as
``courier_adapters.logs.JsonFormatter`` (time, level, message, logger, bound fields, extras), and lines
are written to stdout in batches: at most 0.2 s late, in whole-line chunks under ``PIPE_BUF`` so that
several workers sharing one pipe never interleave inside a line. The app's shutdown calls
:func:`flush_all`, so the lines of the last 0.2 s before a stop are written too.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import weakref
from typing import Any, TextIO

import msgspec

from courier_adapters.logs import bound

LOGGER = "courier.http.access"
FLUSH_AFTER = 0.2
CHUNK = 4000  # under PIPE_BUF (4096): one write() of a pipe is never split

_encode = msgspec.json.Encoder().encode
_WRITERS: weakref.WeakSet[AccessLogWriter] = weakref.WeakSet()


def flush_all() -> None:
    """Write every writer's pending lines now (at shutdown)."""
    for writer in list(_WRITERS):
        writer.flush()


class AccessLogWriter:
    """Writes access lines to ``stream`` (default: ``sys.stdout`` at write time), batched."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._pending: list[str] = []
        self._scheduled = False
        self._second = -1
        self._stamp = ""
        _WRITERS.add(self)

    def _time(self, now: float) -> str:
        second = int(now)
        if second != self._second:  # strftime once a second, not once a request
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"

    def write(self, message: str, fields: dict[str, Any]) -> None:
        entry = {"time": self._time(time.time()), "level": "info", "message": message, "logger": LOGGER}
        entry.update(bound())
        entry.update(fields)
        self._pending.append(_encode(entry).decode())
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_later(FLUSH_AFTER, self.flush)

    def flush(self) -> None:
        self._scheduled = False
        lines, self._pending = self._pending, []
        if not lines:
            return
        stream = self._stream or sys.stdout
        chunk: list[str] = []
        size = 0
        for line in lines:
            if size + len(line) + 1 > CHUNK and chunk:
                stream.write("\n".join(chunk) + "\n")
                stream.flush()
                chunk, size = [], 0
            chunk.append(line)
            size += len(line) + 1
        if chunk:
            stream.write("\n".join(chunk) + "\n")
            stream.flush()


class LoggingAccessLog:
    """The same lines through ``logging`` (the ``console`` format, for people at a terminal)."""

    def __init__(self) -> None:
        self._log = logging.getLogger(LOGGER)

    def write(self, message: str, fields: dict[str, Any]) -> None:
        self._log.info(message, extra=fields)

    def flush(self) -> None:
        """Nothing is held back."""
