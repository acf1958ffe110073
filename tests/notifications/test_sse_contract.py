"""The SSE contract: every event in notifications.sse.frames.Event, produced by the code that sends it.

Each frame is read off a real /events/ stream of the ASGI app in this process (the
in-process hub), sent by the service, task or endpoint that sends it in production,
and its data must have exactly the keys and types below. A `notification` frame's data
is the API's NotificationSerializer output for the same row, whether replayed or live.
"""

import asyncio
import json
import re

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from notifications import services
from notifications.catalog import NotificationType
from notifications.models import Notification
from notifications.outbox import dispatch
from notifications.serializers import NotificationSerializer
from notifications.sse import endpoint, opening, publishing, revocation
from notifications.sse.frames import Event
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory
from tests.notifications.in_process_sse import InProcessStream

pytestmark = pytest.mark.django_db(transaction=True)

NOTIFICATION_KEYS = {
    "id": int, "notification_type": str, "title": str, "message": str, "priority": str, "is_read": bool,
    "read_at": (str, type(None)), "is_delivered": bool, "delivered_at": (str, type(None)),
    "seen_at": (str, type(None)), "clicked_at": (str, type(None)), "action_url": str, "metadata": dict,
    "created_at": str, "reason": str, "group_key": (str, type(None)),
}
# Event -> {key: type}: the whole payload, no more keys, no fewer.
SHAPES = {
    Event.STREAM_OPEN: {},
    Event.UNREAD_COUNT: {"count": int},
    Event.NOTIFICATION: NOTIFICATION_KEYS,
    Event.NOTIFICATION_READ: {"id": int},
    Event.NOTIFICATIONS_READ: {"ids": list},
    Event.NOTIFICATIONS_READ_ALL: {},
    Event.NOTIFICATION_EXPIRED: {"ids": list, "job_id": int},
    Event.STREAM_RESET: {"reason": str},
    Event.STREAM_ERROR: {"reason": str},
}
TOO_MANY_STREAMS_ERROR = {"reason": str, "code": str}


def shape(data: dict) -> dict:
    return {key: type(value) for key, value in data.items()}


def assert_shape(event: str, data: dict, expected: dict | None = None) -> None:
    expected = SHAPES[Event(event)] if expected is None else expected
    assert set(data) == set(expected), event
    for key, kind in expected.items():
        assert isinstance(data[key], kind), (event, key, data[key])


def api_item(notification: Notification) -> dict:
    notification.refresh_from_db()
    return json.loads(json.dumps(NotificationSerializer(notification).data))


def token_headers(user) -> dict[str, str]:
    return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


@pytest.fixture
def in_process_hub(settings):
    settings.REDIS_URL = ""
    settings.GRIP_URL = ""


def test_every_event_name_has_a_pinned_shape_and_one_style():
    assert set(SHAPES) == set(Event)
    assert all(name == name.lower() and "-" not in name for name in Event)


def test_each_event_reaches_an_open_stream_with_its_exact_shape(in_process_hub):
    job = CleaningJobFactory()  # before the cleaner exists: its own offers go to nobody
    cleaner = CleanerFactory()
    missed = Notification.objects.create(
        recipient=cleaner, notification_type=NotificationType.SYSTEM_ALERT, title="Missed", priority="urgent",
        metadata={"k": 1},
    )
    headers = token_headers(cleaner)

    async def scenario():
        # Last-Event-ID 0: the opening replays `missed`.
        stream = InProcessStream(headers, b"lastEventId=0")
        await stream.wait_open()
        await stream.wait(lambda s: "unread_count" in s.body)

        def produce():
            offer = Notification.objects.create(
                recipient=cleaner, notification_type=NotificationType.JOB_CREATED, title="Offer", job=job
            )
            publishing.publish_notifications(Notification.objects.filter(pk=offer.pk))  # as the pipeline does
            services.notification_mark_read(user=cleaner, notification_id=missed.pk)
            dispatch.job_offers_retract(job_id=job.pk)
            services.notifications_mark_all_read(user=cleaner)
            revocation.disconnect_user(user_id=cleaner.pk)
            return offer

        offer = await asyncio.to_thread(produce)
        await stream.wait(lambda s: s.ended)
        received = stream.frames()
        await stream.hang_up()
        return offer, received

    offer, received = asyncio.run(scenario())

    assert [event for _, event, _ in received] == [
        "stream_open", "notification", "unread_count",  # the opening: replay, then the count
        "notification",  # live, from the pipeline's publisher
        "notification_read", "unread_count",
        "notification_expired",
        "notifications_read_all", "unread_count",
        "stream_error",  # signed out: the page must not reconnect
    ]
    for _, event, data in received:
        assert_shape(event, data)
    (_, _, replayed), (_, _, live) = [(i, e, d) for i, e, d in received if e == "notification"]
    missed_api = api_item(missed)
    assert replayed == missed_api | {"is_read": False, "read_at": None}  # as it was when replayed
    assert live == api_item(offer) | {"is_read": False, "read_at": None}
    by_event = {event: data for _, event, data in received}
    assert by_event["notification_read"] == {"id": missed.pk}
    assert by_event["notification_expired"] == {"ids": [offer.pk], "job_id": job.pk}
    assert by_event["stream_error"] == {"reason": "signed out"}
    assert [d for _, e, d in received if e == "unread_count"] == [{"count": 1}, {"count": 1}, {"count": 0}]
    assert [i for i, e, _ in received if e == "notification"] == [str(missed.seq), str(offer.seq)]


def test_a_read_notification_is_published_with_the_apis_read_at(in_process_hub):
    user = ClientFactory()
    notification = Notification.objects.create(recipient=user, notification_type=NotificationType.SYSTEM_ALERT, title="Hi")
    services.notification_mark_read(user=user, notification_id=notification.pk)
    headers = token_headers(user)

    async def scenario():
        stream = InProcessStream(headers)
        await stream.wait_open()
        await stream.wait(lambda s: "unread_count" in s.body)
        await asyncio.to_thread(publishing.publish_notifications, Notification.objects.filter(pk=notification.pk))
        await stream.wait(lambda s: "event: notification\n" in s.body)
        received = stream.frames()
        await stream.hang_up()
        return received

    [data] = [d for _, e, d in asyncio.run(scenario()) if e == "notification"]
    assert_shape("notification", data)
    assert data == api_item(notification)
    assert data["is_read"] is True and data["read_at"] is not None


def test_too_many_missed_gives_stream_reset_with_the_seq_to_resume_from(in_process_hub, monkeypatch):
    monkeypatch.setattr(opening, "REPLAY_LIMIT", 1)
    user = ClientFactory()
    for title in ("a", "b"):
        Notification.objects.create(recipient=user, notification_type=NotificationType.SYSTEM_ALERT, title=title)
    headers = token_headers(user)

    async def scenario():
        stream = InProcessStream(headers, b"lastEventId=0")
        await stream.wait(lambda s: "unread_count" in s.body)
        received = stream.frames()
        await stream.hang_up()
        return received

    received = asyncio.run(scenario())

    assert [(i, e) for i, e, _ in received] == [(None, "stream_open"), ("2", "stream_reset"), (None, "unread_count")]
    assert_shape("stream_reset", received[1][2])
    assert received[2][2] == {"count": 2}


def test_a_stream_closed_for_a_newer_one_gets_stream_error_with_a_code(in_process_hub, settings):
    settings.SSE_MAX_STREAMS_PER_USER = 1
    headers = token_headers(ClientFactory())

    async def scenario():
        oldest = InProcessStream(headers)
        await oldest.wait_open()
        newest = InProcessStream(headers)
        await newest.wait_open()
        await oldest.wait(lambda s: s.ended)
        received = oldest.frames()
        await oldest.hang_up()
        await newest.hang_up()
        return received

    *_, (_, event, data) = asyncio.run(scenario())

    assert event == "stream_error"
    assert_shape(event, data, TOO_MANY_STREAMS_ERROR)
    assert data == {"reason": "too many open streams", "code": "too_many_streams"}


def test_each_stream_tells_its_browser_a_reconnect_delay_drawn_within_the_settings(in_process_hub, settings):
    # After a restart every page reconnects after its own delay: spread out, not all at once.
    settings.SSE_RETRY_MIN_MS, settings.SSE_RETRY_MAX_MS = 1000, 8000
    user = ClientFactory()

    delays = [int(re.search(r"^retry: (\d+)$", opening.read_opening(user_id=user.pk, last_seq=None).body, re.M).group(1)) for _ in range(50)]

    assert all(1000 <= delay <= 8000 for delay in delays)
    assert len(set(delays)) > 25


def test_marking_a_group_read_sends_its_ids_then_the_count(in_process_hub):
    user = ClientFactory()
    members = [
        Notification.objects.create(recipient=user, notification_type=NotificationType.BID_RECEIVED, title=f"Bid {i}", group_key="bids:job:1")
        for i in range(2)
    ]
    other = Notification.objects.create(recipient=user, notification_type=NotificationType.SYSTEM_ALERT, title="Other")
    headers = token_headers(user)

    async def scenario():
        stream = InProcessStream(headers)
        await stream.wait_open()
        await stream.wait(lambda s: "unread_count" in s.body)
        await asyncio.to_thread(services.notifications_mark_group_read, user=user, group_key="bids:job:1")
        await stream.wait(lambda s: s.body.count("unread_count") == 2)
        received = stream.frames()
        await stream.hang_up()
        return received

    received = asyncio.run(scenario())

    assert [e for _, e, _ in received] == ["stream_open", "unread_count", "notifications_read", "unread_count"]
    for _, event, data in received:
        assert_shape(event, data)
    assert received[2][2] == {"ids": [m.pk for m in members]}
    assert received[3][2] == {"count": 1}
    assert not Notification.objects.get(pk=other.pk).is_read


def test_a_stream_opened_without_a_position_is_given_one_so_its_reconnect_replays_what_it_missed(in_process_hub):
    # An EventSource opened without Last-Event-ID (an API client) that has received no notification
    # yet would reconnect without one, and what was stored while it was away would never come.
    user = ClientFactory()
    Notification.objects.create(recipient=user, notification_type=NotificationType.SYSTEM_ALERT, title="before")
    headers = token_headers(user)

    async def scenario():
        first = InProcessStream(headers)
        await first.wait(lambda s: "unread_count" in s.body)
        opened = first.frames()
        await first.hang_up()
        await asyncio.to_thread(
            Notification.objects.create, recipient=user, notification_type=NotificationType.SYSTEM_ALERT, title="while away"
        )
        again = InProcessStream({**headers, "last-event-id": opened[0][0]})
        await again.wait(lambda s: "unread_count" in s.body)
        received = again.frames()
        await again.hang_up()
        return opened, received

    opened, received = asyncio.run(scenario())

    assert [(i, e) for i, e, _ in opened] == [("1", "stream_open"), (None, "unread_count")]
    assert [(i, e) for i, e, _ in received[:2]] == [(None, "stream_open"), ("2", "notification")]
    assert received[1][2]["title"] == "while away"


def test_an_idle_stream_gets_a_keep_alive_comment_each_interval_and_a_busy_one_none(in_process_hub, monkeypatch):
    monkeypatch.setattr(endpoint, "KEEPALIVE_SECONDS", 0.2)
    idle, busy = ClientFactory(), ClientFactory()
    idle_headers, busy_headers = token_headers(idle), token_headers(busy)

    def notify_busy(n):
        try:
            notification = Notification.objects.create(recipient=busy, notification_type=NotificationType.SYSTEM_ALERT, title=f"#{n}")
            publishing.publish_notifications(Notification.objects.filter(pk=notification.pk))
        finally:
            connection.close()  # the executor thread's own

    async def scenario():
        idle_stream, busy_stream = InProcessStream(idle_headers), InProcessStream(busy_headers)
        await idle_stream.wait_open()
        await busy_stream.wait_open()
        for n in range(6):  # a frame every 0.1 s: never idle for a whole interval
            await asyncio.to_thread(notify_busy, n)
            await asyncio.sleep(0.1)
        await idle_stream.wait(lambda s: s.body.count(": keep-alive\n\n") >= 2)
        bodies = idle_stream.body, busy_stream.body
        await idle_stream.hang_up()
        await busy_stream.hang_up()
        return bodies

    idle_body, busy_body = asyncio.run(scenario())

    assert idle_body.count(": keep-alive\n\n") >= 2
    assert busy_body.count("event: notification\n") == 6
    assert ": keep-alive" not in busy_body
