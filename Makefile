# mlservice: `make run` serves the API with a worker; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test worker lint format bench migrate seed check-deploy clean-venv

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(STAMP)

# A local .env with a fresh SECRET_KEY and JWT key, made once, never committed.
.env:
	@sed -e "s|^SECRET_KEY=.*|SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')|" \
	     -e "s|^JWT_SIGNING_KEY=.*|JWT_SIGNING_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')|" \
	     .env.example > .env
	@echo "Wrote .env with fresh secrets (edit it to change settings)."

migrate: $(STAMP) .env
	@$(PY) manage.py preflight
	@$(PY) manage.py migrate --no-input -v 0
	@$(PY) manage.py collectstatic --no-input -v 0

seed: migrate
	@$(PY) manage.py seed_demo_models

run: seed
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

bench: $(STAMP)
	@$(PY) bench/run.py

check-deploy: $(STAMP)
	@DEBUG=false SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	 JWT_SIGNING_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	 SECURE_SSL_REDIRECT=true SECURE_HSTS_SECONDS=31536000 SECURE_HSTS_INCLUDE_SUBDOMAINS=true \
	 SECURE_HSTS_PRELOAD=true ALLOWED_HOSTS=ml.example.com \
	 $(PY) manage.py check --deploy --fail-level WARNING

clean-venv:
	rm -rf $(VENV)
