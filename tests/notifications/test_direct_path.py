"""The direct path: an event with a few recipients in one transaction, exactly once, in commit order."""

import json
import threading
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from redis.exceptions import ConnectionError as RedisConnectionError

from jobs.models import JobBid
from notifications import trace
from notifications.catalog import NotificationType
from notifications.models import ChannelDelivery, Notification, OutboxChunk, OutboxEvent, OutboxStatus
from notifications.outbox import dispatch
from notifications.outbox_audiences import progress_label, with_fanout_progress
from notifications.sse import transports
from tests.factories import CleanerFactory, CleaningJobFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def frames(monkeypatch):
    """Every notification frame handed to the transport, as (user id, notification id, SSE id)."""
    sent = []

    def capture(pairs):
        for user_id, frame in pairs:
            lines = dict(line.split(": ", 1) for line in frame.strip().split("\n"))
            sent.append((user_id, json.loads(lines["data"])["id"], int(lines["id"])))
        return len(sent)

    monkeypatch.setattr(transports, "current", lambda: SimpleNamespace(send_frames=capture))
    return sent


def bid_events(count: int = 1):
    """`count` bids on one client's job (each by its own cleaner) and their pending bid_received events."""
    job = CleaningJobFactory()  # its job_created event runs (eagerly) and is done
    # bulk_create skips post_save: each event is recorded by hand, as the signal would.
    bids = JobBid.objects.bulk_create(
        [JobBid(job=job, cleaner=CleanerFactory(), amount=Decimal("75.00")) for _ in range(count)]
    )
    events = [OutboxEvent.objects.create(event_type=NotificationType.BID_RECEIVED, payload={"bid_id": b.pk}) for b in bids]
    return job.client, events


def run_concurrently(targets):
    barrier = threading.Barrier(len(targets))
    errors = []

    def worker(target):
        try:
            barrier.wait()
            target()
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


def test_one_bids_event_is_one_transaction_of_at_most_twelve_statements(frames):
    client, [event] = bid_events()

    with CaptureQueriesContext(connection) as captured:
        dispatch.outbox_event_dispatch(event_id=event.pk)

    statements = [q["sql"] for q in captured.captured_queries]
    # Everything between one BEGIN and its COMMIT: nothing ran in a transaction of its own.
    assert (statements[0], statements[-1]) == ("BEGIN", "COMMIT"), statements
    assert statements.count("BEGIN") == 1 and statements.count("COMMIT") == 1, statements
    assert len(statements) <= 12, statements
    notification = Notification.objects.get(event=event)
    assert (notification.recipient_id, notification.seq) == (client.pk, 1)
    assert frames == [(client.pk, notification.pk, 1)]
    event.refresh_from_db()
    assert (event.status, event.recipient_count, event.attempts, event.chunk_count) == (OutboxStatus.DONE, 1, 1, 0)
    assert not OutboxChunk.objects.filter(event=event).exists()
    # The channel rows were made in the same transaction.
    assert ChannelDelivery.objects.filter(notification=notification).exists()


def test_run_twice_in_sequence_stores_once_and_the_rerun_publishes_the_same_row_again(frames):
    client, [event] = bid_events()

    dispatch.outbox_event_dispatch(event_id=event.pk)
    dispatch.outbox_event_dispatch(event_id=event.pk)

    notification = Notification.objects.get(event=event)
    # The re-run may follow a death between commit and publish: it publishes again, the same
    # notification with the same SSE id, which the page drops as a repeat.
    assert frames == [(client.pk, notification.pk, 1)] * 2
    event.refresh_from_db()
    assert (event.status, event.recipient_count, event.attempts) == (OutboxStatus.DONE, 1, 1)


def test_run_four_times_at_once_stores_one_row(frames):
    client, [event] = bid_events()

    run_concurrently([lambda: dispatch.outbox_event_dispatch(event_id=event.pk)] * 4)

    assert list(Notification.objects.filter(event=event).values_list("recipient_id", "seq")) == [(client.pk, 1)]
    notification = Notification.objects.get(event=event)
    assert (client.pk, notification.pk, 1) in frames
    assert {frame for frame in frames} == {(client.pk, notification.pk, 1)}
    event.refresh_from_db()
    assert (event.status, event.attempts) == (OutboxStatus.DONE, 1)


def test_events_to_one_user_dispatched_at_once_get_seqs_in_commit_order_without_gaps(frames):
    client, events = bid_events(6)

    run_concurrently([lambda pk=e.pk: dispatch.outbox_event_dispatch(event_id=pk) for e in events])

    rows = list(Notification.objects.filter(recipient=client, notification_type=NotificationType.BID_RECEIVED).order_by("seq"))
    assert [n.seq for n in rows] == [1, 2, 3, 4, 5, 6]
    # The counter row stays locked until each insert commits, so a later seq is a later insert
    # (a higher id) and a later commit: a page replaying seq > last misses nothing.
    assert [n.pk for n in rows] == sorted(n.pk for n in rows)
    assert sorted(frames) == sorted((client.pk, n.pk, n.seq) for n in rows)


def test_a_crash_after_the_commit_before_the_publish_is_published_by_the_rerun(frames, monkeypatch):
    client, [event] = bid_events()
    working_transport = transports.current()

    def redis_gone():
        raise RedisConnectionError("Redis went away")  # the process dies here, for all the event knows

    monkeypatch.setattr(transports, "current", lambda: SimpleNamespace(send_frames=lambda pairs: redis_gone()))
    with pytest.raises(RedisConnectionError):
        dispatch.outbox_event_dispatch(event_id=event.pk)
    event.refresh_from_db()
    assert event.status == OutboxStatus.DONE and frames == []

    # The task is acknowledged late: the broker gives it again (or Celery retries it).
    monkeypatch.setattr(transports, "current", lambda: working_transport)
    dispatch.outbox_event_dispatch(event_id=event.pk)

    notification = Notification.objects.get(event=event)
    assert frames == [(client.pk, notification.pk, 1)]


def test_a_run_that_raises_stores_nothing_and_counts_its_attempt(frames, monkeypatch):
    client, [event] = bid_events()

    def broken(**kwargs):
        raise ValueError("template gone wrong")

    monkeypatch.setattr("notifications.rendering.template_render", broken)
    with pytest.raises(ValueError):
        dispatch.outbox_event_dispatch(event_id=event.pk)

    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == (OutboxStatus.PENDING, 1, "ValueError: template gone wrong")
    assert not Notification.objects.filter(event=event).exists() and frames == []
    monkeypatch.undo()


def test_the_admin_funnel_trace_and_progress_of_a_direct_event(frames):
    client, [event] = bid_events()
    dispatch.outbox_event_dispatch(event_id=event.pk)
    event.refresh_from_db()
    notification = Notification.objects.get(event=event)

    assert trace.outbox_event_funnel(event) == {
        "recipients": 1, "stored": 1, "published": 1, "delivered": 0, "seen": 0, "read": 0, "clicked": 0,
    }
    hops = {hop.name: hop.at for hop in trace.notification_timeline(notification)}
    assert hops["published"] == event.processed_at
    assert progress_label(with_fanout_progress(OutboxEvent.objects.filter(pk=event.pk)).get()) == "1 stored directly"


def test_an_audience_above_the_limit_is_still_chunked(frames, settings):
    settings.OUTBOX_DIRECT_MAX_RECIPIENTS = 2
    job = CleaningJobFactory()
    cleaners = [CleanerFactory() for _ in range(3)]
    event = OutboxEvent.objects.create(
        event_type=NotificationType.JOB_CANCELLED, payload={"job_id": job.pk, "cleaner_ids": [c.pk for c in cleaners]}
    )

    dispatch.outbox_event_dispatch(event_id=event.pk)

    event.refresh_from_db()
    assert (event.status, event.chunk_count, event.recipient_count) == (OutboxStatus.DONE, 1, 3)
    assert OutboxChunk.objects.get(event=event).is_done
    assert Notification.objects.filter(event=event).count() == 3
