"""The trace of a notification, hop by hop, and the funnel of an outbox event (reads for the admin).

Hops: the event's commit (OutboxEvent.created_at, written in the transaction of the change),
the row's insert (Notification.created_at), the publish (OutboxChunk.published_at, per chunk; a
direct-path event's processed_at, its commit, which its publish follows at once),
then the page's receipts (delivered_at, seen_at) and the user's read_at and clicked_at.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, Q, Sum

from .models import Notification, OutboxChunk, OutboxEvent

PERCENTILES = (0.5, 0.95, 0.99)
# Off PostgreSQL the percentiles are computed in Python from at most this many rows.
PYTHON_PERCENTILE_ROWS = 100_000


@dataclass(frozen=True)
class Hop:
    name: str
    at: datetime | None
    since_previous: timedelta | None


def notification_timeline(notification: Notification) -> list[Hop]:
    """Each hop's time and its latency from the previous hop that happened."""
    event = notification.event
    published_at = None
    if event is not None and event.delivered_directly:
        published_at = event.processed_at
    elif event is not None:
        published_at = (
            OutboxChunk.objects.filter(
                event_id=event.pk,
                first_recipient_id__lte=notification.recipient_id,
                last_recipient_id__gte=notification.recipient_id,
            )
            .values_list("published_at", flat=True)
            .first()
        )
    times = [
        ("committed", event.created_at if event is not None else None),
        ("stored", notification.created_at),
        ("published", published_at),
        ("delivered", notification.delivered_at),
        ("seen", notification.seen_at),
        ("read", notification.read_at),
        ("clicked", notification.clicked_at),
    ]
    hops, previous = [], None
    for name, at in times:
        hops.append(Hop(name, at, at - previous if at is not None and previous is not None else None))
        if at is not None:
            previous = at
    return hops


def outbox_event_funnel(event: OutboxEvent) -> dict[str, int]:
    """recipients, stored, published, delivered, seen, read, clicked: two aggregate queries."""
    counts = Notification.objects.filter(event_id=event.pk).aggregate(
        stored=Count("pk"),
        delivered=Count("pk", filter=Q(delivered_at__isnull=False)),
        seen=Count("pk", filter=Q(seen_at__isnull=False)),
        read=Count("pk", filter=Q(read_at__isnull=False)),
        clicked=Count("pk", filter=Q(clicked_at__isnull=False)),
    )
    if event.delivered_directly:
        published = event.recipient_count  # no chunks: published right after its one commit
    else:
        published = OutboxChunk.objects.filter(event_id=event.pk, published_at__isnull=False).aggregate(
            n=Sum("recipient_count")
        )["n"]
    return {
        "recipients": event.recipient_count,
        "stored": counts["stored"],
        "published": published or 0,
        "delivered": counts["delivered"],
        "seen": counts["seen"],
        "read": counts["read"],
        "clicked": counts["clicked"],
    }


def outbox_event_delivery_latency(event: OutboxEvent) -> dict[float, float] | None:
    """Commit-to-delivered percentiles in seconds ({0.5: s, 0.95: s, 0.99: s}); None before any delivery."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT PERCENTILE_CONT(%s::float8[]) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM delivered_at - %s)::float8)
                FROM {Notification._meta.db_table}
                WHERE event_id = %s AND delivered_at IS NOT NULL
                """,
                [list(PERCENTILES), event.created_at, event.pk],
            )
            values = cursor.fetchone()[0]
        return dict(zip(PERCENTILES, (float(v) for v in values))) if values else None
    delivered = Notification.objects.filter(event_id=event.pk, delivered_at__isnull=False)
    seconds = sorted(
        (at - event.created_at).total_seconds()
        for at in delivered.values_list("delivered_at", flat=True)[:PYTHON_PERCENTILE_ROWS]
    )
    return {p: _percentile_cont(seconds, p) for p in PERCENTILES} if seconds else None


def _percentile_cont(sorted_values: list[float], fraction: float) -> float:
    """PostgreSQL's PERCENTILE_CONT: linear interpolation between the closest ranks."""
    position = fraction * (len(sorted_values) - 1)
    lower = int(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * (position - lower)


def duration_label(seconds: float) -> str:
    """A latency as the admin shows it: milliseconds under a second, else seconds."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"
