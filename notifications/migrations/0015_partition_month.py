"""Notifications partitioned by the month of their event, on PostgreSQL (notifications/partitions.py).

SQLite gets the column and the constraints and keeps a plain table. On PostgreSQL the table is
rebuilt as a partitioned one (a table cannot be turned into a partitioned one in place): its rows
are copied into monthly partitions and its constraints and indexes made again under their names,
the primary key as (id, partition_month), which PostgreSQL requires. The copy holds the table's
lock for as long as it takes: plan the migration's window by the table's size.
"""

from datetime import UTC, date

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery
from django.db.models.functions import TruncMonth

TABLE = "notifications_notification"
AHEAD = 3  # settings.PARTITIONS_AHEAD_MONTHS' default; beat keeps it from here on


def months_fill(apps, schema_editor):
    Notification = apps.get_model("notifications", "Notification")
    OutboxEvent = apps.get_model("notifications", "OutboxEvent")
    event_month = OutboxEvent.objects.filter(pk=OuterRef("event_id")).values(
        month=TruncMonth("created_at", output_field=models.DateField(), tzinfo=UTC)
    )
    Notification.objects.filter(event__isnull=False).update(partition_month=Subquery(event_month[:1]))
    # Rows whose event is gone (or never was): their own month.
    Notification.objects.filter(partition_month__isnull=True).update(
        partition_month=TruncMonth("created_at", output_field=models.DateField(), tzinfo=UTC)
    )


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _definitions(cursor, table: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The table's constraints but its primary key (name, definition), and its other indexes (CREATE statements)."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype <> 'p' ORDER BY conname",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1",
        [table],
    )
    return constraints, [definition for (definition,) in cursor.fetchall()]


def _rebuild(schema_editor, *, partitioned: bool):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        constraints, indexes = _definitions(cursor, TABLE)
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_old")
        if partitioned:
            cursor.execute(f"CREATE TABLE {TABLE} (LIKE {TABLE}_old INCLUDING DEFAULTS) PARTITION BY RANGE (partition_month)")
            cursor.execute(
                f"SELECT DISTINCT partition_month FROM {TABLE}_old UNION "
                f"SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => n))::date "
                f"FROM generate_series(0, %s) AS n ORDER BY 1",
                [AHEAD],
            )
            for (month,) in cursor.fetchall():
                cursor.execute(
                    f"CREATE TABLE {TABLE}_p{month:%Y_%m} PARTITION OF {TABLE} FOR VALUES FROM (%s) TO (%s)",
                    [month, _next_month(month)],
                )
        else:
            cursor.execute(f"CREATE TABLE {TABLE} (LIKE {TABLE}_old INCLUDING DEFAULTS)")
        # The old table's id default (if not an identity) uses a sequence that goes with it: a new one below.
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id DROP DEFAULT")
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {TABLE}_old")
        cursor.execute(f"DROP TABLE {TABLE}_old")  # its partitions, indexes and identity sequence with it
        cursor.execute(f"CREATE SEQUENCE {TABLE}_id_seq AS bigint OWNED BY {TABLE}.id")
        cursor.execute(f"SELECT setval('{TABLE}_id_seq', COALESCE((SELECT max(id) FROM {TABLE}), 0) + 1, false)")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{TABLE}_id_seq')")
        primary_key = "(id, partition_month)" if partitioned else "(id)"
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY {primary_key}")
        for name, definition in constraints:
            cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} {definition}")
        for definition in indexes:
            cursor.execute(definition)


def partition(apps, schema_editor):
    _rebuild(schema_editor, partitioned=True)


def unpartition(apps, schema_editor):
    _rebuild(schema_editor, partitioned=False)


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0014_digest_kind_quiet_hours"),
    ]

    operations = [
        migrations.AddField(
            model_name="notification",
            name="partition_month",
            field=models.DateField(editable=False, null=True),
        ),
        migrations.RunPython(months_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="notification",
            name="partition_month",
            field=models.DateField(editable=False),
        ),
        migrations.AlterField(
            model_name="channeldelivery",
            name="notification",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="channel_deliveries",
                to="notifications.notification",
            ),
        ),
        migrations.RemoveConstraint(model_name="notification", name="one_notification_per_event_and_recipient"),
        migrations.AddConstraint(
            model_name="notification",
            constraint=models.UniqueConstraint(
                fields=("event", "recipient", "partition_month"), name="one_notification_per_event_and_recipient"
            ),
        ),
        migrations.RemoveConstraint(model_name="notification", name="one_seq_per_recipient"),
        migrations.AddConstraint(
            model_name="notification",
            constraint=models.UniqueConstraint(fields=("recipient", "seq", "partition_month"), name="one_seq_per_recipient"),
        ),
        migrations.RunPython(partition, unpartition),
    ]
