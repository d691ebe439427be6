# Every target installs what it needs: a fresh clone needs only python3 and make.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
REQ_HASH := $(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(REQ_HASH)
PYTEST_ARGS ?=
# Bytecode (the libraries' and the project's) goes to one folder in the venv, never beside the sources: chalice
# package ships chalicelib/ as it is, and the tree stays clean. Every process reads what the first one compiled
# (with PYTHONDONTWRITEBYTECODE each pytest worker recompiled and re-rewrote every test module: ~4 s CPU each).
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX := $(abspath $(VENV))/pycache

.PHONY: help venv demo test test-unit typecheck chaos lint stop migrate package preflight api
.PHONY: localstack-up localstack-down db-dump db-restore

help:
	@echo "make demo   - set up everything and run the simulated business day"
	@echo "make test   - set up everything and run the whole test suite (ruff, then mypy beside pytest)"
	@echo "make chaos  - the whole chaos suite (faults, crashes, outages); prints scenario/invariant/result"
	@echo "make test-unit - the unit tier only (tests/unit: no server, seconds)"
	@echo "make typecheck - mypy (config in pyproject.toml)"
	@echo "make lint   - ruff"
	@echo "make api    - serve the HTTP API on 127.0.0.1:8000 (chalice local) against the demo database"
	@echo "make package - build dist/template.json + artifacts (offline); cfn-lint + checkov it"
	@echo "make preflight PARAMS=params.json - read the target AWS account: what would fail a deploy (docs/deploy.md)"
	@echo "make stop   - stop the local PostgreSQL and moto servers"
	@echo "make localstack-up / localstack-down - the system on LocalStack + PostgreSQL (needs Docker)"
	@echo "make db-dump - pg_dump -Fc of the database into backups/"
	@echo "make db-restore FILE=backups/julo-....dump - restore in the background (progress log)"

# uv installs the pinned requirements (seconds; pip took 1-2 minutes on a fresh clone, resolving against the index
# package by package). uv itself is pinned in requirements-dev.txt and comes from PyPI through the python3's pip
# (ensurepip's when that python3 has none). pip stays in the venv: chalice package runs it. --compile-bytecode as pip
# does, into PYTHONPYCACHEPREFIX (below): without it the first processes compiled every library from source.
UV_PIN := $(shell grep -E '^uv==' requirements-dev.txt)
$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv --without-pip $(VENV)
	@$(PY) -m uv --version 2>/dev/null | grep -qx "uv $(subst uv==,,$(UV_PIN))" \
		|| $(PYTHON) -m pip --python $(PY) install -q --disable-pip-version-check '$(UV_PIN)' 2>&1 | grep -v '^WARNING: Location' \
		|| true
	@$(PY) -m uv --version >/dev/null 2>&1 \
		|| { $(PY) -m ensurepip -q && $(PY) -m pip install -q --disable-pip-version-check '$(UV_PIN)'; }
	@$(PY) -m uv pip install -q --compile-bytecode --python $(PY) -r requirements-dev.txt
	@$(PY) -c "import chalice, moto, psycopg2, pynamodb, aws_lambda_powertools, pytest, pip" \
		|| { echo "dependency install failed"; exit 1; }
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

demo: venv
	@$(PY) -m localdev.demo.guard  # before anything connects: DATABASE_URL must be the local demo database
	$(PY) -m localdev.services --moto -- $(PY) -m localdev.demo

# ruff; then mypy and the artifact (dist/) in the background while pytest runs (localdev/check.py)
test: venv
	$(PY) -m localdev.check $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest -q -p no:cacheprovider tests/unit $(PYTEST_ARGS)

typecheck: venv
	$(PY) -m mypy

chaos: venv
	$(PY) -m localdev.services -- $(PY) -m pytest -n 2 tests/chaos $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check .

api: venv
	$(PY) -m localdev.services -- $(PY) -m localdev.servers.api

migrate: venv
	$(PY) -m localdev.services -- true

# checkov pins an older boto3 than the project: it gets its own virtualenv
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell cat requirements-checkov.txt | sha1sum | cut -c1-12)

$(CHECKOV_STAMP): requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || python3 -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/pip install -q --disable-pip-version-check -r requirements-checkov.txt 2>&1 | grep -v '^WARNING: Location' || true
	@test -x $(CHECKOV_VENV)/bin/checkov || { echo "checkov install failed"; exit 1; }
	@rm -f $(CHECKOV_VENV)/.installed-*
	@touch $@

package: venv $(CHECKOV_STAMP)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-ap-southeast-3} $(PY) -m infra.package --out dist
	$(PY) -m infra.checks dist/template.json dist/bootstrap.json
	@echo "dist/template.json, dist/bootstrap.json: cfn-lint + checkov clean (skips: infra/checkov_skips.txt); deploy: see docs/deploy.md"

# PARAMS: the stack's parameters file (CloudFormation's JSON format, the one `aws cloudformation
# deploy --parameter-overrides file://…` reads); PREFLIGHT_ARGS: e.g. --stack-name, --s3-bucket
PARAMS ?= params.json
PREFLIGHT_ARGS ?=
preflight: venv
	$(PY) -m infra.preflight --parameters $(PARAMS) $(PREFLIGHT_ARGS)

stop: venv
	-$(PY) -m localdev.servers.moto_server stop
	-$(PY) -m localdev.servers.postgres stop

COMPOSE := docker compose -f localstack/docker-compose.yml
DOCKER_CHECK := docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1 || { \
	echo "this target needs a running Docker engine with the compose plugin (docker compose)," \
	     "which is not usable here; without Docker use make demo / make test (moto)."; exit 1; }

localstack-up: venv
	@$(DOCKER_CHECK)
	$(PY) -m localdev.aws.localstack_hooks --check
	$(COMPOSE) up -d --build --wait
	@echo "LocalStack on http://localhost:4566, PostgreSQL on 127.0.0.1:55433, API on http://127.0.0.1:8000"

localstack-down:
	@$(DOCKER_CHECK)
	$(COMPOSE) down -v

db-dump: venv
	$(PY) -m localdev.servers.db_backup dump

db-restore: venv
	$(PY) -m localdev.servers.db_backup restore --file "$(FILE)"
