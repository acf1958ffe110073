"""Receipts: what reached the recipient's screen, acknowledged by their pages.

delivered (a page received the frame) -> seen (shown while the tab was visible) -> clicked
(its action followed). A later state implies the earlier ones, so a "seen" ack also delivers.
Each timestamp is the server's and is set once: acks only move a row forward, touch only the
caller's own rows, and repeating one changes nothing. One UPDATE per state per batch.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from project.exceptions import InvalidInput

from . import metrics
from .models import Notification, OutboxEvent

RECEIPT_STATES = ("delivered", "seen", "clicked")


def receipt_ids_limit() -> int:
    return settings.NOTIFICATION_RECEIPTS_MAX_IDS


@transaction.atomic
def notification_receipts_record(*, user, delivered: list[int], seen: list[int], clicked: list[int]) -> dict[str, int]:
    """Record a page's acks; returns how many rows each state moved forward."""
    limit = receipt_ids_limit()
    for state, ids in (("delivered", delivered), ("seen", seen), ("clicked", clicked)):
        if len(ids) > limit:
            raise InvalidInput(f"At most {limit} ids per list.", field=state)
    clicked_ids = set(clicked)
    seen_ids = set(seen) | clicked_ids
    delivered_ids = set(delivered) | seen_ids
    now = timezone.now()
    own = Notification.objects.filter(recipient_id=user.pk)
    changed = {}
    if delivered_ids:
        # Locked, so two acks of the same row at once observe its latency once.
        event_ids = list(
            own.select_for_update().filter(pk__in=delivered_ids, delivered_at__isnull=True).values_list("event_id", flat=True)
        )
        committed = dict(OutboxEvent.objects.filter(pk__in=set(event_ids) - {None}).values_list("pk", "created_at"))
        first_delivery = [committed[event_id] for event_id in event_ids if event_id in committed]
        transaction.on_commit(lambda: _observe_commit_to_delivered(first_delivery, now))
    for state, ids in (("delivered", delivered_ids), ("seen", seen_ids), ("clicked", clicked_ids)):
        field = f"{state}_at"
        changed[state] = own.filter(pk__in=ids, **{f"{field}__isnull": True}).update(**{field: now}) if ids else 0
    return changed


def _observe_commit_to_delivered(committed_at: list, delivered_at) -> None:
    """The operator's latency histogram: from the event's commit to the first page that got it."""
    for moment in committed_at:
        metrics.delivery_latency_observe((delivered_at - moment).total_seconds())
