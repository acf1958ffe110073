"""The Celery settings that make delivery at-least-once, read back from the real Celery app.

A misspelt CELERY_* setting is silently ignored by Celery, so each value is asserted
on app.conf (what the worker really uses), and every CELERY_* name in the Django
settings must be one Celery knows.
"""

import pytest
from celery.app.defaults import NAMESPACES, flatten
from django.conf import settings
from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from celery_app import app

pytestmark = pytest.mark.integration

FANOUT_TASKS = ("notifications.outbox_event_dispatch", "notifications.outbox_chunk_deliver")
BEAT_TASKS = (
    "notifications.account_deletions_resend",
    "notifications.channel_deliveries_dispatch_due",
    "notifications.outbox_requeue_stale",
    "notifications.partitions_maintain",
    "notifications.reminders_schedule_due",
    "notifications.retention_purge",
)
ALL_TASKS = (*FANOUT_TASKS, *BEAT_TASKS, "notifications.channel_deliveries_send", "notifications.account_purge")
# Kept registered for one release: messages queued before the rename still carry them.
OLD_NAMES = {
    "notifications.process_event": "notifications.outbox_event_dispatch",
    "notifications.process_chunk": "notifications.outbox_chunk_deliver",
    "notifications.requeue_stale_outbox": "notifications.outbox_requeue_stale",
    "notifications.schedule_due_reminders": "notifications.reminders_schedule_due",
}


def test_every_celery_setting_in_django_settings_is_a_setting_celery_knows():
    known = {name for name, _ in flatten(NAMESPACES)}
    ours = [name for name in dir(settings) if name.startswith("CELERY_")]
    assert ours, "no CELERY_ settings found"
    unknown = [name for name in ours if name[len("CELERY_"):].lower() not in known]
    assert unknown == []


def test_delivery_is_at_least_once_one_message_at_a_time():
    conf = app.conf
    assert conf.task_acks_late is True  # acknowledged after the task ran
    assert conf.task_reject_on_worker_lost is True  # a dead pool child's message goes back
    assert conf.worker_prefetch_multiplier == 1  # a dying worker holds one message, not many


def test_tasks_have_a_soft_and_a_hard_time_limit_and_the_broker_waits_longer():
    conf = app.conf
    assert conf.task_soft_time_limit and conf.task_time_limit
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit
    # A message still running must not be handed to another worker by the broker.
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit


def test_messages_are_json_only():
    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"]


def test_fanout_tasks_route_to_the_fanout_queue_and_the_rest_to_default():
    app.loader.import_default_modules()
    for name in FANOUT_TASKS:
        assert app.amqp.router.route({}, name)["queue"].name == "fanout", name
    assert app.amqp.router.route({}, "notifications.outbox_requeue_stale")["queue"].name == "default"


def test_beat_sends_tasks_that_exist_by_their_new_names():
    app.loader.import_default_modules()
    scheduled = sorted(entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values())
    assert scheduled == list(BEAT_TASKS)
    assert all(name in app.tasks for name in scheduled)


@pytest.mark.parametrize("name", (*ALL_TASKS, *OLD_NAMES))
def test_tasks_retry_database_and_redis_errors_with_backoff_and_jitter(name):
    app.loader.import_default_modules()
    task = app.tasks[name]
    for error in (OperationalError, InterfaceError, RedisConnectionError):
        assert issubclass(error, tuple(task.autoretry_for)), (name, error)
    assert task.retry_backoff
    assert task.retry_jitter is True
    assert task.max_retries and task.max_retries > 0


@pytest.mark.parametrize("old_name", OLD_NAMES)
def test_each_old_task_name_is_still_registered_with_the_options_of_its_new_name(old_name):
    app.loader.import_default_modules()
    old, new = app.tasks[old_name], app.tasks[OLD_NAMES[old_name]]
    for option in ("autoretry_for", "retry_backoff", "retry_backoff_max", "retry_jitter", "max_retries", "acks_late"):
        assert getattr(old, option) == getattr(new, option), (old_name, option)
