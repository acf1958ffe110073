"""Requests and tasks borrow PostgreSQL connections from a pool instead of opening one each.

Under ASGI every request runs on a thread of its own, so without the pool Django opened
a connection per request and closed it at the end (and Celery's fixup did the same per
task): a PostgreSQL backend started for each, several milliseconds of both sides' CPU.
PostgreSQL counts the sessions it starts per database (pg_stat_database.sessions).
"""

import time

import httpx
import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.factories import ClientFactory
from tests.integration.conftest import REDIS_URL, start_server, start_worker
from tests.reliability.harness import send_tasks

pytestmark = pytest.mark.integration

REQUESTS = 30
TASKS = 20


def sessions_started() -> int:
    """Sessions PostgreSQL started on this database so far (its statistics lag by up to a second)."""
    time.sleep(1.5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_api_requests_one_after_another_reuse_pooled_connections(transactional_db, clean_redis, tmp_path):
    server, base = start_server(tmp_path)
    try:
        headers = {"Authorization": f"Token {Token.objects.create(user=ClientFactory()).key}"}
        httpx.get(f"{base}/api/jobs/", headers=headers, timeout=30).raise_for_status()  # the pool's first connection
        before = sessions_started()

        for _ in range(REQUESTS):
            httpx.get(f"{base}/api/jobs/", headers=headers, timeout=30).raise_for_status()

        opened = sessions_started() - before
        # Ours (1, for the count) and at most a couple for the server; one per request without the pool.
        assert opened <= 3, f"{opened} sessions started for {REQUESTS} requests"
    finally:
        server.stop()


def test_worker_tasks_reuse_pooled_connections(transactional_db, clean_redis, tmp_path):
    worker = start_worker(tmp_path, concurrency=1)
    try:
        send_tasks(REDIS_URL, [("notifications.outbox_event_dispatch", 0)])  # no such event: one lookup
        _wait_for_tasks(worker, 1)
        before = sessions_started()

        send_tasks(REDIS_URL, [("notifications.outbox_event_dispatch", 0)] * TASKS)
        _wait_for_tasks(worker, 1 + TASKS)

        opened = sessions_started() - before
        assert opened <= 3, f"{opened} sessions started for {TASKS} tasks"
    finally:
        worker.stop()


def _wait_for_tasks(worker, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while worker.output().count("succeeded in") < count:
        assert time.monotonic() < deadline, worker.output()[-3000:]
        time.sleep(0.1)


def test_a_task_after_its_pooled_connection_was_killed_gets_a_live_one(transactional_db, clean_redis, tmp_path):
    worker = start_worker(tmp_path, concurrency=1)
    try:
        send_tasks(REDIS_URL, [("notifications.outbox_event_dispatch", 0)])
        _wait_for_tasks(worker, 1)
        with connection.cursor() as cursor:  # the worker's kept connection dies (as in a database restart)
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            assert cursor.fetchone()[0] >= 1

        send_tasks(REDIS_URL, [("notifications.outbox_event_dispatch", 0)] * 3)
        _wait_for_tasks(worker, 4)

        # Not even one retry: the dead connection is dropped before the next task, not found by it.
        assert " retry: " not in worker.output() and "raised unexpected" not in worker.output(), worker.output()[-3000:]
    finally:
        worker.stop()
