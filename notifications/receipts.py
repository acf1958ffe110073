"""Receipts: what reached the recipient's screen, acknowledged by their pages.

delivered (a page received the frame) -> seen (shown while the tab was visible) -> clicked
(its action followed). A later state implies the earlier ones, so a "seen" ack also delivers.
Each timestamp is the server's (when the ack arrived) and is set once: acks only move a row
forward, touch only their sender's own rows (of an active account), and repeating one changes
nothing. Two doors call this module: the API (one ack per request) and the pages' receipts door
(notifications/receipts_door.py, many acks per batch); either way one UPDATE per state.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from project.exceptions import InvalidInput

from . import metrics
from .models import Notification, OutboxEvent

RECEIPT_STATES = ("delivered", "seen", "clicked")
MAX_ID = 2**63 - 1
# Rows per UPDATE: three parameters each, well under SQLite's 32,766.
ROWS_PER_STATEMENT = 2000


@dataclass(frozen=True)
class Ack:
    """One page's acks of its user's notifications, at the moment the server received them."""

    user_id: int
    delivered: Sequence[int]
    seen: Sequence[int]
    clicked: Sequence[int]
    at: datetime


def receipt_ids_limit() -> int:
    return settings.NOTIFICATION_RECEIPTS_MAX_IDS


def receipt_ids_check(*, delivered: Sequence[int], seen: Sequence[int], clicked: Sequence[int]) -> None:
    """An ack carries at most NOTIFICATION_RECEIPTS_MAX_IDS ids per state, whichever door it came in by."""
    limit = receipt_ids_limit()
    for state, ids in (("delivered", delivered), ("seen", seen), ("clicked", clicked)):
        if len(ids) > limit:
            raise InvalidInput(f"At most {limit} ids per list.", field=state)


def receipt_acks_parse(data: object) -> dict[str, list[int]]:
    """An ack's body, as either door receives it: {"delivered"|"seen"|"clicked": [ids]}, each optional."""
    if not isinstance(data, dict):
        raise InvalidInput("Expected a JSON object with the lists delivered, seen and clicked.")
    parsed = {}
    for state in RECEIPT_STATES:
        ids = data.get(state, [])
        # bool is an int in Python; the bound keeps every id a PostgreSQL bigint.
        if not isinstance(ids, list) or not all(type(i) is int and 0 < i <= MAX_ID for i in ids):
            raise InvalidInput("Expected a list of notification ids (positive integers).", field=state)
        parsed[state] = ids
    receipt_ids_check(**parsed)
    return parsed


def notification_receipts_record(*, user, delivered: list[int], seen: list[int], clicked: list[int]) -> dict[str, int]:
    """Record one page's acks now; returns how many rows each state moved forward."""
    receipt_ids_check(delivered=delivered, seen=seen, clicked=clicked)
    return notification_receipts_record_many([Ack(user.pk, delivered, seen, clicked, timezone.now())])


@transaction.atomic
def notification_receipts_record_many(acks: Iterable[Ack]) -> dict[str, int]:
    """Record a batch of acks (any users) in one transaction; how many rows each state moved forward."""
    rows: dict[str, dict[tuple[int, int], datetime]] = {state: {} for state in RECEIPT_STATES}
    for ack in acks:
        clicked = set(ack.clicked)
        seen = set(ack.seen) | clicked
        for state, ids in (("delivered", set(ack.delivered) | seen), ("seen", seen), ("clicked", clicked)):
            for notification_id in ids:
                key = (notification_id, ack.user_id)
                rows[state][key] = min(ack.at, rows[state].get(key, ack.at))  # the first ack of a row counts
    changed = {}
    for state in RECEIPT_STATES:
        moved = _receipts_set(state, rows[state])
        changed[state] = len(moved)
        if state == "delivered" and moved:
            _observe_commit_to_delivered(moved, rows[state])
    return changed


def _receipts_set(state: str, rows: dict[tuple[int, int], datetime]) -> list[tuple[int, int, int | None]]:
    """UPDATE ... FROM (the acks) where the row is the acker's, unset, and its user active.

    Returns (id, recipient id, event id) of the rows moved forward. Under PostgreSQL a row two
    batches ack at once is moved (and returned) by one of them only: the second UPDATE
    re-checks `IS NULL` after the first commits.
    """
    table, users = Notification._meta.db_table, get_user_model()._meta.db_table
    column = f"{state}_at"
    postgres = connection.vendor == "postgresql"  # else SQLite, the embedded default
    cell = "(CAST(%s AS bigint), CAST(%s AS bigint), CAST(%s AS timestamptz))" if postgres else "(%s, %s, %s)"
    moved = []
    items = list(rows.items())
    for start in range(0, len(items), ROWS_PER_STATEMENT):
        part = items[start:start + ROWS_PER_STATEMENT]
        params = [p for (nid, uid), at in part for p in (nid, uid, connection.ops.adapt_datetimefield_value(at))]
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH acks(id, recipient_id, at) AS (VALUES {', '.join([cell] * len(part))}) "
                f"UPDATE {table} SET {column} = acks.at FROM acks "
                f"WHERE {table}.id = acks.id AND {table}.recipient_id = acks.recipient_id AND {table}.{column} IS NULL "
                f"AND EXISTS (SELECT 1 FROM {users} u WHERE u.id = acks.recipient_id AND u.is_active) "
                f"RETURNING {table}.id, {table}.recipient_id, {table}.event_id",
                params,
            )
            moved.extend(cursor.fetchall())
    return moved


def _observe_commit_to_delivered(moved, rows: dict[tuple[int, int], datetime]) -> None:
    """The operator's latency histogram: from the event's commit to the first page that got it."""
    committed = dict(OutboxEvent.objects.filter(pk__in={e for _, _, e in moved} - {None}).values_list("pk", "created_at"))
    seconds = [(rows[(nid, uid)] - committed[eid]).total_seconds() for nid, uid, eid in moved if eid in committed]
    transaction.on_commit(lambda: [metrics.delivery_latency_observe(s) for s in seconds])
