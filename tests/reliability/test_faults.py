"""Faults survived, with real processes: each test breaks something and counts every notification.

Every test that stops, kills or restarts a server starts its own instance of it on a
free port (harness.py) and leaves nothing running. Storage must be exactly once
(no notification lost, none duplicated); publishing is at least once (pages drop a
repeated id), and a reconnecting stream must hand each notification over exactly once.
"""

import os
import re
import signal
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from devtools.processes import ROOT, free_port, service_env, wait_for
from devtools.sse import ReconnectingSSEClient
from notifications.catalog import NotificationType
from notifications.models import Notification, OutboxChunk, OutboxEvent, OutboxStatus
from notifications.outbox import dispatch, queueing
from notifications.sse.opening import REPLAY_LIMIT
from tests.factories import CITY_LAT, CITY_LON, ClientFactory

from .data import make_cleaners, record_job_created, token_header
from .harness import (
    ChannelRecorder,
    PostgresCluster,
    RedisServer,
    django_script,
    run_sweeper,
    send_tasks,
    start_script,
    start_web,
    start_worker,
)

pytestmark = pytest.mark.integration


def report(test: str, **counts) -> None:
    """One line per test for the reliability table (shown with -rP or -s)."""
    print(f"RELIABILITY {test}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


# --- data --------------------------------------------------------------------------


def job_body(title: str) -> dict:
    return {
        "title": title,
        "service_type": "standard",
        "address": "Damrak 1",
        "city": "Amsterdam",
        "latitude": CITY_LAT,
        "longitude": CITY_LON,
        "scheduled_start": (timezone.now() + timedelta(days=2)).isoformat(),
        "duration_hours": "3",
        "budget": "120.00",
    }


def announcements_code(count: int, pause: float, start: int = 0) -> str:
    """Staff send `count` announcements to all clients, each committed (and enqueued) on its own."""
    return (
        "import time\n"
        "from notifications.services import announcement_send\n"
        f"for i in range({start}, {start + count}):\n"
        "    announcement_send(audience='clients', title=f'Notice {i}', message='Fault drill')\n"
        f"    time.sleep({pause})\n"
    )


def event_status(event_id: int) -> str:
    return OutboxEvent.objects.values_list("status", flat=True).get(pk=event_id)


def assert_stored_exactly_once(event: OutboxEvent, recipient_ids: list[int]) -> None:
    stored = Notification.objects.filter(event=event)
    recipients = list(stored.values_list("recipient_id", flat=True))
    assert len(recipients) == len(recipient_ids), "notifications lost or duplicated"
    assert len(set(recipients)) == len(recipients), "a recipient got the same event twice"
    assert sorted(recipients) == sorted(recipient_ids)


def assert_every_notification_published(recorder: ChannelRecorder, event: OutboxEvent) -> tuple[int, int]:
    """Every stored notification went out on its recipient's channel; returns (frames, repeats)."""
    stored = set(Notification.objects.filter(event=event).values_list("recipient_id", "pk"))
    wait_for(lambda: stored <= set(recorder.notifications()), timeout=30, interval=0.2,
             what="a frame for every stored notification")
    ours = [pair for pair in recorder.notifications() if pair in stored]
    return len(ours), len(ours) - len(set(ours))


def holds_database_connection(pid: int, port: int | None = None) -> bool:
    """Whether a process has a TCP connection open to the database's port.

    A Celery pool process holds one only while it runs a task (Celery's Django fixup
    closes it before and after each task): a way to strike in the middle of one.
    """
    port = port or int(connection.settings_dict.get("PORT") or 5432)
    try:
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")}
    except OSError:
        return False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] == "01" and fields[9] in inodes:
                return True
    return False


def pool_processes(worker) -> list[int]:
    pid = worker.proc.pid
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


# --- 1. a worker killed in the middle of a big fan-out --------------------------------


def test_worker_sigkilled_mid_fanout_of_5000_then_new_worker_and_sweeper_store_each_notification_exactly_once(
    processes, test_database_url, tmp_path
):
    redis_server = RedisServer(processes, tmp_path)
    cleaners = make_cleaners(5000)
    event = record_job_created()
    recorder = ChannelRecorder(processes, redis_server.url())
    # 500 per chunk: the 5,000 recipients make 10 chunk tasks, run one at a time.
    env = service_env(database_url=test_database_url, redis_url=redis_server.url(), FANOUT_CHUNK_SIZE=500)

    doomed = start_worker(processes, tmp_path, env, name="doomed", concurrency=1)
    send_tasks(redis_server.url(), [("notifications.outbox_event_dispatch", event.pk)])
    chunks_done = OutboxChunk.objects.filter(event=event, is_done=True)
    (pool_process,) = pool_processes(doomed)
    wait_for(lambda: chunks_done.count() >= 2 and holds_database_connection(pool_process), timeout=60, interval=0.005,
             what="a chunk running after two are done")
    doomed.kill_group()  # SIGKILL to the main process and its pool child at once, mid-chunk

    done_at_kill = chunks_done.count()
    stored_at_kill = Notification.objects.filter(event=event).count()
    event.refresh_from_db()
    assert event.chunk_count == 10
    assert 2 <= done_at_kill < 10, f"the kill came too late: {done_at_kill} chunks were done"
    assert event.status == OutboxStatus.DISPATCHED

    start_worker(processes, tmp_path, env, name="survivor", concurrency=2)
    # The beat sweeper's job, with no grace period: the chunk the dead worker held is
    # unacknowledged in Redis (back only after the 300 s visibility timeout) and its
    # row is not done, so it is re-enqueued now. Queued chunks are re-enqueued too:
    # delivering one twice is harmless.
    swept = run_sweeper(env)
    wait_for(lambda: event_status(event.pk) == OutboxStatus.DONE, timeout=90, interval=0.2, what="fan-out done")

    assert_stored_exactly_once(event, cleaners)
    event.refresh_from_db()
    assert (event.chunk_count, event.recipient_count) == (10, 5000)
    chunks = OutboxChunk.objects.filter(event=event)
    assert chunks.count() == chunks.filter(is_done=True).count() == 10
    assert chunks.aggregate(total=Sum("recipient_count"))["total"] == 5000
    frames, repeats = assert_every_notification_published(recorder, event)
    assert frames >= 5000
    report(
        "worker SIGKILL mid fan-out", recipients=5000, chunks=10, chunks_done_at_kill=done_at_kill,
        stored_at_kill=stored_at_kill, swept_chunks=swept["chunks"], stored=5000, lost=0, duplicated=0,
        frames_published=frames, frames_repeated=repeats,
    )


def test_pool_process_sigkilled_mid_fanout_its_chunk_is_redelivered_at_once_and_stored_exactly_once(
    processes, test_database_url, tmp_path
):
    """The OOM killer's pick: the pool process dies, the worker lives. No sweeper here:
    acks_late + reject_on_worker_lost put the running chunk's message straight back."""
    redis_server = RedisServer(processes, tmp_path)
    cleaners = make_cleaners(5000)
    event = record_job_created()
    recorder = ChannelRecorder(processes, redis_server.url())
    env = service_env(database_url=test_database_url, redis_url=redis_server.url(), FANOUT_CHUNK_SIZE=500)
    worker = start_worker(processes, tmp_path, env, name="worker", concurrency=1)

    send_tasks(redis_server.url(), [("notifications.outbox_event_dispatch", event.pk)])
    chunks_done = OutboxChunk.objects.filter(event=event, is_done=True)
    received = lambda: len(re.findall(r"Task notifications\.outbox_chunk_deliver\[[0-9a-f-]+\] received", worker.output()))  # noqa: E731
    (pool_process,) = pool_processes(worker)
    # Kill it in the middle of its third chunk.
    wait_for(lambda: chunks_done.count() >= 2 and holds_database_connection(pool_process), timeout=60, interval=0.005,
             what="a chunk running after two are done")
    os.kill(pool_process, signal.SIGKILL)
    done_at_kill = chunks_done.count()
    assert done_at_kill < 10, f"the kill came too late: {done_at_kill} chunks were done"

    wait_for(lambda: event_status(event.pk) == OutboxStatus.DONE, timeout=90, interval=0.2, what="fan-out done")
    log = worker.output()
    assert worker.alive
    assert_stored_exactly_once(event, cleaners)
    event.refresh_from_db()
    assert (event.chunk_count, event.recipient_count) == (10, 5000)
    assert OutboxChunk.objects.filter(event=event, is_done=True).count() == 10
    frames, repeats = assert_every_notification_published(recorder, event)
    assert "exited with 'signal 9 (SIGKILL)'" in log
    # The chunk running in the dead process ran again: either the worker had registered it
    # as started (WorkerLostError: the message is rejected back to the broker and received
    # again, 10 + 1), or not yet (the pool hands the same job to the new process, 10).
    redelivered = "WorkerLostError" in log
    assert received() == (11 if redelivered else 10)
    report("pool process SIGKILL mid fan-out", recipients=5000, chunks=10, chunks_done_at_kill=done_at_kill,
           redelivered_by_broker=redelivered, chunk_messages_received=received(), stored=5000, lost=0, duplicated=0,
           frames_published=frames, frames_repeated=repeats)


# --- 2. Redis down when a job is posted --------------------------------------------------


def test_redis_down_when_a_job_is_posted_answers_201_keeps_the_event_pending_and_delivers_it_exactly_once_after(
    processes, test_database_url, tmp_path
):
    redis_server = RedisServer(processes, tmp_path)
    cleaners = make_cleaners(30)
    client = ClientFactory()
    env = service_env(database_url=test_database_url, redis_url=redis_server.url())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Broker, cache (throttles) and pub/sub of this server are all our Redis.
    start_web(processes, tmp_path, env, port=port)

    redis_server.stop()
    assert redis_server.is_down()
    response = httpx.post(f"{base}/api/jobs/", headers=token_header(client), json=job_body("During the outage"), timeout=60)
    assert response.status_code == 201, response.text
    first = OutboxEvent.objects.get(event_type=NotificationType.JOB_CREATED, payload__job_id=response.json()["id"])
    assert (first.status, first.attempts) == (OutboxStatus.PENDING, 0)
    assert Notification.objects.count() == 0

    redis_server.start()  # the same port
    recorder = ChannelRecorder(processes, redis_server.url())
    start_worker(processes, tmp_path, env, name="worker", concurrency=2)

    # The web process recovers by itself: a job posted now is enqueued at commit.
    response = httpx.post(f"{base}/api/jobs/", headers=token_header(client), json=job_body("After the outage"), timeout=60)
    assert response.status_code == 201, response.text
    second = OutboxEvent.objects.get(event_type=NotificationType.JOB_CREATED, payload__job_id=response.json()["id"])
    wait_for(lambda: event_status(second.pk) == OutboxStatus.DONE, timeout=60, interval=0.2, what="second job delivered")
    # The first still waits in the outbox: its task was never sent.
    assert event_status(first.pk) == OutboxStatus.PENDING
    assert Notification.objects.filter(event=first).count() == 0

    swept = run_sweeper(env)
    assert swept["events"] == 1
    wait_for(lambda: event_status(first.pk) == OutboxStatus.DONE, timeout=60, interval=0.2, what="first job delivered")

    for event in (first, second):
        assert_stored_exactly_once(event, cleaners)
    assert Notification.objects.count() == 60
    frames = sum(assert_every_notification_published(recorder, event)[0] for event in (first, second))
    report("redis down at post", api_status=201, outbox_pending_during_outage=1, stored=60, lost=0, duplicated=0,
           frames_published=frames)


# --- 3. PostgreSQL restarted under running tasks ------------------------------------------

SETUP_BIG_AUDIENCE = """
from decimal import Decimal
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from jobs.models import CleanerProfile, CleaningJob, ServiceType, Weekday
User = get_user_model()
users = User.objects.bulk_create(
    [User(username=f"pg{i}", password="!", is_active=True) for i in range(CLEANERS)], batch_size=2000)
CleanerProfile.objects.bulk_create([
    CleanerProfile(user_id=u.pk, service_types=frozenset(ServiceType.values), working_days=frozenset(Weekday.values),
                   latitude=52.3676, longitude=4.9041, service_radius_km=25.0, is_verified=True, rating=Decimal("4.5"))
    for u in users], batch_size=2000)
client = User.objects.create(username="pgclient", password="!")
for n in range(JOBS):
    # The post_save signal records job_created; its task is enqueued when this commits.
    with transaction.atomic():
        CleaningJob.objects.create(
            client=client, title=f"Job {n}", service_type="standard", address="Damrak 1", city="Amsterdam",
            latitude=52.3676, longitude=4.9041, scheduled_start=timezone.now() + timedelta(days=3),
            duration_hours=Decimal("3"), budget=Decimal("120"))
result = {"cleaners": len(users)}
"""


def _query(cluster: PostgresCluster, sql: str):
    """One row from our cluster; None while it is restarting."""
    try:
        conn = cluster.connect("marketplace")
    except Exception:  # noqa: BLE001 - down or starting up
        return None
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()
    except Exception:  # noqa: BLE001 - terminated by the restart
        return None
    finally:
        conn.close()


def test_postgres_restarted_while_fanouts_run_tasks_retry_and_finish_nothing_lost_nothing_duplicated(
    bare_processes, tmp_path
):
    cleaners, jobs, chunk_size = 1500, 6, 500
    total_chunks = jobs * cleaners // chunk_size
    cluster = PostgresCluster(bare_processes)
    cluster.start()
    admin = cluster.connect()
    admin.cursor().execute("CREATE DATABASE marketplace")
    admin.close()
    redis_server = RedisServer(bare_processes, tmp_path)
    env = service_env(database_url=cluster.url("marketplace"), redis_url=redis_server.url(), FANOUT_CHUNK_SIZE=chunk_size)
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=180)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    setup = django_script(env, SETUP_BIG_AUDIENCE.replace("CLEANERS", str(cleaners)).replace("JOBS", str(jobs)))
    assert setup == {"cleaners": cleaners}
    assert _query(cluster, "SELECT count(*) FROM notifications_outboxevent WHERE status = 'pending'") == (jobs,)

    restart = cluster.armed_restart()
    bare_processes.add(restart.disarm)
    worker = start_worker(bare_processes, tmp_path, env, name="worker", concurrency=2)
    done_sql = "SELECT count(*) FROM notifications_outboxchunk WHERE is_done"
    wait_for(lambda: (_query(cluster, done_sql) or (0,))[0] >= 3, timeout=60, interval=0.01, what="three chunks done")
    # Strike while a task is running (its process holds a connection), so that besides being
    # refused while the server is down, tasks may be cut off mid-way (the scheduler decides).
    pool = pool_processes(worker)
    wait_for(lambda: any(holds_database_connection(pid, cluster.port) for pid in pool), timeout=60, interval=0.005,
             what="a task running")
    restart.fire()
    done_at_restart = _query(cluster, done_sql)[0]
    assert done_at_restart < total_chunks, "the restart came after the work was finished"

    wait_for(
        lambda: _query(cluster, "SELECT count(*) FROM notifications_outboxevent WHERE status = 'done'") == (jobs,),
        timeout=120, interval=0.2, what="every fan-out done",
    )
    count, distinct = _query(
        cluster, "SELECT count(*), count(DISTINCT (event_id, recipient_id)) FROM notifications_notification"
    )
    per_event = _query(
        cluster,
        "SELECT min(recipient_count), max(recipient_count), min(chunk_count), max(chunk_count) FROM notifications_outboxevent",
    )
    chunk_rows = _query(cluster, "SELECT count(*), count(*) FILTER (WHERE is_done) FROM notifications_outboxchunk")
    log = worker.output()
    retries = log.count("retry: Retry in")
    # How the restart met the tasks: cut mid-query, or refused while it was down.
    cut = len(re.findall(r"retry: Retry in .*(administrator command|closed the connection|connection already closed)", log))
    assert (count, distinct) == (cleaners * jobs, cleaners * jobs)
    assert per_event == (cleaners, cleaners, cleaners // chunk_size, cleaners // chunk_size)
    assert chunk_rows == (total_chunks, total_chunks)
    assert retries >= 1, "no task met the restart: the fault was not exercised"
    assert "raised unexpected" not in log, log[-5000:]
    report("postgres restart", events=jobs, chunks=total_chunks, chunks_done_at_restart=done_at_restart,
           task_retries=retries, retries_cut_mid_query=cut, stored=count, lost=cleaners * jobs - distinct, duplicated=count - distinct)


# --- 4. one fan-out delivered twice, at once, to two workers ---------------------------


def test_the_same_fanout_delivered_twice_at_once_to_two_workers_stores_each_notification_once(
    processes, test_database_url, tmp_path
):
    redis_server = RedisServer(processes, tmp_path)
    cleaners = make_cleaners(3000)
    event = record_job_created()
    recorder = ChannelRecorder(processes, redis_server.url())
    env = service_env(database_url=test_database_url, redis_url=redis_server.url(), FANOUT_CHUNK_SIZE=300)
    # One task at a time each: a second copy of a message can only go to the other worker.
    twins = [start_worker(processes, tmp_path, env, name=name, concurrency=1) for name in ("twin-a", "twin-b")]

    send_tasks(redis_server.url(), [("notifications.outbox_event_dispatch", event.pk)] * 2)
    wait_for(lambda: OutboxChunk.objects.filter(event=event).count() == 10, timeout=60, interval=0.02, what="chunks")
    # Every chunk delivered twice more, back to back (a redelivery storm), while the first copies run.
    chunk_ids = list(OutboxChunk.objects.filter(event=event).values_list("pk", flat=True))
    send_tasks(redis_server.url(), [("notifications.outbox_chunk_deliver", pk) for pk in chunk_ids for _ in range(2)])

    def count(worker, task: str, what: str) -> int:
        return len(re.findall(rf"Task notifications\.{task}\[[0-9a-f-]+\] {what}", worker.output()))

    def succeeded(task: str) -> int:
        return sum(count(w, task, "succeeded") for w in twins)

    # Every copy has run (not merely the first): 2 event messages, 10 + 20 chunk messages.
    wait_for(lambda: succeeded("outbox_event_dispatch") == 2 and succeeded("outbox_chunk_deliver") == 30, timeout=90, interval=0.2,
             what="every copy processed")
    assert event_status(event.pk) == OutboxStatus.DONE
    received_event = [count(w, "outbox_event_dispatch", "received") for w in twins]
    received_chunks = [count(w, "outbox_chunk_deliver", "received") for w in twins]
    assert received_event == [1, 1], "each worker got one copy of the event"
    assert all(received_chunks), received_chunks

    assert_stored_exactly_once(event, cleaners)
    event.refresh_from_db()
    assert (event.chunk_count, event.recipient_count) == (10, 3000)
    assert OutboxChunk.objects.filter(event=event).count() == 10
    frames, repeats = assert_every_notification_published(recorder, event)
    report("same fan-out twice at once", recipients=3000, event_copies=2, chunk_copies=30,
           chunks_per_worker=received_chunks, stored=3000, lost=0, duplicated=0, frames_published=frames,
           frames_repeated=repeats)


# --- 5. a stream cut off, and one too far behind ------------------------------------------


def test_fanout_messages_queued_under_the_old_task_names_before_a_deploy_are_consumed_after_it(
    processes, test_database_url, tmp_path, monkeypatch
):
    """The tasks were renamed (notifications/tasks.py keeps the old names for one release):
    what the old code queued before the deploy is run by the new worker, exactly once."""
    redis_server = RedisServer(processes, tmp_path)
    cleaners = make_cleaners(30)
    by_old_event_task = record_job_created()
    # Dispatched by the old code, its three chunk messages still queued under the old name.
    by_old_chunk_task = record_job_created()
    monkeypatch.setattr(dispatch, "FANOUT_CHUNK_SIZE", 10)
    monkeypatch.setattr(queueing, "enqueue", lambda task, object_id: None)
    dispatch.outbox_event_dispatch(event_id=by_old_chunk_task.pk)
    old_chunks = list(OutboxChunk.objects.filter(event=by_old_chunk_task).values_list("pk", flat=True))
    assert len(old_chunks) == 3
    send_tasks(
        redis_server.url(),
        [
            ("notifications.process_event", by_old_event_task.pk),
            *[("notifications.process_chunk", pk) for pk in old_chunks],
            ("notifications.requeue_stale_outbox", None),
            ("notifications.schedule_due_reminders", None),
        ],
    )

    env = service_env(database_url=test_database_url, redis_url=redis_server.url(), FANOUT_CHUNK_SIZE=10)
    worker = start_worker(processes, tmp_path, env, name="after-deploy", concurrency=1)
    wait_for(
        lambda: {event_status(by_old_event_task.pk), event_status(by_old_chunk_task.pk)} == {OutboxStatus.DONE},
        timeout=60, interval=0.2, what="both fan-outs done",
    )

    def succeeded(task: str) -> int:
        return len(re.findall(rf"Task notifications\.{task}\[[0-9a-f-]+\] succeeded", worker.output()))

    wait_for(lambda: succeeded("schedule_due_reminders") == 1, timeout=30, interval=0.2, what="every message run")
    assert_stored_exactly_once(by_old_event_task, cleaners)
    assert_stored_exactly_once(by_old_chunk_task, cleaners)
    assert "unregistered task" not in worker.output()
    assert [succeeded(name) for name in ("process_event", "process_chunk", "requeue_stale_outbox", "schedule_due_reminders")] == [1, 3, 1, 1]
    # The old event task queued its own chunks under the new name.
    assert succeeded("outbox_chunk_deliver") == 3


def test_sse_client_cut_off_during_50_notifications_reconnects_with_last_event_id_and_gets_all_50_in_order_once(
    processes, test_database_url, tmp_path
):
    redis_server = RedisServer(processes, tmp_path)
    user, bystander = ClientFactory(), ClientFactory()
    env = service_env(database_url=test_database_url, redis_url=redis_server.url())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    start_web(processes, tmp_path, env, port=port)
    start_worker(processes, tmp_path, env, name="worker", concurrency=1)

    page = ReconnectingSSEClient(f"{base}/events/", token_header(user))
    try:
        page.wait_for(lambda c: c.opened_on(1), what="stream open")
        sender = start_script(processes, tmp_path, env, announcements_code(50, pause=0.1), name="sender")
        page.wait_for(lambda c: len(c.notification_ids(1)) >= 5, timeout=60, what="5 notifications live")
        page.cut(offline=True)  # the network drops mid-way, and stays down for a while
        mine = Notification.objects.filter(recipient=user)
        wait_for(lambda: mine.count() >= len(page.notification_ids(1)) + 5, timeout=60, interval=0.05,
                 what="more sent while away")
        page.online()  # it reconnects by itself, with the last id it saw
        page.wait_for(lambda c: c.opened_on(2), what="reconnected")
        assert sender.proc.wait(timeout=90) == 0, sender.output()
        wait_for(lambda: OutboxEvent.objects.filter(status=OutboxStatus.DONE).count() == 50, timeout=60, interval=0.2,
                 what="50 announcements delivered")
        # A barrier: this frame is published after every notification frame, on the same channel.
        assert httpx.post(f"{base}/api/notifications/read-all/", headers=token_header(user), timeout=10).status_code == 200
        page.wait_for(lambda c: c.of_type("notifications_read_all"), what="barrier")
    finally:
        page.close()

    before_cut, after = page.notification_ids(1), page.notification_ids(2)
    replayed = page.replayed_ids(2)
    expected = list(mine.order_by("seq").values_list("pk", flat=True))
    assert len(expected) == 50
    assert page.opened == 2
    assert 5 <= len(before_cut) < 50
    assert len(replayed) >= 5  # those stored while it was away came back through Last-Event-ID
    assert before_cut + after == expected  # all 50, in order, once
    assert Notification.objects.filter(recipient=bystander).count() == 50
    report("SSE cut off and Last-Event-ID", sent=50, before_cut=len(before_cut), replayed_on_reconnect=len(replayed),
           live_after_reconnect=len(after) - len(replayed), received_total=len(before_cut) + len(after), lost=0,
           duplicated=0)


def test_sse_client_whose_last_id_is_too_old_is_told_to_reset_and_recovers_everything_through_the_api(
    processes, test_database_url, tmp_path
):
    redis_server = RedisServer(processes, tmp_path)
    env = service_env(database_url=test_database_url, redis_url=redis_server.url())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    start_web(processes, tmp_path, env, port=port)
    user = ClientFactory()
    make = lambda n, start: Notification.objects.bulk_create(  # noqa: E731
        Notification(recipient=user, notification_type="system_alert", title=f"Note {start + i}", priority="urgent")
        for i in range(n)
    )
    seen = make(1, 0)[0]
    make(REPLAY_LIMIT + 10, 1)

    stream = ReconnectingSSEClient(f"{base}/events/", token_header(user) | {"Last-Event-ID": str(seen.seq)})
    try:
        stream.wait_for(lambda c: c.of_type("unread_count"), what="the opening")
    finally:
        stream.close()
    assert len(stream.of_type("stream_reset")) == 1
    assert stream.of_type("notification") == []

    ids, url = [], f"{base}/api/notifications/"
    while url:
        page = httpx.get(url, headers=token_header(user), timeout=10)
        assert page.status_code == 200, page.text
        ids += [item["id"] for item in page.json()["results"]]
        url = page.json()["next"]
    expected = list(Notification.objects.filter(recipient=user).order_by("-pk").values_list("pk", flat=True))
    assert len(expected) == REPLAY_LIMIT + 11
    assert ids == expected  # every one, latest first, once
    report("SSE too far behind", missed=REPLAY_LIMIT + 10, reset_events=1, listed_by_api=len(ids),
           lost=0, duplicated=0)


# --- 6. the web server restarted under open streams -------------------------------------


def test_web_server_restarted_under_20_open_streams_every_client_reconnects_and_gets_every_notification_once(
    processes, test_database_url, tmp_path
):
    redis_server = RedisServer(processes, tmp_path)
    users = [ClientFactory() for _ in range(20)]
    env = service_env(database_url=test_database_url, redis_url=redis_server.url())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = start_web(processes, tmp_path, env, port=port, name="web-1")
    start_worker(processes, tmp_path, env, name="worker", concurrency=1)

    clients = [ReconnectingSSEClient(f"{base}/events/", token_header(user)) for user in users]
    try:
        for client in clients:
            client.wait_for(lambda c: c.opened_on(1), what="stream open")
        # Everyone holds a Last-Event-ID before the restart, as a page that has been open a while.
        django_script(env, announcements_code(5, pause=0))
        for client in clients:
            client.wait_for(lambda c: len(c.notification_ids()) >= 5, what="first 5 live")

        sender = start_script(processes, tmp_path, env, announcements_code(25, pause=0.15, start=5), name="sender")
        sent = OutboxEvent.objects.filter(event_type=NotificationType.SYSTEM_ALERT)
        wait_for(lambda: sent.count() >= 8, timeout=60, interval=0.05, what="the second batch under way")
        web.stop()  # SIGTERM: open streams are closed, the port is free
        sent_while_down_from = sent.count()
        start_web(processes, tmp_path, env, port=port, name="web-2")
        assert sender.proc.wait(timeout=90) == 0, sender.output()
        wait_for(lambda: sent.filter(status=OutboxStatus.DONE).count() == 30, timeout=60, interval=0.2,
                 what="30 announcements delivered")
        for client in clients:
            client.wait_for(lambda c: c.opened >= 2 and c.opened_on(c.opened), timeout=60, what="reconnected")
        # A barrier per user: published after all of that user's notification frames.
        for user in users:
            response = httpx.post(f"{base}/api/notifications/read-all/", headers=token_header(user), timeout=10)
            assert response.status_code == 200
        for client in clients:
            client.wait_for(lambda c: c.of_type("notifications_read_all"), what="barrier")
    finally:
        for client in clients:
            client.close()

    for user, client in zip(users, clients, strict=True):
        expected = list(Notification.objects.filter(recipient=user).order_by("seq").values_list("pk", flat=True))
        assert len(expected) == 30
        assert client.notification_ids() == expected, f"user {user.pk}"  # each once, in order, nothing deduped
        assert client.failed_status is None
    report("web restart under 20 streams", clients=20, notifications_per_client=30,
           restarted_after_events=sent_while_down_from, reconnects=[c.opened - 1 for c in clients],
           received_total=sum(len(c.notification_ids()) for c in clients), lost=0, duplicated=0)
