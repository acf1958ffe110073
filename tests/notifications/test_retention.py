"""Retention: each type's rule at the day it applies (time-controlled), the run's record and metric, resuming."""

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
import time_machine
from django.core.management import call_command
from prometheus_client import REGISTRY

from notifications.catalog import NotificationType
from notifications.models import Notification, RetentionRun
from notifications.retention import retention_purge
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=dt_timezone.utc)


def purge_at(moment: datetime) -> RetentionRun:
    with time_machine.travel(moment, tick=False):
        return retention_purge(budget_seconds=60, pause_seconds=0)


def titles() -> set[str]:
    return set(Notification.objects.values_list("title", flat=True))


def deleted_metric(notification_type: str) -> float:
    return REGISTRY.get_sample_value("notifications_retention_deleted_total", {"type": notification_type}) or 0.0


@pytest.fixture
def a_year_of_rows():
    with time_machine.travel(T0, tick=False):
        NotificationFactory(title="offer, retracted", notification_type=NotificationType.JOB_CREATED, expired_at=T0 + timedelta(days=2))
        NotificationFactory(title="offer, live and unread", notification_type=NotificationType.JOB_CREATED)
        NotificationFactory(title="bid, read", notification_type=NotificationType.BID_RECEIVED, is_read=True, read_at=T0 + timedelta(days=10))
        NotificationFactory(title="bid, unread", notification_type=NotificationType.BID_RECEIVED)
        NotificationFactory(title="alert, read", notification_type=NotificationType.SYSTEM_ALERT, is_read=True, read_at=T0)
        NotificationFactory(title="alert, unread", notification_type=NotificationType.SYSTEM_ALERT)


def test_each_type_goes_on_the_day_its_rule_says(a_year_of_rows, django_capture_on_commit_callbacks):
    everything = titles()
    assert purge_at(T0 + timedelta(days=8)).deleted == 0  # retracted on day 2: kept 7 days after that
    assert titles() == everything

    retracted_before = deleted_metric("job_created")
    with django_capture_on_commit_callbacks(execute=True):  # the metric moves once the delete commits
        run = purge_at(T0 + timedelta(days=9, minutes=1))
    assert titles() == everything - {"offer, retracted"}
    assert (run.deleted, run.deleted_by_type) == (1, {"job_created": 1})
    assert deleted_metric("job_created") == retracted_before + 1

    purge_at(T0 + timedelta(days=30, minutes=1))  # an announcement read on day 0: 30 days
    assert "alert, read" not in titles()
    purge_at(T0 + timedelta(days=90, minutes=1))  # unread announcement: 90 days
    assert titles() == {"offer, live and unread", "bid, read", "bid, unread"}

    purge_at(T0 + timedelta(days=189))  # read on day 10: kept until day 190
    assert "bid, read" in titles()
    purge_at(T0 + timedelta(days=190, minutes=1))
    assert titles() == {"offer, live and unread", "bid, unread"}

    purge_at(T0 + timedelta(days=364))
    assert titles() == {"offer, live and unread", "bid, unread"}
    run = purge_at(T0 + timedelta(days=365, minutes=1))
    assert titles() == set()
    assert run.deleted_by_type == {"bid_received": 1, "job_created": 1}
    assert run.stopped_because == "caught_up" and run.next_id == 0


def test_settings_override_the_catalog_defaults(a_year_of_rows, settings):
    settings.RETENTION_DAYS_READ = 20
    settings.RETENTION_DAYS_UNREAD = 40
    purge_at(T0 + timedelta(days=30, minutes=1))  # bid read on day 10 + 20; the alert read on day 0 (its own 30)
    assert titles() == {"offer, live and unread", "bid, unread", "alert, unread"}
    purge_at(T0 + timedelta(days=40, minutes=1))
    assert titles() == {"alert, unread"}


def test_a_run_out_of_time_resumes_where_it_stopped_and_the_admin_shows_every_run(admin_client):
    with time_machine.travel(T0, tick=False):
        rows = NotificationFactory.create_batch(12, notification_type=NotificationType.SYSTEM_ALERT)
    later = T0 + timedelta(days=91)
    with time_machine.travel(later, tick=False):
        first = retention_purge(budget_seconds=1e-9, batch_ids=5, pause_seconds=0)  # one window, then out of time
        assert (first.deleted, first.stopped_because) == (5, "time_budget")
        assert first.next_id == rows[0].pk + 5
        second = retention_purge(budget_seconds=60, batch_ids=5, pause_seconds=0)
    assert second.first_id == first.next_id
    assert (second.deleted, second.stopped_because) == (7, "caught_up")
    assert not Notification.objects.exists()

    page = admin_client.get("/admin/notifications/retentionrun/")
    assert page.status_code == 200
    assert "system_alert: 7" in page.content.decode() and "system_alert: 5" in page.content.decode()
    assert admin_client.get("/admin/notifications/retentionrun/add/").status_code == 403


def test_young_rows_are_never_read_past_the_horizon():
    """The walk stops at the first row too young for any rule: a run costs the old part of the table only."""
    with time_machine.travel(T0, tick=False):
        old = NotificationFactory(notification_type=NotificationType.SYSTEM_ALERT)
    with time_machine.travel(T0 + timedelta(days=200), tick=False):
        young = NotificationFactory(notification_type=NotificationType.SYSTEM_ALERT, is_read=True, read_at=T0)
        run = retention_purge(budget_seconds=60, batch_ids=1, pause_seconds=0)
    assert run.stopped_because == "caught_up"
    assert run.batches == young.pk - old.pk  # windows of one id, from the old row up to the young one
    assert list(Notification.objects.values_list("pk", flat=True)) == [young.pk]


def test_the_command_runs_until_caught_up(capsys):
    with time_machine.travel(T0, tick=False):
        NotificationFactory.create_batch(3, notification_type=NotificationType.BID_RECEIVED)
    with time_machine.travel(T0 + timedelta(days=366), tick=False):
        call_command("retention_purge", "--until-caught-up", "--budget", "60")
    assert "3 deleted" in capsys.readouterr().out
    assert not Notification.objects.exists()
