"""How frames leave a publishing process: one transport, chosen from settings once.

- PushpinTransport (GRIP_URL): Pushpin holds the streams; frames are POSTed to its
  publish endpoint in batches (one HTTP request per batch, never one per event).
- RedisTransport (REDIS_URL): PUBLISH on each user's channel in pipelined batches;
  every web process's hub relays what its own streams subscribe to.
- InProcessTransport (neither: the embedded default): straight to this process's hub.

`current()` builds the transport for the settings it runs with and keeps it; tests that
change REDIS_URL or GRIP_URL get the matching one.
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
import threading
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import urlsplit

from django.conf import settings

from . import frames
from .channels import CONTROL_CHANNEL, user_channel
from .hub import StreamHub, hub

logger = logging.getLogger(__name__)

PUBLISH_BATCH = 2000
# Pushpin refuses publish bodies over push_in_http_max_body_size (1,000,000 bytes by default).
GRIP_BATCH_BYTES = 900_000


class Transport(Protocol):
    # True when a proxy (Pushpin) holds the streams: the app only answers their opening.
    holds_streams_elsewhere: bool

    def send_frames(self, frames: Iterable[tuple[int, str]]) -> int:
        """Deliver (user_id, frame) pairs to the users' open streams; the number sent."""

    def cut_off(self, *, control: dict, grip_channel: str) -> None:
        """Close streams: `control` tells the hubs which ones; Pushpin closes those on `grip_channel`."""

    def connect(self) -> None:
        """Open what the first send would (a process warming up: project/warmup.py)."""


class InProcessTransport:
    holds_streams_elsewhere = False

    def __init__(self, stream_hub: StreamHub):
        self.hub = stream_hub

    def send_frames(self, frames: Iterable[tuple[int, str]]) -> int:
        sent = 0
        for user_id, frame in frames:
            self.hub.deliver_threadsafe(user_id, frame)
            sent += 1
        return sent

    def cut_off(self, *, control: dict, grip_channel: str) -> None:
        self.hub.control_threadsafe(frames.dumps(control))

    def connect(self) -> None:
        pass


class RedisTransport:
    holds_streams_elsewhere = False

    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)

    def send_frames(self, frames: Iterable[tuple[int, str]]) -> int:
        sent = 0
        pipe = self.client.pipeline(transaction=False)
        for user_id, frame in frames:
            pipe.publish(user_channel(user_id), frame)
            sent += 1
            if sent % PUBLISH_BATCH == 0:
                pipe.execute()
        pipe.execute()
        return sent

    def cut_off(self, *, control: dict, grip_channel: str) -> None:
        self.client.publish(CONTROL_CHANNEL, frames.dumps(control))

    def connect(self) -> None:
        self.client.ping()  # the connection stays in the client's pool


class PushpinTransport:
    """GRIP publishing over kept-alive HTTP connections (one per thread)."""

    holds_streams_elsewhere = True

    def __init__(self, url: str):
        self.url = urlsplit(url)
        self.path = self.url.path.rstrip("/") + "/publish/"
        self._local = threading.local()

    def send_frames(self, frames: Iterable[tuple[int, str]]) -> int:
        return self.publish((user_channel(user_id), {"http-stream": {"content": frame}}) for user_id, frame in frames)

    def cut_off(self, *, control: dict, grip_channel: str) -> None:
        self.close_channel(grip_channel)

    def connect(self) -> None:
        pass  # a kept-alive connection per thread: one opened here would serve no request's thread

    def close_channel(self, channel: str) -> None:
        """Tell the streams Pushpin holds on a channel why, then close them (their reconnect gets a 403)."""
        self.publish([
            (channel, {"http-stream": {"content": frames.signed_out_frame()}}),
            (channel, {"http-stream": {"action": "close"}}),
        ])

    def publish(self, items: Iterable[tuple[str, dict]]) -> int:
        """Publish (channel, formats) items: one HTTP request per batch, never one per event."""
        sent = 0
        batch: list[bytes] = []
        size = 0
        for channel, formats in items:
            item = json.dumps({"channel": channel, "formats": formats}, separators=(",", ":")).encode()
            if batch and (len(batch) >= PUBLISH_BATCH or size + len(item) > GRIP_BATCH_BYTES):
                self._post(b'{"items":[' + b",".join(batch) + b"]}")
                batch, size = [], 0
            batch.append(item)
            size += len(item) + 1
            sent += 1
        if batch:
            self._post(b'{"items":[' + b",".join(batch) + b"]}")
        return sent

    def _post(self, body: bytes) -> None:
        """POST one batch to {GRIP_URL}/publish/ on this thread's kept-alive connection."""
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                factory = http.client.HTTPSConnection if self.url.scheme == "https" else http.client.HTTPConnection
                conn = self._local.conn = factory(self.url.netloc, timeout=10)
            try:
                conn.request("POST", self.path, body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                detail = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
                continue  # a kept-alive connection the proxy had closed: once more on a new one
            if response.status >= 300:
                raise RuntimeError(f"Pushpin refused a publish: {response.status} {detail[:200]!r}")
            return


@functools.cache
def _for(grip_url: str, redis_url: str) -> Transport:
    if grip_url:
        return PushpinTransport(grip_url)
    if redis_url:
        return RedisTransport(redis_url)
    return InProcessTransport(hub)


def current() -> Transport:
    """The transport of this configuration (GRIP_URL, else REDIS_URL, else in-process)."""
    return _for(settings.GRIP_URL, settings.REDIS_URL)
