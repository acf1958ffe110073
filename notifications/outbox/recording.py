"""Recording a domain event in the outbox, and putting it back in the queue (staff retry).

The row is written in the caller's transaction; its task is enqueued on commit, so a
rollback leaves nothing and a broker outage leaves the row for the sweeper.
"""

from functools import partial

from django.db import transaction

from ..models import OutboxEvent, OutboxStatus
from . import queueing
from .delivery import outbox_chunk_deliver_task
from .dispatch import outbox_event_dispatch_task


def outbox_record(*, event_type: str, payload: dict, dedupe_key: str | None = None) -> OutboxEvent | None:
    """Write a domain event in the caller's transaction and enqueue its dispatch on commit.

    With a dedupe_key an event is recorded at most once (None if it already was).
    """
    if dedupe_key is not None:
        event, created = OutboxEvent.objects.get_or_create(
            dedupe_key=dedupe_key, defaults={"event_type": event_type, "payload": payload}
        )
        if not created:
            return None
    else:
        event = OutboxEvent.objects.create(event_type=event_type, payload=payload)
    transaction.on_commit(partial(queueing.enqueue, outbox_event_dispatch_task, event.pk))
    return event


def outbox_event_retry(*, event_id: int) -> None:
    """Staff retry (admin action): put an unfinished or failed event back in the queue."""
    event = OutboxEvent.objects.get(pk=event_id)
    if event.status == OutboxStatus.DONE:
        return
    if event.status == OutboxStatus.FAILED:
        event.attempts = 0
        event.status = OutboxStatus.DISPATCHED if event.chunk_count else OutboxStatus.PENDING
        event.save(update_fields=["attempts", "status", "updated_at"])
        event.chunks.filter(is_done=False).update(is_failed=False, attempts=0)
    if event.status == OutboxStatus.PENDING:
        transaction.on_commit(partial(queueing.enqueue, outbox_event_dispatch_task, event.pk))
    else:
        for chunk_id in event.chunks.filter(is_done=False).values_list("pk", flat=True):
            transaction.on_commit(partial(queueing.enqueue, outbox_chunk_deliver_task, chunk_id))
