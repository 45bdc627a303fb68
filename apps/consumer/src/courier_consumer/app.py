"""The consumer's composition root: database, use cases, Kafka consumers, jobs, the outbox relay and
the metrics endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from dependency_injector import providers
from prometheus_client import CollectorRegistry

from courier_adapters.containers import Adapters, UseCases
from courier_adapters.kafka.admin import ensure_topics
from courier_adapters.kafka.dead_letters import KafkaDeadLetters
from courier_adapters.kafka.publisher import KafkaEventPublisher
from courier_adapters.kafka.relay import EVENTS_PARTITIONS, RelayOptions, RelayRunner
from courier_adapters.metrics.outbox import OutboxMetrics
from courier_adapters.metrics.pool import PoolMetrics, PoolWatcher
from courier_adapters.metrics.prometheus import PrometheusMetrics
from courier_adapters.postgres.leader import LeaderLease, leader_only
from courier_adapters.postgres.stamper import PositionStamper, StamperOptions
from courier_adapters.profiling import serve_profiles
from courier_adapters.settings import Settings
from courier_consumer.deferred import DeferredOrders
from courier_consumer.jobs import Pruner, every
from courier_consumer.processing import BatchProcessor, LoopBridge
from courier_consumer.telemetry import ConsumerMetrics, MetricsServer
from courier_consumer.worker import ACTOR, ConsumerConfig, ConsumerWorker
from courier_core.actor import set_actor
from courier_core.ports import Metrics, OrderGateway
from courier_core.usecases.events import (
    OrderEventService,
    OrderVerifier,
    WaitingSweeper,
    default_handlers,
)
from courier_core.usecases.reconcile import Reconciler

log = logging.getLogger("courier.consumer")
TOPIC_PARTITIONS = 4  # when courier creates the topics itself (development broker)
PRUNE_INTERVAL = 3600.0
SWEEP_INTERVAL = 5.0  # how long a race may leave an order waiting beside a free courier
BRIDGE_TIMEOUT = 6.0  # well inside the 10 s poll interval
OUTBOX_STATS_INTERVAL = 5.0  # outbox_pending and the oldest pending event's age


@dataclass
class Runtime:
    """What a running consumer holds, for readiness and for tests."""

    workers: list[ConsumerWorker] = field(default_factory=list)
    database_open: bool = False
    metrics_port: int | None = None
    relay: RelayRunner | None = None

    def ready(self) -> bool:
        return self.database_open and bool(self.workers) and all(w.joined.is_set() for w in self.workers)


class ConsumerApp:
    """``await app.run(stop)`` consumes until ``stop`` is set, then stops cleanly within the timeout."""

    def __init__(
        self,
        settings: Settings,
        *,
        database_url: str,
        registry: CollectorRegistry | None = None,
        metrics_host: str | None = None,
    ) -> None:
        if not settings.kafka_bootstrap_servers:
            raise ValueError("COURIER_KAFKA_BOOTSTRAP_SERVERS is required by courier-consumer")
        self.settings = settings
        self.bootstrap_servers: str = settings.kafka_bootstrap_servers
        self.registry = registry or CollectorRegistry()
        self.core_metrics = PrometheusMetrics(self.registry)
        self.metrics = ConsumerMetrics(self.registry)
        self.outbox_metrics = OutboxMetrics(self.registry)
        self.pool_metrics = PoolMetrics(self.registry)
        self.adapters = Adapters(settings=settings, database_url=database_url)
        self.adapters.metrics.override(providers.Object(self.core_metrics))
        self.use_cases = UseCases(adapters=self.adapters)
        self.runtime = Runtime()
        # The endpoint listens where the HTTP API would (COURIER_HTTP_HOST: loopback unless a container).
        self._metrics_host = metrics_host or settings.http_host
        self.failed = False
        self.deferred: DeferredOrders | None = None
        self.leases: list[LeaderLease] = []

    async def run(self, stop: asyncio.Event) -> None:
        set_actor(ACTOR)  # history: changes made by this process's tasks are the consumer's
        s = self.settings
        server = MetricsServer(
            self.registry,
            self.runtime.ready,
            host=self._metrics_host,
            port=s.metrics_port,
            legacy_names=s.metrics_legacy_names,
        )
        server.start()
        self.runtime.metrics_port = server.port
        database = self.adapters.database()
        gateway = _order_gateway(s, self.core_metrics)
        dead_letters: KafkaDeadLetters | None = None
        tasks: list[asyncio.Task[None]] = []
        relay = _Relay()
        profiles = await serve_profiles(s.admin_addr)  # COURIER_ADMIN_ADDR: CPU profiles on demand
        try:
            await database.open(wait=True, timeout=30.0)
            self.runtime.database_open = True
            topics = {s.kafka_topic: TOPIC_PARTITIONS, s.kafka_dlq_topic: 1}
            if s.outbox_relay:
                topics[s.events_topic] = EVENTS_PARTITIONS
            await asyncio.to_thread(ensure_topics, self.bootstrap_servers, topics)
            dead_letters = await asyncio.to_thread(
                KafkaDeadLetters, self.bootstrap_servers, topic=s.kafka_dlq_topic
            )
            service = OrderEventService(
                uow=self.adapters.uow(),
                handlers=default_handlers(self.use_cases.deliveries()),
                verifier=OrderVerifier(gateway, metrics=self.core_metrics),
            )
            self.deferred = deferred = DeferredOrders(metrics=self.metrics, budget=s.unknown_order_retry)
            tasks = self._start_jobs(service, deferred, gateway)
            if s.outbox_relay:
                self._start_relay(relay, database_url=self.adapters.database_url())
            self._start_workers(service, deferred, dead_letters)
            await self._wait(stop)
        finally:
            await self._shutdown(tasks, dead_letters, gateway, relay)
            if profiles is not None:
                await profiles.stop()
            server.stop()

    def _start_jobs(
        self, service: OrderEventService, deferred: DeferredOrders, gateway: OrderGateway | None
    ) -> list[asyncio.Task[None]]:
        s = self.settings
        pruner = Pruner(
            uow=self.adapters.uow(),
            database=self.adapters.database(),
            processed_retention=s.retention_processed_events,
            order_retention=s.retention_order_status,
        )
        sweeper = WaitingSweeper(uow=self.adapters.uow(), waiting=self.use_cases.waiting())
        # Cluster-wide jobs run in one consumer at a time (a leader lease each); the rest is per process.
        prune = leader_only(self._lease("prune"), pruner.prune)
        outbox_stats = every(OUTBOX_STATS_INTERVAL, self._outbox_stats, name="outbox-stats", first=0.0)
        tasks = [
            asyncio.create_task(deferred.run(service), name="deferred-orders"),
            asyncio.create_task(every(PRUNE_INTERVAL, prune, name="prune", first=60.0), name="prune"),
            asyncio.create_task(every(SWEEP_INTERVAL, sweeper.sweep, name="sweep"), name="sweep-waiting"),
            asyncio.create_task(outbox_stats, name="outbox-stats"),
            asyncio.create_task(self._stamper().run(asyncio.Event()), name="outbox-stamper"),
            asyncio.create_task(
                PoolWatcher(self.adapters.database(), self.pool_metrics).run(), name="pool-gauges"
            ),
        ]
        if gateway is not None and s.reconcile_interval > 0:
            reconciler = Reconciler(
                uow=self.adapters.uow(),
                gateway=gateway,
                deliveries=self.use_cases.deliveries(),
                lookback=timedelta(seconds=s.reconcile_lookback),
                overlap=timedelta(seconds=s.reconcile_overlap),
                metrics=self.core_metrics,
            )
            reconcile = leader_only(self._lease("reconcile"), reconciler.run_once)
            job = every(s.reconcile_interval, reconcile, name="reconcile", first=0.0)
            tasks.append(asyncio.create_task(job, name="reconcile"))
        return tasks

    def _stamper(self) -> PositionStamper:
        """The outbox's position stamper: leading here, or standing by (cancelled at shutdown)."""
        options = StamperOptions.from_settings(self.settings)
        return PositionStamper(self.adapters.database_url(), options=options)

    def _lease(self, job: str) -> LeaderLease:
        lease = LeaderLease(
            self.adapters.database_url(),
            job,
            statement_timeout=self.settings.db_statement_timeout,
            observer=self.metrics.leading,
        )
        self.leases.append(lease)
        return lease

    async def _outbox_stats(self) -> None:
        pending, oldest_age = await self.adapters.outbox_reader().stats()
        self.outbox_metrics.pending(pending, oldest_age)

    def _start_relay(self, relay: _Relay, *, database_url: str) -> None:
        """The outbox relay: active here, or standing by while another process's is."""
        s = self.settings
        relay.publisher = KafkaEventPublisher(self.bootstrap_servers, topic=s.events_topic)
        self.runtime.relay = runner = RelayRunner(
            database_url,
            relay.publisher,
            options=RelayOptions.from_settings(s),
            observer=self.outbox_metrics,
            topic=s.events_topic,
        )
        relay.task = asyncio.create_task(runner.run(relay.stop), name="outbox-relay")

    def _start_workers(
        self, service: OrderEventService, deferred: DeferredOrders, dead_letters: KafkaDeadLetters
    ) -> None:
        s = self.settings
        bridge = LoopBridge(asyncio.get_running_loop(), timeout=BRIDGE_TIMEOUT)
        config = ConsumerConfig(
            bootstrap_servers=self.bootstrap_servers,
            topic=s.kafka_topic,
            group_id=s.kafka_group_id,
            auto_offset_reset=s.kafka_auto_offset_reset,
            max_poll_records=s.kafka_max_poll_records,
        )
        for index in range(s.kafka_consumers):
            processor = BatchProcessor(
                bridge=bridge,
                service=service,
                deferred=deferred,
                dead_letters=dead_letters,
                metrics=self.metrics,
                max_attempts=s.kafka_max_attempts,
            )
            worker = ConsumerWorker(
                f"consumer-{index}", config=config, processor=processor, metrics=self.metrics
            )
            self.runtime.workers.append(worker)
            worker.start()
        log.info(
            "consuming",
            extra={"topic": s.kafka_topic, "group_id": s.kafka_group_id, "consumers": s.kafka_consumers},
        )

    async def _wait(self, stop: asyncio.Event) -> None:
        """Until ``stop``, or until a consumer thread dies (then the process fails, to be restarted)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)
            if any(w.failed is not None for w in self.runtime.workers):
                self.failed = True
                log.error("a consumer thread failed; stopping")
                return

    async def _shutdown(
        self,
        tasks: list[asyncio.Task[None]],
        dead_letters: KafkaDeadLetters | None,
        gateway: OrderGateway | None,
        relay: _Relay,
    ) -> None:
        log.info("stopping")
        relay.stop.set()  # the batch in hand is published and marked sent first
        for worker in self.runtime.workers:
            worker.stop()
        budget = max(1.0, self.settings.shutdown_timeout - 2.0)
        deadline = time.monotonic() + budget
        for worker in self.runtime.workers:
            if not await asyncio.to_thread(worker.join, budget):
                log.error("consumer %s did not stop within the shutdown timeout", worker.name)
        if relay.task is not None:
            try:
                await asyncio.wait_for(relay.task, timeout=max(0.5, deadline - time.monotonic()))
            except TimeoutError:
                log.error("the outbox relay did not stop within the shutdown timeout")
            except Exception:
                log.exception("the outbox relay failed")
        if relay.publisher is not None:
            await relay.publisher.aclose()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for lease in self.leases:
            await lease.release()  # a standby takes over at its next tick, not after a timeout
        if dead_letters is not None:
            await asyncio.to_thread(dead_letters.close)
        close = getattr(gateway, "close", None)
        if close is not None:
            await close()
        await self.adapters.database().close()
        log.info("stopped")


@dataclass
class _Relay:
    """The relay's parts, for a clean stop."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    publisher: KafkaEventPublisher | None = None


def _order_gateway(settings: Settings, metrics: Metrics) -> OrderGateway | None:
    if not settings.order_service_addr:
        return None
    from courier_adapters.grpc.gateway import order_gateway_from_settings  # only when configured

    return order_gateway_from_settings(settings, metrics)
