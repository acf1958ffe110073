"""Per-user delivery sequence: every notification row gets the next `seq` of its recipient.

Why: ids are taken at INSERT, but rows become visible at COMMIT, so a page that
reconnects with "the newest id I saw" can miss a lower id committed later. The
per-user counter row is incremented in the inserting transaction and stays locked
until it commits, so for one user seq order is commit order and seqs have no gaps
(a rollback rolls the increment back too). A reconnect that replays `seq > last`
is therefore exact.

Every insert of Notification rows numbers them here: the ORM paths (save,
bulk_create, the factories) through `seqs_assign`, the fan-out's raw INSERT
through `seqs_take_as_rows`, then `seqs_give_back_unused` for the recipients it
skipped (already stored: a chunk run twice; or left out by the INSERT's joins).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence

from django.db import connection
from django.db.models import F

from project import prepared


def _take(counts: dict[int, int]) -> dict[int, int]:
    """Add counts[user] to each user's counter; returns {user: new last_seq}.

    One upsert for all users, in user id order, so transactions that number
    overlapping users take the counter row locks in the same order (no deadlock).
    The locks are held until the caller's transaction commits.
    """
    if not counts:
        return {}
    from django.contrib.auth import get_user_model

    from .models import NotificationSequence

    table = NotificationSequence._meta.db_table
    # Only users that still exist get a counter: a recipient deleted since the audience
    # was resolved takes no seq (and would fail the counter's foreign key at commit).
    user_table = get_user_model()._meta.db_table
    users = sorted(counts)
    if connection.vendor == "postgresql":
        source = (
            f"SELECT t.u, t.n FROM unnest(%s::bigint[], %s::bigint[]) AS t(u, n) "
            f"JOIN {user_table} AS existing ON existing.id = t.u ORDER BY t.u"
        )
        params = [users, [counts[u] for u in users]]
    else:  # SQLite: one writer at a time anyway
        source = (
            "SELECT json_extract(t.value, '$[0]'), json_extract(t.value, '$[1]') FROM json_each(%s) AS t "
            f"JOIN {user_table} AS existing ON existing.id = json_extract(t.value, '$[0]') WHERE true ORDER BY 1"
        )
        params = [json.dumps([[u, counts[u]] for u in users])]
    with prepared.cursor() as cursor:  # one text per database: prepared on PostgreSQL
        cursor.execute(
            f"INSERT INTO {table} (user_id, last_seq) {source} "
            f"ON CONFLICT (user_id) DO UPDATE SET last_seq = {table}.last_seq + EXCLUDED.last_seq "
            f"RETURNING user_id, last_seq",
            params,
        )
        return dict(cursor.fetchall())


def _numbered(recipient_ids: Sequence[int]) -> list[int | None]:
    """The seqs for rows of these recipients, in the given order (a user's rows in ascending seq).

    None for a recipient who no longer exists: their row cannot be inserted anyway.
    """
    counts = Counter(recipient_ids)
    last = _take(counts)
    next_seq = {user: last[user] - n + 1 for user, n in counts.items() if user in last}
    seqs = []
    for user in recipient_ids:
        if user not in next_seq:
            seqs.append(None)
            continue
        seqs.append(next_seq[user])
        next_seq[user] += 1
    return seqs


def seqs_assign(notifications: Iterable) -> None:
    """Give unsaved Notification objects their seqs; call in the transaction that inserts them."""
    pending = [n for n in notifications if n.seq is None]
    for notification, seq in zip(pending, _numbered([n.recipient_id for n in pending]), strict=True):
        notification.seq = seq


def seqs_take_as_rows(*, recipient_ids: Sequence[int]) -> tuple[str, list]:
    """Take one seq per recipient for a raw INSERT ... SELECT: (a FROM item `r(id, seq)`, its params).

    Pair it with seqs_give_back_unused for the recipients the INSERT then skips.
    """
    if len(set(recipient_ids)) != len(recipient_ids):
        raise ValueError("One seq per recipient: the ids must be distinct.")
    numbered = [(user, seq) for user, seq in zip(recipient_ids, _numbered(recipient_ids), strict=True) if seq is not None]
    if connection.vendor == "postgresql":
        return "unnest(%s::bigint[], %s::bigint[]) AS r(id, seq)", [[u for u, _ in numbered], [q for _, q in numbered]]
    rows = json.dumps(numbered)
    return "(SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS seq FROM json_each(%s)) AS r", [rows]


def seqs_give_back_unused(*, taken: Iterable[int], inserted: Iterable[int]) -> None:
    """Return the seqs of recipients an INSERT skipped (ON CONFLICT, or a join that left them out).

    Exact because each took one seq, the last one: this transaction holds the
    counter row lock since it took it, so nobody took a later one.
    """
    unused = sorted(set(taken) - set(inserted))
    if not unused:
        return
    from .models import NotificationSequence

    NotificationSequence.objects.filter(user_id__in=unused).update(last_seq=F("last_seq") - 1)


def seq_current(*, user_id: int) -> int:
    """The user's last assigned seq: every row up to it is committed (0 before the first)."""
    return seqs_current(user_ids=[user_id])[user_id]


def seqs_current(*, user_ids: Iterable[int]) -> dict[int, int]:
    """seq_current() for each user, in one query."""
    from .models import NotificationSequence

    current = dict.fromkeys(user_ids, 0)
    if connection.vendor == "postgresql":
        # One SQL text for any number of users, no ORM, prepared: a stream opening reads this (notifications/sse/opening.py).
        with prepared.cursor() as cursor:
            cursor.execute(
                f"SELECT user_id, last_seq FROM {NotificationSequence._meta.db_table} WHERE user_id = ANY(%s::bigint[])",
                [list(current)],
            )
            current.update(cursor.fetchall())
        return current
    current.update(NotificationSequence.objects.filter(user_id__in=list(current)).values_list("user_id", "last_seq"))
    return current
