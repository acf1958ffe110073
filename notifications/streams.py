"""Server-Sent Events: the one publisher, the per-process hub, and the /events/ endpoint.

Publishing (any process: Celery worker, web request):
    publish([...StreamEvent]) / publish_notifications(queryset)
    encode each event once as an SSE frame and PUBLISH it to the recipient's Redis
    channel ``sse:user:<id>`` in pipelined batches; on the embedded default (no
    REDIS_URL) frames go straight to this process's hub.

Streaming (the ASGI web process):
    ``/events/`` is served by a plain ASGI app (see project/asgi.py), outside
    Django's request cycle, so an open stream holds no thread and no database
    connection. It authenticates once (session cookie or ``Authorization: Token``),
    replays what the client missed from the notification rows (by the user's
    delivery sequence, notifications.sequencing), then relays frames from one shared
    Redis subscription per process; each connection's SSE id is its contiguous
    watermark of that sequence (notifications.stream_sequence). There is exactly one channel per user and it is never chosen by the
    client.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import http.client
import itertools
import json
import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections, connection

from . import stream_credentials, stream_limits
from .stream_credentials import Credential
from .stream_gc import StreamGarbagePolicy
from .stream_sequence import Watermark

logger = logging.getLogger(__name__)

USER_CHANNEL_PREFIX = "sse:user:"
CONTROL_CHANNEL = "sse:control"
PUBLISH_BATCH = 2000
# A client that missed more than this is told to reset and reload through the API.
REPLAY_LIMIT = 500
KEEPALIVE_SECONDS = 15
# Frames waiting for one slow client; past this it is disconnected and replays on reconnect.
LISTENER_QUEUE_SIZE = 1000
RETRY_MS = 2000


@dataclass(frozen=True)
class StreamEvent:
    user_id: int
    event: str
    data: dict = field(default_factory=dict)
    id: int | None = None


def user_channel(user_id: int) -> str:
    return f"{USER_CHANNEL_PREFIX}{user_id}"


def encode_frame(event: str, data_json: str, event_id: int | None = None) -> str:
    # json.dumps never emits a raw newline, so the data fits on one "data:" line.
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data_json}\n\n"


def _dumps(data) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"))


def notification_payload(notification) -> dict:
    return {
        "id": notification.pk,
        "notification_type": notification.notification_type,
        "title": notification.title,
        "message": notification.message,
        "priority": notification.priority,
        "is_read": notification.is_read,
        "action_url": notification.action_url,
        "metadata": notification.metadata,
        "created_at": notification.created_at,
    }


# --- publishing -----------------------------------------------------------------


def _redis_client():
    import redis

    client = getattr(_redis_client, "client", None)
    if client is None:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
        _redis_client.client = client
    return client


def _send_frames(frames: Iterable[tuple[int, str]]) -> int:
    """Deliver (user_id, frame) pairs: Redis pub/sub across processes, or this process's hub."""
    sent = 0
    if settings.GRIP_URL:
        return _grip_publish((user_channel(user_id), {"http-stream": {"content": frame}}) for user_id, frame in frames)
    if settings.REDIS_URL:
        pipe = _redis_client().pipeline(transaction=False)
        for user_id, frame in frames:
            pipe.publish(user_channel(user_id), frame)
            sent += 1
            if sent % PUBLISH_BATCH == 0:
                pipe.execute()
        pipe.execute()
    else:
        for user_id, frame in frames:
            hub.deliver_threadsafe(user_id, frame)
            sent += 1
    return sent


def publish(events: Iterable[StreamEvent]) -> int:
    """Push events to their users' open pages. Call after the commit they report."""
    return _send_frames((e.user_id, encode_frame(e.event, _dumps(e.data), e.id)) for e in events)


def publish_notifications(notifications) -> int:
    """Push stored notifications, one frame each, without a query per recipient.

    Accepts a queryset (read once, a few columns at a time) of one event's
    notifications: everything but id, recipient and read state is shared, so the
    JSON body is encoded once per read state (once when fresh) and only the id is
    spliced in. Retracted (expired) rows are not sent: a re-publish must not
    bring them back. The SSE id is the seq.
    """
    notifications = notifications.filter(expired_at__isnull=True)
    first = notifications.first()
    if first is None:
        return 0
    body_for_read_state = _shared_notification_bodies(first)
    rows = notifications.values_list("pk", "recipient_id", "is_read", "seq").iterator(chunk_size=PUBLISH_BATCH)
    return _send_frames(
        (recipient_id, encode_frame("notification", f'{{"id":{pk},{body_for_read_state(is_read)}', seq))
        for pk, recipient_id, is_read, seq in rows
    )


def _shared_notification_bodies(sample):
    """is_read -> the JSON of an event's notification without its id (and opening brace), cached."""
    shared = notification_payload(sample)
    del shared["id"]
    encoded = {}

    def body(is_read: bool) -> str:
        if is_read not in encoded:
            encoded[is_read] = _dumps(shared | {"is_read": is_read})[1:]
        return encoded[is_read]

    return body


def disconnect_user(*, user_id: int, session_key: str | None = None) -> None:
    """Close a user's open streams (all of them, or those of one session): logout, deactivation."""
    message = _dumps({"action": "disconnect", "user_id": user_id, "session_key": session_key})
    try:
        if settings.GRIP_URL:
            # Pushpin holds the streams: tell them why, then close them (the reconnect gets a 403).
            channel = _session_channel(session_key) if session_key else user_channel(user_id)
            farewell = encode_frame("stream-error", _dumps({"reason": "signed out"}))
            _grip_publish([(channel, {"http-stream": {"content": farewell}}), (channel, {"http-stream": {"action": "close"}})])
        elif settings.REDIS_URL:
            _redis_client().publish(CONTROL_CHANNEL, message)
        else:
            hub.control_threadsafe(message)
    except Exception:  # noqa: BLE001 - the session is gone anyway; the next reconnect is refused
        logger.warning("Could not broadcast the disconnect of user %s", user_id, exc_info=True)


# --- publishing through Pushpin (GRIP) --------------------------------------------------

# Pushpin refuses publish bodies over push_in_http_max_body_size (1,000,000 bytes by default).
GRIP_BATCH_BYTES = 900_000
SESSION_CHANNEL_PREFIX = "sse:session:"
_grip_local = threading.local()


def _session_channel(session_key: str) -> str:
    # A digest, not the key: channel names show up in Pushpin's logs and stats.
    return SESSION_CHANNEL_PREFIX + hashlib.sha256(session_key.encode()).hexdigest()[:32]


def _grip_post(body: bytes) -> None:
    """POST one batch to {GRIP_URL}/publish/ on this thread's kept-alive connection."""
    url = urlsplit(settings.GRIP_URL)
    path = url.path.rstrip("/") + "/publish/"
    for attempt in (1, 2):
        conn = getattr(_grip_local, "conn", None)
        if conn is None or getattr(_grip_local, "netloc", None) != url.netloc:
            factory = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
            conn = factory(url.netloc, timeout=10)
            _grip_local.conn, _grip_local.netloc = conn, url.netloc
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            detail = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            _grip_local.conn = None
            if attempt == 2:
                raise
            continue  # a kept-alive connection the proxy had closed: once more on a new one
        if response.status >= 300:
            raise RuntimeError(f"Pushpin refused a publish: {response.status} {detail[:200]!r}")
        return


def _grip_publish(items: Iterable[tuple[str, dict]]) -> int:
    """Publish (channel, formats) items to Pushpin: one HTTP request per batch, never one per event."""
    sent = 0
    batch: list[bytes] = []
    size = 0
    for channel, formats in items:
        item = json.dumps({"channel": channel, "formats": formats}, separators=(",", ":")).encode()
        if batch and (len(batch) >= PUBLISH_BATCH or size + len(item) > GRIP_BATCH_BYTES):
            _grip_post(b'{"items":[' + b",".join(batch) + b"]}")
            batch, size = [], 0
        batch.append(item)
        size += len(item) + 1
        sent += 1
    if batch:
        _grip_post(b'{"items":[' + b",".join(batch) + b"]}")
    return sent


# --- the per-process hub ----------------------------------------------------------


_listener_order = itertools.count()


class Listener:
    """One open stream: a bounded queue of frames for one user."""

    def __init__(self, user_id: int, session_key: str | None, credential: Credential | None = None):
        self.user_id = user_id
        self.session_key = session_key
        self.credential = credential or Credential(user_id, session_key=session_key)
        self.opened = next(_listener_order)  # which of a user's streams is the oldest
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=LISTENER_QUEUE_SIZE)
        self.closed_reason: str | None = None

    def put(self, frame: str) -> None:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.close("overflow")

    def close(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
            # Wake the stream even if the queue is full.
            while True:
                try:
                    self.queue.put_nowait(None)
                    break
                except asyncio.QueueFull:
                    self.queue.get_nowait()


class StreamHub:
    """Routes frames to this process's listeners; with Redis, one subscription per user channel."""

    def __init__(self):
        self.listeners: dict[int, set[Listener]] = defaultdict(set)
        self.open_streams = 0  # listeners attached, all users (kept, not summed: checked on every open)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._pubsub = None
        self._reader: asyncio.Task | None = None
        self._subscribed: dict[str, asyncio.Event] = {}
        self._reader_lock: asyncio.Lock | None = None

    # called on the event loop -----------------------------------------------

    async def attach(self, listener: Listener) -> None:
        self.loop = asyncio.get_running_loop()
        with self._lock:
            first = not self.listeners[listener.user_id]
            self.listeners[listener.user_id].add(listener)
            self.open_streams += 1
        if settings.REDIS_URL:
            await self._ensure_reader()
            channel = user_channel(listener.user_id)
            if first or channel not in self._subscribed:
                ready = self._subscribed.setdefault(channel, asyncio.Event())
                await self._pubsub.subscribe(channel)
                await asyncio.wait_for(ready.wait(), timeout=5)
            else:
                await asyncio.wait_for(self._subscribed[channel].wait(), timeout=5)

    async def detach(self, listener: Listener) -> None:
        with self._lock:
            users = self.listeners.get(listener.user_id)
            if users is None or listener not in users:
                return
            users.discard(listener)
            self.open_streams -= 1
            last = not users
            if last:
                del self.listeners[listener.user_id]
        if last and settings.REDIS_URL and self._pubsub is not None:
            channel = user_channel(listener.user_id)
            self._subscribed.pop(channel, None)
            try:
                await self._pubsub.unsubscribe(channel)
            except Exception:  # noqa: BLE001 - the reader reconnects and resubscribes only live users
                logger.debug("unsubscribe failed", exc_info=True)

    def deliver(self, user_id: int, frame: str) -> None:
        with self._lock:
            targets = list(self.listeners.get(user_id, ()))
        for listener in targets:
            listener.put(frame)

    def control(self, message: str) -> None:
        command = json.loads(message)
        if command.get("action") == "revalidate":
            stream_credentials.schedule_revalidation(self, command["user_id"])
            return
        if command.get("action") != "disconnect":
            return
        for listener in self.listeners_of(command["user_id"]):
            if command.get("session_key") in (None, listener.session_key) and command.get("token_digest") in (
                None, listener.credential.token_digest
            ):
                listener.close("disconnected")

    def listeners_of(self, user_id: int) -> list[Listener]:
        with self._lock:
            return list(self.listeners.get(user_id, ()))

    def close_all(self, reason: str) -> None:
        with self._lock:
            targets = [listener for users in self.listeners.values() for listener in users]
        for listener in targets:
            listener.close(reason)

    # called from other threads (in-process publishing) ---------------------------

    def deliver_threadsafe(self, user_id: int, frame: str) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.deliver, user_id, frame)

    def control_threadsafe(self, message: str) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.control, message)

    # the Redis reader ------------------------------------------------------------

    async def _ensure_reader(self) -> None:
        if self._reader is not None and not self._reader.done():
            return
        if self._reader_lock is None:
            self._reader_lock = asyncio.Lock()
        async with self._reader_lock:  # many streams open at once; one subscription
            if self._reader is None or self._reader.done():
                await self._start_reader()

    async def _start_reader(self) -> None:
        from redis import asyncio as aioredis

        client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
        self._pubsub = client.pubsub()
        ready = self._subscribed.setdefault(CONTROL_CHANNEL, asyncio.Event())
        try:
            await self._pubsub.subscribe(CONTROL_CHANNEL)
        except BaseException:
            # Redis unreachable: forget this attempt entirely; the next stream tries afresh.
            self._subscribed.pop(CONTROL_CHANNEL, None)
            pubsub, self._pubsub = self._pubsub, None
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            raise
        self._reader = asyncio.get_running_loop().create_task(self._read())
        await asyncio.wait_for(ready.wait(), timeout=5)

    async def _read(self) -> None:
        try:
            async for message in self._pubsub.listen():
                kind = message["type"]
                channel = message["channel"].decode()
                if kind == "subscribe":
                    self._subscribed.setdefault(channel, asyncio.Event()).set()
                elif kind == "message":
                    data = message["data"].decode()
                    if channel == CONTROL_CHANNEL:
                        self.control(data)
                    else:
                        self.deliver(int(channel[len(USER_CHANNEL_PREFIX):]), data)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - Redis went away
            logger.warning("Lost the Redis subscription; closing streams so clients reconnect and replay", exc_info=True)
        finally:
            # Frames published while we were not subscribed are lost to this process:
            # closing the streams makes every client reconnect and replay from the database.
            self._subscribed.clear()
            self._pubsub = None
            self.close_all("resubscribe")

    async def shutdown(self) -> None:
        self.close_all("shutdown")
        if self._reader is not None:
            self._reader.cancel()


hub = StreamHub()
stream_garbage = StreamGarbagePolicy(enabled=settings.STREAM_GC_FREEZE)


# --- the endpoint ---------------------------------------------------------------


def _authenticate(headers: dict[str, str]) -> tuple[int | None, str | None]:
    """(user id, session key) from the session cookie or a Token header; runs in a worker thread."""
    credential = stream_credentials.authenticate(headers)
    return (credential.user_id, credential.session_key) if credential else (None, None)


def _replay(user_id: int, last_seq: int) -> tuple[list[str], bool, int, int]:
    """(frames the client missed, in seq order; whether it missed too many; unread count; the user's seq).

    The counter is read first: every row up to it is committed, so the replay is
    exact up to it, and everything above it arrives live (the stream subscribed first).
    """
    from .models import Notification
    from .selectors import notification_unread_count
    from .sequencing import seq_current

    close_old_connections()
    try:
        current = seq_current(user_id=user_id)
        missed = list(
            Notification.objects.filter(
                recipient_id=user_id, seq__gt=last_seq, seq__lte=current, expired_at__isnull=True
            ).order_by("seq")[: REPLAY_LIMIT + 1]
        )
        unread = notification_unread_count(user_id=user_id)
    finally:
        connection.close()
    if len(missed) > REPLAY_LIMIT:
        return [], True, unread, current
    frames = [encode_frame("notification", _dumps(notification_payload(n)), n.seq) for n in missed]
    return frames, False, unread, current


def _unread_count_and_seq(user_id: int) -> tuple[int, int]:
    from .selectors import notification_unread_count
    from .sequencing import seq_current

    close_old_connections()
    try:
        return notification_unread_count(user_id=user_id), seq_current(user_id=user_id)
    finally:
        connection.close()


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


_ID_LINES = re.compile(r"^id: (\d+)$", re.MULTILINE)


def _parse_last_id(headers: dict[str, str], query: dict[str, list[str]]) -> int | None | str:
    raw = headers.get("last-event-id") or (query.get("lastEventId") or query.get("last_event_id") or [""])[-1]
    if raw == "":
        return None
    # ASCII digits only: str.isdigit() is also true for "²" and "٣", which int() refuses or reads as digits.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        return "invalid"
    return int(raw)


async def sse_app(scope, receive, send) -> None:
    """ASGI app for GET /events/: the authenticated user's own channel, nothing else."""
    if scope["method"] != "GET":
        await _respond(send, 405, {"detail": "Use GET.", "code": "method_not_allowed"})
        return
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    if {"channel", "channels"} & set(query) or "channel" in headers or "channels" in headers:
        await _respond(send, 400, {"detail": "Channels cannot be chosen: you always get your own.", "code": "invalid"})
        return
    last_id = _parse_last_id(headers, query)
    if last_id == "invalid":
        await _respond(send, 400, {"detail": "Last-Event-ID must be a notification id.", "code": "invalid"})
        return

    grip = False
    if settings.GRIP_URL:
        grip = _grip_signed(headers)
        if grip is None:
            await _respond(send, 403, {"detail": "Invalid Grip-Sig.", "code": "forbidden"})
            return
        if not grip:
            # Live events go to Pushpin only: a stream held here would never get one.
            await _respond(send, 421, {"detail": "Streams are served through the GRIP proxy (Pushpin).", "code": "misdirected"})
            return

    credential = await sync_to_async(stream_credentials.authenticate, thread_sensitive=False)(headers)
    if credential is None:
        await _respond(send, 403, {"detail": "Authentication required.", "code": "not_authenticated"})
        return
    user_id, session_key = credential.user_id, credential.session_key

    if grip:
        await _grip_hold(send, user_id, session_key, last_id, credential=credential)
        return

    listener = Listener(user_id, session_key, credential)
    if not await stream_limits.admit(hub, listener, send):
        return
    stream_garbage.stream_opened()
    try:
        await _stream(send, receive, listener, last_id)
    finally:
        stream_garbage.stream_closed()
        await hub.detach(listener)


async def _opening(user_id: int, last_id: int | None) -> tuple[str, int, bool]:
    """A stream's first body: padding, retry, stream-open, then the replay or the unread count.

    Returns (body, the user's seq read with it, whether the client was told to reset).
    Every notification up to that seq was replayed, expired, or is one the client
    already had (or, without Last-Event-ID, one it did not ask for); the ones above it come live.
    """
    reset = False
    opening = f": {' ' * 2048}\nretry: {RETRY_MS}\n\nevent: stream-open\ndata: {{}}\n\n"
    if last_id is None:
        unread, current = await sync_to_async(_unread_count_and_seq, thread_sensitive=False)(user_id)
        opening += encode_frame("unread_count", _dumps({"count": unread}))
    else:
        frames, too_old, unread, current = await sync_to_async(_replay, thread_sensitive=False)(user_id, last_id)
        if too_old:
            reset = True
            # With the id the page resumes from once it has reloaded through the API.
            opening += encode_frame("stream-reset", _dumps({"reason": "too many missed; reload from the API"}), current)
        else:
            opening += "".join(frames)
        opening += encode_frame("unread_count", _dumps({"count": unread}))
    return opening, current, reset


async def _stream(send, receive, listener: Listener, last_id: int | None) -> None:
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
    opening, current, _ = await _opening(listener.user_id, last_id)
    await send({"type": "http.response.body", "body": opening.encode(), "more_body": True})
    # Live frames carry their seq; the browser gets this connection's contiguous watermark instead.
    watermark = Watermark(current, drop_through=0 if last_id is None else None)

    disconnected = asyncio.get_running_loop().create_task(_wait_for_disconnect(receive))
    try:
        while True:
            getter = asyncio.ensure_future(listener.queue.get())
            done, _ = await asyncio.wait({getter, disconnected}, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            if disconnected in done:
                getter.cancel()
                return
            if not done:
                getter.cancel()
                await send({"type": "http.response.body", "body": b": keep-alive\n\n", "more_body": True})
                continue
            frame = getter.result()
            batch = [frame]
            while not listener.queue.empty():  # coalesce a burst into one write
                batch.append(listener.queue.get_nowait())
            out = []
            for item in batch:
                if item is None:
                    if listener.closed_reason == "disconnected":
                        # Its reconnect will be refused (403), which stops the EventSource.
                        out.append(encode_frame("stream-error", _dumps({"reason": "signed out"})))
                    elif listener.closed_reason == stream_limits.SUPERSEDED:
                        out.append(stream_limits.superseded_frame())
                    await send({"type": "http.response.body", "body": "".join(out).encode(), "more_body": False})
                    return
                relayed = watermark.relay(item)
                if relayed is not None:  # None: replayed, or a repeat
                    out.append(relayed)
            if out:
                await send({"type": "http.response.body", "body": "".join(out).encode(), "more_body": True})
    finally:
        disconnected.cancel()


async def _wait_for_disconnect(receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


# --- the endpoint behind Pushpin (GRIP) -------------------------------------------------

# A comment line when a held stream has been idle this long (Pushpin sends it).
GRIP_KEEPALIVE_SECONDS = 20
# Pushpin subscribes a stream within milliseconds of the answer; the catch-up looks this much later.
GRIP_CATCHUP_SECONDS = 2.0
# Rows created this long before the opening's query may still have been uncommitted then.
GRIP_CATCHUP_LATE_COMMIT_SECONDS = 30
_catch_ups: set[asyncio.Task] = set()


def _grip_signed(headers: dict[str, str]) -> bool | None:
    """Whether Pushpin sent this request: True, False (no Grip-Sig) or None (a Grip-Sig that does not verify).

    With GRIP_SIG_KEY set (Pushpin's sig_key) the Grip-Sig JWT must verify;
    without it any Grip-Sig is trusted, which only matters when GRIP_URL is set.
    """
    signature = headers.get("grip-sig")
    if not signature:
        return False
    key = settings.GRIP_SIG_KEY
    if not key:
        return True
    import jwt

    key = base64.b64decode(key[7:]) if key.startswith("base64:") else key.encode()
    try:
        claims = jwt.decode(signature, key, algorithms=["HS256"], options={"require": ["exp"]})
    except jwt.PyJWTError:
        return None
    if settings.GRIP_SIG_ISS and claims.get("iss") != settings.GRIP_SIG_ISS:
        return None
    return True


async def _grip_hold(
    send, user_id: int, session_key: str | None, last_id: int | None, *, credential: Credential | None = None
) -> None:
    """Answer at once and let Pushpin hold the stream on the user's channel and its credential's (to revoke it)."""
    opened_at = time.time()
    body, replayed_up_to, reset = await _opening(user_id, last_id)
    channels = [user_channel(user_id)] + ([_session_channel(session_key)] if session_key else [])
    channels += stream_credentials.grip_channels(credential) if credential else []
    payload = body.encode()
    headers = [
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-cache, no-transform"),
        (b"x-accel-buffering", b"no"),
        (b"grip-hold", b"stream"),
        (b"grip-channel", ", ".join(channels).encode()),
        (b"grip-keep-alive", f": keep-alive\\n\\n; format=cstring; timeout={GRIP_KEEPALIVE_SECONDS}".encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
    if not reset:  # after a reset the page reloads through the API anyway
        replayed = frozenset(int(i) for i in _ID_LINES.findall(body))
        task = asyncio.get_running_loop().create_task(
            _grip_catch_up(user_id, session_key, replayed_up_to, replayed, opened_at - GRIP_CATCHUP_LATE_COMMIT_SECONDS, last_id or 0)
        )
        _catch_ups.add(task)
        task.add_done_callback(_catch_ups.discard)
    if credential is not None:
        stream_credentials.recheck_held_token_stream(credential, delay=GRIP_CATCHUP_SECONDS)


def _grip_catch_up_frames(
    user_id: int, session_key: str | None, after: int, replayed: frozenset[int], since: float, floor: int
) -> tuple[bool, list[str]]:
    """(whether the stream may stay open, the frames the opening did not send); runs in a worker thread.

    Those are the seqs above `after` (the user's seq read by the opening), and the rows above
    the client's Last-Event-ID (`floor`) created since `since` that were not replayed (with
    seqs in commit order a safety net only). Pushpin cannot rewrite ids per connection: the
    browser's Last-Event-ID is the seq of the last frame it got, so a frame published after a
    higher seq while the page was away is not replayed (the page shows it on its next load).

    One database connection for a token stream (a session stream needs a second, to check the session).
    """
    from datetime import datetime
    from datetime import timezone as dt_timezone

    from django.contrib.auth import get_user_model
    from django.db.models import Q

    from .models import Notification
    from .selectors import notification_unread_count

    if session_key and _authenticate({"cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}"})[0] != user_id:
        return False, []
    close_old_connections()
    try:
        if not session_key and not get_user_model().objects.filter(pk=user_id, is_active=True).exists():
            return False, []
        since_at = datetime.fromtimestamp(since, tz=dt_timezone.utc)
        missed = list(
            Notification.objects.filter(recipient_id=user_id, seq__gt=floor, expired_at__isnull=True)
            .filter(Q(seq__gt=after) | Q(created_at__gte=since_at))
            .exclude(seq__in=replayed)
            .order_by("seq")[: REPLAY_LIMIT + 1]
        )
        unread = notification_unread_count(user_id=user_id) if missed else 0
    finally:
        connection.close()
    if len(missed) > REPLAY_LIMIT:
        return True, [encode_frame("stream-reset", _dumps({"reason": "too many missed; reload from the API"}))]
    frames = [encode_frame("notification", _dumps(notification_payload(n)), n.seq) for n in missed]
    if frames:
        frames.append(encode_frame("unread_count", _dumps({"count": unread})))
    return True, frames


async def _grip_catch_up(
    user_id: int, session_key: str | None, after: int, replayed: frozenset[int], since: float, floor: int
) -> None:
    """Once Pushpin has surely subscribed: republish what was stored after the opening's query.

    A notification committed after that query but published before Pushpin subscribed
    would otherwise never reach this stream. Other open pages of the user get the
    frame twice and drop the repeat by id. A sign-out in that window is repeated too.
    """
    try:
        await asyncio.sleep(GRIP_CATCHUP_SECONDS)
        allowed, frames = await sync_to_async(_grip_catch_up_frames, thread_sensitive=False)(
            user_id, session_key, after, replayed, since, floor
        )
        channel = _session_channel(session_key) if session_key else user_channel(user_id)
        if not allowed:
            farewell = encode_frame("stream-error", _dumps({"reason": "signed out"}))
            items = [(channel, {"http-stream": {"content": farewell}}), (channel, {"http-stream": {"action": "close"}})]
        else:
            items = [(channel, {"http-stream": {"content": frame}}) for frame in frames]
        if items:
            await sync_to_async(_grip_publish, thread_sensitive=False)(items)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - best effort; the page's own reconnect replays too
        logger.warning("GRIP catch-up for user %s failed", user_id, exc_info=True)
