"""SSE clients that reconnect as a browser's EventSource does, for the reconnect storm (bench_reconnect).

Each stream keeps the `retry:` the server sent (3 s until it sends one, as browsers do) and
the last `id:`; when the stream ends or a connect fails it waits that long and reconnects with
`Last-Event-ID`. It records every stream_open (when) and every `notification` frame (the row's
id and seq, and when). Raw asyncio, in several processes, each from its own loopback address.
"""

from __future__ import annotations

import asyncio
import json
import time

from django.core.management.base import CommandError

from .sse_clients import install_uvloop, open_connection_from

DEFAULT_RETRY_MS = 3000  # an EventSource's reconnection time before the server sends one


class _Stream:
    def __init__(self, uid: int, header: str):
        self.uid = uid
        self.header = header
        self.retry_ms = DEFAULT_RETRY_MS
        self.last_id: str | None = None
        self.opens: list[float] = []
        self.ends: list[float] = []  # when an open stream's body ended (the server closed it or went away)
        self.notifications: list[tuple[int, str | None, float]] = []  # (notification id, SSE id, receive time)
        self.resets = 0
        self.refused: dict[str, int] = {}


async def _read_frames(reader, stream: _Stream) -> None:
    """Dispatch frames as an EventSource does until the body ends (chunked encoding undone)."""
    buffer, fields = b"", {}
    while True:
        size_line = await reader.readline()
        if not size_line:
            return
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return
        buffer += await reader.readexactly(size)
        await reader.readexactly(2)
        *lines, buffer = buffer.split(b"\n")
        now = time.time()
        for raw in lines:
            line = raw.decode()
            if line == "":
                if "id" in fields:
                    stream.last_id = fields["id"]
                event = fields.get("event")
                if event == "stream_open":
                    stream.opens.append(now)
                elif event == "stream_reset":
                    stream.resets += 1
                elif event == "notification" and "data" in fields:
                    data = json.loads(fields["data"])
                    stream.notifications.append((data["id"], fields.get("id"), now))
                fields = {}
            elif line.startswith(":"):
                continue
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "retry" and value.isdigit():
                    stream.retry_ms = int(value)
                elif name in ("id", "event", "data"):
                    fields[name] = value


async def _one(state, stream: _Stream, semaphore) -> None:
    while not state["stop"].is_set():
        writer = None
        try:
            async with semaphore:
                reader, writer = await asyncio.wait_for(
                    open_connection_from(state["host"], state["port"], state["source_ip"]), 30
                )
                last = f"Last-Event-ID: {stream.last_id}\r\n" if stream.last_id is not None else ""
                writer.write(
                    f"GET /events/ HTTP/1.1\r\nHost: {state['host']}:{state['port']}\r\nAccept: text/event-stream\r\n"
                    f"{last}{stream.header}\r\n\r\n".encode()
                )
                status_line = await asyncio.wait_for(reader.readline(), 30)
                if not status_line:
                    raise ConnectionResetError
                status = int(status_line.split()[1])
                while (await asyncio.wait_for(reader.readline(), 30)) not in (b"\r\n", b"\n", b""):
                    pass
            if status != 200:
                stream.refused[f"HTTP {status}"] = stream.refused.get(f"HTTP {status}", 0) + 1
            else:
                opened = len(stream.opens)
                try:
                    await _read_frames(reader, stream)
                finally:
                    if len(stream.opens) > opened:
                        stream.ends.append(time.time())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the server is down or went away: retry, as a browser does
            kind = type(exc).__name__
            stream.refused[kind] = stream.refused.get(kind, 0) + 1
        finally:
            if writer is not None:
                writer.close()
        try:
            await asyncio.wait_for(state["stop"].wait(), stream.retry_ms / 1000)
        except asyncio.TimeoutError:
            pass


def _client_process(conn, host, port, auths, concurrency, source_ip) -> None:
    install_uvloop()

    async def main():
        loop = asyncio.get_running_loop()
        state = {"host": host, "port": port, "source_ip": source_ip, "stop": asyncio.Event()}
        streams = [_Stream(uid, header) for uid, header in auths]
        semaphore = asyncio.Semaphore(concurrency)
        tasks = [loop.create_task(_one(state, stream, semaphore)) for stream in streams]
        while True:  # answer "how many are open since <t>" until told to stop
            message = await loop.run_in_executor(None, conn.recv)
            if message == "stop":
                break
            conn.send(sum(1 for s in streams if any(t >= message for t in s.opens)))
        state["stop"].set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        conn.send([(s.uid, s.opens, s.notifications, s.resets, s.refused, s.ends) for s in streams])

    asyncio.run(main())


class ReconnectingClients:
    """auths: (user id, request header line) pairs, spread over `processes` client processes."""

    def __init__(self, base_url: str, auths: list[tuple[int, str]], *, processes: int = 2, concurrency: int = 200):
        import multiprocessing
        from urllib.parse import urlsplit

        url = urlsplit(base_url)
        self.host, self.port = url.hostname, url.port
        self.total = len(auths)
        self.concurrency = max(1, concurrency // processes)
        self._ctx = multiprocessing.get_context("fork")
        self._shares = [auths[i::processes] for i in range(processes)]
        self._pipes, self._procs = [], []

    def start(self) -> None:
        from django.db import connections

        connections.close_all()  # forked children must not share the parent's database socket
        for i, share in enumerate(self._shares):
            parent, child = self._ctx.Pipe()
            proc = self._ctx.Process(
                target=_client_process, args=(child, self.host, self.port, share, self.concurrency, f"127.0.0.{2 + i}"),
                daemon=True,
            )
            proc.start()
            self._pipes.append(parent)
            self._procs.append(proc)

    def open_since(self, since: float) -> int:
        """Streams that received a stream_open at or after `since` (epoch seconds)."""
        total = 0
        for pipe in self._pipes:
            pipe.send(since)
            if not pipe.poll(30):
                raise CommandError("a client process did not answer")
            total += pipe.recv()
        return total

    def wait_open_since(self, since: float, timeout: float, interval: float = 0.2) -> float | None:
        """Seconds from `since` until every stream has opened since then (None if not within timeout)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.open_since(since) >= self.total:
                return time.time() - since
            time.sleep(interval)
        return None

    def stop(self) -> list[tuple]:
        """Per stream: (user id, stream_open times, [(notification id, SSE id, receive time)], resets, refusals,
        times its open streams ended)."""
        streams = []
        for pipe in self._pipes:
            pipe.send("stop")
        for pipe, proc in zip(self._pipes, self._procs):
            if pipe.poll(120):
                streams.extend(pipe.recv())
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
        return streams
