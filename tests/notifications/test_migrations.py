"""Deploying a migration loses no fan-out that was in flight at the time."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from notifications.catalog import NotificationType
from notifications.models import Notification, OutboxEvent, OutboxStatus
from notifications.outbox import queueing, sweeping
from tests.factories import CleanerFactory
from tests.partitioning import partitions_for_time_travel

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_CHUNK_IDS = ("notifications", "0002_default_templates")


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.usefixtures("chunked_path")
def test_a_fanout_in_flight_across_migration_0003_reaches_every_recipient_once(monkeypatch):
    # Tasks run at once, in-process: what a worker would do with what the sweeper queues.
    monkeypatch.setattr(queueing, "enqueue", lambda task, object_id: task(object_id))
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    old = migrate([BEFORE_CHUNK_IDS])
    try:
        cleaners = [c.pk for c in CleanerFactory.create_batch(6)]
        OldEvent, OldChunk = old.get_model("notifications", "OutboxEvent"), old.get_model("notifications", "OutboxChunk")
        OldNotification = old.get_model("notifications", "Notification")
        # Before 0003 a chunk was an id range: the first one was delivered, the second still queued.
        event = OldEvent.objects.create(
            event_type=NotificationType.SYSTEM_ALERT,
            payload={"audience": "cleaners", "title": "Hi", "message": "News"},
            status=OutboxStatus.DISPATCHED,
            chunk_count=2,
            attempts=1,
        )
        OldChunk.objects.create(
            event=event, first_recipient_id=cleaners[0], last_recipient_id=cleaners[2], is_done=True, recipient_count=3
        )
        OldChunk.objects.create(event=event, first_recipient_id=cleaners[3], last_recipient_id=cleaners[5])
        for recipient_id in cleaners[:3]:
            OldNotification.objects.create(
                recipient_id=recipient_id, event=event, notification_type=NotificationType.SYSTEM_ALERT, title="Hi"
            )
    finally:
        migrate(latest)
        partitions_for_time_travel()  # the table was rebuilt with this month's partitions only

    # The first sweep after the deploy, on the new code.
    sweeping.outbox_requeue_stale(grace=timedelta(0))

    event = OutboxEvent.objects.get(pk=event.pk)
    assert (event.status, event.recipient_count) == (OutboxStatus.DONE, 6)
    received = Notification.objects.filter(event=event).order_by("recipient_id").values_list("recipient_id", flat=True)
    assert list(received) == cleaners
