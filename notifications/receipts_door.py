"""POST /receipts/: the pages' acks, off Django's request cycle, written in batches.

A page acks about once a second; thousands of pages ack thousands of times a second. Through
Django each ack would cost a thread, a fresh database connection and an UPDATE in the very
process that relays the streams (its event loop waits for them: bench_streams measured p99
4.7 -> 496 ms at 500 streams and 100 acks/s). Here an ack costs a signature check and a
queue append on the event loop; ReceiptWriter writes what arrived every FLUSH_SECONDS in one
transaction (notifications.receipts, the same rules as the API's door), on one thread with one
connection. The page proves who it is with a receipt token (signed user id, minted when the
page was rendered for a signed-in user): no session or token lookup, no CSRF (a header, not a
cookie). The token can only move its user's own receipts forward; past its max age the page
falls back to the API's door (POST /api/notifications/receipts/).

Acks are best effort: a web process that dies loses at most the last FLUSH_SECONDS of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core import signing
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from project.exceptions import InvalidInput

from . import receipts

logger = logging.getLogger(__name__)

RECEIPTS_PATH = "/receipts/"
TOKEN_HEADER = b"x-receipt-token"
TOKEN_SALT = "notifications.receipts_door"
MAX_BODY_BYTES = 16 * 1024
FLUSH_SECONDS = 0.1
# Acks waiting for the database past which the door answers 503 (the database is down or slow).
MAX_PENDING_IDS = 200_000


def receipt_token_for(user_id: int) -> str:
    return signing.TimestampSigner(salt=TOKEN_SALT).sign(str(user_id))


def receipt_token_user_id(token: str) -> int | None:
    """The user a receipt token was minted for, or None if it is forged, malformed or too old."""
    try:
        value = signing.TimestampSigner(salt=TOKEN_SALT).unsign(token, max_age=settings.NOTIFICATION_RECEIPT_TOKEN_MAX_AGE)
        return int(value)
    except (signing.BadSignature, ValueError):
        return None


class AckThrottle:
    """THROTTLE_NOTIFICATION_RECEIPTS per user, counted in this process (a sliding window)."""

    def __init__(self, rate: str):
        count, _, period = rate.partition("/")
        self.count = int(count)
        self.seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
        self._history: dict[int, deque] = {}

    def wait(self, user_id: int, now: float) -> float:
        """0 if this ack may pass (and counts it), else the seconds until it could."""
        history = self._history.setdefault(user_id, deque())
        while history and history[0] <= now - self.seconds:
            history.popleft()
        if len(history) >= self.count:
            return history[0] + self.seconds - now
        history.append(now)
        if len(self._history) > 100_000:  # forget users whose windows have passed
            self._history = {u: h for u, h in self._history.items() if h and h[-1] > now - self.seconds}
        return 0.0


class ReceiptWriter:
    """This process's acks, written every FLUSH_SECONDS in one transaction, one batch at a time."""

    def __init__(self):
        self._pending: list[receipts.Ack] = []
        self._pending_ids = 0
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def overloaded(self) -> bool:
        return self._pending_ids >= MAX_PENDING_IDS

    def add(self, ack: receipts.Ack) -> None:
        self._pending.append(ack)
        self._pending_ids += len(ack.delivered) + len(ack.seen) + len(ack.clicked)
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is None and self._flushing is None and self._pending:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        batch, self._pending, self._pending_ids = self._pending, [], 0
        try:
            if self._executor is None:
                # One thread, so one database connection, kept between batches.
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="receipts")
            await asyncio.get_running_loop().run_in_executor(self._executor, _write, batch)
        except Exception:
            logger.exception("%d receipt acks could not be written", len(batch))
        finally:
            self._flushing = None
            self._schedule()

    async def close(self) -> None:
        """Write what is queued (at shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is not None:
            await self._flushing
        if self._pending:
            await self._flush()
        if self._executor is not None:
            self._executor.submit(_close_connection).result()  # the writer thread's own
            self._executor.shutdown()
            self._executor = None


def _close_connection() -> None:
    connection.close()


def _write(batch: list[receipts.Ack]) -> None:
    try:
        receipts.notification_receipts_record_many(batch)
    except (OperationalError, InterfaceError):
        # The kept connection may have been dropped (a database restart): once more on a new one.
        connection.close()
        receipts.notification_receipts_record_many(batch)


writer = ReceiptWriter()
_throttles: dict[str, AckThrottle] = {}


def _throttle() -> AckThrottle:
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["notification_receipts"]
    if rate not in _throttles:
        _throttles[rate] = AckThrottle(rate)
    return _throttles[rate]


async def receipts_app(scope, receive, send) -> None:
    """POST /receipts/ with X-Receipt-Token and {"delivered": [ids], "seen": [ids], "clicked": [ids]} -> 202."""
    if scope["method"] != "POST":
        return await _respond(send, 405, {"detail": "Use POST.", "code": "method_not_allowed"}, [(b"allow", b"POST")])
    headers = dict(scope["headers"])
    user_id = receipt_token_user_id(headers.get(TOKEN_HEADER, b"").decode("latin-1"))
    if user_id is None:
        return await _respond(send, 403, {"detail": "A valid receipt token is required.", "code": "permission_denied"})
    body = await _read_body(receive)
    if body is None:
        return await _respond(send, 413, {"detail": f"The request body is too large: the limit is {MAX_BODY_BYTES} bytes.", "code": "request_too_large"})
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return await _respond(send, 400, {"detail": "The body is not valid JSON.", "code": "parse_error"})
    try:
        ids = receipts.receipt_acks_parse(data)
    except InvalidInput as exc:
        errors = {"errors": {exc.field: [exc.message]}} if exc.field else {}
        return await _respond(send, 400, {"detail": exc.message, "code": exc.code, **errors})
    wait = _throttle().wait(user_id, time.monotonic())
    if wait:
        seconds = max(1, round(wait))
        return await _respond(send, 429, {"detail": f"Too many acks; try again in {seconds} s.", "code": "throttled"}, [(b"retry-after", str(seconds).encode())])
    if writer.overloaded:
        return await _respond(send, 503, {"detail": "Receipts are not being written right now.", "code": "unavailable"}, [(b"retry-after", b"5")])
    writer.add(receipts.Ack(user_id, ids["delivered"], ids["seen"], ids["clicked"], timezone.now()))
    await _respond(send, 202, {state: len(ids[state]) for state in receipts.RECEIPT_STATES})


async def _read_body(receive) -> bytes | None:
    """The whole request body, or None past MAX_BODY_BYTES."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send, status: int, body: dict, extra_headers: list | None = None) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra_headers or [])})
    await send({"type": "http.response.body", "body": payload})
