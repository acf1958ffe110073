"""Every notification row gets its recipient's next seq: gapless, in commit order, whoever inserts it."""

import threading

import pytest
from django.db import transaction

from notifications.outbox.delivery import outbox_chunk_deliver
from notifications.outbox.dispatch import outbox_event_dispatch
from notifications.catalog import NotificationType
from notifications.models import Notification, NotificationSequence, OutboxChunk, OutboxEvent
from tests.factories import ClientFactory
from tests.notifications.factories import NotificationFactory

from .test_fanout_concurrency import job_created_event, run_concurrently  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db(transaction=True)


def seqs_of(user_id: int) -> list[int]:
    return list(Notification.objects.filter(recipient_id=user_id).order_by("seq").values_list("seq", flat=True))


def counter_of(user_id: int) -> int:
    return NotificationSequence.objects.get(user_id=user_id).last_seq


def test_two_events_fanned_out_by_racing_workers_number_each_users_rows_one_to_n(job_created_event):
    event, cleaners = job_created_event  # 30 cleaners, chunks of 7
    second = OutboxEvent.objects.create(event_type=NotificationType.JOB_CREATED, payload=event.payload)
    NotificationFactory(recipient=cleaners[0])  # one of them already has a notification

    # Overlapping chunks of both events run at once on four threads: no deadlock, no gap.
    event_ids, lock = iter([event.pk, second.pk, event.pk, second.pk]), threading.Lock()

    def process_one():
        with lock:
            event_id = next(event_ids)
        outbox_event_dispatch(event_id=event_id)

    run_concurrently(process_one, times=4)
    # A chunk both runners of an event skipped (each saw it locked) is still pending: finish it, racing too.
    pending = list(OutboxChunk.objects.filter(is_done=False).values_list("pk", flat=True))
    for chunk_id in pending:
        run_concurrently(lambda: outbox_chunk_deliver(chunk_id=chunk_id), times=2)

    assert seqs_of(cleaners[0].pk) == [1, 2, 3]
    assert all(seqs_of(c.pk) == [1, 2] for c in cleaners[1:])
    assert counter_of(cleaners[0].pk) == 3
    assert {counter_of(c.pk) for c in cleaners[1:]} == {2}


def test_a_chunk_processed_again_takes_no_seq(job_created_event):
    event, cleaners = job_created_event
    outbox_event_dispatch(event_id=event.pk)
    chunk = event.chunks.first()
    chunk.is_done = False  # as if the worker died after the insert committed, before marking it done
    chunk.save(update_fields=["is_done"])

    run_concurrently(lambda: outbox_chunk_deliver(chunk_id=chunk.pk), times=2)

    assert {counter_of(c.pk) for c in cleaners} == {1}
    assert {tuple(seqs_of(c.pk)) for c in cleaners} == {(1,)}


def test_rows_the_fanout_insert_skips_take_no_seq(job_created_event):
    event, cleaners = job_created_event
    # Already stored for this event (ON CONFLICT skips it): a seq taken for it would leave a hole.
    NotificationFactory(recipient=cleaners[3], event=event)

    outbox_event_dispatch(event_id=event.pk)

    assert seqs_of(cleaners[3].pk) == [1]
    assert counter_of(cleaners[3].pk) == 1
    assert Notification.objects.filter(event=event).count() == 30


def test_create_and_bulk_create_number_rows_in_order_and_a_rollback_takes_its_seqs_back():
    user, other = ClientFactory(), ClientFactory()
    first = NotificationFactory(recipient=user)
    rows = Notification.objects.bulk_create(
        [Notification(recipient=u, notification_type="system_alert", title=str(i)) for i, u in enumerate([user, other, user])]
    )
    with pytest.raises(RuntimeError), transaction.atomic():
        NotificationFactory(recipient=user)
        raise RuntimeError("rolled back")
    last = NotificationFactory(recipient=user)

    assert (first.seq, rows[0].seq, rows[2].seq, last.seq) == (1, 2, 3, 4)
    assert rows[1].seq == 1
    assert seqs_of(user.pk) == [1, 2, 3, 4]
    assert (counter_of(user.pk), counter_of(other.pk)) == (4, 1)


def test_bulk_create_refuses_to_skip_conflicts():
    user = ClientFactory()
    with pytest.raises(ValueError, match="cannot skip"):
        Notification.objects.bulk_create([Notification(recipient=user, title="x")], ignore_conflicts=True)
    assert not Notification.objects.filter(recipient=user).exists()
