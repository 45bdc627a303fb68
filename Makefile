# courier: `make help` lists every target. Each target installs what it needs (uv, then `uv sync`).
SHELL := /bin/bash
.DEFAULT_GOAL := help
export PATH := $(HOME)/.local/bin:$(PATH)
export XDG_RUNTIME_DIR ?= /tmp/courier-runtime-$(shell id -u)
UV ?= uv
PYTEST := $(UV) run --frozen pytest
# Time budgets per test tier (seconds): a tier that runs longer fails instead of stalling CI.
UNIT_BUDGET ?= 180
INTEGRATION_BUDGET ?= 900
E2E_BUDGET ?= 1200

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-26s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: uv
uv: ## Install uv (from PyPI) when it is missing
	@command -v $(UV) >/dev/null 2>&1 || python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
	@mkdir -p -m 700 $(XDG_RUNTIME_DIR)

SYNC_INPUTS := uv.lock pyproject.toml packages/*/pyproject.toml apps/*/pyproject.toml

# Two levels of install. .venv/.synced-run: the packages and the embedded servers (group "run"), what
# `make run` needs. .venv/.synced: that and the dev tools (`make test`, `make lint`...). A full sync
# satisfies both; `make run` after it keeps the dev tools (--inexact) rather than removing what the
# next `make test` would reinstall.
.venv/.synced-run: $(SYNC_INPUTS) | uv
	$(UV) sync --frozen --no-dev --group run --inexact
	@touch $@

.venv/.synced: $(SYNC_INPUTS) | uv
	$(UV) sync --frozen
	@touch $@ .venv/.synced-run

.PHONY: sync
sync: .venv/.synced ## Install every package of the workspace and the dev tools (uv sync)

.PHONY: sync-run
sync-run: .venv/.synced-run ## Install only what running needs (uv sync --no-dev --group run)

ORDER_RATE ?= 0.5

.PHONY: run
run: sync-run ## Run the local stack (PostgreSQL, Kafka, order simulator, API, consumer); Ctrl-C stops it
	@echo "the CLI, in another terminal here: source .venv/bin/activate, then courier --help"
	$(UV) run --frozen --no-sync courier dev up --order-rate $(ORDER_RATE)

.PHONY: test
test: sync test-core-alone ## Every test (core alone, unit, contract, integration, e2e, faults) with coverage
	@rm -f .coverage .coverage.*
	timeout $(UNIT_BUDGET) $(PYTEST) packages/courier-core/tests tests/unit --cov --cov-report= -q
	timeout $(INTEGRATION_BUDGET) $(PYTEST) tests/contract tests/integration --cov --cov-append --cov-report= -q
	timeout $(E2E_BUDGET) $(PYTEST) tests/e2e tests/faults --cov --cov-append --cov-report= -q
	$(UV) run --frozen coverage report
	$(UV) run --frozen coverage report --include='*/courier_core/*' --fail-under=95 >/dev/null && echo "courier_core coverage >= 95%"

.PHONY: test-core-alone
test-core-alone: uv ## courier-core's tests with only courier-core installed (no SQLAlchemy, no psycopg)
	timeout $(UNIT_BUDGET) $(UV) run --isolated --no-project --with ./packages/courier-core \
		--with pytest --with pytest-asyncio --with hypothesis \
		pytest -q -p no:cacheprovider --rootdir packages/courier-core packages/courier-core/tests

.PHONY: test-unit
test-unit: sync ## Unit tests only (no sockets)
	$(PYTEST) packages/courier-core/tests tests/unit -q

.PHONY: test-integration
test-integration: sync ## Adapters against real PostgreSQL, broker and gRPC server
	$(PYTEST) tests/contract tests/integration -q

.PHONY: test-e2e
test-e2e: sync ## The apps as real processes, and the fault tests
	$(PYTEST) tests/e2e tests/faults -q

PACKAGES := packages/courier-core packages/courier-adapters apps/http apps/consumer apps/cli apps/order-sim

.PHONY: build
build: uv ## Every package's sdist, then its wheel built from that sdist, into dist/
	rm -rf dist
	@for pkg in $(PACKAGES); do \
		echo "== $$pkg"; \
		tmp=dist/.sdist-$$(basename $$pkg); \
		$(UV) build --sdist --out-dir "$$tmp" "$$pkg" || exit 1; \
		$(UV) build --wheel --out-dir dist "$$tmp"/*.tar.gz || exit 1; \
		mv "$$tmp"/*.tar.gz dist/ && rm -rf "$$tmp"; \
	done
	@ls dist

WRK_MISSING := wrk is missing: apt-get install -y wrk (Debian/Ubuntu) or brew install wrk (macOS)

.PHONY: bench
bench: sync ## The benchmark (~13 min, quiet machine): bench/results/latest.json and docs/benchmarks.md
	@command -v wrk >/dev/null 2>&1 || { echo "$(WRK_MISSING)"; exit 2; }
	$(UV) run --frozen python -m bench run

.PHONY: bench-smoke
bench-smoke: sync ## Every benchmark case for a second or two (CI proves the harness; no figures asserted)
	@command -v wrk >/dev/null 2>&1 || { echo "$(WRK_MISSING)"; exit 2; }
	timeout 300 $(UV) run --frozen python -m bench run --smoke

SOAK_SECONDS ?= 600

.PHONY: soak
soak: sync ## 10 minutes of mixed API and event load; then invariants and memory are checked (not in CI)
	SOAK_SECONDS=$(SOAK_SECONDS) $(PYTEST) tests/soak -q -s

.PHONY: test-console
test-console: sync ## The dispatcher's console in a real browser (Debian's chromium)
	$(PYTEST) tests/e2e/console -q

.PHONY: console-screenshots
console-screenshots: sync ## Renew docs/console/*.png from the browser tests
	COURIER_CONSOLE_SCREENSHOTS=docs/console $(PYTEST) tests/e2e/console/test_screens.py -q

.PHONY: lint
lint: sync ## ruff, ruff format --check, mypy --strict, import boundaries
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy packages apps bench
	$(UV) run --frozen lint-imports

COMPILED_SQL ?= packages/courier-adapters/src/courier_adapters/postgres/compiled.py
.PHONY: sql
sql: sync ## Compile the adapter's SQLAlchemy statements ahead of time (postgres/compiled.py)
	$(UV) run --frozen python -c "from courier_adapters.postgres.statements import write_compiled; write_compiled('$(COMPILED_SQL)')"
	$(UV) run --frozen ruff format --quiet --config "$(CURDIR)/pyproject.toml" "$(COMPILED_SQL)"

.PHONY: format
format: sync ## Format the code and fix what ruff can
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

.PHONY: proto
proto: sync ## Regenerate the gRPC code from proto/ (grpcio-tools + mypy-protobuf)
	$(UV) run --frozen python proto/generate.py

.PHONY: migrate
migrate: sync ## Apply migrations to COURIER_DATABASE_URL (or the embedded database)
	$(UV) run --frozen courier db upgrade

.PHONY: up
up: ## Build the image and start the whole system with Docker Compose (API on :8082)
	@docker info >/dev/null 2>&1 || { echo "no Docker engine here: make up needs one (docker compose)"; exit 1; }
	docker compose up -d --build
	@echo "API http://localhost:8082  Prometheus http://localhost:9090  Grafana http://localhost:3000  Kafka localhost:29092"

.PHONY: down
down: ## Stop the Docker Compose system (data volume kept; `docker compose down -v` drops it)
	docker compose down

.PHONY: test-containers
test-containers: sync ## (needs Docker) integration and e2e tiers on a PostgreSQL container; else says so, exits 0
	@if ! docker info >/dev/null 2>&1; then echo "no Docker engine here: nothing was run"; \
	else COURIER_TEST_CONTAINERS=1 $(PYTEST) tests/contract tests/integration tests/e2e -q; fi

# The seed's names.
.PHONY: run_tests run_tests_with_coverage run_test_integration up_prod down_prod
up_prod: up ## (seed name) make up
down_prod: down ## (seed name) make down
run_tests: test-unit ## (seed name) unit tests
run_tests_with_coverage: test ## (seed name) every test with coverage
run_test_integration: test-integration ## (seed name) integration tests
