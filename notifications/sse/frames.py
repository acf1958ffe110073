"""The SSE contract: every event's name and payload, and the wire format, stated once.

    stream_open             {}                                  first frame of every stream
    unread_count            {"count": int}                      after the opening, and after reads
    notification            NotificationSerializer's output     id: the user's delivery seq
    notification_read       {"id": int}
    notifications_read      {"ids": [int]}                      several marked read at once (a group)
    notifications_read_all  {}
    notification_expired    {"ids": [int], "job_id": int}       an offer taken by someone else
    stream_reset            {"reason": str}                     missed too many: reload from the API
    stream_error            {"reason": str[, "code": str]}      closed for good: do not reconnect

tests/notifications/test_sse_contract.py pins each shape through the code that sends it.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import FloatField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from .. import reasons
from ..serializers import NotificationSerializer


class Event(StrEnum):
    STREAM_OPEN = "stream_open"
    UNREAD_COUNT = "unread_count"
    NOTIFICATION = "notification"
    NOTIFICATION_READ = "notification_read"
    NOTIFICATIONS_READ = "notifications_read"
    NOTIFICATIONS_READ_ALL = "notifications_read_all"
    NOTIFICATION_EXPIRED = "notification_expired"
    STREAM_RESET = "stream_reset"
    STREAM_ERROR = "stream_error"


SIGNED_OUT = {"reason": "signed out"}
TOO_MANY_STREAMS = {"reason": "too many open streams", "code": "too_many_streams"}
TOO_MANY_MISSED = {"reason": "too many missed; reload from the API"}
# 2 KiB of comment first: some proxies buffer a response's first bytes.
PADDING = f": {' ' * 2048}\n"


def preamble() -> str:
    """The padding, then the browser's reconnect delay: a random one per stream, so that after a
    web process restarts its pages come back spread over SSE_RETRY_MIN_MS..SSE_RETRY_MAX_MS,
    not all in the same second."""
    from django.conf import settings

    return f"{PADDING}retry: {random.randint(settings.SSE_RETRY_MIN_MS, settings.SSE_RETRY_MAX_MS)}\n\n"


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


@functools.cache
def _serializer() -> NotificationSerializer:
    """One serializer for every payload, as DRF's many=True reuses one child for every item:
    a new instance deep-copies every field, which cost more CPU than the output of the row."""
    serializer = NotificationSerializer()
    serializer.fields  # built here, once, not by the first threads that serialize at once
    return serializer


def payload_serializer_prepare() -> None:
    """Build the shared serializer and its fields before the first event (project/warmup.py)."""
    _serializer()


def notification_payload(notification) -> dict:
    """The API's representation of the row: the page renders SSE and API items alike."""
    return _serializer().to_representation(notification)


def notification_frame(notification) -> str:
    return frame(Event.NOTIFICATION, notification_payload(notification), notification.seq)


# A notification's own state, which differs between the rows of one event (a re-publish after acks).
ROW_STATE_KEYS = ("is_read", "read_at", "is_delivered", "delivered_at", "seen_at", "clicked_at")
ROW_STATE_COLUMNS = ("is_read", "read_at", "delivered_at", "seen_at", "clicked_at")
FRESH_ROW_STATE = '"is_read":false,"read_at":null,"is_delivered":false,"delivered_at":null,"seen_at":null,"clicked_at":null,'


def _datetime_field():
    """The serializer's own datetime field."""
    return _serializer().fields["read_at"]


class NotificationFrames:
    """The frames of one event's notifications: the serializer runs once per chunk, not per row.

    Everything but id, recipient and the row's state (read, delivered, seen, clicked) is
    shared by an event's rows, so the serializer runs once (on a sample row), the shared
    part is encoded once, and each row's id and state are spliced in front of it (a fresh
    row's state is encoded once too). An offer's metadata and reason also carry the cleaner's own
    distance and radius: those two numbers come with each row (per_row_columns).
    """

    def __init__(self, sample):
        shared = notification_payload(sample)
        for per_row in ("id", *ROW_STATE_KEYS):
            del shared[per_row]
        self.per_row_columns: tuple = ()
        if reasons.has_per_recipient_reason(sample.metadata):
            # As floats in SQL: cheaper to read than a jsonb value decoded in Python per row.
            self.per_row_columns = tuple(Cast(KT(f"metadata__why__{key}"), FloatField()) for key in ("distance_km", "radius_km"))
            del shared["reason"]  # built per row from the same numbers, in notifications.reasons
            self._why_json = self._why_encoder(shared.pop("metadata"))
        self._shared_json = dumps(shared)[1:]  # without the opening brace: the per-row keys come first
        self._fresh_json = FRESH_ROW_STATE + self._shared_json
        self._datetime = _datetime_field()

    def for_rows(self, rows: Iterable[tuple]) -> Iterator[tuple[int, str]]:
        """(recipient_id, frame) for each (pk, recipient_id, seq, *ROW_STATE_COLUMNS, *per_row_columns) row; the SSE id is the seq."""
        head = f"event: {Event.NOTIFICATION}\ndata: "
        for pk, recipient_id, seq, is_read, read_at, delivered_at, seen_at, clicked_at, *why in rows:
            if not is_read and read_at is delivered_at is seen_at is clicked_at is None:
                body = self._fresh_json
            else:
                body = self._row_state(is_read, read_at, delivered_at, seen_at, clicked_at) + self._shared_json
            if why:
                body = self._why_json(*why) + body
            yield recipient_id, f'id: {seq}\n{head}{{"id":{pk},{body}\n\n'

    def _row_state(self, is_read: bool, read_at, delivered_at, seen_at, clicked_at) -> str:
        def moment(value: datetime | None) -> str:
            return "null" if value is None else json.dumps(self._datetime.to_representation(value))

        return (
            f'"is_read":{"true" if is_read else "false"},"read_at":{moment(read_at)},'
            f'"is_delivered":{"false" if delivered_at is None else "true"},"delivered_at":{moment(delivered_at)},'
            f'"seen_at":{moment(seen_at)},"clicked_at":{moment(clicked_at)},'
        )

    @staticmethod
    def _why_encoder(metadata: dict):
        """'"metadata":{...},"reason":"...",' for one cleaner's distance and radius, the rest encoded once.

        Distances are stored to 0.01 km and radii repeat, so a chunk's rows share few
        (distance, radius) pairs: each pair is encoded once.
        """
        shared_why = {k: v for k, v in metadata["why"].items() if k not in ("distance_km", "radius_km")}
        rest = {k: v for k, v in metadata.items() if k != "why"} | {"why": shared_why}
        metadata_head = dumps(rest)[:-2] + ("," if shared_why else "")  # open at the end of "why"
        reason_tail = dumps(reasons.offer_shared_phrase(metadata["why"]))[1:]  # with its closing quote
        encoded: dict[tuple[float, float], str] = {}

        def encode(distance_km: float, radius_km: float) -> str:
            json_ = encoded.get((distance_km, radius_km))
            if json_ is None:
                # distance_phrase is digits and ASCII: no escaping needed.
                json_ = encoded[distance_km, radius_km] = (
                    f'"metadata":{metadata_head}"distance_km":{dumps(distance_km)},"radius_km":{dumps(radius_km)}}}}},'
                    f'"reason":"{reasons.distance_phrase(distance_km, radius_km)}{reason_tail},'
                )
            return json_

        return encode


def unread_count_frame(count: int) -> str:
    return frame(Event.UNREAD_COUNT, {"count": count})


def stream_open_frame(event_id: int | None = None) -> str:
    return frame(Event.STREAM_OPEN, {}, event_id)


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


def notifications_read_event(*, user_id: int, notification_ids: list[int]) -> StreamEvent:
    return StreamEvent(user_id, Event.NOTIFICATIONS_READ, {"ids": list(notification_ids)})


def notifications_read_all_event(*, user_id: int) -> StreamEvent:
    return StreamEvent(user_id, Event.NOTIFICATIONS_READ_ALL, {})


def notification_expired_event(*, user_id: int, notification_id: int, job_id: int) -> StreamEvent:
    return StreamEvent(user_id, Event.NOTIFICATION_EXPIRED, {"ids": [notification_id], "job_id": job_id})
