"""A small Server-Sent Events client for tests: reads a stream in a thread."""

import json
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


class SSEClient:
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
                fields = {"data": []}
                for line in response.iter_lines():
                    if line == "":
                        if "event" in fields or fields["data"]:
                            with self._lock:
                                self.events.append(
                                    SSEEvent(fields.get("event", "message"), "\n".join(fields["data"]), fields.get("id"))
                                )
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
