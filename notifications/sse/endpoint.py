"""GET /events/: the authenticated user's own channel, nothing else (see project/asgi.py).

Served by a plain ASGI app outside Django's request cycle, so an open stream holds no
thread and no database connection. It authenticates once (session cookie or
``Authorization: Token``), subscribes, replays what the client missed from the
notification rows (by the user's delivery sequence, notifications.sequencing), then
relays frames from the hub; each connection's SSE id is its contiguous watermark of that
sequence (sequence.Watermark). The channel is never chosen by the client. Behind
Pushpin (GRIP_URL) the stream is held by Pushpin instead (grip.py).
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs

from django.conf import settings

from .. import metrics
from . import credentials, database, frames, limits, transports
from .gc_policy import StreamGarbagePolicy
from .grip import GripSignature, grip_hold, grip_signature
from .hub import DISCONNECTED, Listener, hub
from .opening import read_openings
from .sequence import Watermark

KEEPALIVE_SECONDS = 15

stream_garbage = StreamGarbagePolicy(enabled=settings.STREAM_GC_FREEZE)


# Where the stream is served: project/asgi.py routes it, outside Django's URLconf.
EVENTS_PATH = "/events/"

class InvalidLastEventId(ValueError):
    pass


def parse_last_event_id(headers: dict[str, str], query: dict[str, list[str]]) -> int | None:
    """The seq the client resumes after (Last-Event-ID, or ?lastEventId= for proxies that drop it); None: none."""
    raw = headers.get("last-event-id") or (query.get("lastEventId") or query.get("last_event_id") or [""])[-1]
    if raw == "":
        return None
    # ASCII digits only: str.isdigit() is also true for "²" and "٣", which int() refuses or reads as digits.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise InvalidLastEventId(raw)
    return int(raw)


async def _respond(send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def sse_app(scope, receive, send) -> None:
    """ASGI app for GET /events/."""
    if scope["method"] != "GET":
        await _respond(send, 405, {"detail": "Use GET.", "code": "method_not_allowed"})
        return
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    if {"channel", "channels"} & set(query) or "channel" in headers or "channels" in headers:
        await _respond(send, 400, {"detail": "Channels cannot be chosen: you always get your own.", "code": "invalid"})
        return
    try:
        last_seq = parse_last_event_id(headers, query)
    except InvalidLastEventId:
        await _respond(send, 400, {"detail": "Last-Event-ID must be a notification id.", "code": "invalid"})
        return

    behind_pushpin = transports.current().holds_streams_elsewhere
    if behind_pushpin:
        signature = grip_signature(headers)
        if signature is GripSignature.INVALID:
            await _respond(send, 403, {"detail": "Invalid Grip-Sig.", "code": "forbidden"})
            return
        if signature is GripSignature.ABSENT:
            # Live events go to Pushpin only: a stream held here would never get one.
            await _respond(send, 421, {"detail": "Streams are served through the GRIP proxy (Pushpin).", "code": "misdirected"})
            return

    credential = await database.threads.run_batched(credentials.authenticate_many, headers)
    if credential is None:
        await _respond(send, 403, {"detail": "Authentication required.", "code": "not_authenticated"})
        return

    if behind_pushpin:
        await grip_hold(send, credential, last_seq)
        return

    listener = Listener(credential.user_id, credential.session_key, credential)
    if not await limits.admit(hub, listener, send):
        return
    stream_garbage.stream_opened()
    metrics.stream_opened()
    try:
        await _stream(send, receive, listener, last_seq)
    finally:
        stream_garbage.stream_closed()
        metrics.stream_closed(listener.closed_reason)
        await hub.detach(listener)


async def _stream(send, receive, listener: Listener, last_seq: int | None) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache, no-transform"),
                (b"x-accel-buffering", b"no"),
            ],
        }
    )
    opening = await database.threads.run_batched(read_openings, (listener.user_id, last_seq))
    await send({"type": "http.response.body", "body": opening.body.encode(), "more_body": True})
    # Live frames carry their seq; the browser gets this connection's contiguous watermark instead.
    watermark = Watermark(opening.seq, drop_through=0 if last_seq is None else None)

    # Everything that wakes the stream comes through its queue: frames, the hub's close (None),
    # the client leaving, the keep-alive. A waiting stream then holds one future, not a task,
    # a timer and a cancelled wait per event: at 10,000 streams those were ~20 objects each
    # for every full garbage-collector pass to walk (gc_policy.py freezes only the first ones).
    disconnected = asyncio.get_running_loop().create_task(_wait_for_disconnect(receive))
    disconnected.add_done_callback(lambda _: listener.put_last(CLIENT_LEFT))
    keepalive = _KeepAlive(listener)
    try:
        while True:
            batch = [await listener.queue.get()]
            while not listener.queue.empty():  # coalesce a burst into one write
                batch.append(listener.queue.get_nowait())
            out, ended = _relay_live(batch, listener, watermark)
            if ended is CLIENT_LEFT:
                return
            if out or ended:
                await send({"type": "http.response.body", "body": "".join(out).encode(), "more_body": not ended})
                keepalive.wrote()
            if ended:
                return
    finally:
        keepalive.stop()
        disconnected.cancel()


# What else a listener's queue carries, besides frames and the hub's None.
CLIENT_LEFT = object()
KEEPALIVE = object()


class _KeepAlive:
    """Puts KEEPALIVE into an idle stream's queue every KEEPALIVE_SECONDS since its last write.

    One timer per stream, re-armed when it fires rather than for every frame.
    """

    def __init__(self, listener: Listener):
        self.listener = listener
        self.loop = asyncio.get_running_loop()
        self.last_write = self.loop.time()
        self.timer = self.loop.call_later(KEEPALIVE_SECONDS, self._fire)

    def wrote(self) -> None:
        self.last_write = self.loop.time()

    def _fire(self) -> None:
        idle = self.loop.time() - self.last_write
        if idle >= KEEPALIVE_SECONDS:
            try:
                self.listener.queue.put_nowait(KEEPALIVE)
            except asyncio.QueueFull:
                pass  # frames are waiting: their write keeps the connection alive
            idle = 0
        self.timer = self.loop.call_later(KEEPALIVE_SECONDS - idle, self._fire)

    def stop(self) -> None:
        self.timer.cancel()


def _relay_live(batch: list, listener: Listener, watermark: Watermark) -> tuple[list[str], bool | object]:
    """(the frames to write for a burst from the queue, whether the stream ends: False, True, or CLIENT_LEFT)."""
    out = []
    for item in batch:
        if item is CLIENT_LEFT:
            return out, CLIENT_LEFT
        if item is KEEPALIVE:
            if not out:
                out.append(": keep-alive\n\n")
            continue
        if item is None:  # the listener was closed: say why when the page must not reconnect
            if listener.closed_reason == DISCONNECTED:
                out.append(frames.signed_out_frame())  # its reconnect will be refused (403)
            elif listener.closed_reason == limits.SUPERSEDED:
                out.append(frames.superseded_frame())
            return out, True
        relayed = watermark.relay(item)
        if relayed is not None:  # None: replayed, or a repeat
            out.append(relayed)
    return out, False


async def _wait_for_disconnect(receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
