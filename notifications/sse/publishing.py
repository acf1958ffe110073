"""Publishing (any process: Celery worker, web request): events and stored notifications to open pages.

Call after the commit the events report. Each frame is encoded once and handed to the
transport (transports.current()) in batches.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import frames, transports
from .transports import PUBLISH_BATCH


def publish(events: Iterable[frames.StreamEvent]) -> int:
    """Push events to their users' open pages."""
    return transports.current().send_frames(
        (event.user_id, frames.frame(event.event, event.data, event.id)) for event in events
    )


def publish_notifications(notifications) -> int:
    """Push stored notifications, one frame each, without a query per recipient.

    Accepts a queryset (read once, a few columns at a time) of one event's
    notifications: everything but id, recipient and the row's state (read, receipts) is
    shared, so the serializer runs once on the first row and its JSON is encoded once;
    only the id and the state are spliced in. Retracted (expired) rows are not
    sent: a re-publish must not bring them back. The SSE id is the seq.
    """
    notifications = notifications.filter(expired_at__isnull=True)
    first = notifications.first()
    if first is None:
        return 0
    event_frames = frames.NotificationFrames(first)
    columns = ("pk", "recipient_id", "seq", *frames.ROW_STATE_COLUMNS, *event_frames.per_row_columns)
    rows = notifications.values_list(*columns).iterator(chunk_size=PUBLISH_BATCH)
    return transports.current().send_frames(event_frames.for_rows(rows))


def publish_notification_rows(rows: list) -> int:
    """The frames publish_notifications sends, from Notification rows already read (the direct
    path reads them in its own transaction, so its publish after the commit runs no query)."""
    rows = [row for row in rows if row.expired_at is None]
    if not rows:
        return 0
    event_frames = frames.NotificationFrames(rows[0])
    per_row_why = bool(event_frames.per_row_columns)
    values = (
        (
            row.pk, row.recipient_id, row.seq, *(getattr(row, column) for column in frames.ROW_STATE_COLUMNS),
            # The same two numbers as per_row_columns' Cast(... AS float) in SQL.
            *((float(row.metadata["why"]["distance_km"]), float(row.metadata["why"]["radius_km"])) if per_row_why else ()),
        )
        for row in rows
    )
    return transports.current().send_frames(event_frames.for_rows(values))
