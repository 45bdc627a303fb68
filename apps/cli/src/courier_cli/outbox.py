"""``courier outbox ...``: the events waiting to go out to Kafka, and the relay that sends them.

One relay is active at a time across every process (``courier-consumer`` runs one by default; a
PostgreSQL advisory lock decides which): ``drain`` and ``relay`` take the same lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from courier_cli.errors import UsageProblem
from courier_cli.lazy import run, state
from courier_cli.output import JSON_OPTION, PLAIN_HELP, emit, note, stderr

if TYPE_CHECKING:
    from courier_adapters.settings import Settings
    from courier_cli.runtime import Cli

# kafka-python, the relay and rich's progress are imported when a command runs (not for --help).

app = typer.Typer(
    rich_markup_mode=PLAIN_HELP, help="Events out: the outbox and its relay to Kafka.", no_args_is_help=True
)
Json = Annotated[bool, JSON_OPTION]
Servers = Annotated[
    str | None,
    typer.Option(
        "--bootstrap-servers",
        help="Kafka brokers, e.g. 127.0.0.1:9092 [default: COURIER_KAFKA_BOOTSTRAP_SERVERS]",
        show_default=False,
    ),
]
PROGRESS_EVERY = 2.0  # seconds between progress lines when stderr is not a terminal
PROGRESS_BAR_FROM = 2000  # below this many events a drain is over before a bar would be read
BROKER_TIMEOUT = 5.0  # how long an unreachable broker is tried before the command gives up


def _servers(settings: Settings, given: str | None) -> str:
    servers = given or settings.kafka_bootstrap_servers
    if not servers:
        raise UsageProblem("no Kafka broker: set COURIER_KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap-servers")
    return servers


async def _ensure_topic(servers: str, topic: str) -> None:
    """Create the events topic when the broker lacks it; fail fast (exit 3) when it is unreachable."""
    from courier_adapters.kafka.admin import ensure_topics
    from courier_adapters.kafka.publisher import check_reachable
    from courier_adapters.kafka.relay import EVENTS_PARTITIONS

    await asyncio.to_thread(check_reachable, servers, timeout=BROKER_TIMEOUT)
    await asyncio.to_thread(ensure_topics, servers, {topic: EVENTS_PARTITIONS}, timeout=BROKER_TIMEOUT)


@app.command("status")
def status(ctx: typer.Context, as_json: Json = False) -> None:
    """Show the events not yet published, the oldest one's age, how many still wait for their
    position (stamped by any running courier-api, courier-consumer or relay), the newest position and
    whether a relay is active.

    Example: courier outbox status --json
    """
    from courier_adapters.kafka.relay import relay_active
    from courier_adapters.postgres.database import PoolSession

    topic = state(ctx).settings.events_topic

    async def work(cli: Cli) -> dict[str, Any]:
        outbox = cli.adapters.outbox_reader()
        pending, oldest = await outbox.stats()
        return {
            "pending": pending,
            "oldest_pending_age_seconds": round(oldest, 3),
            "unstamped": await outbox.unstamped(),
            "last_position": await outbox.last_position(),
            "relay_active": await relay_active(PoolSession(cli.adapters.database().pool)),
            "topic": topic,
        }

    emit(run(ctx, work), as_json=as_json)


@app.command("drain")
def drain_command(ctx: typer.Context, bootstrap_servers: Servers = None, as_json: Json = False) -> None:
    """Publish every event pending now to Kafka, then exit (events committed meanwhile wait for the
    next relay). Fails when another relay is active (exit 1) or the broker cannot be reached (exit 3;
    nothing of the failed batch is marked sent).

    Example: courier outbox drain --bootstrap-servers 127.0.0.1:9092
    """
    from courier_adapters.kafka.publisher import KafkaEventPublisher
    from courier_adapters.kafka.relay import RelayOptions, drain

    settings = state(ctx).settings
    servers = _servers(settings, bootstrap_servers)
    options = RelayOptions.from_settings(settings)

    async def work(cli: Cli) -> dict[str, Any]:
        await _ensure_topic(servers, settings.events_topic)
        publisher = KafkaEventPublisher(servers, topic=settings.events_topic)
        started = time.monotonic()
        try:
            with _progress(shown=not as_json) as progress:
                sent = await drain(cli.database_url(), publisher, options=options, progress=progress)
        finally:
            await publisher.aclose()
        seconds = time.monotonic() - started
        pending, _ = await cli.adapters.outbox_reader().stats()
        return {
            "published": sent,
            "seconds": round(seconds, 3),
            "events_per_second": round(sent / seconds) if sent and seconds > 0 else 0,
            "still_pending": pending,
            "topic": settings.events_topic,
        }

    emit(run(ctx, work), as_json=as_json)


@contextlib.contextmanager
def _progress(*, shown: bool) -> Iterator[Callable[[int, int], None]]:
    """``progress(sent, total)``: a bar on a terminal, a line every few seconds otherwise."""
    console = stderr()
    if not shown:
        yield lambda sent, total: None
        return
    if console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("drain", total=None)

            def advance(sent: int, total: int) -> None:
                if total >= PROGRESS_BAR_FROM:
                    bar.update(task, completed=sent, total=total)

            yield advance
        return
    last = time.monotonic()

    def line(sent: int, total: int) -> None:
        nonlocal last
        if time.monotonic() - last >= PROGRESS_EVERY or sent >= total:
            last = time.monotonic()
            note(f"published {sent} of {total}")

    yield line


class _Reporter:
    """The relay's count on the terminal, every few seconds (its log says when it is active)."""

    def __init__(self) -> None:
        self.total = 0
        self._shown = 0
        self._last = time.monotonic()

    def active(self, active: bool) -> None:
        if not active:
            self.flush()

    def published(self, count: int) -> None:
        self.total += count
        if time.monotonic() - self._last >= PROGRESS_EVERY:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        if self.total != self._shown:
            self._shown = self.total
            note(f"published {self.total} events")


@app.command("relay")
def relay(ctx: typer.Context, bootstrap_servers: Servers = None) -> None:
    """Run the outbox relay alone until Ctrl-C: it publishes while it holds the relay lock and stands
    by (trying again every COURIER_OUTBOX_STANDBY_INTERVAL) while another relay is active.

    Example: courier outbox relay --bootstrap-servers 127.0.0.1:9092
    """
    from courier_adapters.kafka.publisher import KafkaEventPublisher
    from courier_adapters.kafka.relay import RelayOptions, RelayRunner
    from courier_adapters.postgres.stamper import PositionStamper, StamperOptions

    settings = state(ctx).settings
    servers = _servers(settings, bootstrap_servers)
    options = RelayOptions.from_settings(settings)
    logging.getLogger("courier.outbox").setLevel(logging.INFO)  # active, standing by, outages

    async def work(cli: Cli) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await _ensure_topic(servers, settings.events_topic)
        publisher = KafkaEventPublisher(servers, topic=settings.events_topic)
        reporter = _Reporter()
        runner = RelayRunner(
            cli.database_url(), publisher, options=options, observer=reporter, topic=settings.events_topic
        )
        stamper = PositionStamper(cli.database_url(), options=StamperOptions.from_settings(settings))
        note(f"outbox relay started (pid {os.getpid()}): active unless another relay is; Ctrl-C stops it")
        stamper.start()  # events get their positions even where no API or consumer runs
        try:
            await runner.run(stop)
        finally:
            await stamper.stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await publisher.aclose()
            reporter.flush()
        return reporter.total

    total = run(ctx, work)
    note(f"outbox relay stopped; it published {total} events")
