"""The beat sweeper: re-enqueue outbox work left unfinished by a broker outage or a killed worker."""

from datetime import timedelta

from celery import shared_task
from django.db.models import Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone

from ..models import OutboxChunk, OutboxEvent, OutboxStatus
from . import failures, queueing
from .delivery import outbox_chunk_deliver_task
from .dispatch import outbox_event_dispatch_task

# Work unfinished this long is sent again.
OUTBOX_GRACE = timedelta(seconds=30)


def outbox_requeue_stale(*, grace: timedelta = OUTBOX_GRACE) -> dict[str, int]:
    """Re-enqueue events and chunks left unfinished; fail events out of attempts."""
    cutoff = timezone.now() - grace
    stats = {"events": 0, "chunks": 0, "failed": 0}
    stats["failed"] = OutboxEvent.objects.filter(
        status=OutboxStatus.PENDING, attempts__gte=failures.OUTBOX_MAX_ATTEMPTS, updated_at__lt=cutoff
    ).update(
        status=OutboxStatus.FAILED,
        # Keep the error of the last attempt if one was stored (a killed worker stores none).
        last_error=Coalesce(NullIf("last_error", Value("")), Value("Gave up after repeated attempts.")),
        updated_at=timezone.now(),
    )
    stale_events = list(
        OutboxEvent.objects.filter(status=OutboxStatus.PENDING, updated_at__lt=cutoff).values_list("pk", flat=True)[:1000]
    )
    stale_chunks = list(
        OutboxChunk.objects.filter(
            is_done=False, is_failed=False, updated_at__lt=cutoff, event__status=OutboxStatus.DISPATCHED
        )
        .values_list("pk", flat=True)[:1000]
    )
    # Touch them so the next sweep waits a full grace period again.
    now = timezone.now()
    OutboxEvent.objects.filter(pk__in=stale_events).update(updated_at=now)
    OutboxChunk.objects.filter(pk__in=stale_chunks).update(updated_at=now)
    for event_id in stale_events:
        queueing.enqueue(outbox_event_dispatch_task, event_id)
    for chunk_id in stale_chunks:
        queueing.enqueue(outbox_chunk_deliver_task, chunk_id)
    stats["events"], stats["chunks"] = len(stale_events), len(stale_chunks)
    return stats


@shared_task(name="notifications.outbox_requeue_stale", **failures.RETRY_TRANSIENT)
def outbox_requeue_stale_task() -> dict:
    return outbox_requeue_stale()
