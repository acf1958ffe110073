"""Migration 0006 numbers existing notifications per recipient in id order and sets each counter."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.partitioning import partitions_for_time_travel

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("notifications", "0005_delivery_sequence")]
AFTER = [("notifications", "0007_one_seq_per_recipient")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def back_to_the_latest_migration():
    """AFTER is not the latest any more: leave the schema as the next tests expect it."""
    yield
    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes())
    partitions_for_time_travel()  # the table was rebuilt with this month's partitions only


def test_existing_rows_are_numbered_per_recipient_in_id_order_and_counters_set():
    apps = migrate(BEFORE)
    User = apps.get_model("auth", "User")
    Notification = apps.get_model("notifications", "Notification")
    ann, bob, cat = (User.objects.create(username=name) for name in ("ann", "bob", "cat"))
    # Interleaved users, as a real table has them; the historical model assigns no seq.
    order = [ann, bob, ann, ann, bob, ann]
    rows = [Notification.objects.create(recipient=u, notification_type="system_alert", title="t") for u in order]

    apps = migrate(AFTER)
    Notification = apps.get_model("notifications", "Notification")
    Sequence = apps.get_model("notifications", "NotificationSequence")

    seqs = dict(Notification.objects.values_list("pk", "seq"))
    assert [seqs[r.pk] for r in rows] == [1, 1, 2, 3, 2, 4]
    assert dict(Sequence.objects.values_list("user_id", "last_seq")) == {ann.pk: 4, bob.pk: 2}
    assert not Sequence.objects.filter(user_id=cat.pk).exists()  # no notifications: the first insert creates it
