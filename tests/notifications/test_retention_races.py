"""Retention against real PostgreSQL: purging while new rows arrive and rows are read, and the SSE replay over its holes."""

import asyncio
import threading
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
import time_machine
from django.db import connection
from rest_framework.authtoken.models import Token

from notifications import services
from notifications.catalog import NotificationType
from notifications.models import Notification, NotificationSequence
from notifications.retention import retention_purge
from notifications.sse import publishing
from notifications.sse.opening import REPLAY_LIMIT
from tests.factories import UserFactory
from tests.notifications.factories import NotificationFactory
from tests.notifications.in_process_sse import InProcessStream

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=dt_timezone.utc)
LATER = T0 + timedelta(days=400)  # every row made at T0 is due


def test_purge_in_small_batches_while_new_rows_arrive_and_old_ones_are_read():
    users = UserFactory.create_batch(4)
    with time_machine.travel(T0, tick=False):
        old = [NotificationFactory(recipient=users[i % 4], notification_type=NotificationType.BID_RECEIVED) for i in range(120)]
    errors, arrived, stop = [], [], threading.Event()

    def insert_new_rows():
        try:
            while not stop.is_set():
                batch = [Notification(recipient=u, notification_type=NotificationType.MESSAGE_RECEIVED, title="new") for u in users]
                arrived.extend(n.pk for n in Notification.objects.bulk_create(batch))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    def mark_old_rows_read():
        try:
            for notification in old[::7]:
                try:
                    services.notification_mark_read(user=notification.recipient, notification_id=notification.pk)
                except services.NotFound:
                    pass  # purged first: gone is gone
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    with time_machine.travel(LATER, tick=False):
        threads = [threading.Thread(target=insert_new_rows), threading.Thread(target=mark_old_rows_read)]
        for thread in threads:
            thread.start()
        try:
            runs = [retention_purge(budget_seconds=60, batch_ids=7, pause_seconds=0.001)]
            while runs[-1].stopped_because != "caught_up":
                runs.append(retention_purge(budget_seconds=60, batch_ids=7, pause_seconds=0.001))
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        assert errors == []
        # Rows locked by a reader were skipped (SKIP LOCKED); read now or not, at 400 days old they are due.
        for _ in range(3):
            if not Notification.objects.filter(pk__in=[n.pk for n in old]).exists():
                break
            retention_purge(budget_seconds=60, batch_ids=7, pause_seconds=0)
        assert not Notification.objects.filter(pk__in=[n.pk for n in old]).exists()

    assert sum(run.deleted for run in runs) <= len(old)
    assert arrived and set(Notification.objects.values_list("pk", flat=True)) == set(arrived)  # none of the new ones went
    for user in users:
        seqs = list(Notification.objects.filter(recipient=user).order_by("seq").values_list("seq", flat=True))
        last = NotificationSequence.objects.get(user=user).last_seq
        assert seqs == list(range(last - len(seqs) + 1, last + 1))  # the new rows stay gapless, up to the counter


@pytest.fixture
def in_process_hub(settings):
    settings.REDIS_URL = ""
    settings.GRIP_URL = ""


def reconnect_and_receive_one_live(user, last_event_id: int):
    """Open a stream with Last-Event-ID, then have one new notification published; the frames received."""
    headers = {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}

    async def scenario():
        stream = InProcessStream(headers, f"lastEventId={last_event_id}".encode())
        await stream.wait_open()
        await stream.wait(lambda s: "unread_count" in s.body or "stream_reset" in s.body)

        def produce():
            try:
                live = Notification.objects.create(recipient=user, notification_type=NotificationType.SYSTEM_ALERT, title="live")
                publishing.publish_notifications(Notification.objects.filter(pk=live.pk))
            finally:
                connection.close()

        await asyncio.to_thread(produce)
        await stream.wait(lambda s: '"title": "live"' in s.body or '"title":"live"' in s.body)
        frames = stream.frames()
        await stream.hang_up()
        return frames

    return asyncio.run(scenario())


def test_a_reconnect_from_before_the_purged_rows_gets_what_is_left_then_live(in_process_hub):
    user = UserFactory()
    with time_machine.travel(T0, tick=False):
        purged = NotificationFactory.create_batch(6, recipient=user, notification_type=NotificationType.SYSTEM_ALERT)
    kept = NotificationFactory.create_batch(4, recipient=user, notification_type=NotificationType.BID_RECEIVED)
    with time_machine.travel(T0 + timedelta(days=91), tick=False):
        assert retention_purge(budget_seconds=60, pause_seconds=0).deleted == 6

    frames = reconnect_and_receive_one_live(user, last_event_id=purged[1].seq)  # seq 2: 3..6 are gone

    events = [(frame_id, event, data.get("id")) for frame_id, event, data in frames if event != "unread_count"]
    assert events[0][1] == "stream_open"
    assert events[1:] == [
        (str(n.seq), "notification", n.pk) for n in kept  # the survivors, in order
    ] + [("11", "notification", Notification.objects.get(title="live").pk)]  # live, next seq: no gap waited for


def test_a_reconnect_whose_every_missed_row_was_purged_opens_empty_and_goes_on_live(in_process_hub):
    user = UserFactory()
    with time_machine.travel(T0, tick=False):
        NotificationFactory.create_batch(5, recipient=user, notification_type=NotificationType.SYSTEM_ALERT)
    with time_machine.travel(T0 + timedelta(days=91), tick=False):
        retention_purge(budget_seconds=60, pause_seconds=0)

    frames = reconnect_and_receive_one_live(user, last_event_id=1)

    assert [(frame_id, event) for frame_id, event, _ in frames] == [
        (None, "stream_open"), (None, "unread_count"), ("6", "notification"),
    ]


def test_a_reconnect_too_far_behind_after_a_purge_still_gets_reset(in_process_hub):
    user = UserFactory()
    with time_machine.travel(T0, tick=False):
        NotificationFactory.create_batch(3, recipient=user, notification_type=NotificationType.SYSTEM_ALERT)
    Notification.objects.bulk_create(
        [Notification(recipient=user, notification_type=NotificationType.BID_RECEIVED, title=f"n{i}") for i in range(REPLAY_LIMIT + 1)]
    )
    with time_machine.travel(T0 + timedelta(days=91), tick=False):
        assert retention_purge(budget_seconds=60, pause_seconds=0).deleted == 3

    frames = reconnect_and_receive_one_live(user, last_event_id=1)

    assert [event for _, event, _ in frames][:2] == ["stream_open", "stream_reset"]
    assert [event for _, event, _ in frames].count("notification") == 1  # only the live one
