"""Real processes for integration tests: a Celery worker and an ASGI server (uvicorn).

Both run against the pytest test database (data must be committed, so these
tests use transactional_db) and the real Redis given by TEST_REDIS_URL.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{s['NAME']}"


def wait_for(predicate, *, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Process:
    """A child process with its output in a log file; always stopped at teardown."""

    def __init__(self, name, args, env, log_dir):
        self.name = name
        self.log_path = Path(log_dir) / f"{name}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, sig=None):
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()


def service_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(DATABASE_URL=database_url(), REDIS_URL=REDIS_URL, DJANGO_SETTINGS_MODULE="project.settings", DEBUG="true")
    env.update(extra)
    return env


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
    worker = Process(
        name,
        [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "-Q", "fanout,default",
         "-c", str(concurrency), "-l", "info", "-n", f"{name}-{os.getpid()}@%h",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        service_env(), tmp_path,
    )
    try:
        wait_for(lambda: " ready." in worker.output() or worker.proc.poll() is not None, timeout=30, what="worker ready")
    except AssertionError:
        worker.stop()
        raise
    assert worker.proc.poll() is None, worker.output()
    return worker


def start_server(tmp_path, name="web", **env) -> tuple[Process, str]:
    port = free_port()
    server = Process(
        name,
        [sys.executable, "-m", "uvicorn", "project.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--timeout-graceful-shutdown", "1", "--log-level", "warning"],
        service_env(**env), tmp_path,
    )
    base = f"http://127.0.0.1:{port}"

    def healthy():
        if server.proc.poll() is not None:
            raise AssertionError(server.output())
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, timeout=30, what="server /healthz")
    except AssertionError:
        server.stop()
        raise
    return server, base


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
