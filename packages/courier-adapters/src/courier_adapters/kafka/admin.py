"""Topic administration: create the topics courier uses when they are missing."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from courier_core.errors import DependencyUnavailable

log = logging.getLogger("courier.kafka.admin")


def ensure_topics(bootstrap_servers: str, topics: Mapping[str, int], *, timeout: float = 15.0) -> None:
    """Create each topic of ``topics`` (name → partitions) that does not exist yet.

    Raises ``DependencyUnavailable`` when the broker cannot be reached within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            _create_missing(bootstrap_servers, topics)
            return
        except KafkaError as exc:
            if time.monotonic() >= deadline:
                raise DependencyUnavailable(
                    f"Kafka at {bootstrap_servers}: {exc}", dependency="broker"
                ) from exc
            time.sleep(0.5)


def _create_missing(bootstrap_servers: str, topics: Mapping[str, int]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
    try:
        existing = set(admin.list_topics())
        missing = [NewTopic(name, n, 1) for name, n in topics.items() if name not in existing]
        if not missing:
            return
        with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile by someone else
            admin.create_topics(missing)
        log.info("created Kafka topics", extra={"topics": [t.name for t in missing]})
    finally:
        admin.close()
