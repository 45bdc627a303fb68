"""Dead letters: values courier can never apply go to a topic of their own, with why and whence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from courier_core.errors import DependencyUnavailable

MAX_ERROR_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that failed, where it came from, and what was wrong with it."""

    value: bytes | None
    error: str
    topic: str
    partition: int
    offset: int

    def headers(self) -> list[tuple[str, bytes]]:
        """The spec's headers; numbers as decimal strings."""
        return [
            ("x-error", self.error[:MAX_ERROR_LENGTH].encode()),
            ("x-original-topic", self.topic.encode()),
            ("x-original-partition", str(self.partition).encode()),
            ("x-original-offset", str(self.offset).encode()),
        ]


class KafkaDeadLetters:
    """Publishes dead letters to ``topic`` and waits for the broker's acknowledgement.

    Thread-safe (one producer shared by every consumer thread). Raises ``DependencyUnavailable``
    when the broker does not acknowledge within ``timeout``: the caller retries, never commits.
    """

    def __init__(self, bootstrap_servers: str, *, topic: str, timeout: float = 10.0) -> None:
        self.topic = topic
        self._timeout = timeout
        self._producer: Any = KafkaProducer(
            bootstrap_servers=bootstrap_servers,
            acks="all",
            retries=3,
            linger_ms=0,
            request_timeout_ms=int(timeout * 1000),
            max_block_ms=int(timeout * 1000),
        )

    def send(self, letter: DeadLetter) -> None:
        try:
            future = self._producer.send(self.topic, value=letter.value, headers=letter.headers())
            future.get(timeout=self._timeout)
        except KafkaError as exc:
            raise DependencyUnavailable(f"dead-letter topic: {exc}", dependency="broker") from exc

    def close(self, timeout: float = 5.0) -> None:
        self._producer.close(timeout=timeout)
