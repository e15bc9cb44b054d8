# The two commands of the README: `make run` and `make test`. Everything else helps them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed
# Every package at a pinned version with its hashes (`make lock` after editing pyproject.toml).
LOCK := requirements/dev.lock

.PHONY: install lock messages translations run test container-check lint format check pytest pytest-services bench soak soak-ci screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The locks: dev.lock (everything make needs) and prod.lock (the app with the PostgreSQL and
# Redis drivers: the container image). pip-tools is needed only here.
COMPILE = $(BIN)/pip-compile --quiet --strip-extras --allow-unsafe --generate-hashes --upgrade
lock: $(BIN)/python
	$(BIN)/pip install --quiet pip-tools
	$(COMPILE) --extra dev --extra postgres --extra redis --extra s3 -o requirements/dev.lock pyproject.toml
	$(COMPILE) --extra postgres --extra redis --extra s3 -o requirements/prod.lock pyproject.toml

install: $(STAMP)

# The embedded default keeps its secret key in .secret_key (made once); production sets
# SECRET_KEY in its environment instead.
export SECRET_KEY_FILE ?= $(CURDIR)/.secret_key

# The interface's translations (locale/*/LC_MESSAGES/*.po) compiled for Django; GNU gettext's
# msgfmt does it (Debian: apt-get install gettext).
messages: install
	@command -v msgfmt >/dev/null || { echo "make needs msgfmt: apt-get install gettext" >&2; exit 1; }
	$(BIN)/python manage.py compilemessages --ignore=$(VENV) --verbosity 0

# After changing a sentence: the catalogs brought up to date (then translate what is new).
translations: install
	$(BIN)/python manage.py makemessages --all --no-location --no-obsolete \
		--ignore=$(VENV) --ignore=tests --ignore=bench --ignore=staticfiles --ignore=build
	$(BIN)/python manage.py makemessages --all --no-location --no-obsolete -d djangojs \
		--ignore=$(VENV) --ignore=tests --ignore=bench --ignore=staticfiles --ignore=build \
		--ignore=static/vendor

run: install messages
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python -m webchat.serve --bind $(HOST) --port $(PORT) webchat.asgi:application

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: install
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python manage.py check

# The suite runs in two workers (pytest-xdist), each with its own test database, Redis
# database, live server and Chromium; TEST_WORKERS=0 runs it in this process alone.
TEST_WORKERS ?= 2
PYTEST = $(BIN)/pytest -n $(TEST_WORKERS) --dist load

# The whole suite on the embedded defaults: SQLite and the in-memory channel layer.
pytest: install messages
	env -u DATABASE_URL -u REDIS_URL $(PYTEST) $(PYTEST_ARGS)

# The suite again on PostgreSQL + Redis (its own database and Redis db and prefix), with the
# multi-process tests; of the browser tests, those marked `services` (BROWSER_TESTS=all: every
# one). Without the services it is skipped, except in CI.
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/webchat
REDIS_TEST_URL ?= redis://127.0.0.1:6379/1
pytest-services: install messages
	@if reason=$$($(BIN)/python -m tests.services); then \
		echo "== the suite on PostgreSQL + Redis =="; \
		DATABASE_URL=$(PG_TEST_URL) REDIS_URL=$(REDIS_TEST_URL) REDIS_PREFIX=webchat-test \
			$(PYTEST) $(PYTEST_ARGS); \
	elif [ "$$CI" = "true" ]; then \
		echo "FAILED: $$reason (CI needs PostgreSQL and Redis)" >&2; exit 1; \
	else \
		echo "SKIPPED the PostgreSQL + Redis pass: $$reason"; \
	fi

test: lint check pytest pytest-services

bench: install
	$(BIN)/python bench/streams.py
	$(BIN)/python bench/send.py
	$(BIN)/python bench/curve.py --json bench/curve-one.json
	$(BIN)/python bench/api.py
	$(BIN)/python bench/search.py
	@if $(BIN)/python -m tests.services; then \
		$(BIN)/python bench/search.py --postgres && \
		$(BIN)/python bench/streams.py --services && \
		$(BIN)/python bench/curve.py --services --json bench/curve-two.json && \
		$(BIN)/python bench/curve.py --plot bench/curve-one.json bench/curve-two.json \
			--svg docs/curve.svg && \
		$(BIN)/python bench/channel_layers.py && $(BIN)/python bench/cross_process.py; \
	fi

# 100 people chatting at once, every word checked; CI runs the 10-minute soak after `test`.
soak-ci: install
	$(BIN)/python bench/soak.py --users 100 --minutes 10

soak: install
	$(BIN)/python bench/soak.py --users 100 --minutes 30
	@if $(BIN)/python -m tests.services; then \
		$(BIN)/python bench/soak.py --users 100 --minutes 30 --services; \
	fi

# Builds the Dockerfile with podman (a Debian base made locally) and serves the image.
container-check:
	sh deploy/container-check.sh

screenshots: install
	$(BIN)/python docs/screenshots/take.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
