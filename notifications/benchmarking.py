"""Shared pieces of the benchmark commands: child processes, SSE clients, memory, tables.

Benchmarks are run by hand (never as timed tests); they print tables of medians.
"""

from __future__ import annotations

import asyncio
import json
import logging
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

# One INFO line per SSE connect would bury the tables.
logging.getLogger("httpx").setLevel(logging.WARNING)


def capped_database_url(*, role: str, limit: int) -> str:
    """A login role for this database that PostgreSQL lets open at most `limit` connections."""
    from django.db import connection

    name = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE ROLE "{role}" LOGIN')
        cursor.execute(f'ALTER ROLE "{role}" CONNECTION LIMIT {int(limit)}')
        cursor.execute(f'GRANT CONNECT ON DATABASE "{name}" TO "{role}"')
        cursor.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        cursor.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
        cursor.execute(f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    host, port = connection.settings_dict.get("HOST") or "127.0.0.1", connection.settings_dict.get("PORT") or 5432
    return f"postgres://{role}@{host}:{port}/{name}"


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
                    if event_name == "stream_open":
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


# --- file descriptors, process trees, PostgreSQL connections ------------------------------


def raise_nofile(limit: int = 65536) -> int:
    """Raise RLIMIT_NOFILE for this process and the children it starts (10,000 streams need > 20,000 fds)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= limit:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(hard, limit)))  # raising hard needs root
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        out.extend(int(c) for c in children)
        todo.extend(int(c) for c in children)
    return out


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants (Pushpin runs four)."""
    return sum(rss_mb(p) for p in [pid, *descendants(pid)])


def tree_threads(pid: int) -> int:
    return sum(thread_count(p) for p in [pid, *descendants(pid)])


def pg_connections() -> int:
    """Connections to this database other than the one asking (the benchmark's own)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


class Sampler:
    """Calls a function every `interval` seconds in a thread; keeps the values."""

    def __init__(self, fn, interval: float = 0.5):
        self.fn, self.interval, self.values = fn, interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.values.append(self.fn())
            except Exception:  # noqa: BLE001 - a missed sample is not worth stopping a run
                pass
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)


# --- bench users, tokens, sessions ----------------------------------------------------------


def ensure_users(prefix: str, count: int, write=None) -> list[int]:
    """`count` active users named <prefix>000000..., created in bulk; their ids in order."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    User = get_user_model()
    existing = User.objects.filter(username__startswith=prefix).count()
    if existing < count:
        password = make_password(None)
        for start in range(existing, count, 5000):
            User.objects.bulk_create(
                [User(username=f"{prefix}{i:06d}", password=password, is_active=True) for i in range(start, min(count, start + 5000))],
                batch_size=5000,
            )
            if write:
                write(f"  {min(count, start + 5000):,} / {count:,} {prefix}* users")
    return list(User.objects.filter(username__startswith=prefix).order_by("pk").values_list("pk", flat=True)[:count])


def ensure_tokens(user_ids: list[int]) -> dict[int, str]:
    """A DRF token for each user (created in bulk where missing)."""
    from rest_framework.authtoken.models import Token

    tokens = dict(Token.objects.filter(user_id__in=user_ids).values_list("user_id", "key"))
    missing = [uid for uid in user_ids if uid not in tokens]
    if missing:
        Token.objects.bulk_create([Token(key=Token.generate_key(), user_id=uid) for uid in missing], batch_size=5000)
        tokens = dict(Token.objects.filter(user_id__in=user_ids).values_list("user_id", "key"))
    return tokens


def create_sessions(user_ids: list[int]) -> dict[int, str]:
    """A fresh logged-in database session per user, created in bulk: user id -> session key."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    store = SessionStore()
    expire = timezone.now() + timedelta(days=1)
    keys, rows = {}, []
    for user in get_user_model().objects.filter(pk__in=user_ids):
        key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
        data = {
            "_auth_user_id": str(user.pk),
            "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            "_auth_user_hash": user.get_session_auth_hash(),
        }
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
        keys[user.pk] = key
    Session.objects.bulk_create(rows, batch_size=5000)
    return keys


def delete_sessions(keys) -> None:
    from django.contrib.sessions.models import Session

    Session.objects.filter(session_key__in=list(keys)).delete()


# --- the stock django-eventstream path (mounted only with BENCH_STOCK_EVENTSTREAM=1) ----------

try:
    from django_eventstream.channelmanager import DefaultChannelManager as _StockBase
except ImportError:  # pragma: no cover - django-eventstream is a requirement
    _StockBase = object


class StockChannelManager(_StockBase):
    """The obvious setup of django-eventstream: one channel per user, readable by that user only."""

    def get_channels_for_request(self, request, view_kwargs):
        user = getattr(request, "user", None)
        return {f"user-{user.pk}"} if user is not None and user.is_authenticated else set()

    def can_read_channel(self, user, channel):
        return user is not None and channel == f"user-{user.pk}"


# --- Pushpin ----------------------------------------------------------------------------------

PUSHPIN_CONF = ROOT / "deploy" / "pushpin" / "pushpin.conf"


def _ports_free(ports) -> bool:
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def pushpin_port_offset() -> int:
    """An offset for Pushpin's four control ports (5560-5563 + offset) that are all free here."""
    import random

    for _ in range(200):
        offset = random.randrange(1000, 50000)
        if _ports_free(5560 + offset + i for i in range(4)):
            return offset
    raise CommandError("no free ports for Pushpin's control sockets")


def write_pushpin_config(directory, *, http_port: int, origin: str, sig_key: str, port_offset: int) -> Path:
    """deploy/pushpin/pushpin.conf with this run's ports, origin, key and private run/log directories."""
    import configparser

    directory = Path(directory)
    (directory / "run").mkdir(parents=True, exist_ok=True)
    (directory / "log").mkdir(parents=True, exist_ok=True)
    config = configparser.ConfigParser(interpolation=None)
    config.optionxform = str
    config.read(PUSHPIN_CONF)
    config["global"]["rundir"] = str(directory / "run")
    config["global"]["port_offset"] = str(port_offset)
    config["runner"]["http_port"] = str(http_port)
    config["runner"]["logdir"] = str(directory / "log")
    config["proxy"]["routesfile"] = str(directory / "routes")
    config["proxy"]["sig_key"] = sig_key
    (directory / "routes").write_text(f"* {origin}\n")
    path = directory / "pushpin.conf"
    with open(path, "w") as f:
        config.write(f)
    return path


class PushpinProcess(ChildProcess):
    directory: str = ""

    def stop(self) -> None:
        import shutil

        super().stop()
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)


def start_pushpin(origin_port: int, sig_key: str, http_port: int | None = None) -> tuple[ChildProcess, str, str]:
    """Pushpin in front of 127.0.0.1:<origin_port>: (process, client base URL, GRIP_URL for publishing)."""
    import shutil
    import tempfile

    if shutil.which("pushpin") is None:
        raise CommandError("pushpin is not installed (Debian: apt-get install -y pushpin)")
    http_port = http_port or free_port()
    offset = pushpin_port_offset()
    # IPC socket paths must stay short: a directory of its own under /tmp.
    directory = tempfile.mkdtemp(prefix="pp-")
    conf = write_pushpin_config(directory, http_port=http_port, origin=f"127.0.0.1:{origin_port}", sig_key=sig_key, port_offset=offset)
    proxy = PushpinProcess("pushpin", ["pushpin", "--config", str(conf), "--merge-output", "--port", f"127.0.0.1:{http_port}"])
    proxy.directory = directory
    control = f"http://127.0.0.1:{5561 + offset}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proxy.proc.poll() is not None:
            raise CommandError(f"pushpin exited:\n{proxy.output()[-3000:]}")
        out = proxy.output()
        if all(f"[{name}] started" in out for name in ("handler", "proxy", "condure", "zurl")):
            try:
                httpx.get(f"{control}/", timeout=1)
                return proxy, f"http://127.0.0.1:{http_port}", control
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    proxy.stop()
    raise CommandError(f"pushpin did not start:\n{proxy.output()[-3000:]}")


# --- many SSE streams: raw asyncio, several client processes -------------------------------------


def _dig(data, path: tuple[str, ...]):
    for part in path:
        data = data[part]
    return data


async def _read_body(reader, chunked: bool):
    """Yield the response body in pieces, undoing chunked transfer encoding."""
    if not chunked:
        while True:
            data = await reader.read(65536)
            if not data:
                return
            yield data
    while True:
        size_line = await reader.readline()
        if not size_line:
            return
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return
        data = await reader.readexactly(size)
        await reader.readexactly(2)
        yield data


async def _client_stream(state, uid: int, header: str, semaphore) -> None:
    """One SSE stream: open it (within the connect semaphore), then record the target events."""
    opened = False
    writer = None
    try:
        async with semaphore:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(state["host"], state["port"], local_addr=(state["source_ip"], 0)), state["timeout"]
            )
            writer.write(
                f"GET {state['path']} HTTP/1.1\r\nHost: {state['host']}:{state['port']}\r\n"
                f"Accept: text/event-stream\r\nCache-Control: no-cache\r\n{header}\r\n\r\n".encode()
            )
            status_line = await asyncio.wait_for(reader.readline(), state["timeout"])
            if not status_line:
                raise ConnectionResetError("closed before a status line")
            status = int(status_line.split()[1])
            chunked = False
            while True:
                line = await asyncio.wait_for(reader.readline(), state["timeout"])
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
                    chunked = True
            if status != 200:
                state["failed"][f"HTTP {status}"] += 1
                return
            body = _read_body(reader, chunked)
            buffer = ""
            deadline = time.monotonic() + state["timeout"]
            while "event: stream_open" not in buffer:
                piece = await asyncio.wait_for(body.__anext__(), max(0.1, deadline - time.monotonic()))
                buffer += piece.decode()
        opened = True
        state["opened"] += 1
        state["opened_ids"].append(uid)
        state["check"]()
        event = None
        data = None
        target, key = state["event"], state["key"]
        receipts = state["receipts"]
        async for piece in body:
            now = time.time()
            buffer += piece.decode()
            *lines, buffer = buffer.split("\n")
            for line in lines:
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data = line[5:].strip()
                elif line == "":
                    if event == target and data:
                        try:
                            receipts.append((uid, _dig(json.loads(data), key), now))
                        except (ValueError, KeyError, TypeError):
                            pass
                    event, data = None, None
        state["ended"]["closed by server"] += 1
    except asyncio.CancelledError:
        raise
    except StopAsyncIteration:
        state["failed" if not opened else "ended"]["closed by server"] += 1
    except Exception as exc:  # noqa: BLE001 - count it by kind, keep the others going
        reason = "timeout" if isinstance(exc, asyncio.TimeoutError) else type(exc).__name__
        state["failed" if not opened else "ended"][reason] += 1
    finally:
        if not opened:
            state["check"]()
        if writer is not None:
            writer.close()


def _client_process(conn, host, port, path, auths, event, key, concurrency, timeout, source_ip) -> None:
    """A client process: hold its share of the streams until told to stop, then report."""
    import collections

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def main():
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        reported = False
        state = {
            "host": host, "port": port, "path": path, "event": event, "key": tuple(key.split(".")),
            "timeout": timeout, "source_ip": source_ip, "opened": 0, "opened_ids": [],
            "failed": collections.Counter(), "ended": collections.Counter(), "receipts": [],
        }

        def check():
            nonlocal reported
            if not reported and state["opened"] + sum(state["failed"].values()) >= len(auths):
                reported = True
                conn.send(("opened", state["opened_ids"], dict(state["failed"]), time.time()))

        state["check"] = check
        loop.add_reader(conn.fileno(), stop.set)
        semaphore = asyncio.Semaphore(concurrency)
        tasks = [loop.create_task(_client_stream(state, uid, header, semaphore)) for uid, header in auths]
        check()
        await stop.wait()
        conn.recv()
        alive = state["opened"] - sum(state["ended"].values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        conn.send(("done", state["receipts"], alive, dict(state["failed"]), dict(state["ended"])))

    asyncio.run(main())


class StreamLoad:
    """Many authenticated SSE streams, spread over several client processes (raw asyncio, no httpx).

    auths: (user id, request header line) pairs, e.g. (7, "Authorization: Token abc").
    Receipts are (user id, value at `key` in the JSON data of each `event`, receive time).
    Each process connects from its own loopback address (127.0.0.2, .3, ...) so the
    streams do not run out of ephemeral ports.
    """

    def __init__(self, base_url: str, path: str, auths: list[tuple[int, str]], *, event: str, key: str,
                 processes: int = 2, concurrency: int = 200, timeout: float = 120):
        import multiprocessing
        from urllib.parse import urlsplit

        url = urlsplit(base_url)
        self.total = len(auths)
        self.processes = max(1, min(processes, len(auths) or 1))
        self._ctx = multiprocessing.get_context("fork")
        self._args = (url.hostname, url.port, path, event, key, max(1, concurrency // self.processes), timeout)
        self._shares = [auths[i::self.processes] for i in range(self.processes)]
        self._pipes, self._procs = [], []
        self.opened = 0
        self.opened_ids: list[int] = []
        self.failed: dict[str, int] = {}
        self.ended: dict[str, int] = {}
        self.alive = 0

    def start(self, timeout: float = 600) -> float:
        """Open every stream; returns the seconds until all are open (or have failed)."""
        from collections import Counter

        from django.db import connections

        connections.close_all()  # forked children must not share the parent's database socket
        started = time.time()
        host, port, path, event, key, concurrency, stream_timeout = self._args
        for i, share in enumerate(self._shares):
            parent, child = self._ctx.Pipe()
            proc = self._ctx.Process(
                target=_client_process,
                args=(child, host, port, path, share, event, key, concurrency, stream_timeout, f"127.0.0.{2 + i}"),
                daemon=True,
            )
            proc.start()
            self._pipes.append(parent)
            self._procs.append(proc)
        failed, finished = Counter(), started
        for pipe in self._pipes:
            if not pipe.poll(timeout):
                raise CommandError(f"SSE clients did not finish connecting in {timeout}s")
            _, opened_ids, fails, at = pipe.recv()
            self.opened += len(opened_ids)
            self.opened_ids.extend(opened_ids)
            failed.update(fails)
            finished = max(finished, at)
        self.failed = dict(failed)
        return finished - started

    def stop(self) -> list[tuple[int, object, float]]:
        from collections import Counter

        receipts, failed, ended = [], Counter(self.failed), Counter()
        for pipe in self._pipes:
            pipe.send("stop")
        for pipe, proc in zip(self._pipes, self._procs):
            if pipe.poll(60):
                _, got, alive, fails, ends = pipe.recv()
                receipts.extend(got)
                self.alive += alive
                ended.update(ends)
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
        self.ended = dict(ended)
        return receipts
