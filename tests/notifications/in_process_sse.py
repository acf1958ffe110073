"""GET /events/ on the ASGI app in this process (no server): fast tests of the endpoint and its frames."""

import asyncio
import json

from notifications.sse.endpoint import sse_app


class InProcessStream:
    """One GET /events/ on the ASGI app, run as a task on the current loop."""

    def __init__(self, headers: dict[str, str], query: bytes = b""):
        self.sent: list[dict] = []
        self._hang_up = asyncio.Event()
        scope = {
            "type": "http", "method": "GET", "path": "/events/", "query_string": query,
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        }
        self.task = asyncio.get_running_loop().create_task(sse_app(scope, self._receive, self._send))

    async def _receive(self):
        await self._hang_up.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message):
        self.sent.append(message)

    @property
    def status(self) -> int | None:
        return self.sent[0]["status"] if self.sent else None

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def body(self) -> str:
        return b"".join(m.get("body", b"") for m in self.sent[1:]).decode()

    @property
    def ended(self) -> bool:
        return any(m["type"] == "http.response.body" and not m.get("more_body") for m in self.sent)

    async def wait(self, predicate, timeout: float = 5.0):
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate(self):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"stream condition not met: status={self.status} body={self.body[-500:]!r}")
            await asyncio.sleep(0.01)

    async def wait_open(self):
        await self.wait(lambda s: "event: stream_open" in s.body or s.ended)

    async def hang_up(self):
        self._hang_up.set()
        await asyncio.wait_for(self.task, timeout=5)

    def frames(self) -> list[tuple[str | None, str, dict]]:
        """The (id, event, data) of every frame received so far, comments and retry left out."""
        out = []
        for block in self.body.split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.split("\n") if line and not line.startswith((":", "retry:")))
            if "event" in fields:
                out.append((fields.get("id"), fields["event"], json.loads(fields["data"])))
        return out
