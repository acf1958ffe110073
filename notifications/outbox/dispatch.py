"""Dispatching one event: its plan, the offers it retracts, then its audience delivered directly
(a few recipients, notifications.outbox.direct) or split into chunks."""

from collections.abc import Callable
from functools import partial

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.compiled import CompiledQuery
from jobs.models import CleaningJob

from .. import plans
from ..sse import frames, publishing
from ..catalog import NotificationType
from ..models import Notification, OutboxChunk, OutboxEvent, OutboxStatus
from . import direct, failures, queueing
from .delivery import outbox_chunk_deliver, outbox_chunk_deliver_task, outbox_event_finish

# Audiences up to OUTBOX_DIRECT_MAX_RECIPIENTS take the direct path; up to this size they
# are one chunk delivered by the event's own task; bigger ones are split into chunk tasks
# of this size, so workers share the load and a crash repeats one chunk, not the whole fan-out.
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
    # One transaction does the work; what must wait for its commit (a publish, the chunks) comes after.
    with transaction.atomic():
        after_commit = _dispatch_locked(event_id=event_id)
    if after_commit is not None:
        after_commit()


def _dispatch_locked(*, event_id: int) -> Callable[[], None] | None:
    event = _event_locked(event_id=event_id)
    if event is None:
        return None  # another run holds it (and publishes what it stores), or it is gone
    if event.delivered_directly:
        # Run again (the broker redelivers a task whose worker died): its first run may have
        # committed and died before publishing. Pages drop the repeats by id.
        return partial(direct.outbox_event_republish, event_id=event.pk)
    if event.status != OutboxStatus.PENDING:
        return None
    # Counted with the work it commits; a run that raises is counted by failures (its own
    # count rolled back). A run whose worker died leaves no count: the sweeper sends it again.
    event.attempts += 1
    plan = plans.delivery_plan_for(event_type=event.event_type, payload=event.payload)
    retracted_job_id = plans.job_offers_retracted_by(event_type=event.event_type, payload=event.payload)
    if retracted_job_id is not None:
        job_offers_retract(job_id=retracted_job_id)
    # The one query that resolves the audience (preferences included), run once per event.
    recipient_ids = [] if plan is None else plans.audience_ids(plan.audience)
    if not recipient_ids:
        outbox_event_finish(event, recipient_count=0, attempts=event.attempts)
        return None
    if len(recipient_ids) <= settings.OUTBOX_DIRECT_MAX_RECIPIENTS:
        return direct.outbox_event_deliver_direct(event, plan=plan, recipient_ids=recipient_ids)
    slices = [recipient_ids[i : i + FANOUT_CHUNK_SIZE] for i in range(0, len(recipient_ids), FANOUT_CHUNK_SIZE)]
    chunks = OutboxChunk.objects.bulk_create(
        [OutboxChunk(event=event, first_recipient_id=ids[0], last_recipient_id=ids[-1], recipient_ids=ids) for ids in slices]
    )
    event.status = OutboxStatus.DISPATCHED
    event.chunk_count = len(chunks)
    event.save(update_fields=["status", "chunk_count", "attempts", "updated_at"])
    if len(chunks) == 1:
        return partial(outbox_chunk_deliver, chunk_id=chunks[0].pk, plan=plan)
    return partial(_chunks_enqueue, [chunk.pk for chunk in chunks])


# It runs for every event, and building the query cost more CPU than running it: compiled
# once per process (jobs/compiled.py). By primary key, unordered.
_event_for_update = CompiledQuery(
    lambda values: OutboxEvent.objects.select_for_update(skip_locked=True).filter(pk=values["event_id"]).order_by()
)


def event_lock_prepare() -> None:
    """Compile and prepare the event lock before the first event (project/warmup.py)."""
    _event_for_update.prepare({"event_id": 0})


def _event_locked(*, event_id: int) -> OutboxEvent | None:
    """The event row, locked until the commit; None if another run holds it (SKIP LOCKED).
    (SQLite, the embedded default, has no row locks: the ORM's no-op.)"""
    return _event_for_update.first({"event_id": int(event_id)})


def _chunks_enqueue(chunk_ids: list[int]) -> None:
    for chunk_id in chunk_ids:
        queueing.enqueue(outbox_chunk_deliver_task, chunk_id)


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
