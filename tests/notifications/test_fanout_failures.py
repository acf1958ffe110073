"""One bad row, or one bad chunk, never stalls a fan-out forever.

Committed transactions (transaction=True): the recipient foreign key is checked
at commit, which is where a deleted recipient used to break every retry.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from jobs import services as job_services
from jobs.models import ClientBlock
from notifications import plans, rendering
from notifications.catalog import NotificationType
from notifications.models import Notification, OutboxChunk, OutboxEvent, OutboxStatus
from notifications.outbox import delivery, dispatch, failures, queueing, sweeping
from tests.factories import CleanerFactory, ClientFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued(monkeypatch):
    """Tasks wait in this list instead of running: a chunk stays queued while the world changes."""
    waiting = []
    monkeypatch.setattr(queueing, "enqueue", lambda task, object_id: waiting.append((task.name, object_id)))
    monkeypatch.setattr(dispatch, "FANOUT_CHUNK_SIZE", 10)
    return waiting


def run_dispatch(event_id: int, queued: list) -> list[int]:
    """Run the event's task; return the ids of the chunk tasks it queued, in recipient order."""
    dispatch.outbox_event_dispatch(event_id=event_id)
    chunk_ids = [object_id for name, object_id in queued if name == "notifications.outbox_chunk_deliver"]
    queued.clear()
    return sorted(chunk_ids, key=lambda pk: OutboxChunk.objects.get(pk=pk).first_recipient_id)


def announce_to_cleaners() -> OutboxEvent:
    return OutboxEvent.objects.create(
        event_type=NotificationType.SYSTEM_ALERT, payload={"audience": "cleaners", "title": "Hi", "message": "News"}
    )


def delivered_per_chunk(chunk_ids):
    return [OutboxChunk.objects.get(pk=pk).recipient_count for pk in chunk_ids]


def recipients_of(event):
    return sorted(Notification.objects.filter(event=event).values_list("recipient_id", flat=True))


def test_a_recipient_deleted_while_their_chunk_waits_is_skipped_and_the_other_nine_delivered(queued):
    cleaners = CleanerFactory.create_batch(30)
    event = announce_to_cleaners()
    chunk_ids = run_dispatch(event.pk, queued)
    deleted = cleaners[13]  # in the second chunk
    get_user_model().objects.filter(pk=deleted.pk).delete()

    for chunk_id in chunk_ids:
        delivery.outbox_chunk_deliver(chunk_id=chunk_id)

    assert delivered_per_chunk(chunk_ids) == [10, 9, 10]
    event.refresh_from_db()
    assert (event.status, event.recipient_count) == (OutboxStatus.DONE, 29)
    assert recipients_of(event) == sorted(c.pk for c in cleaners if c.pk != deleted.pk)


def test_a_recipient_deactivated_while_their_chunk_waits_gets_nothing(queued):
    cleaners = CleanerFactory.create_batch(30)
    event = announce_to_cleaners()
    chunk_ids = run_dispatch(event.pk, queued)
    deactivated = cleaners[25]
    get_user_model().objects.filter(pk=deactivated.pk).update(is_active=False)

    for chunk_id in chunk_ids:
        delivery.outbox_chunk_deliver(chunk_id=chunk_id)

    assert delivered_per_chunk(chunk_ids) == [10, 10, 9]
    event.refresh_from_db()
    assert (event.status, event.recipient_count) == (OutboxStatus.DONE, 29)
    assert deactivated.pk not in recipients_of(event)


@pytest.mark.usefixtures("chunked_path")
def test_a_cleaner_the_client_blocked_while_the_offer_waits_gets_no_offer(queued):
    cleaners = CleanerFactory.create_batch(20)
    client = ClientFactory()
    job = job_services.job_create(
        client=client, title="Spring clean", service_type="standard", address="Damrak 1", city="Amsterdam",
        latitude=52.3676, longitude=4.9041, scheduled_start=timezone.now() + timedelta(days=3),
        duration_hours=Decimal("3"), budget=Decimal("120"),
    )
    event = OutboxEvent.objects.get(event_type=NotificationType.JOB_CREATED, payload__job_id=job.pk)
    queued.clear()
    chunk_ids = run_dispatch(event.pk, queued)
    blocked = cleaners[4]
    ClientBlock.objects.create(client=client, cleaner=blocked)

    for chunk_id in chunk_ids:
        delivery.outbox_chunk_deliver(chunk_id=chunk_id)

    assert delivered_per_chunk(chunk_ids) == [9, 10]
    event.refresh_from_db()
    assert (event.status, event.recipient_count) == (OutboxStatus.DONE, 19)
    assert recipients_of(event) == sorted(c.pk for c in cleaners if c.pk != blocked.pk)


@pytest.mark.usefixtures("chunked_path")
def test_a_chunk_that_keeps_failing_ends_failed_with_its_error_and_is_not_swept_again(queued, monkeypatch):
    monkeypatch.setattr(failures, "OUTBOX_MAX_ATTEMPTS", 3)

    def broken_template(**kwargs):
        raise ValueError("the template store is corrupt")

    monkeypatch.setattr(rendering, "template_render", broken_template)
    CleanerFactory.create_batch(15)
    event = announce_to_cleaners()
    failing, healthy = run_dispatch(event.pk, queued)
    OutboxChunk.objects.filter(pk=healthy).update(is_done=True)  # only one chunk is the problem

    for attempt in range(3):
        with pytest.raises(ValueError):
            delivery.outbox_chunk_deliver(chunk_id=failing)
        queued.clear()
        sweeping.outbox_requeue_stale(grace=timedelta(0))
        if attempt < 2:
            assert queued == [("notifications.outbox_chunk_deliver", failing)]

    chunk = OutboxChunk.objects.get(pk=failing)
    assert (chunk.is_done, chunk.is_failed, chunk.attempts) == (False, True, 3)
    assert chunk.last_error == "ValueError: the template store is corrupt"
    event.refresh_from_db()
    assert event.status == OutboxStatus.FAILED
    assert event.last_error == f"chunk {failing}: ValueError: the template store is corrupt"
    assert queued == []  # the sweeper skipped it
    delivery.outbox_chunk_deliver(chunk_id=failing)  # a stray redelivery does nothing
    chunk.refresh_from_db()
    assert chunk.attempts == 3


def test_an_event_that_keeps_failing_ends_failed_with_its_error(queued, monkeypatch):
    monkeypatch.setattr(failures, "OUTBOX_MAX_ATTEMPTS", 2)

    def broken_plan(**kwargs):
        raise KeyError("audience")

    monkeypatch.setattr(plans, "delivery_plan_for", broken_plan)
    event = announce_to_cleaners()

    for _ in range(2):
        with pytest.raises(KeyError):
            dispatch.outbox_event_dispatch(event_id=event.pk)

    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == (OutboxStatus.FAILED, 2, "KeyError: 'audience'")
    queued.clear()
    assert sweeping.outbox_requeue_stale(grace=timedelta(0))["events"] == 0
    assert queued == []


def test_healthz_warns_about_failed_outbox_work_but_stays_200(client):
    OutboxEvent.objects.create(event_type=NotificationType.SYSTEM_ALERT, status=OutboxStatus.DONE)
    healthy = client.get("/healthz")
    assert (healthy.status_code, healthy.json()["status"], healthy.json()["checks"]["outbox"]) == (200, "ok", "ok")

    OutboxEvent.objects.create(event_type=NotificationType.SYSTEM_ALERT, status=OutboxStatus.FAILED, last_error="x")
    OutboxEvent.objects.create(event_type=NotificationType.JOB_CREATED, status=OutboxStatus.FAILED, last_error="y")
    degraded = client.get("/healthz")
    assert degraded.status_code == 200
    assert degraded.json()["status"] == "degraded"
    assert degraded.json()["checks"]["outbox"] == "2 failed events (admin: outbox events, status Failed)"
