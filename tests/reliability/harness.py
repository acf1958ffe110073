"""Real servers for fault tests: each test owns the servers it stops, kills or restarts.

- RedisServer: a private redis-server on a free port (broker, cache and pub/sub of
  that test only; pub/sub channels ignore database numbers, so a private server
  also keeps other people's test runs off our SSE channels).
- PostgresCluster: a private PostgreSQL cluster (initdb + pg_ctl as the postgres
  user, who owns its temporary directory).
- start_worker, start_web, start_script: devtools/processes.py's processes, each in a
  session of its own so that a SIGKILL takes the whole worker (main process and pool
  children) at once.
- ChannelRecorder: a pattern subscription on sse:user:* that records every frame
  the publisher sent, to prove "every SSE event sent".

Everything started here is registered with a Cleanup and stopped at teardown.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import redis
from celery import Celery

from devtools import processes
from devtools.processes import ROOT, Process, free_port, wait_for
from devtools.sse import parse_frame

# Debian's PostgreSQL binaries (the newest installed major version).
PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), default=Path("/usr/lib/postgresql/15/bin"))


class Cleanup:
    """Stops what a test started, last started first, whatever happened."""

    def __init__(self):
        self._stoppers = []

    def add(self, stopper):
        self._stoppers.append(stopper)
        return stopper

    def run(self):
        errors = []
        for stopper in reversed(self._stoppers):
            try:
                stopper()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                errors.append(exc)
        self._stoppers.clear()
        if errors:
            raise errors[0]


# --- processes -----------------------------------------------------------------
# devtools/processes.py starts them; here each runs in a session of its own (so a
# SIGKILL takes a worker with its pool children) and is registered with a Cleanup.

def start_worker(cleanup: Cleanup, log_dir, env: dict, *, name: str, concurrency: int = 1) -> Process:
    worker = processes.start_worker(log_dir, env, name=name, concurrency=concurrency, new_session=True)
    cleanup.add(worker.stop)
    return worker


def start_web(cleanup: Cleanup, log_dir, env: dict, *, port: int, name: str = "web") -> Process:
    server, _ = processes.start_web(log_dir, env, port=port, name=name, new_session=True)
    cleanup.add(server.stop)
    return server


DJANGO_PRELUDE = "import django, json\ndjango.setup()\n"


def django_script(env: dict, code: str, *, timeout: float = 120) -> object:
    """Run code in a fresh Django process with this env; it may set `result`, returned as JSON."""
    source = DJANGO_PRELUDE + code + "\nprint('RESULT=' + json.dumps(globals().get('result')))\n"
    done = subprocess.run(
        [sys.executable, "-c", source], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"script failed:\n{done.stdout}\n{done.stderr}"
    line = [line for line in done.stdout.splitlines() if line.startswith("RESULT=")][-1]
    return json.loads(line[len("RESULT="):])


def start_script(cleanup: Cleanup, log_dir, env: dict, code: str, *, name: str) -> Process:
    """Like django_script, in the background."""
    script = Process(name, [sys.executable, "-c", DJANGO_PRELUDE + code], env, log_dir, new_session=True)
    cleanup.add(script.stop)
    return script


def run_sweeper(env: dict) -> dict:
    """The beat sweeper, run now with no grace period, in its own process against the real broker."""
    return django_script(
        env,
        "from datetime import timedelta\n"
        "from notifications.outbox.sweeping import outbox_requeue_stale\n"
        "result = outbox_requeue_stale(grace=timedelta(0))\n",
    )


def send_tasks(broker_url: str, messages: list[tuple[str, int | None]]) -> None:
    """Put task messages on the broker as the product does (JSON, the fanout queue), all in one go.
    An object id of None sends a task that takes no argument (the beat tasks)."""
    app = Celery("reliability-sender", broker=broker_url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], broker_connection_retry_on_startup=False)
    try:
        with app.producer_or_acquire() as producer:
            for name, object_id in messages:
                args = [] if object_id is None else [object_id]
                app.send_task(name, args=args, queue="fanout", producer=producer)
    finally:
        app.close()


# --- Redis -----------------------------------------------------------------------


class RedisServer:
    def __init__(self, cleanup: Cleanup, log_dir):
        self.port = free_port()
        self.log_dir = Path(log_dir)
        self.dir = tempfile.mkdtemp(prefix="rel-redis-")
        self.proc: subprocess.Popen | None = None
        cleanup.add(self.destroy)
        self.start()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        log = open(self.log_dir / f"redis-{self.port}.log", "a")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", self.dir],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

        def up():
            assert self.proc.poll() is None, f"redis-server exited with {self.proc.returncode}"
            try:
                return redis.Redis(port=self.port, socket_connect_timeout=1).ping()
            except redis.RedisError:
                return False

        wait_for(up, timeout=20, interval=0.05, what=f"redis-server on {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def is_down(self) -> bool:
        try:
            redis.Redis(port=self.port, socket_connect_timeout=1).ping()
            return False
        except redis.ConnectionError:
            return True

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- PostgreSQL --------------------------------------------------------------------


class PostgresCluster:
    """A throwaway cluster; initdb and pg_ctl refuse root, so they run as postgres."""

    def __init__(self, cleanup: Cleanup):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="rel-pg-"))
        if os.geteuid() == 0:
            postgres = pwd.getpwnam("postgres")
            os.chown(self.dir, postgres.pw_uid, postgres.pw_gid)
        self.data = self.dir / "data"
        self.started = False
        cleanup.add(self.destroy)
        self._as_postgres("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    @staticmethod
    def _as_postgres_user(command: list[str]) -> list[str]:
        """initdb and pg_ctl refuse to run as root: as root, run them as postgres."""
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def _as_postgres(self, tool: str, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            self._as_postgres_user([str(PG_BIN / tool), *args]),
            capture_output=True, text=True, timeout=timeout, cwd=self.dir,
        )
        assert done.returncode == 0, f"{tool} {args} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def _options(self) -> str:
        return f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"

    def start(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-o", self._options(),
                          "-w", "-t", "60", "start")
        self.started = True

    def armed_restart(self) -> "ArmedRestart":
        """`pg_ctl restart -m fast` (every session terminated, open transactions rolled back),
        loaded and waiting: fire() runs it at once, without runuser's start-up delay."""
        return ArmedRestart(self)

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres"):
        conn = psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, connect_timeout=3)
        conn.autocommit = True
        return conn

    def log(self) -> str:
        path = self.dir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def destroy(self) -> None:
        if self.started:
            try:
                self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop")
            except AssertionError:
                pass  # already stopped
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


class ArmedRestart:
    def __init__(self, cluster: PostgresCluster):
        command = " ".join(
            [str(PG_BIN / "pg_ctl"), "-D", str(cluster.data), "-l", str(cluster.dir / "server.log"),
             "-o", f"'{cluster._options()}'", "-m", "fast", "-w", "-t", "60", "restart"]
        )
        self.proc = subprocess.Popen(
            PostgresCluster._as_postgres_user(["sh", "-c", f"read go && exec {command}"]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cluster.dir,
        )

    def fire(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.close()
        output = self.proc.stdout.read()
        assert self.proc.wait(timeout=90) == 0, output

    def disarm(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


# --- what the publisher sent ---------------------------------------------------------

class ChannelRecorder:
    """Records every frame published on sse:user:* as (user id, event, notification id or None)."""

    def __init__(self, cleanup: Cleanup, url: str):
        self.frames: list[tuple[int, str, int | None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._client = redis.Redis.from_url(url)
        self._pubsub = self._client.pubsub()
        self._pubsub.psubscribe("sse:user:*")
        wait_for(lambda: (self._pubsub.get_message(timeout=0.5) or {}).get("type") == "psubscribe",
                 timeout=10, what="psubscribe confirmed")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        cleanup.add(self.close)

    def _run(self):
        while not self._stop.is_set():
            try:
                message = self._pubsub.get_message(timeout=0.2)
            except (redis.RedisError, OSError, ValueError):
                if self._stop.is_set():
                    return
                time.sleep(0.2)  # our Redis is restarting: nothing can be published meanwhile
                continue
            if not message or message["type"] != "pmessage":
                continue
            user_id = int(message["channel"].decode().rsplit(":", 1)[1])
            frame = parse_frame(message["data"].decode())
            if frame is not None:
                # The id line is the user's delivery sequence; the notification's id is in the data.
                notification_id = frame.json()["id"] if frame.event == "notification" else None
                with self._lock:
                    self.frames.append((user_id, frame.event, notification_id))

    def notifications(self) -> list[tuple[int, int]]:
        """(recipient id, notification id) of every notification frame, repeats included."""
        with self._lock:
            return [(user, nid) for user, event, nid in self.frames if event == "notification"]

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self._pubsub.close()
            self._client.close()
        except (redis.RedisError, OSError):
            pass
