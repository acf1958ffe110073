"""Fresh processes warm up before they take work (project/warmup.py), and start even when they cannot.

Each process's PostgreSQL sessions carry an application_name of their own, so that the
test counts the sessions of that process alone.
"""

import sys
import time

import httpx
import pytest
from django.db import connection

from devtools import processes
from devtools.processes import Process
from tests.integration.conftest import database_url, service_env

pytestmark = pytest.mark.integration


def sessions_of(application_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [application_name])
        return cursor.fetchone()[0]


def wait_for_sessions(application_name: str, count: int, timeout: float = 15) -> int:
    deadline = time.monotonic() + timeout
    while (found := sessions_of(application_name)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def test_each_worker_pool_process_connects_before_its_first_task(transactional_db, clean_redis, tmp_path):
    # Celery's Django fixup closes every connection a pool process inherits: the pool
    # processes' own must be opened after it, and kept.
    env = service_env(DATABASE_URL=f"{database_url()}?application_name=warm-worker")
    worker = processes.start_worker(tmp_path, env, name="worker", concurrency=2)
    try:
        assert wait_for_sessions("warm-worker", 2) == 2, worker.output()[-3000:]
        time.sleep(1)  # and they stay open while the worker waits for its first task
        assert sessions_of("warm-worker") == 2
        assert "Warm-up step" not in worker.output(), worker.output()[-3000:]
    finally:
        worker.stop()


def test_a_web_process_opens_its_connections_before_its_first_request(transactional_db, tmp_path):
    env = service_env(DATABASE_URL=f"{database_url()}?application_name=warm-web")
    server, base = processes.start_web(tmp_path, env, name="web")
    try:
        # start_web's /healthz borrowed one of them; the warm-up opened both before it.
        assert sessions_of("warm-web") >= 2, server.output()[-3000:]
        assert "Warm-up step" not in server.output(), server.output()[-3000:]
    finally:
        server.stop()


def test_a_web_process_that_cannot_reach_the_database_still_starts_and_says_so(transactional_db, tmp_path):
    port = processes.free_port()
    unreachable = f"postgres://postgres@127.0.0.1:{processes.free_port()}/nowhere"
    server = Process(
        "web-no-db",
        [sys.executable, "-m", "uvicorn", "project.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        service_env(DATABASE_URL=unreachable), tmp_path,
    )
    try:
        deadline, answer = time.monotonic() + 60, None
        while answer is None and time.monotonic() < deadline:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=15)
            except httpx.HTTPError:
                time.sleep(0.2)
        assert answer is not None, server.output()[-3000:]
        assert answer.status_code == 503 and answer.json()["checks"]["database"] != "ok", answer.text
        assert "Warm-up step 'database connections' failed" in server.output()
    finally:
        server.stop()
