"""The SSE contract: every event's name and payload, and the wire format, stated once.

    stream_open             {}                                  first frame of every stream
    unread_count            {"count": int}                      after the opening, and after reads
    notification            NotificationSerializer's output     id: the user's delivery seq
    notification_read       {"id": int}
    notifications_read_all  {}
    notification_expired    {"ids": [int], "job_id": int}       an offer taken by someone else
    stream_reset            {"reason": str}                     missed too many: reload from the API
    stream_error            {"reason": str[, "code": str]}      closed for good: do not reconnect

tests/notifications/test_sse_contract.py pins each shape through the code that sends it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum

from django.core.serializers.json import DjangoJSONEncoder

from ..serializers import NotificationSerializer


class Event(StrEnum):
    STREAM_OPEN = "stream_open"
    UNREAD_COUNT = "unread_count"
    NOTIFICATION = "notification"
    NOTIFICATION_READ = "notification_read"
    NOTIFICATIONS_READ_ALL = "notifications_read_all"
    NOTIFICATION_EXPIRED = "notification_expired"
    STREAM_RESET = "stream_reset"
    STREAM_ERROR = "stream_error"


SIGNED_OUT = {"reason": "signed out"}
TOO_MANY_STREAMS = {"reason": "too many open streams", "code": "too_many_streams"}
TOO_MANY_MISSED = {"reason": "too many missed; reload from the API"}
RETRY_MS = 2000
# 2 KiB of comment first: some proxies buffer a response's first bytes.
PREAMBLE = f": {' ' * 2048}\nretry: {RETRY_MS}\n\n"


@dataclass(frozen=True)
class StreamEvent:
    """One event for one user's open pages (published after the commit it reports)."""

    user_id: int
    event: Event
    data: dict = field(default_factory=dict)
    id: int | None = None


def dumps(data) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":"))


def encode_frame(event: Event, data_json: str, event_id: int | None = None) -> str:
    # json.dumps never emits a raw newline, so the data fits on one "data:" line.
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data_json}\n\n"


def frame(event: Event, data: dict, event_id: int | None = None) -> str:
    return encode_frame(event, dumps(data), event_id)


# --- each event's payload -----------------------------------------------------------------


def notification_payload(notification) -> dict:
    """The API's representation of the row: the page renders SSE and API items alike."""
    return dict(NotificationSerializer(notification).data)


def notification_frame(notification) -> str:
    return frame(Event.NOTIFICATION, notification_payload(notification), notification.seq)


class NotificationBodies:
    """The JSON of one event's notifications, serialized once per chunk, with each row's id spliced in.

    Everything but id, recipient and read state is shared by an event's rows, so the
    serializer runs once (on a sample row) and the body is encoded once per read state.
    """

    def __init__(self, sample):
        self._shared = notification_payload(sample)
        del self._shared["id"]
        self._read_at = NotificationSerializer().fields["read_at"]
        self._encoded: dict[tuple, str] = {}

    def frame(self, *, pk: int, is_read: bool, read_at, seq: int) -> str:
        key = (is_read, read_at)
        body = self._encoded.get(key)
        if body is None:
            read_at_json = None if read_at is None else self._read_at.to_representation(read_at)
            # [1:]: without the opening brace, which comes with the id.
            body = self._encoded[key] = dumps(self._shared | {"is_read": is_read, "read_at": read_at_json})[1:]
        return encode_frame(Event.NOTIFICATION, f'{{"id":{pk},{body}', seq)


def unread_count_frame(count: int) -> str:
    return frame(Event.UNREAD_COUNT, {"count": count})


def stream_open_frame() -> str:
    return frame(Event.STREAM_OPEN, {})


def stream_reset_frame(event_id: int | None = None) -> str:
    return frame(Event.STREAM_RESET, TOO_MANY_MISSED, event_id)


def signed_out_frame() -> str:
    return frame(Event.STREAM_ERROR, SIGNED_OUT)


def superseded_frame() -> str:
    return frame(Event.STREAM_ERROR, TOO_MANY_STREAMS)


def unread_count_event(*, user_id: int, count: int) -> StreamEvent:
    return StreamEvent(user_id, Event.UNREAD_COUNT, {"count": count})


def notification_read_event(*, user_id: int, notification_id: int) -> StreamEvent:
    return StreamEvent(user_id, Event.NOTIFICATION_READ, {"id": notification_id})


def notifications_read_all_event(*, user_id: int) -> StreamEvent:
    return StreamEvent(user_id, Event.NOTIFICATIONS_READ_ALL, {})


def notification_expired_event(*, user_id: int, notification_id: int, job_id: int) -> StreamEvent:
    return StreamEvent(user_id, Event.NOTIFICATION_EXPIRED, {"ids": [notification_id], "job_id": job_id})
