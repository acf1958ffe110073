"""Many SSE clients at once, for the benchmarks.

SSEFleet: httpx streams in one asyncio loop in a thread (bench_fanout's sample clients).
StreamLoad: raw asyncio streams spread over several client processes (bench_streams, bench_e2e:
thousands of streams). Both read frames with devtools.sse.SSEFrameParser.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from dataclasses import dataclass, field

import httpx
from django.core.management.base import CommandError

from devtools.sse import SSEFrameParser

from .receipt_acks import AckProcess

# One INFO line per SSE connect would bury the tables.
logging.getLogger("httpx").setLevel(logging.WARNING)


@dataclass
class StreamStats:
    opened: int = 0
    failed: int = 0
    received: dict = field(default_factory=dict)  # user_id -> list[(event_id, receive_time)]


class SSEFleet:
    """Many SSE connections driven by one asyncio loop in a thread."""

    def __init__(self, base_url: str, tokens: dict[int, str], *, event: str = "notification", ack: bool = False):
        self.base_url = base_url
        self.tokens = tokens
        self.event = event
        # Ack each notification's receipt as the page does (bench/receipt_acks.py); forked now,
        # before this process starts the fleet's thread.
        self._acker = AckProcess(base_url) if ack else None
        self.ack_statuses: dict[str, int] = {}
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
            if self._acker is not None:
                self.ack_statuses = await asyncio.to_thread(self._acker.close)
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
            parser = SSEFrameParser()
            async for line in response.aiter_lines():
                event = parser.feed(line)
                if event is None:
                    continue
                if event.event == "stream_open":
                    self.stats.opened += 1
                    if self.stats.opened + self.stats.failed >= len(self.tokens):
                        self._opened.set()
                elif event.event == self.event:
                    received.append((int(event.id) if event.id else None, time.time()))
                    if self._acker is not None:
                        self._acker.delivered(user_id, event.json()["id"])
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
        self._thread.join(timeout=120)  # the acks still queued are sent first


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


async def open_connection_from(host: str, port: int, source_ip: str):
    """asyncio.open_connection() from `source_ip`, its port chosen by connect() rather than bind().

    bind() to port 0 looks for a port no socket of that address holds, TIME_WAIT ones included:
    a run within 60 s of another (its 10,000 closed streams in TIME_WAIT) cost the clients
    1.6-2.5 ms of CPU per stream, mostly kernel time, against 0.26 ms in a first run, and took
    16-23 s to open 10,000 streams instead of 10. connect() picks the port for the whole address
    pair and may reuse a TIME_WAIT one on loopback (tcp_tw_reuse): 0.29-0.33 ms in every run.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source_ip, 0))
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def _client_stream(state, uid: int, header: str, semaphore) -> None:
    """One SSE stream: open it (within the connect semaphore), then record the target events."""
    opened = False
    writer = None
    try:
        async with semaphore:
            reader, writer = await asyncio.wait_for(
                open_connection_from(state["host"], state["port"], state["source_ip"]), state["timeout"]
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
        parser = SSEFrameParser()
        target, key = state["event"], state["key"]
        receipts, acker = state["receipts"], state["acker"]
        async for piece in body:
            now = time.time()
            buffer += piece.decode()
            *lines, buffer = buffer.split("\n")
            for line in lines:
                event = parser.feed(line)
                if event is not None and event.event == target and event.data:
                    try:
                        data = event.json()
                        receipts.append((uid, _dig(data, key), now))
                        if acker is not None:
                            acker.delivered(uid, data["id"])
                    except (ValueError, KeyError, TypeError):
                        pass
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


def install_uvloop() -> None:
    """In a client process: uvloop's event loop if installed (the clients must not be the bottleneck)."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass


def _client_process(conn, host, port, path, auths, event, key, concurrency, timeout, source_ip, acker) -> None:
    """A client process: hold its share of the streams until told to stop, then report."""
    import collections

    install_uvloop()

    async def main():
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        reported = False
        state = {
            "host": host, "port": port, "path": path, "event": event, "key": tuple(key.split(".")),
            "timeout": timeout, "source_ip": source_ip, "opened": 0, "opened_ids": [],
            "failed": collections.Counter(), "ended": collections.Counter(), "receipts": [],
            "acker": acker,
        }

        def check():
            nonlocal reported
            if not reported and state["opened"] + sum(state["failed"].values()) >= len(auths):
                reported = True
                # This process's CPU (user + system) for its share of the openings: it forked just before.
                conn.send(("opened", state["opened_ids"], dict(state["failed"]), time.time(), time.process_time()))

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


def _acker(base_url: str, ack: str | None, auths) -> AckProcess | None:
    """None, or acks through the receipts door ("door") or the API ("api", by each stream's DRF token)."""
    if ack is None:
        return None
    api_tokens = {uid: header.rsplit(" ", 1)[-1] for uid, header in auths} if ack == "api" else None
    return AckProcess(base_url, api_tokens=api_tokens)


class StreamLoad:
    """Many authenticated SSE streams, spread over several client processes (raw asyncio, no httpx).

    auths: (user id, request header line) pairs, e.g. (7, "Authorization: Token abc").
    Receipts are (user id, value at `key` in the JSON data of each `event`, receive time).
    With ack="door" (or "api") each stream also acks the `id` of every such event as the page does
    (bench/receipt_acks.py) through the receipts door (or the API's); the answers are counted in `acks`.
    Each process connects from its own loopback address (127.0.0.2, .3, ...) so the
    streams do not run out of ephemeral ports.
    """

    def __init__(self, base_url: str, path: str, auths: list[tuple[int, str]], *, event: str, key: str,
                 processes: int = 2, concurrency: int = 200, timeout: float = 120, ack: str | None = None):
        import multiprocessing
        from urllib.parse import urlsplit

        url = urlsplit(base_url)
        self.total = len(auths)
        self.processes = max(1, min(processes, len(auths) or 1))
        self._ctx = multiprocessing.get_context("fork")
        self._args = (url.hostname, url.port, path, event, key, max(1, concurrency // self.processes), timeout)
        self._ack = ack
        self._shares = [auths[i::self.processes] for i in range(self.processes)]
        self._pipes, self._procs = [], []
        self.opened = 0
        self.opened_ids: list[int] = []
        self.client_cpu_s = 0.0  # the client processes' CPU (user + system) until all their streams were open
        self.failed: dict[str, int] = {}
        self.ended: dict[str, int] = {}
        self.alive = 0
        self.acks: dict[str, int] = {}

    def start(self, timeout: float = 600) -> float:
        """Open every stream; returns the seconds until all are open (or have failed)."""
        from collections import Counter

        from django.db import connections

        connections.close_all()  # forked children must not share the parent's database socket
        started = time.time()
        host, port, path, event, key, concurrency, stream_timeout = self._args
        # One ack process per client process (client processes are daemons: they cannot fork).
        self._ackers = [_acker(f"http://{host}:{port}", self._ack, share) for share in self._shares]
        for i, (share, acker) in enumerate(zip(self._shares, self._ackers)):
            parent, child = self._ctx.Pipe()
            proc = self._ctx.Process(
                target=_client_process,
                args=(child, host, port, path, share, event, key, concurrency, stream_timeout, f"127.0.0.{2 + i}", acker),
                daemon=True,
            )
            proc.start()
            self._pipes.append(parent)
            self._procs.append(proc)
        failed, finished = Counter(), started
        for pipe in self._pipes:
            if not pipe.poll(timeout):
                raise CommandError(f"SSE clients did not finish connecting in {timeout}s")
            _, opened_ids, fails, at, cpu_s = pipe.recv()
            self.client_cpu_s += cpu_s
            self.opened += len(opened_ids)
            self.opened_ids.extend(opened_ids)
            failed.update(fails)
            finished = max(finished, at)
        self.failed = dict(failed)
        return finished - started

    def stop(self) -> list[tuple[int, object, float]]:
        from collections import Counter

        receipts, failed, ended, acks = [], Counter(self.failed), Counter(), Counter()
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
        for acker in self._ackers:
            if acker is not None:
                acks.update(acker.close())
        self.ended = dict(ended)
        self.acks = dict(acks)
        return receipts
