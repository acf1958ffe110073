# The two commands: `make run` (the app on the embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# `make run` only: the demo keeps moving by itself (demo/activity.py); DEMO_ACTIVITY=0 make run turns it off.
DEMO_ACTIVITY ?= 1
DEMO_ACTIVITY_SECONDS ?= 5

# Tests talk to the real PostgreSQL and Redis on this machine unless told otherwise.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

# The full stack from the venv: PostgreSQL and Redis on this machine.
STACK_DB_HOST ?= 127.0.0.1
STACK_DB_NAME ?= marketplace
STACK_DATABASE_URL ?= postgres://postgres@$(STACK_DB_HOST):5432/$(STACK_DB_NAME)
STACK_REDIS_URL ?= redis://127.0.0.1:6379/0
FLOWER_PORT ?= 5555
FLOWER_BASIC_AUTH ?= admin:change-me
# Development: DEBUG is off unless asked for (project/settings.py), and these serve plain http.
DEV_ENV = DEBUG=1
STACK_ENV = $(DEV_ENV) DATABASE_URL=$(STACK_DATABASE_URL) REDIS_URL=$(STACK_REDIS_URL)
BEAT_SCHEDULE ?= /tmp/marketplace-celerybeat-schedule
# `make stack`: web processes (uvicorn --workers), each with its own streams' hub. SIGHUP to
# uvicorn's parent replaces them one by one, each new one ready before the old one stops.
WEB_CONCURRENCY ?= 2

.PHONY: run test install stack stack-check stack-pushpin worker beat flower clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

run: install
	$(DEV_ENV) $(PY) manage.py migrate --noinput
	$(DEV_ENV) $(PY) manage.py seed_demo --clients 20 --cleaners 500
	$(DEV_ENV) DEMO_ACTIVITY=$(DEMO_ACTIVITY) DEMO_ACTIVITY_SECONDS=$(DEMO_ACTIVITY_SECONDS) \
		$(VENV)/bin/uvicorn project.asgi:application --host $(HOST) --port $(PORT) --timeout-graceful-shutdown 3

test: install
	DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest $(PYTEST_ARGS)

stack-check:
	@pg_isready -h $(STACK_DB_HOST) -p 5432 -q || { echo "PostgreSQL is not answering on $(STACK_DB_HOST):5432 (see .ci/run to start it)"; exit 1; }
	@$(PY) -c "import redis; redis.Redis.from_url('$(STACK_REDIS_URL)', socket_connect_timeout=2).ping()" || { echo "Redis is not answering at $(STACK_REDIS_URL) (see .ci/run to start it)"; exit 1; }
	@psql -h $(STACK_DB_HOST) -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$(STACK_DB_NAME)'" | grep -q 1 \
		|| createdb -h $(STACK_DB_HOST) -U postgres $(STACK_DB_NAME)

stack: install stack-check
	$(STACK_ENV) $(PY) manage.py migrate --noinput
	$(STACK_ENV) $(PY) manage.py seed_demo --clients 20 --cleaners 500
	@echo "web http://$(HOST):$(PORT)  flower http://127.0.0.1:$(FLOWER_PORT) ($(FLOWER_BASIC_AUTH))  Ctrl-C stops all four"
	@pids=""; trap 'kill $$pids 2>/dev/null; wait' INT TERM EXIT; \
	$(STACK_ENV) $(VENV)/bin/celery -A celery_app worker -Q fanout,default --loglevel=INFO & pids="$$pids $$!"; \
	$(STACK_ENV) $(VENV)/bin/celery -A celery_app beat --enable-remote-control --schedule $(BEAT_SCHEDULE) --loglevel=INFO & pids="$$pids $$!"; \
	$(STACK_ENV) $(VENV)/bin/celery -A celery_app flower --address=127.0.0.1 --port=$(FLOWER_PORT) --basic-auth=$(FLOWER_BASIC_AUTH) & pids="$$pids $$!"; \
	metrics_dir=$$(mktemp -d); \
	$(STACK_ENV) WEB_CONCURRENCY=$(WEB_CONCURRENCY) PROMETHEUS_MULTIPROC_DIR=$$metrics_dir $(VENV)/bin/uvicorn project.asgi:application --host $(HOST) --port $(PORT) --workers $(WEB_CONCURRENCY) --timeout-graceful-shutdown 3 --timeout-worker-healthcheck 30 & pids="$$pids $$!"; \
	wait

# `make stack` behind Pushpin (GRIP; the Debian package `pushpin`): browsers use
# http://$(HOST):7999, Pushpin proxies every path to uvicorn and holds the /events/
# streams; web and worker publish to it (GRIP_URL). Config: deploy/pushpin/pushpin.conf
# with a fresh key and run directory; Ctrl-C stops all five.
stack-pushpin: install stack-check
	@command -v pushpin >/dev/null || { echo "pushpin is not installed (Debian: apt-get install -y pushpin)"; exit 1; }
	$(STACK_ENV) $(PY) manage.py migrate --noinput
	$(STACK_ENV) $(PY) manage.py seed_demo --clients 20 --cleaners 500
	@dir=$$(mktemp -d /tmp/pushpin-stack-XXXXXX); key=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(32))'); \
	mkdir -p $$dir/run $$dir/log; echo "* 127.0.0.1:$(PORT)" > $$dir/routes; \
	sed -e "s|^rundir=.*|rundir=$$dir/run|" -e "s|^logdir=.*|logdir=$$dir/log|" -e "s|^sig_key=.*|sig_key=$$key|" \
		-e "s|^routesfile=.*|routesfile=$$dir/routes|" deploy/pushpin/pushpin.conf > $$dir/pushpin.conf; \
	grip="GRIP_URL=http://127.0.0.1:5561 GRIP_SIG_KEY=$$key"; \
	echo "app (through Pushpin) http://$(HOST):7999  flower http://127.0.0.1:$(FLOWER_PORT) ($(FLOWER_BASIC_AUTH))  Ctrl-C stops all five"; \
	pids=""; trap 'kill $$pids 2>/dev/null; wait; rm -rf $$dir' INT TERM EXIT; \
	pushpin --config $$dir/pushpin.conf --port $(HOST):7999 & pids="$$pids $$!"; \
	env $(STACK_ENV) $$grip $(VENV)/bin/celery -A celery_app worker -Q fanout,default --loglevel=INFO & pids="$$pids $$!"; \
	env $(STACK_ENV) $$grip $(VENV)/bin/celery -A celery_app beat --enable-remote-control --schedule $(BEAT_SCHEDULE) --loglevel=INFO & pids="$$pids $$!"; \
	$(STACK_ENV) $(VENV)/bin/celery -A celery_app flower --address=127.0.0.1 --port=$(FLOWER_PORT) --basic-auth=$(FLOWER_BASIC_AUTH) & pids="$$pids $$!"; \
	env $(STACK_ENV) $$grip $(VENV)/bin/uvicorn project.asgi:application --host 127.0.0.1 --port $(PORT) --timeout-graceful-shutdown 3 & pids="$$pids $$!"; \
	wait

worker: install
	$(STACK_ENV) $(VENV)/bin/celery -A celery_app worker -Q fanout,default --loglevel=INFO

beat: install
	$(STACK_ENV) $(VENV)/bin/celery -A celery_app beat --enable-remote-control --schedule $(BEAT_SCHEDULE) --loglevel=INFO

flower: install
	$(STACK_ENV) $(VENV)/bin/celery -A celery_app flower --address=127.0.0.1 --port=$(FLOWER_PORT) --basic-auth=$(FLOWER_BASIC_AUTH)

clean:
	rm -rf $(VENV) db.sqlite3 static
