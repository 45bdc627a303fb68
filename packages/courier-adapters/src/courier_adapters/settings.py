"""courier's configuration: ``COURIER_*`` environment variables (or a ``.env`` file), read once.

Every app builds one :class:`Settings` at start with :func:`load_settings`; a wrong value fails fast
with an error that names the variable. Secrets (a password in a URL, tokens) never appear in ``repr``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from courier_adapters.postgres.errors import redact_url
from courier_core.model import DeadlinePolicy

PREFIX = "COURIER_"
DEFAULT_DATA_DIR = Path(".courier")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class SettingsError(ValueError):
    """A configuration variable is missing or malformed; the message names it."""


def parse_duration(text: str) -> float:
    """Seconds in ``500ms``, ``10s``, ``5m``, ``1h``, ``7d``; ``0`` alone means zero (off)."""
    if text.strip() == "0":
        return 0.0
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration (use ms, s, m, h or d, e.g. 30s)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean (true or false)")


def _networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in text.split(",") if p.strip())


def _choice(*options: str) -> Any:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in options:
            raise ValueError(f"{text!r} is not one of {', '.join(options)}")
        return value

    return parse


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{text!r} must be a positive integer")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"{text!r} must be zero or a positive integer")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError(f"{text!r} must be positive")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"{text!r} is not a TCP port")
    return value


def _loopback_addr(text: str) -> str:
    from courier_adapters.profiling import parse_admin_addr  # imports pyinstrument: only when set

    parse_admin_addr(text)
    return text.strip()


def _positive_duration(text: str) -> float:
    value = parse_duration(text)
    if value <= 0:
        raise ValueError(f"{text!r} must be a positive duration")
    return value


def _redis_url(text: str) -> str:
    text = text.strip()
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"{text.split('@')[-1]!r} is not a Redis URL (redis://, rediss:// or unix://)")
    return text


def setting(default: Any, env: str, parse: Any, *, secret: bool = False) -> Any:
    """A setting read from ``COURIER_<env>`` with ``parse``; ``secret`` ones are masked in ``repr``."""
    return field(default=default, metadata={"env": env, "parse": parse, "secret": secret})


@dataclass(frozen=True)
class Settings:
    """Typed configuration. Durations are seconds (``float``); ``None`` means "not set"."""

    database_url: str | None = setting(None, "DATABASE_URL", str, secret=True)
    db_pool_min: int = setting(1, "DB_POOL_MIN", _non_negative_int)
    db_pool_max: int = setting(10, "DB_POOL_MAX", _positive_int)
    http_host: str = setting("127.0.0.1", "HTTP_HOST", str)
    http_port: int = setting(8080, "HTTP_PORT", _port)
    http_workers: int = setting(1, "HTTP_WORKERS", _positive_int)
    shutdown_timeout: float = setting(30.0, "SHUTDOWN_TIMEOUT", _positive_duration)
    request_timeout: float = setting(10.0, "REQUEST_TIMEOUT", _positive_duration)
    stream_max_clients: int = setting(100, "STREAM_MAX_CLIENTS", _positive_int)
    stream_poll_interval: float = setting(0.25, "STREAM_POLL_INTERVAL", _positive_duration)
    db_statement_timeout: float = setting(5.0, "DB_STATEMENT_TIMEOUT", _positive_duration)
    trusted_proxies: tuple[Any, ...] = setting((), "TRUSTED_PROXIES", _networks)
    retention_processed_events: float = setting(7 * 86400.0, "RETENTION_PROCESSED_EVENTS", parse_duration)
    retention_order_status: float = setting(30 * 86400.0, "RETENTION_ORDER_STATUS", parse_duration)
    retention_outbox_sent: float = setting(86400.0, "RETENTION_OUTBOX_SENT", parse_duration)
    retention_history: float = setting(0.0, "RETENTION_HISTORY", parse_duration)
    rate_limit_capacity: int = setting(10, "RATE_LIMIT_CAPACITY", _positive_int)
    rate_limit_refill_per_second: float = setting(5.0, "RATE_LIMIT_REFILL_PER_SECOND", _positive_float)
    rate_limit_scope: str = setting("ip", "RATE_LIMIT_SCOPE", _choice("ip", "global", "off"))
    rate_limit_redis_url: str | None = setting(None, "RATE_LIMIT_REDIS_URL", _redis_url, secret=True)
    rate_limit_redis_failure: str = setting("open", "RATE_LIMIT_REDIS_FAILURE", _choice("open", "closed"))
    deadline_on_foot: float = setting(1800.0, "DEADLINE_ON_FOOT", _positive_duration)
    deadline_scooter: float = setting(900.0, "DEADLINE_SCOOTER", _positive_duration)
    deadline_car: float = setting(300.0, "DEADLINE_CAR", _positive_duration)
    release_interval: float = setting(10.0, "RELEASE_INTERVAL", parse_duration)
    kafka_bootstrap_servers: str | None = setting(None, "KAFKA_BOOTSTRAP_SERVERS", str)
    kafka_topic: str = setting("order.status.changed", "KAFKA_TOPIC", str)
    kafka_dlq_topic: str = setting("order.status.changed.dlq", "KAFKA_DLQ_TOPIC", str)
    kafka_group_id: str = setting("service-courier", "KAFKA_GROUP_ID", str)
    kafka_auto_offset_reset: str = setting(
        "earliest", "KAFKA_AUTO_OFFSET_RESET", _choice("earliest", "latest")
    )
    kafka_consumers: int = setting(1, "KAFKA_CONSUMERS", _positive_int)
    kafka_max_attempts: int = setting(5, "KAFKA_MAX_ATTEMPTS", _positive_int)
    kafka_max_poll_records: int = setting(200, "KAFKA_MAX_POLL_RECORDS", _positive_int)
    order_service_addr: str | None = setting(None, "ORDER_SERVICE_ADDR", str)
    order_service_budget: float = setting(3.0, "ORDER_SERVICE_BUDGET", _positive_duration)
    order_service_timeout: float = setting(1.0, "ORDER_SERVICE_TIMEOUT", _positive_duration)
    order_service_max_attempts: int = setting(3, "ORDER_SERVICE_MAX_ATTEMPTS", _positive_int)
    order_service_channels: int = setting(1, "ORDER_SERVICE_CHANNELS", _positive_int)
    breaker_failures: int = setting(5, "BREAKER_FAILURES", _positive_int)
    breaker_cooldown: float = setting(10.0, "BREAKER_COOLDOWN", _positive_duration)
    unknown_order_retry: float = setting(30.0, "UNKNOWN_ORDER_RETRY", parse_duration)
    reconcile_interval: float = setting(30.0, "RECONCILE_INTERVAL", parse_duration)
    reconcile_lookback: float = setting(3600.0, "RECONCILE_LOOKBACK", parse_duration)
    reconcile_overlap: float = setting(300.0, "RECONCILE_OVERLAP", parse_duration)
    events_topic: str = setting("courier.events", "EVENTS_TOPIC", str)
    outbox_relay: bool = setting(True, "OUTBOX_RELAY", _bool)
    outbox_batch: int = setting(500, "OUTBOX_BATCH", _positive_int)
    outbox_poll_interval: float = setting(0.2, "OUTBOX_POLL_INTERVAL", _positive_duration)
    outbox_standby_interval: float = setting(1.0, "OUTBOX_STANDBY_INTERVAL", _positive_duration)
    outbox_stamp_interval: float = setting(0.05, "OUTBOX_STAMP_INTERVAL", _positive_duration)
    idempotency_ttl: float = setting(86400.0, "IDEMPOTENCY_TTL", _positive_duration)
    log_level: str = setting(
        "INFO", "LOG_LEVEL", lambda t: _choice("debug", "info", "warning", "error", "critical")(t).upper()
    )
    log_format: str = setting("json", "LOG_FORMAT", _choice("json", "console"))
    metrics_port: int = setting(9100, "METRICS_PORT", _port)
    admin_addr: str | None = setting(None, "ADMIN_ADDR", _loopback_addr)
    api_tokens: str | None = setting(None, "API_TOKENS", str, secret=True)
    metrics_token: str | None = setting(None, "METRICS_TOKEN", str, secret=True)
    # Also export each metric under its name from before the courier_ prefix (one minor release).
    metrics_legacy_names: bool = setting(True, "METRICS_LEGACY_NAMES", _bool)
    data_dir: Path = setting(DEFAULT_DATA_DIR, "DATA_DIR", Path)
    migrate_on_start: bool | None = setting(None, "MIGRATE_ON_START", _bool)

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("secret") and value is not None:
                value = redact_url(value) if f.name == "database_url" else "***"
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__

    @property
    def deadline_policy(self) -> DeadlinePolicy:
        return DeadlinePolicy(
            on_foot=timedelta(seconds=self.deadline_on_foot),
            scooter=timedelta(seconds=self.deadline_scooter),
            car=timedelta(seconds=self.deadline_car),
        )

    @property
    def embedded_database(self) -> bool:
        return not self.database_url

    @property
    def should_migrate_on_start(self) -> bool:
        if self.migrate_on_start is None:
            return self.embedded_database
        return self.migrate_on_start


def variables() -> dict[str, str]:
    """Every variable courier reads, ``COURIER_X`` → field name."""
    return {PREFIX + f.metadata["env"]: f.name for f in dataclasses.fields(Settings)}


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a ``.env`` file (``#`` comments, optional quotes)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def load_settings(
    environ: Mapping[str, str] | None = None, *, dotenv: Path | None = Path(".env"), **overrides: Any
) -> Settings:
    """Read settings from ``environ`` (default: the process environment) over a ``.env`` file.

    Raises :class:`SettingsError` naming the first variable that is malformed or unknown.
    """
    source: dict[str, str] = read_dotenv(dotenv) if dotenv is not None else {}
    source.update(os.environ if environ is None else environ)
    known = variables()
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        name = PREFIX + f.metadata["env"]
        raw = source.get(name)
        if raw is None or raw.strip() == "":
            continue
        try:
            values[f.name] = f.metadata["parse"](raw)
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"{name}: {exc}") from None
    unknown = sorted(k for k in source if k.startswith(PREFIX) and k not in known)
    extra = {k for k in unknown if not k.startswith(("COURIER_TEST_", "COURIER_BENCH_"))}
    if extra:
        raise SettingsError(f"unknown setting {sorted(extra)[0]} (see docs/configuration.md)")
    values.update(overrides)
    settings = Settings(**values)
    if settings.db_pool_min > settings.db_pool_max:
        raise SettingsError("COURIER_DB_POOL_MIN must not exceed COURIER_DB_POOL_MAX")
    return settings
