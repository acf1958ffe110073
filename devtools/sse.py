"""Reading Server-Sent Events: one frame parser, a plain client and a reconnecting one.

SSEFrameParser turns lines into events (the parts of the SSE format /events/ uses:
event, data, id, retry, comments). SSEClient reads one stream in a thread;
ReconnectingSSEClient reconnects like a browser's EventSource.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass

import httpx


@dataclass
class SSEEvent:
    event: str
    data: str
    id: str | None

    def json(self):
        return json.loads(self.data)


class SSEFrameParser:
    """Feed it a stream's lines one by one; it returns each event when its blank line arrives.

    `retry` holds the last reconnection time the server asked for, in seconds (None until then).
    """

    def __init__(self):
        self.retry: float | None = None
        self._fields: dict = {"data": []}

    def feed(self, line: str) -> SSEEvent | None:
        fields = self._fields
        if line == "":
            self._fields = {"data": []}
            if "event" in fields or fields["data"]:
                return SSEEvent(fields.get("event", "message"), "\n".join(fields["data"]), fields.get("id"))
            return None
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            fields["data"].append(value)
        elif name in ("event", "id"):
            fields[name] = value
        elif name == "retry" and value.isdigit():
            self.retry = int(value) / 1000
        return None


def parse_frame(text: str) -> SSEEvent | None:
    """The first event of a frame as written on the wire (or published for a stream to relay)."""
    parser = SSEFrameParser()
    for line in [*text.split("\n"), ""]:
        event = parser.feed(line)
        if event is not None:
            return event
    return None


class SSEClient:
    """Reads one stream in a thread: `status`, `events` as they arrive, `body` of a non-200 answer."""

    def __init__(self, url: str, headers: dict | None = None):
        self.url = url
        self.headers = headers or {}
        self.events: list[SSEEvent] = []
        self.status: int | None = None
        self.body = ""
        self.ended = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=None))
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            with self._client.stream("GET", self.url, headers=self.headers) as response:
                self.status = response.status_code
                if response.status_code != 200:
                    self.body = response.read().decode()
                    return
                parser = SSEFrameParser()
                for line in response.iter_lines():
                    event = parser.feed(line)
                    if event is not None:
                        with self._lock:
                            self.events.append(event)
        except (httpx.HTTPError, RuntimeError, ValueError):
            pass
        finally:
            self.ended.set()

    def of_type(self, event: str) -> list[SSEEvent]:
        with self._lock:
            return [e for e in self.events if e.event == event]

    def wait_for(self, predicate, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                snapshot = list(self.events)
            result = predicate(snapshot)
            if result:
                return result
            if self.ended.is_set() and not predicate(snapshot):
                break
            time.sleep(0.02)
        raise AssertionError(f"SSE condition not met; status={self.status} events={[e.event for e in self.events]} body={self.body!r}")

    def wait_open(self, timeout: float = 10.0):
        return self.wait_for(lambda events: any(e.event == "stream_open" for e in events), timeout)

    def wait_ended(self, timeout: float = 10.0) -> bool:
        return self.ended.wait(timeout)

    def close(self):
        self._client.close()
        self._thread.join(timeout=5)


class ReconnectingSSEClient:
    """An SSE client that reconnects on its own, like a browser's EventSource.

    When the stream ends or the connection fails it waits the server's `retry:` time
    and reconnects, sending the id of the last event it saw as Last-Event-ID (a position
    in the user's delivery sequence, not a notification id). A non-200
    answer fails it for good, as in a browser. It dedupes nothing: `events` is exactly
    what the server sent, over every connection.

    cut() drops the connection the way a network does (the socket is shut down under
    the reader, the server sees the disconnect); with offline=True the client stays
    away until online(), like a page whose network is gone for a while.
    """

    def __init__(self, url: str, headers: dict | None = None, *, retry_seconds: float = 3.0):
        self.url = url
        self.headers = headers or {}
        self.retry_seconds = retry_seconds  # until the server says otherwise
        self.last_event_id: str | None = None
        self.events: list[tuple[int, SSEEvent]] = []  # (connection number, event)
        self.opened = 0  # connections answered 200
        self.attempts = 0
        self.failed_status: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._online = threading.Event()
        self._online.set()
        self._socket: socket.socket | None = None
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=None))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self._online.wait()
            if self._stop.is_set():
                return
            headers = dict(self.headers)
            if self.last_event_id:
                headers["Last-Event-ID"] = self.last_event_id
            self.attempts += 1
            try:
                with self._client.stream("GET", self.url, headers=headers) as response:
                    if response.status_code != 200:
                        self.failed_status = response.status_code
                        return
                    with self._lock:
                        self._socket = response.extensions["network_stream"].get_extra_info("socket")
                        self.opened += 1
                        connection = self.opened
                    if self._stop.is_set():
                        return
                    self._read(response, connection)
            except (httpx.HTTPError, OSError, RuntimeError, ValueError):
                pass  # refused, reset or cut: reconnect
            finally:
                with self._lock:
                    self._socket = None
            self._stop.wait(self.retry_seconds)

    def _read(self, response, connection: int):
        parser = SSEFrameParser()
        for line in response.iter_lines():
            event = parser.feed(line)
            if parser.retry is not None:
                self.retry_seconds = parser.retry
            if event is not None:
                with self._lock:
                    if event.id is not None:
                        self.last_event_id = event.id
                    self.events.append((connection, event))

    # --- the network ---------------------------------------------------------------

    def cut(self, *, offline: bool = False) -> int:
        """Drop the open connection now; returns its number. offline=True: stay away until online()."""
        if offline:
            self._online.clear()
        with self._lock:
            sock, connection = self._socket, self.opened
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return connection

    def online(self) -> None:
        self._online.set()

    # --- what was received -------------------------------------------------------------

    def of_type(self, event: str, connection: int | None = None) -> list[SSEEvent]:
        with self._lock:
            return [e for c, e in self.events if e.event == event and connection in (None, c)]

    def notification_ids(self, connection: int | None = None) -> list[int]:
        """Every notification frame received, by notification id (the payload's), repeats included."""
        return [e.json()["id"] for e in self.of_type("notification", connection)]

    def shown_ids(self) -> list[int]:
        """What a page shows: each notification once, in the order it first arrived (live.js drops repeats by id)."""
        return list(dict.fromkeys(self.notification_ids()))

    def replayed_ids(self, connection: int) -> list[int]:
        """Notifications in a connection's opening (before its unread_count): the replay."""
        ids = []
        with self._lock:
            for c, e in self.events:
                if c != connection:
                    continue
                if e.event == "unread_count":
                    break
                if e.event == "notification":
                    ids.append(e.json()["id"])
        return ids

    def opened_on(self, connection: int, event: str = "stream_open") -> bool:
        with self._lock:
            return any(c == connection and e.event == event for c, e in self.events)

    def wait_for(self, predicate, timeout: float = 30.0, what: str = "SSE condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate(self)
            if result:
                return result
            if self.failed_status is not None:
                break
            time.sleep(0.05)
        raise AssertionError(
            f"{what} not met: opened={self.opened} attempts={self.attempts} failed_status={self.failed_status} "
            f"events={[(c, e.event) for c, e in self.events]}"
        )

    def close(self):
        self._stop.set()
        self._online.set()
        self.cut()
        self._client.close()
        self._thread.join(timeout=10)
