"""dependency-injector containers shared by the apps' composition roots.

``Adapters`` holds the outside world (database pool, repositories, metrics); ``UseCases`` depends on it
and builds core's services. An app creates both from its :class:`~courier_adapters.settings.Settings`
and the resolved database URL, overriding ``Adapters.metrics`` with its Prometheus metrics; tests swap
the whole ``Adapters`` container.
"""

from __future__ import annotations

from dependency_injector import containers, providers

from courier_adapters.postgres.database import PoolSession, PostgresDatabase
from courier_adapters.postgres.journal import (
    PostgresDecisionRepository,
    PostgresHistoryRepository,
    PostgresOutboxRepository,
)
from courier_adapters.postgres.repositories import (
    PostgresCourierRepository,
    PostgresDeliveryRepository,
    PostgresWaitingOrderRepository,
)
from courier_adapters.postgres.uow import PostgresUnitOfWorkFactory
from courier_adapters.settings import Settings
from courier_core.metrics import NullMetrics
from courier_core.usecases import CourierService, DeliveryService, WaitingQueue


class Adapters(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    database_url = providers.Dependency(instance_of=str)

    database = providers.Singleton(
        PostgresDatabase,
        database_url,
        min_size=settings.provided.db_pool_min,
        max_size=settings.provided.db_pool_max,
        statement_timeout=settings.provided.db_statement_timeout,
    )
    read_session = providers.Singleton(PoolSession, database.provided.pool)
    courier_reader = providers.Singleton(PostgresCourierRepository, read_session)
    delivery_reader = providers.Singleton(PostgresDeliveryRepository, read_session)
    queue_reader = providers.Singleton(PostgresWaitingOrderRepository, read_session)
    outbox_reader = providers.Singleton(PostgresOutboxRepository, read_session)
    history_reader = providers.Singleton(PostgresHistoryRepository, read_session)
    decision_reader = providers.Singleton(PostgresDecisionRepository, read_session)
    uow = providers.Singleton(PostgresUnitOfWorkFactory, database)
    metrics = providers.Singleton(NullMetrics)


class UseCases(containers.DeclarativeContainer):
    adapters = providers.DependenciesContainer()

    policy = providers.Callable(lambda settings: settings.deadline_policy, adapters.settings)
    waiting = providers.Singleton(WaitingQueue, policy=policy, metrics=adapters.metrics)
    couriers = providers.Singleton(
        CourierService,
        uow=adapters.uow,
        couriers=adapters.courier_reader,
        waiting=waiting,
        history=adapters.history_reader,
    )
    deliveries = providers.Singleton(
        DeliveryService,
        uow=adapters.uow,
        deliveries=adapters.delivery_reader,
        queue=adapters.queue_reader,
        waiting=waiting,
        policy=policy,
        metrics=adapters.metrics,
        decisions=adapters.decision_reader,
        history=adapters.history_reader,
    )
