"""Dispatching one event: its plan, the offers it retracts, its audience split into chunks."""

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.models import CleaningJob

from .. import plans
from ..sse import frames, publishing
from ..catalog import NotificationType
from ..models import Notification, OutboxChunk, OutboxEvent, OutboxStatus
from . import failures, queueing
from .delivery import outbox_chunk_deliver, outbox_chunk_deliver_task, outbox_event_finish

# Audiences up to this size are delivered by the event's own task; bigger ones are
# split into chunk tasks of this size, so workers share the load and a crash
# repeats one chunk, not the whole fan-out.
FANOUT_CHUNK_SIZE = settings.FANOUT_CHUNK_SIZE


def outbox_event_dispatch(*, event_id: int) -> None:
    """Resolve an event's audience, split it into chunks and deliver them.

    Safe to run any number of times, in sequence or at once: the event row is
    locked (a second runner skips it), chunks are unique per event, and every
    insert is ON CONFLICT DO NOTHING on (event, recipient). A non-transient error
    is stored on the event, which fails at its last attempt.
    """
    with failures.counting_failed_attempts(failures.outbox_event_attempt_failed, event_id=event_id):
        _dispatch(event_id=event_id)


@shared_task(name="notifications.outbox_event_dispatch", **failures.RETRY_TRANSIENT)
def outbox_event_dispatch_task(event_id: int) -> None:
    outbox_event_dispatch(event_id=event_id)


def _dispatch(*, event_id: int) -> None:
    with transaction.atomic():
        event = OutboxEvent.objects.select_for_update(skip_locked=True).filter(pk=event_id).first()
        if event is None or event.status != OutboxStatus.PENDING:
            return
        event.attempts += 1
        event.save(update_fields=["attempts", "updated_at"])

    # The attempt is counted even if what follows crashes; a new transaction does the work.
    with transaction.atomic():
        event = OutboxEvent.objects.select_for_update(skip_locked=True).filter(pk=event_id).first()
        if event is None or event.status != OutboxStatus.PENDING:
            return
        plan = plans.delivery_plan_for(event_type=event.event_type, payload=event.payload)
        retracted_job_id = plans.job_offers_retracted_by(event_type=event.event_type, payload=event.payload)
        if retracted_job_id is not None:
            job_offers_retract(job_id=retracted_job_id)
        if plan is None:
            outbox_event_finish(event, recipient_count=0)
            return
        # The one query that resolves the audience (preferences included), run once per event.
        recipient_ids = list(plan.audience.order_by("pk").values_list("pk", flat=True))
        if not recipient_ids:
            outbox_event_finish(event, recipient_count=0)
            return
        slices = [recipient_ids[i : i + FANOUT_CHUNK_SIZE] for i in range(0, len(recipient_ids), FANOUT_CHUNK_SIZE)]
        chunks = OutboxChunk.objects.bulk_create(
            [
                OutboxChunk(event=event, first_recipient_id=ids[0], last_recipient_id=ids[-1], recipient_ids=ids)
                for ids in slices
            ]
        )
        event.status = OutboxStatus.DISPATCHED
        event.chunk_count = len(chunks)
        event.save(update_fields=["status", "chunk_count", "updated_at"])

    if len(chunks) == 1:
        outbox_chunk_deliver(chunk_id=chunks[0].pk, plan=plan)
    else:
        for chunk in chunks:
            queueing.enqueue(outbox_chunk_deliver_task, chunk.pk)


def job_offers_retract(*, job_id: int) -> int:
    """Expire the unread offers of a job (all but its assigned cleaner's) and remove them from open pages."""
    job = CleaningJob.objects.filter(pk=job_id).values("assigned_cleaner_id").first()
    offers = Notification.objects.filter(
        job_id=job_id, notification_type=NotificationType.JOB_CREATED, is_read=False, expired_at__isnull=True
    )
    if job and job.get("assigned_cleaner_id"):
        offers = offers.exclude(recipient_id=job["assigned_cleaner_id"])
    expired = list(offers.values_list("pk", "recipient_id"))
    if not expired:
        return 0
    Notification.objects.filter(pk__in=[pk for pk, _ in expired]).update(expired_at=timezone.now())
    events = [
        frames.notification_expired_event(user_id=recipient_id, notification_id=pk, job_id=job_id) for pk, recipient_id in expired
    ]
    transaction.on_commit(lambda: publishing.publish(events))
    return len(expired)
