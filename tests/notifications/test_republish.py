"""Publishing a chunk again (a retry, or the sweeper picking it up twice) sends each row as it is now."""

import json
from types import SimpleNamespace

import pytest
from django.utils import timezone

from notifications.sse import frames as sse_frames
from notifications.sse import transports
from notifications.catalog import NotificationType
from notifications.models import Notification, OutboxChunk, OutboxEvent
from notifications.outbox import delivery, dispatch
from tests.factories import CleanerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def frames(monkeypatch):
    """Every (user_id, frame) the publisher sends, decoded to (SSE id, event, data)."""
    sent = []

    def capture(pairs):
        for user_id, frame in pairs:
            lines = dict(line.split(": ", 1) for line in frame.strip().split("\n"))
            sent.append((user_id, int(lines["id"]), lines["event"], json.loads(lines["data"])))
        return len(sent)

    monkeypatch.setattr(transports, "current", lambda: SimpleNamespace(send_frames=capture))
    return sent


def expected_frame(notification):
    data = json.loads(sse_frames.dumps(sse_frames.notification_payload(notification)))
    return (notification.recipient_id, notification.seq, "notification", data)  # the SSE id is the seq


@pytest.mark.usefixtures("chunked_path")
def test_a_republished_chunk_sends_each_row_its_own_read_state_and_skips_retracted_rows(frames, monkeypatch):
    monkeypatch.setattr(dispatch, "FANOUT_CHUNK_SIZE", 10)
    cleaners = CleanerFactory.create_batch(4)
    event = OutboxEvent.objects.create(
        event_type=NotificationType.SYSTEM_ALERT, payload={"audience": "cleaners", "title": "Hi", "message": "News"}
    )
    dispatch.outbox_event_dispatch(event_id=event.pk)
    assert [user_id for user_id, *_ in frames] == [c.pk for c in cleaners]
    read, unread, expired, unread_too = (Notification.objects.get(recipient=c, event=event) for c in cleaners)
    Notification.objects.filter(pk=read.pk).update(is_read=True, read_at=timezone.now())
    Notification.objects.filter(pk=expired.pk).update(expired_at=timezone.now())

    frames.clear()
    OutboxChunk.objects.filter(event=event).update(is_done=False)  # as if the worker died before "done"
    delivery.outbox_chunk_deliver(chunk_id=OutboxChunk.objects.get(event=event).pk)

    read.refresh_from_db()
    assert frames == [expected_frame(read), expected_frame(unread), expected_frame(unread_too)]
    assert [data["is_read"] for *_, data in frames] == [True, False, False]


@pytest.mark.usefixtures("chunked_path")
def test_a_republished_chunk_sends_each_row_its_own_receipts(frames, monkeypatch):
    """The first row's delivered/seen/clicked times must not be copied onto the others."""
    monkeypatch.setattr(dispatch, "FANOUT_CHUNK_SIZE", 10)
    cleaners = CleanerFactory.create_batch(3)
    event = OutboxEvent.objects.create(
        event_type=NotificationType.SYSTEM_ALERT, payload={"audience": "cleaners", "title": "Hi", "message": "News"}
    )
    dispatch.outbox_event_dispatch(event_id=event.pk)
    clicked, fresh, delivered = (Notification.objects.get(recipient=c, event=event) for c in cleaners)
    now = timezone.now()
    Notification.objects.filter(pk=clicked.pk).update(delivered_at=now, seen_at=now, clicked_at=now)
    Notification.objects.filter(pk=delivered.pk).update(delivered_at=now)

    frames.clear()
    OutboxChunk.objects.filter(event=event).update(is_done=False)
    delivery.outbox_chunk_deliver(chunk_id=OutboxChunk.objects.get(event=event).pk)

    for row in (clicked, fresh, delivered):
        row.refresh_from_db()
    assert frames == [expected_frame(clicked), expected_frame(fresh), expected_frame(delivered)]
    assert [data["is_delivered"] for *_, data in frames] == [True, False, True]
