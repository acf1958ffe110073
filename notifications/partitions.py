"""Monthly partitions of the notifications table, on PostgreSQL (SQLite keeps a plain table).

Why: a fan-out writes one entry per recipient into each index that leads with the recipient,
so into nearly every leaf page of a big table; into one month's partition it writes a month's
worth (README, "Where a full-table fan-out's time goes").

The key is the month of the event that caused the row, not the row's own time. PostgreSQL
enforces a unique constraint on a partitioned table only if it holds the partition key; with a
key that is a function of the event, unique (event, recipient, month) is exactly unique
(event, recipient), the fan-out's idempotence, even for a chunk run again after the month
turned. Unique (recipient, seq, month) is per partition; the counter's row lock
(notifications.sequencing) hands each seq out once, which makes it unique across them.
The foreign key from channel deliveries is kept by the ORM's cascade, not the database (a
foreign key to a partitioned table would have to carry the month too).

There is no default partition: a row for a month with no partition fails its INSERT (its
chunk is retried, then failed where staff and /healthz see it), never lands in a catch-all
that would grow forever. Beat creates partitions PARTITIONS_AHEAD_MONTHS ahead and drops
those the retention purge has emptied after the longest rule.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

TABLE = "notifications_notification"
ADVISORY_LOCK = 0x6E6F7469  # "noti": partition maintenance

logger = logging.getLogger(__name__)


def month_of(moment: datetime) -> date:
    """The partition month of a row whose event happened at `moment` (months are UTC)."""
    utc = moment.astimezone(UTC)
    return date(utc.year, utc.month, 1)


def months_assign(notifications: Iterable) -> None:
    """Give unsaved Notification objects their partition month: their event's, or now's without one."""
    from .models import OutboxEvent

    pending = [n for n in notifications if n.partition_month is None]
    now = timezone.now()
    # The event's time: from the loaded event, else one query for every event only referred to by id.
    event_times = {n.event_id: n.event.created_at for n in pending if type(n).event.is_cached(n) and n.event_id}
    missing = {n.event_id for n in pending if n.event_id is not None} - event_times.keys()
    if missing:
        event_times.update(OutboxEvent.objects.filter(pk__in=missing).values_list("pk", "created_at"))
    for notification in pending:
        notification.partition_month = month_of(event_times.get(notification.event_id, now))


def is_partitioned() -> bool:
    return connection.vendor == "postgresql"


def partition_name(month: date) -> str:
    return f"{TABLE}_p{month:%Y_%m}"


def months_between(first: date, last: date) -> list[date]:
    months, month = [], date(first.year, first.month, 1)
    while month <= last:
        months.append(month)
        month = _next_month(month)
    return months


def _next_month(month: date) -> date:
    return _add_months(month, 1)


def _add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def partitions() -> dict[date, str]:
    """The partitions that exist, by month."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE pg_inherits.inhparent = %s::regclass",
            [TABLE],
        )
        names = [name for (name,) in cursor.fetchall()]
    return {date(int(name[-7:-3]), int(name[-2:]), 1): name for name in names}


def partitions_ensure(*, first: date, last: date) -> list[str]:
    """Create the missing monthly partitions from `first`'s month to `last`'s; returns those created."""
    if not is_partitioned():
        return []
    created = []
    with _maintenance_lock() as cursor:
        existing = partitions()
        for month in months_between(first, last):
            if month in existing:
                continue
            name = partition_name(month)
            # Made on its own, then attached: ATTACH locks the table against other DDL only, where
            # CREATE ... PARTITION OF would lock out every read and write while it waits.
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
            cursor.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [month, _next_month(month)])
            created.append(name)
    return created


@contextmanager
def _maintenance_lock():
    """One maintainer at a time (beat, migrate, a command), across processes; waits for the other."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK])
        try:
            yield cursor
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK])


def partitions_maintain(*, now: datetime | None = None) -> dict[str, list[str]]:
    """Create this month's partition and PARTITIONS_AHEAD_MONTHS more; drop emptied old ones.

    A partition is dropped once its month ended longer ago than the longest retention rule and
    the purge has removed its last row: dropping it then loses nothing, and keeps the number of
    partitions (which every query without the month plans over) at about a year's.
    """
    if not is_partitioned():
        return {"created": [], "dropped": [], "kept": []}
    now = now or timezone.now()
    this_month = month_of(now)
    created = partitions_ensure(first=this_month, last=_add_months(this_month, settings.PARTITIONS_AHEAD_MONTHS))
    from .catalog import retention_longest_days

    oldest_kept = month_of(now - timedelta(days=retention_longest_days()))
    dropped, kept = [], []
    with _maintenance_lock() as cursor:
        for month, name in sorted(partitions().items()):
            if _next_month(month) > oldest_kept:
                continue
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {name})")
            if cursor.fetchone()[0]:
                kept.append(name)  # rows the purge has not reached yet; next time
                continue
            # CONCURRENTLY: waits for queries using it, never locks out the table's readers and writers
            # (it cannot run inside a transaction: the beat task runs in autocommit).
            cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {name} CONCURRENTLY")
            cursor.execute(f"DROP TABLE {name}")
            dropped.append(name)
    if kept:
        logger.warning("Old notification partitions still hold rows, kept until the purge empties them: %s", kept)
    return {"created": created, "dropped": dropped, "kept": kept}


def months_ahead(*, now: datetime | None = None) -> int:
    """How many months after this one have a partition, in a row (-1: not even this one); for /healthz."""
    if not is_partitioned():
        return settings.PARTITIONS_AHEAD_MONTHS
    existing, month, ahead = partitions(), month_of(now or timezone.now()), -1
    while month in existing:
        ahead += 1
        month = _next_month(month)
    return ahead
