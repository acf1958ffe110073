"""Shared pieces of the benchmark commands: child processes, SSE clients, memory, tables.

Benchmarks are run by hand (never as timed tests); they print tables of medians.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from django.conf import settings
from django.core.management.base import CommandError

ROOT = Path(settings.BASE_DIR)


def require_full_stack() -> None:
    if not settings.REDIS_URL or not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        raise CommandError(
            "Benchmarks need the full stack: set DATABASE_URL to PostgreSQL and REDIS_URL to Redis "
            "(e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/12)."
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def median(values) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def percentile(values, q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[index]


def print_table(write, headers: list[str], rows: list[list]) -> None:
    cells = [headers] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(headers))]
    line = "| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths)) + " |"
    write(line)
    write("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        write("| " + " | ".join(str(c).rjust(w) for c, w in zip(row, widths)) + " |")


def _fmt(value) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


class ChildProcess:
    """A helper process (worker, server) whose output goes to a log file."""

    def __init__(self, name: str, args: list[str], env: dict | None = None):
        self.name = name
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{name}-{os.getpid()}.log"
        self.log = open(self.log_path, "w")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(args, cwd=ROOT, env=full_env, stdout=self.log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.proc.poll() is not None:
                raise CommandError(f"{self.name} exited:\n{self.output()[-3000:]}")
            time.sleep(0.1)
        raise CommandError(f"{self.name} did not become ready:\n{self.output()[-3000:]}")

    def children(self) -> list[int]:
        try:
            return [int(pid) for pid in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_worker(concurrency: int = 2, env: dict | None = None) -> ChildProcess:
    worker = ChildProcess(
        "worker",
        [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "-Q", "fanout,default", "-c", str(concurrency),
         "-l", "info", "-n", f"bench-{os.getpid()}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env,
    )
    worker.wait_for_output(" ready.")
    return worker


def start_server(port: int | None = None, env: dict | None = None) -> tuple[ChildProcess, str]:
    port = port or free_port()
    server = ChildProcess(
        "web",
        [sys.executable, "-m", "uvicorn", "project.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--timeout-graceful-shutdown", "2", "--backlog", "16384"],
        env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        if server.proc.poll() is not None:
            break
        time.sleep(0.2)
    server.stop()
    raise CommandError(f"web server did not start:\n{server.output()[-3000:]}")


# --- memory (Linux /proc) ----------------------------------------------------------


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pid: int) -> float:
    return _status_kb(pid, "VmRSS") / 1024


def peak_rss_mb(pid: int) -> float:
    return _status_kb(pid, "VmHWM") / 1024


def reset_peak_rss(pid: int) -> None:
    """Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


def thread_count(pid: int) -> int:
    return _status_kb(pid, "Threads")


# --- SSE clients in a background event loop -------------------------------------------


@dataclass
class StreamStats:
    opened: int = 0
    failed: int = 0
    received: dict = field(default_factory=dict)  # user_id -> list[(event_id, receive_time)]


class SSEFleet:
    """Many SSE connections driven by one asyncio loop in a thread."""

    def __init__(self, base_url: str, tokens: dict[int, str], *, event: str = "notification"):
        self.base_url = base_url
        self.tokens = tokens
        self.event = event
        self.stats = StreamStats()
        self.loop = asyncio.new_event_loop()
        self._opened = threading.Event()
        self._stop = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, timeout: float = 300) -> float:
        started = time.perf_counter()
        self._thread.start()
        if not self._opened.wait(timeout):
            raise CommandError(f"only {self.stats.opened} of {len(self.tokens)} streams opened in {timeout}s")
        return time.perf_counter() - started

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self):
        self._stop = asyncio.Event()
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=httpx.Timeout(60, read=None), limits=limits) as client:
            semaphore = asyncio.Semaphore(200)  # connect in waves; the server accepts them all
            tasks = [asyncio.create_task(self._one(client, user_id, token, semaphore)) for user_id, token in self.tokens.items()]
            await self._stop.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _one(self, client, user_id, token, semaphore):
        received = self.stats.received.setdefault(user_id, [])
        try:
            async with semaphore:
                request = client.build_request("GET", f"{self.base_url}/events/", headers={"Authorization": f"Token {token}"})
                response = await client.send(request, stream=True)
            if response.status_code != 200:
                self.stats.failed += 1
                return
            event_name, event_id = None, None
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event_name = line[7:]
                    if event_name == "stream-open":
                        self.stats.opened += 1
                        if self.stats.opened + self.stats.failed >= len(self.tokens):
                            self._opened.set()
                elif line.startswith("id: "):
                    event_id = int(line[4:])
                elif line == "":
                    if event_name == self.event:
                        received.append((event_id, time.time()))
                    event_name, event_id = None, None
        except (httpx.HTTPError, asyncio.CancelledError):
            pass
        except Exception:  # noqa: BLE001 - count it, keep the others going
            self.stats.failed += 1
        finally:
            if self.stats.opened + self.stats.failed >= len(self.tokens):
                self._opened.set()

    def stop(self):
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
