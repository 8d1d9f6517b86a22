# mlservice: `make run` serves the API with a worker; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test worker lint format bench bench-fast migrate seed check-deploy clean-venv

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(STAMP)

# A local .env with fresh secrets and DEBUG=true, made once, never committed (bin/make-env).
.env:
	@bin/make-env .env --dev

# The same for docker compose (production defaults): edit ALLOWED_HOSTS and the HTTPS settings.
docker/.env:
	@bin/make-env docker/.env

# Each step skips itself when it has nothing to do (bin/prepare), so restarts are quick.
migrate: $(STAMP) .env
	@SEED_DEMO_MODELS=false $(PY) bin/prepare --only database

seed: $(STAMP) .env
	@SEED_DEMO_MODELS=true $(PY) bin/prepare --only database

run: $(STAMP) .env
	@bin/serve

worker: $(STAMP) .env
	@$(PY) manage.py rqworker predictions default

test: $(STAMP)
	@$(PY) -m pytest

# ruff, then the import contract of pyproject.toml (each app imports only the layers below it).
lint: $(STAMP)
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/lint-imports --no-cache --no-logo

format: $(STAMP)
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .

# The whole bench with the peers (about 30 min); bench-fast: one short run of each (about 15).
bench: $(STAMP)
	@$(PY) bench/run.py

bench-fast: $(STAMP)
	@BENCH_FAST=1 $(PY) bench/run.py

check-deploy: $(STAMP)
	@DEBUG=false SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	 JWT_SIGNING_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	 SECURE_SSL_REDIRECT=true SECURE_HSTS_SECONDS=31536000 SECURE_HSTS_INCLUDE_SUBDOMAINS=true \
	 SECURE_HSTS_PRELOAD=true ALLOWED_HOSTS=ml.example.com \
	 $(PY) manage.py check --deploy --fail-level WARNING

clean-venv:
	rm -rf $(VENV)
