# Developer tasks. Run `make help`. CI runs `bash .ci/run`.
PYTHON ?= python

.PHONY: help install run test test-pg test-mariadb lint format typecheck check migrate ci console

help: ## List the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

install: ## Install the app with the development tools
	$(PYTHON) -m pip install -e ".[dev]"

run: ## Start the dev server (SQLite + in-process cache, migrates itself)
	$(PYTHON) main.py run --reload

test: ## Run the tests on SQLite + in-process cache
	$(PYTHON) -m pytest

test-pg: ## Run the tests on PostgreSQL + Redis (local servers)
	TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres TEST_REDIS_URL=redis://127.0.0.1:6379/0 $(PYTHON) -m pytest

test-mariadb: ## Run the tests on MariaDB + Redis (local servers)
	TEST_DATABASE_URL=mysql+asyncmy://root@127.0.0.1:3306/mysql TEST_REDIS_URL=redis://127.0.0.1:6379/1 $(PYTHON) -m pytest

lint: ## ruff check and format check
	ruff check . && ruff format --check .

format: ## Apply ruff's fixes and formatting
	ruff check --fix . && ruff format .

typecheck: ## mypy --strict
	mypy

check: lint typecheck ## Lint, types and migration/model agreement
	$(PYTHON) main.py check --env=test

migrate: ## Apply pending migrations to the configured database
	$(PYTHON) main.py upgrade

ci: ## What CI runs
	bash .ci/run

console: ## Regenerate the console's API types and rebuild it (needs Node 20; see console/README.md)
	cd console && npm ci && PYTHON=$(PYTHON) npm run gen && npm run typecheck && npm run lint && npm run build
