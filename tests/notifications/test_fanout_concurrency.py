"""The same fan-out delivered twice at once (a redelivered Celery message) makes no duplicate."""

import threading

import pytest
from django.db import connection

from notifications.catalog import NotificationType
from notifications.models import Notification, OutboxEvent, OutboxStatus
from notifications.outbox import delivery, dispatch
from tests.factories import CleanerFactory, CleaningJobFactory

pytestmark = pytest.mark.django_db(transaction=True)


def run_concurrently(target, times: int):
    barrier = threading.Barrier(times)
    errors = []

    def worker():
        try:
            barrier.wait()
            target()
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


@pytest.fixture
def job_created_event(monkeypatch):
    monkeypatch.setattr(dispatch, "FANOUT_CHUNK_SIZE", 7)
    cleaners = CleanerFactory.create_batch(30)
    # bulk_create skips post_save: the event is recorded by hand, as the signal would.
    job = CleaningJobFactory.build()
    job.client.save()
    job.client_id = job.client.pk
    type(job).objects.bulk_create([job])
    event = OutboxEvent.objects.create(event_type=NotificationType.JOB_CREATED, payload={"job_id": job.pk})
    return event, cleaners


def test_same_event_processed_by_four_workers_at_once_stores_each_notification_once(job_created_event):
    event, cleaners = job_created_event

    run_concurrently(lambda: dispatch.outbox_event_dispatch(event_id=event.pk), times=4)
    # Whatever chunk a racing worker skipped is still pending: finish them, also racing.
    for chunk_id in event.chunks.filter(is_done=False).values_list("pk", flat=True):
        run_concurrently(lambda: delivery.outbox_chunk_deliver(chunk_id=chunk_id), times=3)

    assert Notification.objects.filter(event=event).count() == 30
    assert sorted(Notification.objects.filter(event=event).values_list("recipient_id", flat=True)) == sorted(
        c.pk for c in cleaners
    )
    event.refresh_from_db()
    assert (event.status, event.chunk_count, event.recipient_count) == (OutboxStatus.DONE, 5, 30)


def test_a_chunk_run_again_after_it_finished_changes_nothing(job_created_event):
    event, _ = job_created_event
    dispatch.outbox_event_dispatch(event_id=event.pk)
    chunk = event.chunks.first()
    before = Notification.objects.count()

    # A redelivered message for a chunk that is already done.
    run_concurrently(lambda: delivery.outbox_chunk_deliver(chunk_id=chunk.pk), times=2)

    assert Notification.objects.count() == before == 30
