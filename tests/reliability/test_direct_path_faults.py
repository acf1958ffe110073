"""A worker killed between a direct-path event's commit and its publish: the broker gives the task
again, and the re-run publishes the stored notification (real worker, real Redis, real PostgreSQL)."""

import os
import re
import signal
from decimal import Decimal

import psycopg
import pytest
from django.db import connection

from devtools.processes import service_env, wait_for
from jobs.models import CleaningJob, JobBid
from notifications.catalog import NotificationType
from notifications.models import Notification, NotificationSequence, OutboxChunk, OutboxEvent, OutboxStatus
from tests.factories import CleanerFactory, CleaningJobFactory

from .harness import ChannelRecorder, RedisServer, send_tasks, start_worker
from .test_faults import event_status, pool_processes, report

pytestmark = pytest.mark.integration


def record_bid_received() -> OutboxEvent:
    """A bid and its bid_received outbox row, written directly: this process has no broker and
    must not run the task itself (as tests/reliability/data.py does for jobs)."""
    job = CleaningJobFactory.build()
    job.client.save()
    job.client_id = job.client.pk
    CleaningJob.objects.bulk_create([job])
    [bid] = JobBid.objects.bulk_create([JobBid(job=job, cleaner=CleanerFactory(), amount=Decimal("75.00"))])
    return OutboxEvent.objects.create(event_type=NotificationType.BID_RECEIVED, payload={"bid_id": bid.pk})


def test_pool_process_killed_after_the_commit_before_the_publish_the_rerun_publishes_it(
    processes, test_database_url, tmp_path
):
    redis_server = RedisServer(processes, tmp_path)
    event = record_bid_received()
    client_id = CleaningJob.objects.get(bids__pk=event.payload["bid_id"]).client_id
    NotificationSequence.objects.create(user_id=client_id, last_seq=0)
    recorder = ChannelRecorder(processes, redis_server.url())
    env = service_env(database_url=test_database_url, redis_url=redis_server.url())
    worker = start_worker(processes, tmp_path, env, name="worker", concurrency=1)
    (pool_process,) = pool_processes(worker)

    # Hold the worker inside its transaction (on the client's seq counter row) while Redis is
    # frozen, then let it commit: its publish after the commit hangs, and it dies there.
    holder = psycopg.connect(test_database_url)
    try:
        with holder.cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {NotificationSequence._meta.db_table} WHERE user_id = %s FOR UPDATE", [client_id])
            send_tasks(redis_server.url(), [("notifications.outbox_event_dispatch", event.pk)])

            def worker_waits_on_the_counter():
                # From our own Django connection: pg_stat_activity is a snapshot per transaction.
                with connection.cursor() as watcher:
                    watcher.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                        [f"INSERT INTO {NotificationSequence._meta.db_table}%"],
                    )
                    return watcher.fetchone()[0] == 1

            wait_for(worker_waits_on_the_counter, timeout=60, interval=0.05, what="the worker inside its transaction")
            os.kill(redis_server.proc.pid, signal.SIGSTOP)
        holder.rollback()
        wait_for(lambda: event_status(event.pk) == OutboxStatus.DONE, timeout=30, interval=0.02, what="the commit")
    finally:
        holder.close()
    stored = list(Notification.objects.filter(event=event).values_list("recipient_id", "pk", "seq"))
    assert [(recipient, seq) for recipient, _, seq in stored] == [(client_id, 1)]
    os.kill(pool_process, signal.SIGKILL)
    os.kill(redis_server.proc.pid, signal.SIGCONT)
    frames_at_kill = len(recorder.notifications())

    # acks_late + reject_on_worker_lost: the message comes back; the re-run finds the event
    # done by the direct path and publishes its stored row.
    (recipient, notification_id, _) = stored[0]
    wait_for(lambda: (recipient, notification_id) in recorder.notifications(), timeout=60, interval=0.1,
             what="the notification published by the re-run")
    # The frame may be the killed run's own: its PUBLISH, written on a warm connection, waits in
    # the socket for the frozen Redis, which reads it once thawed. The re-run must happen anyway.
    wait_for(lambda: re.search(r"Task notifications\.outbox_event_dispatch\[[0-9a-f-]+\] succeeded", worker.output()),
             timeout=60, interval=0.1, what="the re-run")
    log = worker.output()
    assert Notification.objects.filter(event=event).count() == 1
    event.refresh_from_db()
    assert (event.status, event.attempts, event.chunk_count) == (OutboxStatus.DONE, 1, 0)
    assert not OutboxChunk.objects.filter(event=event).exists()
    report("pool process SIGKILL between a direct event's commit and its publish", frames_at_kill=frames_at_kill,
           stored=1, lost=0, duplicated=0, frames_after=len(recorder.notifications()),
           redelivered_by_broker="WorkerLostError" in log)
