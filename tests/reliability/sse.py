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

import socket
import threading
import time

import httpx

from tests.sse_client import SSEEvent


class ReconnectingSSEClient:
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
        fields = {"data": []}
        for line in response.iter_lines():
            if line == "":
                if "event" in fields or fields["data"]:
                    event = SSEEvent(fields.get("event", "message"), "\n".join(fields["data"]), fields.get("id"))
                    with self._lock:
                        if event.id is not None:
                            self.last_event_id = event.id
                        self.events.append((connection, event))
                fields = {"data": []}
            elif line.startswith(":"):
                continue
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data":
                    fields["data"].append(value)
                elif name in ("event", "id"):
                    fields[name] = value
                elif name == "retry" and value.isdigit():
                    self.retry_seconds = int(value) / 1000

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
