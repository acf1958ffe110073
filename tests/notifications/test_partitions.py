"""Notifications live in monthly partitions keyed by their event's month (notifications/partitions.py)."""

import logging
from datetime import UTC, date, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

from notifications import partitions, selectors
from notifications.catalog import NotificationType
from notifications.models import ChannelDelivery, Notification, OutboxEvent, OutboxStatus
from notifications.outbox import dispatch
from tests.factories import CleanerFactory, UserFactory
from tests.partitioning import partitions_for_time_travel

pytestmark = pytest.mark.django_db

LAST_OF_MARCH = datetime(2026, 3, 31, 23, 59, tzinfo=UTC)
FIRST_OF_APRIL = datetime(2026, 4, 1, 0, 5, tzinfo=UTC)


def partition_of(notification_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM notifications_notification WHERE id = %s", [notification_id])
        return cursor.fetchone()[0]


def announce_to_cleaners() -> OutboxEvent:
    return OutboxEvent.objects.create(
        event_type=NotificationType.SYSTEM_ALERT, payload={"audience": "cleaners", "title": "Hi", "message": "News"}
    )


def test_a_fanout_stores_its_rows_in_the_partition_of_its_events_month_even_after_the_month_turned(settings):
    settings.OUTBOX_DIRECT_MAX_RECIPIENTS = 0  # the chunked path: its raw INSERT
    cleaners = CleanerFactory.create_batch(3)
    with time_machine.travel(LAST_OF_MARCH, tick=False):
        event = announce_to_cleaners()
    with time_machine.travel(FIRST_OF_APRIL, tick=False):
        dispatch.outbox_event_dispatch(event_id=event.pk)

    rows = list(Notification.objects.filter(event=event))
    assert sorted(row.recipient_id for row in rows) == sorted(c.pk for c in cleaners)
    assert {row.partition_month for row in rows} == {date(2026, 3, 1)}
    assert {partition_of(row.pk) for row in rows} == {"notifications_notification_p2026_03"}
    assert all(row.created_at.month == 4 for row in rows)  # stored in April, filed under March


def test_the_event_and_recipient_stay_unique_across_the_month_boundary():
    cleaner = CleanerFactory()
    with time_machine.travel(LAST_OF_MARCH, tick=False):
        event = announce_to_cleaners()
        Notification.objects.create(recipient=cleaner, event=event, notification_type=NotificationType.SYSTEM_ALERT, title="Hi")
    with time_machine.travel(FIRST_OF_APRIL, tick=False):
        with pytest.raises(IntegrityError), transaction.atomic():
            Notification.objects.create(recipient=cleaner, event=event, notification_type=NotificationType.SYSTEM_ALERT, title="Hi")
    assert Notification.objects.filter(event=event).count() == 1


def test_rows_of_the_orm_paths_take_their_events_month_whether_the_event_is_loaded_or_only_its_id():
    cleaner = CleanerFactory()
    with time_machine.travel(LAST_OF_MARCH, tick=False):
        event = announce_to_cleaners()
    with time_machine.travel(FIRST_OF_APRIL, tick=False):
        by_object = Notification(recipient=cleaner, event=event, notification_type=NotificationType.SYSTEM_ALERT, title="a")
        by_id = Notification(recipient=UserFactory(), event_id=event.pk, notification_type=NotificationType.SYSTEM_ALERT, title="b")
        without_event = Notification(recipient=cleaner, notification_type=NotificationType.SYSTEM_ALERT, title="c")
        Notification.objects.bulk_create([by_object, by_id, without_event])

    assert [n.partition_month for n in (by_object, by_id, without_event)] == [date(2026, 3, 1), date(2026, 3, 1), date(2026, 4, 1)]


def test_a_row_for_a_month_without_a_partition_fails_loudly_and_stores_nothing(settings):
    settings.OUTBOX_DIRECT_MAX_RECIPIENTS = 100  # the direct path: its one transaction
    CleanerFactory.create_batch(2)
    with time_machine.travel(datetime(2031, 6, 1, tzinfo=UTC), tick=False):  # no partition for 2031
        event = announce_to_cleaners()
    with pytest.raises(IntegrityError, match="no partition"):
        dispatch.outbox_event_dispatch(event_id=event.pk)

    event.refresh_from_db()
    assert event.status != OutboxStatus.DONE
    assert "no partition" in event.last_error
    assert not Notification.objects.filter(event=event).exists()


def test_maintenance_creates_this_month_and_the_months_ahead_and_healthz_says_when_they_are_missing(client, settings):
    settings.PARTITIONS_AHEAD_MONTHS = 2
    settings.RETENTION_DAYS_UNREAD = settings.RETENTION_DAYS_ALERT_UNREAD = 10_000  # no partition is old enough to drop
    with time_machine.travel(datetime(2029, 11, 15, tzinfo=UTC), tick=False):
        before = client.get("/healthz").json()
        done = partitions.partitions_maintain()
        after = client.get("/healthz").json()

    assert done["created"] == [
        "notifications_notification_p2029_11", "notifications_notification_p2029_12", "notifications_notification_p2030_01"
    ]
    assert before["status"] == "degraded"
    assert before["checks"]["partitions"].startswith("no notification partition for this month")
    assert (after["status"], after["checks"]["partitions"]) == ("ok", "ok")
    with time_machine.travel(datetime(2029, 11, 15, tzinfo=UTC), tick=False):
        assert partitions.partitions_maintain()["created"] == []  # nothing twice
    with time_machine.travel(datetime(2030, 1, 15, tzinfo=UTC), tick=False):  # beat stopped since
        late = client.get("/healthz").json()
    assert late["status"] == "degraded"
    assert late["checks"]["partitions"] == "no notification partition for next month yet (beat: notifications.partitions_maintain)"


@pytest.mark.django_db(transaction=True)  # as beat runs it: DETACH ... CONCURRENTLY needs autocommit
def test_maintenance_drops_old_partitions_only_once_the_purge_has_emptied_them(settings, caplog):
    settings.RETENTION_DAYS_UNREAD = 365
    partitions.partitions_ensure(first=date(2025, 2, 1), last=date(2025, 3, 1))
    user = UserFactory()
    with time_machine.travel(datetime(2025, 3, 10, tzinfo=UTC), tick=False):
        old = Notification.objects.create(recipient=user, notification_type=NotificationType.SYSTEM_ALERT, title="old")

    with time_machine.travel(datetime(2026, 4, 2, tzinfo=UTC), tick=False), caplog.at_level(logging.WARNING):
        first = partitions.partitions_maintain()
    assert "notifications_notification_p2025_02" in first["dropped"]  # empty, older than a year
    assert first["kept"] == ["notifications_notification_p2025_03"]  # its row is not purged yet
    assert "still hold rows" in caplog.text

    old.delete()
    with time_machine.travel(datetime(2026, 4, 2, tzinfo=UTC), tick=False):
        second = partitions.partitions_maintain()
    assert second["dropped"] == ["notifications_notification_p2025_03"]
    assert date(2026, 3, 1) in partitions.partitions()  # within a year: kept


def test_deleting_a_notification_deletes_its_channel_deliveries():
    # The foreign key is the ORM's now (no database constraint to a partitioned table).
    notification = Notification.objects.create(recipient=UserFactory(), notification_type=NotificationType.SYSTEM_ALERT, title="x")
    ChannelDelivery.objects.create(notification=notification, channel="email", due_at=notification.created_at, updated_at=notification.created_at)
    notification.delete()
    assert not ChannelDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_files_existing_rows_under_their_events_month_and_keeps_their_ids():
    def migrate(target):
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(target)
        return executor.loader.project_state(target).apps

    old = migrate([("notifications", "0014_digest_kind_quiet_hours")])
    try:
        User = old.get_model("auth", "User")
        OldEvent, OldNotification = old.get_model("notifications", "OutboxEvent"), old.get_model("notifications", "Notification")
        ann = User.objects.create(username="ann")
        event = OldEvent.objects.create(event_type=NotificationType.SYSTEM_ALERT, payload={})
        OldEvent.objects.filter(pk=event.pk).update(created_at=LAST_OF_MARCH)
        of_event = OldNotification.objects.create(recipient=ann, event=event, notification_type="system_alert", title="a", seq=1)
        OldNotification.objects.filter(pk=of_event.pk).update(created_at=FIRST_OF_APRIL)
        alone = OldNotification.objects.create(recipient=ann, notification_type="system_alert", title="b", seq=2)
        OldNotification.objects.filter(pk=alone.pk).update(created_at=datetime(2026, 5, 20, tzinfo=UTC))
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
        partitions_for_time_travel()

    assert partition_of(of_event.pk) == "notifications_notification_p2026_03"
    assert partition_of(alone.pk) == "notifications_notification_p2026_05"
    newer = Notification.objects.create(recipient_id=ann.pk, notification_type=NotificationType.SYSTEM_ALERT, title="c")
    assert newer.pk > alone.pk  # the id sequence goes on after the copied rows


def test_a_users_seqs_run_on_across_months_and_a_replay_reads_them_in_order_from_both():
    user = UserFactory()
    stored = []
    for moment in (LAST_OF_MARCH, FIRST_OF_APRIL, LAST_OF_MARCH):
        with time_machine.travel(moment, tick=False):
            stored.append(Notification.objects.create(recipient=user, notification_type=NotificationType.SYSTEM_ALERT, title="x"))

    assert [(n.partition_month.month, n.seq) for n in stored] == [(3, 1), (4, 2), (3, 3)]
    replayed = selectors.notifications_missed(ranges={user.pk: (1, 3)}, limit=10)[user.pk]
    long_replay = selectors.notifications_missed(ranges={user.pk: (0, 3)}, limit=2)[user.pk]
    assert [n.pk for n in replayed] == [stored[1].pk, stored[2].pk]
    assert [n.pk for n in long_replay] == [stored[0].pk, stored[1].pk]


def test_the_unread_count_reads_only_the_unread_index_of_each_month():
    """Index-only: counting a heavy user's unread rows must not visit one heap page per row."""
    user = UserFactory()
    for moment in (LAST_OF_MARCH, FIRST_OF_APRIL):
        with time_machine.travel(moment, tick=False):
            Notification.objects.create(recipient=user, notification_type=NotificationType.SYSTEM_ALERT, title="x")
    with CaptureQueriesContext(connection) as captured:
        assert selectors.notification_unread_count(user_id=user.pk) == 2
    (sql,) = [q["sql"] for q in captured.captured_queries]
    with connection.cursor() as cursor:
        # A tiny table would be read whole: make the planner show the plan it picks for a big one.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(line for (line,) in cursor.fetchall())
    scans = [line.strip() for line in plan.splitlines() if "Scan" in line]
    assert scans and all(line.startswith("->  Index Only Scan using") for line in scans), plan


def test_the_command_creates_what_beat_would_and_says_how_far_ahead(settings):
    settings.PARTITIONS_AHEAD_MONTHS = 1
    settings.RETENTION_DAYS_UNREAD = settings.RETENTION_DAYS_ALERT_UNREAD = 10_000  # nothing old enough to drop
    out = StringIO()
    with time_machine.travel(datetime(2029, 6, 10, tzinfo=UTC), tick=False):
        call_command("partitions_maintain", stdout=out)
    assert "created: notifications_notification_p2029_06, notifications_notification_p2029_07" in out.getvalue()
    assert "1 months ahead" in out.getvalue()
