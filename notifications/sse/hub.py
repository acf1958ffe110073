"""This process's open streams: one bounded queue per stream, one Redis subscription per user channel.

Without REDIS_URL (the embedded default) publishers in this process hand frames straight to
the hub (transports.InProcessTransport); with it, the hub's reader relays what any process
published. Control messages ("disconnect", "revalidate") close streams whose credential went.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import threading
from collections import defaultdict

from django.conf import settings

from . import database
from .channels import CONTROL_CHANNEL, user_channel, user_of_channel
from .credentials import Credential, revoked

logger = logging.getLogger(__name__)

# Frames waiting for one slow client; past this it is disconnected and replays on reconnect.
LISTENER_QUEUE_SIZE = 1000
# Why a listener was closed (Listener.closed_reason); limits.SUPERSEDED is another.
DISCONNECTED = "disconnected"  # its credential was revoked: told so, and its reconnect is refused


_listener_order = itertools.count()


class Listener:
    """One open stream: a bounded queue of frames for one user."""

    def __init__(self, user_id: int, session_key: str | None, credential: Credential | None = None):
        self.user_id = user_id
        self.session_key = session_key
        self.credential = credential or Credential(user_id, session_key=session_key)
        self.opened = next(_listener_order)  # which of a user's streams is the oldest
        # Frames, None once the hub closes it, and the endpoint's own markers (endpoint.CLIENT_LEFT, KEEPALIVE).
        self.queue: asyncio.Queue[str | object | None] = asyncio.Queue(maxsize=LISTENER_QUEUE_SIZE)
        self.closed_reason: str | None = None

    def put(self, frame: str) -> None:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.close("overflow")

    def close(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
            self.put_last(None)

    def put_last(self, item) -> None:
        """Put an item that ends the stream, even into a full queue (the oldest frame makes room)."""
        while True:
            try:
                self.queue.put_nowait(item)
                break
            except asyncio.QueueFull:
                self.queue.get_nowait()


class _SubscribeBatch:
    def __init__(self):
        self.channels: list[str] = []
        self.sent = asyncio.get_running_loop().create_future()


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
        self._subscribe_batch: _SubscribeBatch | None = None
        self._reader_lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task] = set()
        self.stopping = False  # the process is going away: its subscriptions end with the connection

    # called on the event loop -----------------------------------------------

    async def attach(self, listener: Listener) -> None:
        self.loop = asyncio.get_running_loop()
        with self._lock:
            first = not self.listeners[listener.user_id]
            self.listeners[listener.user_id].add(listener)
            self.open_streams += 1
        if self.stopping:
            # Accepted as the process was told to stop: it ends after its opening, like the others did.
            listener.close("shutdown")
            return
        if settings.REDIS_URL:
            await self._ensure_reader()
            channel = user_channel(listener.user_id)
            if first or channel not in self._subscribed:
                ready = self._subscribed.setdefault(channel, asyncio.Event())
                await self._subscribe(channel)
                await asyncio.wait_for(ready.wait(), timeout=5)
            else:
                await asyncio.wait_for(self._subscribed[channel].wait(), timeout=5)

    async def _subscribe(self, channel: str) -> None:
        """SUBSCRIBE `channel` together with every other stream opening in this turn of the loop.

        redis-py's own work per command (connection check, retry wrapper, events, timing) was
        about a sixth of a stream's opening; streams open in batches (database.run_batched), so
        one command per batch saves it for all but one. Raises what the command raised.
        """
        batch = self._subscribe_batch
        if batch is None:
            batch = self._subscribe_batch = _SubscribeBatch()
            task = asyncio.get_running_loop().create_task(self._send_subscribe_batch())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        batch.channels.append(channel)
        await asyncio.shield(batch.sent)

    async def _send_subscribe_batch(self) -> None:
        batch, self._subscribe_batch = self._subscribe_batch, None
        # A stream that went away before this turn has taken its channel out of _subscribed.
        wanted = [channel for channel in dict.fromkeys(batch.channels) if channel in self._subscribed]
        try:
            if wanted:
                await self._pubsub.subscribe(*wanted)
        except asyncio.CancelledError:
            batch.sent.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - every stream of the batch is refused alike
            batch.sent.set_exception(exc)
            batch.sent.exception()  # retrieved here too: a batch whose streams all left is not an error
        else:
            batch.sent.set_result(None)

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
        if last and settings.REDIS_URL and self._pubsub is not None and not self.stopping:
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
            self._schedule_revalidation(command["user_id"])
            return
        if command.get("action") != "disconnect":
            return
        for listener in self.listeners_of(command["user_id"]):
            if command.get("session_key") in (None, listener.session_key) and command.get("token_digest") in (
                None, listener.credential.token_digest
            ):
                listener.close(DISCONNECTED)

    def listeners_of(self, user_id: int) -> list[Listener]:
        with self._lock:
            return list(self.listeners.get(user_id, ()))

    def close_all(self, reason: str) -> None:
        with self._lock:
            targets = [listener for users in self.listeners.values() for listener in users]
        for listener in targets:
            listener.close(reason)

    def _schedule_revalidation(self, user_id: int) -> None:
        task = asyncio.get_running_loop().create_task(self._revalidate(user_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _revalidate(self, user_id: int) -> None:
        """After a password change: close the user's streams whose credential no longer holds."""
        listeners = self.listeners_of(user_id)
        if not listeners:
            return
        try:
            answers = await database.threads.run(revoked, [listener.credential for listener in listeners])
        except Exception:  # noqa: BLE001 - the database is down: keep the streams, the next reconnect re-checks
            logger.warning("Could not re-check the streams of user %s", user_id, exc_info=True)
            return
        for listener, gone in zip(listeners, answers):
            if gone:
                listener.close(DISCONNECTED)

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
                        self.deliver(user_of_channel(channel), data)
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

    def stop_streams(self) -> None:
        """End every stream for good (the process is stopping), without unsubscribing each one's
        channel: 10,000 UNSUBSCRIBEs and their replies kept the event loop busy for ~10 s."""
        self.stopping = True
        self.close_all("shutdown")

    async def shutdown(self) -> None:
        self.stop_streams()
        if self._reader is not None:
            self._reader.cancel()


hub = StreamHub()
