"""Writes for notifications: read state, preferences, announcements and the fan-out.

Every push to a browser goes through notifications.streams (the one publisher),
always after the database commit that it reports.
"""

import json
import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Sum, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone

from project.exceptions import InvalidInput, NotFound

from . import outbox_failures, plans, rendering, selectors, sequencing, streams
from .catalog import NotificationType
from .models import Notification, NotificationPreference, OutboxChunk, OutboxEvent, OutboxStatus
from .outbox_failures import TRANSIENT_ERRORS, describe_error


def _push_after_commit(events: list[streams.StreamEvent]) -> None:
    transaction.on_commit(lambda: streams.publish(events))


# --- read state ---------------------------------------------------------------


@transaction.atomic
def notification_mark_read(*, user, notification_id: int) -> Notification:
    """Mark one of the user's notifications read and tell their other open pages."""
    notification = (
        Notification.objects.select_for_update()
        .filter(recipient_id=user.pk, pk=notification_id, expired_at__isnull=True)
        .first()
    )
    if notification is None:
        raise NotFound("No such notification.")
    if not notification.is_read:
        notification.is_read = True
        notification.read_at = timezone.now()
        notification.save(update_fields=["is_read", "read_at"])
        count = selectors.notification_unread_count(user_id=user.pk)
        _push_after_commit(
            [
                streams.StreamEvent(user.pk, "notification_read", {"id": notification.pk}),
                streams.StreamEvent(user.pk, "unread_count", {"count": count}),
            ]
        )
    return notification


@transaction.atomic
def notifications_mark_all_read(*, user) -> int:
    """Mark every unread notification read; returns how many changed."""
    changed = Notification.objects.filter(recipient_id=user.pk, is_read=False).update(
        is_read=True, read_at=timezone.now()
    )
    if changed:
        _push_after_commit(
            [
                streams.StreamEvent(user.pk, "notifications_read_all", {}),
                streams.StreamEvent(user.pk, "unread_count", {"count": 0}),
            ]
        )
    return changed


# --- preferences ----------------------------------------------------------------


@transaction.atomic
def notification_preferences_update(*, user, muted: dict[str, bool]) -> dict[str, bool]:
    """Set mute flags for the given types; unknown or unmutable types are refused whole."""
    unknown = sorted(set(muted) - set(NotificationType.values))
    if unknown:
        raise InvalidInput(f"Unknown notification type: {', '.join(unknown)}.", field="muted")
    forced = sorted(t for t, is_muted in muted.items() if is_muted and t in selectors.UNMUTABLE_TYPES)
    if forced:
        raise InvalidInput(f"These cannot be muted: {', '.join(forced)}.", field="muted")
    for notification_type, is_muted in muted.items():
        NotificationPreference.objects.update_or_create(
            user=user, notification_type=notification_type, defaults={"is_muted": bool(is_muted)}
        )
    return selectors.notification_preferences_for(user=user)


# --- the outbox -----------------------------------------------------------------

logger = logging.getLogger(__name__)

# Audiences up to this size are delivered by the event's own task; bigger ones are
# split into chunk tasks of this size, so workers share the load and a crash
# repeats one chunk, not the whole fan-out.
FANOUT_CHUNK_SIZE = settings.FANOUT_CHUNK_SIZE
# The beat sweeper re-enqueues work that has sat unfinished this long.
OUTBOX_GRACE = timedelta(seconds=30)
OUTBOX_MAX_ATTEMPTS = 10


def _enqueue(task, object_id: int) -> None:
    """Send a task; a broker outage only delays it (the sweeper retries), it never fails the caller."""
    try:
        task.delay(object_id)
    except Exception:  # noqa: BLE001 - any broker failure; the row stays pending
        logger.warning("Could not enqueue %s(%s); the outbox sweeper will retry.", task.name, object_id, exc_info=True)


def outbox_record(*, event_type: str, payload: dict, dedupe_key: str | None = None) -> OutboxEvent | None:
    """Write a domain event in the caller's transaction and enqueue its task on commit.

    With a dedupe_key an event is recorded at most once (None if it already was).
    """
    from .tasks import process_outbox_event

    if dedupe_key is not None:
        event, created = OutboxEvent.objects.get_or_create(
            dedupe_key=dedupe_key, defaults={"event_type": event_type, "payload": payload}
        )
        if not created:
            return None
    else:
        event = OutboxEvent.objects.create(event_type=event_type, payload=payload)
    transaction.on_commit(partial(_enqueue, process_outbox_event, event.pk))
    return event


def outbox_event_retry(*, event_id: int) -> None:
    """Staff retry (admin action): put an unfinished or failed event back in the queue."""
    from .tasks import process_outbox_chunk, process_outbox_event

    event = OutboxEvent.objects.get(pk=event_id)
    if event.status == OutboxStatus.DONE:
        return
    if event.status == OutboxStatus.FAILED:
        event.attempts = 0
        event.status = OutboxStatus.DISPATCHED if event.chunk_count else OutboxStatus.PENDING
        event.save(update_fields=["attempts", "status", "updated_at"])
        event.chunks.filter(is_done=False).update(is_failed=False, attempts=0)
    if event.status == OutboxStatus.PENDING:
        transaction.on_commit(partial(_enqueue, process_outbox_event, event.pk))
    else:
        for chunk_id in event.chunks.filter(is_done=False).values_list("pk", flat=True):
            transaction.on_commit(partial(_enqueue, process_outbox_chunk, chunk_id))


def outbox_requeue_stale(*, grace: timedelta = OUTBOX_GRACE) -> dict[str, int]:
    """Beat: re-enqueue events and chunks left unfinished (broker outage, killed worker)."""
    from .tasks import process_outbox_chunk, process_outbox_event

    cutoff = timezone.now() - grace
    stats = {"events": 0, "chunks": 0, "failed": 0}
    stats["failed"] = OutboxEvent.objects.filter(
        status=OutboxStatus.PENDING, attempts__gte=OUTBOX_MAX_ATTEMPTS, updated_at__lt=cutoff
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
        _enqueue(process_outbox_event, event_id)
    for chunk_id in stale_chunks:
        _enqueue(process_outbox_chunk, chunk_id)
    stats["events"], stats["chunks"] = len(stale_events), len(stale_chunks)
    return stats


# --- the fan-out ----------------------------------------------------------------


def outbox_event_process(*, event_id: int) -> None:
    """Resolve an event's audience, split it into chunks and deliver them.

    Safe to run any number of times, in sequence or at once: the event row is
    locked (a second runner skips it), chunks are unique per event, and every
    insert is ON CONFLICT DO NOTHING on (event, recipient). A non-transient error
    is stored on the event, which fails at its last attempt.
    """
    try:
        _outbox_event_dispatch(event_id=event_id)
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        outbox_failures.outbox_event_attempt_failed(
            event_id=event_id, error=describe_error(exc), max_attempts=OUTBOX_MAX_ATTEMPTS
        )
        raise


def _outbox_event_dispatch(*, event_id: int) -> None:
    from .tasks import process_outbox_chunk

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
        _after_job_left_open(event)
        if plan is None:
            _outbox_event_finish(event, recipient_count=0)
            return
        # The one query that resolves the audience (preferences included), run once per event.
        recipient_ids = list(plan.recipients.order_by("pk").values_list("pk", flat=True))
        if not recipient_ids:
            _outbox_event_finish(event, recipient_count=0)
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
        outbox_chunk_process(chunk_id=chunks[0].pk)
    else:
        for chunk in chunks:
            _enqueue(process_outbox_chunk, chunk.pk)


def outbox_chunk_process(*, chunk_id: int) -> None:
    """Insert one chunk's notifications, publish them, then mark the chunk done.

    Publishing comes after the insert commits and before the chunk is marked
    done: a crash in between repeats the publish (pages drop repeats by id), never skips it.
    A non-transient error counts an attempt; the last one fails the chunk and its event.
    """
    try:
        _outbox_chunk_deliver(chunk_id=chunk_id)
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        outbox_failures.outbox_chunk_attempt_failed(
            chunk_id=chunk_id, error=describe_error(exc), max_attempts=OUTBOX_MAX_ATTEMPTS
        )
        raise


def _outbox_chunk_deliver(*, chunk_id: int) -> None:
    with transaction.atomic():
        chunk = (
            # of=self: locking the joined event row too would make sibling chunks skip each other.
            OutboxChunk.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("event")
            .filter(pk=chunk_id, is_done=False, is_failed=False)
            .first()
        )
        if chunk is None:
            return
        event = chunk.event
        # Re-check the world (is the job still open?) before writing anything.
        plan = plans.delivery_plan_for(event_type=event.event_type, payload=event.payload)
        if plan is not None:
            rendered = rendering.template_render(notification_type=event.event_type, context=plan.context)
            _insert_notifications(event=event, plan=plan, rendered=rendered, recipient_ids=chunk.recipient_ids)

    delivered = Notification.objects.filter(
        event_id=event.pk, recipient_id__gte=chunk.first_recipient_id, recipient_id__lte=chunk.last_recipient_id
    ).order_by("recipient_id")
    streams.publish_notifications(delivered)
    count = delivered.count()  # stored rows: rows retracted since are not re-published, but were delivered

    with transaction.atomic():
        # Chunks of one event take turns here, on the event row: two finishing at once would
        # each miss the other's uncommitted update and neither would mark the event done.
        list(OutboxEvent.objects.select_for_update().filter(pk=event.pk).values_list("pk", flat=True))
        OutboxChunk.objects.filter(pk=chunk.pk).update(is_done=True, recipient_count=count, updated_at=timezone.now())
        if not OutboxChunk.objects.filter(event_id=event.pk, is_done=False).exists():
            total = OutboxChunk.objects.filter(event_id=event.pk).aggregate(total=Sum("recipient_count"))["total"]
            _outbox_event_finish(event, recipient_count=total or 0)


def _outbox_event_finish(event: OutboxEvent, *, recipient_count: int) -> None:
    OutboxEvent.objects.filter(pk=event.pk).exclude(status=OutboxStatus.DONE).update(
        status=OutboxStatus.DONE, recipient_count=recipient_count, processed_at=timezone.now(), updated_at=timezone.now()
    )


def _insert_notifications(*, event: OutboxEvent, plan: plans.DeliveryPlan, rendered, recipient_ids: list[int]) -> None:
    """One INSERT ... SELECT for the whole chunk, the ids (and their seqs) passed as array parameters."""
    metadata = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"  # else SQLite, the embedded default
    # Rows r(id, seq): each recipient with its next seq, taken now (notifications.sequencing).
    ids_sql, ids_params = sequencing.seqs_take_as_rows(recipient_ids=recipient_ids)
    table = Notification._meta.db_table
    still_reachable, still_reachable_params = _still_reachable_recipients_sql(job_id=plan.job_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (recipient_id, event_id, notification_type, title, message, priority, "
            f"is_read, action_url, metadata, job_id, created_at, seq) "
            f"SELECT r.id, %s, %s, %s, %s, %s, %s, %s, {metadata}, %s, %s, r.seq FROM {ids_sql} {still_reachable} "
            f"ON CONFLICT (event_id, recipient_id) DO NOTHING RETURNING recipient_id",
            [
                event.pk,
                event.event_type,
                rendered.title,
                rendered.message,
                rendered.priority,
                False,
                plan.action_url,
                json.dumps(plan.metadata, cls=DjangoJSONEncoder),
                plan.job_id,
                connection.ops.adapt_datetimefield_value(timezone.now()),
                *ids_params,
                *still_reachable_params,
            ],
        )
        # Whoever the INSERT skipped (already stored, or left out) gives its seq back: no gap.
        sequencing.seqs_give_back_unused(taken=recipient_ids, inserted=[user_id for (user_id,) in cursor.fetchall()])


def _still_reachable_recipients_sql(*, job_id: int | None) -> tuple[str, list]:
    """JOIN/WHERE keeping only the chunk's recipients who may still get it: `r.id` that is
    an active user (not deleted or deactivated since the audience was resolved) and not
    a cleaner the job's client has blocked since. In the INSERT's own SQL: no rows to Python.
    """
    from django.contrib.auth import get_user_model

    from jobs.models import CleaningJob, ClientBlock

    users, blocks, jobs = get_user_model()._meta.db_table, ClientBlock._meta.db_table, CleaningJob._meta.db_table
    sql = (
        f"JOIN {users} u ON u.id = r.id AND u.is_active = %s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {blocks} b JOIN {jobs} j ON j.client_id = b.client_id "
        f"WHERE j.id = %s AND b.cleaner_id = r.id)"
    )
    return sql, [True, job_id]


def _after_job_left_open(event: OutboxEvent) -> None:
    """When a job is taken or cancelled, retract the unread offers of everyone who did not get it."""
    if event.event_type not in (NotificationType.JOB_ACCEPTED, NotificationType.JOB_CANCELLED):
        return
    notifications_expire_job_offers(job_id=event.payload["job_id"])


def notifications_expire_job_offers(*, job_id: int) -> int:
    from jobs.models import CleaningJob

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
    _push_after_commit(
        [streams.StreamEvent(recipient_id, "notification_expired", {"ids": [pk], "job_id": job_id}) for pk, recipient_id in expired]
    )
    return len(expired)


# --- announcements and reminders ------------------------------------------------


@transaction.atomic
def announcement_send(*, audience: str, title: str, message: str) -> OutboxEvent:
    """Staff send a system_alert to everyone, all cleaners or all clients."""
    errors = {}
    if audience not in plans.AUDIENCES:
        errors["audience"] = [f"Choose one of: {', '.join(plans.AUDIENCES)}."]
    if not title or not title.strip():
        errors["title"] = ["A title is required."]
    elif len(title) > 200:
        errors["title"] = ["At most 200 characters."]
    if not message or not message.strip():
        errors["message"] = ["A message is required."]
    elif len(message) > 2000:
        errors["message"] = ["At most 2000 characters."]
    if errors:
        raise ValidationError(errors)
    return outbox_record(
        event_type=NotificationType.SYSTEM_ALERT,
        payload={"audience": audience, "title": title.strip(), "message": message.strip()},
    )


REMINDER_LEAD = timedelta(hours=24)


def reminders_schedule_due() -> int:
    """Beat: one reminder per assigned job starting within the next 24 hours."""
    from jobs.models import CleaningJob, JobStatus

    now = timezone.now()
    due_ids = list(
        CleaningJob.objects.filter(
            status=JobStatus.ASSIGNED, scheduled_start__gt=now, scheduled_start__lte=now + REMINDER_LEAD
        ).values_list("pk", flat=True)
    )
    keys = {job_id: f"reminder:job:{job_id}" for job_id in due_ids}
    already = set(OutboxEvent.objects.filter(dedupe_key__in=keys.values()).values_list("dedupe_key", flat=True))
    recorded = 0
    for job_id, key in keys.items():
        if key in already:
            continue
        with transaction.atomic():
            if outbox_record(event_type=NotificationType.REMINDER, payload={"job_id": job_id}, dedupe_key=key):
                recorded += 1
    return recorded
