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


@dataclass(frozen=True)
class Settings:
    """Typed configuration. Durations are seconds (``float``); ``None`` means "not set"."""

    database_url: str | None = field(
        default=None, metadata={"env": "DATABASE_URL", "parse": str, "secret": True}
    )
    db_pool_min: int = field(default=1, metadata={"env": "DB_POOL_MIN", "parse": _non_negative_int})
    db_pool_max: int = field(default=10, metadata={"env": "DB_POOL_MAX", "parse": _positive_int})
    http_host: str = field(default="127.0.0.1", metadata={"env": "HTTP_HOST", "parse": str})
    http_port: int = field(default=8080, metadata={"env": "HTTP_PORT", "parse": _port})
    http_workers: int = field(default=1, metadata={"env": "HTTP_WORKERS", "parse": _positive_int})
    shutdown_timeout: float = field(
        default=30.0, metadata={"env": "SHUTDOWN_TIMEOUT", "parse": _positive_duration}
    )
    request_timeout: float = field(
        default=10.0, metadata={"env": "REQUEST_TIMEOUT", "parse": _positive_duration}
    )
    db_statement_timeout: float = field(
        default=5.0, metadata={"env": "DB_STATEMENT_TIMEOUT", "parse": _positive_duration}
    )
    trusted_proxies: tuple[Any, ...] = field(
        default=(), metadata={"env": "TRUSTED_PROXIES", "parse": _networks}
    )
    retention_processed_events: float = field(
        default=7 * 86400.0, metadata={"env": "RETENTION_PROCESSED_EVENTS", "parse": parse_duration}
    )
    retention_order_status: float = field(
        default=30 * 86400.0, metadata={"env": "RETENTION_ORDER_STATUS", "parse": parse_duration}
    )
    retention_outbox_sent: float = field(
        default=86400.0, metadata={"env": "RETENTION_OUTBOX_SENT", "parse": parse_duration}
    )
    retention_history: float = field(
        default=0.0, metadata={"env": "RETENTION_HISTORY", "parse": parse_duration}
    )
    rate_limit_capacity: int = field(
        default=10, metadata={"env": "RATE_LIMIT_CAPACITY", "parse": _positive_int}
    )
    rate_limit_refill_per_second: float = field(
        default=5.0, metadata={"env": "RATE_LIMIT_REFILL_PER_SECOND", "parse": _positive_float}
    )
    rate_limit_scope: str = field(
        default="ip", metadata={"env": "RATE_LIMIT_SCOPE", "parse": _choice("ip", "global", "off")}
    )
    deadline_on_foot: float = field(
        default=1800.0, metadata={"env": "DEADLINE_ON_FOOT", "parse": _positive_duration}
    )
    deadline_scooter: float = field(
        default=900.0, metadata={"env": "DEADLINE_SCOOTER", "parse": _positive_duration}
    )
    deadline_car: float = field(default=300.0, metadata={"env": "DEADLINE_CAR", "parse": _positive_duration})
    release_interval: float = field(
        default=10.0, metadata={"env": "RELEASE_INTERVAL", "parse": parse_duration}
    )
    kafka_bootstrap_servers: str | None = field(
        default=None, metadata={"env": "KAFKA_BOOTSTRAP_SERVERS", "parse": str}
    )
    kafka_topic: str = field(default="order.status.changed", metadata={"env": "KAFKA_TOPIC", "parse": str})
    kafka_dlq_topic: str = field(
        default="order.status.changed.dlq", metadata={"env": "KAFKA_DLQ_TOPIC", "parse": str}
    )
    kafka_group_id: str = field(default="service-courier", metadata={"env": "KAFKA_GROUP_ID", "parse": str})
    kafka_auto_offset_reset: str = field(
        default="earliest",
        metadata={"env": "KAFKA_AUTO_OFFSET_RESET", "parse": _choice("earliest", "latest")},
    )
    kafka_consumers: int = field(default=1, metadata={"env": "KAFKA_CONSUMERS", "parse": _positive_int})
    kafka_max_attempts: int = field(default=5, metadata={"env": "KAFKA_MAX_ATTEMPTS", "parse": _positive_int})
    order_service_addr: str | None = field(default=None, metadata={"env": "ORDER_SERVICE_ADDR", "parse": str})
    order_service_budget: float = field(
        default=3.0, metadata={"env": "ORDER_SERVICE_BUDGET", "parse": _positive_duration}
    )
    order_service_timeout: float = field(
        default=1.0, metadata={"env": "ORDER_SERVICE_TIMEOUT", "parse": _positive_duration}
    )
    order_service_max_attempts: int = field(
        default=3, metadata={"env": "ORDER_SERVICE_MAX_ATTEMPTS", "parse": _positive_int}
    )
    order_service_channels: int = field(
        default=1, metadata={"env": "ORDER_SERVICE_CHANNELS", "parse": _positive_int}
    )
    breaker_failures: int = field(default=5, metadata={"env": "BREAKER_FAILURES", "parse": _positive_int})
    breaker_cooldown: float = field(
        default=10.0, metadata={"env": "BREAKER_COOLDOWN", "parse": _positive_duration}
    )
    unknown_order_retry: float = field(
        default=30.0, metadata={"env": "UNKNOWN_ORDER_RETRY", "parse": parse_duration}
    )
    reconcile_interval: float = field(
        default=30.0, metadata={"env": "RECONCILE_INTERVAL", "parse": parse_duration}
    )
    reconcile_lookback: float = field(
        default=3600.0, metadata={"env": "RECONCILE_LOOKBACK", "parse": parse_duration}
    )
    reconcile_overlap: float = field(
        default=300.0, metadata={"env": "RECONCILE_OVERLAP", "parse": parse_duration}
    )
    events_topic: str = field(default="courier.events", metadata={"env": "EVENTS_TOPIC", "parse": str})
    idempotency_ttl: float = field(
        default=86400.0, metadata={"env": "IDEMPOTENCY_TTL", "parse": _positive_duration}
    )
    log_level: str = field(
        default="INFO",
        metadata={
            "env": "LOG_LEVEL",
            "parse": lambda t: _choice("debug", "info", "warning", "error", "critical")(t).upper(),
        },
    )
    log_format: str = field(
        default="json", metadata={"env": "LOG_FORMAT", "parse": _choice("json", "console")}
    )
    metrics_port: int = field(default=9100, metadata={"env": "METRICS_PORT", "parse": _port})
    admin_addr: str | None = field(default=None, metadata={"env": "ADMIN_ADDR", "parse": _loopback_addr})
    api_tokens: str | None = field(default=None, metadata={"env": "API_TOKENS", "parse": str, "secret": True})
    metrics_token: str | None = field(
        default=None, metadata={"env": "METRICS_TOKEN", "parse": str, "secret": True}
    )
    data_dir: Path = field(default=Path(".courier"), metadata={"env": "DATA_DIR", "parse": Path})
    migrate_on_start: bool | None = field(default=None, metadata={"env": "MIGRATE_ON_START", "parse": _bool})

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
