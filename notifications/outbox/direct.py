"""The direct path: an event with a handful of recipients, delivered in its dispatch's one transaction.

No chunk rows: the event row, locked by the dispatch, is the unit of work. Insert, channel
rows and "done" commit together, the frames go out after the commit. A crash between the
commit and the publish loses no frame: the task is acknowledged late, so the broker gives
it again, and a run that finds its event done and direct publishes the stored rows again
(pages drop repeats by id). The sweeper needs nothing new: an event is pending until the
one transaction commits.
"""

from collections.abc import Callable
from datetime import date
from functools import partial

from jobs.compiled import CompiledQuery

from .. import metrics, partitions, plans, rendering
from ..models import Notification, OutboxEvent
from ..sse import publishing
from .delivery import _insert_notifications, outbox_event_finish


def outbox_event_deliver_direct(event: OutboxEvent, *, plan: plans.DeliveryPlan, recipient_ids: list[int]) -> Callable[[], None]:
    """Store the event's notifications and mark it done, in the caller's transaction (the event row
    locked, `event.attempts` counting this run); returns the publish to run once it commits."""
    rendered = rendering.template_render(notification_type=event.event_type, context=plan.content.context)
    stored = _insert_notifications(event=event, content=plan.content, rendered=rendered, recipient_ids=recipient_ids)
    # Read in this transaction: the publish after the commit needs no query.
    rows = _rows_read(ids=[pk for pk, _ in stored], month=partitions.month_of(event.created_at))
    outbox_event_finish(event, recipient_count=len(stored), attempts=event.attempts)
    return partial(_publish, rows)


def outbox_event_republish(*, event_id: int) -> None:
    """Publish a direct event's stored rows again: its first run may have died before publishing."""
    stored = Notification.objects.filter(event_id=event_id).order_by("recipient_id")
    metrics.notifications_published(publishing.publish_notifications(stored))


# A handful of rows, where building the query cost more than the read: compiled once per
# number of rows (jobs/compiled.py). Their month names their partition: one is searched, not every month's.
_rows_by_id = CompiledQuery(
    lambda values: Notification.objects.filter(partition_month=values["month"], pk__in=values["ids"]).order_by("recipient_id")
)


def rows_read_prepare() -> None:
    """Compile and prepare the read of one stored row (a single recipient's event) before the first
    event (project/warmup.py)."""
    _rows_by_id.prepare({"month": date(2000, 1, 1), "ids": (0,)})


def _rows_read(*, ids: list[int], month: date) -> list[Notification]:
    """The rows by id, in recipient order."""
    if not ids:
        return []
    return _rows_by_id.all({"month": month, "ids": tuple(ids)})


def _publish(rows: list[Notification]) -> None:
    metrics.notifications_published(publishing.publish_notification_rows(rows))
