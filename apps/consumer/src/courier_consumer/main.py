"""``courier-consumer``: applies the order service's events from Kafka (``shared/spec/events.md``).

Reads its configuration once (``COURIER_*``), stops cleanly on SIGTERM/SIGINT: the poll in hand is
finished and committed, the consumers leave the group, the pool is closed, exit code 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from courier_adapters.bootstrap import resolve_database
from courier_adapters.commandline import parse_command_line
from courier_adapters.logs import configure_logging
from courier_adapters.settings import Settings, SettingsError, load_settings
from courier_consumer.app import ConsumerApp

log = logging.getLogger("courier.consumer")
EXIT_USAGE = 2


async def _serve(settings: Settings, database_url: str) -> bool:
    app = ConsumerApp(settings, database_url=database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await app.run(stop)
    return not app.failed


def main() -> None:
    parse_command_line(
        "courier-consumer",
        "courier's Kafka consumer of order events, with the outbox relay (SIGTERM or Ctrl-C stops it).",
        "courier-consumer",
    )
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"courier-consumer: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    configure_logging(settings.log_level, settings.log_format)
    if not settings.kafka_bootstrap_servers:
        print("courier-consumer: COURIER_KAFKA_BOOTSTRAP_SERVERS is required", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    try:
        target = resolve_database(settings)
    except Exception as exc:  # unreachable server, failed migration: say so, no traceback wall
        log.error("courier-consumer cannot use its database: %s", exc)
        sys.exit(1)
    try:
        ok = asyncio.run(_serve(settings, target.url))
    except Exception:
        log.exception("courier-consumer failed")
        ok = False
    finally:
        target.stop()
    sys.exit(0 if ok else 1)
