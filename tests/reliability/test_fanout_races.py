"""Chunks of one fan-out finishing at the same moment still mark their event done.

Each chunk marks itself done and, in the same transaction, finishes the event if no
chunk is left. Two chunks committing at once must not each miss the other's
(uncommitted) update: the event would stay "dispatched" for ever, and the sweeper
only looks at unfinished chunks, so nothing would ever finish it.
"""

import threading

import pytest
from django.db import connection

from notifications.catalog import NotificationType
from notifications.models import Notification, OutboxChunk, OutboxEvent, OutboxStatus
from notifications.outbox import delivery
from tests.factories import CleaningJobFactory

from .data import make_cleaners

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_two_chunks_finishing_at_the_same_moment_still_mark_their_event_done():
    cleaners = make_cleaners(40, prefix="race")
    job = CleaningJobFactory.build()
    job.client.save()
    job.client_id = job.client.pk
    type(job).objects.bulk_create([job])
    # The state outbox_event_dispatch leaves: the audience split in two chunks, both pending.
    event = OutboxEvent.objects.create(
        event_type=NotificationType.JOB_CREATED, payload={"job_id": job.pk}, status=OutboxStatus.DISPATCHED, chunk_count=2
    )
    halves = [cleaners[:20], cleaners[20:]]
    chunks = OutboxChunk.objects.bulk_create(
        [
            OutboxChunk(event=event, first_recipient_id=half[0], last_recipient_id=half[-1], recipient_ids=half)
            for half in halves
        ]
    )

    # Hold each runner right after it marked its chunk done, until the other has too
    # (or 3 s went by, if the product makes one wait for the other).
    barrier = threading.Barrier(2)

    def pause_after_marking_done(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith(f'UPDATE "{OutboxChunk._meta.db_table}"') and '"is_done"' in sql:
            try:
                barrier.wait(timeout=3)
            except threading.BrokenBarrierError:
                pass
        return result

    errors = []

    def run(chunk_id):
        try:
            with connection.execute_wrapper(pause_after_marking_done):
                delivery.outbox_chunk_deliver(chunk_id=chunk_id)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(chunk.pk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert OutboxChunk.objects.filter(event=event, is_done=True).count() == 2
    assert Notification.objects.filter(event=event).count() == 40
    event.refresh_from_db()
    assert (event.status, event.recipient_count) == (OutboxStatus.DONE, 40)
