# syntax=docker/dockerfile:1.7
# One image for every courier command: `courier-api` (default), `courier-consumer`, `courier`,
# `courier-order-service`. Build: `docker build -t courier .` (or `make up`).
ARG PYTHON_VERSION=3.11

# --- build: resolve the locked dependencies into /opt/courier with uv -------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/courier
WORKDIR /src
# Third-party dependencies first, from the lock alone: this layer is cached until uv.lock changes.
COPY pyproject.toml uv.lock ./
COPY packages/courier-core/pyproject.toml packages/courier-core/
COPY packages/courier-adapters/pyproject.toml packages/courier-adapters/
COPY apps/http/pyproject.toml apps/http/
COPY apps/consumer/pyproject.toml apps/consumer/
COPY apps/cli/pyproject.toml apps/cli/
COPY apps/order-sim/pyproject.toml apps/order-sim/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --all-packages
# Then courier itself, as regular (non-editable) wheels; migrations ship inside courier-adapters.
COPY packages packages
COPY apps apps
COPY migrations migrations
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --all-packages

# --- runtime: the virtual environment and nothing else ----------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="courier" \
      org.opencontainers.image.description="Courier dispatch: HTTP API, Kafka consumer, admin CLI and order-service simulator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 courier \
    && useradd --system --uid 10001 --gid courier --home-dir /nonexistent --shell /usr/sbin/nologin courier
COPY --from=build /opt/courier /opt/courier
ENV PATH=/opt/courier/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    COURIER_HTTP_HOST=0.0.0.0 \
    COURIER_DATA_DIR=/tmp/courier
USER courier
WORKDIR /tmp
EXPOSE 8080 9100
# The API's liveness by default; compose points other commands at their own port.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-m", "courier_adapters.healthcheck"]
STOPSIGNAL SIGTERM
CMD ["courier-api"]
