"""The composition root: ``create_app(settings)`` builds the Starlette app; nothing runs at import.

Resources (the database pool, the database gauges, the expiry worker) open in the lifespan and close on
shutdown. The business route table is mounted twice: under ``/api/v1`` and at the root.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from importlib.metadata import version

from dependency_injector import providers
from prometheus_client import CollectorRegistry, disable_created_metrics
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount

from courier_adapters.bootstrap import resolve_database
from courier_adapters.containers import Adapters, UseCases
from courier_adapters.logs import configure_logging
from courier_adapters.metrics import (
    DatabaseCollector,
    PoolMetrics,
    PoolWatcher,
    PrometheusMetrics,
    TimedPort,
    TimedUnitOfWorkFactory,
    scrape_registry,
)
from courier_adapters.postgres.database import PostgresDatabase
from courier_adapters.postgres.errors import redact_url
from courier_adapters.postgres.idempotency import PostgresIdempotencyStore
from courier_adapters.postgres.stamper import PositionStamper, StamperOptions
from courier_adapters.profiling import serve_profiles
from courier_adapters.redis import RedisTokenBucket
from courier_adapters.settings import Settings, load_settings
from courier_core.usecases import CourierService, DeliveryService
from courier_http import accesslog, api, apidocs, console, openapi, ops, stream
from courier_http.auth import TokenAuthMiddleware, parse_tokens
from courier_http.errors import ApiError, render
from courier_http.exchange import Deadlines
from courier_http.idempotency import IdempotencyMiddleware, KeyStore
from courier_http.middleware import (
    AccessLogMiddleware,
    MetricsMiddleware,
    RecoveryMiddleware,
    RequestIdMiddleware,
    quiet_dropped_answers,
)
from courier_http.ratelimit import ClientKey, RateLimitMiddleware, TokenBucketLimiter, global_key
from courier_http.routing import Operation, routes
from courier_http.telemetry import HttpMetrics
from courier_http.worker import ExpiryWorker

log = logging.getLogger("courier.http")
PREFIXES = (api.API_PREFIX, "")


class Runtime:
    """What the handlers use, filled in by the lifespan (the app has no services before it starts)."""

    couriers: CourierService
    deliveries: DeliveryService
    database: PostgresDatabase | None = None
    collector: DatabaseCollector | None = None
    worker: ExpiryWorker | None = None
    live: stream.LiveStream
    keys: PostgresIdempotencyStore
    shared_limiter: RedisTokenBucket | None = None

    def key_store(self) -> KeyStore:
        return self.keys


@dataclass(frozen=True)
class Telemetry:
    """The app's Prometheus registry, its series, and the registry a scrape reads."""

    registry: CollectorRegistry
    http: HttpMetrics
    core: PrometheusMetrics
    pool: PoolMetrics
    scrape: CollectorRegistry

    @classmethod
    def create(cls, registry: CollectorRegistry | None, *, legacy_names: bool = True) -> Telemetry:
        registry = registry if registry is not None else CollectorRegistry()
        return cls(
            registry,
            HttpMetrics(registry),
            PrometheusMetrics(registry),
            PoolMetrics(registry),
            scrape_registry(registry, legacy_names=legacy_names),
        )


def create_app(
    settings: Settings,
    *,
    registry: CollectorRegistry | None = None,
    adapters: Adapters | None = None,
    limiter: TokenBucketLimiter | None = None,
) -> Starlette:
    """The API for ``settings``; ``registry``, ``adapters`` and ``limiter`` may be injected by tests."""
    telemetry = Telemetry.create(registry, legacy_names=settings.metrics_legacy_names)
    quiet_dropped_answers()
    runtime = Runtime()
    runtime.live = stream.LiveStream.create(settings, telemetry.registry)
    deadlines = Deadlines(settings.request_timeout)
    app = Starlette(
        routes=_route_table(settings, runtime, telemetry, deadlines, limiter),
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(AccessLogMiddleware, fmt=settings.log_format),
            Middleware(MetricsMiddleware, metrics=telemetry.http),
            Middleware(RecoveryMiddleware),
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=_lifespan(settings, runtime, telemetry, adapters, deadlines),
    )
    app.state.runtime = runtime
    app.state.registry = telemetry.registry
    return app


def _route_table(
    settings: Settings,
    runtime: Runtime,
    telemetry: Telemetry,
    deadlines: Deadlines,
    limiter: TokenBucketLimiter | None,
) -> list[BaseRoute]:
    business_api = api.BusinessApi(runtime)
    business, versioned = api.operations(business_api), api.v1_operations(business_api)
    seed = api.operations(api.BusinessApi(runtime, seed=True))  # the root's: the seed's clients
    versioned = [*versioned, *runtime.live.operations()]  # GET /api/v1/stream
    operational = _operational(settings, runtime, telemetry, business, versioned)
    chain = [
        *_authentication(settings),
        *_rate_limit(settings, limiter, telemetry.http, runtime),
        Middleware(IdempotencyMiddleware, store=runtime.key_store),  # innermost: knows the token's name
    ]
    business_routes = routes(business, deadlines=deadlines, middleware=chain)
    seed_routes = routes(seed, deadlines=deadlines, middleware=chain, trailing_slash=True)
    versioned_routes = routes(versioned, deadlines=deadlines, middleware=chain)
    return [
        # First: most traffic, one match to reach it. Paths beyond the seed live under /api/v1 only.
        Mount(api.API_PREFIX, routes=[*business_routes, *versioned_routes]),
        *routes(operational, deadlines=Deadlines(None)),
        *console.routes(),  # static page: not an operation, so not in OpenAPI nor rate limited
        *apidocs.routes(),  # /docs: the same, a page drawn from /openapi.json
        # The same operations again at the root (the seed's paths), decoding as the seed did (api.md,
        # "Seed clients"); not a Mount(""), which would match every path and turn a wrong method on an
        # operational route into a 404.
        *seed_routes,
    ]


def _operational(
    settings: Settings,
    runtime: Runtime,
    telemetry: Telemetry,
    business: Sequence[Operation],
    versioned: Sequence[Operation],
) -> list[Operation]:
    operational: list[Operation] = []
    ops_api = ops.OperationalApi(
        runtime,
        scrape=telemetry.scrape,
        metrics_token=settings.metrics_token,
        document=lambda: openapi.document(
            business, operational, prefixes=PREFIXES, version=_version(), versioned=versioned
        ),
    )
    operational.extend(ops.operations(ops_api))
    return operational


def _authentication(settings: Settings) -> list[Middleware]:
    tokens = parse_tokens(settings.api_tokens)  # main() has checked them already (exit 2 when wrong)
    return [Middleware(TokenAuthMiddleware, tokens=tokens)] if tokens else []


def _rate_limit(
    settings: Settings, limiter: TokenBucketLimiter | None, metrics: HttpMetrics, runtime: Runtime
) -> list[Middleware]:
    if settings.rate_limit_scope == "off":
        return []
    chosen: TokenBucketLimiter | RedisTokenBucket
    if limiter is not None:
        chosen = limiter
    elif settings.rate_limit_redis_url:
        metrics.rate_limit_redis(True)
        chosen = runtime.shared_limiter = RedisTokenBucket(
            settings.rate_limit_redis_url,
            capacity=settings.rate_limit_capacity,
            refill_per_second=settings.rate_limit_refill_per_second,
            failure=settings.rate_limit_redis_failure,
            observer=metrics.rate_limit_redis,
        )
    else:
        chosen = TokenBucketLimiter(
            capacity=settings.rate_limit_capacity, refill_per_second=settings.rate_limit_refill_per_second
        )
    key = global_key if settings.rate_limit_scope == "global" else ClientKey(settings.trusted_proxies)
    return [Middleware(RateLimitMiddleware, limiter=chosen, key=key, on_limited=metrics.rate_limited)]


def _lifespan(
    settings: Settings,
    runtime: Runtime,
    telemetry: Telemetry,
    injected: Adapters | None,
    deadlines: Deadlines,
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            stack.callback(accesslog.flush_all)  # last: the lines of the final moments are written too
            stack.push_async_callback(deadlines.stop)
            adapters = injected or await _adapters(settings, stack)
            await _start(settings, runtime, telemetry, adapters, stack)
            yield
        log.info("courier-api stopped")

    return lifespan


async def _start(
    settings: Settings, runtime: Runtime, telemetry: Telemetry, adapters: Adapters, stack: AsyncExitStack
) -> None:
    """Open the pool, build the use cases, register the database gauges, start the expiry worker."""
    _measure_ports(adapters, telemetry.core)
    use_cases = UseCases(adapters=adapters)
    database: PostgresDatabase = adapters.database()
    # wait=False: the API starts (and answers 503) while the database is down.
    await database.open(wait=False)
    stack.push_async_callback(database.close)
    runtime.database = database
    pool_watcher = PoolWatcher(database, telemetry.pool)
    pool_watcher.start()
    stack.push_async_callback(pool_watcher.stop)
    runtime.couriers = use_cases.couriers()
    runtime.deliveries = use_cases.deliveries()
    runtime.keys = PostgresIdempotencyStore(
        adapters.read_session(), ttl=settings.idempotency_ttl, lease=idempotency_lease(settings)
    )
    runtime.collector = DatabaseCollector(database)
    telemetry.scrape.register(runtime.collector)
    stack.callback(telemetry.scrape.unregister, runtime.collector)
    runtime.worker = ExpiryWorker(
        runtime.deliveries.release_expired, interval=settings.release_interval, prune=runtime.keys.prune
    )
    runtime.worker.start()
    stack.push_async_callback(runtime.worker.stop)
    if runtime.shared_limiter is not None:
        stack.push_async_callback(runtime.shared_limiter.aclose)
    stamper = PositionStamper(adapters.database_url(), options=StamperOptions.from_settings(settings))
    stamper.start()  # the live stream reads what it stamps, broker or not
    stack.push_async_callback(stamper.stop)
    runtime.live.open(adapters.outbox_reader())
    stack.push_async_callback(runtime.live.close)
    profiles = await serve_profiles(settings.admin_addr)  # COURIER_ADMIN_ADDR: CPU profiles on demand
    if profiles is not None:
        stack.push_async_callback(profiles.stop)
    log.info("courier-api ready", extra={"database": database_safe_url(database)})


def idempotency_lease(settings: Settings) -> float:
    """How long a key may stay in progress before it counts as abandoned (its process died): longer
    than any request can run (its deadline, then statement timeouts), with room to spare."""
    return max(60.0, 3 * settings.request_timeout)


def _measure_ports(adapters: Adapters, metrics: PrometheusMetrics) -> None:
    """Core's metrics go to Prometheus; every repository call is timed (``courier_port_call_duration_*``)."""
    adapters.metrics.override(providers.Object(metrics))
    for name, port in (("courier_reader", "couriers"), ("delivery_reader", "deliveries")):
        provider = getattr(adapters, name)
        provider.override(providers.Object(TimedPort(provider(), port=port, metrics=metrics)))
    adapters.uow.override(providers.Object(TimedUnitOfWorkFactory(adapters.uow(), metrics=metrics)))


async def _adapters(settings: Settings, stack: AsyncExitStack) -> Adapters:
    url = settings.database_url
    if not url:
        target = await asyncio.to_thread(resolve_database, settings)
        stack.callback(target.stop)
        url = target.url
    return Adapters(settings=settings, database_url=url)


def database_safe_url(database: PostgresDatabase) -> str:
    return redact_url(database.url)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error = ApiError.of("not_found", 404)
    elif exc.status_code == 405:
        error = ApiError.of("method_not_allowed", 405)
    else:
        error = ApiError.of("invalid_request", exc.status_code, message=str(exc.detail))
    return Response(render(error), exc.status_code, headers=exc.headers, media_type="application/json")


def _version() -> str:
    try:
        return version("courier-http")
    except Exception:
        return "0"


def app_from_environment() -> Starlette:
    """uvicorn's factory (``courier_http.app:app_from_environment``): settings from the environment."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series double the exposition for nothing
    return create_app(settings)
