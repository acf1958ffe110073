"""Real child processes for tests and benchmarks: a Celery worker and a uvicorn server on free ports.

Each process writes its output to a log file (read back to wait for readiness and
to explain a failure) and is stopped with stop(); one started in a session of its
own (new_session=True) can be killed with its pool children in one signal.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


class NotReady(AssertionError):
    """A process exited or did not become ready in time (an AssertionError, so a test reads it as a failure)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, *, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Call predicate until it returns something true (returned) or `timeout` seconds pass (NotReady)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise NotReady(f"timed out after {timeout}s waiting for {what}")


def service_env(*, database_url: str, redis_url: str, **extra) -> dict:
    """This process's environment for a child on the given database and Redis (the dev settings unless overridden)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "FANOUT_CHUNK_SIZE"}}
    env.update(
        DATABASE_URL=database_url, REDIS_URL=redis_url, DJANGO_SETTINGS_MODULE="project.settings", DEBUG="true",
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Process:
    """A child process run from the repository root, its output in <log_dir>/<name>.log."""

    def __init__(self, name: str, args: list[str], env: dict, log_dir, *, new_session: bool = False):
        self.name = name
        self.new_session = new_session
        self.log_path = Path(log_dir) / f"{name}.log"
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=new_session
        )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, *, timeout: float = 60) -> None:
        """Until `text` is in the log; NotReady (with the log's tail) if the process exits first or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if not self.alive:
                raise NotReady(f"{self.name} exited:\n{self.output()[-3000:]}")
            time.sleep(0.1)
        raise NotReady(f"{self.name} did not become ready in {timeout}s:\n{self.output()[-3000:]}")

    def children(self) -> list[int]:
        try:
            return [int(pid) for pid in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        except OSError:
            return []

    def kill_group(self, sig=signal.SIGKILL) -> None:
        """Signal every process of the session at once (a worker and its pool children); new_session only."""
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=15)

    def stop(self, sig=None) -> None:
        """SIGTERM (or `sig`), SIGKILL after 15 s; in a session of its own, whatever is left of it goes too."""
        if self.alive:
            self.proc.send_signal(sig or signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                if not self.new_session:
                    self.proc.kill()
        if self.new_session:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # orphaned pool children
            except (ProcessLookupError, PermissionError):
                pass
        if self.alive:
            self.proc.wait(timeout=5)
        if not self.log.closed:
            self.log.close()


def start_worker(log_dir, env: dict, *, name: str = "worker", concurrency: int = 1, timeout: float = 60,
                 new_session: bool = False) -> Process:
    """A Celery worker on the fanout and default queues, once it says it is ready."""
    worker = Process(
        name,
        [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "-Q", "fanout,default",
         "-c", str(concurrency), "-l", "info", "-n", f"{name}-{os.getpid()}@%h",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env, log_dir, new_session=new_session,
    )
    try:
        worker.wait_for_output(" ready.", timeout=timeout)
    except NotReady:
        worker.stop()
        raise
    return worker


def start_beat(log_dir, env: dict, *, name: str = "beat", timeout: float = 60) -> Process:
    """Celery beat on the settings' schedule (its state file in log_dir), once it has started."""
    beat = Process(
        name,
        [sys.executable, "-m", "celery", "-A", "celery_app", "beat", "-l", "info", "-s", str(Path(log_dir) / f"{name}-schedule")],
        env, log_dir,
    )
    try:
        beat.wait_for_output("beat: Starting...", timeout=timeout)
    except NotReady:
        beat.stop()
        raise
    return beat


def start_web(log_dir, env: dict, *, port: int | None = None, name: str = "web", timeout: float = 60,
              graceful_shutdown: int = 1, log_level: str = "warning", extra_args: tuple[str, ...] = (),
              new_session: bool = False) -> tuple[Process, str]:
    """uvicorn serving project.asgi on 127.0.0.1 (a free port unless given), once /healthz answers 200:
    (process, base URL)."""
    port = port or free_port()
    server = Process(
        name,
        [sys.executable, "-m", "uvicorn", "project.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--timeout-graceful-shutdown", str(graceful_shutdown), "--log-level", log_level, *extra_args],
        env, log_dir, new_session=new_session,
    )
    base = f"http://127.0.0.1:{port}"

    def healthy():
        if not server.alive:
            raise NotReady(f"{name} exited:\n{server.output()[-3000:]}")
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, timeout=timeout, interval=0.1, what=f"{name} /healthz")
    except NotReady:
        server.stop()
        raise
    return server, base
