"""Per-user delivery sequence: every notification row gets the next `seq` of its recipient.

Why: ids are taken at INSERT, but rows become visible at COMMIT, so a page that
reconnects with "the newest id I saw" can miss a lower id committed later. The
per-user counter row is incremented in the inserting transaction and stays locked
until it commits, so for one user seq order is commit order and seqs have no gaps
(a rollback rolls the increment back too). A reconnect that replays `seq > last`
is therefore exact.

Every insert of Notification rows numbers them here: the ORM paths (save,
bulk_create, the factories) through `seqs_assign`, the fan-out's raw INSERT
through `seqs_assign_inserted` on the rows it actually inserted.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence

from django.db import connection


def _take(counts: dict[int, int]) -> dict[int, int]:
    """Add counts[user] to each user's counter; returns {user: new last_seq}.

    One upsert for all users, in user id order, so transactions that number
    overlapping users take the counter row locks in the same order (no deadlock).
    The locks are held until the caller's transaction commits.
    """
    if not counts:
        return {}
    from .models import NotificationSequence

    table = NotificationSequence._meta.db_table
    users = sorted(counts)
    if connection.vendor == "postgresql":
        source = "SELECT u, n FROM unnest(%s::bigint[], %s::bigint[]) AS t(u, n) ORDER BY u"
        params = [users, [counts[u] for u in users]]
    else:  # SQLite: one writer at a time anyway
        source = (
            "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(%s) WHERE true ORDER BY 1"
        )
        params = [json.dumps([[u, counts[u]] for u in users])]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (user_id, last_seq) {source} "
            f"ON CONFLICT (user_id) DO UPDATE SET last_seq = {table}.last_seq + EXCLUDED.last_seq "
            f"RETURNING user_id, last_seq",
            params,
        )
        return dict(cursor.fetchall())


def _numbered(recipient_ids: Sequence[int]) -> list[int]:
    """The seqs for rows of these recipients, in the given order (a user's rows in ascending seq)."""
    counts = Counter(recipient_ids)
    last = _take(counts)
    next_seq = {user: last[user] - n + 1 for user, n in counts.items()}
    seqs = []
    for user in recipient_ids:
        seqs.append(next_seq[user])
        next_seq[user] += 1
    return seqs


def seqs_assign(notifications: Iterable) -> None:
    """Give unsaved Notification objects their seqs; call in the transaction that inserts them."""
    pending = [n for n in notifications if n.seq is None]
    for notification, seq in zip(pending, _numbered([n.recipient_id for n in pending]), strict=True):
        notification.seq = seq


def seqs_assign_inserted(rows: Sequence[tuple[int, int]]) -> None:
    """Number rows a raw INSERT just stored: (notification id, recipient id) pairs from its RETURNING.

    Numbering what was actually inserted (not what was offered to the INSERT) keeps the
    seqs gapless whatever the INSERT skipped: conflicts, or recipients its joins left out.
    """
    if not rows:
        return
    from .models import Notification

    rows = sorted(rows)  # a user's rows get ascending seqs in id order
    seqs = _numbered([recipient_id for _, recipient_id in rows])
    table = Notification._meta.db_table
    if connection.vendor == "postgresql":
        source, params = "unnest(%s::bigint[], %s::bigint[]) AS v(id, seq)", [[i for i, _ in rows], seqs]
    else:
        source = (
            "(SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS seq FROM json_each(%s)) AS v"
        )
        params = [json.dumps([[i, s] for (i, _), s in zip(rows, seqs, strict=True)])]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET seq = v.seq FROM {source} WHERE {table}.id = v.id", params)


def seq_current(*, user_id: int) -> int:
    """The user's last assigned seq: every row up to it is committed (0 before the first)."""
    from .models import NotificationSequence

    return NotificationSequence.objects.filter(user_id=user_id).values_list("last_seq", flat=True).first() or 0
