"""``courier-api``: settings, the database (embedded or configured), then uvicorn with N workers.

The parent resolves the database once (it owns the embedded PostgreSQL when ``COURIER_DATABASE_URL`` is
unset) and hands its URL to the workers through the environment. With several workers it also sets up
prometheus-client's multiprocess directory, so ``/metrics`` of any worker counts every worker.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from courier_adapters.bootstrap import resolve_database
from courier_adapters.commandline import parse_command_line
from courier_adapters.logs import configure_logging
from courier_adapters.settings import Settings, SettingsError, load_settings
from courier_core.errors import CourierError
from courier_http.auth import parse_tokens

FACTORY = "courier_http.app:app_from_environment"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def main() -> None:
    """Console entry point; exits 2 on bad configuration, 3 when the database cannot be set up."""
    parse_command_line(
        "courier-api", "courier's HTTP API (uvicorn; SIGTERM or Ctrl-C stops it gracefully).", "courier-http"
    )
    try:
        settings = load_settings()
        parse_tokens(settings.api_tokens)
    except SettingsError as exc:
        print(f"courier-api: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except ValueError as exc:
        print(f"courier-api: COURIER_API_TOKENS: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.log_level, settings.log_format)
    try:
        target = resolve_database(settings)
    except (CourierError, OSError) as exc:
        print(f"courier-api: database unavailable: {exc}", file=sys.stderr)
        raise SystemExit(3) from None
    try:
        os.environ["COURIER_DATABASE_URL"] = target.url
        with _multiprocess_metrics(settings.http_workers), _signals_end_serving():
            _serve(settings)
    finally:
        target.stop()
    print("courier-api: stopped", file=sys.stderr)


@contextmanager
def _signals_end_serving() -> Iterator[None]:
    """Make SIGTERM/SIGINT plain requests to stop.

    uvicorn shuts down gracefully on them and then re-raises the signal to the handler that was there
    before it; with the default handlers that would kill the process before the embedded database is
    stopped, and exit non-zero. Ours only take note, so ``main`` cleans up and exits 0.
    """
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda s, _f: received.append(s)) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _multiprocess_metrics(workers: int) -> Iterator[None]:
    if workers <= 1:
        os.environ.pop(MULTIPROC_ENV, None)
        yield
        return
    directory = tempfile.mkdtemp(prefix="courier-api-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    try:
        yield
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _serve(settings: Settings) -> None:
    url = f"http://{settings.http_host}:{settings.http_port}"
    print(f"courier-api: serving {url} ({settings.http_workers} worker(s)); Ctrl-C stops it", file=sys.stderr)
    uvicorn.run(
        FACTORY,
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        workers=settings.http_workers if settings.http_workers > 1 else None,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,  # courier's own access log has the request id
        log_config=None,  # keep courier's JSON logging
        timeout_graceful_shutdown=int(settings.shutdown_timeout) or 1,
        server_header=False,
        # X-Forwarded-For is believed only from COURIER_TRUSTED_PROXIES, by courier's ClientKey alone:
        # uvicorn's default would also believe any loopback peer and rewrite the client before us.
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
