"""bench_inbox's data: a year of notifications for many users, generated inside PostgreSQL.

One INSERT ... SELECT over generate_series (no rows through Python), with the table's
secondary indexes and constraints dropped during the load and rebuilt after it (what a
restore does), then every user's delivery counter set to their last seq.

Row g (1..rows) is created at start + g * year / rows, so ids follow time as in production;
the year ends with this month, so on PostgreSQL this month's partition holds a whole month of
rows, as it does on the month's last day, the fullest it gets. Users interleave: every `step`-th row goes to the heavy user, the others round-robin
over the regular users, so each user's seqs are 1, 2, 3, ... in id order (gapless).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from notifications import partitions
from notifications.models import Notification, NotificationSequence

TABLE = Notification._meta.db_table
SEQUENCES = NotificationSequence._meta.db_table

# Per mille of rows (a hash of the row number): job offers, of which some were retracted.
OFFERS, RETRACTED_OFFERS = 400, 120
# Percent of rows read (an hour after they arrived).
READ_PERCENT = 35
OTHER_TYPES = [
    "bid_received", "bid_rejected", "bid_accepted", "job_accepted", "job_started",
    "job_completed", "message_received", "payment_received", "reminder", "system_alert",
]


def _secondary_schema() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(constraints, indexes) of the table other than its primary key: (name, definition)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype IN ('u', 'f') ORDER BY contype DESC, conname",
            [TABLE],
        )
        constraints = cursor.fetchall()
        names = [name for name, _ in constraints]
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname <> %s "
            "AND NOT indexname = ANY(%s) ORDER BY indexname",
            [TABLE, f"{TABLE}_pkey", names],
        )
        # A partitioned table's index reads "ON ONLY": made that way it would cover no partition.
        indexes = [(name, definition.replace(" ON ONLY ", " ON ", 1)) for name, definition in cursor.fetchall()]
    return constraints, indexes


def _tables() -> str:
    """The table and its partitions, as SQL for `relid IN (...)`-style filters."""
    return f"SELECT {TABLE!r}::regclass UNION ALL SELECT inhrelid FROM pg_inherits WHERE inhparent = {TABLE!r}::regclass"


def truncate() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLE}, {SEQUENCES} RESTART IDENTITY CASCADE")


def load(*, rows: int, heavy_user: int, regular_users: list[int], heavy_rows: int, days: int = 365, write=print) -> dict:
    """Replace the table's rows with `rows` generated ones; returns what was loaded."""
    constraints, indexes = _secondary_schema()
    step = max(1, rows // max(1, heavy_rows))
    this_month = partitions.month_of(timezone.now())
    end = datetime(this_month.year + this_month.month // 12, this_month.month % 12 + 1, 1, tzinfo=UTC)
    partitions.partitions_ensure(first=(end - timedelta(days=days)).date(), last=end.date())
    # One transaction (PostgreSQL's DDL is transactional): a failed load leaves the schema as it was.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLE}, {SEQUENCES} RESTART IDENTITY CASCADE")
        for name, _ in constraints:
            cursor.execute(f'ALTER TABLE {TABLE} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")  # keep generate_series order = id order
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        write(f"  inserting {rows:,} rows ...")
        cursor.execute(
            f"""
            INSERT INTO {TABLE} (recipient_id, notification_type, title, message, priority, is_read, read_at,
                                 action_url, metadata, expired_at, created_at, partition_month, seq)
            SELECT CASE WHEN heavy THEN %(heavy)s ELSE (%(users)s::bigint[])[(r %% %(n_users)s) + 1] END,
                   CASE WHEN h < %(offers)s THEN 'job_created' ELSE (%(types)s::text[])[(h %% 10) + 1] END,
                   'Bench notification ' || g,
                   'Something happened on one of your jobs; open it to see what.',
                   'medium',
                   read, CASE WHEN read THEN created + interval '1 hour' END,
                   '/jobs/' || (g %% 5000) || '/', '{{}}'::jsonb,
                   CASE WHEN h < %(retracted)s THEN created + interval '1 day' END,
                   created, date_trunc('month', created AT TIME ZONE 'UTC')::date,
                   CASE WHEN heavy THEN g / %(step)s ELSE r / %(n_users)s + 1 END
            FROM (
                SELECT g, g %% %(step)s = 0 AS heavy, g - g / %(step)s - 1 AS r,
                       abs(hashint8(g)) %% 1000 AS h, abs(hashint8(g + 7919)) %% 100 < %(read)s AS read,
                       %(end)s - make_interval(days => %(days)s) + make_interval(days => %(days)s) * (g::float8 / %(rows)s) AS created
                FROM generate_series(1::bigint, %(rows)s) AS g
            ) AS s
            """,
            {
                "heavy": heavy_user, "users": regular_users, "n_users": len(regular_users), "offers": OFFERS,
                "types": OTHER_TYPES, "retracted": RETRACTED_OFFERS, "step": step, "read": READ_PERCENT,
                "days": days, "rows": rows, "end": end,
            },
        )
        write("  counters ...")
        cursor.execute(
            f"INSERT INTO {SEQUENCES} (user_id, last_seq) SELECT recipient_id, max(seq) FROM {TABLE} GROUP BY recipient_id"
        )
        for name, definition in constraints:
            write(f"  constraint {name} ...")
            cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
        for name, definition in indexes:
            write(f"  index {name} ...")
            cursor.execute(definition)
    write("  vacuum analyze ...")
    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        cursor.execute(f"VACUUM ANALYZE {TABLE}")
        cursor.execute(f"ANALYZE {SEQUENCES}")
        cursor.execute(f"SELECT count(*) FROM {TABLE} WHERE recipient_id = %s", [heavy_user])
        (heavy,) = cursor.fetchone()
        cursor.execute(f"SELECT sum(pg_total_relation_size(t)) FROM ({_tables()}) AS tables(t)")
        (size,) = cursor.fetchone()
    return {"rows": rows, "heavy_rows": heavy, "bytes": size}
