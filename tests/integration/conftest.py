"""Real processes for integration tests: a Celery worker and an ASGI server (uvicorn).

Both run against the pytest test database (data must be committed, so these
tests use transactional_db) and the real Redis given by TEST_REDIS_URL. The
starting and stopping is devtools/processes.py's, shared with the reliability
tests and the benchmarks; this file binds it to the test database.
"""

import os

import pytest
import redis
from django.db import connection

from devtools import processes
from devtools.processes import Process

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def database_url() -> str:
    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{s['NAME']}"


def service_env(**extra) -> dict:
    """The environment of a worker or server on the pytest database and TEST_REDIS_URL."""
    return processes.service_env(database_url=database_url(), redis_url=REDIS_URL, **extra)


@pytest.fixture(scope="session")
def redis_client():
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    return client


@pytest.fixture
def clean_redis(redis_client):
    # Only the outbox queues: Kombu's exchange bindings must survive for a running server.
    redis_client.delete("fanout", "default")
    yield redis_client


def start_worker(tmp_path, name="worker", concurrency=2) -> Process:
    return processes.start_worker(tmp_path, service_env(), name=name, concurrency=concurrency)


def start_server(tmp_path, name="web", *, port: int | None = None, **env) -> tuple[Process, str]:
    return processes.start_web(tmp_path, service_env(**env), port=port, name=name)


@pytest.fixture
def worker(transactional_db, clean_redis, tmp_path):
    process = start_worker(tmp_path)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def shared_server(django_db_setup, redis_client, tmp_path_factory):
    """One ASGI server for the session: it holds no state between tests but its open streams."""
    process, base = start_server(tmp_path_factory.mktemp("web"))
    yield base
    process.stop()


@pytest.fixture
def live_server_url(transactional_db, shared_server):
    return shared_server
