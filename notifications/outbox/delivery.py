"""Delivering one chunk: insert its notifications, publish them, mark it (and maybe its event) done.

Publishing comes after the insert commits and before the chunk is marked done: a crash
in between repeats the publish (pages drop repeats by id), never skips it.
"""

import json
from functools import partial

from celery import shared_task
from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import FloatField, Sum, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Round
from django.db.models.sql import Query
from django.utils import timezone

from jobs.models import CleanerProfile, CleaningJob, ClientBlock
from jobs.selectors import great_circle_km
from project import prepared

from .. import metrics, partitions, plans, rendering, sequencing
from ..channels import dispatching as channel_dispatching
from ..channels import routing as channel_routing
from ..sse import publishing
from ..models import Notification, OutboxChunk, OutboxEvent, OutboxStatus
from . import failures


def outbox_chunk_deliver(*, chunk_id: int, plan: plans.DeliveryPlan | None = None) -> None:
    """Deliver one chunk; safe to run any number of times, in sequence or at once.

    `plan` is the event's plan when the dispatch built it in this same run; a chunk task
    run later builds it again, which re-checks the world (is the job still open?).
    A non-transient error counts an attempt; the last one fails the chunk and its event.
    """
    with failures.counting_failed_attempts(failures.outbox_chunk_attempt_failed, chunk_id=chunk_id):
        _deliver(chunk_id=chunk_id, plan=plan)


@shared_task(name="notifications.outbox_chunk_deliver", **failures.RETRY_TRANSIENT)
def outbox_chunk_deliver_task(chunk_id: int) -> None:
    outbox_chunk_deliver(chunk_id=chunk_id)


def _deliver(*, chunk_id: int, plan: plans.DeliveryPlan | None) -> None:
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
        if plan is None:
            plan = plans.delivery_plan_for(event_type=event.event_type, payload=event.payload)
        elif not plans.plan_still_current(event_type=event.event_type, payload=event.payload):
            plan = None
        if plan is not None:
            rendered = rendering.template_render(notification_type=event.event_type, context=plan.content.context)
            _insert_notifications(event=event, content=plan.content, rendered=rendered, recipient_ids=chunk.recipient_ids)

    delivered = Notification.objects.filter(
        event_id=event.pk, recipient_id__gte=chunk.first_recipient_id, recipient_id__lte=chunk.last_recipient_id
    ).order_by("recipient_id")
    metrics.notifications_published(publishing.publish_notifications(delivered))
    count = delivered.count()  # stored rows: rows retracted since are not re-published, but were delivered

    with transaction.atomic():
        # Chunks of one event take turns here, on the event row: two finishing at once would
        # each miss the other's uncommitted update and neither would mark the event done.
        list(OutboxEvent.objects.select_for_update().filter(pk=event.pk).values_list("pk", flat=True))
        OutboxChunk.objects.filter(pk=chunk.pk).update(
            is_done=True, recipient_count=count, updated_at=timezone.now(), published_at=timezone.now()
        )
        if not OutboxChunk.objects.filter(event_id=event.pk, is_done=False).exists():
            total = OutboxChunk.objects.filter(event_id=event.pk).aggregate(total=Sum("recipient_count"))["total"]
            outbox_event_finish(event, recipient_count=total or 0)


def outbox_event_finish(event: OutboxEvent, *, recipient_count: int, attempts: int | None = None) -> None:
    """Mark the event done; `attempts` is written too when the dispatch counted one in this transaction."""
    # Raw SQL: it runs for every event, and the ORM's query building cost more CPU than the query.
    # Two fixed texts: prepared once per connection on PostgreSQL (project/prepared.py).
    counted, counted_params = ("", []) if attempts is None else (", attempts = %s", [attempts])
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with prepared.cursor() as cursor:
        cursor.execute(
            f"UPDATE {OutboxEvent._meta.db_table} SET status = %s, recipient_count = %s, processed_at = %s, "
            f"updated_at = %s{counted} WHERE id = %s AND NOT (status = %s)",
            [OutboxStatus.DONE, recipient_count, now, now, *counted_params, event.pk, OutboxStatus.DONE],
        )
        finished = cursor.rowcount
    if finished:
        transaction.on_commit(
            partial(metrics.outbox_event_finished, event_type=event.event_type, recorded_at=event.created_at, recipient_count=recipient_count)
        )


def _insert_notifications(
    *, event: OutboxEvent, content: plans.Content, rendered, recipient_ids: list[int]
) -> list[tuple[int, int]]:
    """One INSERT ... SELECT for the whole chunk, the ids (and their seqs) passed as array parameters.

    Returns the rows it stored, as (notification id, recipient id).
    """
    metadata, why_join, why_params = _metadata_sql(content)
    # Rows r(id, seq): each recipient with its next seq, taken now (notifications.sequencing).
    ids_sql, ids_params = sequencing.seqs_take_as_rows(recipient_ids=recipient_ids)
    table = Notification._meta.db_table
    still_reachable, still_reachable_params = _still_reachable_recipients_sql(job_id=content.job_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (recipient_id, event_id, notification_type, title, message, priority, "
            f"is_read, action_url, metadata, job_id, group_key, created_at, partition_month, seq) "
            f"SELECT r.id, %s, %s, %s, %s, %s, %s, %s, {metadata}, %s, %s, %s, %s, r.seq FROM {ids_sql} {why_join} {still_reachable} "
            f"ON CONFLICT (event_id, recipient_id, partition_month) DO NOTHING RETURNING id, recipient_id",
            [
                event.pk,
                event.event_type,
                rendered.title,
                rendered.message,
                rendered.priority,
                False,
                content.action_url,
                json.dumps(content.metadata, cls=DjangoJSONEncoder),
                *why_params,
                content.job_id,
                content.group_key,
                connection.ops.adapt_datetimefield_value(timezone.now()),
                connection.ops.adapt_datefield_value(partitions.month_of(event.created_at)),
                *ids_params,
                *still_reachable_params,
            ],
        )
        # Whoever the INSERT skipped (already stored, or left out) gives its seq back: no gap.
        stored = cursor.fetchall()
        sequencing.seqs_give_back_unused(taken=recipient_ids, inserted=[user_id for (_, user_id) in stored])
        transaction.on_commit(partial(metrics.notifications_stored, cursor.rowcount))
    # Email and push rows in this same transaction: a notification never exists without them
    # (a chunk run again stores nothing new, and its first run made their rows).
    due_now = channel_routing.deliveries_create_for_chunk(notification_type=event.event_type, stored=stored)
    if due_now:
        transaction.on_commit(channel_dispatching.dispatch_due_soon)
    return stored


def _metadata_sql(content: plans.Content) -> tuple[str, str, list]:
    """The metadata column's SQL, a JOIN it needs, and its params (the shared JSON first).

    An offer's metadata["why"] gets each cleaner's distance to the job and their radius,
    merged in SQL with the selector's own distance expression: nothing per row in Python.
    The JOIN on the profile also drops anyone who stopped being a cleaner since.
    """
    postgres = connection.vendor == "postgresql"  # else SQLite, the embedded default
    shared = "CAST(%s AS jsonb)" if postgres else "%s"
    if content.why_distance_from is None:
        return shared, "", []
    profiles = CleanerProfile._meta.db_table
    latitude, longitude = content.why_distance_from
    profile_latitude, profile_longitude = (RawSQL(f"cp.{column}", [], FloatField()) for column in ("latitude", "longitude"))
    distance, params = _compile(Round(great_circle_km(Value(latitude), Value(longitude), profile_latitude, profile_longitude), 2))
    if postgres:
        metadata = (
            f"jsonb_set(jsonb_set({shared}, '{{why,distance_km}}', to_jsonb({distance})), "
            f"'{{why,radius_km}}', to_jsonb(cp.service_radius_km))"
        )
    else:
        metadata = f"json_set({shared}, '$.why.distance_km', {distance}, '$.why.radius_km', cp.service_radius_km)"
    return metadata, f"JOIN {profiles} cp ON cp.user_id = r.id", params


def _compile(expression) -> tuple[str, list]:
    """A query expression as SQL and params, its column references left as written (cp.*)."""
    query = Query(CleanerProfile)
    sql, params = query.get_compiler(connection=connection).compile(expression.resolve_expression(query))
    return sql, list(params)


def _still_reachable_recipients_sql(*, job_id: int | None) -> tuple[str, list]:
    """JOIN/WHERE keeping only the chunk's recipients who may still get it: `r.id` that is
    an active user (not deleted or deactivated since the audience was resolved) and not
    a cleaner the job's client has blocked since. In the INSERT's own SQL: no rows to Python.
    """
    users, blocks, jobs = get_user_model()._meta.db_table, ClientBlock._meta.db_table, CleaningJob._meta.db_table
    sql = (
        f"JOIN {users} u ON u.id = r.id AND u.is_active = %s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {blocks} b JOIN {jobs} j ON j.client_id = b.client_id "
        f"WHERE j.id = %s AND b.cleaner_id = r.id)"
    )
    return sql, [True, job_id]
