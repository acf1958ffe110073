"""Who each outbox event is for, and how far its fan-out got, in words staff can read.

The admin's outbox list shows these for a page of events at once: the progress
comes from annotations on the page's query (with_fanout_progress), the audience
from the event's payload plus one query per kind of object the page mentions, so
a page costs the same few queries whatever its length.
"""

from django.db.models import Count, Func, IntegerField, Q, QuerySet, Sum

from jobs.models import CleaningJob, JobBid, JobMessage, Payment

from .catalog import NotificationType
from .models import OutboxEvent, OutboxStatus

ANNOUNCEMENT_AUDIENCES = {"all": "everyone", "cleaners": "all cleaners", "clients": "all clients"}
JOB_EVENTS = {
    NotificationType.JOB_CREATED,
    NotificationType.JOB_ASSIGNED,
    NotificationType.JOB_STARTED,
    NotificationType.JOB_COMPLETED,
    NotificationType.JOB_CANCELLED,
    NotificationType.REMINDER,
}
BID_EVENTS = {NotificationType.BID_RECEIVED, NotificationType.BID_ACCEPTED, NotificationType.BID_REJECTED}


class JSONArrayLength(Func):
    """The length of a JSON array column (PostgreSQL jsonb_array_length, SQLite json_array_length)."""

    function = "jsonb_array_length"
    output_field = IntegerField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="json_array_length", **extra_context)


def with_fanout_progress(events: QuerySet) -> QuerySet:
    """Annotate each event with its chunks done, failed and total, the audience resolved and the rows stored."""
    return events.annotate(
        chunks_total=Count("chunks"),
        chunks_done=Count("chunks", filter=Q(chunks__is_done=True)),
        chunks_failed=Count("chunks", filter=Q(chunks__is_failed=True)),
        audience_size=Sum(JSONArrayLength("chunks__recipient_ids")),
        recipients_stored=Sum("chunks__recipient_count", filter=Q(chunks__is_done=True)),
    )


def progress_label(event: OutboxEvent) -> str:
    """E.g. "2/3 chunks, 10,000 of 12,412 stored, 1 failed"; needs with_fanout_progress."""
    total = getattr(event, "chunks_total", 0)
    if not total:
        if event.delivered_directly:
            return f"{event.recipient_count:,} stored directly"
        if event.status == OutboxStatus.DONE:
            return "nobody to notify"
        if event.status == OutboxStatus.FAILED:
            return "failed before its audience was resolved"
        return "audience not resolved yet"
    text = f"{event.chunks_done}/{total} chunks, {event.recipients_stored or 0:,} of {event.audience_size or 0:,} stored"
    if event.chunks_failed:
        text += f", {event.chunks_failed} failed"
    return text


def audience_labels(events: list[OutboxEvent]) -> dict[int, str]:
    """{event id: who it is for}, e.g. "412 eligible cleaners of job #12", "client1 (client of job #12)"."""
    ids = {"job_id": set(), "bid_id": set(), "message_id": set(), "payment_id": set()}
    for event in events:
        for key, wanted in ids.items():
            if isinstance(event.payload.get(key), int):
                wanted.add(event.payload[key])
    jobs = {
        pk: client
        for pk, client in CleaningJob.objects.filter(pk__in=ids["job_id"]).values_list("pk", "client__username")
    }
    bids = {
        pk: (job_id, cleaner, client)
        for pk, job_id, cleaner, client in JobBid.objects.filter(pk__in=ids["bid_id"]).values_list(
            "pk", "job_id", "cleaner__username", "job__client__username"
        )
    }
    messages = {
        pk: (job_id, recipient)
        for pk, job_id, recipient in JobMessage.objects.filter(pk__in=ids["message_id"]).values_list(
            "pk", "job_id", "recipient__username"
        )
    }
    payments = {
        pk: (job_id, payee)
        for pk, job_id, payee in Payment.objects.filter(pk__in=ids["payment_id"]).values_list("pk", "job_id", "payee__username")
    }
    return {event.pk: _audience(event, jobs, bids, messages, payments) for event in events}


def _audience_size(event: OutboxEvent) -> int | None:
    """The resolved audience: its chunks' ids, or a direct-path event's recipients (it has no chunks)."""
    return event.recipient_count if event.delivered_directly else getattr(event, "audience_size", None)


def _audience(event, jobs, bids, messages, payments) -> str:
    kind, payload = event.event_type, event.payload
    if kind == NotificationType.SYSTEM_ALERT:
        label = ANNOUNCEMENT_AUDIENCES.get(payload.get("audience"), str(payload.get("audience")))
        size = _audience_size(event)
        return f"{label} ({size:,})" if size else label
    if kind in JOB_EVENTS:
        job_id = payload.get("job_id")
        if kind == NotificationType.JOB_CREATED:
            size = _audience_size(event)
            if size:
                return f"{size:,} eligible cleaner{'s' if size != 1 else ''} of job #{job_id}"
            if event.status == OutboxStatus.DONE:
                return f"no eligible cleaners of job #{job_id} (or it was no longer open)"
            return f"eligible cleaners of job #{job_id}"
        if kind == NotificationType.JOB_CANCELLED:
            count = len(payload.get("cleaner_ids") or [])
            return f"{count} cleaner{'s' if count != 1 else ''} who bid on or held job #{job_id}"
        if kind == NotificationType.REMINDER:
            return f"client and cleaner of job #{job_id}"
        if job_id not in jobs:
            return f"client of job #{job_id} (deleted)"
        return f"{jobs[job_id]} (client of job #{job_id})"
    if kind in BID_EVENTS:
        bid_id = payload.get("bid_id")
        if bid_id not in bids:
            return f"bid #{bid_id} (deleted)"
        job_id, cleaner, client = bids[bid_id]
        if kind == NotificationType.BID_RECEIVED:
            return f"{client} (client of job #{job_id})"
        return f"{cleaner} (bidder on job #{job_id})"
    if kind == NotificationType.MESSAGE_RECEIVED:
        message_id = payload.get("message_id")
        if message_id not in messages:
            return f"message #{message_id} (deleted)"
        job_id, recipient = messages[message_id]
        return f"{recipient} (about job #{job_id})"
    if kind == NotificationType.PAYMENT_RECEIVED:
        payment_id = payload.get("payment_id")
        if payment_id not in payments:
            return f"payment #{payment_id} (deleted)"
        job_id, payee = payments[payment_id]
        return f"{payee} (paid for job #{job_id})"
    return "-"
